"""Normals, object-relative units, principal frames and the parameterizations."""
import numpy as np
import pytest

from conftest import ellipsoid_points, random_rotation, sphere_points
from pointad.errors import InputError
from pointad.geometry import (
    PROJECTIONS,
    estimate_normals,
    isolated,
    local_frames,
    object_diameter,
    point_spacing,
    principal_frame,
    project,
)
from pointad.samples import sample_cloud


def test_normals_on_ellipsoid_are_accurate_and_outward(ellipsoid):
    points, truth = ellipsoid
    normals = estimate_normals(points, k=20)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-12)
    cos = (normals * truth).sum(axis=1)
    assert cos.min() > 0.9 and np.median(cos) > 0.995


def test_normals_of_a_closed_part_with_sharp_edges_point_outward():
    cloud = sample_cloud("box", n_points=6000)
    normals = estimate_normals(cloud.points, k=15, orient="consistent_tangent_plane")
    # Away from the edges PCA normals equal the face normals, with the outward sign.
    assert np.mean((normals * cloud.normals).sum(axis=1) > 0.9) > 0.9


def test_camera_location_orientation_faces_the_sensor():
    cloud = sample_cloud("plate", n_points=3000)
    normals = estimate_normals(cloud.points, k=12, organized=True)  # auto -> camera at origin
    assert np.all((normals * (0 - cloud.points)).sum(axis=1) > 0)
    assert np.median((normals * cloud.normals).sum(axis=1)) > 0.999
    camera = cloud.points.mean(0) + [0.0, 0.0, -50.0]
    moved = estimate_normals(cloud.points, k=12, orient="camera_location",
                             camera_location=camera)
    assert np.all((moved * (camera - cloud.points)).sum(axis=1) >= 0)
    with pytest.raises(InputError, match="camera_location"):
        estimate_normals(cloud.points, k=12, orient="camera_location", camera_location=[0, 1])


def test_local_frames_give_normals_and_surface_variation():
    cloud = sample_cloud("box", n_points=6000)
    frames = local_frames(cloud.points, 15)
    np.testing.assert_array_equal(frames.normals, estimate_normals(cloud.points, 15))
    assert frames.curvature.shape == (6000,)
    assert 0.0 <= frames.curvature.min() and frames.curvature.max() <= 1 / 3 + 1e-12
    # Flat faces have (almost) no variation; the points on the box's edges have the most.
    flat = (np.abs(cloud.normals) > 0.999).any(axis=1)
    assert np.median(frames.curvature[flat]) < 1e-3 < np.percentile(frames.curvature, 97)


def test_normals_match_open3d_up_to_sign():
    import open3d as o3d  # a required dependency (setup.cfg): missing is a failure, not a skip
    points, _ = ellipsoid_points(n=3000, seed=2)
    ours = estimate_normals(points, k=16, orient="none")
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(16))
    theirs = np.asarray(pcd.normals)
    assert np.abs((ours * theirs).sum(axis=1)).min() > 0.999


def _orient_reference(points, normals, k=8):
    """Consistent orientation the obvious way (what pointad did before its numba forest): SciPy's
    k-d tree for the k nearest others, SciPy's minimum spanning tree and breadth-first order,
    signs propagated in a Python loop, each connected part turned to face away from the
    centroid."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import (
        breadth_first_order,
        connected_components,
        minimum_spanning_tree,
    )
    from scipy.spatial import cKDTree
    n = len(points)
    neighbours = cKDTree(points).query(points, k=k + 1)[1][:, 1:]
    rows, cols = np.repeat(np.arange(n), k), neighbours.ravel()
    weight = 1.0 - np.abs((normals[rows] * normals[cols]).sum(axis=1)) + 1e-6
    graph = coo_matrix((weight, (rows, cols)), shape=(n, n)).tocsr()
    n_parts, part = connected_components(graph, directed=False)
    tree = minimum_spanning_tree(graph)
    signs = np.ones(n)
    for root in np.unique(part, return_index=True)[1]:
        order, pred = breadth_first_order(tree, root, directed=False, return_predecessors=True)
        for node in order[1:]:
            parent = pred[node]
            signs[node] = signs[parent] * (1 if normals[node] @ normals[parent] >= 0 else -1)
    out = normals * signs[:, None]
    votes = np.bincount(part, weights=((points - points.mean(0)) * out).sum(1), minlength=n_parts)
    out[votes[part] < 0] *= -1
    return out


@pytest.mark.parametrize("shape", ["flange", "box", "cylinder", "two_spheres"])
def test_consistent_orientation_matches_the_spanning_tree_reference(shape):
    """The numba Kruskal forest orients exactly as SciPy's spanning tree does (ties between
    equal edge weights only arise between parallel normals, where either tree agrees)."""
    if shape == "two_spheres":
        points = np.vstack([sphere_points(3000, seed=2)[0], sphere_points(2000, seed=3)[0] + 5])
    else:
        points = sample_cloud(shape, n_points=8000).points
    ours = estimate_normals(points, k=20, orient="consistent_tangent_plane")
    unoriented = estimate_normals(points, k=20, orient="none")
    np.testing.assert_array_equal(np.abs(ours), np.abs(unoriented))
    np.testing.assert_array_equal(ours, _orient_reference(points, unoriented))


def test_normals_of_a_larger_part_match_open3d_up_to_sign():
    """The fused grid pass against Open3D's estimate_normals on a larger part (k=30, as
    tools/bench.py times them)."""
    import open3d as o3d
    points = sample_cloud("flange", n_points=60000).points
    frames = local_frames(points, 30, orient="none")
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(30))
    cos = np.abs((frames.normals * np.asarray(pcd.normals)).sum(axis=1))
    defined = frames.curvature < 0.1     # the normal of a blob-like neighbourhood is arbitrary
    assert defined.mean() > 0.95 and cos[defined].min() > 1 - 1e-6


def test_normals_reject_too_few_and_collinear_points():
    with pytest.raises(InputError, match="fewer than the normal neighbourhood size k=30"):
        estimate_normals(np.random.default_rng(0).normal(size=(10, 3)), k=30)
    line = np.outer(np.linspace(0, 1, 100), [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="collinear"):
        estimate_normals(line, k=10)
    with pytest.raises(InputError, match="identical"):
        estimate_normals(np.ones((50, 3)), k=10)


def test_units_are_rotation_invariant_and_scale_linearly():
    points, _ = ellipsoid_points(n=2000)
    rot = random_rotation(1)
    moved = points @ rot.T + [5.0, -2.0, 1.0]
    assert object_diameter(points) == pytest.approx(6.0, rel=0.05)  # longest axis 2 * 3
    assert object_diameter(moved) == pytest.approx(object_diameter(points), rel=1e-9)
    assert object_diameter(3 * points) == pytest.approx(3 * object_diameter(points), rel=1e-9)
    assert point_spacing(moved) == pytest.approx(point_spacing(points), rel=1e-9)
    grid = np.stack(np.meshgrid(np.arange(30), np.arange(20), [0.0]), -1).reshape(-1, 3) * 0.5
    assert point_spacing(grid) == pytest.approx(0.5)


def test_principal_frame_rotates_with_the_cloud(ellipsoid):
    points, _ = ellipsoid
    points = points + np.array([0.3, 0.0, 0.0]) * (points[:, :1] > 0)  # break the symmetry
    rot = random_rotation(5)
    c1, a1 = principal_frame(points)
    c2, a2 = principal_frame(points @ rot.T)
    np.testing.assert_allclose(a2, a1 @ rot.T, atol=1e-9)
    np.testing.assert_allclose(c2, rot @ c1, atol=1e-12)
    assert np.linalg.det(a1) == pytest.approx(1.0)


def _mirror_pairs(n=1500):
    """An ellipsoid flattened along z, with every point's mirror image across z = 0 appended."""
    points, normals = ellipsoid_points(n=n, radii=(3.0, 2.0, 1.0), seed=3)
    points[:, 2] = np.abs(points[:, 2]) + 1e-3
    normals[:, 2] = np.abs(normals[:, 2])
    flip = np.array([1.0, 1.0, -1.0])
    return np.vstack([points, points * flip]), np.vstack([normals, normals * flip]), n


def test_pca_folds_front_onto_back_and_tangent_does_not():
    points, normals, n = _mirror_pairs()
    pca = project("pca", points)
    np.testing.assert_allclose(pca[:n], pca[n:], atol=1e-9)
    tangent = project("tangent", points, normals=normals, center=int(np.argmax(points[:, 2])))
    gap = np.linalg.norm(tangent[:n] - tangent[n:], axis=1)
    assert np.mean(gap > 1e-3) > 0.99 and gap.mean() > 0.3  # mirrored points land apart


def test_projection_shapes_and_subsets():
    cloud = sample_cloud("cylinder", n_points=3000)
    subset = np.arange(0, 3000, 7)
    for kind in PROJECTIONS:
        if kind == "grid":
            continue
        full = project(kind, cloud.points, normals=cloud.normals, center=0)
        assert full.shape == (3000, 3 if kind == "volume" else 2)
        assert np.isfinite(full).all()
        if kind != "tangent":  # tangent fits its frame to the subset by design
            part = project(kind, cloud.points, normals=cloud.normals, center=0, subset=subset)
            np.testing.assert_allclose(part, full[subset])


def test_cylindrical_unrolls_the_side_of_a_cylinder():
    cloud = sample_cloud("cylinder", n_points=4000)  # radius 12, height 60
    uv = project("cylindrical", cloud.points)
    side = np.abs(cloud.normals[:, 2]) < 0.1
    assert uv[side, 1].max() - uv[side, 1].min() == pytest.approx(60.0, rel=0.02)
    assert uv[side, 0].max() - uv[side, 0].min() == pytest.approx(2 * np.pi * 12.0, rel=0.25)


def test_spherical_coordinates_are_arc_lengths():
    points, _ = sphere_points(n=2000, radius=2.0)
    uv = project("spherical", points)
    assert np.abs(uv[:, 0]).max() == pytest.approx(2 * np.pi, rel=0.01)  # pi * radius
    assert np.abs(uv[:, 1]).max() <= np.pi + 1e-9


def test_grid_projection_uses_pixel_pitch():
    cloud = sample_cloud("plate", n_points=2000)
    uv = project("grid", cloud.points, grid=(cloud.grid_shape, cloud.grid_index))
    height, width = cloud.grid_shape
    rows, cols = np.divmod(cloud.grid_index, width)
    pitch = uv[1, 0]  # the pixel (0, 1) sits one pitch from the origin
    assert pitch == pytest.approx(80.0 / (width - 1), rel=0.02)  # 80 mm over width-1 gaps
    np.testing.assert_allclose(uv, np.stack([cols, rows], axis=1) * pitch, rtol=1e-12)
    with pytest.raises(InputError, match="organized"):
        project("grid", cloud.points)
    with pytest.raises(InputError, match="projection must be one of"):
        project("uv", cloud.points)


def test_radius_neighbourhoods_match_a_brute_force_pca():
    points, truth = ellipsoid_points(n=2000, seed=4)
    radius = 0.25
    normals = estimate_normals(points, k=40, radius=radius, orient="consistent_tangent_plane")
    for i in range(0, 2000, 97):  # the obvious reference: every point within the radius
        d = np.linalg.norm(points - points[i], axis=1)
        nb = points[np.argsort(d)[:40]]
        nb = nb[np.linalg.norm(nb - points[i], axis=1) <= radius]
        if len(nb) < 3:
            continue
        ref = np.linalg.eigh(np.cov((nb - nb.mean(0)).T))[1][:, 0]
        assert abs(normals[i] @ ref) > 1 - 1e-9
    assert np.median((normals * truth).sum(axis=1)) > 0.99
    with pytest.raises(InputError, match="normal radius"):
        estimate_normals(points, radius=0.0)


def test_importing_pointad_leaves_the_environment_alone():
    """No import-time side effect on os.environ; numba's threading layer priority is set only
    when the user has not set NUMBA_THREADING_LAYER_PRIORITY."""
    import os
    import subprocess
    import sys
    code = ("import os, numba; before = dict(os.environ); import pointad, pointad.geometry, "
            "pointad.jit; assert dict(os.environ) == before; "
            "print(numba.config.THREADING_LAYER_PRIORITY)")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER_PRIORITY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "['omp', 'workqueue', 'tbb']"
    env["NUMBA_THREADING_LAYER_PRIORITY"] = "workqueue omp tbb"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "['workqueue', 'omp', 'tbb']"


def test_the_first_kernel_keeps_the_process_thread_count():
    """numba's OpenMP layer sets the process's OpenMP thread count to its pool size when the
    pool starts, and torch reads that count: a process limited to one thread must stay so after
    the first parallel kernel (torch loaded before it, or after it), and numba's pool takes the
    same count unless NUMBA_NUM_THREADS is set."""
    import os
    import subprocess
    import sys
    kernel = ("import numpy as np\n"
              "from pointad.ops.grid import grid_knn\n"
              "p = np.random.default_rng(0).random((5000, 3))\n"
              "grid_knn(p, p, 8)\n")
    report = "import numba, torch\nprint(torch.get_num_threads(), numba.get_num_threads())\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    cases = [  # (environment, code before the kernel, expected torch and numba threads)
        ({"OMP_NUM_THREADS": "1"}, "import torch\n", "1 1"),
        ({"OMP_NUM_THREADS": "1"}, "", "1 1"),  # torch imported after the pool started
        ({}, "import torch\ntorch.set_num_threads(1)\n", "1 1"),
    ]
    for extra, before, expected in cases:
        out = subprocess.run([sys.executable, "-c", before + kernel + report],
                             env={**env, **extra}, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected, (extra, before, out.stdout)
    out = subprocess.run([sys.executable, "-c", "import torch\n" + kernel + report],
                         env={**env, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1 2"  # the user's NUMBA_NUM_THREADS is kept; torch's too


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_isolated_points_against_a_kd_tree(kind):
    """Stray returns: the k-th nearest other point beyond a length, or beyond a factor times the
    median such distance; checked against scipy's k-d tree."""
    import torch
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    pts = np.vstack([sphere_points(2000, seed=0)[0], rng.uniform(-3, 3, size=(20, 3)) * 2])
    third = cKDTree(pts).query(pts, 4)[0][:, 3]
    x = pts if kind == "numpy" else torch.as_tensor(pts)
    out = isolated(x, 3, limit=0.3)
    assert type(out) is type(x)
    assert np.array_equal(np.asarray(out), third > 0.3)
    by_median = np.asarray(isolated(x, 3, factor=4.0))
    median = np.median(third) if kind == "numpy" else np.sort(third)[(len(third) - 1) // 2]
    assert np.array_equal(by_median, third > 4.0 * median)
    assert by_median[-20:].mean() > 0.8 and by_median[:2000].mean() < 0.01
    # k is clamped to N - 1; one point is never stray; exactly one threshold is given.
    assert np.array_equal(np.asarray(isolated(x[:3], 10, limit=0.0)), np.ones(3, bool))
    assert not np.asarray(isolated(x[:1], 3, factor=4.0)).any()
    with pytest.raises(ValueError, match="exactly one"):
        isolated(x, 3)


def test_nearest_template_points_takes_the_nearest_over_aligned_templates():
    from pointad.geometry.registration import nearest_template_points
    from pointad.ops import NeighbourIndex

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) + 10.0
    query = np.vstack([a[:5] + 0.01, b[:5] - 10.0 + 0.02])
    shift = np.eye(4)
    shift[:3, 3] = 10.0  # the second template's transform moves the query by +10
    dist, which, near = nearest_template_points(
        query, {0: np.eye(4), 1: shift}, {0: NeighbourIndex(a), 1: NeighbourIndex(b)})
    assert which.tolist() == [0] * 5 + [1] * 5 and near.tolist() == [0, 1, 2, 3, 4] * 2
    assert np.allclose(dist, np.sqrt(3) * np.r_[[0.01] * 5, [0.02] * 5])
    dist, which, _ = nearest_template_points(query, {}, {})
    assert np.isinf(dist).all() and (which == -1).all()


def _icp_reference(source, target, start, distance, iterations):
    """Point-to-point ICP the obvious way: nearest target point of every moved source point,
    pairs closer than ``distance``, the Kabsch rotation of the pairs, ``iterations`` times."""
    from scipy.spatial import cKDTree

    tree, matrix = cKDTree(target), np.array(start, dtype=np.float64)
    for _ in range(iterations):
        moved = source @ matrix[:3, :3].T + matrix[:3, 3]
        dist, near = tree.query(moved)
        keep = dist < distance
        a, b = moved[keep], target[near[keep]]
        ca, cb = a.mean(0), b.mean(0)
        u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
        d = np.sign(np.linalg.det(vt.T @ u.T))
        step = np.eye(4)
        step[:3, :3] = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
        step[:3, 3] = cb - step[:3, :3] @ ca
        matrix = step @ matrix
    return matrix


def test_icp_matches_the_obvious_icp_for_every_start_in_order():
    from pointad.geometry.registration import icp
    from pointad.geometry.rotations import rotation_about

    target = ellipsoid_points(1500, seed=2)[0]  # radii 3, 2, 1: spacing about 0.1
    rotation = rotation_about(np.array([1.0, 2.0, 0.5]) / np.sqrt(5.25), np.deg2rad(12.0))
    source = target[::2] @ rotation.T + 0.2  # a moved half of the target
    starts = [np.eye(4), np.eye(4)]
    starts[1][:3, 3] = -0.1
    got = icp(source, target, starts, [1.5, 0.4], iterations=60)
    assert len(got) == 2 and all(m.shape == (4, 4) for m in got)
    for start, matrix in zip(starts, got):
        want = _icp_reference(source, target, _icp_reference(source, target, start, 1.5, 60),
                              0.4, 60)
        assert np.abs(matrix - want).max() < 1e-5
        moved = source @ matrix[:3, :3].T + matrix[:3, 3]
        assert np.abs(moved - target[::2]).max() < 1e-6  # the true pose: every point home
    assert icp(source, target, [], [1.5], iterations=5) == []


def test_visible_from_cuts_a_thin_slab_to_the_face_turned_to_the_viewer():
    """Hidden point removal needs no normals: a slab one unit thick (normals of its two faces
    cannot be told apart by a neighbourhood) is cut to its top face seen from above."""
    import trimesh

    from pointad.geometry import view_directions, visible_from

    mesh = trimesh.creation.box(extents=(40.0, 30.0, 1.0))
    pts = np.asarray(trimesh.sample.sample_surface(mesh, 4000, seed=0)[0])
    top, bottom = pts[:, 2] > 0.49, pts[:, 2] < -0.49
    seen = visible_from(pts, [0.0, 0.0, 1.0])
    assert seen[top].mean() > 0.95 and seen[bottom].mean() < 0.05
    seen = visible_from(pts, [0.1, 0.0, -1.0])
    assert seen[bottom].mean() > 0.95 and seen[top].mean() < 0.05
    dirs = view_directions(5, seed=3)
    assert dirs.shape == (5, 3) and np.allclose(np.linalg.norm(dirs, axis=1), 1.0)
    assert np.array_equal(dirs, view_directions(5, seed=3))
    assert not np.array_equal(dirs, view_directions(5, seed=4))
    with pytest.raises(ValueError, match="direction"):
        visible_from(pts, [0.0, 0.0, 0.0])


def test_frames_and_units_are_the_same_bits_on_one_or_many_blas_threads():
    """A worker limited to one thread (``--workers``) must write the driver's bytes: the long
    reductions behind the principal frame and the diameter do not depend on BLAS threads."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np, hashlib\n"
            "from pointad.geometry import object_diameter\n"
            "from pointad.geometry.frames import principal_frame\n"
            "from pointad.reductions import column_sums, weighted_column_sums\n"
            "rng = np.random.default_rng(0)\n"
            "p = rng.normal(size=(400_000, 3)) * [30, 10, 2] + 5\n"
            "w = rng.random(len(p))\n"
            "parts = [object_diameter(p), *principal_frame(p), *principal_frame(p, w),\n"
            "         column_sums(p), weighted_column_sums(w, p)]\n"
            "print(hashlib.sha1(b''.join(np.asarray(x).tobytes() for x in parts)).hexdigest())\n")
    digests = set()
    for threads in ("1", "2", "4"):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
                   MKL_NUM_THREADS=threads)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_column_sums_match_an_exact_sum():
    import math

    from pointad.reductions import column_sums, weighted_column_sums

    rng = np.random.default_rng(1)
    a = rng.normal(size=(10_001, 3)) * 1e3
    w = rng.random(len(a))
    exact = [math.fsum(a[:, j]) for j in range(3)]
    np.testing.assert_allclose(column_sums(a), exact, rtol=1e-12)
    exact_w = [math.fsum(w * a[:, j]) for j in range(3)]
    np.testing.assert_allclose(weighted_column_sums(w, a), exact_w, rtol=1e-12)
    assert weighted_column_sums(w, a[:, 0]) == pytest.approx(exact_w[0], rel=1e-12)
    assert column_sums(a.astype(np.float32)).dtype == np.float32


def test_rescan_keeps_a_drawn_share_and_adds_noise_in_point_spacings():
    from pointad.geometry.rescan import rescan
    pts, normals = sphere_points(4000, radius=10.0, seed=3)
    spacing = point_spacing(pts)
    moved, keep = rescan(pts, spacing, np.random.default_rng(0), density=(0.6, 0.6),
                         noise=(0.5, 0.5))
    assert keep.dtype == bool and keep.shape == (4000,) and len(moved) == keep.sum()
    assert keep.mean() == pytest.approx(0.6, abs=0.03)
    # Isotropic noise of 0.5 spacings: the per-axis standard deviation of the moves.
    assert np.std(moved - pts[keep]) == pytest.approx(0.5 * spacing, rel=0.05)
    again = rescan(pts, spacing, np.random.default_rng(0), density=(0.6, 0.6), noise=(0.5, 0.5))
    np.testing.assert_array_equal(again[0], moved)  # seeded by the generator
    # Defaults: 55-100 % kept, at most 0.2 spacings of noise; the draws differ between calls.
    rng = np.random.default_rng(1)
    draws = [rescan(pts, spacing, rng) for _ in range(20)]
    shares = [k.mean() for _, k in draws]
    assert 0.5 < min(shares) and max(shares) <= 1.0 and np.ptp(shares) > 0.2
    assert max(np.std(m - pts[k]) for m, k in draws) < 0.22 * spacing
    # One side: only the points whose normals face the drawn direction.
    _, side = rescan(pts, spacing, np.random.default_rng(0), normals=normals, one_side=1.0,
                     density=(1.0, 1.0))
    assert 0.4 < side.mean() < 0.6
    _, few = rescan(pts, spacing, np.random.default_rng(0), density=(0.0, 0.0), min_points=10)
    assert few.all()  # fewer than min_points left: the whole cloud
    with pytest.raises(ValueError, match="needs normals"):
        rescan(pts, spacing, np.random.default_rng(0), one_side=1.0)
