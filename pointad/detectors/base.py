"""The detector protocol every method follows (scikit-learn style).

``fit`` takes normal clouds only; ``predict`` returns per-point anomaly scores and an object
score (higher = more anomalous); ``save``/``pointad.detectors.load`` round-trip a fitted detector.
Parameters are set in ``__init__`` and validated there, once.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointad.errors import InputError
from pointad.io import atomic_write
from pointad.validation import as_points

FORMAT_VERSION = 1


@dataclass
class Prediction:
    """Scores of one cloud: ``point_scores`` (N,) float64 and ``score`` (float), higher = more
    anomalous."""

    point_scores: np.ndarray
    score: float


class Detector(ABC):
    """Base class: subclasses set ``name`` and implement the abstract hooks."""

    name = "base"

    @abstractmethod
    def get_params(self) -> dict:
        """Constructor parameters, as a dict that ``type(self)(**params)`` accepts."""

    def fit(self, train) -> "Detector":
        """Fit on normal clouds: a list of (N_i, 3) arrays. Returns self."""
        clouds = [as_points(c, name=f"training cloud {i}", min_points=4) for i, c in enumerate(train)]
        if not clouds:
            raise InputError("fit needs at least one training cloud")
        self._fit(clouds)
        self.fitted_ = True
        return self

    def predict(self, points) -> Prediction:
        """Score one (N, 3) cloud."""
        if not getattr(self, "fitted_", False):
            raise InputError(f"{self.name} detector is not fitted: call fit() or load() first")
        pts = as_points(points, min_points=1)
        point_scores, score = self._predict(pts)
        return Prediction(point_scores=np.asarray(point_scores, dtype=np.float64), score=float(score))

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write the fitted detector to one ``.npz`` file (atomic, no silent overwrite)."""
        if not getattr(self, "fitted_", False):
            raise InputError(f"{self.name} detector is not fitted: nothing to save")
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz")
        meta = {"detector": self.name, "params": self.get_params(), "format": FORMAT_VERSION}
        arrays = self._get_state()
        with atomic_write(path, overwrite=overwrite) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)
        return path

    @classmethod
    def from_state(cls, params: dict, arrays: dict) -> "Detector":
        """Rebuild a fitted detector from saved parameters and arrays."""
        det = cls(**params)
        det._set_state(arrays)
        det.fitted_ = True
        return det

    # Subclass hooks -------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, clouds: list) -> None:
        """Learn from validated (N_i, 3) float64 normal clouds."""

    @abstractmethod
    def _predict(self, points: np.ndarray):
        """Return ``(point_scores (N,), score)`` for a validated (N, 3) cloud."""

    @abstractmethod
    def _get_state(self) -> dict:
        """Fitted state as a dict of numpy arrays (what ``save`` stores)."""

    @abstractmethod
    def _set_state(self, arrays: dict) -> None:
        """Restore the fitted state from ``_get_state``'s arrays."""
