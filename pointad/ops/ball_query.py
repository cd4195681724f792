"""Radius neighbourhoods capped at ``max_nn`` points, nearest first (Open3D's hybrid search)."""
from __future__ import annotations

import torch

from pointad.errors import InputError
from pointad.ops._checks import as_cloud_pair, positive_float, positive_int
from pointad.ops.knn import search


def ball_query(query: torch.Tensor, points: torch.Tensor, radius: float, max_nn: int, *,
               chunk_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The up to ``max_nn`` nearest ``points`` strictly within ``radius`` of every query point.

    Same semantics as Open3D's ``search_hybrid_vector_3d`` (and its ``KDTreeSearchParamHybrid``):
    the nearest first, so a query with more than ``max_nn`` points in its ball keeps the
    ``max_nn`` nearest and the result is deterministic; a point exactly at ``radius`` is out.

    Args:
        query: (M, 3) or (B, M, 3) float32 or float64 tensor.
        points: (N, 3) or (B, N, 3), same batchedness, dtype and device as ``query``.
        radius: ball radius, > 0, in the unit of the coordinates.
        max_nn: most neighbours kept per query, > 0 (may exceed N).
        chunk_size: queries per brute-force block, as in :func:`pointad.ops.knn`.

    Returns:
        idx: (..., M, max_nn) int64 indices into ``points`` by increasing distance, padded with -1.
        counts: (..., M) int64 number of valid entries of each row.

    Not differentiable (indices only); gather coordinates with :func:`pointad.ops.gather_groups`.
    """
    q, p, batched = as_cloud_pair(query, points)
    radius = positive_float(radius, "radius")
    max_nn = positive_int(max_nn, "max_nn")
    k = min(max_nn, p.shape[1])
    if k == 0:
        raise InputError("points is empty: there is nothing to search")
    # One k-nearest search with k = max_nn, then the radius mask: no second search structure.
    # Telling the search the radius lets a query stop once its ball is known to be complete.
    with torch.no_grad():
        dists, idx = search(q.detach(), p.detach(), k, chunk_size=chunk_size, radius=radius)
    inside = dists < radius
    idx = idx.masked_fill(~inside, -1)
    counts = inside.sum(-1)
    if k < max_nn:
        idx = torch.nn.functional.pad(idx, (0, max_nn - k), value=-1)
    if not batched:
        idx, counts = idx[0], counts[0]
    return idx, counts
