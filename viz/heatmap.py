"""Figures on the part: a defect before and after synthesis, and anomaly-score heatmaps, each
from chosen viewpoints (see :mod:`viz.views`)."""
from __future__ import annotations

import numpy as np

from pointad.errors import InputError
from pointad.geometry.normals import estimate_normals
from viz.colors import (
    SCORE_CMAP,
    SIGNED_CMAP,
    label_colors,
    plain_colors,
    scalar_colors,
    shade,
    signed_colors,
)
from viz.views import draw_points, view_direction

FOCUS_TOP = 0.02  # without labels, "defect" views face the top 2% of scores


def _crop(points, focus):
    """(centre, radius) around the focus points: twice their extent from their centroid."""
    sel = points[focus]
    centre = sel.mean(axis=0)
    return centre, 2.0 * max(float(np.linalg.norm(sel - centre, axis=1).max()), 1e-9)


def _grid(fig, n_rows, n_cols):
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.08, wspace=0.04, hspace=0.12)
    return axes


def _view_name(view):
    return "defect view" if view == "defect" else f"azimuth {view[0]:g}, elevation {view[1]:g}"


def before_after_figure(points, normals, sample, views=("defect",), *, zoom: bool = False,
                        panel_in: float = 3.2):
    """Rows = ``views``; columns = the part before (shaded), after (shaded with the normals of the
    displaced surface) and after coloured by signed displacement (blue = dent, red = bump).

    ``points``/``normals`` (N, 3) are the input cloud, ``sample`` its :class:`AnomalySample`.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from viz.figure_output import new_figure

    pts = np.asarray(points, dtype=np.float64)
    # Normals of the displaced surface, so the shading shows the bump or dent; signs follow the
    # input normals (the displacement is small next to the part).
    after_n = estimate_normals(sample.points, k=16, orient="none")
    after_n *= np.where((after_n * normals).sum(axis=1) < 0, -1.0, 1.0)[:, None]
    signed = (sample.displacement * sample.normals).sum(axis=1)
    focus = sample.labels if sample.is_anomalous else None
    crop = _crop(pts, focus) if zoom and focus is not None else None
    fig = new_figure(3 * panel_in, len(views) * panel_in + 0.8)
    axes = _grid(fig, len(views), 3)
    grey = plain_colors(len(pts))
    for i, view in enumerate(views):
        d = view_direction(view, pts, normals, focus)
        draw_points(axes[i, 0], pts, shade(grey, normals, d), d, crop=crop,
                    title=f"before ({_view_name(view)})")
        draw_points(axes[i, 1], sample.points, shade(grey, after_n, d), d, crop=crop,
                    title="after")
        draw_points(axes[i, 2], sample.points, shade(signed_colors(signed), after_n, d, 0.6), d,
                    crop=crop, title="displacement along the normal")
    peak = float(np.abs(signed).max()) or 1.0
    cax = fig.add_axes([0.69, 0.03, 0.27, 0.015])
    fig.colorbar(ScalarMappable(Normalize(-peak, peak), SIGNED_CMAP), cax=cax,
                 orientation="horizontal")
    p = sample.params
    fig.suptitle(f"{p['config']['mode']} mode, seed {p['seed']}: {int(sample.labels.sum())} "
                 f"anomalous points ({100 * sample.anomalous_fraction:.1f}%), peak "
                 f"{p['peak_displacement']:.3g}", fontsize=10)
    return fig


def _outward_normals(points: np.ndarray) -> np.ndarray | None:
    """PCA normals (16 neighbours) turned away from the centroid: enough to face a defect on a
    thin part from above, not edge-on (a scan's file carries no normals). None for a cloud too
    small or degenerate for normals (the view then faces away from the centroid)."""
    if len(points) < 16:
        return None
    try:
        n = estimate_normals(points, k=16, orient="none")
    except InputError:
        return None
    return n * np.where(((points - points.mean(axis=0)) * n).sum(axis=1) < 0, -1.0, 1.0)[:, None]


def score_figure(points, scores, views=("defect",), *, labels=None, normals=None,
                 zoom: bool = False, title: str | None = None, panel_in: float = 3.4):
    """Rows = ``views``; columns = ground truth (label colours, when ``labels`` (N,) is given) and
    the anomaly-score heatmap (``scores`` (N,), bright = anomalous).

    ``"defect"`` views face the labelled points, or the top 2% of scores without labels,
    along their mean normal (``normals`` (N, 3), or estimated and turned away from the centroid).
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from viz.figure_output import new_figure

    pts = np.asarray(points, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.shape != (len(pts),):
        raise InputError(f"scores have {s.size} values but the cloud has {len(pts)} points")
    if not np.all(np.isfinite(s)):
        raise InputError("scores must be finite (found NaN or inf)")
    lab = None if labels is None else np.asarray(labels).astype(bool).ravel()
    if lab is not None and lab.shape != (len(pts),):
        raise InputError(f"labels have {lab.size} values but the cloud has {len(pts)} points")
    if lab is not None and lab.any():
        focus = lab
    else:
        focus = s >= np.quantile(s, 1.0 - FOCUS_TOP)
    if normals is None and any(v in ("defect", "oblique") for v in views):
        normals = _outward_normals(pts)
    crop = _crop(pts, focus) if zoom else None
    n_cols = 1 if lab is None else 2
    fig = new_figure(n_cols * panel_in + 0.6, len(views) * panel_in + 0.6)
    axes = _grid(fig, len(views), n_cols)
    fig.subplots_adjust(right=0.88)
    score_colors = scalar_colors(s, SCORE_CMAP)
    for i, view in enumerate(views):
        d = view_direction(view, pts, normals, focus)
        if lab is not None:
            draw_points(axes[i, 0], pts, label_colors(lab), d, crop=crop,
                        title=f"ground truth ({_view_name(view)})")
        draw_points(axes[i, -1], pts, score_colors, d, crop=crop,
                    title="anomaly score" + ("" if lab is not None else f" ({_view_name(view)})"))
    cax = fig.add_axes([0.9, 0.15, 0.02, 0.7])
    fig.colorbar(ScalarMappable(Normalize(float(s.min()), float(s.max())), SCORE_CMAP), cax=cax,
                 label="point score")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
