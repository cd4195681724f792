"""Point features: FPFH against Open3D, multi-scale FPFH, grouping and interpolation."""
import numpy as np
import open3d as o3d  # a required dependency (setup.cfg): missing is a failure, not a skip
import pytest
import torch

from conftest import ellipsoid_points, random_rotation
from pointad.errors import InputError
from pointad.features import fpfh, fps_groups, group_mean, interpolate_to_points, multiscale_fpfh


def _open3d_fpfh(points, normals, radius, max_nn):
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    pcd.normals = o3d.utility.Vector3dVector(normals)
    feat = o3d.pipelines.registration.compute_fpfh_feature(
        pcd, o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=max_nn))
    return np.asarray(feat.data).T


@pytest.mark.parametrize("radius,max_nn", [(0.4, 30), (0.8, 100), (100.0, 20)])
def test_fpfh_matches_open3d(radius, max_nn):
    points, normals = ellipsoid_points(n=2500, seed=5)
    ours = fpfh(points, normals, radius, max_nn).numpy()
    theirs = _open3d_fpfh(points, normals, radius, max_nn)
    assert ours.shape == (2500, 33)
    np.testing.assert_allclose(ours, theirs, atol=1e-8, rtol=1e-10)


def test_knn_fpfh_equals_a_huge_radius_and_is_rotation_invariant():
    points, normals = ellipsoid_points(n=1500, seed=6)
    knn_mode = fpfh(points, normals, None, 40).numpy()
    np.testing.assert_allclose(knn_mode, _open3d_fpfh(points, normals, 1e6, 40), atol=1e-8)
    rot = random_rotation(2)
    turned = fpfh(points @ rot.T + 3.0, normals @ rot.T, None, 40).numpy()
    np.testing.assert_allclose(turned, knn_mode, atol=1e-6)


def test_multiscale_fpfh_concatenates_the_scales():
    points, normals = ellipsoid_points(n=1200, seed=7)
    pts, nrm = torch.tensor(points), torch.tensor(normals)
    ms = multiscale_fpfh(pts, nrm, ks=(10, 25))
    assert ms.shape == (1200, 66)
    torch.testing.assert_close(ms[:, :33], fpfh(pts, nrm, None, 10))
    torch.testing.assert_close(ms[:, 33:], fpfh(pts, nrm, None, 25))


def test_fpfh_errors():
    points, normals = ellipsoid_points(n=100)
    with pytest.raises(InputError, match="radius"):
        fpfh(points, normals, 0.0, 10)
    with pytest.raises(InputError, match="max_nn"):
        fpfh(points, normals, 1.0, 1)
    with pytest.raises(InputError, match=r"\(N, 3\)"):
        fpfh(points, normals[:50], 1.0, 10)


def test_groups_pool_and_interpolate():
    points = torch.tensor(ellipsoid_points(n=2000, seed=8)[0])
    centres, groups = fps_groups(points, 64, 16)
    assert centres.shape == (64,) and groups.shape == (64, 16)
    assert torch.equal(groups[:, 0], centres)  # a centre is its own nearest point
    feats = torch.randn(2000, 5, dtype=torch.float64)
    torch.testing.assert_close(group_mean(feats, groups)[3], feats[groups[3]].mean(0))
    values = torch.arange(64, dtype=torch.float64)
    back = interpolate_to_points(points[centres], values, points)
    torch.testing.assert_close(back[centres], values)  # exact at the centres
    const = interpolate_to_points(points[centres], torch.full((64,), 2.5, dtype=torch.float64),
                                  points)
    torch.testing.assert_close(const, torch.full((2000,), 2.5, dtype=torch.float64))
