"""``shear``: a patch slid sideways, along a random direction of the tangent plane.

Size: the ``fraction * N`` points nearest a random seed on its side of the part (radius R); peak
shift h = 2-4 % of the object diameter D, at least 3 point spacings, at most 10 % of D (or
``height`` spacings), along a random tangent direction t at the seed.

Label rule: every point of the patch moves by ``h * (1 + smoothstep(1 - d / R)) / 2`` along t (the
same direction for the whole patch: in the seed's tangent plane), h at the centre and h / 2 at
the rim, so every moved point moved at least half the peak. Labelled = moved; nothing else moves.
On a flat face the shift runs within the surface: what a detector sees is the seam at the rim
(a gap behind, an overlap ahead) and the patch leaving a curved surface.
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
    seed_frame,
    setup,
    smooth_rim,
)


@register
def shear(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
          fraction: float | None = None, spacing: float | None = None,
          height: Height | None = None) -> DefectResult:
    """A patch shifted tangentially (shift 2-4 % of D, >= 3 spacings) with a smooth falloff."""
    s = setup(points, normals, rng, fraction, spacing, height)
    peak = peak_size(rng, s, (0.02, 0.04), 3.0, 0.1)
    frame = seed_frame(s, rng)
    check_room(s, len(frame.members), "the shear")
    pick = nearest(frame.dist, s.n_labelled)
    radius = float(frame.dist[pick].max())
    idx = frame.members[pick]
    new = s.points.copy()
    new[idx] += (peak * smooth_rim(frame.dist[pick], radius))[:, None] * frame.along
    labels = np.zeros(len(s.points), dtype=bool)
    labels[idx] = True
    params = dict(center=frame.center, direction=frame.along, peak=peak,
                  height_spacings=peak / s.spacing, radius=radius, target_fraction=s.fraction)
    return finish("shear", s, new, labels, params, peak)
