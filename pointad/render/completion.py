"""Partial scans against a complete reference: fill what the scanner never saw from the reference.

A test scan that saw the part from one to three sides, rendered from a side it did not see,
shows the back of its own front surface (or nothing) where a complete training cloud shows the
near surface: the whole view differs from training although nothing is defective, and the max
over views turns that into a high score on every point. Registered onto a reference cloud and
rendered in its frame (``DepthDetector(align=True)``), the scan can be compared pixel by pixel
with the reference's render: where the reference shows a surface and the scan shows nothing or
a surface well behind it (``gap`` point spacings), the scan is missing the reference's front
surface there. A large such region, or one that reaches the reference's silhouette, is a side
the scanner did not see; :func:`complete` paints the reference's pixels into it and takes its
pixels away from the points behind them (they are scored by the views that see them). Small
regions inside the silhouette are kept as they are: a hole or a deep dent looks the same.

Where the scan's own surface meets the painted one, the image joins two samplings (and two
instances) of the part: a step no training image has, which every feature whose receptive
field reaches it sees. The scan's pixels within ``guard`` pixels of a painted region keep their
image but show no point either, so that seam is scored by no view (its points take the scores
of the views that see them away from it, or of their nearest scored point). The 3 pixels of
the default were chosen on one realistic small build and checked on two others: a small gain
in P-AUROC on every method measured (docs/depth-methods.md, "Not scoring the seam").
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from pointad.errors import InputError
from pointad.validation import check_number

GAP_SPACINGS = 8.0   # deeper than the benchmark's deepest dent (5 point spacings)
MIN_AREA = 0.1       # a region this large (fraction of the reference's silhouette) is unseen
GUARD_PIXELS = 3     # the scan's pixels this close to a painted region are not scored (the seam)
_SQUARE = np.ones((1, 3, 3), dtype=bool)  # 8-connected, within one view


def pixel_heights(rendered) -> np.ndarray:
    """(V, H, W) heights toward the camera, in cloud units, of an unorganized render's pixels
    (from its depth channel and ``depth_range``); meaningful where ``valid``."""
    if rendered.depth_range is None:
        raise InputError("pixel heights need an unorganized render (with a depth_range)")
    far, near = rendered.depth_range[:, 0], rendered.depth_range[:, 1]
    depth = rendered.images[:, 0].astype(np.float64)
    return far[:, None, None] + depth * (near - far)[:, None, None]


def unseen_regions(rendered, reference, *, gap: float = GAP_SPACINGS,
                   min_area: float = MIN_AREA) -> np.ndarray:
    """(V, H, W) bool: the pixels of ``rendered`` that lie in a side its cloud's scanner did not
    see, judged against ``reference`` (a render of a complete cloud in the same frame, views and
    size): connected regions where the reference shows a surface and ``rendered`` shows none or
    one more than ``gap`` point spacings (the frame's) behind it, kept when they cover at least
    ``min_area`` of the reference's silhouette in that view or touch its border."""
    check_number(gap, "gap", low=0)
    check_number(min_area, "min_area", low=0, high=1)
    if rendered.index.shape != reference.index.shape or rendered.frame is None:
        raise InputError(f"the render {rendered.index.shape} and its reference "
                         f"{reference.index.shape} must be unorganized renders of one size")
    tolerance = gap * reference.frame.spacing
    behind = pixel_heights(rendered) < pixel_heights(reference) - tolerance
    missing = reference.valid & (~rendered.valid | behind)
    # The silhouette's rim, with the render's pinholes (pixels no splat reached) closed first.
    shape = ndimage.binary_closing(reference.valid, structure=_SQUARE, iterations=2,
                                   border_value=0) | reference.valid
    border = shape & ~ndimage.binary_erosion(shape, structure=_SQUARE, border_value=0)
    out = np.zeros_like(missing)
    for v in range(len(missing)):
        labels, n = ndimage.label(missing[v])
        if n == 0:
            continue
        area = np.bincount(labels.ravel(), minlength=n + 1)
        touches = np.zeros(n + 1, dtype=bool)
        touches[np.unique(labels[border[v]])] = True
        keep = (area >= min_area * max(int(reference.valid[v].sum()), 1)) | touches
        keep[0] = False
        out[v] = keep[labels]
    return out


def complete(rendered, reference, points: np.ndarray, *, guard: int = GUARD_PIXELS, **kw):
    """``rendered`` with its :func:`unseen_regions` painted from ``reference``: there the
    images are the reference's and ``index`` is -1 (no point is shown), ``valid``, ``seen`` and
    ``nearest_seen`` follow. The pixels within ``guard`` pixels (chessboard distance, same
    view) of a painted one keep the scan's image but show no point either: the seam (module
    docstring); when that would leave no point shown at all, only the painted pixels show none.
    ``points``: the (N, 3) cloud ``rendered`` was made of (for the nearest seen point of the
    points no view shows any more). ``kw``: ``gap`` and ``min_area`` of
    :func:`unseen_regions`. Returns a new render (the input is not changed); ``rendered``
    itself when nothing is unseen."""
    from dataclasses import replace

    from pointad.render.depth_render import _nearest_seen

    check_number(guard, "guard", low=0, integer=True)
    fill = unseen_regions(rendered, reference, **kw)
    if not fill.any():
        return rendered
    images = np.where(fill[:, None], reference.images, rendered.images)
    hidden = fill
    if guard:
        hidden = ndimage.binary_dilation(fill, structure=_SQUARE, iterations=guard)
        if not (rendered.index[~hidden] >= 0).any():
            hidden = fill
    index = np.where(hidden, -1, rendered.index)
    valid = index >= 0
    seen = np.zeros(rendered.n_points, dtype=bool)
    seen[index[valid]] = True
    return replace(rendered, images=images.astype(np.float32), index=index, valid=valid,
                   seen=seen, nearest_seen=_nearest_seen(np.asarray(points), seen))
