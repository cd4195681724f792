"""``pnas-offset``: a point network trained on synthetic defects made on the good training clouds,
regressing every point's offset from the normal surface (PO3AD, Ye et al. CVPR 2025; Anomaly
Factory 3D trains the same kind of network on a mix of deformation kinds).

Fit, from the normal training clouds only:

1. Each cloud (subsampled to ``max_points``) gets normals and ``n_synthetic`` defective copies
   (:mod:`pointad.synthesis.defects`: the kinds of ``defects``, minus ``exclude``, with
   ``fraction`` of the points and peaks of ``height`` point spacings), plus clean copies; every
   copy is then scanned again as a test scan would be: a random share of the points kept
   (density), Gaussian noise, and, half of the time, only the side facing a random view.
2. Patches (the ``patch_points`` nearest points of a centre; half of a defective copy's centres
   on its defect) in their rotation-invariant principal frame
   (:func:`pointad.features.local_patches`), coordinates in units of the point spacing of the
   training clouds, so the network sees shape at the scale of the sampling, whatever the part's
   size or pose.
3. :class:`pointad.models3d.OffsetNet` learns, per patch point, its offset (the defect's
   displacement, in point spacings, in the patch frame; zero on the normal surface) and its label
   (a hole's rim has no offset but a label). Loss: smooth L1 on the offset, 1 - cosine on the
   offset's direction at defect points, and class-balanced BCE on the label.

Predict: the cloud (denser clouds thinned to the training density, at most ``max_points``) is
covered by farthest-point-sampled patches; a point's score is the mean over the patches holding
it of ``|offset| + label_weight * h * p`` (h: the median offset of the training defects, p: the
predicted probability), averaged over its ``smooth_k`` nearest points and interpolated back to
every input point. The object score is the mean of the top ``top_fraction`` of point scores.
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
from pointad.geometry import estimate_normals
from pointad.geometry.units import point_spacing
from pointad.models3d import OffsetNet
from pointad.ops import farthest_point_sampling, knn
from pointad.validation import check_number

# The training mixes by name: "pnas" is the 3D-PNAS claim (Perlin defects only); "mix" is the
# deformation kinds the offset methods train on. A benchmark's test kinds are left out with
# ``exclude`` (leave-one-kind-out).
MIXES = {
    "pnas": ("pnas",),
    "mix": ("pnas", "ridge", "trench", "flat_spot", "skewed_crater", "shear", "drag", "ripple",
            "pitting", "bulge", "dent", "hole", "crack", "scratch"),
}
_CLEAN_SHARE = 0.25     # share of the pool left without a defect
_ON_DEFECT = 0.5        # share of a defective copy's patch centres on the defect
_DENSITY = (0.55, 1.0)  # share of the points a re-scan keeps
_NOISE = (0.0, 0.2)     # noise of a re-scan, point spacings
_VIEW_RATE = 0.5        # share of re-scans that keep one side only


def _kinds(defects: str, exclude: str) -> tuple[str, ...]:
    """Defect kinds of the training mix: a mix name or comma-separated kinds, minus ``exclude``."""
    from pointad.synthesis.defects import available

    if not isinstance(defects, str) or not isinstance(exclude, str):
        raise InputError("defects and exclude must be strings (a mix name or comma-separated "
                         "defect kinds)")
    names = MIXES.get(defects) or tuple(k.strip() for k in defects.split(",") if k.strip())
    left_out = {k.strip() for k in exclude.split(",") if k.strip()}
    known = set(available())
    unknown = sorted((set(names) | left_out) - known)
    if unknown:
        raise InputError(f"unknown defect kind {unknown[0]!r}; choose from "
                         f"{', '.join(sorted(known))} or a mix: {', '.join(MIXES)}")
    kinds = tuple(k for k in names if k not in left_out)
    if not kinds:
        raise InputError(f"no defect kind left to train on: defects={defects!r}, "
                         f"exclude={exclude!r}")
    return kinds


def _pair(value, name: str, low: float, high: float | None = None) -> list[float]:
    """A validated ``[low, high]`` range (a list: parameters are stored JSON-native)."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a (low, high) pair, got {value!r}") from None
    check_number(lo, f"{name}[0]", low=low, high=high, low_open=True)
    check_number(hi, f"{name}[1]", low=low, high=high, low_open=True)
    if lo > hi:
        raise InputError(f"{name} must have low <= high, got {value!r}")
    return [lo, hi]


@register
class PNASOffset(Detector):
    """Offset-regression point network trained on synthetic defects (see the module docstring).

    Args:
        defects: training kinds: ``"pnas"`` (3D-PNAS only), ``"mix"`` (:data:`MIXES`) or
            comma-separated kinds of :func:`pointad.synthesis.defects.available`.
        exclude: comma-separated kinds left out of training (the kinds a benchmark tests).
        fraction: (low, high) share of a cloud's points a training defect covers.
        height: (low, high) peak of a training defect, in point spacings.
        n_synthetic: defective copies per training cloud.
        patch_points: points per patch (K).
        patches_per_copy: patches drawn from each (defective or clean) copy.
        width, neighbours: the network's channel width and EdgeConv k.
        steps, batch_size, lr: training iterations (AdamW, cosine schedule), patches per step,
            learning rate.
        label_weight: weight of the label head in the point score (0: offsets only).
        smooth_k: point scores are averaged over this many nearest points (1: no smoothing).
        top_fraction: object score = mean of this top share of point scores.
        max_points: clouds above this many points are subsampled (seeded) for fit and predict.
        seed: every random draw. device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    name = "pnas-offset"

    def __init__(self, defects: str = "pnas", exclude: str = "", fraction=(0.005, 0.05),
                 height=(1.0, 5.0), n_synthetic: int = 24, patch_points: int = 128,
                 patches_per_copy: int = 48, width: int = 32, neighbours: int = 10,
                 steps: int = 1500, batch_size: int = 32, lr: float = 2e-3,
                 label_weight: float = 1.0, smooth_k: int = 8, top_fraction: float = 0.01,
                 max_points: int = 16384, seed: int = 0, device: str = "auto"):
        self.defects = defects
        self.exclude = exclude
        self._kinds = _kinds(defects, exclude)
        self.fraction = _pair(fraction, "fraction", 0, 0.3)
        self.height = _pair(height, "height", 0)
        self.n_synthetic = check_number(n_synthetic, "n_synthetic", low=1, integer=True)
        self.patch_points = check_number(patch_points, "patch_points", low=8, integer=True)
        self.patches_per_copy = check_number(patches_per_copy, "patches_per_copy", low=1,
                                             integer=True)
        self.width = check_number(width, "width", low=4, integer=True)
        self.neighbours = check_number(neighbours, "neighbours", low=2, integer=True)
        self.steps = check_number(steps, "steps", low=1, integer=True)
        self.batch_size = check_number(batch_size, "batch_size", low=1, integer=True)
        self.lr = check_number(lr, "lr", low=0, low_open=True)
        self.label_weight = check_number(label_weight, "label_weight", low=0)
        self.smooth_k = check_number(smooth_k, "smooth_k", low=1, integer=True)
        self.top_fraction = check_number(top_fraction, "top_fraction", low=0, high=1,
                                         low_open=True)
        self.max_points = check_number(max_points, "max_points", low=self.patch_points,
                                       integer=True)
        self.seed = check_number(seed, "seed", low=0, integer=True)
        self.device = device
        self._device = resolve_device(device)

    # Training data ---------------------------------------------------------------------------
    def _subsample(self, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if len(points) <= self.max_points:
            return points
        return points[np.sort(rng.choice(len(points), self.max_points, replace=False))]

    def _defective(self, points, normals, rng):
        """A defective copy: ``(points, labels, offsets)`` of the kept points, or None when no
        kind of the mix fits this cloud in a few draws."""
        from pointad.synthesis.defects import apply

        for _ in range(4):
            kind = self._kinds[int(rng.integers(len(self._kinds)))]
            try:
                result = apply(kind, points, normals, rng,
                               fraction=float(rng.uniform(*self.fraction)),
                               spacing=self.spacing_, height=self.height)
            except InputError:
                continue
            pts, labels, offsets = result.points[result.keep], result.labels[result.keep], \
                result.offsets[result.keep]
            if labels.any():
                return pts, labels, offsets
        return None

    def _rescan(self, points, normals, labels, offsets, rng):
        """The copy as a fresh test scan sees it: density, noise and (sometimes) one side."""
        keep = rng.random(len(points)) < rng.uniform(*_DENSITY)
        if rng.random() < _VIEW_RATE:
            view = rng.normal(size=3)
            keep &= normals @ (view / np.linalg.norm(view)) > -0.1
        if keep.sum() < 2 * self.patch_points:
            keep[:] = True
        noise = rng.normal(0.0, rng.uniform(*_NOISE) * self.spacing_, size=(int(keep.sum()), 3))
        return points[keep] + noise, labels[keep], offsets[keep]

    def _patches(self, points, labels, offsets, rng):
        """``patches_per_copy`` training patches of one copy: (P, K, 3) coordinates and offsets
        in the patch frame (spacings), (P, K) labels."""
        n = self.patches_per_copy
        on_defect = np.flatnonzero(labels)
        n_def = int(round(_ON_DEFECT * n)) if len(on_defect) else 0
        centres = np.concatenate([rng.choice(on_defect, n_def) if n_def else np.zeros(0, int),
                                  rng.integers(len(points), size=n - n_def)])
        pts = torch.as_tensor(points, dtype=torch.float32)
        p = local_patches(pts, torch.as_tensor(centres), self.patch_points, self._scale())
        off = torch.as_tensor(offsets, dtype=torch.float32)[p.index]
        off = off @ p.frames.transpose(1, 2) / self.spacing_
        return p.coords, off, torch.as_tensor(labels)[p.index]

    def _scale(self) -> float:
        """Patch coordinates are in units of 4 point spacings (a patch spans about +-2)."""
        return 4.0 * self.spacing_

    def _training_set(self, clouds, rng):
        coords, offsets, labels = [], [], []
        n_clean = max(1, int(round(_CLEAN_SHARE / (1 - _CLEAN_SHARE) * self.n_synthetic)))
        for cloud in clouds:
            normals = estimate_normals(cloud, min(30, len(cloud) - 1))
            copies = [(cloud, np.zeros(len(cloud), bool), np.zeros_like(cloud), normals)
                      for _ in range(n_clean)]
            for _ in range(self.n_synthetic):
                made = self._defective(cloud, normals, rng)
                if made is not None:
                    # Normals of the copy's kept points: the defect may have removed some.
                    _, nearest = knn(made[0] - made[2], cloud, 1)
                    copies.append((*made, normals[nearest[:, 0]]))
            for pts, lab, off, nrm in copies:
                c, o, lab_p = self._patches(*self._rescan(pts, nrm, lab, off, rng), rng)
                coords.append(c)
                offsets.append(o)
                labels.append(lab_p)
        return torch.cat(coords), torch.cat(offsets), torch.cat(labels).float()

    # Protocol --------------------------------------------------------------------------------
    def _fit(self, clouds):
        rng = np.random.default_rng(self.seed)
        points = [self._subsample(np.asarray(c.points, dtype=np.float64), rng) for c in clouds]
        small = [i for i, p in enumerate(points) if len(p) < 2 * self.patch_points]
        if small:
            raise InputError(f"training cloud {small[0]} has {len(points[small[0]])} points; "
                             f"pnas-offset needs at least 2 x patch_points = "
                             f"{2 * self.patch_points}")
        self.spacing_ = float(np.median([point_spacing(p) for p in points]))
        if not self.spacing_ > 0:
            raise InputError("training clouds have no point spacing (all points coincide)")
        coords, offsets, labels = self._training_set(points, rng)
        defect = labels > 0.5
        norms = offsets.norm(dim=-1)
        self.label_scale_ = float(norms[defect].median()) if defect.any() else 1.0
        pos_weight = ((~defect).sum() / defect.sum().clamp(min=1)).clamp(max=20.0).reshape(1)
        with seeded(self.seed, self._device):
            self.net_ = OffsetNet(self.width, self.neighbours).to(self._device)
        gen = torch.Generator().manual_seed(self.seed)
        opt = torch.optim.AdamW(self.net_.parameters(), lr=self.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=self.steps,
                                                    pct_start=0.1)
        self.net_.train()
        for _ in range(self.steps):
            pick = torch.randint(len(coords), (self.batch_size,), generator=gen)
            x, y, lab = _rotate_about_normal(coords[pick], offsets[pick], labels[pick], gen)
            x, y, lab = x.to(self._device), y.to(self._device), lab.to(self._device)
            out = self.net_(x)
            loss = F.smooth_l1_loss(out[..., :3], y)
            on = lab > 0.5
            if on.any():
                loss = loss + (1 - F.cosine_similarity(out[..., :3][on], y[on], dim=-1)).mean()
            loss = loss + F.binary_cross_entropy_with_logits(
                out[..., 3], lab, pos_weight=pos_weight.to(self._device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        self.net_.eval()

    def _predict(self, cloud):
        points = np.asarray(cloud.points, dtype=np.float64)
        rng = np.random.default_rng(self.seed)
        work = points
        spacing = point_spacing(points)
        if 0 < spacing < 0.9 * self.spacing_:  # denser than training: thin to its density
            share = (spacing / self.spacing_) ** 2
            work = points[np.sort(rng.choice(len(points), max(2 * self.patch_points,
                                                              int(share * len(points))),
                                             replace=False))]
        work = self._subsample(work, rng)
        scores = self._work_scores(torch.as_tensor(work, dtype=torch.float32,
                                                   device=self._device))
        if len(work) < len(points):
            scores = interpolate_to_points(
                torch.as_tensor(work, device=self._device), scores.double(),
                torch.as_tensor(points, device=self._device))
        scores = scores.double().cpu().numpy()
        k = max(1, int(np.ceil(self.top_fraction * len(scores))))
        return scores, float(np.partition(scores, len(scores) - k)[len(scores) - k:].mean())

    def _work_scores(self, pts: torch.Tensor) -> torch.Tensor:
        """(N,) scores of the points the network sees."""
        n = pts.shape[0]
        k = min(self.patch_points, n)
        n_centres = min(n, int(np.ceil(3.0 * n / k)))
        centres = farthest_point_sampling(pts, n_centres)
        patches = local_patches(pts, centres, k, self._scale())
        total = torch.zeros(n, device=pts.device)
        count = torch.zeros(n, device=pts.device)
        with torch.no_grad():
            for start in range(0, n_centres, 256):
                out = self.net_(patches.coords[start:start + 256])
                value = out[..., :3].norm(dim=-1) + (self.label_weight * self.label_scale_
                                                     * torch.sigmoid(out[..., 3]))
                idx = patches.index[start:start + 256].reshape(-1)
                total.index_add_(0, idx, value.reshape(-1))
                count.index_add_(0, idx, torch.ones_like(value.reshape(-1)))
        covered = count > 0
        scores = total / count.clamp(min=1)
        if not bool(covered.all()):  # a point no patch reached takes its nearest covered score
            _, near = knn(pts[~covered], pts[covered], 1)
            scores[~covered] = scores[covered][near[:, 0]]
        if self.smooth_k > 1:
            _, near = knn(pts, pts, min(self.smooth_k, n))
            scores = scores[near].mean(dim=1)
        return scores

    def _get_state(self):
        state = {f"net_{k}": v.cpu().numpy() for k, v in self.net_.state_dict().items()}
        state.update(spacing=np.array(self.spacing_), label_scale=np.array(self.label_scale_))
        return state

    def _set_state(self, arrays):
        self.spacing_ = float(arrays["spacing"])
        self.label_scale_ = float(arrays["label_scale"])
        with seeded(self.seed, self._device):  # initialisation draws, overwritten below
            self.net_ = OffsetNet(self.width, self.neighbours).to(self._device)
        self.net_.load_state_dict({k[4:]: torch.as_tensor(v) for k, v in arrays.items()
                                   if k.startswith("net_")})
        self.net_.eval()


def _rotate_about_normal(coords, offsets, labels, gen):
    """Patches and their offsets turned by a random angle about the patch normal (the frame's
    third axis): the in-plane axes of a round patch are arbitrary."""
    angle = torch.rand(coords.shape[0], generator=gen) * (2 * np.pi)
    c, s = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(coords.shape[0], 3, 3)
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = c, -s, s, c
    rot[:, 2, 2] = 1.0
    return coords @ rot.transpose(1, 2), offsets @ rot.transpose(1, 2), labels
