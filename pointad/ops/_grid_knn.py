"""Exact k-nearest-neighbour indices on CPU through uniform voxel grids (plain torch, no autograd).

Brute force is O(M N); on CPU that is minutes for 100k points. Here the points are hashed into
cubic cells of side ``h`` and sorted by cell key (x-major, z fastest), so the three cells
``(x, y, z-1 .. z+1)`` of a column are one contiguous range of the sorted points. The candidates of
a query are the points of the 3x3x3 block of cells around its own: nine ranges. Queries are grouped
by cell into tiles sharing one candidate list, so the distances of a tile are one small matrix
product, and a top-k over the candidate rows picks the k nearest.

The result is exact when the k-th distance found is at most the distance from the query to the
faces of its block (every point outside is at least that far). ``h`` is chosen from the density so
that this holds for nearly every query. Real clouds are not uniform, so each query may move to
another cell size (a ladder of levels ``h0 * 2**(j/2)``):

* a query whose block holds far more candidates than needed (a dense cluster) moves to a finer
  level, unless going finer stopped thinning its block (exact duplicates);
* a query the block does not settle moves to a coarser level where it is guaranteed: cell side at
  least the k-th distance found (an upper bound of the true one).

Coarsening always terminates (at ``h >= extent`` the block holds every point), so the output is
always the exact k nearest, up to float rounding of ties.
"""
from __future__ import annotations

import math

import torch

# Cell side over the expected k-th neighbour distance. A query's 3x3x3 block settles it when its
# k-th neighbour lies within ~h (the distance to the block's faces); the margin covers density
# fluctuations (a count of k varies by ~1/sqrt(k)). Larger: more candidates; smaller: more redos.
_RADIUS_MARGIN = 1.25
_SAMPLES = 64                 # points whose exact k-th distance sets the starting cell size
_DENSE_FACTOR = 4.0           # candidates over the expected count that make a query move finer
_TILE_SIZES = (4, 6, 8, 12, 16, 24, 32, 48, 64)
_MAX_AXIS_CELLS = 1 << 20     # keys (x * gy + y) * gz + z stay far below 2**63
_WORK_ELEMENTS = 1 << 22      # candidate distances per chunk: ~16 MB of float32
_BRUTE_PAIRS = 1 << 24        # a few leftover queries: all-pairs beats building another grid


def grid_knn_indices(query: torch.Tensor, points: torch.Tensor, k: int, budget_bytes: int,
                     cell_size: float | None = None, radius: float | None = None) -> torch.Tensor:
    """Indices (M, k) int64 of the ``k`` nearest ``points`` (N, 3) of each ``query`` (M, 3).

    Unsorted within a row (the caller sorts by exact distance). Requires ``k <= N``. ``cell_size``
    (length unit of the points) overrides the automatic starting cell size (tests use it to drive
    queries through the other levels). ``radius``: only neighbours closer than it need be exact,
    so a query whose block contains its whole ball is settled whatever its k-th distance; such a
    row may hold -1 where its block had fewer than k points (all points in its ball are there).
    """
    from pointad.ops.knn import brute_knn_indices  # the fallback for a few queries lives with knn

    n, m = points.shape[0], query.shape[0]
    if m == 0:
        return torch.empty((0, k), dtype=torch.int64)
    # Cells and block faces in float64: a float32 cell test would be off by ~1e-7 of the
    # coordinates' magnitude, too coarse for a small dense part of a large cloud.
    points64, query64 = points.double(), query.double()
    lo = points64.amin(0)
    ext = points64.amax(0) - lo
    span = float(ext.max())
    h_min = max(span / (_MAX_AXIS_CELLS - 2), 1e-30)
    h0, dim = _cell_size(points, k)
    # Margin for rounding: a point's computed cell can be off by one next to a cell face.
    margin = 8 * torch.finfo(torch.float64).eps * (float(lo.abs().max()) + span)
    if radius is not None and cell_size is None:
        # A ball inside every block (cell side >= radius) settles every query in one pass.
        h0 = min(h0, radius * (1 + 1e-9) + 2 * margin)
    h0 = max(cell_size if cell_size is not None else h0, h_min)
    j_min = math.ceil(2 * math.log2(h_min / h0)) if h_min < h0 else 0
    # A block with several times the candidates the density estimate expects moves finer.
    c_mid = max(_expected_candidates(k, dim), 2.0 * k)
    ball = _interpolate(dim, (2.0, math.pi, 4.0 * math.pi / 3.0))
    c_hi = _DENSE_FACTOR * c_mid
    eps = torch.finfo(points.dtype).eps

    out = torch.empty((m, k), dtype=torch.int64)
    grids = {}                                       # level -> _Grid, built on first use
    # level -> list of (query ids, may stay in a dense block, candidates at the last finer move)
    pending = {0: [(torch.arange(m), torch.zeros(m, dtype=torch.bool),
                    torch.full((m,), float("inf")))]}
    while pending:
        j = min(pending)
        parts = pending.pop(j)
        ids = torch.cat([p[0] for p in parts])
        dense_ok = torch.cat([p[1] for p in parts])
        previous = torch.cat([p[2] for p in parts])
        if j != 0 and ids.numel() * n <= _BRUTE_PAIRS:
            out[ids] = brute_knn_indices(query[ids].unsqueeze(0), points.unsqueeze(0), k, None,
                                         budget_bytes)[0]
            continue
        if j not in grids:
            grids[j] = _Grid(points, points64, lo, ext, h0 * 2.0 ** (j / 2))
        grid = grids[j]
        q, q64 = ((query, query64) if ids.numel() == m
                  else (query.index_select(0, ids), query64.index_select(0, ids)))
        qcells = grid.cells(q64)
        ranges = grid.ranges(qcells)

        # Too many candidates: move finer, unless the last finer move did not halve them.
        dense = None
        if bool((ranges.ncand > c_hi).any()):
            ncand = ranges.per_query_candidates()
            dense = ~dense_ok & (ncand > c_hi)
        if dense is not None and dense.any():
            stuck = dense & ((ncand > previous / 2) | (j <= j_min))
            dense &= ~stuck
            dense_ok = dense_ok | stuck
        if dense is not None and dense.any():
            steps = (2 * torch.log2((ncand[dense] / c_mid).double()) / dim).floor().clamp(min=1)
            for step in steps.unique().tolist():
                sel = torch.nonzero(dense).squeeze(1)[steps == step]
                target = max(j - int(step), j_min)
                pending.setdefault(target, []).append(
                    (ids[sel], torch.zeros(sel.numel(), dtype=torch.bool),
                     ncand[sel].to(previous.dtype)))
            keep = ~dense
            ids, q, q64, qcells = ids[keep], q[keep], q64[keep], qcells[keep]
            dense_ok = dense_ok[keep]
            ranges = grid.ranges(qcells)
            if ids.numel() == 0:
                continue

        rows, pos, kth = _block_knn(q, qcells, grid, ranges, k)
        q64, qcells, ids = (x.index_select(0, rows) for x in (q64, qcells, ids))
        bound = (grid.distance_to_block_faces(q64, qcells) - margin).clamp(min=0)
        # The expansion |q|^2 + |p|^2 - 2 q.p of kth is accurate to ~eps (2h)^2; stay below that.
        slack = 16 * eps * 3 * (2 * grid.h) ** 2
        done = kth <= bound * bound - slack
        if radius is not None:
            done |= bound >= radius
        # Every row is written; unsettled ones are overwritten when redone below.
        out.index_copy_(0, ids, grid.point_index(pos, missing=radius is not None))
        if bool(done.all()):
            continue
        # Unsettled: a cell side >= the k-th distance found settles them (it bounds the true
        # one) but overshoots when the block held few points, which sit as far as its corners.
        # The block's density predicts the k-th distance; the cell side aimed at is the smaller
        # (a query still unsettled there moves again, then to the found distance). Outside the
        # cloud: at least the distance to its bounding box.
        fail = ~done
        found = kth[fail].double().sqrt() * 1.01 + 2 * margin
        count = ranges.per_query_candidates()[rows][fail].clamp(min=1).double()
        predicted = 3 * grid.h * _RADIUS_MARGIN * (k / (count * ball)) ** (1 / dim)
        qf = q64[fail]
        away = (torch.clamp(lo - qf, min=0) + torch.clamp(qf - lo - ext, min=0)).norm(dim=1)
        # A query unsettled a second time goes straight to the level the found distance settles.
        again = dense_ok.index_select(0, rows)[fail]
        need = torch.maximum(torch.where(again, found, torch.minimum(found, predicted)), away)
        if radius is not None:
            need = torch.minimum(need, torch.tensor(radius * 1.01 + 2 * margin))
        levels = torch.ceil(2 * torch.log2(need / h0)).clamp(min=j + 1)
        # At h >= the extent the grid is one cell per axis and any block holds every point.
        j_all = math.ceil(2 * math.log2(max(span, h_min) * 1.01 / h0)) + 1
        levels = levels.clamp(max=max(j_all, j + 1))
        fail_ids = ids[fail]
        for level in levels.unique().tolist():
            sel = levels == level
            cnt = int(sel.sum())
            pending.setdefault(int(level), []).append(
                (fail_ids[sel], torch.ones(cnt, dtype=torch.bool),
                 torch.full((cnt,), float("inf"))))
    return out


class _Grid:
    """Points hashed into cubic cells of side ``h`` and sorted by cell key."""

    def __init__(self, points, points64, lo, ext, h):
        self.h = h
        self.lo = lo                                  # float64 (3,)
        self.dims = [int(math.floor(float(e) / h)) + 1 for e in ext]
        self.top = torch.tensor(self.dims) - 1
        self.keys, self.order = torch.sort(self.key(self.cells(points64)))
        self.points = points.index_select(0, self.order)  # input dtype, for the distances

    def cells(self, x64):
        """(P, 3) int64 cell coordinates of float64 points, clamped into the grid (queries may
        lie outside it)."""
        c = torch.floor((x64 - self.lo) / self.h)
        return torch.minimum(c.clamp(min=0), self.top.to(x64.dtype)).to(torch.int64)

    def key(self, cells):
        return (cells[:, 0] * self.dims[1] + cells[:, 1]) * self.dims[2] + cells[:, 2]

    def distance_to_block_faces(self, q, qcells):
        """(P,) distance from each query to the faces of its 3x3x3 block with cells beyond them.

        Faces at the grid border are skipped (infinite): no point lies beyond them.
        """
        low_face = self.lo + (qcells - 1).to(q.dtype) * self.h
        high_face = self.lo + (qcells + 2).to(q.dtype) * self.h
        inf = torch.tensor(float("inf"), dtype=q.dtype)
        d_low = torch.where(qcells - 1 > 0, q - low_face, inf)
        d_high = torch.where(qcells + 1 < self.top, high_face - q, inf)
        return torch.minimum(d_low, d_high).amin(1)

    def point_index(self, pos, missing):
        """Indices into the caller's points of positions (P, k) in the sorted points.

        ``missing``: -1 (an empty slot) stays -1; otherwise such rows are garbage, to be redone.
        """
        idx = self.order.index_select(0, pos.view(-1).clamp(min=0)).view(pos.shape)
        return torch.where(pos >= 0, idx, -1) if missing else idx

    def ranges(self, qcells):
        return _Ranges(self, qcells)


class _Ranges:
    """Queries grouped by cell and the nine column ranges of sorted points of each cell's block."""

    def __init__(self, grid, qcells):
        g0, g1, g2 = grid.dims
        qkeys, self.qorder = torch.sort(grid.key(qcells))
        ukeys, self.qcount = torch.unique_consecutive(qkeys, return_counts=True)
        u = ukeys.numel()
        cz, cy, cx = ukeys % g2, (ukeys // g2) % g1, ukeys // (g1 * g2)
        self.ucells = torch.stack([cx, cy, cz], 1)
        off = torch.arange(-1, 2)
        x = cx[:, None, None] + off[None, :, None]
        y = cy[:, None, None] + off[None, None, :]
        inside = (x >= 0) & (x < g0) & (y >= 0) & (y < g1)
        base = (x * g1 + y) * g2
        lo_key = base + (cz - 1).clamp(min=0)[:, None, None]
        hi_key = base + (cz + 1).clamp(max=g2 - 1)[:, None, None]
        start = torch.searchsorted(grid.keys, lo_key.reshape(-1)).reshape(u, 9)
        end = torch.searchsorted(grid.keys, hi_key.reshape(-1), right=True).reshape(u, 9)
        self.start = start
        self.length = torch.where(inside.reshape(u, 9), end - start, 0)
        self.cum = self.length.cumsum(1)
        self.ncand = self.cum[:, -1]

    def per_query_candidates(self):
        """(P,) candidate count of every query, in the caller's query order."""
        out = torch.empty(self.qorder.numel(), dtype=torch.int64)
        out[self.qorder] = torch.repeat_interleave(self.ncand, self.qcount)
        return out


def _tile_size(qcount: torch.Tensor) -> int:
    """Queries per tile minimizing a cost model: padded rows plus a per-tile overhead."""
    best, best_cost = _TILE_SIZES[0], float("inf")
    for t in _TILE_SIZES:
        tiles = int(((qcount + t - 1) // t).sum())
        cost = tiles * (0.5 * t + 4.0)
        if cost < best_cost:
            best, best_cost = t, cost
    return best


def _block_knn(q, qcells, grid, ranges, k):
    """k nearest among the points of each query's 3x3x3 block of cells.

    Returns, in an order of its own, the query numbers (P,) (rows of ``q``), the positions (P, k)
    of their neighbours in the grid's sorted points and the squared k-th distance (P,) (``inf``
    where the block holds fewer than k points).
    """
    dtype = q.dtype
    qcount, ncand = ranges.qcount, ranges.ncand
    # index_select rather than tensor[idx] throughout: the advanced-indexing kernel can start the
    # thread pool for small outputs, which costs milliseconds each on a busy machine.
    take = torch.index_select
    # Tiles: up to t queries of one cell sharing its candidate list.
    t = _tile_size(qcount)
    ntile = (qcount + t - 1) // t
    tile_cell = torch.repeat_interleave(torch.arange(qcount.numel()), ntile)
    cell_qstart = qcount.cumsum(0) - qcount
    first_tile = ntile.cumsum(0) - ntile
    within = torch.arange(tile_cell.numel()) - take(first_tile, 0, tile_cell)
    tile_qstart = take(cell_qstart, 0, tile_cell) + within * t
    tile_qlen = torch.minimum(take(cell_qstart + qcount, 0, tile_cell) - tile_qstart,
                              torch.tensor(t))
    # Chunks of tiles with similar candidate counts, so padding each chunk to its widest is cheap.
    sorted_ncand, torder = torch.sort(take(ncand, 0, tile_cell))
    sorted_ncand = sorted_ncand.tolist()

    pos_parts, kth_parts, dest_parts = [], [], []
    slots = torch.arange(t)
    s, ntiles = 0, len(sorted_ncand)
    while s < ntiles:
        width = max(sorted_ncand[min(s + 63, ntiles - 1)], k)
        e = min(ntiles, s + max(1, _WORK_ELEMENTS // (t * width)))
        width = max(sorted_ncand[e - 1], k)
        while e - s > 1 and (e - s) * t * width > _WORK_ELEMENTS:
            e = s + (e - s) // 2
            width = max(sorted_ncand[e - 1], k)
        tiles = torder[s:e]
        s = e
        cells = take(tile_cell, 0, tiles)
        # Candidate j of a tile lies in the column range where the running count first exceeds j.
        j = torch.arange(width)
        ccum = take(ranges.cum, 0, cells)
        rid = torch.searchsorted(ccum, j.expand(cells.numel(), width).contiguous(), right=True)
        rid = rid.clamp(max=8)
        valid = j < take(ncand, 0, cells).unsqueeze(1)
        offset = take(ranges.start, 0, cells) - (ccum - take(ranges.length, 0, cells))
        pos = torch.where(valid, offset.gather(1, rid) + j, 0)
        # Coordinates relative to the cell centre keep |q|^2 + |p|^2 - 2 q.p accurate.
        centre = (grid.lo + (take(ranges.ucells, 0, cells).double() + 0.5) * grid.h).to(dtype)
        pc = take(grid.points, 0, pos.view(-1)).view(-1, width, 3)
        pc -= centre.unsqueeze(1)
        # |p|^2 - 2 q.p orders the candidates of a query like |q - p|^2 (|q|^2 is added to the
        # k-th value only). An infinite |p|^2 rules out padded candidates.
        pn = (pc * pc).sum(-1, keepdim=True).masked_fill_(~valid.unsqueeze(-1), float("inf"))
        first = take(tile_qstart, 0, tiles).unsqueeze(1)
        qvalid = slots < take(tile_qlen, 0, tiles).unsqueeze(1)
        qi = take(ranges.qorder, 0, torch.where(qvalid, first + slots, first).view(-1))
        qc = take(q, 0, qi).view(-1, t, 3) - centre.unsqueeze(1)
        d2 = torch.baddbmm(pn.transpose(1, 2), qc, pc.transpose(1, 2), alpha=-2.0)
        # Padded query slots are dropped before the top-k, the costly part.
        rows = torch.nonzero(qvalid.view(-1)).squeeze(1)
        vals, sel = torch.topk(take(d2.view(-1, width), 0, rows), k, dim=1, largest=False,
                               sorted=False)
        dest_parts.append(take(qi, 0, rows))
        # A block with fewer than k points fills the row with padding (inf): -1.
        tile_pos = take(pos, 0, torch.div(rows, t, rounding_mode="floor"))
        pos_parts.append(tile_pos.gather(1, sel).masked_fill_(torch.isinf(vals), -1))
        kth_parts.append(vals.amax(1) + take((qc * qc).sum(-1).view(-1), 0, rows))
    return torch.cat(dest_parts), torch.cat(pos_parts), torch.cat(kth_parts)


def _cell_size(points: torch.Tensor, k: int) -> tuple[float, float]:
    """Starting cell side and the local dimension d of the cloud (1 line, 2 surface, 3 volume).

    Measured, not guessed from the bounding box (which says nothing about clusters, outliers or
    varying density): the exact K + 1 nearest of ``_SAMPLES`` evenly spaced points by brute force,
    K = max(k, 16) (the first is the point itself). The side is ``_RADIUS_MARGIN`` times the
    median k-th distance; d is the maximum-likelihood dimension of Levina and Bickel,
    (K - 2) / sum_j log(r_K / r_j), combined over the samples as the inverse of the mean inverse.
    """
    n = points.shape[0]
    if n < 3:
        return 1.0, 2.0                              # any cell size is exact; nothing to measure
    big_k = min(max(k, 16) + 1, n)
    # float64 and centred on the cloud: |s|^2 + |p|^2 - 2 s.p keeps ~1e-16 relative accuracy,
    # enough for a cluster 1e-6 the size of the cloud, and is one matrix product.
    p64 = points.double()
    p64 = p64 - p64.mean(0)
    sample = p64[torch.linspace(0, n - 1, min(_SAMPLES, n)).round().long()]
    norms = (p64 * p64).sum(1)
    rows = max(1, _WORK_ELEMENTS // n)                # samples per block of distances
    r = []
    for part in sample.split(rows):
        d2 = torch.addmm(norms, part, p64.T, alpha=-2.0)
        d2 += (part * part).sum(1, keepdim=True)
        r.append(torch.topk(d2, big_k, dim=1, largest=False).values)
    r = torch.cat(r).clamp(min=0).sqrt()[:, 1:]
    d = 2.0                                          # too few points or all duplicates: a guess
    usable = r[:, 0] > 1e-6 * r[:, -1]               # duplicates make the logarithms blow up
    if r.shape[1] >= 3 and bool(usable.any()):
        ru = r[usable]
        inverse = torch.log(ru[:, -1:] / ru[:, :-1]).sum(1) / (ru.shape[1] - 2)
        mean_inverse = float(inverse.mean())
        if mean_inverse > 0:
            d = min(max(1.0 / mean_inverse, 1.0), 3.0)
    r_all = r if r.shape[1] else torch.zeros((1, 1), dtype=torch.float64)
    r_k = float(r_all[:, min(k, r_all.shape[1]) - 1].median())
    if r_k == 0.0:                                   # the median point has k duplicates
        r_k = float(r_all.max())
    return _RADIUS_MARGIN * r_k, d


def _expected_candidates(k: int, d: float) -> float:
    """Candidates in a 3x3x3 block of the starting cell size for a uniform d-dimensional cloud."""
    ball = _interpolate(d, (2.0, math.pi, 4.0 * math.pi / 3.0))
    return (3.0 * _RADIUS_MARGIN) ** d * k / ball


def _interpolate(d: float, values: tuple[float, float, float]) -> float:
    """Log-linear interpolation of ``values`` given at d = 1, 2, 3."""
    i = min(max(int(d), 1), 3)
    w = d - i
    if i == 3 or w == 0.0:
        return values[i - 1]
    return math.exp((1 - w) * math.log(values[i - 1]) + w * math.log(values[i]))
