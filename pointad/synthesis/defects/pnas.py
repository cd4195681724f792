"""``pnas``: a 3D-PNAS Perlin defect, local mode (:class:`pointad.synthesis.PNAS`).

One localized bump or dent whose outline follows a Perlin field on the tangent plane at a random
seed, over the ``2 * fraction * N`` nearest points on the seed's side. Size: peak 3-6 % of the
object diameter D, at least 3 point spacings, at most 15 % of D (or ``height`` spacings); noise
scale 1.5-3 cycles across the defect; bump or dent drawn.

Label rule: labelled = displaced by at least half the peak (PNAS's soft label >= 0.5), exactly
``fraction * N`` points; the fringe below half the peak is put back, so unlabelled points do not
move.
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
)


@register
def pnas(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
         fraction: float | None = None, spacing: float | None = None,
         height: Height | None = None) -> DefectResult:
    """A 3D-PNAS Perlin defect (local mode, bump or dent), peak 3-6 % of D, >= 3 spacings."""
    from pointad.synthesis.pnas import PNAS  # the noise kernels: only when used

    s = setup(points, normals, rng, fraction, spacing, height)
    pts, nrm, diameter = s.points, s.normals, s.diameter
    peak = peak_size(rng, s, (0.03, 0.06), 3.0, 0.15)
    synth = PNAS(mode="local", fraction=s.fraction, strength=peak / diameter, units="relative",
                 scale=float(rng.uniform(1.5, 3.0)), sign="mixed")
    sample = synth(pts, nrm, seed=int(rng.integers(2**31 - 1)))
    labels = np.asarray(sample.labels, dtype=bool)
    # The sub-threshold fringe is put back: unlabelled points keep their place.
    new = np.where(labels[:, None], sample.points, pts)
    params = dict(peak_mm=peak, pnas_seed=sample.params["seed"], pnas_scale=synth.scale,
                  sign=sample.params["sign"], target_fraction=s.fraction)
    if s.height is not None:
        params["height_spacings"] = peak / s.spacing
    return finish("pnas", s, new, labels, params, peak)
