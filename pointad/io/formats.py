"""``read_cloud`` / ``write_cloud``: pick the format from the file extension.

Every problem with a file surfaces as one :class:`InputError` whose message starts with the
path, including errors raised inside plyfile, tifffile, trimesh or numpy, so the CLI can print
it as a single line.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pointad.errors import InputError
from pointad.io.atomic import atomic_write
from pointad.io.cloud import Cloud
from pointad.io.mesh import read_mesh
from pointad.io.npy import read_npy, write_npy
from pointad.io.npz import read_npz, write_npz
from pointad.io.pcd import read_pcd, write_pcd
from pointad.io.ply import read_ply, write_ply
from pointad.io.text import read_text, write_text
from pointad.io.tiff import read_tiff, write_tiff
from pointad.validation import check_number, check_seed, path_name

_MESH_EXTENSIONS = (".obj", ".stl", ".off", ".glb", ".gltf")

# extension -> (format name for messages, reader(path) -> Cloud)
_READERS: dict[str, tuple[str, Callable[[Path], Cloud]]] = {
    ".ply": ("PLY", read_ply),
    ".pcd": ("PCD", read_pcd),
    ".xyz": ("text", read_text),
    ".txt": ("text", read_text),
    ".csv": ("CSV", read_text),
    ".npy": ("NPY", read_npy),
    ".npz": ("NPZ", read_npz),
    ".tiff": ("TIFF", read_tiff),
    ".tif": ("TIFF", read_tiff),
}
# extension -> (format name, writer(tmp_path, cloud, binary) -> None)
_WRITERS: dict[str, tuple[str, Callable[[Path, Cloud, bool], None]]] = {
    ".ply": ("PLY", lambda p, c, binary: write_ply(p, c, binary=binary)),
    ".pcd": ("PCD", lambda p, c, binary: write_pcd(p, c, binary=binary)),
    ".xyz": ("text", lambda p, c, binary: write_text(p, c)),
    ".txt": ("text", lambda p, c, binary: write_text(p, c)),
    ".csv": ("CSV", lambda p, c, binary: write_text(p, c, delimiter=",", header=True)),
    ".npy": ("NPY", lambda p, c, binary: write_npy(p, c)),
    ".npz": ("NPZ", lambda p, c, binary: write_npz(p, c)),
    ".tiff": ("TIFF", lambda p, c, binary: write_tiff(p, c)),
    ".tif": ("TIFF", lambda p, c, binary: write_tiff(p, c)),
}

SUPPORTED_READ = tuple(_READERS) + _MESH_EXTENSIONS
SUPPORTED_WRITE = tuple(_WRITERS)


def read_cloud(path: str | os.PathLike[str], *, mesh_points: int = 20000, seed: int = 0) -> Cloud:
    """Read a point cloud, or sample one from a mesh, choosing the format by extension.

    Args:
        path: file to read; the extension (any case) is one of :data:`SUPPORTED_READ`.
        mesh_points: number of points sampled on a mesh's surface (meshes only).
        seed: seed of the surface sampling; the same seed gives the same points (meshes only).

    Returns:
        A :class:`Cloud` with at least one point. NaN/inf coordinates are kept as read.

    Raises:
        InputError: missing file, directory, unknown extension, unreadable or corrupt content,
            labels other than 0/1, or no points; the message starts with the path.
    """
    check_number(mesh_points, "mesh_points", low=1, integer=True)
    check_seed(seed)
    name = path_name(path)  # messages show the path as the user wrote it
    path = Path(path)
    if not path.exists():
        raise InputError(f"{name}: file not found")
    if path.is_dir():
        raise InputError(f"{name}: is a directory, expected a file")
    ext = path.suffix.lower()
    reader: Callable[[Path], Cloud]
    if ext in _MESH_EXTENSIONS:
        kind, reader = "mesh", lambda p: read_mesh(p, mesh_points=mesh_points, seed=seed)
    elif ext in _READERS:
        kind, reader = _READERS[ext]
    else:
        raise InputError(_unsupported(name, ext, SUPPORTED_READ, "read"))
    try:
        cloud = reader(path)
    except InputError as exc:
        raise _with_path(name, exc) from exc
    except MemoryError:
        raise
    except Exception as exc:  # plyfile/tifffile/trimesh/numpy: any failure means a bad file
        raise InputError(f"{name}: cannot read {kind} file: {_one_line(exc)}") from exc
    if len(cloud) == 0:
        raise InputError(f"{name}: contains no points")
    return cloud


def write_cloud(path: str | os.PathLike[str], cloud: Cloud, *, binary: bool = True,
                overwrite: bool = False) -> Path:
    """Write ``cloud`` in the format of the extension of ``path``, atomically.

    Args:
        path: target; the extension (any case) is one of :data:`SUPPORTED_WRITE`. Missing
            parent directories are created.
        cloud: the :class:`Cloud` to write; it must have at least one point.
        binary: binary (default) or ascii encoding; only PLY and PCD have both.
        overwrite: replace an existing file; otherwise an existing file is an error.

    What each format keeps: PLY points, normals, labels, fields (float32); PCD the same
    (float32) plus the grid; .xyz/.txt/.csv/.npy points, normals, labels; .npz everything;
    .tif/.tiff the points of an organized cloud (float32) and its grid.

    Returns:
        The written path.

    Raises:
        InputError: unknown extension, empty or non-organized (TIFF) cloud, an existing file
            without ``overwrite``, or a failed write; the message starts with the path.
    """
    name = path_name(path)  # messages show the path as the user wrote it
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in _WRITERS:
        raise InputError(_unsupported(name, ext, SUPPORTED_WRITE, "write"))
    if not isinstance(cloud, Cloud):
        raise InputError(f"{name}: expected a pointad.io.Cloud to write, "
                         f"got {type(cloud).__name__}")
    if len(cloud) == 0:
        # A file that read_cloud would refuse is not worth writing.
        raise InputError(f"{name}: refusing to write a cloud with no points")
    kind, writer = _WRITERS[ext]
    try:
        with atomic_write(name, overwrite=overwrite) as tmp:
            writer(tmp, cloud, binary)
    except InputError as exc:
        raise _with_path(name, exc) from exc
    except MemoryError:
        raise
    except Exception as exc:  # OSError (disk full, permissions) or a library failure
        raise InputError(f"{name}: cannot write {kind} file: {_one_line(exc)}") from exc
    return path


def _unsupported(name: str, ext: str, supported: tuple[str, ...], verb: str) -> str:
    return (f"{name}: cannot {verb} files with extension {ext or '(none)'}; "
            f"supported: {', '.join(supported)}")


def _with_path(name: str, exc: InputError) -> InputError:
    """The same error with its message starting with the path (format modules omit it)."""
    message = _one_line(exc)
    if message.startswith(name):
        return exc
    return InputError(f"{name}: {message}")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
