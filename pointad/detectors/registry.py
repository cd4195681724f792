"""One registry so one CLI drives every method: ``create(name)``, ``available()``, ``load(path)``.

The built-in detectors are listed by name with the module that defines them and imported on first
use, so listing the names (``pnas --help``) does not import torch and every detector. The names
live in :data:`DETECTORS`, a :class:`pointad.registry.Registry` like the dataset formats' and
the backbones'.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pointad.errors import InputError
from pointad.registry import Registry

# name -> module that registers it (checked by the tests against each class's ``name``).
BUILTIN = {
    "raw": "pointad.detectors.raw",
    "btf": "pointad.detectors.btf",
    "patchcore-ms": "pointad.detectors.patchcore_ms",
    "pnas-refiner": "pointad.detectors.pnas_refiner",
    "pnas-offset": "pointad.detectors.pnas_offset",
    "uniad": "pointad.detectors.uniad",
    "onenip": "pointad.detectors.onenip",
    "pbas": "pointad.detectors.pbas",
}

DETECTORS = Registry("detector", BUILTIN)


def register(cls):
    """Class decorator adding a detector under its ``name``."""
    return DETECTORS.register(cls)


def available() -> list[str]:
    """Names of the built-in and registered detectors, sorted (imports nothing)."""
    return sorted(DETECTORS.names())


def detector_class(name: str):
    """The detector class registered as ``name`` (its module imported when needed)."""
    return DETECTORS.get(name)


def create(name: str, **params):
    """A new, unfitted detector ``name`` with ``params`` (validated by its constructor)."""
    cls = detector_class(name)
    try:
        return cls(**params)
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
    if name not in DETECTORS:
        raise InputError(f"{path}: detector {name!r} is not available in this version")
    try:
        return detector_class(name).from_state(meta["params"], arrays)
    except (TypeError, KeyError, ValueError, RuntimeError) as exc:
        # Parameters or arrays this version does not know, or tensors of another shape.
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: {name} detector saved by an incompatible version of pointad "
                         f"({message}); fit it again") from None
