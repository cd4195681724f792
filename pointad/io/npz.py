"""NumPy ``.npz`` archives: the one format that stores every part of a Cloud.

Keys: ``points`` (N, 3) (required), ``normals`` (N, 3), ``labels`` (N,) 0/1, ``grid_shape`` (2,)
and ``grid_index`` (N,); any other 1-D numeric key of length N becomes a field. Other keys
(metadata of another shape) are ignored.
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

from pointad.errors import InputError
from pointad.io.cloud import Cloud

_KNOWN = ("points", "normals", "labels", "grid_shape", "grid_index")


def read_npz(path: str | os.PathLike[str]) -> Cloud:
    """Read an ``.npz`` archive with a ``points`` key into a Cloud."""
    # np.load falls back to unpickling anything that is not zip or .npy, which would give a
    # misleading "pickled data" error for a corrupt archive.
    if not zipfile.is_zipfile(path):
        raise InputError("is not an .npz (zip) archive")
    # allow_pickle=False: an archive must never run code when it is loaded.
    with np.load(path, allow_pickle=False) as archive:
        if "points" not in archive.files:
            raise InputError(f"has no 'points' array (keys: {', '.join(archive.files) or 'none'})")
        arrays = {key: archive[key] for key in archive.files}
    points = arrays["points"]
    n = len(points) if points.ndim else -1
    fields = {key: value for key, value in arrays.items()
              if key not in _KNOWN and value.ndim == 1 and len(value) == n
              and value.dtype.kind in "biuf"}
    return Cloud(points=points, normals=arrays.get("normals"), labels=arrays.get("labels"),
                 fields=fields, grid_shape=arrays.get("grid_shape"),
                 grid_index=arrays.get("grid_index"))


def write_npz(path: str | os.PathLike[str], cloud: Cloud) -> None:
    """Write points, normals, labels, grid and all fields as an uncompressed ``.npz``."""
    arrays = {"points": cloud.points}
    if cloud.normals is not None:
        arrays["normals"] = cloud.normals
    if cloud.labels is not None:
        arrays["labels"] = cloud.labels
    if cloud.grid_shape is not None and cloud.grid_index is not None:  # cloud.organized
        arrays["grid_shape"] = np.asarray(cloud.grid_shape, dtype=np.int64)
        arrays["grid_index"] = cloud.grid_index
    arrays.update(cloud.fields)  # field names never clash with the keys above (Cloud checks)
    # The archive np.savez writes (uncompressed zip64 members "<key>.npy"), but not through
    # np.savez(f, **arrays): a field named "file" or "allow_pickle" would be taken for one of
    # its parameters. (And no '.npz' is appended to a name without it, as np.savez would.)
    with zipfile.ZipFile(path, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in arrays.items():
            with zf.open(f"{key}.npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
