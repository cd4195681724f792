"""Normals and surface variation of every point's k nearest neighbours, fused on CPU.

:func:`knn_frames` is the CPU side of :func:`pointad.ops.local_pca` (and what
:func:`pointad.geometry.local_frames` calls): one numba pass per block of grid cells finds each
point's neighbours (:mod:`pointad.ops.grid`), builds the 3x3 scatter matrix of the neighbourhood
and diagonalizes it (cyclic Jacobi), so no (N, k) neighbour array is ever held. It can also
hand back the few nearest others of every point, the graph that consistent orientation
propagates along. numpy in, numpy out; no torch (``pnas generate`` estimating normals never
loads it).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from pointad.errors import InputError
from pointad.jit import njit, prange
from pointad.ops.grid import MAX_RING, build_grid, kdtree_knn, search_group
from pointad.validation import check_number

_FRAME_BLOCK = 131_072  # points per fused pass (between two progress reports)

#: ``progress(done, total)``: called as the work on a cloud advances (units of points).
Progress = Callable[[int, int], None]


class KnnFrames(NamedTuple):
    """What :func:`knn_frames` returns."""

    normals: np.ndarray            # (N, 3) unit float64, unoriented
    curvature: np.ndarray          # (N,) surface variation in [0, 1/3]
    neighbours: np.ndarray | None  # (N, m) integer indices of the m nearest other points


def knn_frames(points: np.ndarray, k: int = 30, *, radius: float | None = None,
               neighbours: int = 0, progress: Progress | None = None) -> KnnFrames:
    """:func:`local_pca` of (N, 3) numpy ``points`` on CPU (same neighbourhoods, normals and
    surface variation, float64), plus, with ``neighbours`` = m > 0, the indices (N, m) of every
    point's m nearest other points (nearest first; int32 below 2**31 points).

    ``progress(done, total)`` is called after each block of points. The arguments are checked
    as in :func:`local_pca`.
    """
    pts = np.ascontiguousarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"points must have shape (N, 3), got {pts.shape}")
    if not np.isfinite(pts).all():
        raise InputError("points contains non-finite (NaN/inf) coordinates")
    n = len(pts)
    k = check_number(k, "k", integer=True)
    if k < 3:
        raise InputError(f"k must be >= 3 to span a plane, got {k}")
    if k > n:
        raise InputError(f"k={k} exceeds the number of points ({n})")
    radius2 = 0.0 if radius is None else \
        float(check_number(radius, "radius", low=0, low_open=True)) ** 2
    m = int(neighbours)
    if not 0 <= m < n:
        raise InputError(f"neighbours must be in [0, {n - 1}], got {neighbours}")
    kk = min(max(k, m + 1), n)
    normals = np.empty((n, 3))
    curvature = np.empty(n)
    graph = np.empty((n, m), dtype=np.int32 if n < 2**31 else np.int64)
    unresolved = np.zeros(n, dtype=np.bool_)
    grid = build_grid(pts, kk)
    if grid is None:
        unresolved[:] = True
    else:
        # Blocks of whole cells, about _FRAME_BLOCK points each.
        cuts = np.unique(np.r_[np.searchsorted(grid.starts, np.arange(0, n, _FRAME_BLOCK)),
                               len(grid.keys)])
        for g0, g1 in zip(cuts[:-1], cuts[1:]):
            _frames_kernel(grid.points, grid.keys, grid.starts, grid.coords, grid.dims,
                           grid.origin, grid.cell, grid.order, g0, g1, kk, k, radius2,
                           MAX_RING, normals, curvature, graph, unresolved)
            if progress is not None:
                progress(int(grid.starts[g1]), n)
        del grid
    rest = np.flatnonzero(unresolved)
    if len(rest):  # the grid's open queries, or no grid: SciPy's k-d tree finds the neighbours
        for start in range(0, len(rest), _FRAME_BLOCK):
            part = rest[start:start + _FRAME_BLOCK]
            d, idx = kdtree_knn(pts, pts[part], kk)
            _frames_of_lists(pts, part, d * d, idx, k, radius2, normals, curvature, graph)
            if progress is not None:
                progress(n - len(rest) + start + len(part), n)
    return KnnFrames(normals, curvature, graph if m else None)


@njit(cache=True)
def _jacobi3(a: np.ndarray, v: np.ndarray) -> None:
    """Diagonalize the symmetric (3, 3) ``a`` in place by cyclic Jacobi rotations (eigenvalues on
    its diagonal) and set ``v`` to the eigenvectors (columns). Accurate to rounding."""
    v[:] = 0.0
    v[0, 0] = v[1, 1] = v[2, 2] = 1.0
    for sweep in range(50):
        if a[0, 1] == 0.0 and a[0, 2] == 0.0 and a[1, 2] == 0.0:
            return
        for p, q, r in ((0, 1, 2), (0, 2, 1), (1, 2, 0)):
            apq = a[p, q]
            if apq == 0.0:
                continue
            app, aqq = a[p, p], a[q, q]
            g = 100.0 * abs(apq)
            if sweep > 3 and abs(app) + g == abs(app) and abs(aqq) + g == abs(aqq):
                a[p, q] = a[q, p] = 0.0   # below rounding of both diagonal entries
                continue
            h = aqq - app
            if abs(h) + g == abs(h):
                t = apq / h
            else:
                theta = 0.5 * h / apq
                t = 1.0 / (abs(theta) + np.sqrt(1.0 + theta * theta))
                if theta < 0.0:
                    t = -t
            c = 1.0 / np.sqrt(1.0 + t * t)
            s = t * c
            tau = s / (1.0 + c)
            a[p, p] = app - t * apq
            a[q, q] = aqq + t * apq
            a[p, q] = a[q, p] = 0.0
            arp, arq = a[r, p], a[r, q]
            a[r, p] = a[p, r] = arp - s * (arq + arp * tau)
            a[r, q] = a[q, r] = arq + s * (arp - arq * tau)
            for i in range(3):
                vip, viq = v[i, p], v[i, q]
                v[i, p] = vip - s * (viq + vip * tau)
                v[i, q] = viq + s * (vip - viq * tau)


@njit(cache=True)
def _frame(points: np.ndarray, nbr: np.ndarray, nbr_d2: np.ndarray, k: int, radius2: float,
           a: np.ndarray, v: np.ndarray, normal: np.ndarray) -> float:
    """Normal (into ``normal``) and surface variation (returned) of the neighbourhood ``nbr``
    (indices into ``points``, ascending distance ``nbr_d2``): its first ``k``, or with
    ``radius2`` > 0 those of them closer than the radius when there are at least 3."""
    count = k
    if radius2 > 0.0:
        inside = 0
        for t in range(k):
            if nbr_d2[t] < radius2:
                inside += 1
        if inside >= 3:
            count = inside
    mx = my = mz = 0.0
    for t in range(count):
        mx += points[nbr[t], 0]
        my += points[nbr[t], 1]
        mz += points[nbr[t], 2]
    mx /= count
    my /= count
    mz /= count
    a[:] = 0.0
    for t in range(count):
        x = points[nbr[t], 0] - mx
        y = points[nbr[t], 1] - my
        z = points[nbr[t], 2] - mz
        a[0, 0] += x * x
        a[0, 1] += x * y
        a[0, 2] += x * z
        a[1, 1] += y * y
        a[1, 2] += y * z
        a[2, 2] += z * z
    a[1, 0] = a[0, 1]
    a[2, 0] = a[0, 2]
    a[2, 1] = a[1, 2]
    _jacobi3(a, v)
    low = 0
    for i in range(1, 3):
        if a[i, i] < a[low, low]:
            low = i
    for i in range(3):
        normal[i] = v[i, low]
    total = max(a[0, 0], 0.0) + max(a[1, 1], 0.0) + max(a[2, 2], 0.0)
    return max(a[low, low], 0.0) / total if total > 0.0 else 0.0


@njit(parallel=True, cache=True)
def _frames_kernel(points: np.ndarray, keys: np.ndarray, starts: np.ndarray, coords: np.ndarray,
                   dims: np.ndarray, origin: np.ndarray, cell: float, order: np.ndarray,
                   g0: int, g1: int, kk: int, k: int, radius2: float, max_ring: int,
                   normals: np.ndarray, curvature: np.ndarray, graph: np.ndarray,
                   unresolved: np.ndarray) -> None:
    """Frames of the points of grid cells g0..g1 (the queries are the sorted grid points
    themselves); results at the points' original rows; the m = graph.shape[1] nearest others
    into ``graph``; ``unresolved`` marks the points the grid search left open."""
    m = graph.shape[1]
    for g in prange(g0, g1):
        a, b = starts[g], starts[g + 1]
        size = b - a
        best_d = np.empty((size, kk))
        best_i = np.empty((size, kk), dtype=np.int64)
        resolved = np.zeros(size, dtype=np.bool_)
        search_group(points, keys, starts, dims, origin, cell, points[a:b], coords[g, 0],
                     coords[g, 1], coords[g, 2], max_ring, best_d, best_i, resolved)
        mat = np.empty((3, 3))
        vec = np.empty((3, 3))
        normal = np.empty(3)
        for q in range(size):
            row = order[a + q]
            if not resolved[q]:
                unresolved[row] = True
                continue
            curvature[row] = _frame(points, best_i[q], best_d[q], k, radius2, mat, vec, normal)
            normals[row, 0] = normal[0]
            normals[row, 1] = normal[1]
            normals[row, 2] = normal[2]
            j = 0
            for t in range(kk):
                if j == m:
                    break
                if best_i[q, t] != a + q:
                    graph[row, j] = order[best_i[q, t]]
                    j += 1


@njit(parallel=True, cache=True)
def _frames_of_lists(points: np.ndarray, rows: np.ndarray, d2: np.ndarray, idx: np.ndarray,
                     k: int, radius2: float, normals: np.ndarray, curvature: np.ndarray,
                     graph: np.ndarray) -> None:
    """:func:`_frames_kernel` for the points ``rows`` whose ascending neighbour lists ``idx``
    (squared distances ``d2``) are given."""
    m = graph.shape[1]
    for i in prange(len(rows)):
        mat = np.empty((3, 3))
        vec = np.empty((3, 3))
        normal = np.empty(3)
        row = rows[i]
        curvature[row] = _frame(points, idx[i], d2[i], k, radius2, mat, vec, normal)
        normals[row, 0] = normal[0]
        normals[row, 1] = normal[1]
        normals[row, 2] = normal[2]
        j = 0
        for t in range(idx.shape[1]):
            if j == m:
                break
            if idx[i, t] != row:
                graph[row, j] = idx[i, t]
                j += 1
