"""The detector protocol every method follows (scikit-learn style).

``fit`` takes normal clouds only; ``predict`` returns per-point anomaly scores and an object
score (higher = more anomalous); ``save``/``pointad.detectors.load`` round-trip a fitted detector.
Parameters are the keyword parameters of ``__init__``, validated there once and stored under
their own names; ``get_params`` reads them from the signature
(:class:`pointad.params.ParamsMixin`).
Random draws use local generators seeded by the ``seed`` parameter; what must draw from torch's
global generators (network initialisation, dropout) runs in :func:`pointad.device.seeded`, so
the caller's random state is never changed.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointad.errors import InputError
from pointad.io import CloudInput, as_cloud_input, atomic_write
from pointad.params import ParamsMixin
from pointad.validation import path_name

FORMAT_VERSION = 1


@dataclass
class Prediction:
    """Scores of one cloud: ``point_scores`` (N,) float64 and ``score`` (float), higher = more
    anomalous."""

    point_scores: np.ndarray
    score: float


class Detector(ParamsMixin, ABC):
    """Base class: subclasses set ``name``, take their parameters as explicit keyword
    parameters of ``__init__`` (each stored as ``self.<name>``, JSON-serializable: ``save``
    writes ``get_params()``) and implement the abstract hooks."""

    name = "base"

    def fit(self, train) -> Detector:
        """Fit on normal clouds: a list of (N_i, 3) arrays (or Clouds/Samples, which also carry
        the pixel grid of organized scans). Returns self."""
        if isinstance(train, np.ndarray) and train.ndim == 2:
            raise InputError("fit takes a list of training clouds, got one (N, 3) array: "
                             "pass [points]")
        if isinstance(train, (str, bytes, dict)) or not isinstance(train, Iterable):
            raise InputError(f"fit takes a list of training clouds, got {type(train).__name__}")
        clouds = [as_cloud_input(c, name=f"training cloud {i}") for i, c in enumerate(train)]
        if not clouds:
            raise InputError("fit needs at least one training cloud")
        self._fit(clouds)
        self.fitted_ = True
        return self

    def predict(self, points) -> Prediction:
        """Score one cloud: an (N, 3) array, or a Cloud/Sample (organized scans keep their grid)."""
        if not getattr(self, "fitted_", False):
            raise InputError(f"{self.name} detector is not fitted: call fit() or load() first")
        point_scores, score = self._predict(as_cloud_input(points))
        return Prediction(point_scores=np.asarray(point_scores, dtype=np.float64),
                          score=float(score))

    def fit_notes(self) -> list[str]:
        """What the fit chose from the data that its parameters do not say (a weight picked on
        held-out or synthetic defects), one line each; the runner records them in a result's
        per-category notes. Default: nothing."""
        return []

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write the fitted detector to one ``.npz`` file (atomic, no silent overwrite)."""
        if not getattr(self, "fitted_", False):
            raise InputError(f"{self.name} detector is not fitted: nothing to save")
        path = Path(path_name(path))
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz")
        arrays = self._get_state()
        meta = {"detector": self.name, "params": self.get_params(), "format": FORMAT_VERSION,
                "arrays": sorted(arrays)}  # load checks that every one is there
        with atomic_write(path, overwrite=overwrite) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)
        return path

    @classmethod
    def from_state(cls, params: dict, arrays: dict) -> Detector:
        """Rebuild a fitted detector from saved parameters and arrays."""
        det = cls(**params)
        det._set_state(arrays)
        det.fitted_ = True
        return det

    # Subclass hooks -------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, clouds: list) -> None:
        """Learn from validated normal clouds (a list of :class:`CloudInput`)."""

    @abstractmethod
    def _predict(self, cloud: CloudInput):
        """Return ``(point_scores (N,), score)`` for a validated :class:`CloudInput`."""

    @abstractmethod
    def _get_state(self) -> dict:
        """Fitted state as a dict of numpy arrays (what ``save`` stores)."""

    @abstractmethod
    def _set_state(self, arrays: dict) -> None:
        """Restore the fitted state from ``_get_state``'s arrays."""


def partial_cuts(clouds, n: int, seed: int, min_points: int) -> list[CloudInput]:
    """``n`` single-view cuts of every unorganized cloud of ``clouds`` (hidden point removal
    from seeded directions, :func:`pointad.geometry.single_view_cuts`; cloud i draws its
    directions with ``seed + i``), each kept when it has ``min_points``: what a partial test
    scan shows of a complete training cloud. Organized scans are single views already and give
    none."""
    from pointad.geometry import single_view_cuts

    cuts = []
    for i, cloud in enumerate(clouds):
        if cloud.organized or not n:
            continue
        cuts += [CloudInput(points=cloud.points[seen])
                 for seen in single_view_cuts(cloud.points, n, seed + i, min_points=min_points)]
    return cuts


def rescanned_copies(clouds, n: int, seed: int, min_points: int) -> list[CloudInput]:
    """``n`` re-scans (:func:`pointad.geometry.rescan.rescan`: a random share of the points,
    noise of a fraction of a point spacing) of every unorganized cloud of ``clouds``, cloud i's
    drawn from the generator seeded ``(seed, i)``, each keeping at least ``min_points``: what a
    fresh scan of the same good part samples. Organized scans give none (their sampling is
    their sensor's grid)."""
    from pointad.geometry import point_spacing
    from pointad.geometry.rescan import rescan

    copies = []
    for i, cloud in enumerate(clouds):
        if cloud.organized or not n:
            continue
        rng = np.random.default_rng([seed, i])
        spacing = point_spacing(cloud.points)
        copies += [CloudInput(points=rescan(cloud.points, spacing, rng, min_points=min_points)[0])
                   for _ in range(n)]
    return copies
