"""``pnas-offset``: a point network trained on synthetic defects made on the good training clouds,
regressing every point's offset from the normal surface (PO3AD, Ye et al. CVPR 2025; Anomaly
Factory 3D trains the same kind of network on a mix of deformation kinds).

Fit, from the normal training clouds only (each subsampled to ``max_points``):

1. Each cloud gets normals and ``n_synthetic`` defective copies (:mod:`pointad.synthesis.defects`:
   the kinds of ``defects`` minus ``exclude``, covering ``fraction`` of the points, peaks of
   ``height`` point spacings) plus clean copies; every copy is then scanned again as a test scan
   would be: a random share of the points kept (density), Gaussian noise and, half of the time,
   only the side facing a random view.
2. With ``registration`` (the default), every point of a copy gets its distance to the *other*
   training clouds (signed along their normals, and unsigned, in point spacings) after a small
   random rigid jitter, as a test cloud gets it after alignment: the network learns what a
   residual means next to the local shape, instead of learning the whole part's shape.
3. Patches: the ``patch_points - context`` nearest points of a centre and ``context`` points drawn
   from its ``reach * patch_points`` nearest (a defect larger than a patch still has normal
   surface around it), only points facing the centre's side (a patch on a fin or a thin wall
   never wraps round to its back face), in the patch's rotation-invariant principal frame
   (:func:`pointad.features.local_patches`), in units of the copy's own point spacing: the
   network sees shape at the scale of the sampling, whatever the part's size, pose or density.
   Half of a defective copy's patch centres lie on its defect.
4. :class:`pointad.models3d.OffsetNet` learns, per patch point, its offset (the defect's
   displacement in point spacings, in the patch frame; zero on the normal surface) and its label
   (a hole's rim has no offset but a label). Loss: smooth L1 on the offset (defect and normal
   points weighted alike), 1 - cosine on the offset's direction at defect points, and
   class-balanced BCE on the label.

Predict: the cloud (at most ``max_points``, thinned where it is denser than the training clouds,
:func:`pointad.geometry.units.thin_to_spacing`) is aligned to every training cloud (coarse-to-fine
ICP from the identity and the PCA starts, :func:`pointad.geometry.registration.align`) for the
residual channel and covered by farthest-point-sampled patches; a point's score is the mean over
the patches holding it of ``|offset| + label_weight * h * p`` (h: the median offset of the
training defects, p: the predicted probability), in point spacings (the network measures in the
scan's own; scores are then given in the training clouds' spacing, so that a dense and a sparse
scan of one part score in one unit). Isolated stray returns take
their nearest surface point's score; scores are averaged over the ``smooth_k`` nearest points;
with ``calibrate``, each point then loses the calibration level of its nearest training-cloud
point (what good re-scans of the training clouds, scored against the other training clouds,
score there above the typical: where good parts vary, or the alignment always leaves a
residual); with ``holes`` (the default), a point on the rim of surface the aligned training
clouds have and the scan lacks (in a region small enough to be a hole, and that the scan's
views could have seen: not a side the scanner did not see, :mod:`pointad.geometry.coverage`;
with ``hole_enclosed``, only a region enclosed by surface the scan has)
scores at least ``hole_score`` spacings (in the point scores the rim reaches ``hole_rim`` times the
hole's depth farther out); then they are interpolated back to every input point.
The object score is the largest mean point score over a point and its ``object_k - 1`` nearest
points.

Scale: the default fits a category of 10k-20k-point clouds in minutes on a 2-core CPU. At paper
scale on a GPU: ``--param steps=20000 --param batch_size=128 --param width=64 --param
n_synthetic=200 --param patch_points=256 --param context=128 --param max_points=100000``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pointad.detectors.base import Detector
from pointad.detectors.registry import register
from pointad.device import resolve_device, seeded
from pointad.errors import InputError
from pointad.features import interpolate_to_points, local_patches
from pointad.geometry import estimate_normals, isolated
from pointad.geometry.coverage import missing_from_templates
from pointad.geometry.registration import (
    align,
    align_to_templates,
    nearest_template_points,
    subsample,
    transform,
    trimmed_residual,
)
from pointad.geometry.rescan import rescan
from pointad.geometry.units import point_spacing, thin_to_spacing
from pointad.models3d import OffsetNet
from pointad.ops import NeighbourIndex, farthest_point_sampling, knn
from pointad.synthesis.defects import training_kinds
from pointad.validation import check_number, check_range, check_seed, parse_bool

_CLEAN_SHARE = 0.25     # share of the pool left without a defect
_ON_DEFECT = 0.5        # share of a defective copy's patch centres on the defect
_VIEW_RATE = 0.5        # share of re-scans that keep one side only
_NORMAL_K = 16          # normals from the 16 nearest points
_ISOLATION_K = 7        # stray returns: the 7th nearest point farther than 4x the median
_CLIP = 10.0            # registration residuals are clipped to +-10 spacings
_JITTER_DEG = 0.3       # training copies are compared with the other clouds after a rigid
_JITTER_SP = 0.3        # jitter of this many degrees and point spacings (an ICP's leftovers)
_QUICK_POINTS = 400     # the quick alignment that picks the templates aligned in full
_QUICK_ITERATIONS = 10
_CALIB_DEG = 20.0       # calibration re-scans are turned up to 20 degrees before alignment
_SCALE = 4.0            # patch coordinates in units of 4 point spacings (a patch spans ~ +-2)


def _pair(value, name: str, low: float, high: float | None = None) -> list[float]:
    """A validated ``[lo, hi]`` range (a list: parameters are stored JSON-native)."""
    return list(check_range(value, name, low=low, high=high, low_open=True))


@register
class PNASOffset(Detector):
    """Offset-regression point network trained on synthetic defects (see the module docstring).

    Args:
        defects: training kinds: ``"pnas"`` (3D-PNAS only), ``"mix"``
            (:data:`pointad.synthesis.defects.MIXES`) or comma-separated kinds of
            :func:`pointad.synthesis.defects.available`.
        exclude: comma-separated kinds left out of training (the kinds a benchmark tests).
        fraction: (low, high) share of a cloud's points a training defect covers.
        height: (low, high) peak of a training defect, in point spacings.
        n_synthetic: defective copies per training cloud.
        registration: give the network, per point, its distance to the normal part (the
            training clouds, rigidly aligned: signed along their normals and unsigned, in point
            spacings); off: local shape only.
        align_points, icp_iterations: the alignment of a test cloud to each training cloud
            (:func:`pointad.geometry.registration.align`, coarse to fine: partial views).
        align_templates: a test cloud is aligned in full to this many training clouds only,
            those a quick alignment (a few hundred points) fits best (0: to all of them). A
            per-category model of up to this many training clouds aligns to all; a unified
            model of many categories aligns to its own category's clouds.
        consensus: each alignment also tries the training cloud's near-symmetries
            (:func:`pointad.geometry.symmetry.near_symmetries`) and the poses found on the other
            training clouds, keeping the pose that leaves the fewest points far from the cloud,
            finished by point-to-plane ICP on the whole cloud
            (:func:`pointad.geometry.registration.align_to_templates`): a gear's keyed bore or
            a flange's hub stops turning into a residual of several spacings on a good part
            (the default since 3 December 2026; off: the best ICP start alone).
        patch_points: points per patch (K).
        context, reach: ``context`` of a patch's points are drawn from its ``reach * K``
            nearest, the others are its nearest: a wider view of the surface (a defect larger
            than a patch still has normal surface around it) at the same cost.
        patches_per_copy: patches drawn from each (defective or clean) copy.
        width, neighbours: the network's channel width and EdgeConv k.
        steps, batch_size, lr: training iterations (AdamW, one-cycle schedule), patches per
            step, peak learning rate.
        label_weight: weight of the label head in the point score (0: offsets only).
        smooth_k: point scores are averaged over this many nearest points (1: no smoothing).
        object_k: object score = the largest mean point score over a point and its
            ``object_k - 1`` nearest points (a defect is a region; a stray high score is not).
        max_points: clouds above this many points are subsampled (seeded) for fit and predict.
        holes: with ``registration``, a point on the rim of missing surface (a small region of
            the aligned training clouds the scan lacks and could have seen, found on at least
            two of them, :func:`pointad.geometry.coverage.missing_from_templates`) scores at
            least ``hole_score``: a hole moves no point, so no offset shows it. In the point
            and the object scores.
        hole_score: the score of a hole's rim, in point spacings. Not its depth: a hole is found
            or not, and the default 1 puts a rim above nearly every point of a good surface and
            below most bumps and dents of two spacings or more (a false hole in a good scan
            then costs less than the depth of a pocket would).
        hole_rim: in the point scores, a hole's rim reaches this share of the hole's depth
            (about its radius) farther out (``rim_share`` of
            :func:`pointad.geometry.coverage.missing_surface`; 0.5: the rim
            :func:`pointad.synthesis.hole.carve_hole` labels). The object score keeps the
            narrow rim (0): the evidence that a hole is there does not grow with the share
            of its surroundings a label convention counts.
        hole_enclosed: a region counts as a hole only when at least this share of the
            training-cloud points next to it are covered by the scan (0: no test; 0.9 drops
            false holes at the edge of a shadow, and true ones at the edge of what the scan
            saw: :func:`pointad.geometry.coverage.uncovered_regions`' ``min_enclosed``).
        calibrate: with ``registration`` and two or more training clouds, each training cloud
            is re-scanned this many times after training and scored against the others (leave
            one out); a test point then loses what good scans score, above the typical, at its
            nearest training-cloud point (a place where good parts differ from each other, or
            where the alignment or the network always leaves a residual). 0: off.
        seed: every random draw. device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    name = "pnas-offset"

    def __init__(self, defects: str = "pnas", exclude: str = "", fraction=(0.005, 0.05),
                 height=(1.0, 5.0), n_synthetic: int = 24, registration: bool = True,
                 align_points: int = 4000, icp_iterations: int = 30, align_templates: int = 4,
                 consensus: bool = True, patch_points: int = 128,
                 context: int = 64, reach: int = 16, patches_per_copy: int = 48,
                 width: int = 32, neighbours: int = 10, steps: int = 500, batch_size: int = 32,
                 lr: float = 2e-3, label_weight: float = 1.0, smooth_k: int = 8,
                 object_k: int = 64, max_points: int = 16384, holes: bool = True,
                 hole_score: float = 1.0, hole_rim: float = 0.5, hole_enclosed: float = 0.0,
                 calibrate: int = 4,
                 seed: int = 0,
                 device: str = "auto"):
        self.defects = defects
        self.exclude = exclude
        self._kinds = training_kinds(defects, exclude)
        self.fraction = _pair(fraction, "fraction", 0, 0.3)
        self.height = _pair(height, "height", 0)
        self.n_synthetic = check_number(n_synthetic, "n_synthetic", low=1, integer=True)
        self.registration = parse_bool(registration, "registration")
        self.align_points = check_number(align_points, "align_points", low=10, integer=True)
        self.icp_iterations = check_number(icp_iterations, "icp_iterations", low=1, integer=True)
        self.align_templates = check_number(align_templates, "align_templates", low=0,
                                            integer=True)
        self.consensus = parse_bool(consensus, "consensus")
        self.patch_points = check_number(patch_points, "patch_points", low=8, integer=True)
        self.context = check_number(context, "context", low=0, high=self.patch_points - 1,
                                    integer=True)
        self.reach = check_number(reach, "reach", low=1, integer=True)
        self.patches_per_copy = check_number(patches_per_copy, "patches_per_copy", low=1,
                                             integer=True)
        self.width = check_number(width, "width", low=4, integer=True)
        self.neighbours = check_number(neighbours, "neighbours", low=2, integer=True)
        self.steps = check_number(steps, "steps", low=1, integer=True)
        self.batch_size = check_number(batch_size, "batch_size", low=1, integer=True)
        self.lr = check_number(lr, "lr", low=0, low_open=True)
        self.label_weight = check_number(label_weight, "label_weight", low=0)
        self.smooth_k = check_number(smooth_k, "smooth_k", low=1, integer=True)
        self.object_k = check_number(object_k, "object_k", low=1, integer=True)
        self.max_points = check_number(max_points, "max_points", low=self.patch_points,
                                       integer=True)
        self.holes = parse_bool(holes, "holes")
        self.hole_score = check_number(hole_score, "hole_score", low=0)
        self.hole_rim = check_number(hole_rim, "hole_rim", low=0)
        self.hole_enclosed = check_number(hole_enclosed, "hole_enclosed", low=0, high=1)
        self.calibrate = check_number(calibrate, "calibrate", low=0, integer=True)
        self.seed = check_seed(seed)
        self.device = device
        self._device = resolve_device(device)

    # The normal part: training clouds, aligned -------------------------------------------
    def _set_templates(self, points: list, normals: list) -> None:
        self.templates_ = points
        self.template_normals_ = normals
        self._indexes = [NeighbourIndex(t) for t in points]
        self._spacings = [_spacing(t) for t in points]
        # template index -> near-symmetries, polish normals (derived, not saved)
        self._symmetries: dict = {}
        self._plane_normals: dict = {}

    def _nearest_templates(self, points: np.ndarray, among: list | None = None) -> list[int]:
        """Indices of the training clouds ``points`` is aligned to in full: all of them (or of
        ``among``), or the ``align_templates`` a quick coarse alignment of a few hundred points
        fits best (the smallest trimmed residual)."""
        every = list(range(len(self.templates_))) if among is None else list(among)
        if not self.align_templates or len(every) <= self.align_templates:
            return every
        quick = subsample(points, _QUICK_POINTS, self.seed)
        residual = [trimmed_residual(transform(quick, align(
            quick, self.templates_[j], max_points=_QUICK_POINTS, iterations=_QUICK_ITERATIONS,
            seed=self.seed, target_index=self._indexes[j], coarse=True)), self._indexes[j])
            / self._spacings[j] for j in every]
        best = np.argsort(residual, kind="stable")[:self.align_templates]
        return sorted(every[int(b)] for b in best)

    def _residuals(self, points: np.ndarray, spacing: float, matrices: dict) -> np.ndarray:
        """(N, 2) distance of each point to the nearest template point, signed along that
        point's normal and unsigned, in ``spacing``; ``matrices``: template index -> the 4 x 4
        transform taking ``points`` onto that template (the nearest over them counts)."""
        return self._residuals_and_nearest(points, spacing, matrices)[0]

    def _residuals_and_nearest(self, points, spacing, matrices):
        """:meth:`_residuals` and, per point, the template its nearest template point is on
        and that point's index there."""
        best, which, near = nearest_template_points(points, matrices, self._indexes)
        signed = np.zeros(len(points))
        for j in matrices:
            on = which == j
            moved = transform(points[on], matrices[j])
            signed[on] = ((moved - self.templates_[j][near[on]])
                          * self.template_normals_[j][near[on]]).sum(1)
        return np.clip(np.column_stack([signed, best]) / spacing, -_CLIP, _CLIP), which, near

    def _jitter(self, spacing: float, centre: np.ndarray, rng: np.random.Generator):
        """A small random rigid motion (4 x 4): what a good ICP leaves of a pose."""
        from pointad.geometry.rotations import rotation_about

        matrix = np.eye(4)
        matrix[:3, :3] = rotation_about(rng.normal(size=3), np.deg2rad(rng.normal(0, _JITTER_DEG)))
        matrix[:3, 3] = centre - matrix[:3, :3] @ centre + rng.normal(0, _JITTER_SP * spacing, 3)
        return matrix

    # Training data ---------------------------------------------------------------------------
    def _subsample(self, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if len(points) <= self.max_points:
            return points
        return points[np.sort(rng.choice(len(points), self.max_points, replace=False))]

    def _defective(self, points, normals, spacing, rng):
        """A defective copy: ``(points, labels, offsets)`` of the kept points, or None when no
        kind of the mix fits this cloud in a few draws."""
        from pointad.synthesis.defects import apply

        for _ in range(4):
            kind = self._kinds[int(rng.integers(len(self._kinds)))]
            try:
                result = apply(kind, points, normals, rng,
                               fraction=float(rng.uniform(*self.fraction)), spacing=spacing,
                               height=self.height)
            except InputError:
                continue
            pts, labels, offsets = result.visible()
            if labels.any():
                return pts, labels, offsets
        return None

    def _rescan(self, points, normals, labels, offsets, spacing, rng):
        """The copy as a fresh test scan sees it: density, noise and (sometimes) one side."""
        moved, keep = rescan(points, spacing, rng, normals=normals, one_side=_VIEW_RATE,
                             min_points=2 * self.patch_points)
        return moved, normals[keep], labels[keep], offsets[keep], keep

    def _patches(self, points, normals, labels, offsets, features, rng):
        """``patches_per_copy`` training patches of one copy: (P, K, 3) coordinates and offsets
        in the patch frame (in the copy's point spacings), (P, K) labels, (P, K, F) features."""
        n = self.patches_per_copy
        on_defect = np.flatnonzero(labels)
        n_def = int(round(_ON_DEFECT * n)) if len(on_defect) else 0
        centres = np.concatenate([rng.choice(on_defect, n_def) if n_def else np.zeros(0, int),
                                  rng.integers(len(points), size=n - n_def)])
        spacing = _spacing(points)
        pts = torch.as_tensor(points, dtype=torch.float32)
        p = local_patches(pts, torch.as_tensor(centres), self.patch_points, _SCALE * spacing,
                          torch.as_tensor(normals, dtype=torch.float32), context=self.context,
                          reach=self.reach,
                          generator=torch.Generator().manual_seed(int(rng.integers(2**31))))
        off = torch.as_tensor(offsets, dtype=torch.float32)[p.index]
        off = off @ p.frames.transpose(1, 2) / spacing
        feats = torch.as_tensor(features, dtype=torch.float32)[p.index]
        return p.coords, off, torch.as_tensor(labels)[p.index], feats

    def _training_set(self, clouds, normals, rng):
        parts: list[list[torch.Tensor]] = [[], [], [], []]
        n_clean = max(1, int(round(_CLEAN_SHARE / (1 - _CLEAN_SHARE) * self.n_synthetic)))
        for i, (cloud, nrm_i) in enumerate(zip(clouds, normals)):
            spacing = _spacing(cloud)
            copies = [(cloud, nrm_i, np.zeros(len(cloud), bool), np.zeros_like(cloud))
                      for _ in range(n_clean)]
            for _ in range(self.n_synthetic):
                made = self._defective(cloud, nrm_i, spacing, rng)
                if made is not None:
                    # Normals of the copy's kept points: the defect may have removed some.
                    _, nearest = knn(made[0] - made[2], cloud, 1)
                    copies.append((made[0], nrm_i[nearest[:, 0]], made[1], made[2]))
            # The other training clouds are the normal part a copy is compared with.
            others = [j for j in range(len(clouds)) if j != i] or [i]
            for pts, nrm, lab, off in copies:
                pts, nrm, lab, off, _ = self._rescan(pts, nrm, lab, off, spacing, rng)
                if self.registration:
                    centre = pts.mean(axis=0)
                    residuals = self._residuals(pts, _spacing(pts), {
                        j: self._jitter(spacing, centre, rng) for j in others})
                else:
                    residuals = np.zeros((len(pts), 0))
                for part, value in zip(parts, self._patches(pts, nrm, lab, off, residuals, rng)):
                    part.append(value)
        coords, offsets, labels, feats = (torch.cat(p) for p in parts)
        return coords, offsets, labels.float(), feats

    def _network(self) -> OffsetNet:
        with seeded(self.seed, self._device):  # the network's initialisation
            return OffsetNet(self.width, self.neighbours,
                             extra=2 if self.registration else 0).to(self._device)

    # Protocol --------------------------------------------------------------------------------
    def _fit(self, clouds):
        rng = np.random.default_rng(self.seed)
        points = [self._subsample(np.asarray(c.points, dtype=np.float64), rng) for c in clouds]
        small = [i for i, p in enumerate(points) if len(p) < 2 * self.patch_points]
        if small:
            raise InputError(f"training cloud {small[0]} has {len(points[small[0]])} points; "
                             f"pnas-offset needs at least 2 x patch_points = "
                             f"{2 * self.patch_points}")
        flat = [i for i, p in enumerate(points) if not point_spacing(p) > 0]
        if flat:
            raise InputError(f"training cloud {flat[0]} has no point spacing (its points "
                             "coincide)")
        normals = [_normals(p) for p in points]
        self._set_templates(points, normals)
        coords, offsets, labels, feats = self._training_set(points, normals, rng)
        defect = labels > 0.5
        norms = offsets.norm(dim=-1)
        self.label_scale_ = float(norms[defect].median()) if defect.any() else 1.0
        pos_weight = ((~defect).sum() / defect.sum().clamp(min=1)).clamp(max=20.0).reshape(1)
        self.net_ = self._network()
        gen = torch.Generator().manual_seed(self.seed)
        opt = torch.optim.AdamW(self.net_.parameters(), lr=self.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=self.steps,
                                                    pct_start=0.1)
        self.net_.train()
        for _ in range(self.steps):
            pick = torch.randint(len(coords), (self.batch_size,), generator=gen)
            x, y = _rotate_about_normal(coords[pick], offsets[pick], gen)
            lab, f = labels[pick].to(self._device), feats[pick].to(self._device)
            x, y = x.to(self._device), y.to(self._device)
            out = self.net_(x, f)
            on = lab > 0.5
            # Offsets: the defect points and the others weigh alike (defects are few).
            err = F.smooth_l1_loss(out[..., :3], y, reduction="none").sum(-1)
            loss = err[~on].mean() if bool((~on).any()) else err.sum() * 0
            if bool(on.any()):
                loss = loss + err[on].mean() + (
                    1 - F.cosine_similarity(out[..., :3][on], y[on], dim=-1)).mean()
            loss = loss + F.binary_cross_entropy_with_logits(
                out[..., 3], lab, pos_weight=pos_weight.to(self._device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        self.net_.eval()
        self._calibrate(points, rng)

    def _scan(self, points: np.ndarray, which: list, rng: np.random.Generator):
        """Score a cloud against the training clouds ``which``: ``(kept, scores, where)``.

        ``kept``: indices of the points the network saw (``points`` thinned where denser than
        those training clouds); ``scores``: (len(kept),) tensor in the training clouds'
        spacing; ``where``: ``(template, nearest, matrices)``, the training cloud each seen
        point's nearest training-cloud point is on and that point's index (both (len(kept),))
        and the poses found (template index -> 4 x 4), or None without registration.
        """
        # The network sees the scan at most as dense as the training clouds (those it is
        # aligned to), as it was trained, and scores in their spacing: one unit for every scan
        # of a part, so that a dense and a sparse scan's object scores compare.
        unit = float(np.mean([self._spacings[j] for j in which]))
        kept = thin_to_spacing(points, unit, rng)
        if len(kept) < 2 * self.patch_points:
            kept = np.arange(len(points))
        work = points[kept]
        spacing = _spacing(work)
        feats, where = np.zeros((len(work), 0)), None
        if self.registration:
            matrices = align_to_templates(
                work, {j: self.templates_[j] for j in which}, {j: self._indexes[j] for j in which},
                max_points=self.align_points, iterations=self.icp_iterations, seed=self.seed,
                coarse=True, symmetries=self._symmetries if self.consensus else None,
                normals=self._plane_normals)
            feats, template, near = self._residuals_and_nearest(work, spacing, matrices)
            where = (template, near, matrices)
        scores = self._work_scores(self._tensor(work), spacing, self._tensor(_normals(work)),
                                   self._tensor(feats)) * (spacing / unit)
        return kept, scores, where

    def _tensor(self, x) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32, device=self._device)

    def _calibrate(self, points: list, rng: np.random.Generator) -> None:
        """Per training-cloud point, how far above the typical good score a good scan scores
        there (``levels_``, in the scores' unit): each cloud is re-scanned ``calibrate`` times
        (density, noise, one side; no defect), turned up to 20 degrees and scored against the
        *other* training clouds, as a test scan is against all; the mean score each point gets
        over the scans that saw it (a point no scan saw: its nearest seen point's), averaged
        over its ``smooth_k`` nearest points, minus the median over the cloud, at least 0."""
        from pointad.geometry.rotations import rotation_about

        self.levels_ = None
        if not (self.registration and self.calibrate) or len(points) < 2:
            return
        levels = []
        for i, cloud in enumerate(points):
            others = [j for j in range(len(points)) if j != i]
            which = self._nearest_templates(cloud, among=others)
            total, count = np.zeros(len(cloud)), np.zeros(len(cloud))
            blank = np.zeros(len(cloud), bool)
            for _ in range(self.calibrate):
                pts, _, _, _, keep = self._rescan(cloud, self.template_normals_[i], blank,
                                                  np.zeros_like(cloud), self._spacings[i], rng)
                rot = rotation_about(rng.normal(size=3), np.deg2rad(rng.uniform(0, _CALIB_DEG)))
                centre = pts.mean(axis=0)
                posed = (pts - centre) @ rot.T + centre
                kept, scores, _ = self._scan(posed, which, rng)
                seen = np.flatnonzero(keep)[kept]
                np.add.at(total, seen, scores.double().cpu().numpy())
                np.add.at(count, seen, 1.0)
            level = total / np.maximum(count, 1)
            seen = count > 0
            if not seen.any():
                levels.append(np.zeros(len(cloud)))
                continue
            if not seen.all():
                _, near = knn(cloud[~seen], cloud[seen], 1)
                level[~seen] = level[seen][near[:, 0]]
            _, near = knn(cloud, cloud, min(self.smooth_k, len(cloud)))
            level = level[near].mean(axis=1)
            levels.append(np.maximum(level - np.median(level), 0.0))
        self.levels_ = levels

    def _predict(self, cloud):
        points = np.asarray(cloud.points, dtype=np.float64)
        rng = np.random.default_rng(self.seed)
        work = self._subsample(points, rng)
        which = list(range(len(self.templates_)))
        if self.registration:
            which = self._nearest_templates(work)
        kept, scores, where = self._scan(work, which, rng)
        work = work[kept]
        if where is not None and self.levels_ is not None:
            # A place where good scans score high (a thin edge, a bore the alignment leaves
            # a residual in) loses what good scans score there above the typical.
            template, near, _ = where
            excess = np.zeros(len(work))
            for j in np.unique(template):
                on = template == j
                excess[on] = self.levels_[j][near[on]]
            scores = (scores - self._tensor(excess)).clamp(min=0)

        def to_points(x):
            if len(work) < len(points):
                x = interpolate_to_points(torch.as_tensor(work, device=self._device), x.double(),
                                          torch.as_tensor(points, device=self._device))
            return x.double().cpu().numpy()

        point_scores = scores
        if where is not None and self.holes:
            narrow, wide = missing_from_templates(
                work, where[2], self.templates_, normals=self.template_normals_,
                indexes=self._indexes, visibility=True, min_enclosed=self.hole_enclosed,
                rim_share=[0.0, self.hole_rim])
            point_scores = torch.maximum(scores, self._tensor(np.where(wide > 0, self.hole_score,
                                                                       0.0)))
            scores = torch.maximum(scores, self._tensor(np.where(narrow > 0, self.hole_score,
                                                                 0.0)))
        # The object score over the points the network saw (object_k of them: one area
        # however dense the scan).
        work_scores = scores.double().cpu().numpy()
        _, near_k = knn(work, work, min(self.object_k, len(work)))
        score = float(work_scores[near_k].mean(axis=1).max())
        return to_points(point_scores), score

    def _work_scores(self, pts: torch.Tensor, spacing: float, normals: torch.Tensor,
                     feats: torch.Tensor) -> torch.Tensor:
        """(N,) scores of the points the network sees (``spacing``, ``normals``, features:
        theirs)."""
        n = pts.shape[0]
        k = min(self.patch_points, n)
        n_centres = min(n, int(np.ceil(3.0 * n / k)))
        centres = farthest_point_sampling(pts, n_centres)
        patches = local_patches(pts, centres, k, _SCALE * spacing, normals,
                                context=min(self.context, k - 1), reach=self.reach,
                                generator=torch.Generator().manual_seed(self.seed))
        total = torch.zeros(n, device=pts.device)
        count = torch.zeros(n, device=pts.device)
        with torch.no_grad():
            for start in range(0, n_centres, 256):
                idx = patches.index[start:start + 256]
                out = self.net_(patches.coords[start:start + 256], feats[idx])
                value = out[..., :3].norm(dim=-1) + (self.label_weight * self.label_scale_
                                                     * torch.sigmoid(out[..., 3]))
                total.index_add_(0, idx.reshape(-1), value.reshape(-1))
                count.index_add_(0, idx.reshape(-1), torch.ones_like(value.reshape(-1)))
        # A point no patch reached, or a stray sensor return far off the surface (its 7th
        # nearest point beyond 4 times the typical distance), takes the score of its nearest
        # surface point: a stray return is noise, not a defect.
        inlier = (count > 0) & ~isolated(pts, _ISOLATION_K, factor=4.0)
        scores = total / count.clamp(min=1)
        if not bool(inlier.all()) and bool(inlier.any()):
            _, near = knn(pts[~inlier], pts[inlier], 1)
            scores[~inlier] = scores[inlier][near[:, 0]]
        if self.smooth_k > 1:
            _, near = knn(pts, pts, min(self.smooth_k, n))
            scores = scores[near].mean(dim=1)
        return scores

    def _get_state(self):
        state = {f"net_{k}": v.cpu().numpy() for k, v in self.net_.state_dict().items()}
        state["label_scale"] = np.array(self.label_scale_)
        for i, (t, n) in enumerate(zip(self.templates_, self.template_normals_)):
            state[f"template_{i}"], state[f"template_normals_{i}"] = t, n
            if self.levels_ is not None:
                state[f"level_{i}"] = self.levels_[i]
        return state

    def _set_state(self, arrays):
        self.label_scale_ = float(arrays["label_scale"])
        keys = sorted((k for k in arrays if k.startswith("template_") and k[9:].isdigit()),
                      key=lambda k: int(k[9:]))
        self._set_templates([np.asarray(arrays[k], dtype=np.float64) for k in keys],
                            [np.asarray(arrays[f"template_normals_{k[9:]}"], dtype=np.float64)
                             for k in keys])
        self.levels_ = ([np.asarray(arrays[f"level_{k[9:]}"], dtype=np.float64) for k in keys]
                        if f"level_{keys[0][9:]}" in arrays else None)
        self.net_ = self._network()  # initialisation draws, overwritten below
        self.net_.load_state_dict({k[4:]: torch.as_tensor(v) for k, v in arrays.items()
                                   if k.startswith("net_")})
        self.net_.eval()


def _normals(points: np.ndarray) -> np.ndarray:
    """Consistently oriented normals from small neighbourhoods (16 points: a thin wall's two
    faces stay apart)."""
    return estimate_normals(points, min(_NORMAL_K, len(points) - 1))


def _spacing(points: np.ndarray) -> float:
    """The point spacing of a cloud (its unit for patches and offsets); 1 for a degenerate one."""
    spacing = point_spacing(points)
    return spacing if spacing > 0 else 1.0


def _rotate_about_normal(coords, offsets, gen):
    """Patches and their offsets turned by a random angle about the patch normal (the frame's
    third axis): the in-plane axes of a round patch are arbitrary."""
    angle = torch.rand(coords.shape[0], generator=gen) * (2 * np.pi)
    c, s = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(coords.shape[0], 3, 3)
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = c, -s, s, c
    rot[:, 2, 2] = 1.0
    return coords @ rot.transpose(1, 2), offsets @ rot.transpose(1, 2)
