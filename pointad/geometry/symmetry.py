"""Near-symmetries of a part: the rotations that map its cloud onto itself up to small features.

A gear (its teeth), a flange (its bolt circle), a stool (its legs) or a heat sink (its fins) fits
itself after a turn about an axis everywhere but at a few small features (a keyed bore, a flat, a
handle). A registration that ranks its candidates by a trimmed residual, as it must to stay blind
to defects, cannot tell those turns apart: it settles in any of them, and the small feature then
shows a residual of several point spacings on a good part. :func:`near_symmetries` finds the
turns once per template; :func:`pointad.geometry.registration.align` tries each of them on its best
pose and keeps the one that leaves the fewest points far from the template (a defect is far from
the template under every such turn; a small feature only under the wrong ones).
"""
from __future__ import annotations

import numpy as np

from pointad.geometry.frames import principal_frame
from pointad.geometry.rotations import rotation_about


def rotation_angle_deg(rotation: np.ndarray) -> float:
    """Angle in degrees of a (3, 3) rotation matrix (0 for the identity, at most 180)."""
    cos = (float(np.trace(rotation)) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def _within(matrix: np.ndarray, found: list, step_deg: float) -> bool:
    """Whether the rotation of 4 x 4 ``matrix`` is within ``step_deg`` degrees of that of one of
    ``found`` (``(residual, 4 x 4)`` pairs): the angle of ``R F^T`` from its trace, which is
    the elementwise sum of ``R * F``, for all of ``found`` at once."""
    if not found:
        return False
    rotations = np.stack([f[:3, :3] for _, f in found])
    cos = (np.einsum("ij,kij->k", matrix[:3, :3], rotations) - 1.0) / 2.0
    angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return bool((angles < step_deg).any())


def near_symmetries(points: np.ndarray, *, step_deg: float = 5.0, max_points: int = 2000,
                    tolerance: float = 1.25, iterations: int = 30, max_count: int = 64,
                    seed: int = 0) -> list[np.ndarray]:
    """4 x 4 rigid transforms ``S`` with ``S(points)`` close to ``points``: the identity first,
    then turns about the cloud's principal axes through its centroid.

    Two disjoint random halves of (N, 3) ``points`` (``max_points`` in all, seeded) are compared:
    the trimmed residual (:func:`pointad.geometry.registration.trimmed_residual`) of one half
    against the other is the sampling floor. Every axis is turned in steps of ``step_deg``; each
    local minimum of the residual below 3 times the floor is refined by point-to-point ICP
    (``iterations``, correspondences up to 3 point spacings) and kept when its residual is at
    most ``tolerance`` times the floor and its rotation differs from the identity and from every
    kept one by at least a step. The products of two kept turns that pass the same test are added (a
    gear's flips about the axes between two teeth are a flip after a turn about its axis) until
    ``4 * max_count`` are kept in all (a sphere fits itself under every turn). At
    most ``max_count`` are returned besides the identity (the smallest residuals; a surface of
    revolution has a near-symmetry at every step). Units: those of ``points``.
    """
    from pointad.geometry.registration import icp, transform, trimmed_residual
    from pointad.geometry.units import point_spacing
    from pointad.ops import NeighbourIndex

    points = np.asarray(points, dtype=np.float64)
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(points))[:max_points]
    half = len(pick) // 2
    if half < 8:
        return [np.eye(4)]
    a, b = points[pick[:half]], points[pick[half:]]
    index = NeighbourIndex(b)
    floor = trimmed_residual(a, index)
    if not floor > 0:
        return [np.eye(4)]
    centre, axes = principal_frame(points)
    distance = 3.0 * point_spacing(b)
    angles = np.arange(step_deg, 360.0 - 0.5 * step_deg, step_deg)
    found: list[tuple[float, np.ndarray]] = []
    for axis in axes:
        turns = []
        for angle in angles:
            m = np.eye(4)
            m[:3, :3] = rotation_about(axis, np.deg2rad(angle))
            m[:3, 3] = centre - m[:3, :3] @ centre
            turns.append(m)
        res = np.array([trimmed_residual(transform(a, m), index) for m in turns])
        minima = [k for k in range(len(turns)) if res[k] <= 3.0 * floor
                  and res[k] <= res[k - 1] and res[k] <= res[(k + 1) % len(res)]]
        for m in icp(a, b, [turns[k] for k in minima], [distance], iterations=iterations):
            r = trimmed_residual(transform(a, m), index)
            if r > tolerance * floor or rotation_angle_deg(m[:3, :3]) < step_deg:
                continue
            if _within(m, found, step_deg):
                continue
            found.append((r, m))
    # A sphere fits itself under every turn: its products alone would be thousands, so they
    # stop at 4 * max_count (the smallest max_count residuals are returned in any case).
    limit = 4 * max_count
    for _, first in list(found):
        for _, second in list(found):
            if len(found) >= limit:
                break
            m = first @ second
            if rotation_angle_deg(m[:3, :3]) < step_deg or _within(m, found, step_deg):
                continue
            r = trimmed_residual(transform(a, m), index)
            if r <= tolerance * floor:
                found.append((r, m))
    found.sort(key=lambda t: t[0])
    return [np.eye(4)] + [m for _, m in found[:max_count]]
