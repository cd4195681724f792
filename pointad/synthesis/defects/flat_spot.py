"""``flat_spot``: a patch pressed flat, as by a blow with a flat tool.

Around a random seed (normal n), the points of the surrounding region are projected along n onto
the seed's tangent plane pushed ``h`` into the material: on a convex surface the flat is deepest
at the seed and ends where the surface falls h / 2 below the seed; on a flat face it is a
flat-bottomed recess h deep. Points more than h / 2 above the seed's tangent plane (a wall rising
next to the seed, the rim of a hollow) are left alone. Size: the region holds the
``2 * fraction * N`` points nearest the seed on its side, of which at most ``fraction * N`` (the
nearest) are pressed; h = 2-4 % of the object diameter D, at least 3 point spacings, at most 10 %
of D (or ``height`` spacings). The peak move is h where the patch is flat or convex, up to 1.5 h
on a hollow (h plus the highest pressed point's height above the seed's tangent plane).

Label rule: a point is labelled iff the plane moves it by at least half the peak move; the
points the plane would move less stay put, so unlabelled points do not move.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.synthesis.defects.base import (
    DefectResult,
    Height,
    check_room,
    finish,
    nearest,
    peak_size,
    register,
    setup,
)
from pointad.synthesis.region import FACING_COS, SUPPORT_FACTOR, defect_support


@register
def flat_spot(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
              fraction: float | None = None, spacing: float | None = None,
              height: Height | None = None) -> DefectResult:
    """A patch pressed flat, ``height`` spacings below the seed (default 2-4 % of D)."""
    s = setup(points, normals, rng, fraction, spacing, height)
    pts, nrm = s.points, s.normals
    depth = peak_size(rng, s, (0.02, 0.04), 3.0, 0.1)
    center = int(rng.integers(len(pts)))
    normal = nrm[center]
    n_facing = int(np.count_nonzero(nrm @ normal > FACING_COS))
    check_room(s, n_facing, "the flat spot")
    region, dist, _ = defect_support(pts, nrm, center,
                                     min(int(np.ceil(SUPPORT_FACTOR * s.n_labelled)), n_facing))
    move = (pts[region] - pts[center]) @ normal + depth   # down to the plane h below the seed
    reach = np.flatnonzero((move >= 0.5 * depth) & (move <= 1.5 * depth))
    reach = reach[nearest(dist[reach], s.n_labelled)]
    peak = float(move[reach].max()) if len(reach) else depth
    pressed = reach[move[reach] >= 0.5 * peak]
    idx = region[pressed]
    new = pts.copy()
    new[idx] -= move[pressed, None] * normal[None, :]
    labels = np.zeros(len(pts), dtype=bool)
    labels[idx] = True
    radius = float(dist[pressed].max()) if len(pressed) else 0.0
    params = dict(center=center, peak=peak, depth=depth, height_spacings=depth / s.spacing,
                  radius=radius, target_fraction=s.fraction)
    return finish("flat_spot", s, new, labels, params, peak)
