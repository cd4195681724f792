"""The 1D detectors by name: ``create(name, **params)``, ``available()``, ``load(path)`` (the
same registry pattern as :mod:`pointad.detectors.registry`). Built-in modules are imported on
first use, so listing the names imports no torch."""
from __future__ import annotations

import json
from pathlib import Path

from pointad.errors import InputError
from pointad.io import load_numpy
from pointad.registry import Registry
from pointad.validation import path_name

BUILTIN = {
    "mmae": "pointad.signals.mmae",
    "mae": "pointad.signals.mmae",
    "window-knn": "pointad.signals.window_knn",
}

SIGNAL_DETECTORS = Registry("signal detector", BUILTIN)


def register(cls):
    """Class decorator adding a signal detector under its ``name``."""
    return SIGNAL_DETECTORS.register(cls)


def available() -> list[str]:
    """Names of the signal detectors, sorted (imports nothing)."""
    return sorted(SIGNAL_DETECTORS.names())


def create(name: str, **params):
    """A new, unfitted signal detector ``name`` with ``params`` (validated by its constructor)."""
    return SIGNAL_DETECTORS.create(name, **params)


def load(path):
    """A fitted signal detector from a file written by ``SignalDetector.save``."""
    path = Path(path_name(path))
    arrays = load_numpy(path, archive=True, what="a saved pointad signal detector")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
        name, params = meta["signal_detector"], meta["params"]
    except (KeyError, ValueError, TypeError):
        raise InputError(f"{path}: not a saved pointad signal detector") from None
    if not isinstance(name, str) or name not in SIGNAL_DETECTORS:
        raise InputError(f"{path}: signal detector {name!r} is not available in this version")
    missing = [k for k in meta.get("arrays", []) if k not in arrays]
    if missing:
        raise InputError(f"{path}: {name} file lacks the arrays {', '.join(missing)}; the file "
                         "is damaged: fit and save again")
    try:
        return SIGNAL_DETECTORS.get(name).from_state(params, arrays)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: {name} saved by an incompatible version of pointad "
                         f"({message}); fit it again") from None
