"""``bulge``: an outward blister, a smooth dome around a random seed point.

Size: the ``fraction * N`` points nearest the seed on its side of the part (radius R); peak
height h = 3-6 % of the object diameter D, at least 3 point spacings, at most 15 % of D (or
``height`` spacings).

Label rule: every point of the footprint moves along its normal by
``h * (1 + smoothstep(1 - d / R)) / 2``: h at the centre, h / 2 at the rim, so every moved point
moved at least half the peak. Labelled = moved; nothing else moves.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.synthesis.defects.base import (
    DefectResult,
    Height,
    finish,
    peak_size,
    register,
    setup,
    smooth_rim,
)
from pointad.synthesis.region import defect_support


def blister(kind: str, points: ArrayLike, normals: ArrayLike, rng: np.random.Generator,
            sign: float, fraction: float | None, spacing: float | None,
            height: Height | None) -> DefectResult:
    """A dome (``sign`` 1) or a dent (``sign`` -1): the shared body of ``bulge`` and ``dent``."""
    s = setup(points, normals, rng, fraction, spacing, height)
    peak = peak_size(rng, s, (0.03, 0.06), 3.0, 0.15)
    center = int(rng.integers(len(s.points)))
    support, dist, radius = defect_support(s.points, s.normals, center,
                                           min(s.n_labelled, len(s.points)))
    # Half the peak at the rim, the full peak at the centre: every moved point moved >= peak / 2.
    shape = smooth_rim(dist, radius)
    new = s.points.copy()
    new[support] += (sign * peak * shape)[:, None] * s.normals[support]
    labels = np.zeros(len(s.points), dtype=bool)
    labels[support] = True
    params = dict(center=center, peak_mm=peak, radius_mm=radius, target_fraction=s.fraction)
    if s.height is not None:
        params["height_spacings"] = peak / s.spacing
    return finish(kind, s, new, labels, params, peak)


@register
def bulge(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
          fraction: float | None = None, spacing: float | None = None,
          height: Height | None = None) -> DefectResult:
    """Outward blister: a smooth dome of peak height ``height`` spacings (default 3-6 % of D)."""
    return blister("bulge", points, normals, rng, 1.0, fraction, spacing, height)
