"""Procedural industrial parts: the product families of the synthetic benchmark.

Every family is a function ``(rng) -> trimesh.Trimesh`` that draws its dimensions from the numpy
``Generator`` and returns a watertight solid in millimetres whose largest extent lies in
[20, 80] mm. Parts come in a *canonical resting pose*: lying on the plane z = 0 (lowest point at
z = 0), centred on the z axis in x and y; elongated parts (bolt, bottle, blade) lie on their side
and flat ones (wing, fork) flat, as they would on a sample holder.

Two sets of families: :data:`CATEGORIES`, the eight mostly compact parts of the standard preset,
and :data:`THIN_CATEGORIES`, parts with thin walls, fins, legs, arms and handles (0.8-4 mm) as
Real3D-AD's objects have, which the realistic preset builds with three compact ones;
:data:`FAMILIES` holds both.

In the benchmark one draw is one *product design*: every sample of a category shares it, and
samples differ by pose, surface sampling, sensor noise and defects (see :mod:`.make`).
"""
from __future__ import annotations

from typing import cast

import numpy as np
import trimesh
from mapbox_earcut import triangulate_float64
from shapely.geometry import Point, Polygon, box

from pointad.geometry.rotations import rotation_about

MIN_EXTENT, MAX_EXTENT = 20.0, 80.0  # millimetres, largest bounding-box side of any part
_SECTIONS = 64  # facets of a full circle: fine enough that a scan does not see the facets much


# ---------------------------------------------------------------- helpers


def _concatenate(meshes: list) -> trimesh.Trimesh:
    """One mesh of ``meshes`` (trimesh types the result as any geometry)."""
    return cast(trimesh.Trimesh, trimesh.util.concatenate(meshes))


def _circle(x: float, y: float, r: float) -> Polygon:
    return Point(x, y).buffer(r, quad_segs=_SECTIONS // 4)


def _cylinder(radius: float, start, end) -> trimesh.Trimesh:
    """A solid cylinder of ``radius`` whose axis runs from point ``start`` to point ``end`` (mm)."""
    return trimesh.creation.cylinder(radius=radius, sections=_SECTIONS,
                                     segment=np.array([start, end], dtype=np.float64))


def _rotation_about(axis, angle: float) -> np.ndarray:
    """(4, 4) homogeneous rotation about ``axis`` through the origin (for trimesh transforms)."""
    transform = np.eye(4)
    transform[:3, :3] = rotation_about(axis, angle)
    return transform


def _revolve(profile, sections: int = _SECTIONS) -> trimesh.Trimesh:
    """Solid of revolution about z of an (r, z) profile, outward whatever the loop's direction."""
    mesh = trimesh.creation.revolve(np.asarray(profile, dtype=np.float64), sections=sections)
    if mesh.volume < 0:  # the loop ran the other way round: faces point inward
        mesh.invert()
    return mesh


def _stations(lo: float, hi: float, n: int) -> np.ndarray:
    """``n`` evenly spread positions in [lo, hi] (the middle when n == 1)."""
    return np.array([0.5 * (lo + hi)]) if n == 1 else np.linspace(lo, hi, n)


def _loft(rings: np.ndarray) -> trimesh.Trimesh:
    """Watertight mesh through K closed rings of M 3D points each, (K, M, 3), capped at both ends.

    The caps are triangulated with earcut in the plane of their ring (rings must be planar,
    simple polygons). Winding is made consistent by construction (every edge is used once in
    each direction) and the whole mesh is turned outward at the end.
    """
    k, m, _ = rings.shape
    j = np.arange(m)
    faces = []
    for s in range(k - 1):
        a, b = s * m + j, s * m + (j + 1) % m
        c, d = a + m, b + m
        faces += [np.column_stack([a, b, d]), np.column_stack([a, d, c])]
    # The sides use edge j -> j+1 on the first ring and j+1 -> j on the last one; each cap
    # must use it the other way round.
    faces.append(_cap(rings[0], forward=False))
    faces.append(_cap(rings[-1], forward=True) + (k - 1) * m)
    mesh = trimesh.Trimesh(rings.reshape(-1, 3), np.vstack(faces), process=False)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _cap(ring: np.ndarray, forward: bool) -> np.ndarray:
    """Earcut triangles (T, 3) of a planar ring (M, 3), wound to hold edge 0 -> 1 iff
    ``forward``."""
    centre = ring.mean(axis=0)
    _, _, vt = np.linalg.svd(ring - centre)  # in-plane axes: the two main directions
    flat = (ring - centre) @ vt[:2].T
    tri = np.asarray(triangulate_float64(flat, np.array([len(ring)], dtype=np.uint32)))
    tri = tri.reshape(-1, 3).astype(np.int64)
    # Earcut winds all triangles alike: look at the one holding the boundary edge 0-1.
    holds = [(0, 1) in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])) for t in tri]
    if any(holds) != forward:
        tri = tri[:, ::-1]
    return tri


def _finish(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Orient outward and move to the resting pose (lowest point at z = 0, centred in xy)."""
    # No re-processing: merging near-duplicate vertices of a boolean result can pinch it.
    if mesh.volume < 0:
        mesh.invert()
    lo, hi = mesh.bounds
    mesh.apply_translation([-0.5 * (lo[0] + hi[0]), -0.5 * (lo[1] + hi[1]), -lo[2]])
    if not mesh.is_watertight or mesh.volume <= 0:
        raise RuntimeError("procedural part is not a closed solid")  # a bug, not user input
    return mesh


def _lie_down(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Turn a part built along z onto its side (its axis becomes x)."""
    mesh.apply_transform(_rotation_about([0, 1, 0], np.pi / 2))
    return mesh


# ---------------------------------------------------------------- families


def flange(rng: np.random.Generator) -> trimesh.Trimesh:
    """Disc with a raised hub around a bore and a ring of 4-8 bolt holes; diameter 40-76 mm."""
    r_out = rng.uniform(20.0, 38.0)
    r_in = rng.uniform(0.22, 0.35) * r_out
    r_hub = r_in + rng.uniform(0.15, 0.25) * r_out
    thick = rng.uniform(5.0, 10.0)
    hub_h = rng.uniform(4.0, 12.0)
    # Revolved stepped profile (r, z): disc plus hub, one closed loop around the bore.
    profile = np.array([[r_in, 0], [r_out, 0], [r_out, thick], [r_hub, thick],
                        [r_hub, thick + hub_h], [r_in, thick + hub_h], [r_in, 0]])
    body = _revolve(profile, sections=_SECTIONS * 2)
    n_holes = int(rng.integers(4, 9))
    r_bc = 0.5 * (r_hub + r_out)
    gap = r_out - r_hub
    r_hole = min(rng.uniform(0.18, 0.3) * gap, 0.3 * np.pi * r_bc / n_holes)
    start = rng.uniform(0, 2 * np.pi / n_holes)
    holes = []
    for i in range(n_holes):
        phi = start + 2 * np.pi * i / n_holes
        x, y = r_bc * np.cos(phi), r_bc * np.sin(phi)
        holes.append(_cylinder(r_hole, (x, y, -1.0), (x, y, thick + 1.0)))
    return _finish(body.difference(_concatenate(holes)))


def hex_bolt(rng: np.random.Generator) -> trimesh.Trimesh:
    """Hexagonal head (10-20 mm across flats) and a round shank, 25-75 mm long, lying down."""
    flats = rng.uniform(10.0, 20.0)
    head_h = rng.uniform(0.55, 0.75) * flats
    r_shank = rng.uniform(0.28, 0.36) * flats
    length = rng.uniform(25.0, 70.0) - head_h
    corner = flats / np.sqrt(3.0)  # circumradius of the hexagon
    angles = np.arange(6) * np.pi / 3
    head = trimesh.creation.extrude_polygon(
        Polygon(np.column_stack([corner * np.cos(angles), corner * np.sin(angles)])), head_h)
    # The shank starts inside the head so the union has no coplanar faces.
    shank = _cylinder(r_shank, (0, 0, 0.5 * head_h), (0, 0, head_h + length))
    bolt = head.union(shank)
    # A 45-degree chamfer at the shank's end: cut away a revolved triangle outside the cone.
    ch, z_end = 0.25 * r_shank, head_h + length
    cutter = _revolve([
        [r_shank + 1.0, z_end - ch - 1.0], [r_shank + 1.0, z_end + 1.0],
        [r_shank - ch - 1.0, z_end + 1.0], [r_shank + 1.0, z_end - ch - 1.0]])
    bolt = bolt.difference(cutter)
    return _finish(_lie_down(bolt))


def gear(rng: np.random.Generator) -> trimesh.Trimesh:
    """Spur gear of 12-28 trapezoidal teeth (tip diameter 36-76 mm) with a keyed bore."""
    n_teeth = int(rng.integers(12, 29))
    r_tip = rng.uniform(18.0, 38.0)
    module = 2.0 * r_tip / (n_teeth + 2)
    r_root = r_tip - 2.25 * module
    # One tooth period: root land, rising flank, tip land, falling flank (phase -> radius).
    phase = np.array([0.0, 0.12, 0.25, 0.38, 0.62, 0.75, 0.88])
    radius = np.array([r_root, r_root, r_root, r_tip, r_tip, r_root, r_root])
    theta = (np.arange(n_teeth)[:, None] + phase[None, :]).ravel() * 2 * np.pi / n_teeth
    rad = np.tile(radius, n_teeth)
    outline = Polygon(np.column_stack([rad * np.cos(theta), rad * np.sin(theta)]))
    r_bore = rng.uniform(0.18, 0.3) * r_tip
    key_w = 0.4 * r_bore
    bore = _circle(0, 0, r_bore).union(box(-key_w / 2, 0, key_w / 2, r_bore + 0.3 * r_bore))
    thick = rng.uniform(6.0, 16.0)
    return _finish(trimesh.creation.extrude_polygon(outline.difference(bore), thick))


def bracket(rng: np.random.Generator) -> trimesh.Trimesh:
    """L-shaped angle bracket (legs 30-60 mm, 3-7 mm thick, 20-40 mm wide), holes in both legs."""
    a, b = rng.uniform(30.0, 60.0), rng.uniform(25.0, 55.0)
    t, w = rng.uniform(3.0, 7.0), rng.uniform(20.0, 40.0)
    # The L profile in (x, z) is built in the xy plane and extruded along z (later: along y).
    profile = Polygon([(0, 0), (a, 0), (a, t), (t, t), (t, b), (0, b)])
    body = trimesh.creation.extrude_polygon(profile, w)
    # +90 degrees about x: (x, y, z) -> (x, -z, y), so the profile stands up and y spans [-w, 0].
    body.apply_transform(_rotation_about([1, 0, 0], np.pi / 2))
    r_hole = rng.uniform(2.5, min(5.0, 0.18 * w))
    holes = []
    y = -0.5 * w
    for x in _stations(t + r_hole + 2, a - r_hole - 2, int(rng.integers(1, 3))):
        holes.append(_cylinder(r_hole, (x, y, -1.0), (x, y, t + 1.0)))   # vertical, base leg
    for z in _stations(t + r_hole + 2, b - r_hole - 2, int(rng.integers(1, 3))):
        holes.append(_cylinder(r_hole, (-1.0, y, z), (t + 1.0, y, z)))   # along x, upright leg
    return _finish(body.difference(_concatenate(holes)))


def pipe_elbow(rng: np.random.Generator) -> trimesh.Trimesh:
    """Bent tube: outer radius 5-10 mm, wall 1.2-2.5 mm, 60-120 degree bend with straight ends."""
    r_out = rng.uniform(5.0, 10.0)
    r_in = r_out - rng.uniform(1.2, 2.5)
    bend_r = rng.uniform(1.8, 3.0) * r_out
    angle = np.deg2rad(rng.uniform(60.0, 120.0))
    stubs = rng.uniform(3.0, 15.0, size=2)
    outer = _tube_path_solid(r_out, bend_r, angle, stubs, extend=0.0)
    inner = _tube_path_solid(r_in, bend_r, angle, stubs, extend=1.0)  # longer: opens both ends
    return _finish(outer.difference(inner))


def _tube_path_solid(radius, bend_r, angle, stubs, extend) -> trimesh.Trimesh:
    """Solid rod of circular section along stub - arc - stub in the xy plane (a loft of rings)."""
    n_arc = max(8, int(np.degrees(angle) / 4))
    centres: list = []
    tangents: list = []
    # First stub along +x ending at the arc start (0, 0); the arc turns left around (0, bend_r).
    for x in np.linspace(-stubs[0] - extend, 0.0, 3)[:-1]:
        centres.append([x, 0.0, 0.0])
        tangents.append([1.0, 0.0, 0.0])
    for phi in np.linspace(0.0, angle, n_arc):
        centres.append([bend_r * np.sin(phi), bend_r * (1 - np.cos(phi)), 0.0])
        tangents.append([np.cos(phi), np.sin(phi), 0.0])
    end, tangent = np.array(centres[-1]), np.array(tangents[-1])
    for s in np.linspace(0.0, stubs[1] + extend, 3)[1:]:
        centres.append(end + s * tangent)
        tangents.append(tangent)
    path, directions = np.array(centres), np.array(tangents)
    # Planar path: the binormal is z everywhere, the in-plane normal is z x tangent.
    normal = np.cross([0.0, 0.0, 1.0], directions)
    phi = np.linspace(0, 2 * np.pi, _SECTIONS, endpoint=False)
    rings = (path[:, None, :] + radius * (np.cos(phi)[None, :, None] * normal[:, None, :]
                                             + np.sin(phi)[None, :, None] * np.array([0, 0, 1.0])))
    return _loft(rings)


def bottle(rng: np.random.Generator) -> trimesh.Trimesh:
    """Solid bottle of revolution (body radius 9-17 mm, 40-75 mm tall), neck and lip, lying down."""
    r_body = rng.uniform(9.0, 17.0)
    height = rng.uniform(40.0, 75.0)
    r_neck = rng.uniform(0.3, 0.45) * r_body
    z_shoulder = rng.uniform(0.5, 0.65) * height
    z_neck = z_shoulder + rng.uniform(0.15, 0.22) * height
    lip = rng.uniform(1.0, 2.0)
    # Shoulder: a cosine blend from the body radius to the neck radius.
    s = np.linspace(0, 1, 12)
    shoulder = np.column_stack([r_neck + (r_body - r_neck) * 0.5 * (1 + np.cos(np.pi * s)),
                                z_shoulder + s * (z_neck - z_shoulder)])
    profile = np.vstack([
        [[0.0, 0.0], [r_body - 2.0, 0.0], [r_body, 2.0]],       # base with a chamfer
        shoulder,
        [[r_neck, height - 3.0 * lip], [r_neck + lip, height - 3.0 * lip],   # lip ring
         [r_neck + lip, height], [0.0, height]],
    ])
    body = _revolve(profile)
    return _finish(_lie_down(body))


def plate_holes(rng: np.random.Generator) -> trimesh.Trimesh:
    """Rectangular plate (45-78 x 30-55 x 3-8 mm, rounded corners) with 3-6 round holes."""
    length, width = rng.uniform(45.0, 78.0), rng.uniform(30.0, 55.0)
    thick = rng.uniform(3.0, 8.0)
    corner = rng.uniform(1.0, 6.0)
    outline = box(-length / 2, -width / 2, length / 2, width / 2).buffer(-corner).buffer(
        corner, quad_segs=8)
    holes: list = []
    for _ in range(200):  # rejection sampling: non-overlapping holes, clear of the edges
        if len(holes) == 6:
            break
        r = rng.uniform(2.5, 7.0)
        x = rng.uniform(-length / 2 + r + 3, length / 2 - r - 3)
        y = rng.uniform(-width / 2 + r + 3, width / 2 - r - 3)
        if all(np.hypot(x - hx, y - hy) > r + hr + 3 for hx, hy, hr in holes):
            holes.append((x, y, r))
    want = int(rng.integers(3, 7))
    for x, y, r in holes[:want]:
        outline = outline.difference(_circle(x, y, r))
    return _finish(trimesh.creation.extrude_polygon(outline, thick))


def blade(rng: np.random.Generator) -> trimesh.Trimesh:
    """Twisted, cambered, tapered turbine blade (span 35-60 mm) on a root platform, lying down."""
    span = rng.uniform(35.0, 60.0)
    chord = rng.uniform(14.0, 22.0)
    thickness = rng.uniform(0.1, 0.16)
    camber = rng.uniform(0.03, 0.07)
    twist = np.deg2rad(rng.uniform(15.0, 45.0))
    taper = rng.uniform(0.6, 0.9)
    n_sections, n_half = 14, 28
    # NACA-4-style section: cosine-spaced chord stations, thickness and parabolic camber.
    x = 0.5 * (1 - np.cos(np.linspace(0, np.pi, n_half)))
    yt = 5 * thickness * (0.2969 * np.sqrt(x) - 0.1260 * x - 0.3516 * x**2 + 0.2843 * x**3
                          - 0.1015 * x**4)
    p = 0.4
    yc = np.where(x < p, camber / p**2 * (2 * p * x - x**2),
                  camber / (1 - p)**2 * ((1 - 2 * p) + 2 * p * x - x**2))
    upper = np.column_stack([x, yc + yt])[::-1]          # trailing edge -> leading edge
    lower = np.column_stack([x, yc - yt])[1:]            # leading edge (shared) -> trailing edge
    section = np.vstack([upper, lower]) - [0.25, 0.0]    # twist about the quarter chord
    rings = []
    for z in np.linspace(-2.0, span, n_sections):  # root starts inside the platform
        f = max(z, 0.0) / span
        c = chord * (1 + (taper - 1) * f)
        ang = twist * f
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        xy = (section * c) @ rot.T
        rings.append(np.column_stack([xy, np.full(len(xy), z)]))
    airfoil = _loft(np.array(rings))
    plat_t = rng.uniform(3.0, 5.0)
    platform = trimesh.creation.box(extents=(1.5 * chord, 0.7 * chord, plat_t))
    platform.apply_translation([0.25 * chord, 0.05 * chord, -0.5 * plat_t])
    root = trimesh.creation.box(extents=(1.1 * chord, 0.4 * chord, 6.0))
    root.apply_translation([0.25 * chord, 0.05 * chord, -plat_t - 2.5])  # overlaps the platform
    part = airfoil.union(platform).union(root)
    return _finish(_lie_down(part))


# ---------------------------------------------------------------- thin and branching families
# Walls, fins, legs, arms and handles of 0.8-4 mm: the structures of Real3D-AD's objects (an
# airplane's wings, a starfish's arms, a seahorse's fins) that compact solids do not have. A
# scan sees both faces of such a part within a few point spacings of each other.


def stool(rng: np.random.Generator) -> trimesh.Trimesh:
    """Round seat (radius 14-24 mm, 2.5-4 mm thick) on 3-4 thin splayed legs joined by rungs."""
    r_seat = rng.uniform(14.0, 24.0)
    seat_t = rng.uniform(2.5, 4.0)
    height = rng.uniform(28.0, 50.0)                 # floor to the seat's underside
    n_legs = int(rng.integers(3, 5))
    r_leg = rng.uniform(1.3, 2.2)
    r_rung = rng.uniform(0.55, 0.75) * r_leg
    top_r = rng.uniform(0.6, 0.75) * r_seat          # legs leave the seat here...
    foot_r = top_r + rng.uniform(0.15, 0.3) * r_seat  # ...and stand wider apart: splayed
    rung_f = rng.uniform(0.25, 0.45)                  # rung height, fraction of the legs
    start = rng.uniform(0, 2 * np.pi)
    seat = _cylinder(r_seat, (0, 0, height), (0, 0, height + seat_t))
    pieces, legs = [seat], []
    for i in range(n_legs):
        phi = start + 2 * np.pi * i / n_legs
        u = np.array([np.cos(phi), np.sin(phi), 0.0])
        foot, top = foot_r * u, top_r * u + [0, 0, height + 0.5 * seat_t]  # top inside the seat
        legs.append((foot, top))
        pieces.append(_cylinder(r_leg, foot, top))
    for i in range(n_legs):  # a rung between neighbouring legs, its ends on the legs' axes
        (fa, ta), (fb, tb) = legs[i], legs[(i + 1) % n_legs]
        a, b = fa + rung_f * (ta - fa), fb + rung_f * (tb - fb)
        pieces.append(_cylinder(r_rung, a, b))
    return _finish(trimesh.boolean.union(pieces))


def heatsink(rng: np.random.Generator) -> trimesh.Trimesh:
    """Base plate (30-60 x 25-45 x 2-4 mm) carrying 6-14 parallel fins 0.8-1.5 mm thin."""
    length, width = rng.uniform(30.0, 60.0), rng.uniform(25.0, 45.0)
    base_t = rng.uniform(2.0, 4.0)
    fin_t = rng.uniform(0.8, 1.5)
    fin_h = rng.uniform(10.0, 24.0)
    # As many fins as fit with gaps of at least 2.2 fin thicknesses (and >= 2.5 mm).
    most = int((length + 2.5) // (fin_t + max(2.2 * fin_t, 2.5)))
    n_fins = int(rng.integers(min(6, most), min(14, most) + 1))
    xs = np.linspace(-0.5 * length + 0.5 * fin_t, 0.5 * length - 0.5 * fin_t, n_fins)
    # The comb's outline in (x, z), extruded along y: watertight without a boolean.
    outline = box(-0.5 * length, 0.0, 0.5 * length, base_t)
    for x in xs:
        outline = outline.union(box(x - 0.5 * fin_t, 0.5 * base_t, x + 0.5 * fin_t,
                                    base_t + fin_h))
    body = trimesh.creation.extrude_polygon(outline, width)
    body.apply_transform(_rotation_about([1, 0, 0], np.pi / 2))  # (x, y, z) -> (x, -z, y)
    return _finish(body)


def wing(rng: np.random.Generator) -> trimesh.Trimesh:
    """Thin tapered, swept wing (span 40-66 mm, 6-9 % thick) with a round spar stub at its root,
    lying flat."""
    span = rng.uniform(40.0, 66.0)
    chord = rng.uniform(16.0, 26.0)
    taper = rng.uniform(0.35, 0.65)
    thickness = rng.uniform(0.06, 0.09)
    sweep = np.deg2rad(rng.uniform(5.0, 30.0))
    dihedral = np.deg2rad(rng.uniform(0.0, 6.0))
    n_half = 24
    x = 0.5 * (1 - np.cos(np.linspace(0, np.pi, n_half)))
    yt = 5 * thickness * (0.2969 * np.sqrt(x) - 0.1260 * x - 0.3516 * x**2 + 0.2843 * x**3
                          - 0.1015 * x**4)
    section = np.vstack([np.column_stack([x, yt])[::-1], np.column_stack([x, -yt])[1:]])
    rings = []
    for z in np.linspace(0.0, span, 12):
        f = z / span
        c = chord * (1 + (taper - 1) * f)
        xy = section * c + [z * np.tan(sweep), z * np.tan(dihedral)]
        rings.append(np.column_stack([xy, np.full(len(xy), z)]))
    body = _loft(np.array(rings))
    # The spar: a rod along the quarter chord, sticking out of the root (a thin branch).
    r_spar = rng.uniform(1.0, 1.6)
    stub = rng.uniform(5.0, 10.0)
    spar = _cylinder(r_spar, (0.3 * chord, 0.0, -stub), (0.3 * chord + 2.0 * np.tan(sweep),
                                                         2.0 * np.tan(dihedral), 2.0))
    part = body.union(spar)
    part.apply_transform(_rotation_about([1, 0, 0], -np.pi / 2))  # span along y, lying flat
    return _finish(part)


def ribbed_panel(rng: np.random.Generator) -> trimesh.Trimesh:
    """Curved shell 1.2-2 mm thin (a cylinder sector, 35-75 mm long) stiffened by 2-4 ribs along
    it and 2-3 frames across it, on its concave side."""
    radius = rng.uniform(25.0, 45.0)
    t = rng.uniform(1.2, 2.0)
    angle = np.deg2rad(rng.uniform(60.0, 100.0))
    length = rng.uniform(35.0, 75.0)
    rib_h, rib_t = rng.uniform(3.0, 6.0), rng.uniform(1.0, 1.8)

    def band(r_lo, r_hi, lo=-0.5 * angle, hi=0.5 * angle):
        a = np.linspace(lo, hi, max(4, int(48 * (hi - lo) / angle)))
        outer = np.column_stack([r_hi * np.sin(a), r_hi * np.cos(a)])
        inner = np.column_stack([r_lo * np.sin(a), r_lo * np.cos(a)])[::-1]
        return Polygon(np.vstack([outer, inner]))

    # The section (x, z) of the shell and its ribs (radial strips), extruded along y.
    section = band(radius - t, radius)
    for a in _stations(-0.5 * angle + 0.15, 0.5 * angle - 0.15, int(rng.integers(2, 5))):
        u = np.array([np.sin(a), np.cos(a)])
        v = np.array([u[1], -u[0]]) * 0.5 * rib_t
        lo, hi = (radius - t - rib_h) * u, (radius - 0.5 * t) * u
        section = section.union(Polygon([lo - v, lo + v, hi + v, hi - v]))
    shell = trimesh.creation.extrude_polygon(section, length)
    frames = []
    for y in _stations(0.2 * length, 0.8 * length, int(rng.integers(2, 4))):
        frame = trimesh.creation.extrude_polygon(band(radius - t - rib_h, radius - 0.5 * t),
                                                 rib_t)
        frame.apply_translation([0, 0, y - 0.5 * rib_t])
        frames.append(frame)
    part = trimesh.boolean.union([shell] + frames)
    # +90 degrees about x: the extrusion axis z becomes -y, the section's y (up) becomes z; the
    # shell arches over the y axis, its concave side down.
    part.apply_transform(_rotation_about([1, 0, 0], np.pi / 2))
    return _finish(part)


def _cup_walls(r_out, height, wall, r_flat, round_h, n):
    """Outer and inner (r, z) walls of a thin-walled cup of revolution, bottom to rim: a flat
    bottom out to ``r_flat``, an elliptic quarter arc up to ``round_h`` reaching the full radius,
    then straight up to the rim (the inner wall ``wall`` inside the outer one)."""
    a = np.linspace(0.0, 0.5 * np.pi, n)
    r_in = r_out - wall
    outer = np.column_stack([r_flat + (r_out - r_flat) * np.sin(a), round_h * (1 - np.cos(a))])
    inner = np.column_stack([r_flat + (r_in - r_flat) * np.sin(a),
                             wall + (round_h - wall) * (1 - np.cos(a))])
    if round_h < height:
        outer = np.vstack([outer, [[r_out, height]]])
        inner = np.vstack([inner, [[r_in, height]]])
    return outer, inner


def bowl(rng: np.random.Generator) -> trimesh.Trimesh:
    """Thin-walled bowl of revolution (radius 20-38 mm, 12-30 mm deep, wall 1-2 mm)."""
    r_out = rng.uniform(20.0, 38.0)
    height = rng.uniform(12.0, 30.0)
    wall = rng.uniform(1.0, 2.0)
    r_flat = rng.uniform(0.25, 0.5) * r_out
    outer, inner = _cup_walls(r_out, height, wall, r_flat, height, 24)
    # One loop from the axis under the bottom round the rim back to the axis over the bottom.
    profile = np.vstack([[[0.0, 0.0]], outer, inner[::-1], [[0.0, wall]]])
    return _finish(_revolve(profile, sections=_SECTIONS * 2))


def mug(rng: np.random.Generator) -> trimesh.Trimesh:
    """Thin-walled cup (radius 11-19 mm, 25-48 mm tall, wall 1.2-2 mm) with a thin C handle."""
    r_out = rng.uniform(11.0, 19.0)
    height = rng.uniform(25.0, 48.0)
    wall = rng.uniform(1.2, 2.0)
    r_flat = rng.uniform(0.7, 0.85) * r_out
    outer, inner = _cup_walls(r_out, height, wall, r_flat, rng.uniform(0.12, 0.25) * height, 10)
    # Solid outside shape, handle, then the cavity (reaching above the rim) cut out of both.
    body = _revolve(np.vstack([[[0.0, 0.0]], outer, [[0.0, height]]]))
    cavity = _revolve(np.vstack([[[0.0, wall]], inner, [[inner[-1, 0], height + 1.0],
                                                          [0.0, height + 1.0]]]))
    # The handle: a rod of radius 1.4-2.4 mm along a half ellipse in the xz plane, its ends
    # running straight into the wall (what pokes into the cup is cut away with the cavity).
    r_rod = rng.uniform(1.4, 2.4)
    reach = rng.uniform(7.0, 13.0)
    half = rng.uniform(0.22, 0.3) * height
    z_mid = rng.uniform(0.48, 0.56) * height
    phi = np.linspace(-0.5 * np.pi, 0.5 * np.pi, 25)
    centres = np.column_stack([r_out + reach * np.cos(phi), np.zeros_like(phi),
                               z_mid + half * np.sin(phi)])
    tangents = np.column_stack([-reach * np.sin(phi), np.zeros_like(phi), half * np.cos(phi)])
    inset = r_out - wall - 0.5 * r_rod  # straight ends reach into the cavity
    first = np.array([[inset, 0.0, z_mid - half]])
    last = np.array([[inset, 0.0, z_mid + half]])
    centres = np.vstack([first, centres, last])
    tangents = np.vstack([[1.0, 0, 0], tangents, [-1.0, 0, 0]])
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    side = np.array([0.0, 1.0, 0.0])
    normal = np.cross(side, tangents)
    psi = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    rings = centres[:, None, :] + r_rod * (np.cos(psi)[None, :, None] * normal[:, None, :]
                                           + np.sin(psi)[None, :, None] * side)
    handle = _loft(rings)
    return _finish(body.union(handle).difference(cavity))


def fork(rng: np.random.Generator) -> trimesh.Trimesh:
    """Flat fork, 1.6-3 mm thick: a handle 5-8 mm wide branching into 3-4 tines 1.4-2.4 mm wide,
    lying flat."""
    handle_l = rng.uniform(22.0, 38.0)
    handle_w = rng.uniform(5.0, 8.0)
    n_tines = int(rng.integers(3, 5))
    tine_w = rng.uniform(1.4, 2.4)
    gap = rng.uniform(1.6, 3.2)
    tine_l = rng.uniform(14.0, 26.0)
    thick = rng.uniform(1.6, 3.0)
    head_w = n_tines * tine_w + (n_tines - 1) * gap
    neck = rng.uniform(6.0, 10.0)  # the head widens from the handle to the tines over this
    outline = box(0.0, -0.5 * handle_w, handle_l, 0.5 * handle_w)
    outline = outline.union(Polygon([(handle_l - 1.0, -0.5 * handle_w),
                                     (handle_l + neck, -0.5 * head_w),
                                     (handle_l + neck, 0.5 * head_w),
                                     (handle_l - 1.0, 0.5 * handle_w)]))
    for y in _stations(-0.5 * head_w + 0.5 * tine_w, 0.5 * head_w - 0.5 * tine_w, n_tines):
        outline = outline.union(box(handle_l + neck - 1.0, y - 0.5 * tine_w,
                                    handle_l + neck + tine_l, y + 0.5 * tine_w))
    outline = outline.buffer(0.4, quad_segs=4).buffer(-0.4, quad_segs=4)  # round inner corners
    return _finish(trimesh.creation.extrude_polygon(outline, thick))


CATEGORIES = {
    "flange": flange,
    "hex_bolt": hex_bolt,
    "gear": gear,
    "bracket": bracket,
    "pipe_elbow": pipe_elbow,
    "bottle": bottle,
    "plate_holes": plate_holes,
    "blade": blade,
}

# Families of thin and branching parts, used by the realistic preset of the benchmark (and
# selectable by name in any build); CATEGORIES above stays the standard preset's eight.
THIN_CATEGORIES = {
    "stool": stool,
    "heatsink": heatsink,
    "wing": wing,
    "ribbed_panel": ribbed_panel,
    "bowl": bowl,
    "mug": mug,
    "fork": fork,
}

FAMILIES = {**CATEGORIES, **THIN_CATEGORIES}  # every part family, by name


# ---------------------------------------------------------------- poses


def resting_rotation(rng: np.random.Generator, max_tilt_deg: float = 10.0) -> np.ndarray:
    """A rotation (3, 3) for a part on a holder: any turn about z, then a small tilt."""
    yaw = rng.uniform(0, 2 * np.pi)
    tilt = np.deg2rad(rng.uniform(0, max_tilt_deg))
    tilt_axis = rng.uniform(0, 2 * np.pi)
    r_yaw = rotation_about([0, 0, 1], yaw)
    r_tilt = rotation_about([np.cos(tilt_axis), np.sin(tilt_axis), 0], tilt)
    return r_tilt @ r_yaw


def posed(mesh: trimesh.Trimesh, rotation: np.ndarray, shift=None):
    """Copy of ``mesh`` rotated about its bounding-box centre, then moved by ``shift`` (3,) mm
    (None: not moved); returns ``(mesh, pose)``.

    ``pose`` is ``{"rotation": (3, 3), "translation": (3,)}`` with
    ``x_posed = rotation @ x_canonical + translation`` (millimetres).
    """
    centre = mesh.bounds.mean(axis=0)
    translation = centre - rotation @ centre
    if shift is not None:
        translation = translation + np.asarray(shift, dtype=np.float64)
    transform = np.eye(4)
    transform[:3, :3], transform[:3, 3] = rotation, translation
    out = mesh.copy()
    out.apply_transform(transform)
    return out, {"rotation": rotation, "translation": translation}
