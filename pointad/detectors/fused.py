"""``fused``: a point detector and a depth detector, their scores normalised on held-out normal
clouds and averaged, so one family's strength covers the other's weakness (holes for the depth
renders, shape for the point features).

Fit: the last ``holdout`` training clouds are held out; both detectors are fitted on the others
and score the held-out clouds, whole and as ``calibration_views`` single-view cuts each (what a
partial test scan shows, :func:`pointad.geometry.single_view_cuts`). Those scores of normal
surface give each detector's normal level and spread per point (median and the distance from
the median to the ``quantile``), which puts the two on one scale: a point's normalised score
is ``(s - median) / spread``, 0 on typical normal surface and 1 at the normal surface's upper
quantile. With ``refit`` both detectors are then fitted again on all training clouds; without,
the calibration fits are kept (one fit each, one cloud fewer). The scale belongs to the fit it
was measured on: a detector fitted on one cloud more may score on another scale (``patchcore-ms``
divides by a leave-one-out quantile of its training clouds, which a one-cloud fit does not
have: its held-out scores were 40 times its refit's on the small benchmark). So ``refit="auto"``
(the default) refits only when the calibration fits had at least two training clouds.

Cross-fitting: when the parts are refitted, the calibration fits are throw-away, so one held-out
group of clouds would leave the scale and the weight to a few clouds' scores. Instead up to
``splits`` groups of ``holdout`` clouds (default 4; ``"all"``: every group) are held out in turn
(the last ``holdout`` first, then the ``holdout`` before them, ...), both detectors are fitted
on the rest of each split, and the normal scores and the synthetic copies of every split are
pooled: with 4 training clouds or fewer, the scale and the weight come from every one of them,
at one fit of each part per split before the refit. Every calibration fit has the same number
of clouds, so one scale holds for all of them.

The weight: a number (default 0.5: both parts alike on their normalised scales), or
``"auto"``: learned from synthetic defects on the training clouds, no real defect needed.
``n_synthetic`` defective copies of each held-out cloud (kinds drawn from ``defects`` minus
``exclude``, :func:`pointad.synthesis.defects.training_kinds`; every other copy cut to one view)
are scored by both calibration fits, and the weight of the grid 0, 0.1, ..., 1 whose mix ranks
their defect points highest (point AUROC) is kept (ties: the one nearest 0.5). A benchmark
leaves its test kinds out with ``exclude``. ``"auto"`` was the default until the
"`fused`'s point weight" measurement (docs/depth-methods.md): on three realistic builds its
choices were no better than
a fixed weight of 0.4-0.5 where it mixed both parts, and its choices of 1 (one part alone)
cost up to 0.06 P-AUROC. The object weight (``object_weight="auto"``, the default) is still
chosen on the copies.

Predict: both detectors score the cloud; per point ``w * point + (1 - w) * depth`` of the
normalised scores; object score the same mix of the two object scores, each normalised with
its detector's per-point level and spread (an object score is a statistic of the point scores,
on their scale).
"""
from __future__ import annotations

import json

import numpy as np

from pointad.detectors.base import Detector, partial_cuts
from pointad.detectors.registry import create, detector_class, register
from pointad.errors import InputError
from pointad.geometry import single_view_cuts
from pointad.io import CloudInput
from pointad.synthesis.defects import DefectMix, training_kinds
from pointad.validation import check_number, check_seed, parse_bool

PARTS = ("point", "depth")
WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 11), 10)  # the weights "auto" chooses among
_DEFECT_FRACTION = 0.02   # share of a held-out cloud a synthetic defect covers
_MIN_CUT = 64             # a single-view cut needs this many points


@register
class Fused(Detector):
    """A point detector and a depth detector on one normalised scale.

    Args:
        point: name of the point detector (e.g. ``"patchcore-ms"``, ``"btf"``, ``"raw"``).
        depth: name of the depth detector (default ``"hetnet"``, the best of the depth
            methods on the realistic preset; or ``"uniad"``, ``"onenip"``, ``"pbas"``, ...).
        point_params: parameters of the point detector (its defaults otherwise).
        depth_params: parameters of the depth detector.
        weight: weight of the point detector's normalised scores (the depth detector's is
            ``1 - weight``; default 0.5), or ``"auto"``: chosen on synthetic defects (module
            docstring).
        object_weight: the same for the object scores: a number, ``"point"`` (the point
            scores' weight), or ``"auto"``: chosen on the synthetic copies against the held-out
            normal clouds (with a fixed ``weight`` too; ties: the one nearest ``weight``).
        defects, exclude: ``"auto"``: the kinds of the synthetic defects (a mix name of
            :data:`pointad.synthesis.defects.MIXES` or comma-separated kinds) and those left
            out (a benchmark's test kinds).
        n_synthetic: ``"auto"``: defective copies of each held-out cloud.
        holdout: training clouds held out to calibrate the two scales (at least 1; fit then
            needs ``holdout + 1`` clouds).
        splits: calibration splits when the parts are refitted (module docstring): at most
            this many (default 4, a bound on the fits of a unified run's many clouds) or
            ``"all"`` (every group of ``holdout`` clouds held out once); one when the
            calibration fit is kept.
        calibration_views: single-view cuts of each held-out cloud scored next to the whole
            cloud (0: whole clouds only).
        quantile: the normal upper quantile that normalises to 1.
        refit: fit both detectors again on all training clouds after the calibration (True),
            keep the calibration fits (False), or ``"auto"``: refit when the calibration fits
            had at least two training clouds (module docstring).
        seed: seed of the cuts' directions, and of each part unless its params give one.
    """

    name = "fused"

    def __init__(self, point: str = "patchcore-ms", depth: str = "hetnet",
                 point_params: dict | None = None, depth_params: dict | None = None,
                 weight: float | str = 0.5, object_weight: float | str = "auto",
                 defects: str = "mix", exclude: str = "",
                 n_synthetic: int = 4, holdout: int = 1, splits: int | str = 4,
                 calibration_views: int = 2, quantile: float = 0.99,
                 refit: bool | str = "auto", seed: int = 0):
        self.point = self._part_name(point, "point")
        self.depth = self._part_name(depth, "depth")
        self.point_params = self._part_params(point_params, "point_params")
        self.depth_params = self._part_params(depth_params, "depth_params")
        self.weight = weight if weight == "auto" else check_number(weight, "weight", low=0,
                                                                    high=1)
        self.object_weight = (object_weight if object_weight in ("auto", "point") else
                              check_number(object_weight, "object_weight", low=0, high=1))
        self.defects, self.exclude = defects, exclude
        self._kinds = training_kinds(defects, exclude)
        self.n_synthetic = check_number(n_synthetic, "n_synthetic", low=1, integer=True)
        self.holdout = check_number(holdout, "holdout", low=1, integer=True)
        self.splits = splits if splits == "all" else check_number(splits, "splits", low=1,
                                                                  integer=True)
        self.calibration_views = check_number(calibration_views, "calibration_views", low=0,
                                              integer=True)
        self.quantile = check_number(quantile, "quantile", low=0.5, high=1, high_open=True)
        self.refit = refit if refit == "auto" else parse_bool(refit, "refit")
        self.seed = check_seed(seed)
        for part in PARTS:  # bad part parameters: an error now, not after a long fit
            self._new(part)

    @staticmethod
    def _part_name(name, what: str) -> str:
        if not isinstance(name, str):
            raise InputError(f"{what} must be a detector name, got {name!r}")
        if name == Fused.name:
            raise InputError(f"{what} cannot be {Fused.name!r} itself")
        detector_class(name)  # an unknown name: InputError listing the available ones
        return name

    @staticmethod
    def _part_params(params, what: str) -> dict | None:
        if params is None:
            return None
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise InputError(f"{what} must be a dict of parameters, got {params!r}")
        try:
            json.dumps(params)
        except (TypeError, ValueError):
            raise InputError(f"{what} must be JSON values (saved with the detector), "
                             f"got {params!r}") from None
        return dict(params)

    def _new(self, part: str) -> Detector:
        """A new, unfitted detector for ``part`` (``"point"`` or ``"depth"``)."""
        params = dict(getattr(self, f"{part}_params") or {})
        name = getattr(self, part)
        if "seed" in detector_class(name).param_names():
            params.setdefault("seed", self.seed)
        return create(name, **params)

    # Fit ----------------------------------------------------------------------------------
    def _calibration_clouds(self, held: list, first: int = 0) -> list:
        """The held-out clouds, whole and cut to single views (``first``: the index of
        ``held[0]`` among all the held-out clouds of the fit, for the cuts' seeds)."""
        out = []
        for i, cloud in enumerate(held, start=first):
            out += [cloud] + partial_cuts([cloud], self.calibration_views, self.seed + i,
                                          _MIN_CUT)
        return out

    def _held_out(self, n: int, refit: bool) -> list[list[int]]:
        """The calibration splits of ``n`` training clouds: per split, the indices held out (the
        last ``holdout`` clouds first, then the ``holdout`` before them, ...); one split when
        the calibration fit is kept (``refit`` False)."""
        count = n // self.holdout if self.splits == "all" else self.splits
        count = min(count, n // self.holdout) if refit else 1
        return [list(range(n - self.holdout * (s + 1), n - self.holdout * s))
                for s in range(count)]

    def _fit(self, clouds):
        if len(clouds) <= self.holdout:
            raise InputError(f"fused needs at least holdout + 1 = {self.holdout + 1} training "
                             f"clouds (it calibrates on {self.holdout} held out), got "
                             f"{len(clouds)}")
        n_keep = len(clouds) - self.holdout
        refit = n_keep >= 2 if self.refit == "auto" else bool(self.refit)
        # Raw point scores and object scores of the normal held-out clouds and of the copies.
        normal: dict = {part: [] for part in PARTS}
        raw: dict = {part: [] for part in PARTS}
        objects: dict = {part: ([], []) for part in PARTS}
        labels: list = []
        kept = {}
        for s, held_ids in enumerate(self._held_out(len(clouds), refit)):
            held = [clouds[i] for i in held_ids]
            keep = [c for i, c in enumerate(clouds) if i not in held_ids]
            first = s * self.holdout
            calibration = self._calibration_clouds(held, first)
            synthetic = self._synthetic(held, first) if "auto" in (self.weight,
                                                                   self.object_weight) else []
            labels += [y for _, y in synthetic]
            for part in PARTS:
                det = self._new(part).fit(keep)
                normal_preds = [det.predict(c) for c in calibration]
                copy_preds = [det.predict(copy) for copy, _ in synthetic]
                normal[part] += [p.point_scores for p in normal_preds]
                raw[part] += [p.point_scores for p in copy_preds]
                objects[part][0].extend(p.score for p in normal_preds)
                objects[part][1].extend(p.score for p in copy_preds)
                if not refit:
                    kept[part] = det
        self.parts_ = {}
        self.level_, self.spread_ = {}, {}
        on_synthetic, on_objects = {}, {}
        for part in PARTS:
            scores = np.concatenate(normal[part])
            scores = scores[np.isfinite(scores)]
            if not len(scores):
                raise InputError(f"fused: the {getattr(self, part)} detector gave no finite "
                                 "score on the held-out training clouds")
            level = float(np.median(scores))
            spread = float(np.quantile(scores, self.quantile)) - level
            if not spread > 0:  # a flat detector: its own scale, never a division by zero
                spread = float(np.std(scores)) or 1.0
            self.level_[part], self.spread_[part] = level, spread
            on_synthetic[part] = [(r - level) / spread for r in raw[part]]
            on_objects[part] = [(np.asarray(o) - level) / spread for o in objects[part]]
            self.parts_[part] = self._new(part).fit(clouds) if refit else kept[part]
        self.weight_ = self._choose_weight(on_synthetic, labels)
        self.object_weight_ = self._choose_object_weight(on_objects)

    def _synthetic(self, held: list, first: int = 0) -> list:
        """``[(cloud, labels)]``: ``n_synthetic`` defective copies of each held-out cloud
        (seeded; a :class:`CloudInput` that keeps an organized scan's pixel grid), every other
        copy of an unorganized cloud cut to a single view (``first``: as in
        :meth:`_calibration_clouds`)."""
        from pointad.geometry import estimate_normals

        mix = DefectMix(list(self._kinds), fraction=_DEFECT_FRACTION)
        out = []
        for i, cloud in enumerate(held, start=first):
            normals = estimate_normals(cloud.points)
            for j in range(self.n_synthetic):
                seed = self.seed + 1000 * (i + 1) + j
                try:
                    result = mix(cloud.points, normals, seed=seed)
                except InputError:  # no kind of the mix fits this cloud
                    continue
                keep = result.keep
                if j % 2 and not cloud.organized:
                    cut = single_view_cuts(result.points[keep], 1, seed, min_points=_MIN_CUT)
                    if cut:
                        keep = np.flatnonzero(keep)[cut[0]]
                labels = result.labels[keep]
                if len(labels) >= _MIN_CUT and labels.any() and not labels.all():
                    grid = cloud.grid_index[keep] if cloud.organized else None
                    out.append((CloudInput(result.points[keep], cloud.grid_shape, grid), labels))
        return out

    def _choose_weight(self, scores: dict, labels: list) -> float:
        """The fixed ``weight``, or ``"auto"``'s: the grid weight whose mix of the normalised
        ``scores`` (``{part: [per-copy (N_i,)]}``) gives the highest point AUROC on the
        synthetic ``labels`` (ties: nearest 0.5; no usable copy: 0.5)."""
        if self.weight != "auto":
            return float(self.weight)
        if not labels:
            return 0.5
        point, depth = (np.concatenate(scores[p]) for p in PARTS)
        return _best_weight(np.concatenate(labels), point, depth, near=0.5)

    def _choose_object_weight(self, objects: dict) -> float:
        """The fixed ``object_weight`` (``"point"``: ``weight_``); ``"auto"``: the grid weight
        whose mix of the normalised object scores (``{part: (normal (M,), synthetic (K,))}``)
        ranks the synthetic copies above the normal held-out clouds best (object AUROC; ties:
        the one nearest ``weight_``; no copy: ``weight_``)."""
        if self.object_weight not in ("auto", "point"):
            return float(self.object_weight)
        if self.object_weight == "point":
            return self.weight_
        normal, copies = (np.stack([np.asarray(objects[p][k], dtype=np.float64)
                                    for p in PARTS]) for k in (0, 1))
        if not copies.shape[1] or not normal.shape[1]:
            return self.weight_
        y = np.r_[np.zeros(normal.shape[1]), np.ones(copies.shape[1])]
        both = np.concatenate([normal, copies], axis=1)
        return _best_weight(y, both[0], both[1], near=self.weight_)

    def fit_notes(self) -> list[str]:
        """The weights of the point part (``auto``'s choice, or the fixed one)."""
        how = "chosen on synthetic defects" if self.weight == "auto" else "fixed"
        notes = [f"fused: point weight {self.weight_:g} ({how})"]
        if self.object_weight == "auto" and self.object_weight_ != self.weight_:
            notes.append(f"fused: object weight {self.object_weight_:g} (chosen on synthetic "
                         "defects)")
        elif self.object_weight not in ("auto", "point"):
            notes.append(f"fused: object weight {self.object_weight_:g} (fixed)")
        return notes

    # Predict --------------------------------------------------------------------------------
    def normalised(self, cloud) -> dict:
        """``{part: (normalised point scores (N,), normalised object score)}`` of one cloud:
        each detector's scores on the scale of its normal held-out scores."""
        out = {}
        for part in PARTS:
            pred = self.parts_[part].predict(cloud)
            level, spread = self.level_[part], self.spread_[part]
            out[part] = ((pred.point_scores - level) / spread, (pred.score - level) / spread)
        return out

    def _predict(self, cloud):
        scores = self.normalised(cloud)
        w = self.weight_
        point_scores = w * scores["point"][0] + (1 - w) * scores["depth"][0]
        v = self.object_weight_
        return point_scores, v * scores["point"][1] + (1 - v) * scores["depth"][1]

    # State ------------------------------------------------------------------------------------
    def _get_state(self):
        arrays = {"scale": np.array([[self.level_[p], self.spread_[p]] for p in PARTS]),
                  "weight": np.array(self.weight_),
                  "object_weight": np.array(self.object_weight_)}
        for part in PARTS:
            det = self.parts_[part]
            arrays[f"{part}.__params__"] = np.array(json.dumps(det.get_params()))
            arrays.update({f"{part}.{k}": v for k, v in det._get_state().items()})
        return arrays

    def _set_state(self, arrays):
        scale = np.asarray(arrays["scale"], dtype=np.float64)
        if scale.shape != (len(PARTS), 2):
            raise ValueError(f"scale has shape {scale.shape}, expected {(len(PARTS), 2)}")
        self.weight_ = float(arrays["weight"])
        # A detector saved before object weights existed mixed its object scores as its points.
        self.object_weight_ = float(arrays.get("object_weight", self.weight_))
        self.level_ = {p: float(scale[i, 0]) for i, p in enumerate(PARTS)}
        self.spread_ = {p: float(scale[i, 1]) for i, p in enumerate(PARTS)}
        self.parts_ = {}
        for part in PARTS:
            prefix = f"{part}."
            sub = {k[len(prefix):]: v for k, v in arrays.items()
                   if k.startswith(prefix) and k != f"{part}.__params__"}
            params = json.loads(str(arrays[f"{part}.__params__"]))
            self.parts_[part] = detector_class(getattr(self, part)).from_state(params, sub)


def _best_weight(y: np.ndarray, point: np.ndarray, depth: np.ndarray, near: float) -> float:
    """The weight of :data:`WEIGHT_GRID` whose mix ``w * point + (1 - w) * depth`` ranks the
    ``y`` = 1 entries highest (AUROC over the entries finite in both; ties: the one nearest
    ``near``); ``near`` itself when the finite entries are all of one label."""
    from pointad.metrics import auroc

    finite = np.isfinite(point) & np.isfinite(depth)
    if not (y[finite].any() and not y[finite].all()):
        return near
    values = [auroc(y[finite], w * point[finite] + (1 - w) * depth[finite])
              for w in WEIGHT_GRID]
    best = max(values)
    return float(min((w for w, v in zip(WEIGHT_GRID, values) if v >= best - 1e-12),
                     key=lambda w: abs(w - near)))
