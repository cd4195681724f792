"""One registry so one CLI drives every method: ``create(name)``, ``available()``, ``load(path)``.

The built-in detectors are listed by name with the module that defines them and imported on first
use, so listing the names (``pnas --help``) does not import torch and every detector. The names
live in :data:`DETECTORS`, a :class:`pointad.registry.Registry` like the dataset formats' and
the backbones'.
"""
from __future__ import annotations

import json
from pathlib import Path

from pointad.errors import InputError
from pointad.io import load_numpy
from pointad.registry import Registry
from pointad.validation import path_name

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
    "hetnet": "pointad.detectors.hetnet",
    "fader": "pointad.detectors.fader",
    "pradot": "pointad.detectors.pradot",
    "cpmf": "pointad.detectors.cpmf",
    "fused": "pointad.detectors.fused",
    "mmae-lines": "pointad.detectors.mmae_lines",
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
    return DETECTORS.create(name, **params)


def load(path):
    """A fitted detector from a file written by ``Detector.save``."""
    path = Path(path_name(path))
    arrays = load_numpy(path, archive=True, what="a saved pointad detector")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
    except (KeyError, ValueError) as exc:
        problem = "no __meta__ entry" if isinstance(exc, KeyError) else "its __meta__ is not JSON"
        raise InputError(f"{path}: not a saved pointad detector ({problem})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("params"), dict):
        raise InputError(f"{path}: not a saved pointad detector (its __meta__ lacks the params)")
    name = meta.get("detector")
    if not isinstance(name, str) or name not in DETECTORS:
        raise InputError(f"{path}: detector {name!r} is not available in this version")
    # Files that list their arrays (Detector.save does): each must be there, or the detector
    # would load half-fitted (a raw detector without templates scores every point inf).
    listed = meta.get("arrays", [])
    missing = [k for k in (listed if isinstance(listed, list) else []) if k not in arrays]
    if missing:
        raise InputError(f"{path}: {name} detector file lacks the array{'s' * (len(missing) > 1)} "
                         f"{', '.join(missing)}; the file is damaged: fit and save it again")
    try:
        return detector_class(name).from_state(meta["params"], arrays)
    except KeyError as exc:  # an array the detector needs (a file that does not list them)
        raise InputError(f"{path}: {name} detector file lacks the array {exc}; fit and save it "
                         "again") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        # Parameters or arrays this version does not know, or tensors of another shape.
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: {name} detector saved by an incompatible version of pointad "
                         f"({message}); fit it again") from None
