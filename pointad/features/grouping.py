"""Local aggregation of per-point features and the way back to points.

Groups are the ``group_size`` nearest points of farthest-point-sampled centres; a group's feature
is the mean of its points' features; group scores return to every point by inverse-distance
weighting of its nearest centres (PointNet++'s feature propagation).
"""
from __future__ import annotations

import torch

from pointad.ops import farthest_point_sampling, knn


def fps_groups(points: torch.Tensor, n_groups: int, group_size: int):
    """Centre indices (G,) by FPS from index 0 and the (G, K) indices of each centre's group."""
    n_groups = min(n_groups, points.shape[0])
    centres = farthest_point_sampling(points, n_groups)
    _, groups = knn(points[centres], points, min(group_size, points.shape[0]))
    return centres, groups


def group_mean(features: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """(G, D) mean of (N, D) ``features`` over each group of (G, K) indices."""
    return features[groups].mean(dim=1)


def interpolate_to_points(centres: torch.Tensor, values: torch.Tensor, points: torch.Tensor,
                          k: int = 3) -> torch.Tensor:
    """(N,) values at ``points`` from (G,) ``values`` at (G, 3) ``centres``: inverse-distance
    weights of the ``k`` nearest centres (a point on a centre takes its value)."""
    k = min(k, centres.shape[0])
    dist, idx = knn(points, centres, k)
    weight = 1.0 / dist.clamp(min=1e-12)
    return (weight * values[idx]).sum(dim=1) / weight.sum(dim=1)
