"""Validation of arrays and parameters shared by the API and the CLI (one message per problem)."""
from __future__ import annotations

import math
import numbers
import os

import numpy as np

from pointad.errors import InputError
from pointad.reductions import centred_scatter, column_mean, row_sq_norms

#: Largest coordinate magnitude accepted for processing: float32 (PCD and TIFF files, the torch
#: detectors) holds squared distances up to ~3e38, so coordinates stay below 1e18. Any unit works
#: below it (the synthesis is invariant under uniform scaling).
MAX_COORDINATE = 1e18


def as_points(points, name: str = "points", min_points: int = 1,
              finite: bool = True) -> np.ndarray:
    """Return ``points`` as a float64 array of shape (N, 3), or raise :class:`InputError`.

    Rejects wrong shapes, non-numeric data (strings, booleans, complex numbers, a torch tensor
    that requires grad), fewer than ``min_points`` rows and, when ``finite``, NaN/inf
    coordinates and coordinates beyond :data:`MAX_COORDINATE` in magnitude.
    """
    try:  # RuntimeError: a torch tensor that requires grad (torch says: detach it)
        arr = np.asarray(points)
        if arr.dtype.kind == "O":
            arr = arr.astype(np.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        message = " ".join(str(exc).split())
        raise InputError(f"{name} must be numeric, got {type(points).__name__}: {message}") \
            from None
    if arr.dtype.kind not in "iuf":
        raise InputError(f"{name} must be real numbers, got {_dtype_word(arr.dtype)}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise InputError(f"{name} must have shape (N, 3), got {arr.shape}")
    if finite and arr.size:
        # Two cheap reductions (NaN propagates); locate the rows only when needed.
        lo, hi = float(arr.min()), float(arr.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            bad = ~np.isfinite(arr).all(axis=1)
            first = int(np.flatnonzero(bad)[0])
            raise InputError(f"{name} contain {int(bad.sum())} non-finite (NaN/inf) rows, "
                             f"first at index {first}")
        peak = max(-lo, hi)
        if peak > MAX_COORDINATE:
            raise InputError(f"{name} have coordinates up to {peak:.3g} in magnitude, beyond the "
                             f"supported {MAX_COORDINATE:.0e}: express them in a larger unit")
    if len(arr) < min_points:
        raise InputError(f"{name} has {len(arr)} points, at least {min_points} are needed")
    return arr


def _dtype_word(dtype: np.dtype) -> str:
    """How an error names a non-numeric array's dtype."""
    return {"b": "booleans", "c": "complex numbers", "U": "strings", "S": "bytes"}.get(
        dtype.kind, f"dtype {dtype}")


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
    if not np.isfinite(scatter).all():  # NaN/inf or huge points: as_points names the problem
        as_points(points, name)
        raise InputError(f"{name} are too far apart: their scatter overflows")
    sv = np.sqrt(np.clip(np.linalg.eigvalsh(scatter), 0, None))[::-1]
    # Relative to the coordinates' own magnitude (their rounding error), never to 1 length unit:
    # a part measured in tiny units is as good as the same part in millimetres.
    if sv[0] <= 1e-12 * np.abs(points).max() * np.sqrt(len(points)):
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
    # An integer is finite (and may be too large for np.isfinite: 2**64).
    if not isinstance(value, numbers.Integral) and not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise InputError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise InputError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return value



def check_range(value, name: str, **bounds) -> tuple:
    """``(lo, hi)`` from a two-item ``value`` whose items pass :func:`check_number` with
    ``bounds`` (named ``"<name> (lo)"`` / ``"<name> (hi)"``) and ``lo <= hi``."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise InputError(f"{name} must be a (lo, hi) pair, got {value!r}")
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


_TRUE, _FALSE = ("true", "1"), ("false", "0")


def parse_bool(value, name: str) -> bool:
    """``value`` as a bool: a bool, the integers 1/0, or the words true/false/1/0 (any case, as
    a command line gives them); anything else raises :class:`InputError` naming ``name``."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise InputError(f"{name} must be true or false (or 1/0), got {value!r}")


def check_grid(grid_shape, grid_index, n_points: int) -> tuple[tuple[int, int], np.ndarray]:
    """``((H, W), grid_index)`` of an organized cloud of ``n_points`` points, checked: two positive
    integers, and one distinct pixel in ``[0, H*W)`` per point (int64); else
    :class:`InputError`."""
    try:
        shape = tuple(np.asarray(grid_shape).tolist())
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                  for s in shape):
        raise InputError(f"grid_shape must be two positive integers (H, W), got {grid_shape!r}")
    index = np.asarray(grid_index)
    if index.ndim != 1 or (index.size and index.dtype.kind not in "iu"):
        raise InputError(f"grid_index must be a 1-D integer array, got {index.dtype} "
                         f"{index.shape}")
    index = index.astype(np.int64)
    if len(index) != n_points:
        raise InputError(f"grid_index has {len(index)} entries but there are {n_points} points")
    size = shape[0] * shape[1]
    if index.size and (index.min() < 0 or index.max() >= size):
        raise InputError(f"grid_index has values outside [0, {size}) for grid {shape}")
    # Two points in one pixel cannot be written back to an image.
    if len(np.unique(index)) != len(index):
        raise InputError("grid_index has repeated pixels")
    return (shape[0], shape[1]), index


def as_grid(grid, n_points: int, name: str = "grid") -> tuple[tuple[int, int], np.ndarray] | None:
    """The ``((H, W), grid_index)`` pair an organized cloud's synthesis takes (None passes),
    checked by :func:`check_grid`; else :class:`InputError` naming ``name``."""
    if grid is None:
        return None
    if isinstance(grid, (str, bytes)) or not hasattr(grid, "__len__") or len(grid) != 2:
        size = f" of {len(grid)} items" if hasattr(grid, "__len__") else ""
        raise InputError(f"{name} must be ((H, W), grid_index) or None, got "
                         f"{type(grid).__name__}{size}")
    try:
        return check_grid(grid[0], grid[1], n_points)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None


#: Largest seed: an int64 (numpy, numba and torch generators all take it, with room for the
#: small offsets derived seeds add).
MAX_SEED = 2**63 - 1


def check_seed(value, name: str = "seed") -> int:
    """Return ``value`` if it is an integer seed in ``[0, MAX_SEED]``, else raise
    :class:`InputError`."""
    return check_number(value, name, low=0, high=MAX_SEED, integer=True)


def path_name(path, name: str = "path") -> str:
    """``os.fspath(path)`` (how messages show a path: as the caller wrote it) for a ``str`` or
    ``os.PathLike`` path; anything else (None, a number, an open file) raises
    :class:`InputError` naming ``name``."""
    if isinstance(path, (str, os.PathLike)):
        text = os.fspath(path)
        if isinstance(text, str) and text:
            return text
    raise InputError(f"{name} must be a file path (str or os.PathLike), got {path!r}"
                     if isinstance(path, (str, bytes)) or path is None else
                     f"{name} must be a file path (str or os.PathLike), got "
                     f"{type(path).__name__}")
