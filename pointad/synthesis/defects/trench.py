"""``trench``: an elongated sunk strip along a random tangent direction, the mirror of
:mod:`~pointad.synthesis.defects.ridge`.

Size: an elliptic footprint of aspect 3-6 (``aspect``) around a random seed holding
``fraction * N`` points on the seed's side; depth h = 2-4 % of the object diameter D, at least 3
point spacings, at most 10 % of D (or ``height`` spacings).

Label rule: every footprint point moves against its normal by
``h * (1 + smoothstep(1 - e / b)) / 2`` (h on the centre line, h / 2 at the border). Labelled =
moved; nothing else moves.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.synthesis.defects.base import DefectResult, Height, register
from pointad.synthesis.defects.ridge import strip


@register
def trench(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
           fraction: float | None = None, spacing: float | None = None,
           height: Height | None = None, aspect: float | None = None) -> DefectResult:
    """Sunk elongated strip (aspect 3-6, depth 2-4 % of D, >= 3 spacings)."""
    return strip("trench", points, normals, rng, -1.0, fraction, spacing, height, aspect)
