"""Colours of the viewer and the figures, as (N, 3) uint8 RGB arrays.

Labels use two flat colours (so a test can find them pixel-exactly in a render); continuous
values go through a matplotlib colormap.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pointad.errors import InputError

BACKGROUND = (255, 255, 255)     # white
NORMAL_COLOR = (170, 170, 170)   # grey: points labelled normal, or plain points
ANOMALY_COLOR = (220, 20, 20)    # red: points labelled anomalous
GLYPH_COLOR = (30, 90, 200)      # blue: normal arrows
DISPLACEMENT_CMAP = "viridis"    # displacement magnitude: dark = untouched
SCORE_CMAP = "inferno"           # anomaly score: bright = anomalous
SIGNED_CMAP = "coolwarm"         # signed displacement: blue = dent, red = bump


def label_colors(labels) -> np.ndarray:
    """(N,) bool / 0-1 labels -> (N, 3) uint8: :data:`ANOMALY_COLOR` where set, else normal."""
    lab = np.asarray(labels).astype(bool).ravel()
    out = np.empty((lab.size, 3), dtype=np.uint8)
    out[:] = NORMAL_COLOR
    out[lab] = ANOMALY_COLOR
    return out


def plain_colors(n: int) -> np.ndarray:
    """(n, 3) uint8 of :data:`NORMAL_COLOR`."""
    return label_colors(np.zeros(int(n), dtype=bool))


def scalar_colors(values, cmap: str = SCORE_CMAP, vmin: float | None = None,
                  vmax: float | None = None) -> np.ndarray:
    """(N,) values -> (N, 3) uint8 through the matplotlib colormap ``cmap``.

    The range defaults to the values' finite min and max; constant values map to the low end.
    Non-finite values raise :class:`InputError`.
    """
    import matplotlib  # colormaps only; no pyplot, no backend

    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        raise InputError("values to colour must be finite (found NaN or inf)")
    lo = float(vmin) if vmin is not None else (float(v.min()) if v.size else 0.0)
    hi = float(vmax) if vmax is not None else (float(v.max()) if v.size else 1.0)
    t = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    rgba = matplotlib.colormaps[cmap](np.clip(t, 0.0, 1.0))
    return np.round(rgba[:, :3] * 255).astype(np.uint8)


def signed_peak(values) -> float:
    """The half-range of a diverging map of ``values``: their largest magnitude (1.0 when all are
    zero, so zero still maps to the middle colour)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    peak = float(np.max(np.abs(v))) if v.size else 0.0
    return peak if peak > 0 else 1.0


def signed_colors(values) -> np.ndarray:
    """(N,) signed values -> (N, 3) uint8 on :data:`SIGNED_CMAP`, symmetric about 0: the range is
    ``[-peak, peak]`` (:func:`signed_peak`), so 0 is the map's middle colour whatever the sign of
    the values."""
    peak = signed_peak(values)
    return scalar_colors(values, SIGNED_CMAP, -peak, peak)


@dataclass(frozen=True)
class Legend:
    """What a colour means, for a scalar bar: ``title`` (what and its unit), a continuous map
    ``cmap`` over ``[vmin, vmax]``, or ``categories`` ((name, (r, g, b)) pairs) for flat colours.
    """

    title: str
    cmap: str | None = None
    vmin: float = 0.0
    vmax: float = 1.0
    categories: tuple = ()


LABEL_LEGEND = Legend("ground-truth\nlabel", categories=(("normal", NORMAL_COLOR),
                                                         ("anomalous", ANOMALY_COLOR)))


def shade(colors, normals, direction, ambient: float = 0.35) -> np.ndarray:
    """Headlight shading: ``colors`` (N, 3) uint8 times ``ambient + (1 - ambient) |n . d|`` with
    unit ``normals`` (N, 3) and the view ``direction`` (3,), so the shape shows in a flat render."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    nrm = np.asarray(normals, dtype=np.float64)
    lit = np.abs(nrm @ d) / np.maximum(np.linalg.norm(nrm, axis=1), 1e-12)
    factor = ambient + (1.0 - ambient) * lit
    return np.clip(np.asarray(colors, dtype=np.float64) * factor[:, None], 0, 255).astype(np.uint8)
