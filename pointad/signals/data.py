"""Signal datasets in memory: what the 1D evaluation takes."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SignalSample:
    """One test signal: ``signal`` (T, C) float64, ``labels`` (T,) bool per time step (None when
    the data has no per-step ground truth), ``label`` 0/1 for the whole signal (window), ``kind``
    the anomaly kind ("good" for normal ones) and a ``name`` for messages."""

    signal: np.ndarray
    labels: np.ndarray | None
    label: int
    kind: str = "good"
    name: str = ""


@dataclass
class SignalSet:
    """A signal dataset: normal ``train`` signals ((T_i, C) arrays) and ``test`` samples, with
    its ``name`` and sampling rate ``fs`` (Hz)."""

    name: str
    train: list
    test: list
    fs: float = 100.0
    notes: list = field(default_factory=list)


def window_samples(signal: np.ndarray, labels: np.ndarray | None, window: int, stride: int,
                   name: str = "") -> list:
    """Cut a (T, C) ``signal`` and its (T,) ``labels`` into windows of ``window`` steps every
    ``stride`` steps (only whole windows). A window is anomalous (label 1) iff any of its steps
    is labelled."""
    out = []
    for s in range(0, len(signal) - window + 1, stride):
        lab = None if labels is None else labels[s:s + window].astype(bool)
        bad = int(lab is not None and lab.any())
        out.append(SignalSample(signal[s:s + window], lab, bad, "abnormal" if bad else "good",
                                f"{name}[{s}:{s + window}]"))
    return out
