"""The in-memory point cloud every reader returns and every writer takes.

A :class:`Cloud` is plain numpy arrays in one record; coordinates are in the units of the file
(no scaling is ever applied). :class:`CloudInput` (from :func:`as_cloud_input`) is the
validated view of any cloud-like input, finite points and the pixel grid, that detectors and the
renderer take. Column layouts shared by the text and ``.npy`` formats live here too,
so both formats agree on what 3, 4, 6 and 7 columns mean.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

from pointad.errors import InputError
from pointad.validation import as_points, check_grid

# Names the formats use for points, normals, labels and the grid; a field may not take one,
# otherwise it would silently replace (or be replaced by) that data on a round trip.
RESERVED_NAMES = frozenset({
    "x", "y", "z", "nx", "ny", "nz", "normal_x", "normal_y", "normal_z", "label", "labels",
    "points", "normals", "grid_shape", "grid_index",
})
# Field names must survive PLY/PCD headers (space separated) and npz keys.
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Meaning of the columns of a (N, k) table in .xyz/.txt/.csv/.npy files.
COLUMN_LAYOUTS = {3: "xyz", 4: "xyz+label", 6: "xyz+normals", 7: "xyz+normals+label"}


@dataclass(eq=False)  # eq=False: comparing numpy arrays with == has no single truth value
class Cloud:
    """A point cloud with optional normals, 0/1 anomaly labels, scalar fields and image grid.

    Attributes:
        points: (N, 3) float64 coordinates, in the units of the source file.
        normals: (N, 3) float64 normals, or None. Not renormalised: stored as read.
        labels: (N,) uint8, 0 = normal and 1 = anomalous, or None.
        fields: name -> (N,) numeric array of extra per-point scalars ("soft_label", ...).
        grid_shape: (H, W) of the image an organized cloud came from, or None.
        grid_index: (N,) int64 row-major flat index into H*W of each point, or None.

    The constructor converts the arrays to those dtypes and raises :class:`InputError` when
    their lengths or shapes disagree. NaN/inf are kept: checking them is the caller's job.
    """

    points: np.ndarray
    normals: np.ndarray | None = None
    labels: np.ndarray | None = None
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    grid_shape: tuple[int, int] | None = None
    grid_index: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.points = _float_rows(self.points, "points")
        n = len(self.points)
        if self.normals is not None:
            self.normals = _float_rows(self.normals, "normals")
            _check_length(self.normals, n, "normals")
        if self.labels is not None:
            self.labels = as_labels(self.labels, "labels")
            _check_length(self.labels, n, "labels")
        self.fields = {name: _field(name, values, n) for name, values in dict(self.fields).items()}
        self._check_grid(n)

    def __len__(self) -> int:
        return len(self.points)

    @property
    def organized(self) -> bool:
        """True when the cloud carries the (H, W) image grid its points came from."""
        return self.grid_shape is not None

    def _check_grid(self, n: int) -> None:
        if (self.grid_shape is None) != (self.grid_index is None):
            raise InputError("grid_shape and grid_index must be given together")
        if self.grid_shape is None:
            return
        self.grid_shape, self.grid_index = check_grid(self.grid_shape, self.grid_index, n)


@dataclass
class CloudInput:
    """What a detector or a renderer sees of one cloud: (N, 3) float64 finite ``points`` and,
    for organized scans, ``grid_shape`` (H, W) and ``grid_index`` (N,) pixel indices (else
    None). Built by :func:`as_cloud_input`."""

    points: np.ndarray
    grid_shape: tuple[int, int] | None = None
    grid_index: np.ndarray | None = None

    @property
    def organized(self) -> bool:
        """True when the cloud carries the (H, W) image grid its points came from."""
        return self.grid_shape is not None


class _HasPoints(Protocol):
    """Anything with ``points``: a :class:`Cloud`, a dataset ``Sample``, a :class:`CloudInput`."""

    @property
    def points(self) -> ArrayLike: ...


def as_cloud_input(item: ArrayLike | _HasPoints, name: str = "points") -> CloudInput:
    """Accept an (N, 3) array or anything with ``.points`` (and optional ``grid_shape`` /
    ``grid_index``: a :class:`Cloud`, a dataset ``Sample`` or a :class:`CloudInput`); at least
    4 finite points, else :class:`InputError`."""
    if hasattr(item, "points"):
        grid_shape = getattr(item, "grid_shape", None)
        grid_index = getattr(item, "grid_index", None)
        pts = as_points(item.points, name=name, min_points=4)
        if grid_shape is not None and grid_index is not None:
            return CloudInput(pts, tuple(grid_shape), np.asarray(grid_index, dtype=np.int64))
        return CloudInput(pts)
    return CloudInput(as_points(item, name=name, min_points=4))


def _float_rows(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as (N, 3) float64 or raise InputError (NaN is allowed)."""
    return as_points(values, name, min_points=0, finite=False)


def check_float32(values: np.ndarray, what: str, fmt: str) -> None:
    """Raise :class:`InputError` when finite ``values`` exceed float32 (which ``fmt`` stores):
    they would be written as inf."""
    finite = values[np.isfinite(values)] if values.size else values
    peak = float(np.abs(finite).max()) if finite.size else 0.0
    if peak > float(np.finfo(np.float32).max):
        raise InputError(f"{what} up to {peak:.3g} do not fit the float32 numbers {fmt} stores; "
                         "write .npz instead")


def _check_length(arr: np.ndarray, n: int, name: str) -> None:
    if len(arr) != n:
        raise InputError(f"{name} has {len(arr)} entries but there are {n} points")


def _field(name: Any, values: ArrayLike, n: int) -> np.ndarray:
    if not isinstance(name, str) or not _FIELD_NAME.match(name):
        raise InputError(f"field name {name!r} must be letters, digits and '_' "
                         "(not starting with a digit)")
    if name in RESERVED_NAMES:
        raise InputError(f"field name {name!r} is reserved for points, normals, labels or the grid")
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.dtype.kind not in "biuf":
        raise InputError(f"field {name!r} must be a 1-D numeric array, got {arr.dtype} {arr.shape}")
    _check_length(arr, n, f"field {name!r}")
    return arr


def as_labels(values: ArrayLike, name: str = "label") -> np.ndarray:
    """Return 0/1 labels as (N,) uint8; raise InputError naming a value that is neither."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "biuf":
        raise InputError(f"{name} must be numeric 0/1, got {arr.dtype}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        first = arr[np.flatnonzero(bad)[0]].item()
        raise InputError(f"{name} has values other than 0/1 "
                         f"({int(bad.sum())} of {arr.size}, e.g. {first!r})")
    return arr.astype(np.uint8)


def cloud_from_columns(table: np.ndarray) -> Cloud:
    """Build a Cloud from a (N, k) table whose k is a key of :data:`COLUMN_LAYOUTS`.

    3 = xyz, 4 = xyz + label, 6 = xyz + normals, 7 = xyz + normals + label.
    """
    if table.ndim != 2 or table.shape[1] not in COLUMN_LAYOUTS:
        expected = ", ".join(f"{c} ({m})" for c, m in COLUMN_LAYOUTS.items())
        got = f"{table.shape[1]} columns" if table.ndim == 2 else f"shape {table.shape}"
        raise InputError(f"has {got}; expected {expected} columns")
    k = table.shape[1]
    normals = table[:, 3:6] if k >= 6 else None
    labels = as_labels(table[:, -1], f"column {k} (label)") if k in (4, 7) else None
    return Cloud(points=table[:, :3], normals=normals, labels=labels)


def cloud_to_columns(cloud: Cloud) -> np.ndarray:
    """Return the (N, k) float64 table of xyz [+ normals] [+ label] (fields are not included)."""
    parts = [cloud.points]
    if cloud.normals is not None:
        parts.append(cloud.normals)
    if cloud.labels is not None:
        parts.append(cloud.labels[:, None].astype(np.float64))
    return np.hstack(parts)


def column_names(cloud: Cloud) -> list[str]:
    """Header names of :func:`cloud_to_columns` columns: x,y,z[,nx,ny,nz][,label]."""
    names = ["x", "y", "z"]
    if cloud.normals is not None:
        names += ["nx", "ny", "nz"]
    if cloud.labels is not None:
        names.append("label")
    return names


def cloud_from_fields(columns: Mapping[str, ArrayLike] | np.ndarray, xyz_names: Sequence[str],
                      normal_names: Sequence[str], where: str, *, label_name: str = "label",
                      grid_shape: tuple[int, int] | None = None,
                      grid_index: np.ndarray | None = None) -> Cloud:
    """Build a :class:`Cloud` from named per-point columns (a dict or a structured array).

    ``xyz_names``/``normal_names`` name the coordinate and normal columns in the file's
    convention; every other column except ``label_name`` (and padding) becomes a field.
    ``where`` ("PCD", "vertex element") starts the error messages.
    """
    # A structured array names its columns in its dtype (a plain array has none).
    names = list(columns.dtype.names or ()) if isinstance(columns, np.ndarray) else list(columns)
    missing = [c for c in xyz_names if c not in names]
    if missing:
        raise InputError(f"{where} lacks coordinate(s) {', '.join(missing)}")

    def stack(cols: Sequence[str]) -> np.ndarray:
        return np.column_stack([np.asarray(columns[c], dtype=np.float64) for c in cols])

    normals = None
    present = [c for c in normal_names if c in names]
    if present:
        if len(present) != 3:
            raise InputError(f"{where} has normals {', '.join(present)} but not all of "
                             f"{', '.join(normal_names)}")
        normals = stack(normal_names)
    labels = as_labels(columns[label_name], f"{where} label") if label_name in names else None
    used = set(xyz_names) | set(normal_names) | {label_name}
    # Multi-valued columns (a PCD histogram with COUNT > 1) and padding are not per-point scalars.
    fields = {n: np.array(columns[n]) for n in names
              if n not in used and not n.startswith("_pad") and np.ndim(columns[n]) == 1}
    return Cloud(points=stack(xyz_names), normals=normals, labels=labels, fields=fields,
                 grid_shape=grid_shape, grid_index=grid_index)
