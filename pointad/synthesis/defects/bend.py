"""``bend``: the tip of the part turned rigidly by a small angle.

The tip is the ``fraction * N`` points furthest along one end of the longest axis; it rotates
about a hinge axis lying in the cutting plane along the widest spread of the cross-section (a
plate bends about its width, not its thickness). Size: the tip's far end moves by about 4-8 % of
the object diameter D (at least 4 point spacings), the angle limited to 3-20 degrees; with
``height``, the far end moves exactly ``height`` spacings (angle at most 45 degrees).

Label rule (the exception to the half-peak rule): labelled = the rotated tip, every point of it,
although the points next to the hinge move little; nothing else moves. ``peak`` is the largest
move (the far end of the tip). A bend moves the whole tip, both faces of a thin part included.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.geometry.rotations import rotation_about
from pointad.synthesis.defects.base import (
    TINY,
    DefectResult,
    Height,
    draw_height,
    finish,
    register,
    relative_peak,
    setup,
)


@register
def bend(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
         fraction: float | None = None, spacing: float | None = None,
         height: Height | None = None) -> DefectResult:
    """The tip of the part (``fraction`` of the points along the longest axis) turned 3-20
    degrees."""
    s = setup(points, normals, rng, fraction, spacing, height)
    pts, diameter, spacing_, n_lab = s.points, s.diameter, s.spacing, s.n_labelled
    centred = pts - pts.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    tip_dir = axes[0] * rng.choice([-1.0, 1.0])  # an end of the longest axis: a tip, a shank end
    proj = centred @ tip_dir
    s0 = np.sort(proj)[len(proj) - n_lab - 1] if n_lab < len(proj) else proj.min()
    tip = np.flatnonzero(proj > s0)
    # Hinge: the axis lies in the cutting plane along the widest spread of the cross-section, so
    # the hinge section barely moves (a plate bends about its width, not its thickness).
    section = centred[np.abs(proj - s0) <= max(1.5 * spacing_, 0.02 * diameter)]
    if len(section) < 3:
        section = centred[np.argsort(np.abs(proj - s0))[:max(3, n_lab // 4)]]
    flat = section - np.outer(section @ tip_dir, tip_dir)
    pivot = flat.mean(axis=0) + s0 * tip_dir + pts.mean(axis=0)
    _, _, sec_axes = np.linalg.svd(flat - flat.mean(axis=0), full_matrices=False)
    hinge = sec_axes[0] - (sec_axes[0] @ tip_dir) * tip_dir
    hinge /= np.linalg.norm(hinge)
    arm = pts[tip] - pivot
    reach = np.linalg.norm(arm - np.outer(arm @ hinge, hinge), axis=1).max()
    if s.height is None:
        peak = relative_peak(rng, diameter, spacing_, (0.04, 0.08), 4.0, 0.15)
        angle = float(np.clip(peak / max(reach, TINY), np.deg2rad(3), np.deg2rad(20)))
    else:
        # The far end (at distance reach from the hinge) moves by the chord 2 reach sin(a / 2).
        peak = draw_height(rng, s.height) * spacing_
        angle = float(min(2.0 * np.arcsin(min(peak / (2.0 * max(reach, TINY)), 1.0)),
                          np.deg2rad(45)))
    angle *= rng.choice([-1.0, 1.0])
    new = pts.copy()
    new[tip] = pivot + arm @ rotation_about(hinge, angle).T
    labels = np.zeros(len(pts), dtype=bool)
    labels[tip] = True
    params = dict(angle_deg=float(np.degrees(angle)), hinge=hinge, pivot=pivot,
                  tip_direction=tip_dir, target_fraction=s.fraction)
    if s.height is not None:
        params["height_spacings"] = peak / spacing_
    moved = float(np.linalg.norm(new[tip] - pts[tip], axis=1).max()) if len(tip) else 0.0
    return finish("bend", s, new, labels, params, moved)
