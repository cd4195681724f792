"""``hole``: a missing patch, the points around a random seed removed.

Size: removes ``0.8 * fraction * N`` points (the nearest to the seed on its side of the part,
radius r), so that with its rim the label covers about ``fraction * N`` points. ``height`` is
accepted (every kind takes it) and ignored: a hole moves nothing.

Label rule: the removed points (``keep`` False) and the kept points within the rim width
``max(r / 2, 1.5 s)`` of a removed one on the seed's side
(:func:`pointad.synthesis.hole.rim_labels`): the border ring a detector sees around the missing
patch. Nothing moves (offsets are zero); ``peak`` is 0.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.synthesis.defects.base import DefectResult, Height, finish, register, setup
from pointad.synthesis.region import defect_support


@register
def hole(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
         fraction: float | None = None, spacing: float | None = None,
         height: Height | None = None) -> DefectResult:
    """Missing patch: points removed around a seed; labels on it and on its border ring."""
    from pointad.synthesis.hole import rim_labels  # neighbour search: torch on first use

    s = setup(points, normals, rng, fraction, spacing, height)
    pts, nrm = s.points, s.normals
    center = int(rng.integers(len(pts)))
    # The rim ring (width r / 2) covers ~1.25 times the hole's area: remove 0.8 * target.
    n_removed = max(3, int(round(0.8 * s.n_labelled)))
    removed, _, radius = defect_support(pts, nrm, center, n_removed)
    rim_width = max(0.5 * radius, 1.5 * s.spacing)
    keep = np.ones(len(pts), dtype=bool)
    keep[removed] = False
    labels = ~keep | rim_labels(pts, nrm, ~keep, rim_width, nrm[center])
    params = dict(center=center, radius_mm=radius, rim_mm=rim_width, removed=len(removed),
                  target_fraction=s.fraction)
    return finish("hole", s, pts.copy(), labels, params, 0.0, keep=keep)
