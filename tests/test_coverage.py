"""Missing surface (pointad.geometry.coverage): holes found from the reference's side."""
import numpy as np
import pytest
from scipy.spatial import cKDTree

from pointad.geometry import point_spacing
from pointad.geometry.coverage import (
    local_spacing,
    missing_from_templates,
    missing_surface,
    uncovered_regions,
)
from pointad.geometry.rotations import rotation_about
from pointad.geometry.units import thin_to_spacing


def plane(n, seed, size=60.0, noise=0.0):
    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(0, size, (n, 2)), rng.normal(0, noise, n) if noise else np.zeros(n)]


def holed_partial_scan(seed=1, radius=5.0):
    """A fresh sample of the 60 x 60 plane with a hole of ``radius`` at (30, 30), cut to x < 45
    (the part x >= 45 unseen, a quarter of the plane)."""
    scan = plane(3600, seed, noise=0.05)
    r = np.linalg.norm(scan[:, :2] - 30.0, axis=1)
    keep = (r > radius) & (scan[:, 0] < 45)
    return scan[keep], r[keep]


def test_local_spacing_is_the_point_spacing_and_follows_the_density():
    uniform = plane(6000, 0)
    assert np.median(local_spacing(uniform)) == pytest.approx(point_spacing(uniform), rel=0.1)
    # Left half four times denser: its spacing half the right half's.
    rng = np.random.default_rng(2)
    mixed = np.r_[np.c_[rng.uniform(0, 30, 4000), rng.uniform(0, 60, 4000), np.zeros(4000)],
                  np.c_[rng.uniform(30, 60, 1000), rng.uniform(0, 60, 1000), np.zeros(1000)]]
    s = local_spacing(mixed)
    left, right = np.median(s[mixed[:, 0] < 25]), np.median(s[mixed[:, 0] > 35])
    assert right / left == pytest.approx(2.0, rel=0.15)


def test_thin_to_spacing_brings_dense_regions_down_and_keeps_sparse_ones():
    rng = np.random.default_rng(3)
    mixed = np.r_[np.c_[rng.uniform(0, 30, 8000), rng.uniform(0, 60, 8000), np.zeros(8000)],
                  np.c_[rng.uniform(30, 60, 1000), rng.uniform(0, 60, 1000), np.zeros(1000)]]
    sparse = point_spacing(mixed[8000:])
    kept = thin_to_spacing(mixed, sparse, 0)
    assert np.array_equal(kept, np.unique(kept)) and kept.max() < len(mixed)
    left, right = kept[kept < 8000], kept[kept >= 8000]
    # The dense half (8x) comes down to about the sparse half's density...
    assert 700 < len(left) < 1400
    assert point_spacing(mixed[left]) == pytest.approx(sparse, rel=0.2)
    # ...which keeps most of its points (the 8-neighbour local spacing is noisy: about 15 %
    # go where the sampling bunches up).
    assert len(right) > 800
    assert np.array_equal(thin_to_spacing(mixed, sparse, 0), kept)  # seeded
    assert not np.array_equal(thin_to_spacing(mixed, sparse, 1), kept)
    assert len(thin_to_spacing(mixed, 0.01 * sparse, 0)) == len(mixed)  # finer: all kept
    with pytest.raises(ValueError, match="spacing must be > 0"):
        thin_to_spacing(mixed, 0.0, 0)


def brute_regions(points, reference, gap, max_region, min_region):
    """The obvious reference: kd-tree depths, spacing by definition, BFS over all pairs."""
    tree = cKDTree(points)
    depth, near = tree.query(reference)
    d9 = tree.query(points, 9)[0][:, 8]
    local = d9 * np.sqrt(np.log(2.0) / 8)
    ref_spacing = np.median(cKDTree(reference).query(reference, 2)[0][:, 1])
    unc = np.flatnonzero(depth > gap * np.maximum(local[near], ref_spacing))
    pair = np.linalg.norm(reference[unc, None] - reference[None, unc], axis=2)
    adjacent = pair <= 4.0 * ref_spacing
    seen, regions = np.zeros(len(unc), bool), []
    for start in range(len(unc)):
        if seen[start]:
            continue
        stack, members = [start], []
        seen[start] = True
        while stack:
            i = stack.pop()
            members.append(i)
            for j in np.flatnonzero(adjacent[i] & ~seen):
                seen[j] = True
                stack.append(j)
        fewest = max(5, np.ceil(min_region * len(reference)))
        if fewest <= len(members) <= max_region * len(reference):
            regions.append(frozenset(unc[members].tolist()))
    return set(regions), depth


def test_uncovered_regions_match_a_brute_force_reference():
    reference = plane(1500, 0, size=40.0)
    scan = plane(1500, 1, size=40.0, noise=0.03)
    r = np.linalg.norm(scan[:, :2] - [12.0, 15.0], axis=1)
    r2 = np.linalg.norm(scan[:, :2] - [28.0, 25.0], axis=1)
    scan = scan[(r > 3.5) & (r2 > 3.2) & (scan[:, 1] < 34)]
    region, depth = uncovered_regions(scan, reference, gap=2.5, max_region=0.05,
                                      min_region=0.004)
    expected, expected_depth = brute_regions(scan, reference, 2.5, 0.05, 0.004)
    got = {frozenset(np.flatnonzero(region == g).tolist()) for g in range(region.max() + 1)}
    assert got == expected
    assert len(got) == 2  # the two holes; the unseen strip y >= 34 is too large to be one
    np.testing.assert_allclose(depth, expected_depth, rtol=1e-9)


def test_a_hole_rim_scores_its_depth_and_the_unseen_side_does_not():
    reference = plane(3600, 0)
    scan, r = holed_partial_scan()
    scores = missing_surface(scan, reference)
    rim = r < 5.0 + 1.5
    assert rim.sum() >= 20
    assert np.median(scores[rim]) > 2.5  # a hole of radius 5 is deeper than 2.5 (mm)
    assert np.all(scores[r > 9.0] == 0)  # away from the hole, the partial view's edge included
    # A good scan of the same partial view: (nearly) nothing missing.
    good = plane(3600, 3, noise=0.05)
    good = good[good[:, 0] < 45]
    assert np.mean(missing_surface(good, reference) > 0) < 0.01


def test_missing_surface_moves_with_the_clouds():
    reference = plane(3600, 0)
    scan, _ = holed_partial_scan()
    turn = rotation_about(np.array([1.0, 2.0, 0.5]) / np.linalg.norm([1.0, 2.0, 0.5]), 0.7)
    shift = np.array([5.0, -3.0, 2.0])
    moved = missing_surface(scan @ turn.T + shift, reference @ turn.T + shift)
    np.testing.assert_allclose(moved, missing_surface(scan, reference), atol=1e-9)
    # Units: scaled clouds give scaled depths.
    np.testing.assert_allclose(missing_surface(scan * 3.0, reference * 3.0),
                               3.0 * missing_surface(scan, reference), rtol=1e-9, atol=1e-9)


def test_missing_from_templates_needs_agreeing_templates():
    """Each template sees the scan through its own transform; a point gets the value at least
    ``agree`` of them give it. A template indexed beforehand gives the same values."""
    from pointad.ops import NeighbourIndex
    templates = [plane(3600, 0), plane(3600, 5), plane(3600, 6)]
    scan, r = holed_partial_scan()
    turn = rotation_about(np.array([0.0, 0.0, 1.0]), 0.4)
    posed = scan @ turn.T + 7.0
    inverse = np.eye(4)
    inverse[:3, :3], inverse[:3, 3] = turn.T, -turn.T @ np.full(3, 7.0)
    each = [missing_surface(scan, t) for t in templates]
    matrices = {j: inverse for j in range(3)}
    got = missing_from_templates(posed, matrices, templates, normals=[None] * 3)
    np.testing.assert_allclose(got, np.sort(each, axis=0)[1], atol=1e-9)  # 2nd largest of 3
    indexed = missing_from_templates(posed, matrices, templates, agree=1,
                                     indexes=[NeighbourIndex(t) for t in templates])
    np.testing.assert_allclose(indexed, np.max(each, axis=0), atol=1e-9)
    assert np.median(got[r < 6.5]) > 2.5
    assert np.all(missing_from_templates(posed, {}, templates) == 0)


@pytest.mark.parametrize("kw", [dict(gap=0), dict(max_region=1.5), dict(rim=-1),
                                dict(rim_share=-0.5)])
def test_missing_surface_rejects_bad_parameters(kw):
    with pytest.raises(ValueError):
        missing_surface(plane(100, 0), plane(100, 1), **kw)


def test_rim_share_widens_the_rim_by_a_share_of_the_hole_depth():
    """``rim_share`` s reaches s times the region's depth (about the hole's radius, 5 here)
    farther out from the hole; what a point scores stays the region's depth."""
    reference = plane(3600, 0)
    scan, r = holed_partial_scan()
    narrow = missing_surface(scan, reference)
    wide = missing_surface(scan, reference, rim_share=0.5)
    np.testing.assert_array_equal(missing_surface(scan, reference, rim_share=0.0), narrow)
    assert np.all(wide[narrow > 0] == narrow[narrow > 0])  # the narrow rim is inside the wide
    depth = narrow.max()
    assert 4.0 < depth < 6.0
    band = (r > 8.0) & (r < 9.0)  # beyond the narrow rim, within half a depth more
    assert band.sum() >= 20
    assert np.mean(narrow[band] > 0) < 0.2 and np.mean(wide[band] > 0) > 0.9
    assert np.all(wide[band & (wide > 0)] == depth)
    assert np.all(wide[r > 5.0 + 0.5 * depth + 4.0] == 0)  # and no farther


def test_a_list_of_rim_shares_gives_one_row_per_share():
    reference = plane(3600, 0)
    scan, _ = holed_partial_scan()
    rows = missing_surface(scan, reference, rim_share=[0.0, 0.5])
    assert rows.shape == (2, len(scan))
    np.testing.assert_array_equal(rows[0], missing_surface(scan, reference))
    np.testing.assert_array_equal(rows[1], missing_surface(scan, reference, rim_share=0.5))
    templates = [reference, plane(3600, 5)]
    both = missing_from_templates(scan, {0: np.eye(4), 1: np.eye(4)}, templates,
                                  rim_share=[0.0, 0.5])
    assert both.shape == (2, len(scan))
    np.testing.assert_array_equal(both[1], missing_from_templates(
        scan, {0: np.eye(4), 1: np.eye(4)}, templates, rim_share=0.5))
    assert missing_from_templates(scan, {}, templates, rim_share=[0.0, 0.5]).shape == (2, len(scan))
    # Away from any hole (a good scan) every row is zero, with its shape.
    good = plane(3600, 3)
    assert missing_surface(good, reference, rim_share=[0.0, 0.5]).shape == (2, len(good))
