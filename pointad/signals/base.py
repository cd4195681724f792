"""The 1D signal detector protocol (the 1D sibling of :mod:`pointad.detectors.base`).

A signal is a (T,) array (one channel) or a (T, C) array (C channels, e.g. ECG leads), finite
numbers, any length T of at least the detector's ``min_length``. ``fit`` takes a list of
*normal* signals; ``predict`` scores one signal and returns a :class:`SignalPrediction`:
``point_scores`` (T,) per time step and ``score`` (float) for the whole signal, higher = more
anomalous. ``save`` writes one ``.npz`` (atomic, no silent overwrite), read back by
:func:`pointad.signals.load`. Parameters are the keyword parameters of ``__init__``, validated
there and stored under their names (:class:`pointad.params.ParamsMixin`). Every random draw is
seeded by the ``seed`` parameter; the caller's global random state is never changed.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from pointad.errors import InputError
from pointad.io import atomic_write
from pointad.params import ParamsMixin
from pointad.validation import path_name

FORMAT_VERSION = 1
DetectorT = TypeVar("DetectorT", bound="SignalDetector")


@dataclass
class SignalPrediction:
    """Scores of one signal: ``point_scores`` (T,) float64 and ``score`` (float), higher = more
    anomalous."""

    point_scores: np.ndarray
    score: float


def as_signal(x, name: str = "signal", *, min_length: int = 1,
              channels: int | None = None) -> np.ndarray:
    """``x`` as a (T, C) float64 array of finite numbers, or :class:`InputError` naming ``name``
    and the problem: not numeric, not 1D/2D, NaN/inf, shorter than ``min_length`` time steps,
    or (when ``channels`` is given) another number of channels."""
    if isinstance(x, (str, bytes, dict)) or x is None:
        raise InputError(f"{name}: expected a (T,) or (T, C) numeric array, got "
                         f"{type(x).__name__}")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: not a numeric array ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name}: expected numbers, got an array of dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InputError(f"{name}: expected a (T,) or (T, C) array, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if arr.shape[1] == 0:
        raise InputError(f"{name}: has no channel (shape {arr.shape})")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(f"{name}: NaN or inf at time step {bad[0]}, channel {bad[1]}")
    if len(arr) < min_length:
        raise InputError(f"{name}: {len(arr)} time steps, too short: this detector needs at "
                         f"least {min_length}")
    if channels is not None and arr.shape[1] != channels:
        raise InputError(f"{name}: {arr.shape[1]} channel{'s' * (arr.shape[1] != 1)}, but the "
                         f"detector was fitted on {channels}")
    return arr


class SignalDetector(ParamsMixin, ABC):
    """Base class: subclasses set ``name``, take their parameters as explicit keyword parameters
    of ``__init__`` (stored as ``self.<name>``, JSON values), define :attr:`min_length` and
    implement the hooks ``_fit``, ``_predict``, ``_get_state`` and ``_set_state``."""

    name = "base"

    @property
    @abstractmethod
    def min_length(self) -> int:
        """The fewest time steps a signal may have (one segment, one window...)."""

    def fit(self, signals) -> SignalDetector:
        """Fit on normal signals: a list of (T_i,) or (T_i, C) arrays (same C). Returns self."""
        if isinstance(signals, np.ndarray) and signals.ndim <= 2 and signals.dtype != object:
            raise InputError("fit takes a list of training signals, got one array: pass "
                             "[signal]")
        if isinstance(signals, (str, bytes, dict)) or not isinstance(signals, Iterable):
            raise InputError(f"fit takes a list of training signals, got "
                             f"{type(signals).__name__}")
        out, channels = [], None
        for i, s in enumerate(signals):
            arr = as_signal(s, f"training signal {i}", min_length=self.min_length,
                            channels=channels)
            channels = arr.shape[1]
            out.append(arr)
        if not out:
            raise InputError("fit needs at least one training signal")
        self._fit(out)
        self.n_channels_ = channels
        self.fitted_ = True
        return self

    def predict(self, signal, name: str = "signal") -> SignalPrediction:
        """Score one (T,) or (T, C) signal with the channels it was fitted on."""
        if not getattr(self, "fitted_", False):
            raise InputError(f"{self.name} signal detector is not fitted: call fit() or load() "
                             "first")
        arr = as_signal(signal, name, min_length=self.min_length, channels=self.n_channels_)
        point_scores, score = self._predict(arr)
        point_scores = np.asarray(point_scores, dtype=np.float64)
        assert point_scores.shape == (len(arr),)
        return SignalPrediction(point_scores=point_scores, score=float(score))

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write the fitted detector to one ``.npz`` file (atomic, no silent overwrite)."""
        if not getattr(self, "fitted_", False):
            raise InputError(f"{self.name} signal detector is not fitted: nothing to save")
        path = Path(path_name(path))
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz")
        arrays = self.get_state()
        meta = {"signal_detector": self.name, "params": self.get_params(),
                "format": FORMAT_VERSION, "arrays": sorted(arrays)}
        with atomic_write(path, overwrite=overwrite) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)
        return path

    def get_state(self) -> dict:
        """The fitted state as a dict of numpy arrays (what ``save`` stores with the
        parameters; :meth:`from_state` takes it back)."""
        if not getattr(self, "fitted_", False):
            raise InputError(f"{self.name} signal detector is not fitted: no state")
        return {**self._get_state(), "n_channels_": np.array(self.n_channels_)}

    @classmethod
    def from_state(cls: type[DetectorT], params: dict, arrays: dict) -> DetectorT:
        """Rebuild a fitted detector from saved parameters and :meth:`get_state`'s arrays."""
        det = cls(**params)
        arrays = dict(arrays)
        det.n_channels_ = int(arrays.pop("n_channels_"))
        det._set_state(arrays)
        det.fitted_ = True
        return det

    # Subclass hooks -------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, signals: list) -> None:
        """Learn from validated normal signals (a list of (T_i, C) float64 arrays)."""

    @abstractmethod
    def _predict(self, signal: np.ndarray):
        """``(point_scores (T,), score)`` of a validated (T, C) float64 signal."""

    @abstractmethod
    def _get_state(self) -> dict:
        """Fitted state as a dict of numpy arrays (what ``save`` stores)."""

    @abstractmethod
    def _set_state(self, arrays: dict) -> None:
        """Restore the fitted state from ``_get_state``'s arrays."""


def sliding_windows(length: int, window: int, stride: int) -> np.ndarray:
    """Start indices of windows of ``window`` steps every ``stride`` steps covering
    ``range(length)`` (the last window ends at ``length``); ``length >= window``."""
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return np.asarray(starts, dtype=np.int64)


def stitch(length: int, starts, window: int, values) -> np.ndarray:
    """Per-time-step mean of the (window,) ``values`` of overlapping windows at ``starts``
    (every step covered by at least one window)."""
    total = np.zeros(length)
    count = np.zeros(length)
    for s, v in zip(starts, values):
        total[s:s + window] += v
        count[s:s + window] += 1
    return total / count
