"""JSON sidecar files (the per-sample parameters written next to each synthesized cloud)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from pointad.errors import InputError
from pointad.io.atomic import atomic_write


def write_json(path: str | os.PathLike[str], obj: Any, *, overwrite: bool = False) -> Path:
    """Write ``obj`` as pretty JSON (indent 2, sorted keys) atomically and return the path.

    numpy scalars and arrays become Python numbers and lists, paths become strings.
    NaN/inf are refused because standard JSON cannot hold them.

    Raises:
        InputError: the file exists and ``overwrite`` is False, ``obj`` is not JSON-able, or the
            file cannot be written.
    """
    name = os.fspath(path)
    try:
        text = json.dumps(to_plain(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: cannot be written as JSON: {exc}") from None
    try:
        with atomic_write(path, overwrite=overwrite) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:  # permissions, disk full, parent is a file...
        raise InputError(f"{name}: cannot write: {' '.join(str(exc).split())}") from exc
    return Path(path)


def to_plain(obj: Any) -> Any:
    """Return ``obj`` with numpy values, tuples and paths turned into JSON-native Python types."""
    if isinstance(obj, dict):
        # Keys too: json refuses numpy integer keys.
        return {to_plain(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj
