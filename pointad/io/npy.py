"""NumPy ``.npy`` arrays: a (N, k) point table or an organized (H, W, 3) xyz image.

(N, k) columns mean 3 = xyz, 4 = xyz + label, 6 = xyz + normals, 7 = xyz + normals + label.
In an (H, W, 3) image, pixels whose xyz are all zero are missing (as in MVTec 3D-AD), and the
kept points remember their pixel in ``grid_shape``/``grid_index``.
"""
from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import Literal, overload

import numpy as np

from pointad.errors import InputError
from pointad.io.cloud import Cloud, cloud_from_columns, cloud_to_columns
from pointad.validation import path_name


def read_npy(path: str | os.PathLike[str]) -> Cloud:
    """Read a (N, 3|4|6|7) table or an (H, W, 3) organized xyz image into a Cloud."""
    # allow_pickle=False: a .npy must never run code when it is loaded.
    array = np.load(path, allow_pickle=False)
    if not isinstance(array, np.ndarray):
        array.close()  # np.load opened an archive
        raise InputError("holds an .npz archive, not a single array; rename it to .npz")
    if array.dtype.kind not in "iuf":  # booleans are no coordinates
        raise InputError(f"holds a {array.dtype} array, expected real numbers")
    array = array.astype(np.float64)
    if array.ndim == 3 and array.shape[2] == 3:
        return organized_to_cloud(array)
    if array.ndim != 2:
        raise InputError(f"has shape {array.shape}; expected (N, 3|4|6|7) or (H, W, 3)")
    return cloud_from_columns(array)


def organized_to_cloud(image: np.ndarray) -> Cloud:
    """Cloud of the (H, W, 3) pixels whose xyz are not all zero (zero marks a missing pixel)."""
    height, width, _ = image.shape
    flat = image.reshape(-1, 3)
    index = np.flatnonzero((flat != 0).any(axis=1))
    return Cloud(points=flat[index], grid_shape=(height, width), grid_index=index)


def write_npy(path: str | os.PathLike[str], cloud: Cloud) -> None:
    """Write xyz [+ normals] [+ label] as a (N, k) float64 array (fields and grid are dropped)."""
    # A file object, because np.save given a name without '.npy' would append one.
    with open(path, "wb") as f:
        np.save(f, cloud_to_columns(cloud), allow_pickle=False)


@overload
def load_numpy(path: str | os.PathLike[str], *, archive: Literal[False],
               what: str) -> np.ndarray: ...


@overload
def load_numpy(path: str | os.PathLike[str], *, archive: Literal[True],
               what: str) -> dict[str, np.ndarray]: ...


def load_numpy(path: str | os.PathLike[str], *, archive: bool,
               what: str) -> np.ndarray | dict[str, np.ndarray]:
    """The array of a ``.npy`` file (``archive=False``) or the arrays of an ``.npz`` archive
    (``archive=True``, a dict), read without unpickling anything. Every problem (missing, empty,
    truncated or corrupt file, the other kind of file) is one :class:`InputError` naming the file:
    ``"<path>: not <what> (<problem>)"``."""
    name = path_name(path)
    if not Path(name).is_file():
        raise InputError(f"{name}: file not found")
    problem = ""
    if Path(name).stat().st_size == 0:
        problem = "the file is empty"
    elif archive and not zipfile.is_zipfile(name):  # np.load would try to unpickle it
        problem = "not a zip archive: truncated, or another kind of file"
    else:
        try:
            loaded = np.load(name, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded:
                    if archive:
                        return {key: loaded[key] for key in loaded.files}
                    problem = "an .npz archive, not a single .npy array"
            elif archive:
                problem = "a single .npy array, not an .npz archive"
            else:
                return loaded
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            problem = " ".join(str(exc).split()) or type(exc).__name__
    raise InputError(f"{name}: not {what} ({problem})")
