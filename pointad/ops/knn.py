"""Exact k nearest neighbours of query points among a point cloud, batched and differentiable."""
from __future__ import annotations

import torch

from pointad.errors import InputError
from pointad.ops._checks import as_cloud_pair, optional_chunk, positive_int

KNN_METHODS = ("auto", "grid", "brute")
DEFAULT_BUDGET_BYTES = 256 * 2**20   # bound on the (chunk x N) distance block of brute force
# Below this many query-point pairs brute force beats building a grid even on CPU.
_BRUTE_PAIRS = 1 << 22


def knn(query: torch.Tensor, points: torch.Tensor, k: int, *, chunk_size: int | None = None,
        method: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest ``points`` of every ``query`` point, exact, nearest first.

    Args:
        query: (M, 3) or (B, M, 3) float32 or float64 tensor.
        points: (N, 3) or (B, N, 3), same batchedness, dtype and device as ``query``.
        k: neighbours per query, ``1 <= k <= N``. A query that is also a point finds itself first.
        chunk_size: queries per brute-force block; default keeps the (chunk x N) block of squared
            distances under ~256 MB. The grid bounds its own working set (~16 MB of candidate
            distances at a time, plus O(N) for the grid).
        method: ``"brute"`` (chunked all-pairs distances, any device), ``"grid"`` (uniform voxel
            grid, CPU only, O((M + N) k) for surface-like clouds) or ``"auto"``: brute force on CUDA
            and for small problems, the grid otherwise. Both return the exact neighbours.

    Returns:
        dists: (..., M, k) Euclidean distances in the unit of the coordinates, ascending.
            Differentiable w.r.t. ``query`` and ``points`` (computed from the gathered coordinates;
            the gradient of a zero distance is zero).
        idx: (..., M, k) int64 indices into ``points``. Neighbours at equal distance come in an
            unspecified but deterministic order.

    Raises:
        InputError: bad shapes, dtypes or devices, non-finite coordinates, ``k`` not in [1, N].
    """
    q, p, batched = as_cloud_pair(query, points)
    k = positive_int(k, "k")
    if k > p.shape[1]:
        raise InputError(f"k={k} exceeds the number of points ({p.shape[1]})")
    if method not in KNN_METHODS:
        raise InputError(f"method must be one of {', '.join(KNN_METHODS)}; got {method!r}")
    if method == "grid" and p.device.type != "cpu":
        raise InputError(f"method='grid' runs on CPU only, the points are on {p.device}")
    dists, idx = search(q, p, k, chunk_size=optional_chunk(chunk_size), method=method)
    if not batched:
        dists, idx = dists[0], idx[0]
    return dists, idx


def search(query: torch.Tensor, points: torch.Tensor, k: int, *, chunk_size: int | None = None,
           method: str = "auto", radius: float | None = None,
           ordered: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
    """:func:`knn` on checked batched tensors (B, M, 3), (B, N, 3), ``1 <= k <= N``.

    ``radius``: only neighbours closer than it must be exact; entries beyond it may be any points
    farther than ``radius``, or -1 with distance inf (lets the grid settle a query once its ball
    is complete). ``ordered=False``: return ``(None, idx)`` with each row's neighbours in no
    particular order, skipping the distances and the sort (for a neighbourhood as a set).
    """
    with torch.no_grad():  # the search only picks indices; distances are recomputed below
        qd, pd = query.detach(), points.detach()
        brute = method == "brute" or (method == "auto" and (
            pd.device.type != "cpu" or qd.shape[1] * pd.shape[1] <= _BRUTE_PAIRS))
        if brute:
            idx = brute_knn_indices(qd, pd, k, chunk_size, DEFAULT_BUDGET_BYTES)
        else:
            from pointad.ops._grid_knn import grid_knn_indices
            idx = torch.stack([grid_knn_indices(qd[b], pd[b], k, DEFAULT_BUDGET_BYTES,
                                                radius=radius)
                               for b in range(pd.shape[0])])

    if not ordered:
        return None, idx
    neighbours = gather_points(points, idx if radius is None else idx.clamp(min=0))
    dists = torch.linalg.vector_norm(query.unsqueeze(2) - neighbours, dim=-1)
    if radius is not None:          # -1: an empty slot of a settled ball, beyond the radius
        dists = dists.masked_fill(idx < 0, float("inf"))
    # Sorting by the exact distances fixes the order the (unsorted) top-k left.
    dists, order = torch.sort(dists, dim=-1, stable=True)
    return dists, idx.gather(-1, order)


def gather_points(points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(B, M, K, 3) coordinates ``points[b, idx[b]]``: points (B, N, 3), idx (B, M, K) >= 0."""
    b, n, c = points.shape
    m, kk = idx.shape[1:]
    if b > 1:  # one row gather over the flattened batch (index_select beats gather here)
        idx = idx + (torch.arange(b, device=idx.device) * n).view(b, 1, 1)
    return points.reshape(b * n, c).index_select(0, idx.reshape(-1)).reshape(b, m, kk, c)


def brute_knn_indices(query: torch.Tensor, points: torch.Tensor, k: int, chunk_size: int | None,
                      budget_bytes: int) -> torch.Tensor:
    """(B, M, k) int64 indices of the k nearest points by chunked all-pairs distances (unsorted).

    query (B, M, 3), points (B, N, 3), no autograd. Works on any device. The all-pairs block uses
    |q|^2 + |p|^2 - 2 q.p (one matrix product), whose rounding (~eps * cloud radius^2) can swap
    near-ties at the k-th place in float32; so a few more than k are kept and the final k are
    chosen by direct differences.
    """
    b, m, _ = query.shape
    n = points.shape[1]
    kk = min(n, k + max(8, k // 4))
    # Centring on the cloud keeps |q|^2 + |p|^2 - 2 q.p accurate for clouds far from the origin.
    centre = points.mean(1, keepdim=True)
    pc = points - centre
    qc = query - centre
    pn = (pc * pc).sum(-1).unsqueeze(1)                     # (B, 1, N)
    pt = pc.transpose(1, 2)
    if chunk_size is None:
        # The block plus top-k scratch: about two (B, chunk, N) tensors.
        chunk_size = max(1, budget_bytes // (2 * b * n * points.element_size()))
    out = torch.empty((b, m, k), dtype=torch.int64, device=points.device)
    for s in range(0, m, chunk_size):
        qq = qc[:, s:s + chunk_size]
        d2 = torch.baddbmm(pn, qq, pt, alpha=-2.0)
        d2 += (qq * qq).sum(-1, keepdim=True)
        cand = torch.topk(d2, kk, dim=-1, largest=False, sorted=False).indices
        if kk > k:
            exact = (qq.unsqueeze(2) - gather_points(pc, cand)).square_().sum(-1)
            cand = cand.gather(-1, torch.topk(exact, k, dim=-1, largest=False,
                                              sorted=False).indices)
        out[:, s:s + chunk_size] = cand
    return out
