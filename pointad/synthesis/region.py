"""Where a localized defect goes: the support around a seed point and its smooth falloff."""
from __future__ import annotations

import numpy as np

from pointad.errors import InputError
from pointad.reductions import row_sq_norms

SUPPORT_FACTOR = 2.0  # support holds this many times the target number of anomalous points
# Normals within 120 degrees of the seed's count as "same side": a defect may wrap over a 90-degree
# edge (chipped edges do), but never reaches the opposite face of a plate or the back of a part.
FACING_COS = -0.5


def smoothstep(x: np.ndarray) -> np.ndarray:
    """``3x^2 - 2x^3`` on x clipped to [0, 1]: 0 and 1 at the ends with zero slope there."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def defect_support(points: np.ndarray, normals: np.ndarray, center: int,
                   n_support: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Indices of the ``n_support`` points nearest the seed that face the seed's side, and radius.

    Points whose normal turns more than 120 degrees from the seed normal (the back of a thin plate,
    the far side of a closed object) are excluded, so a defect never leaks through the material.
    Returns ``(indices (M,), distances (M,), radius)`` with distances to the seed point.
    """
    facing = np.flatnonzero(normals @ normals[center] > FACING_COS)
    if len(facing) < n_support:
        raise InputError(
            f"fraction too large for this cloud: the defect needs {n_support} points on the seed's "
            f"side, only {len(facing)} face that way")
    offsets = points[facing] - points[center]
    dist = np.sqrt(row_sq_norms(offsets))
    if n_support < len(facing):
        keep = np.argpartition(dist, n_support - 1)[:n_support]
        facing, dist = facing[keep], dist[keep]
    return facing, dist, float(dist.max())


def falloff_weight(dist: np.ndarray, radius: float, falloff: float) -> np.ndarray:
    """1 inside ``(1 - falloff) * radius``, smoothly down to 0 at ``radius``."""
    if radius <= 0:
        return np.ones_like(dist)
    return smoothstep((radius - dist) / (falloff * radius))


def soft_mask(potential: np.ndarray, n_labelled: int) -> np.ndarray:
    """Map a defect potential in [0, 1] to soft labels so the ``n_labelled`` largest reach >= 0.5.

    Piecewise-linear then smoothstep: 0 -> 0, the n-th largest value t -> 0.5, max -> 1. So the
    displacement is zero where the potential is, full at the peak, and exactly ``n_labelled``
    points (ties aside) are displaced by at least half the strength.
    """
    pmax = float(potential.max()) if potential.size else 0.0
    if pmax <= 0:
        return np.zeros_like(potential)
    p = potential / pmax
    n = min(max(n_labelled, 1), len(p))
    t = float(np.partition(p, len(p) - n)[len(p) - n])
    t = min(max(t, 1e-12), 1.0)
    below = p / (2.0 * t)
    above = 0.5 + (p - t) / (2.0 * (1.0 - t)) if t < 1.0 else np.ones_like(p)
    return smoothstep(np.where(p < t, below, above))
