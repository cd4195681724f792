"""Exact nearest-neighbour search: the one entry point of the package.

Every neighbour query in pointad goes through :func:`knn` (a batch of queries against a batch of
clouds, tensors or arrays) or :class:`NeighbourIndex` (one point set indexed once and queried many
times, e.g. by ICP). The backend is chosen per device: SciPy's ``cKDTree`` on CPU for points of up
to :data:`KDTREE_MAX_DIM` dimensions (the fastest exact search there), chunked brute force with
one matrix product per block on CUDA and for high-dimensional features (memory banks).
"""
from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar, cast, overload

import numpy as np
import torch
from scipy.spatial import cKDTree

from pointad.errors import InputError
from pointad.ops._checks import as_cloud_pair, optional_chunk, positive_int

KNN_METHODS = ("auto", "kdtree", "brute", "grid")
KDTREE_MAX_DIM = 8                   # above this a k-d tree prunes little: brute force wins
DEFAULT_BUDGET_BYTES = 256 * 2**20   # bound on the (chunk x N) distance block of brute force

# What a NeighbourIndex holds and answers in: numpy arrays or torch tensors.
ArrayT = TypeVar("ArrayT", bound="np.ndarray | torch.Tensor")


@overload
def knn(query: torch.Tensor, points: torch.Tensor, k: int, *, chunk_size: int | None = None,
        method: str = "auto") -> tuple[torch.Tensor, torch.Tensor]: ...
@overload
def knn(query: np.ndarray, points: np.ndarray, k: int, *, chunk_size: int | None = None,
        method: str = "auto") -> tuple[np.ndarray, np.ndarray]: ...
def knn(query: torch.Tensor | np.ndarray, points: torch.Tensor | np.ndarray, k: int, *,
        chunk_size: int | None = None, method: str = "auto"
        ) -> tuple[torch.Tensor, torch.Tensor] | tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest ``points`` of every ``query`` point, exact, nearest first.

    Args:
        query: (M, D) or (B, M, D) float32 or float64 tensor, or a numpy array (then the results
            are numpy arrays too).
        points: (N, D) or (B, N, D), the same kind, batchedness, dtype and device as ``query``.
        k: neighbours per query, ``1 <= k <= N``. A query that is also a point finds itself first
            (unless another point coincides with it).
        chunk_size: queries per brute-force block; default keeps the (chunk x N) block of squared
            distances under ~256 MB.
        method: ``"kdtree"`` (SciPy's cKDTree, CPU only), ``"brute"`` (chunked all-pairs
            distances, any device), ``"grid"`` (a uniform cell grid scanned by numba on all
            cores, :mod:`pointad.ops.grid`; CPU and D = 3 only, several times faster than the
            k-d tree on a million points) or ``"auto"``: the k-d tree on CPU for ``D <= 8``,
            brute force otherwise. All return the exact neighbours.

    Returns:
        dists: (..., M, k) Euclidean distances in the unit of the coordinates, ascending.
            Differentiable w.r.t. ``query`` and ``points`` (computed from the gathered coordinates;
            the gradient of a zero distance is zero).
        idx: (..., M, k) int64 indices into ``points``. Neighbours at equal distance come in an
            unspecified but deterministic order.

    Raises:
        InputError: bad shapes, dtypes or devices, non-finite coordinates, ``k`` not in [1, N].
    """
    as_numpy = isinstance(query, np.ndarray) and isinstance(points, np.ndarray)
    if as_numpy:
        query, points = torch.from_numpy(query), torch.from_numpy(points)
    q, p, batched = as_cloud_pair(query, points, dim=None)
    k = _check_k(k, p.shape[1])
    method = _check_method(method, p)
    dists, idx = search(q, p, k, chunk_size=optional_chunk(chunk_size), method=method)
    if not batched:
        dists, idx = dists[0], idx[0]
    if as_numpy:
        return dists.detach().numpy(), idx.numpy()
    return dists, idx


class NeighbourIndex(Generic[ArrayT]):
    """One (N, D) point set indexed once for many exact neighbour queries.

    ``points`` is a numpy array or a float tensor; queries take the same kind and return it.
    CPU points of up to 8 dimensions get a k-d tree, others are searched by brute force on their
    device.
    """

    def __init__(self, points: ArrayT, *, method: str = "auto") -> None:
        self._numpy = isinstance(points, np.ndarray)
        tensor = torch.from_numpy(points) if isinstance(points, np.ndarray) else points
        p, _ = _as_one(tensor, "points")
        self.points = p
        if method == "grid":   # a grid answers one batch of queries; an index is queried often
            raise InputError("NeighbourIndex takes method 'auto', 'kdtree' or 'brute'; "
                             "method='grid' is for knn()")
        self.method = _check_method(method, p[None])
        self._tree: cKDTree | None = (cKDTree(p.detach().cpu().numpy()) if self.method == "kdtree"
                                      else None)

    def __len__(self) -> int:
        return self.points.shape[0]

    def _query_tensor(self, query: ArrayT) -> torch.Tensor:
        """(M, D) ``query`` as a checked tensor of the index's dtype and device."""
        tensor = torch.from_numpy(np.ascontiguousarray(query)) if self._numpy else query
        return _as_one(tensor, "query", dtype=self.points.dtype, device=self.points.device)[0]

    def query(self, query: ArrayT, k: int = 1, *,
              radius: float | None = None) -> tuple[ArrayT, ArrayT]:
        """``(dists (M, k), idx (M, k))`` of the ``k`` nearest indexed points of (M, D) ``query``,
        nearest first. With ``radius``, neighbours at or beyond it are reported as index -1 and
        distance inf (the k nearest strictly within ``radius``). Not differentiable: use
        :func:`knn` for distances with gradients."""
        q = self._query_tensor(query)
        k = _check_k(k, len(self))
        if self._tree is not None:
            dists, idx = _tree_query(self._tree, q, k, radius)
        else:
            with torch.no_grad():
                idx = brute_knn_indices(q[None], self.points[None], k, None,
                                        DEFAULT_BUDGET_BYTES)[0]
            dists, idx = _exact_sorted(q[None], self.points[None], idx[None], None)
            dists, idx = dists[0], idx[0]
            if radius is not None:
                idx = idx.masked_fill(dists >= radius, -1)
                dists = dists.masked_fill(idx < 0, float("inf"))
        if self._numpy:
            return cast("tuple[ArrayT, ArrayT]", (dists.detach().numpy(), idx.numpy()))
        return cast("tuple[ArrayT, ArrayT]", (dists, idx))

    def count(self, query: ArrayT, radius: float) -> np.ndarray:
        """(M,) int64 numbers of indexed points within ``radius`` (distance <= radius) of each
        (M, D) ``query`` point (numpy)."""
        q = self._query_tensor(query)
        if self._tree is not None:
            return np.asarray(self._tree.query_ball_point(q.numpy(), radius, workers=-1,
                                                          return_length=True), dtype=np.int64)
        rows = max(1, DEFAULT_BUDGET_BYTES // (4 * max(1, len(self))))
        return torch.cat([(torch.cdist(q[s:s + rows], self.points) <= radius).sum(1)
                          for s in range(0, len(q), rows)]).cpu().numpy().astype(np.int64)

    def pairs(self, radius: float) -> np.ndarray:
        """(P, 2) int64 index pairs ``i < j`` of indexed points at distance <= ``radius``
        (numpy)."""
        tree = self._tree if self._tree is not None else cKDTree(self.points.cpu().numpy())
        return tree.query_pairs(radius, output_type="ndarray").astype(np.int64)


@overload
def search(query: torch.Tensor, points: torch.Tensor, k: int, *, chunk_size: int | None = None,
           method: str = "auto", radius: float | None = None,
           ordered: Literal[True] = True) -> tuple[torch.Tensor, torch.Tensor]: ...
@overload
def search(query: torch.Tensor, points: torch.Tensor, k: int, *, chunk_size: int | None = None,
           method: str = "auto", radius: float | None = None,
           ordered: bool) -> tuple[torch.Tensor | None, torch.Tensor]: ...
def search(query: torch.Tensor, points: torch.Tensor, k: int, *, chunk_size: int | None = None,
           method: str = "auto", radius: float | None = None,
           ordered: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
    """:func:`knn` on checked batched tensors (B, M, D), (B, N, D), ``1 <= k <= N``.

    ``radius``: only neighbours closer than it must be exact; entries beyond it may be any points
    farther than ``radius``, or -1 with distance inf. ``ordered=False``: return ``(None, idx)``
    with each row's neighbours in no particular order, skipping the distances (for a
    neighbourhood as a set).
    """
    if method == "auto":
        method = _check_method(method, points)
    if method == "kdtree":
        with torch.no_grad():
            idx = torch.stack([_tree_query(cKDTree(points[b].detach().numpy()), query[b].detach(),
                                           k, radius)[1] for b in range(points.shape[0])])
    elif method == "grid":
        from pointad.ops.grid import grid_knn
        parts = []
        for b in range(points.shape[0]):
            d, i = grid_knn(query[b].detach().numpy(), points[b].detach().numpy(), k)
            if radius is not None:
                i[d >= radius] = -1
            parts.append(torch.from_numpy(i))
        idx = torch.stack(parts)
    else:
        with torch.no_grad():  # the search only picks indices; distances are recomputed below
            idx = brute_knn_indices(query.detach(), points.detach(), k, chunk_size,
                                    DEFAULT_BUDGET_BYTES)
    if not ordered:
        return None, idx
    return _exact_sorted(query, points, idx, radius)


def _exact_sorted(query: torch.Tensor, points: torch.Tensor, idx: torch.Tensor,
                  radius: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances of the gathered neighbours (differentiable), rows sorted by them."""
    neighbours = gather_points(points, idx.clamp(min=0))
    dists = torch.linalg.vector_norm(query.unsqueeze(2) - neighbours, dim=-1)
    dists = dists.masked_fill(idx < 0, float("inf"))
    # Sorting by the exact distances fixes the order the (unsorted) top-k left.
    dists, order = torch.sort(dists, dim=-1, stable=True)
    return dists, idx.gather(-1, order)


def _tree_query(tree: cKDTree, query: torch.Tensor, k: int,
                radius: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, k) distances and int64 indices from a k-d tree, -1 / inf beyond ``radius``."""
    bound = np.inf if radius is None else float(radius)
    d, i = tree.query(query.detach().cpu().numpy(), k=k, workers=-1, distance_upper_bound=bound)
    d, i = d.reshape(len(query), k), i.reshape(len(query), k).astype(np.int64)
    i[i >= tree.n] = -1
    return torch.from_numpy(d).to(query.dtype), torch.from_numpy(i)


def gather_points(points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(B, M, K, D) coordinates ``points[b, idx[b]]``: points (B, N, D), idx (B, M, K) >= 0."""
    b, n, c = points.shape
    m, kk = idx.shape[1:]
    if b > 1:  # one row gather over the flattened batch (index_select beats gather here)
        idx = idx + (torch.arange(b, device=idx.device) * n).view(b, 1, 1)
    return points.reshape(b * n, c).index_select(0, idx.reshape(-1)).reshape(b, m, kk, c)


def brute_knn_indices(query: torch.Tensor, points: torch.Tensor, k: int, chunk_size: int | None,
                      budget_bytes: int) -> torch.Tensor:
    """(B, M, k) int64 indices of the k nearest points by chunked all-pairs distances (unsorted).

    query (B, M, D), points (B, N, D), no autograd. Works on any device. The all-pairs block uses
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


def _check_k(k: Any, n: int) -> int:
    k = positive_int(k, "k")
    if k > n:
        raise InputError(f"k={k} exceeds the number of points ({n})")
    return k


def _check_method(method: str, points: torch.Tensor) -> str:
    """The concrete backend for ``method`` on (B, N, D) ``points``."""
    if method not in KNN_METHODS:
        raise InputError(f"method must be one of {', '.join(KNN_METHODS)}; got {method!r}")
    on_cpu = points.device.type == "cpu"
    if method in ("kdtree", "grid") and not on_cpu:
        raise InputError(f"method={method!r} runs on CPU only, the points are on {points.device}")
    if method == "grid" and points.shape[-1] != 3:
        raise InputError(f"method='grid' takes 3D points, got {points.shape[-1]} coordinates")
    if method == "auto":
        return "kdtree" if on_cpu and points.shape[-1] <= KDTREE_MAX_DIM else "brute"
    return method


def _as_one(x: Any, name: str, dtype: torch.dtype | None = None,
            device: torch.device | None = None) -> tuple[torch.Tensor, bool]:
    """One (N, D) float tensor of a :class:`NeighbourIndex` (points or a query)."""
    from pointad.ops._checks import as_cloud
    t, batched = as_cloud(x, name, dim=None)
    if batched:
        raise InputError(f"{name} must have shape (N, D), got {tuple(x.shape)}")
    t = t[0]
    if dtype is not None and (t.dtype != dtype or t.device != device):
        t = t.to(dtype=dtype, device=device)
    return t, False
