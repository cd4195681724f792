"""Missing-data defects: a region of the cloud removed, and the rim a detector sees around it.

A removed point leaves nothing to score, so a hole's ground truth is the ring of kept points
around it (as in the ``hole`` defect kind, :mod:`pointad.synthesis.defects.hole`). Plain numpy.
"""
from __future__ import annotations

import numpy as np

from pointad.geometry.units import point_spacing
from pointad.ops import NeighbourIndex
from pointad.reductions import row_sq_norms
from pointad.synthesis.region import FACING_COS


def rim_labels(points: np.ndarray, normals: np.ndarray, removed: np.ndarray, width: float,
               facing: np.ndarray) -> np.ndarray:
    """(N,) bool: the kept points closer than ``width`` (length unit) to a removed point whose
    normal lies on the side of the unit vector ``facing`` (within 120 degrees; the far side of a
    thin wall is no rim). ``points``/``normals`` (N, 3), ``removed`` (N,) bool."""
    rim = np.zeros(len(points), dtype=bool)
    kept = np.flatnonzero(~removed)
    if not removed.any() or not len(kept):
        return rim
    dist = NeighbourIndex(points[removed]).query(points[kept], 1, radius=width)[0][:, 0]
    rim[kept[np.isfinite(dist) & (normals[kept] @ facing > FACING_COS)]] = True
    return rim


def carve_hole(points: np.ndarray, normals: np.ndarray, region: np.ndarray,
               center: int) -> tuple[np.ndarray, np.ndarray]:
    """Turn a defect region (e.g. a PNAS sample's ``labels``: a Perlin-shaped patch around the
    seed point ``center``) into missing data.

    Returns ``(keep (N,) bool, labels (N,) bool)``: the region's points are dropped (``keep``
    False); ``labels`` marks them and their rim, the kept points closer than
    ``max(r / 2, 1.5 s)`` to a dropped one (r: the region's radius around the seed, s: the
    point spacing). The defective cloud is ``points[keep]`` with ground truth ``labels[keep]``.
    """
    region = np.asarray(region, dtype=bool)
    if not region.any():
        return np.ones(len(points), dtype=bool), np.zeros(len(points), dtype=bool)
    radius = float(np.sqrt(row_sq_norms(points[region] - points[center]).max()))
    width = max(0.5 * radius, 1.5 * point_spacing(points))
    labels = region | rim_labels(points, normals, region, width, normals[center])
    return ~region, labels


__all__ = ["carve_hole", "rim_labels"]
