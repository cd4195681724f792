"""The multi-scale masks of MMAE (Zhou et al., arXiv 2502.05494), as numpy arrays.

A window of a signal is cut into ``T`` non-overlapping segments (the tokens).

- *Global scale*: exactly ``round(ratio * T)`` of the ``T`` segments are masked.
- *Local scale*: a region of ``local_window`` (delta) consecutive segments starting at
  ``start``; exactly ``max(1, round(ratio * delta))`` of them are masked inside it.

A segment is *hidden* when it is masked at either scale: the encoder never sees a hidden
segment, at either scale (a segment masked locally but visible globally would leak its own
content into its reconstruction). So the region is masked more densely than the rest
(about ``1 - (1 - ratio)^2`` instead of ``ratio``): the local task is to rebuild a contiguous
stretch from less context, which is what a localized anomaly needs.
``local_window=0`` turns the local scale off: a plain (single-scale) MAE mask.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Masks:
    """Masks of a batch of ``B`` windows of ``T`` segments: ``global_`` (B, T) bool masked at
    the global scale; ``start`` (B,) the first segment of each local region; ``local`` (B, delta)
    bool masked at the local scale (region positions); ``hidden`` (B, T) bool their union (what
    the encoder does not see)."""

    global_: np.ndarray
    start: np.ndarray
    local: np.ndarray
    hidden: np.ndarray

    @property
    def local_hidden(self) -> np.ndarray:
        """(B, delta) bool: the region positions that are hidden (at either scale): the local
        tokens the decoder reconstructs."""
        delta = self.local.shape[1]
        idx = self.start[:, None] + np.arange(delta)[None]
        return np.take_along_axis(self.hidden, idx, axis=1) if delta else self.local


def n_masked(n: int, ratio: float, at_least: int = 0) -> int:
    """How many of ``n`` segments a ``ratio`` masks (rounded; at least ``at_least``, at most
    ``n - 1`` so something stays visible)."""
    return int(min(n - 1, max(at_least, round(ratio * n))))


def _combine(global_: np.ndarray, start: np.ndarray, local: np.ndarray) -> Masks:
    hidden = global_.copy()
    delta = local.shape[1]
    if delta:
        rows = np.repeat(np.arange(len(start)), delta)
        cols = (start[:, None] + np.arange(delta)[None]).ravel()
        hidden[rows, cols] |= local.ravel()
    return Masks(global_, start, local, hidden)


def _local(rng: np.random.Generator, batch: int, n_segments: int, ratio: float,
           local_window: int) -> tuple[np.ndarray, np.ndarray]:
    if not local_window:
        return np.zeros(batch, np.int64), np.zeros((batch, 0), bool)
    start = rng.integers(0, n_segments - local_window + 1, size=batch)
    k = n_masked(local_window, ratio, at_least=1)
    order = np.argsort(rng.random((batch, local_window)), axis=1)
    local = np.zeros((batch, local_window), bool)
    np.put_along_axis(local, order[:, :k], True, axis=1)
    return start.astype(np.int64), local


def random_masks(rng: np.random.Generator, batch: int, n_segments: int, ratio: float,
                 local_window: int) -> Masks:
    """Training masks: a random global mask (exactly ``round(ratio * T)`` segments) and a
    random local region and mask per window, all drawn from ``rng``."""
    k = n_masked(n_segments, ratio, at_least=1)
    order = np.argsort(rng.random((batch, n_segments)), axis=1)
    global_ = np.zeros((batch, n_segments), bool)
    np.put_along_axis(global_, order[:, :k], True, axis=1)
    start, local = _local(rng, batch, n_segments, ratio, local_window)
    return _combine(global_, start, local)


def covering_masks(rng: np.random.Generator, count: int, n_segments: int, ratio: float,
                   local_window: int) -> Masks:
    """``count`` inference masks that cover every segment evenly: the segments are permuted and
    split into ``m = max(2, round(1 / ratio))`` chunks (each about ``ratio * T`` segments); masking
    ``k`` hides chunk ``k mod m`` of permutation ``k // m`` at the global scale. Every group of
    ``m`` consecutive maskings hides each segment exactly once globally, so with ``count`` a
    multiple of ``m`` every segment is scored equally often. Local regions and their masks are
    drawn at random, as in training."""
    m = max(2, round(1 / ratio))
    global_ = np.zeros((count, n_segments), bool)
    perm = np.empty(0, dtype=np.int64)  # drawn at k = 0
    for k in range(count):
        if k % m == 0:
            perm = rng.permutation(n_segments)
        chunk = np.array_split(perm, m)[k % m]
        global_[k, chunk] = True
    start, local = _local(rng, count, n_segments, ratio, local_window)
    return _combine(global_, start, local)
