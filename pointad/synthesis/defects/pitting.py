"""``pitting``: many small dents (pits) scattered over a region, like corrosion.

Around a random seed, 5-30 pits (``n_pits``) centred on random points of a region on the seed's
side of the part, each of radius r_j = 0.75-1.25 r (r: 2-3.5 point spacings, set from the target
so that the pits hold about ``fraction * N`` points, within 1.5-6 spacings) and depth d_j =
0.6-1 times the peak h; the region is large enough that the pits cover about a third of it, so
they seldom merge. Size: h = 1-2 % of the object diameter D, at least 2 spacings, at most 5 % of D
(or ``height`` spacings; the deepest pit is exactly h deep).

A pit point at distance d from its pit's centre moves against its normal by
``h / 2 + (d_j - h / 2) * smoothstep(1 - d / r_j)``: d_j at the centre, h / 2 at the pit's rim;
where pits overlap, the deeper move wins.

Label rule: labelled = the pit points, every one moved by at least half its pit's depth and at
least half the peak h; nothing else moves.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.synthesis.defects.base import (
    TINY,
    DefectResult,
    Height,
    density,
    finish,
    nearest,
    peak_size,
    register,
    setup,
)
from pointad.synthesis.region import FACING_COS, smoothstep
from pointad.validation import check_number

PIT_RANGE = (5, 30)   # number of pits, drawn per defect
COVER = 0.35          # share of the region's area the pits cover


@register
def pitting(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
            fraction: float | None = None, spacing: float | None = None,
            height: Height | None = None, n_pits: int | None = None) -> DefectResult:
    """5-30 small dents of a few spacings in a region (depth 1-2 % of D, >= 2 spacings)."""
    s = setup(points, normals, rng, fraction, spacing, height)
    if n_pits is not None:
        n_pits = int(check_number(n_pits, "n_pits", low=1, high=500, integer=True))
    pts, nrm, sp = s.points, s.normals, s.spacing
    peak = peak_size(rng, s, (0.01, 0.02), 2.0, 0.05)
    center = int(rng.integers(len(pts)))
    per_area = max(density(pts, sp), TINY)
    if n_pits is None:
        # A pit radius of a few spacings, and as many pits (5-30) as the target needs.
        first = float(rng.uniform(2.0, 3.5)) * sp
        n_pits = int(np.clip(round(s.n_labelled / (np.pi * first * first * per_area)),
                             *PIT_RANGE))
    pit_radius = float(np.clip(np.sqrt(s.n_labelled / (n_pits * np.pi * per_area)),
                               1.5 * sp, 6.0 * sp))
    region_radius = pit_radius * np.sqrt(n_pits / COVER)
    facing = np.flatnonzero(nrm @ nrm[center] > FACING_COS)
    dist = np.linalg.norm(pts[facing] - pts[center], axis=1)
    inside = facing[dist <= region_radius]
    if len(inside) < n_pits:
        inside = facing[nearest(dist, n_pits)]
    n_pits = min(n_pits, len(inside))
    radii = pit_radius * rng.uniform(0.75, 1.25, n_pits)
    depths = rng.uniform(0.6, 1.0, n_pits)
    depths *= peak / depths.max()
    centres = rng.choice(inside, n_pits, replace=False)
    # Pit points: facing points near a pit centre (the seed's side: no pit through a thin wall).
    near = facing[dist <= region_radius + 1.25 * pit_radius]
    move = np.zeros(len(near))
    for c, r, d in zip(centres, radii, depths):
        gap = np.linalg.norm(pts[near] - pts[c], axis=1)
        pit = gap <= r
        depth = 0.5 * peak + (d - 0.5 * peak) * smoothstep(1.0 - gap[pit] / r)
        move[pit] = np.maximum(move[pit], depth)
    moved = move > 0
    idx = near[moved]
    new = pts.copy()
    new[idx] -= move[moved, None] * nrm[idx]
    labels = np.zeros(len(pts), dtype=bool)
    labels[idx] = True
    params = dict(center=center, peak=peak, height_spacings=peak / sp, n_pits=n_pits,
                  pit_radius=pit_radius, region_radius=float(region_radius),
                  pit_centres=centres, pit_radii=radii, pit_depths=depths,
                  target_fraction=s.fraction)
    return finish("pitting", s, new, labels, params, peak)
