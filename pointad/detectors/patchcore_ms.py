"""``patchcore-ms``: Simple3D-style training-free detector (Cheng et al., AAAI 2026), made robust
to scans that differ from the templates in density, view and pose.

Per point, a multi-scale FPFH (``fpfh_ks`` nearest points, by default only those within
``radius_scale * sqrt(k)`` point spacings of the training clouds: a neighbourhood of a bounded
*size*, not only a fixed *count*, so a sparser test scan describes the same surface patch), mean-
pooled over the ``group_size`` nearest points of ``n_groups`` farthest-point-sampled centres; a
PatchCore memory bank (greedy coreset) of the training groups; group score = distance to the
nearest bank feature. With ``residual_weight`` > 0 a registration residual joins it (Reg3D-AD's
idea): the test cloud is aligned to every training template (PCA starts + coarse-to-fine ICP whose
last correspondences stop at five spacings, so a partial view aligns on what it shows; the coarse
stages first bring a pose of tens of degrees in) and each point's distance to the
nearest aligned template point, in training spacings, is averaged over the group; with ``holes``
a point on the rim of missing surface (a region of the aligned templates the scan lacks, small
enough to be a hole rather than an unseen side, :func:`pointad.geometry.coverage`) takes the
larger of that distance and the hole's depth in its point score (not in the object score, which
stays that of ``holes=False``: a pocket a partial scan could not see into can pass for a hole,
and one such region on a good scan would decide the object). Both terms are
divided by their 99th percentile on the training clouds scored leave-one-out (each cloud against
the bank and the templates of the others), so they share one unit and ``residual_weight`` is their
ratio. Points thrown off the surface (isolated: their ``outlier_k``-th neighbour farther than
``outlier_spacings`` training spacings) are left out of the features and the groups and take the
score of the nearest groups. Point scores by inverse-distance interpolation of the 3 nearest
centres; object score = mean of the ``top_k`` highest point scores. Runs on CUDA when available.

Thin parts: a complete training scan of a wall one or two point spacings thick has both faces in
every neighbourhood, a partial test scan only one, so every point of a good partial scan is far
from a bank of complete scans (P-AUROC below 0.5 on the realistic preset's mug). So the bank
also holds ``partial_views`` single-view cuts of each unorganized training cloud (hidden point
removal from seeded directions, :func:`pointad.geometry.visible_from`), and the registration
residual is on by default (``residual_weight=1``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from pointad.detectors.memory_bank import BankDetector
from pointad.detectors.registry import register
from pointad.errors import InputError
from pointad.features import fpfh, fps_groups, group_mean, interpolate_to_points
from pointad.geometry import estimate_normals, isolated, point_spacing
from pointad.geometry.coverage import missing_from_templates
from pointad.geometry.registration import align_to_templates, nearest_template_points, subsample
from pointad.ops import NeighbourIndex, knn
from pointad.validation import check_number, parse_bool


def point_features(points: torch.Tensor, normal_k: int, fpfh_ks, organized: bool,
                   radii=None) -> torch.Tensor:
    """(N, 33 * len(fpfh_ks)) multi-scale FPFH of (N, 3) points, with the package's oriented
    normals (:func:`pointad.geometry.estimate_normals`, the ones synthesis displaces along).

    ``radii`` (one per scale, in the points' unit, or None): Open3D's hybrid search, the
    ``fpfh_ks[i]`` nearest points within ``radii[i]``; None: the plain ``fpfh_ks[i]`` nearest.
    One kNN search serves every scale."""
    normals = torch.from_numpy(estimate_normals(points.cpu().numpy(), min(normal_k, len(points)),
                                                organized=organized)).to(points)
    dist, idx = knn(points, points, min(max(fpfh_ks), points.shape[0]))
    out = []
    for i, k in enumerate(fpfh_ks):
        k = min(k, points.shape[0])
        sub = idx[:, :k]
        if radii is not None:
            sub = torch.where(dist[:, :k] < radii[i], sub, torch.full_like(sub, -1))
            sub[:, 0] = idx[:, 0]  # the point itself, always first
        out.append(fpfh(points, normals, None, k, neighbours=(sub, None)))
    return torch.cat(out, dim=1).float()


class Groups(NamedTuple):
    """One cloud's groups: ``points`` (N, 3), ``centres`` (G, 3), ``features`` (G, D) and
    ``members`` (G, K) the point indices of each group."""

    points: torch.Tensor
    centres: torch.Tensor
    features: torch.Tensor
    members: torch.Tensor


@register
class PatchCoreMS(BankDetector):
    """Multi-scale FPFH groups + PatchCore memory bank (+ a registration residual).

    Args:
        normal_k: neighbours for the PCA normals.
        fpfh_ks: neighbourhood sizes (most neighbours) of the multi-scale FPFH.
        radius_scale: the scale of ``k`` neighbours also stops at ``radius_scale * sqrt(k)``
            point spacings of the training clouds (about the radius that holds k points at the
            training density: 0.6 gives 3.8, 5.4, 6.6 spacings for k = 40, 80, 120), so a
            sparser or denser scan describes the same patch; 0 = plain kNN (Simple3D's counts).
        n_groups: FPS centres per cloud (Simple3D uses 4096; fewer is faster on CPU).
        group_size: points per group.
        coreset_ratio: fraction of the training groups kept in the bank.
        max_bank: cap on the bank size (memory: max_bank x 99 float32).
        top_k: object score = mean of the top_k point scores.
        residual_weight: weight of the registration residual against the bank distance (both
            normalised; 0 = the bank alone, scores then the raw bank distances).
        outlier_spacings, outlier_k: a point whose ``outlier_k``-th nearest neighbour is farther
            than ``outlier_spacings`` training spacings is an outlier (0 = keep every point).
        max_template_points, align_points: points kept per template / used by the alignment.
        consensus: each alignment also tries the template's near-symmetries and the poses
            found on the other templates, keeping the pose that leaves the fewest points far
            from the template, finished by point-to-plane ICP on the whole template
            (:func:`pointad.geometry.registration.align_to_templates`; the default since 3
            December 2026, docs/realistic-preset.md: *`consensus` by default*). Off: the best
            ICP start alone.
        partial_views: the bank also holds this many single-view cuts (hidden point removal
            from seeded directions) of every unorganized training cloud: a partial test scan
            shows one face of a thin wall where the complete training scans have both.
        holes: the residual also sees missing surface (with ``residual_weight`` > 0): a point
            on the rim of a hole takes the larger of its distance and the hole's depth. Point
            scores only: the object score is that of ``holes=False``.
        seed: seed of the coreset's random projection and of the subsampling.
        device: "auto", "cpu" or "cuda".
    """

    name = "patchcore-ms"

    def __init__(self, normal_k: int = 10, fpfh_ks=(40, 80, 120), radius_scale: float = 0.0,
                 n_groups: int = 1024, group_size: int = 64, coreset_ratio: float = 0.05,
                 max_bank: int = 50_000, top_k: int = 80, residual_weight: float = 1.0,
                 outlier_spacings: float = 0.0, outlier_k: int = 3,
                 max_template_points: int = 100_000, align_points: int = 4000,
                 consensus: bool = True, partial_views: int = 8, holes: bool = False,
                 seed: int = 0,
                 device: str = "auto"):
        self.normal_k = check_number(normal_k, "normal_k", low=3, integer=True)
        self.fpfh_ks = check_sizes(fpfh_ks, "fpfh_ks", low=2)
        self.radius_scale = check_number(radius_scale, "radius_scale", low=0)
        self.top_k = check_number(top_k, "top_k", low=1, integer=True)
        self.residual_weight = check_number(residual_weight, "residual_weight", low=0)
        self.outlier_spacings = check_number(outlier_spacings, "outlier_spacings", low=0)
        self.outlier_k = check_number(outlier_k, "outlier_k", low=1, integer=True)
        self.max_template_points = check_number(max_template_points, "max_template_points",
                                                low=10, integer=True)
        self.align_points = check_number(align_points, "align_points", low=10, integer=True)
        self.consensus = parse_bool(consensus, "consensus")
        self.holes = parse_bool(holes, "holes")
        self._set_bank_params(n_groups, group_size, coreset_ratio, max_bank, seed, device,
                              partial_views)

    # Features ---------------------------------------------------------------------------
    def _inliers(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask of the points that are not isolated outliers."""
        k = self.outlier_k
        if self.outlier_spacings == 0 or len(points) <= k + 1:
            return np.ones(len(points), dtype=bool)
        keep = ~isolated(points, k, limit=self.outlier_spacings * self.spacing_)
        return keep if keep.sum() > k + 1 else np.ones(len(points), dtype=bool)

    def _groups(self, cloud, points=None) -> Groups:
        pts = torch.as_tensor(cloud.points if points is None else points, dtype=torch.float64,
                              device=self._device)
        radii = None if self.radius_scale == 0 else \
            [self.radius_scale * float(np.sqrt(k)) * self.spacing_ for k in self.fpfh_ks]
        feats = point_features(pts, self.normal_k, self.fpfh_ks, cloud.organized, radii)
        centres, members = fps_groups(pts, self.n_groups, self.group_size)
        return Groups(pts, pts[centres], group_mean(feats, members), members)

    # Registration residual --------------------------------------------------------------
    def _templates(self, clouds) -> None:
        self.templates_ = [subsample(np.asarray(c.points, dtype=np.float64),
                                     self.max_template_points, self.seed + i)
                           for i, c in enumerate(clouds)]
        self._indexes = [NeighbourIndex(t) for t in self.templates_]
        self._reset_derived()

    def _reset_derived(self) -> None:
        """Forget what is derived from the templates and not saved: hole normals,
        near-symmetries, polish normals (each computed on first use)."""
        self._normals: list[np.ndarray] | None = None
        self._symmetries: dict = {}
        self._plane_normals: dict = {}

    def _alignments(self, points: np.ndarray, which) -> list:
        """4 x 4 transforms of ``points`` onto the templates ``which`` (indices)."""
        moves = align_to_templates(points, {j: self.templates_[j] for j in which},
                                   {j: self._indexes[j] for j in which},
                                   max_points=self.align_points, iterations=30, seed=self.seed,
                                   coarse=True,
                                   symmetries=self._symmetries if self.consensus else None,
                                   normals=self._plane_normals)
        return [moves[j] for j in which]

    def _residual(self, points: np.ndarray, which=None, matrices=None,
                  holes: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(distance, with_holes)``, each (N,) in training spacings: each point's distance to
        the nearest point of the aligned templates ``which`` (default: all; ``matrices``: their
        transforms, if known) and, with the detector's ``holes`` (and ``holes`` here), the larger
        of that and the depth of the hole the point borders (without: the distance again)."""
        which = range(len(self.templates_)) if which is None else which
        matrices = self._alignments(points, which) if matrices is None else matrices
        moves = dict(zip(which, matrices))
        best = nearest_template_points(points, moves, self._indexes)[0] / self.spacing_
        if not (self.holes and holes):
            return best, best
        if self._normals is None:  # the templates' normals, once (not saved: derived)
            self._normals = [estimate_normals(t) for t in self.templates_]
        missing = missing_from_templates(points, moves, self.templates_, normals=self._normals,
                                         indexes=self._indexes)
        return best, np.maximum(best, missing / self.spacing_)

    def _residual_groups(self, g: Groups, residual: np.ndarray) -> torch.Tensor:
        r = torch.as_tensor(residual, dtype=torch.float64, device=self._device)
        return group_mean(r[:, None], g.members)[:, 0]

    # Protocol ---------------------------------------------------------------------------
    def _fit_common(self, clouds):
        """Spacing, templates, groups and bank; with a residual, the leave-one-out scales.
        Returns the training clouds' groups, their inlier masks and, per cloud, its alignments
        to the other templates (None without a residual)."""
        self.spacing_ = float(np.median([point_spacing(np.asarray(c.points)) for c in clouds]))
        if not self.spacing_ > 0:
            raise InputError("the training clouds have no point spacing (coincident points)")
        self._templates(clouds if self.residual_weight > 0 else [])
        masks = [self._inliers(np.asarray(c.points)) for c in clouds]
        grouped = [self._groups(c, None if m.all() else np.asarray(c.points)[m])
                   for c, m in zip(clouds, masks)]
        views = [self._groups(v) for v in self._partial_views(clouds)]
        self.memory_ = self._memory_bank().fit(torch.cat([g.features for g in grouped + views]))
        self.bank_scale_ = self.residual_scale_ = 1.0
        aligned: list = [None] * len(clouds)
        if self.residual_weight > 0 and len(clouds) > 1:
            d_all, r_all = [], []
            for i, g in enumerate(grouped):
                others = [j for j in range(len(clouds)) if j != i]
                loo = self._memory_bank().fit(torch.cat([grouped[j].features for j in others]))
                d_all.append(loo.patch_scores(g.features)[0].double())
                pts = g.points.cpu().numpy()
                aligned[i] = (others, self._alignments(pts, others))
                distance = self._residual(pts, others, aligned[i][1], holes=False)[0]
                r_all.append(self._residual_groups(g, distance))
            self.bank_scale_ = float(torch.quantile(torch.cat(d_all), 0.99).clamp(min=1e-12))
            self.residual_scale_ = float(torch.quantile(torch.cat(r_all), 0.99).clamp(min=1e-12))
        return grouped, masks, aligned

    def _fit(self, clouds):
        self._fit_common(clouds)

    def _test_groups(self, cloud):
        """``(groups of the inliers, their normalised residuals or None, all points (N, 3)
        tensor)`` of a test cloud; the residuals: ``(distance, with_holes)``, (G,) each (equal
        without ``holes``)."""
        points = np.asarray(cloud.points, dtype=np.float64)
        keep = self._inliers(points)
        g = self._groups(cloud, None if keep.all() else points[keep])
        residuals = None
        if self.residual_weight > 0:
            residuals = tuple(self._residual_groups(g, r) / self.residual_scale_
                              for r in self._residual(g.points.cpu().numpy()))
        return g, residuals, torch.as_tensor(points, dtype=torch.float64, device=self._device)

    def _finish(self, g: Groups, group_scores: torch.Tensor, points: torch.Tensor,
                object_groups: torch.Tensor | None = None):
        """Point scores (interpolated from the group scores) and the object score (the top
        point scores of ``object_groups`` when given, else of ``group_scores``)."""
        point_scores = interpolate_to_points(g.centres, group_scores.double(), points)
        ranked = point_scores if object_groups is None else interpolate_to_points(
            g.centres, object_groups.double(), points)
        score = torch.topk(ranked, min(self.top_k, ranked.shape[0])).values.mean()
        return point_scores.cpu().numpy(), float(score)

    def _predict(self, cloud):
        g, residuals, points = self._test_groups(cloud)
        scores = self.memory_.patch_scores(g.features)[0].double()
        if residuals is None:
            return self._finish(g, scores, points)
        base, full = (scores / self.bank_scale_ + self.residual_weight * r for r in residuals)
        return self._finish(g, full, points, base if self.holes else None)

    def _get_state(self):
        state = {**self.memory_.get_state(), "spacing": np.array(self.spacing_),
                 "scales": np.array([self.bank_scale_, self.residual_scale_])}
        state.update({f"template_{i}": t for i, t in enumerate(self.templates_)})
        return state

    def _set_state(self, arrays):
        self.memory_ = self._memory_bank().set_state(arrays, self._device)
        self.spacing_ = float(arrays["spacing"])
        self.bank_scale_, self.residual_scale_ = (float(v) for v in arrays["scales"])
        keys = sorted((k for k in arrays if k.startswith("template_")), key=lambda k: int(k[9:]))
        self.templates_ = [np.asarray(arrays[k], dtype=np.float64) for k in keys]
        self._indexes = [NeighbourIndex(t) for t in self.templates_]
        self._reset_derived()


def check_sizes(values, name: str, low: int) -> list:
    """A non-empty list or tuple of integers >= ``low``, as a list (JSON-friendly)."""
    if not isinstance(values, (list, tuple)) or not values:
        raise InputError(f"{name} must be a non-empty list of integers, got {values!r}")
    return [check_number(v, name, low=low, integer=True) for v in values]
