"""``ridge``: an elongated raised strip along a random tangent direction.

Size: an elliptic footprint of aspect 3-6 (``aspect``) along a random direction of the tangent
plane at a random seed, holding the ``fraction * N`` points nearest the seed in that stretched
metric (on the seed's side of the part); peak height h = 2-4 % of the object diameter D, at least
3 point spacings, at most 10 % of D (or ``height`` spacings).

Label rule: every footprint point moves along its normal by ``h * (1 + smoothstep(1 - e / b)) / 2``
(e: the point's elliptic distance, b: the footprint's half-width), h on the centre line and h / 2
at the border, so every moved point moved at least half the peak. Labelled = moved; nothing else
moves.

:func:`strip` is shared with :mod:`~pointad.synthesis.defects.trench`.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.synthesis.defects.base import (
    DefectResult,
    Height,
    check_room,
    elongated_distance,
    finish,
    nearest,
    peak_size,
    register,
    seed_frame,
    setup,
    smooth_rim,
)
from pointad.validation import check_number

ASPECT_RANGE = (3.0, 6.0)  # length / width of the footprint, drawn per defect


def strip(kind: str, points: ArrayLike, normals: ArrayLike, rng: np.random.Generator,
          sign: float, fraction: float | None, spacing: float | None, height: Height | None,
          aspect: float | None) -> DefectResult:
    """A raised (``sign`` 1) or sunk (``sign`` -1) elongated strip: ``ridge`` and ``trench``."""
    s = setup(points, normals, rng, fraction, spacing, height)
    if aspect is not None:
        aspect = float(check_number(aspect, "aspect", low=1, high=50))
    peak = peak_size(rng, s, (0.02, 0.04), 3.0, 0.1)
    if aspect is None:
        aspect = float(rng.uniform(*ASPECT_RANGE))
    frame = seed_frame(s, rng)
    check_room(s, len(frame.members), f"the {kind}")
    metric = elongated_distance(frame, aspect)
    pick = nearest(metric, s.n_labelled)
    half_width = float(metric[pick].max())
    idx = frame.members[pick]
    new = s.points.copy()
    new[idx] += (sign * peak * smooth_rim(metric[pick], half_width))[:, None] * s.normals[idx]
    labels = np.zeros(len(s.points), dtype=bool)
    labels[idx] = True
    params = dict(center=frame.center, direction=frame.along, peak=peak,
                  height_spacings=peak / s.spacing, aspect=aspect, half_width=half_width,
                  half_length=aspect * half_width, target_fraction=s.fraction)
    return finish(kind, s, new, labels, params, peak)


@register
def ridge(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
          fraction: float | None = None, spacing: float | None = None,
          height: Height | None = None, aspect: float | None = None) -> DefectResult:
    """Raised elongated strip (aspect 3-6, height 2-4 % of D, >= 3 spacings)."""
    return strip("ridge", points, normals, rng, 1.0, fraction, spacing, height, aspect)
