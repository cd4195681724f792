"""pointad.ops against SciPy's cKDTree, Open3D and slow NumPy references."""
import numpy as np
import open3d as o3d
import pytest
import torch
from scipy.spatial import cKDTree

from conftest import ellipsoid_points, random_rotation, sphere_points
from pointad.errors import InputError
from pointad.ops import (
    NeighbourIndex,
    ball_query,
    farthest_point_sampling,
    gather_groups,
    group_centred,
    knn,
    local_pca,
)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run these many small ops on one thread: on a shared 2-core machine an OpenMP barrier
    waiting for a descheduled worker costs milliseconds per op. Results do not depend on it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- clouds

def _cloud(kind, n, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "cube":
        return rng.random((n, 3))
    if kind == "sphere":
        return sphere_points(n, seed=seed)[0]
    if kind == "plane":                      # flat: zero extent along z, off the origin
        return np.c_[rng.random((n, 2)) * 4.0, np.full(n, 2.5)]
    if kind == "tilted_plane":
        return np.c_[rng.random((n, 2)), np.zeros(n)] @ random_rotation(seed).T + 10.0
    if kind == "line":
        return np.outer(rng.random(n), [1.0, 2.0, -0.5])
    if kind == "duplicates":                 # every location 5 times
        return np.repeat(rng.random((n // 5, 3)), 5, axis=0)
    if kind == "clusters":                   # two tight blobs far apart plus sparse outliers
        a = rng.normal(size=(n // 2, 3)) * 1e-3
        b = rng.normal(size=(n // 2 - 20, 3)) * 1e-3 + 5.0
        return np.concatenate([a, b, rng.random((20, 3)) * 100.0 - 50.0])
    if kind == "varying":                    # a heightfield whose density varies 100x
        xy = rng.random((n, 2)) ** 3 * 10.0
        return np.c_[xy, np.sin(xy[:, 0])]
    raise ValueError(kind)


KINDS = ["cube", "sphere", "plane", "tilted_plane", "line", "duplicates", "clusters", "varying"]


def _check_knn(query, points, k, dists, idx, atol=1e-9):
    """Sorted distances equal cKDTree's; indices equal wherever the distance is not tied."""
    dists = dists.detach().cpu().numpy()
    idx = idx.cpu().numpy()
    kk = min(k + 1, len(points))
    ref_d, ref_i = cKDTree(points).query(query, k=kk)
    ref_d, ref_i = ref_d.reshape(len(query), kk), ref_i.reshape(len(query), kk)
    assert dists.shape == idx.shape == (len(query), k)
    assert idx.dtype == np.int64
    np.testing.assert_allclose(dists, ref_d[:, :k], rtol=0, atol=atol)
    assert (np.diff(dists, axis=1) >= 0).all()
    # The reported distances are those of the reported indices.
    own = np.linalg.norm(query[:, None, :] - points[idx], axis=-1)
    np.testing.assert_allclose(dists, own, rtol=0, atol=atol)
    # A position is distinct when its distance differs from both neighbours in the ranking
    # (the (k+1)-th included): there the index itself must match.
    padded = np.concatenate([np.full((len(query), 1), -np.inf), ref_d,
                             np.full((len(query), 1), np.inf)], axis=1)
    tol = max(atol, 1e-9 * max(1.0, float(np.abs(points).max())))
    gap_before = padded[:, 1:k + 1] - padded[:, :k]
    gap_after = padded[:, 2:k + 2] - padded[:, 1:k + 1]
    distinct = (gap_before > tol) & (gap_after > tol)
    np.testing.assert_array_equal(idx[distinct], ref_i[:, :k][distinct])


# ----------------------------------------------------------------------------- knn

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", ["kdtree", "brute", "grid"])
def test_knn_matches_ckdtree(kind, method):
    points = _cloud(kind, 6000, seed=1)
    query = points if method == "kdtree" else points[::3]
    for k in (1, 7, 32):
        d, i = knn(torch.from_numpy(query), torch.from_numpy(points), k, method=method)
        _check_knn(query, points, k, d, i)


@pytest.mark.parametrize("method", ["kdtree", "grid"])
@pytest.mark.parametrize("kind", ["sphere", "cube", "clusters"])
def test_knn_queries_elsewhere(kind, method):
    """Queries off the cloud: inside its box, beside it and far away."""
    points = _cloud(kind, 5000, seed=2)
    rng = np.random.default_rng(3)
    lo, hi = points.min(0), points.max(0)
    span = hi - lo
    query = np.concatenate([lo + rng.random((200, 3)) * span,
                            lo + (rng.random((100, 3)) * 3 - 1) * span,
                            rng.normal(size=(20, 3)) * 1e3])
    d, i = knn(torch.from_numpy(query), torch.from_numpy(points), 16, method=method)
    _check_knn(query, points, 16, d, i, atol=1e-8)


def test_knn_feature_vectors_and_numpy_in_numpy_out():
    """Any dimension (memory-bank features go through brute force), numpy in gives numpy out,
    and a NeighbourIndex built once answers like knn."""
    rng = np.random.default_rng(4)
    feats = rng.normal(size=(3000, 40))
    query = rng.normal(size=(200, 40))
    d, i = knn(query, feats, 5)
    assert isinstance(d, np.ndarray) and isinstance(i, np.ndarray)
    _check_knn(query, feats, 5, torch.from_numpy(d), torch.from_numpy(i))
    index = NeighbourIndex(feats)
    d2, i2 = index.query(query, 5)
    np.testing.assert_array_equal(i2, i)
    np.testing.assert_allclose(d2, d, rtol=0, atol=1e-12)
    pts = _cloud("sphere", 3000, seed=4)
    tree = cKDTree(pts)
    for method in ("kdtree", "brute"):
        index = NeighbourIndex(pts, method=method)
        d, i = index.query(pts[::7], 6, radius=0.05)
        ref_d, ref_i = tree.query(pts[::7], k=6, distance_upper_bound=0.05)
        np.testing.assert_array_equal(np.isfinite(d), np.isfinite(ref_d))
        np.testing.assert_allclose(d[np.isfinite(d)], ref_d[np.isfinite(ref_d)], atol=1e-12)
        assert (i[~np.isfinite(d)] == -1).all()
        np.testing.assert_array_equal(index.count(pts[::7], 0.05),
                                      tree.query_ball_point(pts[::7], 0.05, return_length=True))
    pairs = NeighbourIndex(pts).pairs(0.03)
    assert {tuple(p) for p in pairs} == tree.query_pairs(0.03)


def test_knn_auto_large_matches_ckdtree_float32():
    points = _cloud("sphere", 30000, seed=6).astype(np.float32)
    d, i = knn(torch.from_numpy(points), torch.from_numpy(points), 32)   # auto: k-d tree on CPU
    assert d.dtype == torch.float32
    ref_d, _ = cKDTree(points.astype(np.float64)).query(points, k=32)
    np.testing.assert_allclose(d.numpy(), ref_d, rtol=0, atol=2e-6)
    assert (i[:, 0] == torch.arange(len(points))).float().mean() > 0.999  # itself first


@pytest.mark.parametrize("method", ["kdtree", "brute"])
def test_knn_float32_far_from_origin(method):
    """float32 rounding of |q|^2 + |p|^2 - 2 q.p must not swap neighbours (a 0.5 sphere at 3)."""
    points = (_cloud("sphere", 8000, seed=20) * 0.5 + [3.0, 1.0, 2.0]).astype(np.float32)
    d, i = knn(torch.from_numpy(points), torch.from_numpy(points), 32, method=method)
    _check_knn(points.astype(np.float64), points.astype(np.float64), 32, d.double(), i,
               atol=1e-6)


def test_knn_batched_and_unbatched_agree():
    clouds = np.stack([_cloud("sphere", 2000, seed=s) for s in range(3)])
    query = clouds[:, ::4]
    qt, pt = torch.from_numpy(query), torch.from_numpy(clouds)
    for method in ("kdtree", "brute"):
        d, i = knn(qt, pt, 10, method=method)
        assert d.shape == i.shape == (3, 500, 10)
        for b in range(3):
            _check_knn(query[b], clouds[b], 10, d[b], i[b])
            d1, i1 = knn(qt[b], pt[b], 10, method=method)
            assert torch.equal(d1, d[b])


def test_knn_chunked_brute_force_matches():
    points = _cloud("cube", 3000, seed=7)
    pt = torch.from_numpy(points)
    d1, i1 = knn(pt, pt, 8, method="brute", chunk_size=7)
    d2, i2 = knn(pt, pt, 8, method="brute")
    assert torch.equal(d1, d2)
    _check_knn(points, points, 8, d1, i1)


def test_knn_degenerate_clouds():
    same = torch.ones((50, 3), dtype=torch.float64)
    for method in ("kdtree", "brute"):
        d, i = knn(same, same, 50, method=method)
        assert torch.all(d == 0) and torch.equal(i.sort(1).values, torch.arange(50).expand(50, 50))
    one = torch.tensor([[1.0, 2.0, 3.0]])
    d, i = knn(torch.zeros((4, 3)), one, 1, method="kdtree")
    assert torch.equal(i, torch.zeros((4, 1), dtype=torch.int64))
    np.testing.assert_allclose(d.numpy()[:, 0], np.sqrt(14.0), rtol=1e-6)
    empty = knn(torch.zeros((0, 3)), torch.rand(10, 3), 3)
    assert empty[0].shape == (0, 3) and empty[1].shape == (0, 3)


def test_knn_gradients():
    rng = np.random.default_rng(8)
    query = torch.tensor(rng.random((5, 3)), dtype=torch.float64, requires_grad=True)
    points = torch.tensor(rng.random((12, 3)), dtype=torch.float64, requires_grad=True)
    for method in ("kdtree", "brute"):
        assert torch.autograd.gradcheck(lambda q, p: knn(q, p, 4, method=method)[0],
                                        (query, points))
    # A query that is one of the points: distance 0, gradient 0 rather than NaN.
    p = points.detach().clone().requires_grad_(True)
    d, _ = knn(p, p, 3)
    d.sum().backward()
    assert torch.isfinite(p.grad).all()


# ----------------------------------------------------------------------------- ball query

@pytest.mark.parametrize("kind", ["sphere", "cube", "duplicates", "varying"])
def test_ball_query_matches_ckdtree(kind):
    points = _cloud(kind, 3000, seed=9)
    query = points                               # the k-d tree search on CPU
    tree = cKDTree(points)
    radius = float(np.median(tree.query(query, k=12)[0][:, -1]))
    balls = tree.query_ball_point(query, radius)
    for max_nn in (5, 64):          # the k-th distance beyond, then within the radius
        idx, counts = ball_query(torch.from_numpy(query), torch.from_numpy(points), radius, max_nn)
        assert idx.shape == (len(query), max_nn) and counts.shape == (len(query),)
        idx, counts = idx.numpy(), counts.numpy()
        for row in range(0, len(query), 4):
            ids, c = idx[row], counts[row]
            inside = np.array(balls[row], dtype=np.int64)
            dist = np.linalg.norm(points[inside] - query[row], axis=1)
            order = np.argsort(dist, kind="stable")
            assert c == min(len(inside), max_nn)
            assert (ids[c:] == -1).all() and (ids[:c] >= 0).all()
            got = np.linalg.norm(points[ids[:c]] - query[row], axis=1)
            assert (np.diff(got) >= 0).all()                       # nearest first
            np.testing.assert_allclose(got, dist[order][:c], rtol=0, atol=1e-12)
            if c < len(inside) and dist[order][c] - dist[order][c - 1] > 1e-12:
                assert set(ids[:c]) == set(inside[order][:c])
            elif c == len(inside):
                assert set(ids[:c]) == set(inside)


def test_ball_query_matches_open3d_hybrid_and_pads():
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 0.5], [0.3, 0.3, 0]], float)
    tree = o3d.geometry.KDTreeFlann(o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points)))
    pt = torch.from_numpy(points)
    for radius, max_nn in ((1.0, 10), (2.0, 10), (2.0, 2), (0.1, 3)):
        idx, counts = ball_query(pt[:1], pt, radius, max_nn)
        n, ref, _ = tree.search_hybrid_vector_3d(points[0], radius, max_nn)
        assert int(counts[0]) == n                                 # a point at the radius is out
        assert idx[0, :n].tolist() == list(ref)
        assert (idx[0, n:] == -1).all() and idx.shape == (1, max_nn)


def test_ball_query_batched():
    clouds = torch.from_numpy(np.stack([_cloud("sphere", 3000, seed=s) for s in (1, 2)]))
    idx, counts = ball_query(clouds, clouds, 0.08, 20)
    for b in range(2):
        i1, c1 = ball_query(clouds[b], clouds[b], 0.08, 20)
        assert torch.equal(i1, idx[b]) and torch.equal(c1, counts[b])


# ----------------------------------------------------------------------------- sampling

def _fps_reference(points, n, start=0):
    """The textbook loop in NumPy float64."""
    nearest = np.full(len(points), np.inf)
    out, cur = [], start
    for _ in range(n):
        out.append(cur)
        nearest = np.minimum(nearest, ((points - points[cur]) ** 2).sum(1))
        cur = int(np.argmax(nearest))
    return np.array(out)


def test_fps_matches_open3d():
    points = sphere_points(5000, seed=10)[0] * np.array([3.0, 2.0, 1.0])
    idx = farthest_point_sampling(torch.from_numpy(points), 300)
    assert idx.dtype == torch.int64 and idx.shape == (300,)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    down = cloud.farthest_point_down_sample(300)
    # Open3D returns the selected points in index order; map them back to indices.
    _, ref = cKDTree(points).query(np.asarray(down.points))
    assert sorted(idx.tolist()) == sorted(ref.tolist())


def test_fps_matches_reference_order_start_and_batches():
    rng = np.random.default_rng(11)
    clouds = rng.random((2, 3000, 3))
    idx = farthest_point_sampling(torch.from_numpy(clouds), 100, start_index=17)
    for b in range(2):
        np.testing.assert_array_equal(idx[b].numpy(), _fps_reference(clouds[b], 100, start=17))
    # Ties: the lowest index among equal maxima (the five points are at distance 1 from the first).
    star = torch.tensor([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]],
                        dtype=torch.float64)
    assert farthest_point_sampling(star, 5).tolist() == [0, 1, 2, 3, 4]


def test_fps_dense_path_agrees():
    """The every-point update (the CUDA path) and the pruned CPU path select the same points."""
    from pointad.ops.sampling import _fps_dense
    rng = np.random.default_rng(19)
    clouds = torch.from_numpy(np.stack([_cloud("varying", 3000, seed=19),
                                        rng.random((3000, 3)) * [5.0, 1.0, 0.0]]))
    dense = _fps_dense(clouds, 200, 5)
    assert torch.equal(dense, farthest_point_sampling(clouds, 200, start_index=5))
    np.testing.assert_array_equal(dense[1].numpy(), _fps_reference(clouds[1].numpy(), 200, 5))


def test_fps_float32_and_block_edges():
    rng = np.random.default_rng(12)
    points = rng.random((2500, 3)).astype(np.float32)     # not a multiple of the scan block
    idx = farthest_point_sampling(torch.from_numpy(points), 64)
    ref = _fps_reference(points.astype(np.float64), 64)
    assert (idx.numpy() == ref).mean() > 0.9 and len(set(idx.tolist())) == 64
    assert farthest_point_sampling(torch.from_numpy(points), 2500).unique().numel() == 2500


# ----------------------------------------------------------------------------- normals

def test_normals_match_open3d():
    points, true = ellipsoid_points(4000, seed=13)
    normals, curvature = local_pca(torch.from_numpy(points), k=20)
    normals = normals.numpy()
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(20))
    ref = np.asarray(cloud.normals)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-9)
    assert np.abs((normals * ref).sum(1)).min() > 0.999
    assert np.median(np.abs((normals * true).sum(1))) > 0.99
    # Surface variation against the obvious reference: eigenvalues of each neighbourhood.
    _, idx = cKDTree(points).query(points[::50], k=20)
    for row, nb in zip(curvature.numpy()[::50], points[idx]):
        vals = np.linalg.eigvalsh(np.cov((nb - nb.mean(0)).T))
        assert row == pytest.approx(vals[0] / vals.sum(), abs=1e-9)


@pytest.mark.parametrize("device_path", ["numba", "torch"])
def test_normals_batched_float32(device_path):
    a, b = sphere_points(1500, seed=14)[0], sphere_points(1500, seed=15)[0] * 2 + 1
    clouds = torch.from_numpy(np.stack([a, b]).astype(np.float32))
    if device_path == "torch":          # the gather path CUDA takes, forced on CPU by autograd
        clouds.requires_grad_(True)
    normals, curvature = local_pca(clouds, k=16)
    assert normals.shape == (2, 1500, 3) and normals.dtype == torch.float32
    assert curvature.shape == (2, 1500) and float(curvature.detach().max()) < 0.05  # smooth
    radial = (clouds - torch.tensor([[0.0, 0, 0], [1.0, 1, 1]])[:, None]).detach()
    cos = (normals.detach() * radial).sum(-1).abs() / radial.norm(dim=-1)
    assert float(cos.min()) > 0.99
    single, _ = local_pca(clouds[1].detach(), k=16)
    assert ((single * normals[1].detach()).sum(-1).abs() > 1 - 1e-5).all()


def _pca_reference(points, k, radius=None):
    """The obvious local PCA: cKDTree's k nearest (those closer than ``radius`` when at least 3
    are), numpy's eigh of each centred scatter matrix."""
    d, idx = cKDTree(points).query(points, k=k)
    normals, curvature = np.empty((len(points), 3)), np.empty(len(points))
    for i, (row_d, row) in enumerate(zip(d, idx)):
        if radius is not None and (row_d < radius).sum() >= 3:
            row = row[row_d < radius]
        nb = points[row] - points[row].mean(0)
        vals, vecs = np.linalg.eigh(nb.T @ nb)
        vals = np.clip(vals, 0, None)
        normals[i], curvature[i] = vecs[:, 0], vals[0] / vals.sum() if vals.sum() > 0 else 0.0
    return normals, curvature


@pytest.mark.parametrize("kind", ["sphere", "varying", "clusters", "duplicates", "tilted_plane"])
def test_knn_frames_match_a_slow_reference(kind):
    """The fused CPU pass (grid search, scatter, Jacobi) against cKDTree + numpy's eigh, point by
    point, with and without a radius; its neighbour graph is the nearest others, and the
    torch path (autograd on) agrees. clusters/duplicates take the k-d tree fallback."""
    from pointad.ops import knn_frames
    points = _cloud(kind, 4000, seed=21)
    for k, radius in ((16, None), (24, 0.02)):
        frames = knn_frames(points, k, radius=radius, neighbours=6)
        ref_n, ref_c = _pca_reference(points, k, radius)
        np.testing.assert_allclose(np.linalg.norm(frames.normals, axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(frames.curvature, ref_c, rtol=0, atol=1e-9)
        # Where the two smallest eigenvalues are apart the normal is defined: equal up to sign.
        defined = ref_c < 0.2
        cos = np.abs((frames.normals * ref_n).sum(1))
        assert cos[defined].min() > 1 - 1e-6 if kind != "duplicates" else np.median(cos) > 0.99
        graph = frames.neighbours
        assert graph.shape == (len(points), 6)
        assert not (graph == np.arange(len(points))[:, None]).any()
        ref_d = cKDTree(points).query(points, k=7)[0][:, 1:]
        own_d = np.linalg.norm(points[graph] - points[:, None], axis=-1)
        np.testing.assert_allclose(own_d, ref_d, rtol=0, atol=1e-12)
    grad_path = torch.from_numpy(points).requires_grad_(True)
    normals, curvature = local_pca(grad_path, 16)
    frames = knn_frames(points, 16)
    np.testing.assert_allclose(curvature.detach().numpy(), frames.curvature, atol=1e-9)


def test_knn_frames_progress_and_bad_arguments():
    from pointad.ops import knn_frames
    points = _cloud("sphere", 3000, seed=22)
    calls = []
    knn_frames(points, 10, progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (3000, 3000) and all(t == 3000 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    for bad, match in (((points, 2), "k"), ((points[:5], 6), "k=6"), ((points[:, :2], 3), "3"),
                       ((np.full((10, 3), np.nan), 3), "non-finite")):
        with pytest.raises(InputError, match=match):
            knn_frames(*bad)
    with pytest.raises(InputError, match="neighbours"):
        knn_frames(points[:10], 3, neighbours=10)


def test_normals_of_a_plane_are_exact():
    plane = torch.from_numpy(_cloud("tilted_plane", 500, seed=16))
    normals, curvature = local_pca(plane, k=10)
    axis = torch.from_numpy(random_rotation(16)[:, 2])
    assert ((normals @ axis).abs() > 1 - 1e-9).all()
    assert float(curvature.abs().max()) < 1e-12


# ----------------------------------------------------------------------------- grouping

def test_gather_groups_and_centred_offsets():
    points = torch.rand(2, 30, 3, dtype=torch.float64, requires_grad=True)
    centres = points[:, :4].detach().clone().requires_grad_(True)
    idx = torch.randint(0, 30, (2, 4, 5))
    idx[0, 1, 3:] = -1
    groups, mask = gather_groups(points, idx)
    assert groups.shape == (2, 4, 5, 3) and mask.shape == (2, 4, 5)
    assert torch.equal(mask, idx >= 0)
    assert torch.equal(groups[1, 2, 0], points[1, idx[1, 2, 0]])
    assert torch.all(groups[0, 1, 3:] == 0)
    offsets, mask2 = group_centred(points, centres, idx)
    assert torch.equal(mask, mask2) and torch.all(offsets[0, 1, 3:] == 0)
    torch.testing.assert_close(offsets[1, 2, 0], points[1, idx[1, 2, 0]] - centres[1, 2])
    offsets.sum().backward()
    assert points.grad is not None and centres.grad is not None
    assert torch.all(centres.grad[0, 1] == -3)                   # two padded slots add nothing
    single, m1 = gather_groups(points[0], idx[0])
    assert torch.equal(single, groups[0]) and torch.equal(m1, mask[0])


def test_ops_pipeline_on_ball_query_output():
    cloud = torch.from_numpy(_cloud("sphere", 2000, seed=17))
    centres_idx = farthest_point_sampling(cloud, 64)
    centres = cloud[centres_idx]
    idx, counts = ball_query(centres, cloud, 0.15, 32)
    offsets, mask = group_centred(cloud, centres, idx)
    assert torch.equal(mask.sum(1), counts)
    assert (offsets.norm(dim=-1) < 0.15).all()


# ----------------------------------------------------------------------------- errors

P = torch.rand(20, 3)


@pytest.mark.parametrize("call, name", [
    (lambda: knn(P, P, 0), "k"),
    (lambda: knn(P, P, 21), "k=21"),
    (lambda: knn(P, P, 2.5), "k"),
    (lambda: knn(P, P, True), "k"),
    (lambda: knn(P.numpy(), P, 3), "query"),
    (lambda: knn(P, P[:, :2], 3), "coordinates"),
    (lambda: knn(P.long(), P, 3), "query"),
    (lambda: knn(P.half(), P.half(), 3), "float32 or float64"),
    (lambda: knn(P, P.double(), 3), "dtype"),
    (lambda: knn(P[None], P, 3), "batched"),
    (lambda: knn(P.expand(2, 20, 3), P.expand(3, 20, 3), 3), "batch size"),
    (lambda: knn(P, torch.full((5, 3), float("nan")), 3), "points"),
    (lambda: knn(P, P, 3, method="octree"), "method"),
    (lambda: knn(P[:, :2].contiguous(), P[:, :2].contiguous(), 3, method="grid"), "3D"),
    (lambda: NeighbourIndex(P, method="grid"), "method"),
    (lambda: knn(P, P, 3, chunk_size=0), "chunk_size"),
    (lambda: ball_query(P, P, 0.0, 4), "radius"),
    (lambda: ball_query(P, P, -1.0, 4), "radius"),
    (lambda: ball_query(P, P, float("inf"), 4), "radius"),
    (lambda: ball_query(P, P, 0.1, 0), "max_nn"),
    (lambda: farthest_point_sampling(P, 21), "n_samples"),
    (lambda: farthest_point_sampling(P, 0), "n_samples"),
    (lambda: farthest_point_sampling(P, 5, start_index=20), "start_index"),
    (lambda: farthest_point_sampling(P[0], 2), "points"),
    (lambda: local_pca(P, k=2), "k"),
    (lambda: local_pca(P, k=21), "k=21"),
    (lambda: local_pca(P, k=5, radius=0.0), "radius"),
    (lambda: gather_groups(P, torch.zeros((2, 2))), "idx"),
    (lambda: gather_groups(P, torch.full((2, 2), 20)), "idx"),
    (lambda: gather_groups(P, torch.full((2, 2), -2)), "idx"),
    (lambda: gather_groups(P, torch.zeros((2, 2, 2), dtype=torch.long)), "idx"),
    (lambda: group_centred(P, P[:3], torch.zeros((4, 2), dtype=torch.long)), "centres"),
])
def test_bad_arguments_raise_input_error(call, name):
    with pytest.raises(InputError, match=name) as info:
        call()
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    points = torch.from_numpy(_cloud("sphere", 5000, seed=18)).float()
    d_cpu, i_cpu = knn(points, points, 16)
    d_gpu, i_gpu = knn(points.cuda(), points.cuda(), 16)
    assert d_gpu.device.type == "cuda"
    torch.testing.assert_close(d_gpu.cpu(), d_cpu, atol=1e-5, rtol=0)
    idx, counts = ball_query(points.cuda(), points.cuda(), 0.05, 8)
    assert torch.equal(counts.cpu(), ball_query(points, points, 0.05, 8)[1])
    assert torch.equal(farthest_point_sampling(points.cuda(), 64).cpu(),
                       farthest_point_sampling(points, 64))
    normals, curvature = local_pca(points.cuda(), k=16)
    ref_n, ref_c = local_pca(points, k=16)
    assert ((normals.cpu() * ref_n).sum(-1).abs() > 0.999).all()
    torch.testing.assert_close(curvature.cpu(), ref_c, atol=1e-4, rtol=0)
    feats = torch.randn(4000, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(farthest_point_sampling(feats.cuda(), 50).cpu(),
                       farthest_point_sampling(feats, 50))


def test_greedy_coreset_is_fps_on_projected_features():
    """PatchCore's k-centre coreset equals the plain greedy loop (the slow obvious reference)."""
    from pointad.detectors.memory_bank import greedy_coreset, random_projection
    feats = torch.from_numpy(np.random.default_rng(21).normal(size=(1500, 200)).astype(np.float32))
    got = greedy_coreset(feats, 120, projection_dim=64, seed=3)
    x = feats @ random_projection(200, 64, 3)
    ref = [0]
    dist = torch.linalg.vector_norm(x - x[0], dim=1)
    for _ in range(119):
        ref.append(int(torch.argmax(dist)))
        dist = torch.minimum(dist, torch.linalg.vector_norm(x - x[ref[-1]], dim=1))
    assert got.tolist() == ref
    assert torch.equal(greedy_coreset(feats, 2000), torch.arange(1500))   # all kept
