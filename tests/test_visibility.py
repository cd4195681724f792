"""Which surface a scan could have seen (pointad.geometry.visibility): view directions that
explain a covered set, z-buffer and ray visibility, each against an obvious reference."""
import numpy as np
import pytest

from pointad.geometry.coverage import missing_surface, uncovered_regions
from pointad.geometry.units import point_spacing
from pointad.geometry.visibility import (
    sphere_directions,
    unhidden_facing,
    views_explaining,
    zbuffer_visible,
)


def sphere(n, seed, radius=10.0):
    v = np.random.default_rng(seed).normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return radius * v, v


def test_sphere_directions_are_unit_and_spread_evenly():
    d = sphere_directions(96)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-12)
    cos = d @ d.T - 2 * np.eye(96)
    nearest = np.degrees(np.arccos(cos.max(axis=1)))
    assert 15 < nearest.min() and nearest.max() < 30  # about 21 degrees apart everywhere
    assert abs(d.mean(axis=0)).max() < 0.02
    np.testing.assert_array_equal(d, sphere_directions(96))
    with pytest.raises(ValueError):
        sphere_directions(0)


def brute_unhidden(points, normals, which, d, spacing, radius, ahead, min_cos):
    """Every pair, written out: faces d, and no point in the ray's cylinder ahead of it that is
    off its own stretch of surface."""
    out = []
    for i in which:
        c = normals[i] @ d
        if c <= min_cos:
            out.append(False)
            continue
        rel = points - points[i]
        along = rel @ d
        lateral = np.linalg.norm(rel - np.outer(along, d), axis=1)
        block = ((lateral <= radius * spacing) & (along > ahead * spacing)
                 & (np.linalg.norm(rel, axis=1) > (radius / c + ahead) * spacing))
        out.append(not block.any())
    return np.array(out)


def two_plates(n=1500, seed=0):
    """Two parallel 20 x 20 plates 6 apart, normals +z: the upper one hides the lower one's
    middle from +z, not its part that sticks out (x > 20)."""
    rng = np.random.default_rng(seed)
    upper = np.c_[rng.uniform(0, 20, (n, 2)), np.full(n, 6.0)]
    lower = np.c_[rng.uniform(0, 30, n), rng.uniform(0, 20, n), np.zeros(n)]
    points = np.r_[upper, lower]
    return points, np.tile([0.0, 0.0, 1.0], (len(points), 1))


def test_unhidden_facing_matches_a_brute_force_reference():
    points, normals = two_plates()
    spacing = point_spacing(points)
    which = np.random.default_rng(1).permutation(len(points))[:400]
    d = np.array([0.3, -0.2, 1.0])
    d /= np.linalg.norm(d)
    got = unhidden_facing(points, normals, which, d[None], spacing)
    np.testing.assert_array_equal(got, brute_unhidden(points, normals, which, d, spacing,
                                                      2.0, 2.0, 0.3))
    lower = points[which, 2] == 0
    assert got[~lower].all()  # the upper plate is seen whole
    # The lower plate: hidden under the upper one, seen where it sticks out.
    shade = lower & (points[which, 0] < 17) & (points[which, 1] > 4) & (points[which, 1] < 16)
    # (a ray through the upper plate's random sampling may find a gap: rarely)
    assert got[shade].mean() < 0.05 and got[lower & (points[which, 0] > 23)].all()
    # Seen from below, every normal turns away.
    assert not unhidden_facing(points, normals, which, -d[None], spacing).any()


def test_zbuffer_sees_the_near_face_of_a_sphere_only():
    points, normals = sphere(6000, 0)
    spacing = point_spacing(points)
    d = np.array([0.0, 0.0, 1.0])
    seen = zbuffer_visible(points, normals, d, spacing)
    cos = normals @ d
    assert not seen[cos <= 0.1].any()
    assert seen[cos > 0.3].mean() > 0.97  # the facing side, up to a few steep ones
    two, _ = two_plates()
    seen = zbuffer_visible(two, np.tile([0.0, 0.0, 1.0], (len(two), 1)), d, point_spacing(two))
    assert seen[two[:, 2] == 6].all() and seen[(two[:, 2] == 0) & (two[:, 0] > 21)].all()
    # Under the upper plate: only through the gaps of its sampling (a quick estimate).
    assert seen[(two[:, 2] == 0) & (two[:, 0] < 19)].mean() < 0.12


def test_views_explaining_finds_the_directions_a_scan_was_taken_from():
    points, normals = sphere(6000, 1)
    spacing = point_spacing(points)
    for truth in ([[0.0, 0.0, 1.0]], [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]):
        truth = np.asarray(truth)
        covered = (normals @ truth.T > 0.1).any(axis=1)
        found = views_explaining(points, normals, covered, spacing)
        assert len(truth) <= len(found) <= len(truth) + 1
        # Together the found views show what the scan covers and little else.
        shown = (normals @ found.T > 0.1).any(axis=1)
        assert (shown & covered).sum() / (shown | covered).sum() > 0.9
    # One view: found within 15 degrees (the lattice's directions are ~21 apart).
    assert found_one(points, normals, spacing) @ [0.0, 0.0, 1.0] > np.cos(np.radians(15))
    complete = views_explaining(points, normals, np.ones(len(points), bool), spacing)
    assert len(complete) >= 4  # a 360-degree scan needs views from every side


def found_one(points, normals, spacing):
    found = views_explaining(points, normals, normals[:, 2] > 0.1, spacing)
    assert len(found) == 1
    return found[0]


def holed_cap(hole_radius, seed=2, latitude=30):
    """A fresh sample of the sphere seen from +z (normals within 84 degrees of it), with a
    hole at ``latitude`` degrees; at 30 its lower edge reaches the side the scan did not see."""
    scan, n = sphere(6000, seed)
    centre = 10.0 * np.array([np.cos(np.radians(latitude)), 0.0, np.sin(np.radians(latitude))])
    r = np.linalg.norm(scan - centre, axis=1)
    keep = (n[:, 2] > 0.1) & (r > hole_radius)
    return scan[keep], r[keep]


def test_visibility_separates_a_hole_from_the_side_the_scan_did_not_see():
    reference, normals = sphere(6000, 0)
    scan, r = holed_cap(4.6)
    plain, _ = uncovered_regions(scan, reference, normals=normals, visibility=False)
    assert plain.max() < 0  # the hole is a corner of the unseen half: too large to be a hole
    region, depth = uncovered_regions(scan, reference, normals=normals, visibility=True)
    assert region.max() == 0  # one region
    members = reference[region == 0]
    centre = 10.0 * np.array([np.cos(np.radians(30)), 0.0, np.sin(np.radians(30))])
    assert np.linalg.norm(members - centre, axis=1).max() < 4.6 + 1.0  # in the hole only
    scores = missing_surface(scan, reference, normals=normals, visibility=True)
    rim = r < 4.6 + 1.0
    assert (scores[rim & (scan[:, 2] > 2.5)] > 0).mean() > 0.8
    assert np.all(scores[r > 9.0] == 0)
    # A good scan of the same side: nothing missing.
    good, _ = holed_cap(0.0, seed=3)
    assert np.mean(missing_surface(good, reference, normals=normals, visibility=True) > 0) < 0.01


def test_min_enclosed_keeps_a_region_enclosed_by_the_surface_the_scan_has():
    """A hole inside the seen cap is surrounded by scanned surface; the hole at latitude 30
    reaches the unseen side (70-80 % of the points next to it are covered): kept by default
    and with ``min_enclosed=0.7``, not with 0.9."""
    reference, normals = sphere(6000, 0)
    touching, _ = holed_cap(4.6)
    inside, r = holed_cap(3.0, latitude=60)  # its edge well inside the seen cap
    assert (r < 3.0 + 1.0).sum() > 20
    for scan, enclosed in ((touching, False), (inside, True)):
        for share, kept in ((0.0, True), (0.7, True), (0.9, enclosed)):
            region, _ = uncovered_regions(scan, reference, normals=normals, visibility=True,
                                          min_enclosed=share)
            assert (region.max() == 0) == kept
    scores = missing_surface(inside, reference, normals=normals, visibility=True,
                             min_enclosed=0.9)
    assert (scores[r < 3.0 + 1.0] > 0).mean() > 0.8 and np.all(scores[r > 8.0] == 0)
    with pytest.raises(ValueError, match="min_enclosed"):
        uncovered_regions(inside, reference, min_enclosed=1.5)
