"""``drag``: material dragged along a direction, smeared sideways and lifted at the front.

Size: an elliptic footprint of aspect 1.5-3 along a random tangent direction t at a random seed,
holding the ``fraction * N`` points nearest the seed in that stretched metric (on its side);
peak move h = 2-4 % of the object diameter D, at least 3 point spacings, at most 10 % of D (or
``height`` spacings); lift 0.2-0.5 (``lift``: the normal lift at the front per unit of smear).

Raw move of a footprint point: ``w * (t + lift * g * n)`` with w = ``(1 + smoothstep(1 - e / b))
/ 2`` (1 at the centre, 1/2 at the border) and ``g = smoothstep((x + 1) / 2)`` growing from 0 at
the back (x = -1) to 1 at the front (x = 1) of the footprint, n the point's normal; scaled so the
largest move is h.

Label rule: a point is labelled iff its move is at least half the peak h; the few border points
whose move would fall below h / 2 are put back (they do not move). Nothing else moves.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.synthesis.defects.base import (
    TINY,
    DefectResult,
    Height,
    check_room,
    elongated_distance,
    finish,
    half_peak_rule,
    nearest,
    peak_size,
    register,
    seed_frame,
    setup,
    smooth_rim,
)
from pointad.synthesis.region import smoothstep
from pointad.validation import check_number


@register
def drag(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
         fraction: float | None = None, spacing: float | None = None,
         height: Height | None = None, lift: float | None = None) -> DefectResult:
    """A tangential smear with a normal lift growing along the drag (move 2-4 % of D)."""
    s = setup(points, normals, rng, fraction, spacing, height)
    if lift is not None:
        lift = float(check_number(lift, "lift", low=0, high=5))
    peak = peak_size(rng, s, (0.02, 0.04), 3.0, 0.1)
    aspect = float(rng.uniform(1.5, 3.0))
    if lift is None:
        lift = float(rng.uniform(0.2, 0.5))
    frame = seed_frame(s, rng)
    check_room(s, len(frame.members), "the drag")
    metric = elongated_distance(frame, aspect)
    pick = nearest(metric, s.n_labelled)
    half_width = float(metric[pick].max())
    idx = frame.members[pick]
    weight = smooth_rim(metric[pick], half_width)
    x = np.clip((frame.rel[pick] @ frame.along) / (aspect * max(half_width, TINY)), -1.0, 1.0)
    grow = smoothstep(0.5 * (x + 1.0))
    raw = weight[:, None] * (frame.along[None, :] + (lift * grow)[:, None] * s.normals[idx])
    offsets, labelled = half_peak_rule(raw, peak)
    new = s.points.copy()
    new[idx[labelled]] += offsets[labelled]
    labels = np.zeros(len(s.points), dtype=bool)
    labels[idx[labelled]] = True
    params = dict(center=frame.center, direction=frame.along, peak=peak,
                  height_spacings=peak / s.spacing, lift=lift, aspect=aspect,
                  half_width=half_width, half_length=aspect * half_width,
                  target_fraction=s.fraction)
    return finish("drag", s, new, labels, params, peak)
