"""Input checks shared by the metrics: labels, scores and their pairing (one message per issue)."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.errors import InputError


def as_scores(scores: ArrayLike, name: str = "scores") -> np.ndarray:
    """Return ``scores`` as a flat float64 array, or raise :class:`InputError` on NaN / non-numbers.

    +-inf is allowed: ranking metrics only compare scores, and infinite scores still rank.
    """
    try:
        arr = np.asarray(scores, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric, got {type(scores).__name__}: {exc}") from None
    nan = np.isnan(arr)
    if nan.any():
        raise InputError(f"{name} has {int(nan.sum())} NaN values, first at index "
                         f"{int(np.flatnonzero(nan)[0])}")
    return arr


def as_binary(labels: ArrayLike, name: str = "labels") -> np.ndarray:
    """Return ``labels`` (bool, or numbers equal to 0/1) as a flat bool array; raise otherwise."""
    arr = np.asarray(labels)
    if arr.dtype == bool:
        return arr.ravel()
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"{name} must be bool or 0/1 numbers, got dtype {arr.dtype}")
    arr = arr.ravel()
    one = arr == 1
    bad = ~(one | (arr == 0))
    if bad.any():
        raise InputError(f"{name} must be 0/1 or bool, found {arr[bad][0]!r} at index "
                         f"{int(np.flatnonzero(bad)[0])}")
    return one


def labels_and_scores(labels: ArrayLike, scores: ArrayLike,
                      metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(labels (N,) bool, scores (N,) float64)`` for a ranking metric named ``metric``.

    Both inputs may have any shape as long as it is the same one; they are flattened.
    Raises :class:`InputError` for mismatched sizes, empty input, NaN scores, non-binary labels or
    labels of a single class (no ranking metric is defined then).
    """
    y_shape, s_shape = np.shape(labels), np.shape(scores)
    y, s = as_binary(labels), as_scores(scores)
    if y.size != s.size:
        raise InputError(f"labels has {y.size} elements but scores has {s.size}")
    if y_shape != s_shape:
        raise InputError(f"labels has shape {y_shape} but scores has shape {s_shape}")
    if y.size == 0:
        raise InputError(f"labels and scores are empty: {metric} needs at least one element")
    n_pos = int(np.count_nonzero(y))
    if n_pos == 0 or n_pos == y.size:
        kind = "anomalous (1)" if n_pos else "normal (0)"
        raise InputError(f"labels are all {kind}: {metric} is undefined when all labels are equal")
    return y, s
