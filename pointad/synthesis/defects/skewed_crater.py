"""``skewed_crater``: a one-sided crater, its deepest point off-centre, a raised rim on one side.

Like an oblique impact: around a random seed, a bowl of radius R whose deepest point lies a
fraction 0.3-0.5 of R off the centre along a random tangent direction t, so the wall is steep on
that side and gentle on the other; beyond the steep wall, a rim (a ring 0.4 R wide, fading to
nothing at the sides) is raised by 0.6-0.9 of the depth (``rim``). Everything moves along the
points' normals, on the seed's side of the part. Size: depth h = 3-6 % of the object diameter D,
at least 3 point spacings, at most 15 % of D (or ``height`` spacings); R is fitted so that about
``fraction * N`` points are labelled.

Label rule: a point is labelled iff its move (into the bowl or up on the rim) is at least half the
depth h, the peak; the rest of the profile (the outer slope of the bowl, the rim's flanks) is put
back, so unlabelled points do not move.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.synthesis.defects.base import (
    DefectResult,
    Height,
    check_room,
    finish,
    fit_radius,
    half_peak_rule,
    nearest,
    peak_size,
    register,
    seed_frame,
    setup,
)
from pointad.synthesis.region import smoothstep
from pointad.validation import check_number

RIM_WIDTH = 0.4  # width of the raised rim, in crater radii


@register
def skewed_crater(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
                  fraction: float | None = None, spacing: float | None = None,
                  height: Height | None = None, rim: float | None = None) -> DefectResult:
    """An off-centre crater with a one-sided raised rim (depth 3-6 % of D, >= 3 spacings)."""
    s = setup(points, normals, rng, fraction, spacing, height)
    if rim is not None:
        rim = float(check_number(rim, "rim", low=0, high=1))
    peak = peak_size(rng, s, (0.03, 0.06), 3.0, 0.15)
    skew = float(rng.uniform(0.3, 0.5))
    if rim is None:
        rim = float(rng.uniform(0.6, 0.9))
    frame = seed_frame(s, rng)
    check_room(s, len(frame.members), "the crater")
    u, v = frame.rel @ frame.along, frame.rel @ frame.across
    rim_height = rim

    def build(radius: float) -> tuple[np.ndarray, np.ndarray]:
        near = np.flatnonzero(frame.dist <= (1.0 + RIM_WIDTH) * radius)
        x, y = u[near] / radius, v[near] / radius
        r = np.hypot(x, y)
        # Bowl: 1 at the deep point D = (skew, 0), 0 on the unit circle, along each ray from D.
        dx = x - skew
        d = np.hypot(dx, y)
        cos_d = np.divide(dx, d, out=np.ones_like(d), where=d > 0)
        reach = -skew * cos_d + np.sqrt(skew * skew * cos_d * cos_d - skew * skew + 1.0)
        bowl = smoothstep(1.0 - d / reach)
        # Rim: a ring outside the steep wall, highest mid-ring, fading towards the sides.
        ring = np.sin(np.pi * np.clip((r - 1.0) / RIM_WIDTH, 0.0, 1.0))
        side = np.clip(np.divide(x, r, out=np.zeros_like(r), where=r > 0), 0.0, 1.0) ** 2
        along_normal = -bowl + rim_height * ring * side
        return frame.members[near], along_normal[:, None] * s.normals[frame.members[near]]

    start = float(frame.dist[nearest(frame.dist, s.n_labelled)].max()) * 1.6
    (idx, raw), radius = fit_radius(build, start, s.n_labelled)
    offsets, labelled = half_peak_rule(raw, peak)
    new = s.points.copy()
    new[idx[labelled]] += offsets[labelled]
    labels = np.zeros(len(s.points), dtype=bool)
    labels[idx[labelled]] = True
    params = dict(center=frame.center, direction=frame.along, peak=peak,
                  height_spacings=peak / s.spacing, radius=radius, skew=skew, rim=rim,
                  target_fraction=s.fraction)
    return finish("skewed_crater", s, new, labels, params, peak)
