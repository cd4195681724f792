"""Local frames of a point cloud: kNN-PCA normals and surface variation, and their orientation.

The one place pointad computes normals (synthesis, features, renders and detectors all call
:func:`local_frames` or :func:`estimate_normals`). Normals are unit (N, 3) float64 arrays.
Orientation matters: a "bump" moves points along the normal and FPFH's angles change sign with
it, so every caller gets the same orientation for the same cloud. The orientation names are
Open3D's: ``"camera_location"`` (``orient_normals_towards_camera_location``) and
``"consistent_tangent_plane"`` (``orient_normals_consistent_tangent_plane``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from pointad.errors import InputError
from pointad.jit import njit, prange
from pointad.validation import check_choice, check_not_degenerate, check_number

ORIENTATIONS = ("auto", "camera_location", "consistent_tangent_plane", "none")
_ORIENT_K = 8  # neighbours per point in the orientation graph
_BLOCK = 1 << 20  # points per block of the per-point arithmetic (bounds the temporaries)


class LocalFrames(NamedTuple):
    """``normals`` (N, 3) unit float64 and ``curvature`` (N,) surface variation in [0, 1/3]."""

    normals: np.ndarray
    curvature: np.ndarray


def local_frames(points: np.ndarray, k: int = 30, *, orient: str = "auto",
                 camera_location=None, organized: bool = False,
                 radius: float | None = None,
                 progress: Callable[[int, int], None] | None = None) -> LocalFrames:
    """Oriented normals and surface variation of (N, 3) points (kNN PCA,
    :func:`pointad.ops.local_pca`; on CPU in one fused pass, :func:`pointad.ops.knn_frames`).

    k: neighbourhood size, the point itself included. radius: when given (length unit of the
    points), only neighbours within it count, at most ``k`` of them (Open3D's hybrid search); a
    point with fewer than 3 inside falls back to its ``k`` nearest.

    orient: ``"camera_location"`` flips each normal toward ``camera_location`` (default the
    origin, i.e. the sensor of a single-view scan in camera coordinates);
    ``"consistent_tangent_plane"`` makes normals consistent across the surface (signs propagated
    along a minimum spanning tree of the kNN graph, as Open3D does) and then turns each connected
    part to face away from its centroid, for closed objects; ``"auto"`` is ``"camera_location"``
    for organized (single-view) clouds and ``"consistent_tangent_plane"`` otherwise; ``"none"``
    leaves PCA's signs. Raises :class:`InputError` for fewer than ``k`` points or a degenerate
    (collinear) cloud.

    progress: optional ``progress(done, total)``, called as the work advances (for a progress
    bar on large clouds; the units are arbitrary, ``done`` reaches ``total`` at the end).
    """
    check_number(k, "normal neighbourhood size k", low=3, integer=True)
    check_choice(orient, "orient", ORIENTATIONS)
    if radius is not None:
        check_number(radius, "normal radius", low=0, low_open=True)
    points = np.asarray(points, dtype=np.float64)
    if len(points) < k:
        raise InputError(f"points has {len(points)} points, fewer than the normal neighbourhood "
                         f"size k={k}")
    check_not_degenerate(points)
    from pointad.ops import knn_frames  # on first use: importing pointad.geometry stays light

    if orient == "auto":
        orient = "camera_location" if organized else "consistent_tangent_plane"
    n = len(points)
    # Consistent orientation walks the graph of each point's nearest others: the PCA pass
    # hands it over, so the neighbours are searched once.
    graph_k = min(_ORIENT_K, n - 1) if orient == "consistent_tangent_plane" else 0
    total = 2 * n if graph_k else n

    def pca_progress(done: int, _: int) -> None:
        if progress is not None:
            progress(done, total)

    frames = knn_frames(points, k, radius=radius, neighbours=graph_k, progress=pca_progress)
    normals = _orient(points, frames.normals, orient, camera_location, frames.neighbours,
                      None if progress is None else lambda part: progress(n + int(part * n),
                                                                          total))
    return LocalFrames(normals, frames.curvature)


def estimate_normals(points: np.ndarray, k: int = 30, *, orient: str = "auto",
                     camera_location=None, organized: bool = False,
                     radius: float | None = None,
                     progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The (N, 3) unit normals of :func:`local_frames` (same arguments)."""
    return local_frames(points, k, orient=orient, camera_location=camera_location,
                        organized=organized, radius=radius, progress=progress).normals


def orient_normals(points, normals, orient: str = "consistent_tangent_plane",
                   camera_location=None) -> np.ndarray:
    """Return ``normals`` (N, 3) with signs chosen by ``orient`` (see :func:`local_frames`)."""
    check_choice(orient, "orient", ORIENTATIONS[1:])
    return _orient(np.asarray(points, dtype=np.float64), np.array(normals, dtype=np.float64),
                   orient, camera_location)


def _orient(points: np.ndarray, normals: np.ndarray, orient: str, camera_location,
            neighbours: np.ndarray | None = None,
            progress: Callable[[float], None] | None = None) -> np.ndarray:
    """:func:`orient_normals` on float64 arrays, changing ``normals`` in place; ``neighbours``:
    the (N, m) nearest others of each point when already known; ``progress(fraction)``."""
    if orient == "none":
        return normals
    if orient == "camera_location":
        vp = np.zeros(3) if camera_location is None else np.asarray(camera_location,
                                                                    dtype=np.float64)
        if vp.shape != (3,) or not np.isfinite(vp).all():
            raise InputError(f"camera_location must be 3 finite numbers, got {camera_location!r}")
        for start in range(0, len(points), _BLOCK):   # in blocks: no (N, 3) temporaries
            part = slice(start, start + _BLOCK)
            flip = ((vp - points[part]) * normals[part]).sum(axis=1) < 0
            normals[part][flip] *= -1
        return normals
    if neighbours is None:
        from pointad.ops.grid import grid_knn
        k = min(_ORIENT_K, len(points) - 1)
        neighbours = _others(grid_knn(points, points, k + 1)[1])
    return _orient_outward(points, normals, neighbours, progress)


def _others(idx: np.ndarray) -> np.ndarray:
    """(N, m) of (N, m + 1) neighbour lists ``idx`` (nearest first): each row without the point
    itself (without its last entry when the point is not in it: duplicates)."""
    own = idx == np.arange(len(idx))[:, None]
    keep = ~own
    keep[~own.any(axis=1), -1] = False
    return idx[keep].reshape(len(idx), idx.shape[1] - 1)


def _orient_outward(points: np.ndarray, normals: np.ndarray, neighbours: np.ndarray,
                    progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Consistent signs (Open3D's ``orient_normals_consistent_tangent_plane``): propagated along
    a minimum spanning forest of the kNN graph ``neighbours`` (N, m), then each connected part
    turned to face away from the centroid. Changes and returns ``normals``."""
    n, m = neighbours.shape
    # Edges between near-parallel normals are cheap, so the tree avoids propagating across creases.
    weight = _edge_weights(normals, neighbours)
    if progress is not None:
        progress(0.2)
    # Kruskal's order; a stable sort breaks ties between equal weights the same way everywhere.
    order = np.argsort(weight, kind="stable")
    del weight
    if progress is not None:
        progress(0.6)
    signs, part, n_parts = _spanning_forest_signs(order, neighbours, normals)
    del order
    if progress is not None:
        progress(0.9)
    normals *= signs[:, None]
    # Each connected part faces outward on the whole: the normals agree with centroid rays.
    centre = points.mean(axis=0)
    outward = np.empty(n)
    for start in range(0, n, _BLOCK):   # in blocks: no (N, 3) temporaries
        stop = start + _BLOCK
        outward[start:stop] = ((points[start:stop] - centre) * normals[start:stop]).sum(axis=1)
    votes = np.bincount(part, weights=outward, minlength=n_parts)
    normals[votes[part] < 0] *= -1
    if progress is not None:
        progress(1.0)
    return normals


@njit(parallel=True, cache=True)
def _edge_weights(normals, neighbours):
    """(N * m,) weights ``1 - |n_i . n_j| + 1e-6`` of the edges i -> neighbours[i, s]."""
    n, m = neighbours.shape
    out = np.empty(n * m)
    for i in prange(n):
        for s in range(m):
            j = neighbours[i, s]
            dot = (normals[i, 0] * normals[j, 0] + normals[i, 1] * normals[j, 1]
                   + normals[i, 2] * normals[j, 2])
            out[i * m + s] = 1.0 - abs(dot) + 1e-6
    return out


@njit(cache=True)
def _root(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]   # path halving
        i = parent[i]
    return i


@njit(cache=True)
def _spanning_forest_signs(order, neighbours, normals):
    """Kruskal's minimum spanning forest of the graph i -- neighbours[i, s] taking the edges
    (flat index i * m + s) in ``order``; then each tree walked breadth first from its lowest
    point, a child's sign following its parent's (flipped when their normals disagree).
    Returns the (N,) signs, the (N,) part of each point (trees numbered from their lowest point)
    and the number of parts."""
    n, m = neighbours.shape
    index = neighbours.dtype   # int32 below 2**31 points: half the memory of int64
    parent = np.empty(n, dtype=index)
    for i in range(n):
        parent[i] = i
    size = np.ones(n, dtype=index)
    tree_u = np.empty(max(n - 1, 0), dtype=index)
    tree_v = np.empty(max(n - 1, 0), dtype=index)
    n_edges = 0
    for e in order:
        if n_edges == n - 1:
            break
        i = e // m
        j = neighbours[i, e % m]
        ri, rj = _root(parent, i), _root(parent, j)
        if ri == rj:
            continue
        if size[ri] < size[rj]:
            ri, rj = rj, ri
        parent[rj] = ri
        size[ri] += size[rj]
        tree_u[n_edges] = i
        tree_v[n_edges] = j
        n_edges += 1
    # The forest as adjacency lists.
    start = np.zeros(n + 1, dtype=np.int64)
    for t in range(n_edges):
        start[tree_u[t] + 1] += 1
        start[tree_v[t] + 1] += 1
    for i in range(n):
        start[i + 1] += start[i]
    fill = start[:-1].copy()
    adjacent = np.empty(2 * n_edges, dtype=index)
    for t in range(n_edges):
        adjacent[fill[tree_u[t]]] = tree_v[t]
        fill[tree_u[t]] += 1
        adjacent[fill[tree_v[t]]] = tree_u[t]
        fill[tree_v[t]] += 1
    signs = np.ones(n)
    part = np.full(n, -1, dtype=index)
    queue = np.empty(n, dtype=index)
    n_parts = 0
    for root in range(n):
        if part[root] >= 0:
            continue
        part[root] = n_parts
        head, tail = 0, 1
        queue[0] = root
        while head < tail:
            node = queue[head]
            head += 1
            for t in range(start[node], start[node + 1]):
                child = adjacent[t]
                if part[child] >= 0:
                    continue
                part[child] = n_parts
                dot = (normals[child, 0] * normals[node, 0] + normals[child, 1] * normals[node, 1]
                       + normals[child, 2] * normals[node, 2])
                signs[child] = signs[node] if dot >= 0 else -signs[node]
                queue[tail] = child
                tail += 1
        n_parts += 1
    return signs, part, n_parts
