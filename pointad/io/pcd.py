"""PCL's PCD point clouds (``DATA ascii`` and ``DATA binary``), with a small parser of our own.

Fields: ``x y z`` (required), ``normal_x normal_y normal_z`` (normals), ``label`` (0/1) and any
other scalar field, which becomes an entry of ``Cloud.fields`` (fields with COUNT > 1, such as
feature histograms, and ``_`` padding are skipped). ``DATA binary_compressed`` is not supported.

An organized PCD (HEIGHT > 1) stores one record per pixel with NaN coordinates where there is no
point; those records are dropped and the rest keep their pixel in ``grid_shape``/``grid_index``.
"""
from __future__ import annotations

import os
from typing import Any, BinaryIO

import numpy as np

from pointad.errors import InputError
from pointad.io.cloud import Cloud, check_float32, cloud_from_fields
from pointad.io.textrows import write_table

_XYZ = ("x", "y", "z")
_NORMALS = ("normal_x", "normal_y", "normal_z")
_TYPES = {"F": "f", "I": "i", "U": "u"}  # PCD TYPE letter -> numpy kind
_MAX_HEADER_LINES = 64  # a PCD header has ~11 lines; stop early on a file that is not PCD


# ---------------------------------------------------------------- reading


def read_pcd(path: str | os.PathLike[str]) -> Cloud:
    """Read a PCD file into a Cloud (points and normals as float64)."""
    with open(path, "rb") as f:
        header = _read_header(f)
        body = f.read()
    dtype = _record_dtype(header)
    n = header["points"]
    if header["data"] == "ascii":
        records = _parse_ascii(body, dtype, n)
    elif header["data"] == "binary":
        if len(body) < n * dtype.itemsize:
            raise InputError(f"binary data is truncated: {len(body) // dtype.itemsize} of {n} "
                             "points present")
        if body[n * dtype.itemsize:].strip():  # a wrong count would drop the points after it
            raise InputError(f"binary data holds {len(body) // dtype.itemsize} points but the "
                             f"header declares {n}")
        records = np.frombuffer(body, dtype=dtype, count=n)
    elif header["data"] == "binary_compressed":
        raise InputError("DATA binary_compressed PCD is not supported; save it as binary or ascii")
    else:
        raise InputError(f"unknown DATA type {header['data']!r} (expected ascii or binary)")
    return _records_to_cloud(records, header)


def _read_header(f: BinaryIO) -> dict[str, Any]:
    """Parse header lines up to and including ``DATA``; leave ``f`` at the first data byte."""
    entries: dict[str, list[str]] = {}
    for _ in range(_MAX_HEADER_LINES):
        raw = f.readline()
        if not raw:
            break
        line = raw.decode("ascii", errors="replace").strip()
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        entries[key.upper()] = values
        if key.upper() == "DATA":
            return _check_header(entries)
    raise InputError("is not a PCD file: no DATA line in its header")


def _check_header(entries: dict[str, list[str]]) -> dict[str, Any]:
    for key in ("FIELDS", "SIZE", "TYPE", "WIDTH", "HEIGHT", "DATA"):
        if key not in entries:
            raise InputError(f"PCD header lacks {key}")
    names = entries["FIELDS"]
    if not names:
        raise InputError("PCD header FIELDS is empty")
    count_words = entries.get("COUNT", ["1"] * len(names))
    if (not all(len(entries[k]) == len(names) for k in ("SIZE", "TYPE"))
            or len(count_words) != len(names)):
        raise InputError("PCD header FIELDS, SIZE, TYPE and COUNT have different lengths")
    try:
        sizes, counts = [int(s) for s in entries["SIZE"]], [int(c) for c in count_words]
        width, height = int(entries["WIDTH"][0]), int(entries["HEIGHT"][0])
        points = int(entries["POINTS"][0]) if "POINTS" in entries else width * height
    except (ValueError, IndexError):
        raise InputError("PCD header has a non-integer SIZE, COUNT, WIDTH, HEIGHT or "
                         "POINTS") from None
    types = [t.upper() for t in entries["TYPE"]]
    return {"names": names, "sizes": sizes, "types": types, "counts": counts, "width": width,
            "height": height, "points": points, "data": entries["DATA"][0].lower()}


def _record_dtype(header: dict[str, Any]) -> np.dtype:
    """The numpy record of one point; binary PCD is little-endian and unpadded."""
    parts = []
    for i, (name, size, kind, count) in enumerate(
            zip(header["names"], header["sizes"], header["types"], header["counts"])):
        if kind not in _TYPES or size not in (1, 2, 4, 8) or (kind == "F" and size < 4):
            raise InputError(f"PCD field {name!r} has unsupported TYPE {kind} SIZE {size}")
        # Unique names: PCD allows repeated '_' padding fields, numpy records do not.
        key = name if name != "_" else f"_pad{i}"
        parts.append((key, f"<{_TYPES[kind]}{size}", (count,) if count != 1 else ()))
    return np.dtype(parts)


def _parse_ascii(body: bytes, dtype: np.dtype, n: int) -> np.ndarray:
    """Parse whitespace-separated ascii records into a record array of ``dtype``."""
    names = dtype.names or ()  # a record dtype: never empty
    width = sum(int(np.prod(dtype[name].shape)) for name in names)
    try:
        values = np.array(body.split(), dtype=np.float64)
    except ValueError as exc:
        raise InputError(f"ascii data has a non-numeric value: {exc}") from None
    if values.size < n * width:
        raise InputError(f"ascii data is truncated: {values.size // width} of {n} points present")
    if values.size > n * width:
        raise InputError(f"ascii data has {values.size} values; expected {n} points x {width}")
    table = values.reshape(n, width)
    records = np.empty(n, dtype=dtype)
    col = 0
    for name in names:
        k = int(np.prod(dtype[name].shape))
        records[name] = table[:, col:col + k].reshape(records[name].shape)
        col += k
    return records


def _records_to_cloud(records: np.ndarray, header: dict[str, Any]) -> Cloud:
    names = [n for n in records.dtype.names or () if records.dtype[n].shape == ()]
    missing = [c for c in _XYZ if c not in names]
    if missing:
        raise InputError(f"PCD lacks coordinate field(s) {', '.join(missing)}")
    grid_shape: tuple[int, int] | None = None
    grid_index: np.ndarray | None = None
    if header["height"] > 1:
        grid_shape = (header["height"], header["width"])
        if len(records) != grid_shape[0] * grid_shape[1]:
            raise InputError(f"organized PCD has {len(records)} points but WIDTH x HEIGHT = "
                             f"{grid_shape[1]} x {grid_shape[0]}")
        xyz = np.column_stack([records[c] for c in _XYZ])
        grid_index = np.flatnonzero(~np.isnan(xyz).all(axis=1))
        records = records[grid_index]
    return cloud_from_fields(records, _XYZ, _NORMALS, "PCD", grid_shape=grid_shape,
                              grid_index=grid_index)


# ---------------------------------------------------------------- writing


def write_pcd(path: str | os.PathLike[str], cloud: Cloud, *, binary: bool = True) -> None:
    """Write ``cloud`` as PCD v0.7, ``DATA binary`` or ``DATA ascii``.

    Coordinates, normals and fields are written as float32 (F 4) and the label as U 4, which is
    what PCL's PointXYZ/PointNormal/PointXYZL types expect. An organized cloud is written as an
    organized PCD (WIDTH x HEIGHT = W x H) with NaN coordinates at pixels without a point.
    """
    columns = [(n, "F", 4, cloud.points[:, i]) for i, n in enumerate(_XYZ)]
    if cloud.normals is not None:
        columns += [(n, "F", 4, cloud.normals[:, i]) for i, n in enumerate(_NORMALS)]
    if cloud.labels is not None:
        columns.append(("label", "U", 4, cloud.labels))
    columns += [(name, "F", 4, values) for name, values in cloud.fields.items()]
    for name, kind, _, values in columns:
        if kind == "F":
            check_float32(np.asarray(values), f"values of {name}", "PCD")
    dtype = np.dtype([(n, f"<{_TYPES[t]}{s}") for n, t, s, _ in columns])

    where: np.ndarray | slice
    if cloud.grid_shape is not None and cloud.grid_index is not None:  # cloud.organized
        height, width = cloud.grid_shape
        records = np.zeros(height * width, dtype=dtype)
        for c in _XYZ:
            records[c] = np.nan  # PCL marks pixels without a point by NaN coordinates
        where = cloud.grid_index
    else:
        height, width = 1, len(cloud.points)
        records = np.zeros(width, dtype=dtype)
        where = slice(None)
    for name, _, _, values in columns:
        records[name][where] = values

    header = "\n".join([
        "# .PCD v0.7 - Point Cloud Data file format",
        "VERSION 0.7",
        "FIELDS " + " ".join(n for n, *_ in columns),
        "SIZE " + " ".join(str(s) for _, _, s, _ in columns),
        "TYPE " + " ".join(t for _, t, _, _ in columns),
        "COUNT " + " ".join("1" for _ in columns),
        f"WIDTH {width}",
        f"HEIGHT {height}",
        "VIEWPOINT 0 0 0 1 0 0 0",
        f"POINTS {len(records)}",
        f"DATA {'binary' if binary else 'ascii'}",
    ]) + "\n"
    write_table(path, header, records if binary else None,
                [(records[n], "int" if t == "U" else "f4") for n, t, _, _ in columns])
