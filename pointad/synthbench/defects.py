"""Test defects of the benchmark, one function per kind, with per-point ground truth.

Every kind has the signature ``(points (N, 3), normals (N, 3), rng, **size) ->
(new_points (N, 3), keep (N,) bool, labels (N,) bool)``:

* ``points``/``normals``: a scan in millimetres with unit normals facing out of the material (or
  towards the sensor for a single-view scan);
* ``new_points``: the points after the defect, in input order; a cloud keeps ``new_points[keep]``;
* ``labels``: True on every point of the defect. Removed points (``keep`` False) are labelled
  too, so an image mask can show a hole; a cloud's ground truth is ``labels[keep]``.

Keyword sizes common to all kinds: ``fraction`` (target fraction of anomalous points, drawn in
[0.01, 0.07] when None), ``spacing`` (point spacing in mm, measured when None) and ``info`` (a
dict that receives the drawn parameters, for the manifest). Sizes are relative to the object
diameter D (:func:`pointad.geometry.object_diameter`) and never below a few point spacings s, so
a defect is visible at any sampling density.

Label rules (correct by construction; a point without a label never moves):

``bulge`` / ``dent``
    The ``fraction * N`` points nearest a random seed point on its side of the part move along
    (bulge) or against (dent) their normal by ``h * (1 + smoothstep(1 - d / R)) / 2``: at least
    half the peak ``h`` (at the rim, radius R), ``h`` at the centre. Labelled = moved.
``crack`` / ``scratch``
    A random curve walked on the surface; points within half-width ``w`` of it (on its side of
    the part) move inward by at least half the groove depth; labelled = moved. A crack is
    deep and wide, a scratch very shallow and thin.
``hole``
    The nearest points around a seed are removed (radius r). Labelled: the removed points and the
    kept points within the rim width ``max(r / 2, 1.5 s)`` of a removed one (on the same side),
    i.e. the border ring a detector sees around the missing patch. Nothing moves.
``chipped_edge``
    At a point of a sharp convex edge, a corner of material is cut off by a plane inclined to both
    faces, ``d`` deep; the points of the cut-off piece are pushed onto the cut plane. Labelled =
    pushed by at least ``d / 2``; points that the plane would move less stay put.
``bend``
    The tip of the part beyond a plane (``fraction`` of the points along the longest axis) is
    rotated rigidly by a small angle about an axis lying in that plane. Labelled = the rotated tip.
``pnas``
    3D-PNAS (:class:`pointad.synthesis.PNAS`, local mode): labelled = displaced by at least half
    the peak, the project's rule; the fringe below half the peak is put back, so unlabelled
    points do not move.
"""
from __future__ import annotations

import numpy as np

from pointad.errors import InputError
from pointad.geometry.rotations import rotation_about
from pointad.geometry.units import object_diameter, point_spacing
from pointad.ops import NeighbourIndex
from pointad.synthesis.hole import rim_labels
from pointad.synthesis.region import defect_support, smoothstep
from pointad.validation import as_normals, as_points, check_number

FRACTION_RANGE = (0.01, 0.07)  # target fraction of anomalous points, drawn per sample


def _setup(points, normals, rng, fraction, spacing):
    """Validated float64 copies and the sizes every kind needs: (pts, nrm, fraction, D, s, n)."""
    pts = as_points(points, min_points=20)
    nrm = as_normals(normals, len(pts))
    if fraction is None:
        fraction = float(rng.uniform(*FRACTION_RANGE))
    check_number(fraction, "fraction", low=0, high=0.3, low_open=True)
    diameter = object_diameter(pts)
    if spacing is None:
        spacing = point_spacing(pts)
    check_number(spacing, "spacing", low=0, low_open=True)
    return (pts, nrm, float(fraction), diameter, float(spacing),
            max(1, int(round(fraction * len(pts)))))


def _peak(rng, diameter, spacing, rel_range, min_spacings, max_rel):
    """A defect size: ``U(rel_range) * D``, at least ``min_spacings * s``, at most
    ``max_rel * D``."""
    size = max(rng.uniform(*rel_range) * diameter, min_spacings * spacing)
    return float(min(size, max_rel * diameter))


def _density(pts, index, spacing) -> float:
    """Points per mm^2 of surface: median count within 4 spacings of a strided subset of points.

    The median over the cloud, not the count at the defect's seed, so a seed on a border (where
    half the disc is empty) does not halve it.
    """
    r = 4.0 * spacing
    probe = pts[::max(1, len(pts) // 200)]
    counts = index.count(probe, r)
    return float(np.median(counts)) / (np.pi * r * r)


def _record(info, **values):
    if info is not None:
        info.update({k: (float(v) if isinstance(v, (float, np.floating)) else v)
                     for k, v in values.items()})


# ---------------------------------------------------------------- bulge, dent


def _blister(points, normals, rng, sign, fraction, spacing, strength, info):
    pts, nrm, fraction, diameter, spacing, n_lab = _setup(points, normals, rng, fraction, spacing)
    peak = (_peak(rng, diameter, spacing, (0.03, 0.06), 3.0, 0.15) if strength is None
            else float(strength) * diameter)
    center = int(rng.integers(len(pts)))
    support, dist, radius = defect_support(pts, nrm, center, min(n_lab, len(pts)))
    # Half the peak at the rim, the full peak at the centre: every moved point moved >= peak / 2.
    shape = 0.5 * (1.0 + smoothstep(1.0 - dist / max(radius, 1e-12)))
    new = pts.copy()
    new[support] += (sign * peak * shape)[:, None] * nrm[support]
    labels = np.zeros(len(pts), dtype=bool)
    labels[support] = True
    _record(info, center=center, peak_mm=peak, radius_mm=radius, target_fraction=fraction)
    return new, np.ones(len(pts), dtype=bool), labels


def bulge(points, normals, rng, *, fraction=None, spacing=None, strength=None, info=None):
    """Outward blister: a smooth dome of peak height ``strength * D`` (default 3-6 % of D)."""
    return _blister(points, normals, rng, 1.0, fraction, spacing, strength, info)


def dent(points, normals, rng, *, fraction=None, spacing=None, strength=None, info=None):
    """Inward dent, the mirror of :func:`bulge`."""
    return _blister(points, normals, rng, -1.0, fraction, spacing, strength, info)


# ---------------------------------------------------------------- crack, scratch


def _walk(pts, nrm, index, rng, start, step, max_length, wiggle):
    """A random curve on the surface: (K, 3) vertices and (K, 3) surface normals.

    Each step goes ``step`` mm along the heading in the local tangent plane, lands on the mean of
    the nearest points (a smoothed surface position) and turns by a random angle (``wiggle``
    radians per step, standard deviation). It stops at a fold of more than ~100 degrees (the back
    of a thin wall) or where it cannot advance (the end of the surface).
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
        if np.linalg.norm(tangent) < 1e-9:
            break
        heading = tangent / np.linalg.norm(tangent)
        pos, normal = new_pos, new_normal
        path.append(pos)
        path_normals.append(normal)
    return np.array(path), np.array(path_normals)


def _groove(points, normals, rng, fraction, spacing, info, *, width_rel, min_width_sp,
            depth_rel, min_depth_sp, max_depth_rel):
    pts, nrm, fraction, diameter, spacing, n_lab = _setup(points, normals, rng, fraction, spacing)
    depth = _peak(rng, diameter, spacing, depth_rel, min_depth_sp, max_depth_rel)
    index = NeighbourIndex(pts)
    max_length = 2.0 * diameter
    density = _density(pts, index, spacing)
    best = None
    for _ in range(6):  # a walk that hits the end of a small face early is retried elsewhere
        start = int(rng.integers(len(pts)))
        # Half-width from the local density so that a walk of max_length holds n_lab points,
        # within the kind's limits (a crack may not be a trench, a scratch stays thin).
        needed = n_lab / (2.0 * 0.7 * max_length * max(density, 1e-12))
        half_width = float(np.clip(needed, max(min_width_sp * spacing, width_rel[0] * diameter),
                                   max(width_rel[1] * diameter, min_width_sp * spacing)))
        # Steps of a few spacings: shorter ones get stuck in the sampling jitter.
        step = max(2.0 * half_width, 3.0 * spacing)
        path, path_normals = _walk(pts, nrm, index, rng, start, step=step, max_length=max_length,
                                   wiggle=0.2)
        if len(path) < 2:
            continue
        members, dist, arc = _near_curve(pts, nrm, path, path_normals, half_width)
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
    shape = 0.5 * (1.0 + smoothstep(1.0 - dist / half_width))
    new[members] -= (depth * shape)[:, None] * nrm[members]
    labels = np.zeros(len(pts), dtype=bool)
    labels[members] = True
    _record(info, start=start, depth_mm=depth, half_width_mm=half_width, length_mm=length,
            target_fraction=fraction)
    return new, np.ones(len(pts), dtype=bool), labels


def _near_curve(pts, nrm, path, path_normals, half_width):
    """Points within ``half_width`` of the polyline ``path`` facing its side: (idx, dist, arc)."""
    seg = np.diff(path, axis=0)
    seg_len = np.linalg.norm(seg, axis=1)
    arc_at = np.concatenate([[0.0], np.cumsum(seg_len)])
    # Resample densely (a quarter of the half-width): distance to the samples ~ to the polyline.
    n_sub = np.maximum(1, np.ceil(seg_len / (0.25 * half_width)).astype(int))
    dense, dense_arc, dense_nrm = [], [], []
    for i, k in enumerate(n_sub):
        u = np.arange(k) / k
        dense.append(path[i] + u[:, None] * seg[i])
        dense_arc.append(arc_at[i] + u * seg_len[i])
        dense_nrm.append(np.repeat(path_normals[i][None], k, axis=0))
    dense.append(path[-1:])
    dense_arc.append(arc_at[-1:])
    dense_nrm.append(path_normals[-1:])
    dense, dense_arc, dense_nrm = np.vstack(dense), np.concatenate(dense_arc), np.vstack(dense_nrm)
    dist, near = (a[:, 0] for a in NeighbourIndex(dense).query(pts, 1, radius=half_width))
    inside = np.flatnonzero(np.isfinite(dist))
    # Facing: the groove never cuts through a thin wall to its back face.
    inside = inside[np.einsum("ij,ij->i", nrm[inside], dense_nrm[near[inside]]) > 0.5]
    return inside, dist[inside], dense_arc[near[inside]]


def crack(points, normals, rng, *, fraction=None, spacing=None, info=None):
    """Narrow, deep groove along a random surface curve (half-width <= 2.5 %, depth 2-4 % of D)."""
    return _groove(points, normals, rng, fraction, spacing, info, width_rel=(0.006, 0.025),
                   min_width_sp=1.0, depth_rel=(0.02, 0.04), min_depth_sp=3.0, max_depth_rel=0.1)


def scratch(points, normals, rng, *, fraction=None, spacing=None, info=None):
    """Very shallow, thin line (half-width <= 1.2 % of D, depth 0.6-1.2 % of D, >= 1 spacing)."""
    return _groove(points, normals, rng, fraction, spacing, info, width_rel=(0.003, 0.012),
                   min_width_sp=0.6, depth_rel=(0.006, 0.012), min_depth_sp=1.0,
                   max_depth_rel=0.05)


# ---------------------------------------------------------------- hole


def hole(points, normals, rng, *, fraction=None, spacing=None, info=None):
    """Missing patch: points removed around a seed; labels on it and on its border ring."""
    pts, nrm, fraction, diameter, spacing, n_lab = _setup(points, normals, rng, fraction, spacing)
    center = int(rng.integers(len(pts)))
    # The rim ring (width r / 2) covers ~1.25 times the hole's area: remove 0.8 * target.
    n_removed = max(3, int(round(0.8 * n_lab)))
    removed, _, radius = defect_support(pts, nrm, center, n_removed)
    rim_width = max(0.5 * radius, 1.5 * spacing)
    keep = np.ones(len(pts), dtype=bool)
    keep[removed] = False
    labels = ~keep | rim_labels(pts, nrm, ~keep, rim_width, nrm[center])
    _record(info, center=center, radius_mm=radius, rim_mm=rim_width, removed=len(removed),
            target_fraction=fraction)
    return pts.copy(), keep, labels


# ---------------------------------------------------------------- chipped edge


def chipped_edge(points, normals, rng, *, fraction=None, spacing=None, info=None):
    """A corner of material broken off a sharp convex edge (depth >= 2.5 spacings)."""
    pts, nrm, fraction, diameter, spacing, n_lab = _setup(points, normals, rng, fraction, spacing)
    index = NeighbourIndex(pts)
    center, n_a, n_b = _edge_point(pts, nrm, index, rng)
    bisector = (n_a + n_b) / np.linalg.norm(n_a + n_b)
    along = np.cross(n_a, n_b)
    along /= np.linalg.norm(along)
    # Depth from the target: a notch about 4 d long with two strips ~0.7 d wide holds
    # ~5.7 d^2 * density points.
    density = _density(pts, index, spacing)
    depth = float(np.clip(np.sqrt(n_lab / (5.7 * max(density, 1e-12))), 2.5 * spacing,
                          0.1 * diameter))
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
    _record(info, center=center, depth_mm=depth, length_mm=float(2 * np.abs(t[chip]).max()),
            target_fraction=fraction)
    return new, np.ones(len(pts), dtype=bool), labels


def _edge_point(pts, nrm, index, rng):
    """A random point of a sharp convex edge and the normals of its two faces: (i, n_a, n_b).

    Sharp edge: a neighbour's normal turns by 50-145 degrees and each face lies behind the
    other's tangent plane (convex; an inner corner would have it in front). A single-view scan
    often sees only one face of an edge (the side wall is at a grazing angle and lost): then the
    border of the scanned surface counts, with the unseen face's normal taken as the outward
    direction in the tangent plane, as for a square edge.
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
    border = np.flatnonzero(length > 0.4 * np.maximum(reach, 1e-12))
    if len(border) == 0:
        raise InputError("no sharp convex edge or surface border to chip on this surface")
    i = int(border[rng.integers(len(border))])
    return i, nrm[i], -tangential[i] / length[i]


# ---------------------------------------------------------------- bend


def bend(points, normals, rng, *, fraction=None, spacing=None, info=None):
    """The tip of the part (``fraction`` of the points along the longest axis) turned 3-20
    degrees."""
    pts, nrm, fraction, diameter, spacing, n_lab = _setup(points, normals, rng, fraction, spacing)
    centred = pts - pts.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    tip_dir = axes[0] * rng.choice([-1.0, 1.0])  # an end of the longest axis: a tip, a shank end
    s = centred @ tip_dir
    s0 = np.sort(s)[len(s) - n_lab - 1] if n_lab < len(s) else s.min()
    tip = np.flatnonzero(s > s0)
    # Hinge: the axis lies in the cutting plane along the widest spread of the cross-section, so
    # the hinge section barely moves (a plate bends about its width, not its thickness).
    section = centred[np.abs(s - s0) <= max(1.5 * spacing, 0.02 * diameter)]
    if len(section) < 3:
        section = centred[np.argsort(np.abs(s - s0))[:max(3, n_lab // 4)]]
    flat = section - np.outer(section @ tip_dir, tip_dir)
    pivot = flat.mean(axis=0) + s0 * tip_dir + pts.mean(axis=0)
    _, _, sec_axes = np.linalg.svd(flat - flat.mean(axis=0), full_matrices=False)
    hinge = sec_axes[0] - (sec_axes[0] @ tip_dir) * tip_dir
    hinge /= np.linalg.norm(hinge)
    arm = pts[tip] - pivot
    reach = np.linalg.norm(arm - np.outer(arm @ hinge, hinge), axis=1).max()
    peak = _peak(rng, diameter, spacing, (0.04, 0.08), 4.0, 0.15)
    angle = float(np.clip(peak / max(reach, 1e-9), np.deg2rad(3), np.deg2rad(20)))
    angle *= rng.choice([-1.0, 1.0])
    new = pts.copy()
    new[tip] = pivot + arm @ rotation_about(hinge, angle).T
    labels = np.zeros(len(pts), dtype=bool)
    labels[tip] = True
    _record(info, angle_deg=float(np.degrees(angle)), hinge=hinge, pivot=pivot,
            tip_direction=tip_dir, target_fraction=fraction)
    return new, np.ones(len(pts), dtype=bool), labels


# ---------------------------------------------------------------- pnas


def pnas(points, normals, rng, *, fraction=None, spacing=None, strength=None, info=None):
    """A 3D-PNAS Perlin defect (local mode, bump or dent), peak 3-6 % of D, >= 3 spacings."""
    from pointad.synthesis.pnas import PNAS  # imports torch (via pointad.synthesis): only here

    pts, nrm, fraction, diameter, spacing, _ = _setup(points, normals, rng, fraction, spacing)
    peak = (_peak(rng, diameter, spacing, (0.03, 0.06), 3.0, 0.15) if strength is None
            else float(strength) * diameter)
    synth = PNAS(mode="local", fraction=fraction, strength=peak / diameter, units="relative",
                 scale=float(rng.uniform(1.5, 3.0)), sign="mixed")
    sample = synth(pts, nrm, seed=int(rng.integers(2**31 - 1)))
    labels = np.asarray(sample.labels, dtype=bool)
    # The sub-threshold fringe is put back: unlabelled points keep their place.
    new = np.where(labels[:, None], sample.points, pts)
    _record(info, peak_mm=peak, pnas_seed=sample.params["seed"], pnas_scale=synth.scale,
            sign=sample.params["sign"], target_fraction=fraction)
    return new, np.ones(len(pts), dtype=bool), labels


DEFECTS = {
    "bulge": bulge,
    "dent": dent,
    "crack": crack,
    "scratch": scratch,
    "hole": hole,
    "chipped_edge": chipped_edge,
    "bend": bend,
    "pnas": pnas,
}
