"""PLY point clouds (ascii and binary).

Only the ``vertex`` element is used: a PLY mesh is read as its vertices (faces are ignored).
Vertex properties: ``x y z`` (required), ``nx ny nz`` (normals, all three or none), ``label``
(0/1) and any other scalar property, which becomes an entry of ``Cloud.fields``.

Reading uses plyfile (memory-mapped for binary files), except for the common ascii layout of
a vertex element alone with scalar properties only, which numpy parses ~10x faster than
plyfile's row-by-row reader. Writing is a header plus numpy records or text rows.
"""
from __future__ import annotations

import io
import os
import warnings
from typing import BinaryIO, cast

import numpy as np
from plyfile import PlyData, PlyListProperty

from pointad.errors import InputError
from pointad.io.cloud import Cloud, check_float32, cloud_from_fields
from pointad.io.textrows import write_table

_XYZ = ("x", "y", "z")
_NORMALS = ("nx", "ny", "nz")
# PLY scalar type names (both spellings of the standard) -> numpy dtype
_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_WRITE_TYPES = {"f8": "double", "f4": "float", "u1": "uchar"}
_MAX_HEADER_LINES = 1000  # stop looking for end_header in a file that is not PLY


# ---------------------------------------------------------------- reading


def read_ply(path: str | os.PathLike[str]) -> Cloud:
    """Read the vertices of a PLY file into a Cloud (points and normals as float64)."""
    columns = _read_simple_ascii(path)
    if columns is None:
        columns = _read_with_plyfile(path)
    return cloud_from_fields(columns, _XYZ, _NORMALS, "vertex element")


def _read_with_plyfile(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Scalar vertex properties as name -> (N,) native-endian arrays, read by plyfile; an error
    when data follows the elements the header declares (a wrong count would drop points)."""
    is_ascii = False
    with open(path, "rb") as f:
        for _ in range(_MAX_HEADER_LINES):
            words = f.readline().split()
            if words[:1] in ([b"format"], [b"end_header"], []):
                is_ascii = words[1:2] == [b"ascii"]
                break
    # Ascii: a text stream, so the position after the last element is exact. Binary:
    # mmap="c" (private copy-on-write map): plyfile's non-mmap binary reader goes row by row,
    # ~100x slower. The arrays are copied below so no map outlives this call.
    with (open(path, encoding="ascii", errors="replace") if is_ascii else open(path, "rb")) as f:
        ply = PlyData.read(f, mmap="c")
        rest = f.read()
    if rest.strip():
        counts = ", ".join(f"{e.count} {e.name}" for e in ply.elements)
        extra = (f"{len(str(rest).split())} more values" if is_ascii
                 else f"{len(rest)} more bytes")
        raise InputError(f"holds more data than its header declares ({counts}): {extra} "
                         "follow; the header's counts are wrong")
    if "vertex" not in ply:
        raise InputError("has no 'vertex' element")
    vertex = ply["vertex"]
    names = [p.name for p in vertex.properties if not isinstance(p, PlyListProperty)]
    # Native byte order so later numpy code never meets big-endian arrays from the file.
    return {n: np.array(vertex[n], dtype=vertex[n].dtype.newbyteorder("=")) for n in names}


def _read_simple_ascii(path: str | os.PathLike[str]) -> dict[str, np.ndarray] | None:
    """Fast path: an ascii PLY whose only element is ``vertex``, with scalar properties only.

    Returns name -> (N,) array in the declared types, or None when the file has another
    layout (then plyfile reads it and reports any problem).
    """
    with open(path, "rb") as f:
        layout = _simple_ascii_layout(f)
        if layout is None:
            return None
        count, properties = layout
        text = io.TextIOWrapper(f, encoding="ascii", errors="replace")
        # Every row, not just the declared count: rows beyond it are an error, not dropped.
        with warnings.catch_warnings():  # no rows at all: numpy warns, the count check speaks
            warnings.simplefilter("ignore", UserWarning)
            table = np.loadtxt(text, dtype=np.float64, ndmin=2)
        if table.size == 0:
            table = np.empty((0, len(properties)))
    if len(table) < count:
        raise InputError(f"ascii vertex data is truncated: {len(table)} of {count} "
                         "vertices present")
    if len(table) > count:
        raise InputError(f"holds {len(table)} vertices but its header declares {count}")
    if table.shape[1] != len(properties):
        raise InputError(f"ascii vertices have {table.shape[1]} values; "
                         f"the header declares {len(properties)}")
    return {name: table[:, i].astype(kind) for i, (name, kind) in enumerate(properties)}


def _simple_ascii_layout(f: BinaryIO) -> tuple[int, list[tuple[str, str]]] | None:
    """Parse the header; return (vertex count, [(name, dtype)]) for the fast path, else None.

    Leaves ``f`` at the first data byte.
    """
    if f.readline().strip() != b"ply":
        return None
    is_ascii = False
    # (name, count, [(property, dtype), or None for a list property])
    elements: list[tuple[str, int, list[tuple[str, str] | None]]] = []
    for _ in range(_MAX_HEADER_LINES):
        line = f.readline()
        if not line:
            return None
        words = line.decode("ascii", errors="replace").split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "end_header":
            break
        if words[0] == "format":
            is_ascii = words[1:2] == ["ascii"]
        elif words[0] == "element" and len(words) == 3 and words[2].isdigit():
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property" and elements:
            scalar = len(words) == 3 and words[1] in _PLY_TYPES
            elements[-1][2].append((words[2], _PLY_TYPES[words[1]]) if scalar else None)
        else:
            return None
    else:
        return None
    # The vertex element alone (a mesh's faces go to plyfile, which checks what follows them).
    if not is_ascii or len(elements) != 1 or elements[0][0] != "vertex" \
            or None in elements[0][2]:
        return None
    return elements[0][1], cast("list[tuple[str, str]]", elements[0][2])  # no None: checked


# ---------------------------------------------------------------- writing


def write_ply(path: str | os.PathLike[str], cloud: Cloud, *, binary: bool = True) -> None:
    """Write ``cloud`` as PLY: binary little-endian, or ascii when ``binary`` is False.

    Points and normals are written as double (exact round trip), ``label`` as uchar and each
    field as a float scalar. The grid of an organized cloud is not stored (PLY has no place for it).
    """
    columns = [(n, "f8", cloud.points[:, i]) for i, n in enumerate(_XYZ)]
    if cloud.normals is not None:
        columns += [(n, "f8", cloud.normals[:, i]) for i, n in enumerate(_NORMALS)]
    if cloud.labels is not None:
        columns.append(("label", "u1", cloud.labels))
    columns += [(name, "f4", values) for name, values in cloud.fields.items()]
    for name, values in cloud.fields.items():
        check_float32(np.asarray(values), f"values of field {name!r}", "PLY")
    header = "\n".join([
        "ply",
        f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
        "comment written by pointad",
        f"element vertex {len(cloud.points)}",
        *(f"property {_WRITE_TYPES[kind]} {name}" for name, kind, _ in columns),
        "end_header",
    ]) + "\n"
    records: np.ndarray | None = None
    if binary:
        records = np.empty(len(cloud.points), dtype=[(n, "<" + k) for n, k, _ in columns])
        for name, _, values in columns:
            records[name] = values
    text_columns = [] if binary else [(np.asarray(values, dtype=kind),
                                       "int" if kind == "u1" else kind)
                                      for _, kind, values in columns]
    write_table(path, header, records, text_columns)
