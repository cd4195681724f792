"""``chipped_edge``: a corner of material broken off a sharp convex edge.

At a random point of a sharp convex edge (normals turning 50-145 degrees; on a single-view scan
that sees one face only, the border of the scanned surface), a plane inclined to both faces cuts
the corner ``d`` deep, and the points of the cut-off piece are pushed onto the cut plane. Size: d
from the target (a notch ~4 d long holding ``fraction * N`` points), at least 2.5 point spacings,
at most 10 % of the object diameter (or ``height`` spacings); the notch length follows the target.

Label rule: the points the plane pushes by at least d / 2 (within 2 d of the edge line, on the
edge's two faces), the ``fraction * N`` nearest the seed along the edge; points the plane would
move less stay put. Labelled = moved. The deepest push can exceed d by the seed's distance to the
edge line (under a spacing on a sampled edge); ``peak`` is d.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pointad.errors import InputError
from pointad.synthesis.defects.base import (
    TINY,
    DefectResult,
    Height,
    density,
    draw_height,
    finish,
    register,
    setup,
)


@register
def chipped_edge(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
                 fraction: float | None = None, spacing: float | None = None,
                 height: Height | None = None) -> DefectResult:
    """A corner of material broken off a sharp convex edge (depth >= 2.5 spacings)."""
    from pointad.ops import NeighbourIndex  # torch on first use

    s = setup(points, normals, rng, fraction, spacing, height)
    pts, nrm, n_lab = s.points, s.normals, s.n_labelled
    index = NeighbourIndex(pts)
    center, n_a, n_b = edge_point(pts, nrm, index, rng)
    bisector = (n_a + n_b) / np.linalg.norm(n_a + n_b)
    along = np.cross(n_a, n_b)
    along /= np.linalg.norm(along)
    if s.height is None:
        # Depth from the target: a notch about 4 d long with two strips ~0.7 d wide holds
        # ~5.7 d^2 * density points.
        dens = density(pts, s.spacing)
        depth = float(np.clip(np.sqrt(n_lab / (5.7 * max(dens, TINY))), 2.5 * s.spacing,
                              0.1 * s.diameter))
    else:
        depth = draw_height(rng, s.height) * s.spacing
    rel = pts - pts[center]
    t = rel @ along
    move = rel @ bisector + depth                  # how far the cut plane pushes each point
    off_edge = np.sqrt(np.maximum(np.einsum("ij,ij->i", rel, rel) - t * t, 0.0))
    # Only the edge's faces (normals within ~80 degrees of the bisector; the two faces of an
    # edge up to 145 degrees are within 72.5): the cut pushes them into the material.
    chip = np.flatnonzero((move >= 0.5 * depth) & (off_edge <= 2.0 * depth)
                          & (nrm @ bisector > 0.2))
    if len(chip) == 0:
        raise InputError("the chip holds no points")
    # The n_lab chip points nearest the seed along the edge: the notch length follows the target.
    chip = chip[np.argsort(np.abs(t[chip]), kind="stable")[:n_lab]]
    new = pts.copy()
    new[chip] -= move[chip, None] * bisector
    labels = np.zeros(len(pts), dtype=bool)
    labels[chip] = True
    params = dict(center=center, depth_mm=depth, length_mm=float(2 * np.abs(t[chip]).max()),
                  target_fraction=s.fraction)
    if s.height is not None:
        params["height_spacings"] = depth / s.spacing
    return finish("chipped_edge", s, new, labels, params, depth)


def edge_point(pts: np.ndarray, nrm: np.ndarray, index: Any,
               rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray]:
    """A random point of a sharp convex edge and the normals of its two faces: (i, n_a, n_b).

    Sharp edge: a neighbour's normal turns by 50-145 degrees and each face lies behind the
    other's tangent plane (convex; an inner corner would have it in front). A single-view scan
    often sees only one face of an edge (the side wall is at a grazing angle and lost): then the
    border of the scanned surface counts, with the unseen face's normal taken as the outward
    direction in the tangent plane, as for a square edge. ``index``: a
    :class:`pointad.ops.NeighbourIndex` of ``pts``.
    """
    knn = index.query(pts, min(12, len(pts)))[1]
    dots = np.einsum("ij,ikj->ik", nrm, nrm[knn])
    other = knn[np.arange(len(pts)), dots.argmin(axis=1)]  # the most turned neighbour
    cos_turn = dots.min(axis=1)
    offset = pts[other] - pts
    convex = ((np.einsum("ij,ij->i", offset, nrm) < 0)
              & (np.einsum("ij,ij->i", -offset, nrm[other]) < 0))
    sharp = np.flatnonzero((cos_turn < np.cos(np.deg2rad(50)))
                           & (cos_turn > np.cos(np.deg2rad(145))) & convex)
    if len(sharp):
        i = int(sharp[rng.integers(len(sharp))])
        return i, nrm[i], nrm[other[i]]
    # Border: the neighbours lie on one side, their mean offset points inward.
    mean_offset = pts[knn].mean(axis=1) - pts
    tangential = mean_offset - np.einsum("ij,ij->i", mean_offset, nrm)[:, None] * nrm
    reach = np.linalg.norm(pts[knn] - pts[:, None, :], axis=2).mean(axis=1)
    length = np.linalg.norm(tangential, axis=1)
    border = np.flatnonzero(length > 0.4 * np.maximum(reach, TINY))
    if len(border) == 0:
        raise InputError("no sharp convex edge or surface border to chip on this surface")
    i = int(border[rng.integers(len(border))])
    return i, nrm[i], -tangential[i] / length[i]
