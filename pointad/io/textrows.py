"""Numeric columns formatted as text lines, shared by the ascii writers (text, PLY, PCD)."""
from __future__ import annotations

import os
from typing import TextIO

import numpy as np

_CHUNK_ROWS = 100_000  # rows formatted at a time, bounding the memory the strings take

# How each kind of column is printed; all of them read back to exactly the stored value.
#   "f8": shortest repr that round-trips a float64 (0.1 stays "0.1")
#   "f4": 9 significant digits, enough for every float32
#   "int": whole numbers (labels)
_FORMATS = {
    "f8": lambda values: list(map(repr, values)),
    "f4": lambda values: [f"{v:.9g}" for v in values],
    "int": lambda values: [f"{int(v)}" for v in values],
}


def write_rows(f: TextIO, columns: list[tuple[np.ndarray, str]], delimiter: str = " ") -> None:
    """Write one line per row to the text file ``f``.

    ``columns`` is a list of ((N,) array, kind) with kind "f8", "f4" or "int".
    """
    n = len(columns[0][0]) if columns else 0
    for start in range(0, n, _CHUNK_ROWS):
        stop = start + _CHUNK_ROWS
        # Column-wise formatting: one Python call per column and chunk, not per value.
        texts = [_FORMATS[kind](values[start:stop].tolist()) for values, kind in columns]
        f.writelines(delimiter.join(row) + "\n" for row in zip(*texts))


def write_table(path: str | os.PathLike[str], header: str, records: np.ndarray | None,
                columns: list[tuple[np.ndarray, str]]) -> None:
    """Write a text ``header`` then the data: ``records`` (a structured array) as raw binary
    bytes, or, when ``records`` is None, ``columns`` as text rows (:func:`write_rows`)."""
    if records is not None:
        with open(path, "wb") as f:
            f.write(header.encode("ascii"))
            f.write(records.tobytes())
    else:
        with open(path, "w", encoding="ascii", newline="\n") as f:
            f.write(header)
            write_rows(f, columns)
