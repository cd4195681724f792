"""Scan lines as signals: every row of an organized scan (an (H, W, 3) image of xyz, the MVTec
3D-AD layout, or a laser line profiler's stack of profiles) is a 1D signal along the row.

Missing pixels (zeros in the MVTec 3D-AD layout, or not in ``valid``) are filled along the row by
linear interpolation between the nearest valid pixels (constant beyond the ends), so a signal has
no gap; a row without any valid pixel is skipped. ``channels="z"`` keeps the height (depth)
only, ``"xyz"`` the three coordinates.
"""
from __future__ import annotations

import numpy as np

from pointad.errors import InputError

CHANNELS = {"z": [2], "xyz": [0, 1, 2]}


def scan_rows(image, valid=None, *, channels: str = "z") -> tuple[list, np.ndarray, np.ndarray]:
    """``(signals, rows, valid)``: the rows of an (H, W, 3) organized scan with at least one
    valid pixel as (W, C) float64 signals (gaps filled), their row indices, and the (H, W) bool
    mask of valid pixels (default: pixels not all zero and finite)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"an organized scan is an (H, W, 3) image, got shape {image.shape}")
    if channels not in CHANNELS:
        raise InputError(f"channels must be one of {', '.join(CHANNELS)}; got {channels!r}")
    finite = np.isfinite(image).all(2)
    if valid is None:
        valid = finite & (np.abs(np.where(np.isfinite(image), image, 0)).sum(2) > 0)
    else:
        valid = np.asarray(valid, bool) & finite
        if valid.shape != image.shape[:2]:
            raise InputError(f"valid mask of shape {valid.shape} for a scan of {image.shape[:2]}")
    cols = np.arange(image.shape[1])
    signals, rows = [], []
    for r in range(image.shape[0]):
        ok = valid[r]
        if not ok.any():
            continue
        values = image[r][:, CHANNELS[channels]]
        filled = np.stack([np.interp(cols, cols[ok], values[ok, c])
                           for c in range(values.shape[1])], 1)
        signals.append(filled)
        rows.append(r)
    return signals, np.asarray(rows, dtype=np.int64), valid
