"""``patchcore-ms``: Simple3D-style training-free detector (Cheng et al., AAAI 2026).

Multi-scale kNN-FPFH per point (k = 40, 80, 120 by default), mean-pooled over the ``group_size``
nearest points of ``n_groups`` farthest-point-sampled centres; a PatchCore memory bank (greedy
coreset) of the training groups; group score = distance to the nearest bank feature; point scores
by inverse-distance interpolation of the 3 nearest centres; object score = mean of the ``top_k``
highest point scores. Runs on CUDA when available.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from pointad.detectors.memory_bank import BankDetector
from pointad.detectors.registry import register
from pointad.errors import InputError
from pointad.features import fps_groups, group_mean, interpolate_to_points, multiscale_fpfh
from pointad.geometry import estimate_normals
from pointad.validation import check_number


def point_features(points: torch.Tensor, normal_k: int, fpfh_ks, organized: bool) -> torch.Tensor:
    """(N, 33 * len(fpfh_ks)) multi-scale FPFH of (N, 3) points, with the package's oriented
    normals (:func:`pointad.geometry.estimate_normals`, the ones synthesis displaces along)."""
    normals = torch.from_numpy(estimate_normals(points.cpu().numpy(), min(normal_k, len(points)),
                                                organized=organized)).to(points)
    return multiscale_fpfh(points, normals, [min(f, points.shape[0]) for f in fpfh_ks]).float()


class Groups(NamedTuple):
    """One cloud's groups: ``points`` (N, 3), ``centres`` (G, 3), ``features`` (G, D) and
    ``members`` (G, K) the point indices of each group."""

    points: torch.Tensor
    centres: torch.Tensor
    features: torch.Tensor
    members: torch.Tensor


@register
class PatchCoreMS(BankDetector):
    """Multi-scale FPFH groups + PatchCore memory bank.

    Args:
        normal_k: neighbours for the PCA normals.
        fpfh_ks: neighbourhood sizes of the multi-scale FPFH.
        n_groups: FPS centres per cloud (Simple3D uses 4096; fewer is faster on CPU).
        group_size: points per group.
        coreset_ratio: fraction of the training groups kept in the bank.
        max_bank: cap on the bank size (memory: max_bank x 99 float32).
        top_k: object score = mean of the top_k point scores.
        seed: seed of the coreset's random projection.
        device: "auto", "cpu" or "cuda".
    """

    name = "patchcore-ms"

    def __init__(self, normal_k: int = 10, fpfh_ks=(40, 80, 120), n_groups: int = 1024,
                 group_size: int = 64, coreset_ratio: float = 0.05, max_bank: int = 50_000,
                 top_k: int = 80, seed: int = 0, device: str = "auto"):
        self.normal_k = check_number(normal_k, "normal_k", low=3, integer=True)
        self.fpfh_ks = check_sizes(fpfh_ks, "fpfh_ks", low=2)
        self.top_k = check_number(top_k, "top_k", low=1, integer=True)
        self._set_bank_params(n_groups, group_size, coreset_ratio, max_bank, seed, device)

    def _groups(self, cloud) -> Groups:
        pts = torch.as_tensor(cloud.points, dtype=torch.float64, device=self._device)
        feats = point_features(pts, self.normal_k, self.fpfh_ks, cloud.organized)
        centres, members = fps_groups(pts, self.n_groups, self.group_size)
        return Groups(pts, pts[centres], group_mean(feats, members), members)

    def _fit(self, clouds):
        self.memory_ = self._memory_bank().fit(torch.cat([self._groups(c).features
                                                          for c in clouds]))

    def _predict(self, cloud):
        g = self._groups(cloud)
        group_scores, _ = self.memory_.patch_scores(g.features)
        point_scores = interpolate_to_points(g.centres, group_scores.double(), g.points)
        k = min(self.top_k, point_scores.shape[0])
        score = torch.topk(point_scores, k).values.mean()
        return point_scores.cpu().numpy(), float(score)

    def _get_state(self):
        return self.memory_.get_state()

    def _set_state(self, arrays):
        self.memory_ = self._memory_bank().set_state(arrays, self._device)


def check_sizes(values, name: str, low: int) -> list:
    """A non-empty list or tuple of integers >= ``low``, as a list (JSON-friendly)."""
    if not isinstance(values, (list, tuple)) or not values:
        raise InputError(f"{name} must be a non-empty list of integers, got {values!r}")
    return [check_number(v, name, low=low, integer=True) for v in values]
