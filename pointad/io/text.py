"""Plain-text point tables: ``.xyz`` and ``.txt`` (whitespace separated) and ``.csv`` (commas).

One point per line; 3 columns = xyz, 4 = xyz + label (Real3D-AD ground truth ``x y z label``,
Anomaly-ShapeNet ``x,y,z,label``), 6 = xyz + normals, 7 = xyz + normals + label. The separator is
taken from the first data line (a comma means comma separated), so any of the three extensions
reads either. One header line of non-numeric text (``x,y,z,label``) is skipped; blank lines and
``#`` comments are ignored. Fields are not stored in text files.
"""
from __future__ import annotations

import os

import numpy as np

from pointad.errors import InputError
from pointad.io.cloud import Cloud, cloud_from_columns, column_names
from pointad.io.textrows import write_rows

_ENCODING = "utf-8-sig"  # tolerate the byte-order mark some spreadsheet exports start with


def read_text(path: str | os.PathLike[str]) -> Cloud:
    """Read a whitespace- or comma-separated point table into a Cloud."""
    header_lines, first_data = _find_data_start(path)
    if first_data is None:
        return Cloud(points=np.empty((0, 3)))
    delimiter = "," if "," in first_data else None
    try:
        table = np.loadtxt(path, delimiter=delimiter, skiprows=header_lines, ndmin=2,
                           dtype=np.float64, encoding=_ENCODING)
    except ValueError as exc:
        raise InputError(_explain(path, delimiter) or f"is not a numeric table ({exc})") from None
    return cloud_from_columns(table)


def _explain(path: str | os.PathLike[str], delimiter: str | None) -> str | None:
    """Name the first line that is not numeric or has a different column count (error path only).

    numpy's own message counts rows inconsistently, so the file is scanned again to give the
    line number a user sees in an editor.
    """
    header_lines, _ = _find_data_start(path)
    width: int | None = None
    with open(path, encoding=_ENCODING) as f:
        for number, line in enumerate(f, start=1):
            text = line.split("#", 1)[0].strip()
            if number <= header_lines or not text:
                continue
            values = text.split(delimiter)
            if not _is_numeric(text) or (delimiter and "" in (v.strip() for v in values)):
                return f"line {number} is not numeric: {text[:60]!r}"
            if width is None:
                width = len(values)
            elif len(values) != width:
                return f"line {number} has {len(values)} values, the lines before it {width}"
    return None


def _find_data_start(path: str | os.PathLike[str]) -> tuple[int, str | None]:
    """Return (lines to skip, first data line); a non-numeric first line is a header to skip."""
    with open(path, encoding=_ENCODING) as f:
        seen_header = False
        for number, line in enumerate(f):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            if _is_numeric(text):
                return (number if seen_header else 0), text
            if seen_header:
                raise InputError(f"line {number + 1} is not numeric: {text[:60]!r}")
            seen_header = True
    return 0, None


def _is_numeric(text: str) -> bool:
    try:
        [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        return False
    return True


def write_text(path: str | os.PathLike[str], cloud: Cloud, *, delimiter: str = " ",
               header: bool = False) -> None:
    """Write xyz [+ normals] [+ label] one point per line; ``header`` adds a ``x,y,z,...`` line.

    Floats are written with Python's shortest round-trip repr, so reading back gives the
    exact float64 values; labels are written as 0/1.
    """
    columns = [(cloud.points[:, i], "f8") for i in range(3)]
    if cloud.normals is not None:
        columns += [(cloud.normals[:, i], "f8") for i in range(3)]
    if cloud.labels is not None:
        columns.append((cloud.labels, "int"))
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        if header:
            f.write(delimiter.join(column_names(cloud)) + "\n")
        write_rows(f, columns, delimiter)
