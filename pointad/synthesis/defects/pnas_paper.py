"""``pnas_paper``: 3D-PNAS in the paper's mode, a Perlin field over the whole part.

The 3D-PNAS paper (arXiv 2504.12856; :class:`pointad.synthesis.PNAS` with ``mode="paper"``):
the cloud projected on its PCA plane, a multi-octave Perlin field (1.5-3 cycles across the
object) min-max normalized over the part and looked up at each point; the points move along
their normals where the field is high, a bump or a dent (drawn). Unlike the paper, the defect
stays on one side of the part: only the points facing a random seed point's side (normals within
120 degrees of its normal) move, so a thin wall is never marked on both faces. Size: peak 3-6 %
of the object diameter D, at least 3 point spacings, at most 15 % of D (or ``height`` spacings);
the field level is chosen so that ``fraction * N`` points are labelled: the defect is the few
blobs where the field is highest, anywhere on that side of the part.

Label rule: with t the level of the ``fraction * N``-th highest field value f on the seed's side
and f_max the highest, a point there with f >= t moves by ``h * (f - t0) / (f_max - t0)``,
``t0 = 2 t - f_max`` (h / 2 at t, h at f_max). Labelled = moved (at least half the peak); nothing
else moves.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.errors import InputError
from pointad.synthesis.defects.base import (
    DefectResult,
    Height,
    check_room,
    finish,
    peak_size,
    register,
    setup,
)
from pointad.synthesis.region import FACING_COS


@register
def pnas_paper(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
               fraction: float | None = None, spacing: float | None = None,
               height: Height | None = None) -> DefectResult:
    """3D-PNAS paper mode: the highest blobs of a whole-part Perlin field (peak 3-6 % of D)."""
    from pointad.synthesis.pnas import PNAS  # the noise kernels: only when used

    s = setup(points, normals, rng, fraction, spacing, height)
    pts, nrm = s.points, s.normals
    peak = peak_size(rng, s, (0.03, 0.06), 3.0, 0.15)
    center = int(rng.integers(len(pts)))
    scale = float(rng.uniform(1.5, 3.0))
    sign = float(rng.choice([-1.0, 1.0]))
    seed = int(rng.integers(2**31 - 1))
    # The field itself: identity transfer, so the soft labels are the normalized field.
    field = PNAS(mode="paper", scale=scale, sign="bump", transfer="identity")(
        pts, nrm, seed=seed).soft_labels
    facing = np.flatnonzero(nrm @ nrm[center] > FACING_COS)
    check_room(s, len(facing), "the defect")
    values = field[facing]
    level = float(np.partition(values, len(values) - s.n_labelled)[len(values) - s.n_labelled])
    top = float(values.max())
    if top <= level:
        raise InputError("the noise field is flat on this side of the part")
    floor = 2.0 * level - top
    chosen = values >= level
    idx = facing[chosen]
    magnitude = peak * (values[chosen] - floor) / (top - floor)
    new = pts.copy()
    new[idx] += (sign * magnitude)[:, None] * nrm[idx]
    labels = np.zeros(len(pts), dtype=bool)
    labels[idx] = True
    params = dict(center=center, peak=peak, height_spacings=peak / s.spacing, sign=sign,
                  pnas_seed=seed, pnas_scale=scale, field_level=level,
                  target_fraction=s.fraction)
    return finish("pnas_paper", s, new, labels, params, peak)
