"""Exact k-nearest-neighbour search of 3D points on a uniform cell grid (CPU, numba, all cores).

The backend of :func:`pointad.ops.knn` with ``method="grid"`` and of the fused normal estimation
(:func:`pointad.ops.knn_frames`). The points are sorted into cubic cells sized so that a cell
holds about half a neighbourhood; each occupied cell's queries scan the cells around it ring by
ring (Chebyshev rings) until the k-th distance found is shorter than the distance to any cell not
yet scanned, so the result is exact. A query still open after :data:`MAX_RING` rings (a far
outlier) is reported unresolved and the caller answers it with SciPy's k-d tree. Clouds whose
points pile up in a few cells (many duplicates) get no grid (:func:`build_grid` returns None)
and go to the k-d tree entirely.

Neighbours at equal distance come in a deterministic order (the grid's scan order), so the same
cloud always gives the same neighbours.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pointad.jit import njit, prange

MAX_RING = 6           # rings scanned around a query's cell before the k-d tree takes over
_OCCUPANCY = 0.5       # target points per cell (point-weighted mean), as a fraction of k
_MAX_OCCUPANCY = 24.0  # above this many times the target the grid is slower than a k-d tree
_SAMPLE = 65_536       # points used to choose the cell size
_MAX_CELLS = 2**20     # cells per axis at most (the cell key stays an int64)
_KEY_BLOCK = 1 << 20   # points per block of the key computation (bounds its temporaries)


class CellGrid(NamedTuple):
    """(N, 3) points sorted into occupied cells of side ``cell`` starting at ``origin``."""

    origin: np.ndarray   # (3,) float64, the low corner of cell (0, 0, 0)
    cell: float          # side length of a cell
    dims: np.ndarray     # (3,) int64 cells along each axis
    order: np.ndarray    # (N,) int64: sorted point j is points[order[j]]
    points: np.ndarray   # (N, 3) float64 points[order], cell by cell
    keys: np.ndarray     # (M,) int64 ascending keys of the occupied cells
    starts: np.ndarray   # (M + 1,) int64: occupied cell j holds sorted points starts[j]:starts[j+1]
    coords: np.ndarray   # (M, 3) int64 cell coordinates of the occupied cells


def _cell_keys(points: np.ndarray, origin: np.ndarray, cell: float,
               dims: np.ndarray) -> np.ndarray:
    """(N,) int64 keys of the cells holding ``points`` (clamped to the grid)."""
    keys = np.empty(len(points), dtype=np.int64)
    for start in range(0, len(points), _KEY_BLOCK):
        coords = np.floor((points[start:start + _KEY_BLOCK] - origin) / cell).astype(np.int64)
        np.clip(coords, 0, dims - 1, out=coords)
        keys[start:start + _KEY_BLOCK] = (coords[:, 0] * dims[1] + coords[:, 1]) * dims[2] \
            + coords[:, 2]
    return keys


def _key_coords(keys: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """(M, 3) int64 cell coordinates of cell ``keys``."""
    return np.stack([keys // (dims[1] * dims[2]), keys // dims[2] % dims[1], keys % dims[2]],
                    axis=1)


def _occupancy(sample: np.ndarray, origin: np.ndarray, cell: float, fraction: float) -> float:
    """Estimated point-weighted mean cell count of the whole cloud from a ``fraction`` of it."""
    dims = np.floor((sample.max(0) - origin) / cell).astype(np.int64) + 1
    keys = _cell_keys(sample, origin, cell, dims)
    counts = np.unique(keys, return_counts=True)[1].astype(np.float64)
    m = len(sample)
    # E[sum c^2] = f (1 - f) sum C + f^2 sum C^2 for counts c drawn from full counts C, and
    # the whole cloud has n = m / f points: its mean count is sum C^2 / n.
    return max((float(counts @ counts) - (1.0 - fraction) * m) / (fraction * m), 1e-3)


def build_grid(points: np.ndarray, k: int) -> CellGrid | None:
    """The grid of (N, 3) float64 ``points`` for ``k``-neighbour queries, or None when the points
    crowd into too few cells (duplicates, tight clusters) for a grid to beat a k-d tree."""
    n = len(points)
    lo, hi = points.min(0), points.max(0)
    extent = hi - lo
    widest = float(extent.max())
    if not np.isfinite(widest) or widest <= 0:
        return None
    target = max(1.0, _OCCUPANCY * k)
    smallest = widest / _MAX_CELLS
    # First guess: the points fill their bounding box; then scale by the measured occupancy
    # (its square root: exact for a surface, convergent for a curve or a volume).
    spans = np.maximum(extent, widest * 1e-6)
    cell = max(float(np.prod(spans) * target / n) ** (1.0 / 3.0), smallest)
    sample = points[::max(1, n // _SAMPLE)]
    fraction = len(sample) / n
    for _ in range(8):
        occupancy = _occupancy(sample, lo, cell, fraction)
        if target / 1.5 <= occupancy <= target * 1.5:
            break
        cell = max(cell * (target / occupancy) ** 0.5, smallest)
    dims = np.floor(extent / cell).astype(np.int64) + 1
    keys = _cell_keys(points, lo, cell, dims)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    first = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.concatenate([[0], first, [n]]).astype(np.int64)
    keys = keys[starts[:-1]]
    counts = np.diff(starts).astype(np.float64)
    if float(counts @ counts) / n > _MAX_OCCUPANCY * target:
        return None
    return CellGrid(lo.astype(np.float64), float(cell), dims, order,
                    np.ascontiguousarray(points[order], dtype=np.float64), keys, starts,
                    _key_coords(keys, dims))


def query_cells(grid: CellGrid, query: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group (Q, 3) ``query`` points by the grid cell they fall in (clamped to the grid):
    ``(order, starts, coords)`` with queries ``order[starts[g]:starts[g + 1]]`` in cell
    ``coords[g]``."""
    keys = _cell_keys(query, grid.origin, grid.cell, grid.dims)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    first = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.concatenate([[0], first, [len(query)]]).astype(np.int64)
    return order, starts, _key_coords(keys[starts[:-1]], grid.dims)


@njit(cache=True, inline="always")
def _insert(row_d: np.ndarray, row_i: np.ndarray, d2: float, p: int) -> float:
    """Insert neighbour ``p`` at squared distance ``d2`` into the ascending top-k lists
    ``row_d``/``row_i`` (after any equal distance: the earlier scanned point wins a tie); return
    the new k-th distance."""
    pos = len(row_d) - 1
    while pos > 0 and row_d[pos - 1] > d2:
        row_d[pos] = row_d[pos - 1]
        row_i[pos] = row_i[pos - 1]
        pos -= 1
    row_d[pos] = d2
    row_i[pos] = p
    return row_d[len(row_d) - 1]


@njit(cache=True)
def _ring_cells(keys: np.ndarray, dims: np.ndarray, cx: int, cy: int, cz: int, r: int,
                cells: np.ndarray, corners: np.ndarray, origin: np.ndarray, cell: float,
                n_cells: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Append the occupied cells at Chebyshev distance ``r`` from cell (cx, cy, cz) (clipped to
    the grid) to ``cells`` (their index in ``keys``) and ``corners`` (their low corners), growing
    both when full; return them and the new count."""
    x0, x1 = max(cx - r, 0), min(cx + r, dims[0] - 1)
    y0, y1 = max(cy - r, 0), min(cy + r, dims[1] - 1)
    z0, z1 = max(cz - r, 0), min(cz + r, dims[2] - 1)
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            inner = abs(x - cx) < r and abs(y - cy) < r
            z = z0
            while z <= z1:
                if inner and abs(z - cz) < r:   # inside the ring: jump to its far face
                    z = cz + r
                    if z > z1:
                        break
                key = (x * dims[1] + y) * dims[2] + z
                j = np.searchsorted(keys, key)
                if j < len(keys) and keys[j] == key:
                    if n_cells == len(cells):
                        grown = np.empty(2 * len(cells), dtype=np.int64)
                        grown[:n_cells] = cells
                        cells = grown
                        grown_corners = np.empty((len(cells), 3))
                        grown_corners[:n_cells] = corners[:n_cells]
                        corners = grown_corners
                    cells[n_cells] = j
                    corners[n_cells, 0] = origin[0] + x * cell
                    corners[n_cells, 1] = origin[1] + y * cell
                    corners[n_cells, 2] = origin[2] + z * cell
                    n_cells += 1
                z += 1
    return cells, corners, n_cells


@njit(cache=True)
def search_group(points: np.ndarray, keys: np.ndarray, starts: np.ndarray, dims: np.ndarray,
                 origin: np.ndarray, cell: float, queries: np.ndarray, cx: int, cy: int, cz: int,
                 max_ring: int, best_d: np.ndarray, best_i: np.ndarray,
                 resolved: np.ndarray) -> None:
    """The exact k nearest sorted grid points of the (m, 3) ``queries`` of cell (cx, cy, cz).

    Fills ``best_d`` (m, k) squared distances ascending (inf when fewer points) and ``best_i``
    (m, k) sorted-point indices; ``resolved[q]`` is False for a query still open after
    ``max_ring`` rings. Each query scans the ring's cells nearest first and skips a cell no
    nearer than its k-th neighbour so far."""
    m = queries.shape[0]
    best_d[:] = np.inf
    best_i[:] = -1
    margin = 1e-9 * cell
    cells = np.empty(32, dtype=np.int64)
    corners = np.empty((32, 3))
    ring_end = np.zeros(max_ring + 1, dtype=np.int64)
    n_cells = 0
    built = -1
    near = np.empty(32)
    rank = np.empty(32, dtype=np.int64)
    for q in range(m):
        qx, qy, qz = queries[q, 0], queries[q, 1], queries[q, 2]
        row_d, row_i = best_d[q], best_i[q]
        worst = np.inf   # the k-th distance so far
        r = 0
        while True:
            if built < r:   # the group's cells of ring r, collected once for all its queries
                cells, corners, n_cells = _ring_cells(keys, dims, cx, cy, cz, r, cells,
                                                      corners, origin, cell, n_cells)
                ring_end[r] = n_cells
                built = r
            first = ring_end[r - 1] if r > 0 else 0
            count = ring_end[r] - first
            if count > len(near):
                near = np.empty(2 * count)
                rank = np.empty(2 * count, dtype=np.int64)
            for t in range(count):   # squared distance to each cell box, insertion-sorted
                c = first + t            # (the box widened by the margin: rounding of floor)
                dx = max(corners[c, 0] - margin - qx, qx - corners[c, 0] - cell - margin, 0.0)
                dy = max(corners[c, 1] - margin - qy, qy - corners[c, 1] - cell - margin, 0.0)
                dz = max(corners[c, 2] - margin - qz, qz - corners[c, 2] - cell - margin, 0.0)
                d = dx * dx + dy * dy + dz * dz
                pos = t
                while pos > 0 and near[pos - 1] > d:
                    near[pos] = near[pos - 1]
                    rank[pos] = rank[pos - 1]
                    pos -= 1
                near[pos] = d
                rank[pos] = c
            for t in range(count):
                if near[t] >= worst:
                    break
                j = cells[rank[t]]
                for p in range(starts[j], starts[j + 1]):
                    dx = qx - points[p, 0]
                    dy = qy - points[p, 1]
                    dz = qz - points[p, 2]
                    d2 = dx * dx + dy * dy + dz * dz
                    if d2 < worst:
                        worst = _insert(row_d, row_i, d2, p)
            # A point not scanned yet lies beyond a face of the scanned block that is not the
            # grid's own boundary.
            bound = np.inf
            for a, c in ((0, cx), (1, cy), (2, cz)):
                if c - r > 0:
                    bound = min(bound, queries[q, a] - (origin[a] + (c - r) * cell))
                if c + r < dims[a] - 1:
                    bound = min(bound, origin[a] + (c + r + 1) * cell - queries[q, a])
            bound -= margin
            if bound == np.inf or (bound > 0 and worst < bound * bound):
                resolved[q] = True
                break
            if r >= max_ring:
                resolved[q] = False
                break
            r += 1


@njit(parallel=True, cache=True)
def grid_knn_kernel(points: np.ndarray, keys: np.ndarray, starts: np.ndarray, dims: np.ndarray,
                    origin: np.ndarray, cell: float, order: np.ndarray, query: np.ndarray,
                    q_order: np.ndarray, q_starts: np.ndarray, q_coords: np.ndarray,
                    max_ring: int, out_d2: np.ndarray, out_idx: np.ndarray,
                    unresolved: np.ndarray) -> None:
    """:func:`search_group` for every query cell; rows of ``out_d2``/``out_idx`` (original point
    indices) and ``unresolved`` are written at the queries' own positions."""
    k = out_d2.shape[1]
    for g in prange(len(q_starts) - 1):
        a, b = q_starts[g], q_starts[g + 1]
        m = b - a
        queries = np.empty((m, 3))
        for q in range(m):
            queries[q] = query[q_order[a + q]]
        best_d = np.empty((m, k))
        best_i = np.empty((m, k), dtype=np.int64)
        resolved = np.zeros(m, dtype=np.bool_)
        search_group(points, keys, starts, dims, origin, cell, queries, q_coords[g, 0],
                     q_coords[g, 1], q_coords[g, 2], max_ring, best_d, best_i, resolved)
        for q in range(m):
            row = q_order[a + q]
            unresolved[row] = not resolved[q]
            for j in range(k):
                out_d2[row, j] = best_d[q, j]
                out_idx[row, j] = order[best_i[q, j]] if best_i[q, j] >= 0 else -1


def grid_knn(query: np.ndarray, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(dists (Q, k), idx (Q, k) int64)``: the exact ``k`` nearest of (N, 3) float64 ``points``
    for each (Q, 3) ``query``, nearest first (1 <= k <= N). Falls back to SciPy's k-d tree where
    the grid does not pay off."""
    query = np.ascontiguousarray(query, dtype=np.float64)
    points = np.ascontiguousarray(points, dtype=np.float64)
    grid = build_grid(points, k)
    if grid is None:
        return kdtree_knn(points, query, k)
    q_order, q_starts, q_coords = query_cells(grid, query)
    d2 = np.empty((len(query), k))
    idx = np.empty((len(query), k), dtype=np.int64)
    unresolved = np.zeros(len(query), dtype=np.bool_)
    grid_knn_kernel(grid.points, grid.keys, grid.starts, grid.dims, grid.origin, grid.cell,
                    grid.order, query, q_order, q_starts, q_coords, MAX_RING, d2, idx,
                    unresolved)
    dists = np.sqrt(d2)
    rest = np.flatnonzero(unresolved)
    if len(rest):
        dists[rest], idx[rest] = kdtree_knn(points, query[rest], k)
    return dists, idx


def kdtree_knn(points: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """SciPy's k-d tree answer, (Q, k) distances and int64 indices (the grid's fallback)."""
    from scipy.spatial import cKDTree

    d, i = cKDTree(points).query(query, k=k, workers=-1)
    return d.reshape(len(query), k), i.reshape(len(query), k).astype(np.int64)
