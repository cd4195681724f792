"""``scratch``: a very shallow, thin line along a random surface curve.

Size: half-width 0.3-1.2 % of the object diameter D (at least 0.6 point spacings), from the local
density so that the line holds about ``fraction * N`` points; depth 0.6-1.2 % of D, at least 1
spacing, at most 5 % of D (or ``height`` spacings). The curve is walked as for a
:mod:`~pointad.synthesis.defects.crack`.

Label rule: the points within the half-width of the curve move inward by at least half the
depth (``depth * (1 + smoothstep(1 - d / w)) / 2``). Labelled = moved; nothing else moves.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.synthesis.defects.base import DefectResult, Height, register
from pointad.synthesis.defects.crack import groove


@register
def scratch(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
            fraction: float | None = None, spacing: float | None = None,
            height: Height | None = None) -> DefectResult:
    """Very shallow, thin line (half-width <= 1.2 % of D, depth 0.6-1.2 % of D, >= 1 spacing)."""
    return groove("scratch", points, normals, rng, fraction, spacing, height,
                  width_rel=(0.003, 0.012), min_width_sp=0.6, depth_rel=(0.006, 0.012),
                  min_depth_sp=1.0, max_depth_rel=0.05)
