"""One registry so one CLI drives every method: ``create(name)``, ``available()``, ``load(path)``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pointad.errors import InputError

_REGISTRY: dict = {}


def register(cls):
    """Class decorator adding a detector under its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of the registered detectors, sorted."""
    return sorted(_REGISTRY)


def create(name: str, **params):
    """A new, unfitted detector ``name`` with ``params`` (validated by its constructor)."""
    if name not in _REGISTRY:
        raise InputError(f"unknown detector {name!r}; available: {', '.join(available())}")
    try:
        return _REGISTRY[name](**params)
    except TypeError as exc:  # an unknown keyword: name it without a traceback
        raise InputError(f"detector {name!r}: {exc}") from None


def load(path):
    """A fitted detector from a file written by ``Detector.save``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            arrays = {k: data[k] for k in data.files if k != "__meta__"}
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: not a saved pointad detector ({exc})") from None
    name = meta.get("detector")
    if name not in _REGISTRY:
        raise InputError(f"{path}: detector {name!r} is not available in this version")
    return _REGISTRY[name].from_state(meta["params"], arrays)
