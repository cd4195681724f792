"""``window-knn``: the nearest-neighbour baseline for 1D signals.

Fit: every training signal is standardised per channel (the training mean and standard deviation)
and cut into sliding windows of ``window`` steps every ``stride`` steps; the flattened windows are
the memory bank (at most ``max_bank``, a seeded subsample beyond). Predict: every window of the
test signal (every ``predict_stride`` steps, the last one ending at the signal's end) gets the
Euclidean distance to its nearest bank window (:class:`pointad.ops.NeighbourIndex`, divided by
the square root of the window's size, so scores do not grow with the window); a time step's score
is the mean over the windows that cover it; the signal's score is the mean of its top
``top_fraction`` step scores. No training, no masking: what a learned model must beat.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pointad.reductions import top_mean
from pointad.signals.base import SignalDetector, sliding_windows, stitch
from pointad.signals.registry import register
from pointad.validation import check_number, check_seed

if TYPE_CHECKING:
    from pointad.ops import NeighbourIndex


def channel_stats(signals: list) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over all time steps of (T_i, C) ``signals``
    (a standard deviation of 0, a constant channel, becomes 1)."""
    stacked = np.concatenate(signals)
    std = stacked.std(0)
    return stacked.mean(0), np.where(std > 0, std, 1.0)


@register
class WindowKNN(SignalDetector):
    name = "window-knn"

    def __init__(self, window: int = 50, stride: int = 5, predict_stride: int = 2,
                 max_bank: int = 50000, top_fraction: float = 0.1, seed: int = 0,
                 device: str = "auto"):
        self.window = check_number(window, "window", low=2, integer=True)
        self.stride = check_number(stride, "stride", low=1, integer=True)
        self.predict_stride = check_number(predict_stride, "predict_stride", low=1, integer=True)
        self.max_bank = check_number(max_bank, "max_bank", low=1, integer=True)
        self.top_fraction = check_number(top_fraction, "top_fraction", low=0, high=1,
                                         low_open=True)
        self.seed = check_seed(seed)
        from pointad.device import resolve_device

        resolve_device(device)  # a bad or unavailable device: an error now, not after the fit
        self.device = device

    @property
    def min_length(self) -> int:
        return self.window

    def _windows(self, signal: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
        starts = sliding_windows(len(signal), self.window, stride)
        z = (signal - self.mean_) / self.std_
        return starts, np.stack([z[s:s + self.window].ravel() for s in starts])

    def _fit(self, signals: list) -> None:
        self.mean_, self.std_ = channel_stats(signals)
        bank = np.concatenate([self._windows(s, self.stride)[1] for s in signals])
        if len(bank) > self.max_bank:
            keep = np.random.default_rng(self.seed).choice(len(bank), self.max_bank,
                                                           replace=False)
            bank = bank[np.sort(keep)]
        self.bank_ = bank.astype(np.float32)
        self._index: NeighbourIndex | None = None

    def _neighbours(self):
        if getattr(self, "_index", None) is None:
            import torch

            from pointad.device import resolve_device
            from pointad.ops import NeighbourIndex
            bank = torch.from_numpy(self.bank_).to(resolve_device(self.device))
            self._index = NeighbourIndex(bank, method="brute")
        return self._index

    def _predict(self, signal: np.ndarray):
        import torch
        starts, windows = self._windows(signal, self.predict_stride)
        index = self._neighbours()
        query = torch.from_numpy(windows.astype(np.float32)).to(index.points.device)
        dists, _ = index.query(query, 1)
        d = dists[:, 0].double().cpu().numpy() / np.sqrt(windows.shape[1])
        scores = stitch(len(signal), starts, self.window,
                        [np.full(self.window, v) for v in d])
        return scores, top_mean(scores, self.top_fraction)

    def _get_state(self) -> dict:
        return {"mean_": self.mean_, "std_": self.std_, "bank_": self.bank_}

    def _set_state(self, arrays: dict) -> None:
        self.mean_, self.std_ = arrays["mean_"], arrays["std_"]
        self.bank_ = arrays["bank_"].astype(np.float32)
        self._index = None
