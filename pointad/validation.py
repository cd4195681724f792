"""Validation of arrays and parameters shared by the API and the CLI (one message per problem)."""
from __future__ import annotations

import numbers

import numpy as np

from pointad.errors import InputError
from pointad.reductions import centred_scatter, column_mean, row_sq_norms


def as_points(points, name: str = "points", min_points: int = 1,
              finite: bool = True) -> np.ndarray:
    """Return ``points`` as a float64 array of shape (N, 3), or raise :class:`InputError`.

    Rejects wrong shapes, non-numeric data, fewer than ``min_points`` rows and, when ``finite``,
    NaN/inf coordinates.
    """
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric, got {type(points).__name__}: {exc}") from None
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise InputError(f"{name} must have shape (N, 3), got {arr.shape}")
    # One cheap reduction; locate the rows only when needed.
    if finite and not np.isfinite(arr).all():
        bad = ~np.isfinite(arr).all(axis=1)
        first = int(np.flatnonzero(bad)[0])
        raise InputError(f"{name} contain {int(bad.sum())} non-finite (NaN/inf) rows, "
                         f"first at index {first}")
    if len(arr) < min_points:
        raise InputError(f"{name} has {len(arr)} points, at least {min_points} are needed")
    return arr


def as_normals(normals, n_points: int, name: str = "normals") -> np.ndarray:
    """Return user normals as unit float64 (N, 3); raise :class:`InputError` on shape or zero
    length."""
    arr = as_points(normals, name=name)
    if len(arr) != n_points:
        raise InputError(f"{name} has {len(arr)} rows but there are {n_points} points")
    length = np.sqrt(row_sq_norms(arr))
    if (length < 1e-12).any():
        raise InputError(f"{name} has {int((length < 1e-12).sum())} zero-length vectors")
    if np.abs(length - 1.0).max() < 1e-9:  # already unit: skip a copy of the whole array
        return arr
    return arr / length[:, None]


def check_not_degenerate(points: np.ndarray, name: str = "points") -> None:
    """Raise :class:`InputError` when the points are all identical or all on one line (no
    surface)."""
    # Singular values from the 3x3 scatter matrix: one pass instead of an SVD of the cloud.
    scatter = centred_scatter(points, column_mean(points))
    sv = np.sqrt(np.clip(np.linalg.eigvalsh(scatter), 0, None))[::-1]
    if sv[0] <= 1e-12 * max(1.0, np.abs(points).max()) * np.sqrt(len(points)):
        raise InputError(f"{name} are all identical: there is no surface to work on")
    if sv[1] <= 1e-7 * sv[0]:
        raise InputError(f"{name} are all collinear: there is no surface to work on")


def check_number(value, name: str, *, low=None, high=None, low_open=False, high_open=False,
                 integer=False):
    """Return ``value`` if it is a finite number within the bounds, else raise :class:`InputError`.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``.
    """
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InputError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not np.isfinite(value):
        raise InputError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise InputError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise InputError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return value



def check_range(value, name: str, **bounds) -> tuple:
    """``(lo, hi)`` from a two-item ``value`` whose items pass :func:`check_number` with
    ``bounds`` (named ``"<name> (lo)"`` / ``"<name> (hi)"``) and ``lo <= hi``."""
    lo = check_number(value[0], f"{name} (lo)", **bounds)
    hi = check_number(value[1], f"{name} (hi)", **bounds)
    if lo > hi:
        raise InputError(f"{name} range must have lo <= hi, got ({lo}, {hi})")
    return lo, hi

def check_choice(value, name: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise :class:`InputError` listing them."""
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value
