"""``crack``: a narrow, deep groove along a random curve walked on the surface.

Size: half-width w = 0.6-2.5 % of the object diameter D (at least 1 point spacing), set from the
local point density so that the groove holds about ``fraction * N`` points; depth h = 2-4 % of D,
at least 3 spacings, at most 10 % of D (or ``height`` spacings). The curve is at most 2 D long
and stops at a fold (the back of a thin wall) or the end of the surface.

Label rule: the points within w of the curve (facing its side) move inward by
``h * (1 + smoothstep(1 - d / w)) / 2`` (a V-shaped groove, at least half the depth deep across
its whole width). Labelled = moved; nothing else moves.

:func:`groove` is shared with :mod:`~pointad.synthesis.defects.scratch`.
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
    finish,
    peak_size,
    register,
    setup,
    smooth_rim,
)


def walk(pts: np.ndarray, nrm: np.ndarray, index: Any, rng: np.random.Generator, start: int,
         step: float, max_length: float, wiggle: float) -> tuple[np.ndarray, np.ndarray]:
    """A random curve on the surface: (K, 3) vertices and (K, 3) surface normals.

    Each step goes ``step`` along the heading in the local tangent plane, lands on the mean of
    the nearest points (a smoothed surface position) and turns by a random angle (``wiggle``
    radians per step, standard deviation). It stops at a fold of more than ~100 degrees (the back
    of a thin wall) or where it cannot advance (the end of the surface). ``index``: a
    :class:`pointad.ops.NeighbourIndex` of ``pts``.
    """
    normal = nrm[start]
    heading = np.cross(normal, rng.normal(size=3))
    heading /= np.linalg.norm(heading)
    pos = pts[start]
    path, path_normals = [pos], [normal]
    for _ in range(int(max_length / step)):
        # Turn about the local normal (Rodrigues with heading perpendicular to the normal).
        turn = rng.normal(0.0, wiggle)
        heading = np.cos(turn) * heading + np.sin(turn) * np.cross(normal, heading)
        idx = index.query((pos + step * heading)[None], 6)[1][0]
        new_pos = pts[idx].mean(axis=0)
        new_normal = nrm[idx].sum(axis=0)
        length = np.linalg.norm(new_normal)
        if length < 1e-9:
            break
        new_normal /= length
        advance = new_pos - pos
        if new_normal @ normal < -0.2 or np.linalg.norm(advance) < 0.3 * step:
            break
        tangent = advance - (advance @ new_normal) * new_normal
        if np.linalg.norm(tangent) < 1e-9 * step:  # relative: any unit of length
            break
        heading = tangent / np.linalg.norm(tangent)
        pos, normal = new_pos, new_normal
        path.append(pos)
        path_normals.append(normal)
    return np.array(path), np.array(path_normals)


def near_curve(pts: np.ndarray, nrm: np.ndarray, path: np.ndarray, path_normals: np.ndarray,
               half_width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points within ``half_width`` of the polyline ``path`` facing its side: (idx, dist, arc)."""
    from pointad.ops import NeighbourIndex  # torch on first use

    seg = np.diff(path, axis=0)
    seg_len = np.linalg.norm(seg, axis=1)
    arc_at = np.concatenate([[0.0], np.cumsum(seg_len)])
    # Resample densely (a quarter of the half-width): distance to the samples ~ to the polyline.
    n_sub = np.maximum(1, np.ceil(seg_len / (0.25 * half_width)).astype(int))
    dense_l, arc_l, nrm_l = [], [], []
    for i, k in enumerate(n_sub):
        u = np.arange(k) / k
        dense_l.append(path[i] + u[:, None] * seg[i])
        arc_l.append(arc_at[i] + u * seg_len[i])
        nrm_l.append(np.repeat(path_normals[i][None], k, axis=0))
    dense_l.append(path[-1:])
    arc_l.append(arc_at[-1:])
    nrm_l.append(path_normals[-1:])
    dense, dense_arc, dense_nrm = np.vstack(dense_l), np.concatenate(arc_l), np.vstack(nrm_l)
    dists, nears = NeighbourIndex(dense).query(pts, 1, radius=half_width)
    dist, near = dists[:, 0], nears[:, 0]
    inside = np.flatnonzero(np.isfinite(dist))
    # Facing: the groove never cuts through a thin wall to its back face.
    inside = inside[np.einsum("ij,ij->i", nrm[inside], dense_nrm[near[inside]]) > 0.5]
    return inside, dist[inside], dense_arc[near[inside]]


def groove(kind: str, points: ArrayLike, normals: ArrayLike, rng: np.random.Generator,
           fraction: float | None, spacing: float | None, height: Height | None, *,
           width_rel: tuple[float, float], min_width_sp: float, depth_rel: tuple[float, float],
           min_depth_sp: float, max_depth_rel: float) -> DefectResult:
    """A groove along a random surface curve: the shared body of ``crack`` and ``scratch``."""
    from pointad.ops import NeighbourIndex  # torch on first use

    s = setup(points, normals, rng, fraction, spacing, height)
    pts, nrm, diameter, spacing_, n_lab = s.points, s.normals, s.diameter, s.spacing, s.n_labelled
    depth = peak_size(rng, s, depth_rel, min_depth_sp, max_depth_rel)
    index = NeighbourIndex(pts)
    max_length = 2.0 * diameter
    dens = density(pts, spacing_)
    best = None
    for _ in range(6):  # a walk that hits the end of a small face early is retried elsewhere
        start = int(rng.integers(len(pts)))
        # Half-width from the local density so that a walk of max_length holds n_lab points,
        # within the kind's limits (a crack may not be a trench, a scratch stays thin).
        needed = n_lab / (2.0 * 0.7 * max_length * max(dens, TINY))
        half_width = float(np.clip(needed, max(min_width_sp * spacing_, width_rel[0] * diameter),
                                   max(width_rel[1] * diameter, min_width_sp * spacing_)))
        # Steps of a few spacings: shorter ones get stuck in the sampling jitter.
        step = max(2.0 * half_width, 3.0 * spacing_)
        path, path_normals = walk(pts, nrm, index, rng, start, step=step, max_length=max_length,
                                  wiggle=0.2)
        if len(path) < 2:
            continue
        members, dist, arc = near_curve(pts, nrm, path, path_normals, half_width)
        if len(members) > n_lab:
            # Keep the first n_lab points along the curve: its length adapts to the target.
            order = np.argsort(arc, kind="stable")[:n_lab]
            members, dist = members[order], dist[order]
        if best is None or len(members) > len(best[0]):
            best = (members, dist, half_width, start, float(arc.max()) if len(arc) else 0.0)
        if len(members) >= 0.7 * n_lab:
            break
    if best is None or len(best[0]) == 0:
        raise InputError("could not lay a groove on this surface")
    members, dist, half_width, start, length = best
    new = pts.copy()
    # V-shaped groove, at least half the depth deep across its whole width.
    shape = smooth_rim(dist, half_width)
    new[members] -= (depth * shape)[:, None] * nrm[members]
    labels = np.zeros(len(pts), dtype=bool)
    labels[members] = True
    params = dict(start=start, depth_mm=depth, half_width_mm=half_width, length_mm=length,
                  target_fraction=s.fraction)
    if s.height is not None:
        params["height_spacings"] = depth / spacing_
    return finish(kind, s, new, labels, params, depth)


@register
def crack(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
          fraction: float | None = None, spacing: float | None = None,
          height: Height | None = None) -> DefectResult:
    """Narrow, deep groove along a random surface curve (half-width <= 2.5 %, depth 2-4 % of D)."""
    return groove("crack", points, normals, rng, fraction, spacing, height,
                  width_rel=(0.006, 0.025), min_width_sp=1.0, depth_rel=(0.02, 0.04),
                  min_depth_sp=3.0, max_depth_rel=0.1)
