"""``ripple``: a patch of sinusoidal waves along the normal.

Around a random seed, waves run along a random tangent direction t: the move along each point's
normal is ``h * envelope(d / R) * sin(pi * cycles * (x + 1) + phase)`` with x the offset along t
in units of R, ``cycles`` = 2-4 wavelengths across the patch (``cycles``), a random phase and a
flat-topped envelope (1 out to 0.65 R, 0 at R). Size: amplitude h = 1.5-3 % of the object
diameter D, at least 2.5 point spacings, at most 8 % of D (or ``height`` spacings); R is fitted
so that about ``fraction * N`` points are labelled; on the seed's side of the part.

Label rule: labelled iff |move| >= h / 2 (half the peak): the crests and troughs; the points near
the zero crossings and in the envelope's fade, which would move less, are put back, so unlabelled
points do not move.
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

FLAT = 0.65  # the envelope is 1 out to this fraction of the radius


@register
def ripple(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
           fraction: float | None = None, spacing: float | None = None,
           height: Height | None = None, cycles: float | None = None) -> DefectResult:
    """Sinusoidal waves along the normal, 2-4 wavelengths across a patch (amplitude 1.5-3 % of
    D, >= 2.5 spacings)."""
    s = setup(points, normals, rng, fraction, spacing, height)
    if cycles is not None:
        cycles = float(check_number(cycles, "cycles", low=0.5, high=20))
    peak = peak_size(rng, s, (0.015, 0.03), 2.5, 0.08)
    if cycles is None:
        cycles = float(rng.uniform(2.0, 4.0))
    phase = float(rng.uniform(0.0, 2.0 * np.pi))
    frame = seed_frame(s, rng)
    check_room(s, len(frame.members), "the ripple")
    u = frame.rel @ frame.along
    n_cycles = cycles

    def build(radius: float) -> tuple[np.ndarray, np.ndarray]:
        near = np.flatnonzero(frame.dist <= radius)
        envelope = smoothstep((1.0 - frame.dist[near] / radius) / (1.0 - FLAT))
        wave = np.sin(np.pi * n_cycles * (u[near] / radius + 1.0) + phase)
        return frame.members[near], (envelope * wave)[:, None] * s.normals[frame.members[near]]

    # About half of a flat-topped disc is labelled: start from the radius of twice the target.
    start = float(frame.dist[nearest(frame.dist, 2 * s.n_labelled)].max())
    (idx, raw), radius = fit_radius(build, start, s.n_labelled)
    offsets, labelled = half_peak_rule(raw, peak)
    new = s.points.copy()
    new[idx[labelled]] += offsets[labelled]
    labels = np.zeros(len(s.points), dtype=bool)
    labels[idx[labelled]] = True
    params = dict(center=frame.center, direction=frame.along, peak=peak,
                  height_spacings=peak / s.spacing, radius=radius, cycles=cycles, phase=phase,
                  wavelength=2.0 * radius / cycles, target_fraction=s.fraction)
    return finish("ripple", s, new, labels, params, peak)
