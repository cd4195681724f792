"""Fast reductions over (N, k) point arrays with small k.

numpy reduces ``axis=0`` of a C-ordered (N, 3) array three elements at a time, 10-20x slower than
a BLAS matrix-vector product or a reduction over a contiguous column; on million-point clouds
that difference dominates the whole synthesis. These helpers take (N, k) and return (k,) or (N,).
"""
from __future__ import annotations

import numpy as np


def column_sums(a: np.ndarray) -> np.ndarray:
    """(k,) sums of the columns of (N, k) ``a`` (one BLAS gemv)."""
    return a.T @ np.ones(len(a), dtype=a.dtype)


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
