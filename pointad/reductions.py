"""Fast reductions over (N, k) point arrays with small k.

numpy reduces ``axis=0`` of a C-ordered (N, 3) array three elements at a time, 10-20x slower than
a BLAS matrix-vector product or a reduction over a contiguous column; on million-point clouds
that difference dominates the whole synthesis. These helpers take (N, k) and return (k,) or (N,);
the numba ones make one pass without the (N, 3) temporaries numpy would allocate.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from pointad.jit import njit


def column_sums(a: np.ndarray) -> np.ndarray:
    """(k,) sums of the columns of (N, k) ``a``, in ``a``'s dtype (accumulated in float64).

    One sequential pass, so the same bits whatever the thread count: a BLAS gemv
    (``a.T @ ones``) splits the sum between its threads, and a worker limited to one thread
    then writes other bytes than the driver (``pnas generate --workers``)."""
    return _weighted_column_sums(a, np.ones(0)).astype(a.dtype, copy=False)


def weighted_column_sums(weights: np.ndarray, a: np.ndarray) -> Any:  # (k,) array or a float
    """(k,) ``weights @ a`` for (N,) ``weights`` and (N, k) or (N,) ``a`` ((k,) or a float),
    one sequential float64 pass: the same bits whatever the thread count (see
    :func:`column_sums`)."""
    w = np.asarray(weights, dtype=np.float64)
    a = np.asarray(a)
    if a.ndim == 1:
        return float(_weighted_column_sums(a[:, None], w)[0])
    return _weighted_column_sums(a, w)


@njit(cache=True)
def _weighted_column_sums(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(k,) float64 sums of the rows of (N, k) ``a``, each times ``w[n]`` (all ones when ``w``
    is empty), added in row order."""
    out = np.zeros(a.shape[1])
    for n in range(a.shape[0]):
        weight = 1.0 if w.shape[0] == 0 else w[n]  # times 1.0 is exact: plain sums
        for j in range(a.shape[1]):
            out[j] += weight * a[n, j]
    return out


def column_mean(a: np.ndarray) -> np.ndarray:
    """(k,) means of the columns of (N, k) ``a``."""
    return column_sums(a) / len(a)


def column_min(a: np.ndarray) -> np.ndarray:
    """(k,) minima of the columns of (N, k) ``a``."""
    return np.array([a[:, i].min() for i in range(a.shape[1])])


def column_max(a: np.ndarray) -> np.ndarray:
    """(k,) maxima of the columns of (N, k) ``a``."""
    return np.array([a[:, i].max() for i in range(a.shape[1])])


def row_sq_norms(a: np.ndarray) -> np.ndarray:
    """(N,) squared Euclidean norms of the rows of (N, k) ``a``."""
    return np.einsum("ij,ij->i", a, a)


@njit(cache=True)
def centred_scatter(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(3, 3) scatter matrix ``sum (p - centre)(p - centre)^T`` of (N, 3) points, no temporaries."""
    s = np.zeros((3, 3))
    for n in range(points.shape[0]):
        x = points[n, 0] - centre[0]
        y = points[n, 1] - centre[1]
        z = points[n, 2] - centre[2]
        s[0, 0] += x * x
        s[0, 1] += x * y
        s[0, 2] += x * z
        s[1, 1] += y * y
        s[1, 2] += y * z
        s[2, 2] += z * z
    s[1, 0] = s[0, 1]
    s[2, 0] = s[0, 2]
    s[2, 1] = s[1, 2]
    return s


@njit(cache=True)
def max_sq_distance(points: np.ndarray, centre: np.ndarray) -> float:
    """Largest squared distance from (3,) ``centre`` to a row of (N, 3) ``points``."""
    best = 0.0
    for n in range(points.shape[0]):
        x = points[n, 0] - centre[0]
        y = points[n, 1] - centre[1]
        z = points[n, 2] - centre[2]
        best = max(best, x * x + y * y + z * z)
    return best


def top_mean(values: np.ndarray, fraction: float) -> float:
    """The mean of the largest ``ceil(fraction * N)`` of ``values`` (N,), at least one: the object
    score of the detectors that average their top point or step scores (a single max is hostage
    to one stray value)."""
    values = np.asarray(values)
    k = max(1, int(np.ceil(fraction * len(values))))
    return float(np.partition(values, len(values) - k)[len(values) - k:].mean())
