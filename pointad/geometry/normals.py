"""Normal estimation (kNN PCA) and orientation (toward a viewpoint, or outward and consistent).

Normals are unit (N, 3) float64 arrays. Orientation matters for synthesis: a "bump" moves points
along the normal, so a flipped normal turns a bump into a dent.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

from pointad.errors import InputError
from pointad.validation import check_choice, check_not_degenerate, check_number

ORIENTATIONS = ("auto", "viewpoint", "outward", "none")
_CHUNK = 200_000
_ORIENT_K = 8  # neighbours per point in the orientation graph


def estimate_normals(points: np.ndarray, k: int = 30, orient: str = "auto", viewpoint=None,
                     organized: bool = False, radius: float | None = None) -> np.ndarray:
    """Unit normals of (N, 3) points by PCA of each point's ``k`` nearest neighbours (itself included).

    radius: when given (length unit of the points), only neighbours within it count, at most ``k``
    of them (the hybrid search of Open3D); a point with fewer than 3 inside falls back to its
    ``k`` nearest.

    orient: ``"viewpoint"`` flips each normal toward ``viewpoint`` (default the origin, i.e. the
    sensor of a single-view scan in camera coordinates); ``"outward"`` makes normals consistent
    across the surface (propagated along a minimum spanning tree of the kNN graph) and points each
    connected part outward from its centroid, for closed objects; ``"auto"`` is ``"viewpoint"`` for
    organized (single-view) clouds and ``"outward"`` otherwise; ``"none"`` leaves PCA's signs.
    Raises :class:`InputError` for fewer than ``k`` points or a degenerate (collinear) cloud.
    """
    check_number(k, "normal neighbourhood size k", low=3, integer=True)
    check_choice(orient, "orient", ORIENTATIONS)
    if radius is not None:
        check_number(radius, "normal radius", low=0, low_open=True)
    if len(points) < k:
        raise InputError(f"points has {len(points)} points, fewer than the normal neighbourhood "
                         f"size k={k}")
    check_not_degenerate(points)
    tree = cKDTree(points)
    normals = np.empty_like(points)
    keep = min(_ORIENT_K + 1, k)
    neighbours = np.empty((len(points), keep), dtype=np.int64)
    for start in range(0, len(points), _CHUNK):
        block = points[start:start + _CHUNK]
        _, idx = tree.query(block, k=k, workers=-1)
        neighbours[start:start + _CHUNK] = idx[:, :keep]
        if radius is not None:
            _, near = tree.query(block, k=k, distance_upper_bound=radius, workers=-1)
            enough = (near < len(points)).sum(axis=1) >= 3
            idx[enough] = near[enough]  # beyond-radius slots hold len(points) and are skipped
        cov = _neighbourhood_covariances(points, idx)
        _, vecs = np.linalg.eigh(cov)
        normals[start:start + _CHUNK] = vecs[:, :, 0]          # smallest-variance direction
    if orient == "auto":
        orient = "viewpoint" if organized else "outward"
    return orient_normals(points, normals, orient, viewpoint=viewpoint,
                          neighbours=neighbours[:, 1:])


@njit(parallel=True, cache=True)
def _neighbourhood_covariances(points, idx):
    """(B, 3, 3) scatter matrices of the neighbourhoods ``points[idx[b]]`` (idx (B, k)).

    Indices >= len(points) (missing neighbours of a radius search) are skipped. A fused loop: the
    numpy version materializes a (B, k, 3) gather and is ~10x slower.
    """
    out = np.empty((idx.shape[0], 3, 3))
    n = points.shape[0]
    for b in prange(idx.shape[0]):
        mean = np.zeros(3)
        count = 0
        for q in range(idx.shape[1]):
            if idx[b, q] < n:
                count += 1
                for a in range(3):
                    mean[a] += points[idx[b, q], a]
        mean /= count
        acc = np.zeros((3, 3))
        for q in range(idx.shape[1]):
            if idx[b, q] >= n:
                continue
            p = points[idx[b, q]] - mean
            for a in range(3):
                for c in range(a, 3):
                    acc[a, c] += p[a] * p[c]
        for a in range(3):
            for c in range(a, 3):
                out[b, a, c] = acc[a, c]
                out[b, c, a] = acc[a, c]
    return out


def orient_normals(points, normals, orient: str = "outward", viewpoint=None,
                   neighbours: np.ndarray | None = None) -> np.ndarray:
    """Return ``normals`` (N, 3) with signs chosen by ``orient`` (see :func:`estimate_normals`).

    ``neighbours`` (N, m) indices of each point's nearest other points, for ``outward``
    (computed when not given).
    """
    check_choice(orient, "orient", ORIENTATIONS[1:])
    normals = np.array(normals, dtype=np.float64)
    if orient == "none":
        return normals
    if orient == "viewpoint":
        vp = np.zeros(3) if viewpoint is None else np.asarray(viewpoint, dtype=np.float64)
        flip = ((vp - points) * normals).sum(axis=1) < 0
        normals[flip] *= -1
        return normals
    if neighbours is None:
        k = min(_ORIENT_K, len(points) - 1)
        neighbours = cKDTree(points).query(points, k=k + 1, workers=-1)[1][:, 1:]
    return _orient_outward(points, normals, neighbours)


@njit(cache=True)
def _propagate_signs(order, pred, normals, signs):
    # BFS order visits every parent before its children.
    for node in order:
        parent = pred[node]
        if parent < 0 or parent >= len(normals):
            continue
        dot = (normals[node, 0] * normals[parent, 0] + normals[node, 1] * normals[parent, 1]
               + normals[node, 2] * normals[parent, 2])
        signs[node] = signs[parent] if dot >= 0 else -signs[parent]


def _orient_outward(points, normals, neighbours):
    n = len(points)
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    cols = neighbours.ravel()
    # Edges between near-parallel normals are cheap, so the tree avoids propagating across creases.
    weight = 1.0 - np.abs((normals[rows] * normals[cols]).sum(axis=1)) + 1e-6
    graph = coo_matrix((weight, (rows, cols)), shape=(n, n)).tocsr()
    n_parts, part = connected_components(graph, directed=False)
    # A virtual root joined to one node of every part lets one BFS cover the whole forest.
    firsts = np.unique(part, return_index=True)[1]
    mst = minimum_spanning_tree(graph).tocoo()
    forest = coo_matrix((np.concatenate([mst.data, np.ones(n_parts)]),
                         (np.concatenate([mst.row, np.full(n_parts, n)]),
                          np.concatenate([mst.col, firsts]))), shape=(n + 1, n + 1)).tocsr()
    order, pred = breadth_first_order(forest, n, directed=False, return_predecessors=True)
    signs = np.ones(n + 1)
    _propagate_signs(order, pred, normals, signs)
    normals = normals * signs[:n, None]
    # Each connected part faces outward on the whole: the normals agree with centroid rays.
    outward = ((points - points.mean(axis=0)) * normals).sum(axis=1)
    votes = np.bincount(part, weights=outward, minlength=n_parts)
    normals[votes[part] < 0] *= -1
    return normals
