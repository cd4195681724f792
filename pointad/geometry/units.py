"""Object-relative length units: the sizes that make one parameter setting work across parts.

Both measures are invariant under rotation and translation and scale linearly with the cloud.
"""
from __future__ import annotations

import numpy as np

from pointad.reductions import column_mean, max_sq_distance

_SPACING_SAMPLE = 20_000


def object_diameter(points: np.ndarray) -> float:
    """Diameter of the smallest centroid-centred ball holding every point (same unit as points).

    ``points``: (N, 3). ``2 * max ||p - mean(p)||``; cheap, exact and rotation-invariant, unlike a
    bounding-box diagonal.
    """
    return float(2.0 * np.sqrt(max_sq_distance(points, column_mean(points))))


def point_spacing(points: np.ndarray, index=None) -> float:
    """Median distance from a point to its nearest neighbour (same unit as points).

    ``points``: (N, 3). Measured on an evenly strided subset of at most 20,000 query points against
    the whole cloud, so it is deterministic and O(N log N). ``index``: a
    :class:`pointad.ops.NeighbourIndex` of ``points`` when one exists.
    """
    stride = max(1, len(points) // _SPACING_SAMPLE)
    from pointad.ops import NeighbourIndex  # torch on first use: pointad.geometry stays light

    points = np.asarray(points, dtype=np.float64)
    index = NeighbourIndex(points) if index is None else index
    dist = index.query(points[::stride], 2)[0]
    positive = dist[:, 1][dist[:, 1] > 0]
    return float(np.median(positive)) if positive.size else 0.0


def isolated(points, k: int, *, limit: float | None = None, factor: float | None = None):
    """Boolean mask of stray points: those whose ``k``-th nearest other point is farther than
    ``limit`` (a length, unit of the points) or, without a limit, than ``factor`` times the
    median of that distance over the cloud (``torch.median``'s lower middle for a tensor).

    ``points``: (N, 3), a NumPy array or a torch tensor; the (N,) mask is of the same kind.
    ``k`` is clamped to N - 1; a cloud of one point has no stray point.
    """
    from pointad.ops import knn

    if (limit is None) == (factor is None):
        raise ValueError("isolated: give exactly one of limit and factor")
    k = min(int(k), len(points) - 1)
    if k < 1:
        return points[:, 0] != points[:, 0]  # all False, of the input's kind
    dist = knn(points, points, k + 1)[0][:, k]
    if limit is None:
        middle = dist.median() if hasattr(dist, "median") else np.median(dist)
        limit = factor * middle
    return dist > limit


def thin_to_spacing(points: np.ndarray, spacing: float, rng) -> np.ndarray:
    """Sorted indices of the points kept when (N, 3) ``points`` are thinned, at random, to a
    point spacing of at least about ``spacing`` (their unit) everywhere.

    A point is kept with probability ``min(1, (s / spacing)^2)``, ``s`` its local spacing
    (:func:`pointad.geometry.coverage.local_spacing`): a sampling's density goes as
    ``1 / spacing^2``, so a region denser than ``spacing`` is brought down to it and a sparser
    one keeps every point. The local spacing (from 8 neighbours) is a noisy estimate: a region
    already at ``spacing`` loses about 15 % of its points. ``rng``: a seed or a
    :class:`numpy.random.Generator`. Use: a scan seen at the density a model was trained at.
    """
    from pointad.geometry.coverage import local_spacing

    points = np.asarray(points, dtype=np.float64)
    if not spacing > 0:
        raise ValueError(f"thin_to_spacing: spacing must be > 0, got {spacing}")
    if len(points) < 2:
        return np.arange(len(points))
    keep = np.minimum(1.0, (local_spacing(points) / spacing) ** 2)
    return np.flatnonzero(np.random.default_rng(rng).random(len(points)) < keep)
