"""Normals for descriptors: kNN-PCA normals with a cheap, consistent orientation.

FPFH's angles change sign with the normals, so randomly signed PCA normals make the same surface
look different from scan to scan. Organized scans face the sensor at the origin; other clouds
face away from their centroid (right for convex-ish parts, and at least consistent).
"""
from __future__ import annotations

import torch

from pointad.ops import local_pca_normals, orient_towards


def oriented_normals(points: torch.Tensor, k: int, organized: bool) -> torch.Tensor:
    """(N, 3) unit normals of (N, 3) ``points`` from their ``k`` nearest neighbours."""
    normals = local_pca_normals(points, min(k, points.shape[0]))
    if organized:
        return orient_towards(normals, points, torch.zeros(3, dtype=points.dtype,
                                                           device=points.device))
    return -orient_towards(normals, points, points.mean(dim=0))
