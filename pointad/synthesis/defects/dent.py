"""``dent``: an inward dent, the mirror of :mod:`~pointad.synthesis.defects.bulge`.

Size: the ``fraction * N`` points nearest a random seed on its side of the part (radius R);
depth h = 3-6 % of the object diameter D, at least 3 point spacings, at most 15 % of D (or
``height`` spacings).

Label rule: every point of the footprint moves against its normal by
``h * (1 + smoothstep(1 - d / R)) / 2`` (h at the centre, h / 2 at the rim). Labelled = moved.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.synthesis.defects.base import DefectResult, Height, register
from pointad.synthesis.defects.bulge import blister


@register
def dent(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
         fraction: float | None = None, spacing: float | None = None,
         height: Height | None = None) -> DefectResult:
    """Inward dent of depth ``height`` spacings (default 3-6 % of D)."""
    return blister("dent", points, normals, rng, -1.0, fraction, spacing, height)
