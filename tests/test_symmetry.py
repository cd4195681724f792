"""Near-symmetries of a part and the registration that uses them (``consensus``: the poses
they suggest, then a point-to-plane ``polish``)."""
import numpy as np
import pytest

from conftest import ellipsoid_points, sphere_points
from pointad.geometry.frames import principal_frame
from pointad.geometry.registration import (
    align,
    align_to_templates,
    best_pose,
    best_turn,
    polish,
    transform,
)
from pointad.geometry.rotations import rotation_about
from pointad.geometry.symmetry import near_symmetries, rotation_angle_deg
from pointad.geometry.units import point_spacing
from pointad.ops import NeighbourIndex

N_TEETH = 25  # pointad.synthbench.parts.gear(default_rng(3)) draws 25 teeth first


@pytest.fixture(scope="module")
def keyed_gear():
    """A spur gear with a keyed bore: two independent surface samples in one frame (the
    templates), a third turned 10 degrees about the gear's axis (a good scan: less than a
    tooth pitch of 14.4 degrees, more than half of it), the turn and the axis."""
    import trimesh

    from pointad.synthbench.parts import gear

    mesh = gear(np.random.default_rng(3))
    first, second, scan = (np.asarray(trimesh.sample.sample_surface(mesh, n, seed=s)[0])
                           for n, s in ((5000, 1), (5000, 4), (4000, 2)))
    centre, axes = principal_frame(first)
    turn = rotation_about(axes[2], np.deg2rad(10.0))
    return first, second, (scan - centre) @ turn.T + centre, turn, axes[2]


def _far(points, matrix, target):
    """Points farther than 3 of the target's point spacings after ``matrix``."""
    index = NeighbourIndex(target)
    d = index.query(transform(points, matrix), 1)[0][:, 0]
    return int((d > 3.0 * point_spacing(target)).sum())


def test_rotation_angle_of_known_rotations():
    assert rotation_angle_deg(np.eye(3)) == 0.0
    for angle in (1.0, 45.0, 179.0):
        assert rotation_angle_deg(rotation_about([1, 2, 3], np.deg2rad(angle))) == \
            pytest.approx(angle, abs=1e-6)


def test_the_near_symmetries_of_an_ellipsoid_are_its_three_half_turns():
    points, _ = ellipsoid_points(3000, radii=(3.0, 2.0, 1.0))
    found = near_symmetries(points)
    assert np.array_equal(found[0], np.eye(4)) and len(found) == 4
    axes = []
    for m in found[1:]:
        assert rotation_angle_deg(m[:3, :3]) == pytest.approx(180.0, abs=3.0)
        w, v = np.linalg.eig(m[:3, :3])
        axes.append(np.abs(np.real(v[:, np.argmin(np.abs(w - 1))])))
    # About x, y and z (the ellipsoid's axes), one each.
    assert np.allclose(np.sort(np.argmax(axes, axis=1)), [0, 1, 2])
    assert np.min(np.max(axes, axis=1)) > 0.99


def test_a_sphere_has_max_count_distinct_near_symmetries_that_all_fit_it():
    """Every turn fits a sphere: the search stops at ``max_count`` (the products of its turns
    alone would be thousands), and each one returned is a distinct rotation that maps the
    sphere onto itself."""
    points, _ = sphere_points(800, seed=1)
    found = near_symmetries(points, max_count=12)
    assert len(found) == 13 and np.array_equal(found[0], np.eye(4))
    rotations = [m[:3, :3] for m in found]
    for i, r in enumerate(rotations):
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-9) and np.linalg.det(r) > 0
        assert all(rotation_angle_deg(r @ q.T) >= 5.0 for q in rotations[:i])
    spacing = point_spacing(points)
    for m in found[1:]:
        moved = points @ m[:3, :3].T + m[:3, 3]
        assert np.abs(np.linalg.norm(moved, axis=1) - 1.0).max() < 0.5 * spacing


def test_the_near_symmetries_of_a_gear_are_turns_by_its_tooth_pitch(keyed_gear):
    first, _, _, _, axis = keyed_gear
    found = near_symmetries(first)
    pitch = 360.0 / N_TEETH
    turns = []
    for m in found[1:]:
        r = m[:3, :3]
        if rotation_angle_deg(r) > 175.0:  # a half-turn flip of the flat, extruded gear
            continue
        # A turn about the gear's axis, by a whole number of teeth.
        assert abs(np.dot(r @ axis, axis)) > 0.999
        angle = rotation_angle_deg(r)
        assert abs(angle / pitch - round(angle / pitch)) * pitch < 1.0
        turns.append(round(angle / pitch))
    assert 1 in turns and len(turns) >= 8
    # Moving the cloud by any of them leaves it on itself (no ICP, sampling aside).
    index, spacing = NeighbourIndex(first), point_spacing(first)
    for m in found:
        d = index.query(transform(first, m), 1)[0][:, 0]
        assert np.median(d) < 1.5 * spacing


def test_best_pose_counts_far_points_before_the_trimmed_residual():
    from pointad.geometry.registration import trimmed_residual

    rng = np.random.default_rng(0)
    r, phi = 5.0 * np.sqrt(rng.random(6000)), rng.uniform(0, 2 * np.pi, 6000)
    disc = np.column_stack([r * np.cos(phi), r * np.sin(phi), np.zeros(6000)])
    post = np.column_stack([rng.uniform(2.5, 3.5, 300), rng.uniform(-0.5, 0.5, 300),
                            np.full(300, 2.0)])  # a small raised feature off the centre
    target = np.vstack([disc, post])
    points = target[rng.choice(len(target), 2000, replace=False)]
    index = NeighbourIndex(target)
    turned = np.eye(4)
    turned[:3, :3] = rotation_about([0, 0, 1], np.pi / 2)  # the disc on itself, the post off
    lifted = np.eye(4)
    lifted[2, 3] = 0.1  # every point a little off, none far
    # The trimmed residual prefers the turn (the post is in its trimmed 10 %)...
    assert trimmed_residual(transform(points, turned), index) < \
        trimmed_residual(transform(points, lifted), index)
    # ...the far points do not.
    assert np.array_equal(best_pose(points, [turned, lifted], index, far=1.0), lifted)
    # No far point either way: the first, though the other's trimmed residual is smaller (a
    # near-symmetric part's turns fit as well as its true pose: noise must not pick one).
    lower = np.eye(4)
    lower[2, 3] = 0.05
    assert np.array_equal(best_pose(points, [lifted, lower], index, far=1.0), lifted)
    # Fewer far points by less than max(3, 0.1 % of the points): still the first; by more:
    # the fewest. Strays 1.5 above the disc are far in place and near after a drop of 0.6,
    # which leaves every other point 0.6 off: not far.
    down = np.eye(4)
    down[2, 3] = -0.6
    for strays, expected in ((2, np.eye(4)), (5, down)):
        cloud = np.vstack([points, np.tile([-3.0, 0.0, 1.5], (strays, 1))])
        assert max(3, int(0.001 * len(cloud))) == 3
        assert np.array_equal(best_pose(cloud, [np.eye(4), down], index, far=1.0), expected)
    assert np.array_equal(best_pose(points, [turned, lower, lifted], index, far=1.0), lower)


def test_align_with_symmetries_puts_a_keyed_gear_right_where_icp_alone_takes_the_next_tooth(
        keyed_gear):
    first, _, scan, turn, _ = keyed_gear
    plain = align(scan, first, max_points=3000, coarse=True)
    found = align(scan, first, max_points=3000, coarse=True, symmetries=near_symmetries(first))
    centre = principal_frame(first)[0]
    truth = np.eye(4)
    truth[:3, :3] = turn.T
    truth[:3, 3] = centre - turn.T @ centre
    # ICP alone settles a tooth off: the keyway's points stay far from the template.
    assert _far(scan, plain, first) > _far(scan, truth, first) + 15
    assert _far(scan, found, first) <= _far(scan, truth, first) + 5
    # Without symmetries, or with the identity only, align is what it was.
    assert np.array_equal(align(scan, first, max_points=3000, coarse=True, symmetries=[np.eye(4)]),
                          plain)


def test_align_to_templates_without_symmetries_aligns_each_template_alone(keyed_gear):
    first, second, scan, _, _ = keyed_gear
    templates = {0: first, 1: second}
    indexes = {j: NeighbourIndex(t) for j, t in templates.items()}
    poses = align_to_templates(scan, templates, indexes, max_points=3000, coarse=True)
    for j, t in templates.items():
        assert np.array_equal(poses[j], align(scan, t, max_points=3000, coarse=True,
                                              target_index=indexes[j]))


def test_align_to_templates_with_consensus_is_never_worse_and_finds_the_keyway(keyed_gear):
    first, second, scan, _, _ = keyed_gear
    templates = {0: first, 1: second}
    indexes = {j: NeighbourIndex(t) for j, t in templates.items()}
    alone = align_to_templates(scan, templates, indexes, max_points=3000, coarse=True)
    both = align_to_templates(scan, templates, indexes, max_points=3000, coarse=True,
                              symmetries={j: near_symmetries(t) for j, t in templates.items()})
    for j, t in templates.items():
        assert _far(scan, both[j], t) <= _far(scan, alone[j], t)
        assert _far(scan, both[j], t) < 12  # the keyway's points sit on the template
    assert max(_far(scan, alone[j], t) for j, t in templates.items()) > 25
    # An empty cache is filled with the same near-symmetries and gives the same poses.
    cache: dict = {}
    again = align_to_templates(scan, templates, indexes, max_points=3000, coarse=True,
                               symmetries=cache)
    assert sorted(cache) == [0, 1] and all(np.array_equal(again[j], both[j]) for j in templates)
    assert all(np.array_equal(x, y) for x, y in zip(cache[0], near_symmetries(first)))


def test_raw_with_consensus_does_not_score_the_keyway_of_a_good_gear_a_tooth_off(keyed_gear):
    from pointad.detectors import create

    first, _, scan, _, _ = keyed_gear
    plain, agreed = create("raw", consensus=False), create("raw")
    for det in (plain, agreed):
        det.fit([first])
    off, on = plain.predict(scan), agreed.predict(scan)
    far = 3.0 * point_spacing(first)
    # A tooth off, the keyway's points are far from the template; in place, they are not.
    assert (off.point_scores > far).sum() > 25 and (on.point_scores > far).sum() < 10
    assert on.score < 0.85 * off.score


def test_best_turn_brings_a_mug_turned_150_degrees_back_and_leaves_a_good_pose_alone():
    """A partial view of a mug whose pose is 150 degrees off about its axis (the body fits, the
    handle does not): a turn in 45-degree steps starts within 15 degrees of the truth."""
    import trimesh

    from pointad.synthbench.parts import mug

    mesh = mug(np.random.default_rng(3))
    template, sample = (np.asarray(trimesh.sample.sample_surface(mesh, n, seed=s)[0])
                        for n, s in ((5000, 1), (4000, 2)))
    view = sample[sample[:, 1] > -3.0]  # one side of the mug, handle in view
    index, spacing = NeighbourIndex(template), point_spacing(template)
    base = template[template[:, 2] < 0.05 * template[:, 2].max()]  # the foot, all round
    axis = 0.5 * (base.min(axis=0) + base.max(axis=0)) * [1.0, 1.0, 0.0]  # a point on the axis
    wrong = np.eye(4)  # a turn about the mug's axis (along z): the body fits, the handle not
    wrong[:3, :3] = rotation_about([0.0, 0.0, 1.0], np.deg2rad(150.0))
    wrong[:3, 3] = axis - wrong[:3, :3] @ axis
    assert _far(view, wrong, template) > 0.05 * len(view)
    found = best_turn(view, template, wrong, index, spacing=spacing)
    assert _far(view, found, template) < 0.005 * len(view)
    assert rotation_angle_deg(found[:3, :3]) < 2.0  # the true pose is the identity
    assert np.linalg.norm(found[:3, 3]) < spacing
    # Under the gate (the share of far points it tolerates) the pose comes back untouched.
    assert best_turn(view, template, wrong, index, spacing=spacing, share=0.5) is wrong
    assert np.array_equal(best_turn(view, template, np.eye(4), index, spacing=spacing),
                          np.eye(4))


@pytest.mark.parametrize("part", ["gear", "mug"])
def test_polish_is_open3d_point_to_plane_and_closer_than_point_to_point(part):
    import open3d as o3d
    import trimesh

    from pointad.synthbench import parts

    mesh = getattr(parts, part)(np.random.default_rng(3))
    target, sample = (np.asarray(trimesh.sample.sample_surface(mesh, n, seed=s)[0])
                      for n, s in ((5000, 1), (4000, 2)))
    spacing = point_spacing(target)
    truth = np.eye(4)  # takes the source onto the part: half a degree, about a spacing
    truth[:3, :3] = rotation_about([1, 2, 3], np.deg2rad(0.5))
    truth[:3, 3] = spacing * np.array([1.0, -0.5, 0.5])
    source = transform(sample, np.linalg.inv(truth))

    def error(matrix):  # RMS displacement from the true pose, in target spacings
        moved = transform(source, matrix) - transform(source, truth)
        return float(np.sqrt((moved ** 2).sum(axis=1).mean())) / spacing

    found = polish(source, target, np.eye(4), spacing=spacing)
    reg = o3d.pipelines.registration
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(target))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(16))
    reference = np.asarray(reg.registration_icp(
        o3d.geometry.PointCloud(o3d.utility.Vector3dVector(source)), pcd, 3 * spacing,
        np.eye(4), reg.TransformationEstimationPointToPlane(),
        reg.ICPConvergenceCriteria(max_iteration=30)).transformation)
    # The same minimiser as open3d's point-to-plane ICP (normals from 16 neighbours both)...
    assert np.sqrt(((transform(source, found) - transform(source, reference)) ** 2)
                   .sum(axis=1).mean()) < 1e-3 * spacing
    # ...from 1.3-1.5 spacings off to under a tenth, closer than point-to-point ICP gets...
    assert error(np.eye(4)) > 1.0 and error(found) < 0.1
    assert error(found) < 0.7 * error(align(source, target, pca=False, max_points=5000))
    # ...a fixed point at the truth's minimum, and the same bits every call.
    assert error(polish(source, target, found, spacing=spacing)) < error(found) + 1e-6
    assert np.array_equal(found, polish(source, target, np.eye(4), spacing=spacing,
                                        target_index=NeighbourIndex(target)))


@pytest.mark.parametrize("seed", [2, 3])
def test_polish_does_not_let_a_dent_slide_a_plate_within_its_plane(seed):
    """A near-flat plate barely fixes its sliding within its plane, and the plane distances of
    a dent 1.5 spacings deep pulled the plain least squares 3-9 degrees and 4-28 spacings off
    the true pose (the identity here); the polish keeps the pose it was given when its own
    result has a larger trimmed residual."""
    from pointad.samples import sample_cloud
    from pointad.synthesis import PNAS

    plate = sample_cloud("plate", n_points=1200)
    rng = np.random.default_rng(seed)
    target = plate.points + rng.normal(0, 0.01, plate.points.shape)
    scan = plate.points + rng.normal(0, 0.01, plate.points.shape)
    dented = PNAS(strength=0.03, fraction=0.05, sign="dent")(
        scan, plate.normals, seed=seed, grid=(plate.grid_shape, plate.grid_index))
    spacing = point_spacing(target)
    assert np.abs(dented.points - scan).max() > spacing  # a dent, not noise
    for points in (scan, dented.points):
        moved = polish(points, target, np.eye(4), spacing=spacing)
        assert rotation_angle_deg(moved[:3, :3]) < 0.5
        assert np.linalg.norm(moved[:3, 3]) < 0.5 * spacing


def test_polish_on_a_plane_fixes_the_normal_offset_and_leaves_the_free_directions():
    rng = np.random.default_rng(0)
    target = np.c_[rng.uniform(0, 10, (4000, 2)), np.zeros(4000)]
    source = np.c_[rng.uniform(0, 10, (2000, 2)), np.zeros(2000)] + [0.05, 0.0, 0.1]
    spacing = point_spacing(target)
    found = polish(source, target, np.eye(4), spacing=spacing)
    moved = transform(source, found)
    # The plane fixes z (and the tilts); the in-plane slide and the turn about z are left free
    # (the least-norm step does not move along them).
    assert np.abs(moved[:, 2]).max() < 1e-9
    assert np.allclose(moved[:, :2], source[:, :2], atol=1e-9)
    # Nothing within reach: the start comes back unchanged.
    far = np.eye(4)
    far[2, 3] = 10 * spacing
    assert np.array_equal(polish(source, target, far, spacing=spacing), far)
