"""Depth renders: the z-buffer against a slow reference, the way back to points, a known bump,
organized grids, pose invariance, hole filling and input errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from pointad.errors import InputError
from pointad.io import Cloud, CloudInput
from pointad.render import CHANNELS, DepthRender, ViewFrame, features_to_points, render, to_points
from pointad.render.channels import fill_small_holes
from pointad.render.orthographic import DISTANCE_STEPS, pixel_coordinates, zbuffer
from pointad.render.views import camera_coordinates, view_rotations
from pointad.samples import sample_cloud


def _reference_zbuffer(rows, cols, heights, shape, radius):
    """One point at a time over the whole pixel grid: the obvious z-buffer."""
    h, w = shape
    pr, pc = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    best = np.full(shape, -1)
    best_h = np.full(shape, -np.inf)
    for i in range(len(heights)):
        own = (np.floor(rows[i]) == pr - 0.5) & (np.floor(cols[i]) == pc - 0.5)
        covered = own | ((pr - rows[i]) ** 2 + (pc - cols[i]) ** 2 <= radius**2)
        nearer = covered & (heights[i] > best_h)     # ties keep the earlier (lower) id
        best[nearer] = i
        best_h[nearer] = heights[i]
    return best


def _reference_tolerant_zbuffer(rows, cols, heights, shape, radius, tolerance):
    """Pixel by pixel: of the points covering it within ``tolerance`` of the nearest, the one
    closest to the pixel centre (distance^2 to 1/DISTANCE_STEPS px^2, then nearer, then id)."""
    out = np.full(shape, -1)
    for r in range(shape[0]):
        for c in range(shape[1]):
            d2 = (r + 0.5 - rows) ** 2 + (c + 0.5 - cols) ** 2
            own = (np.floor(rows) == r) & (np.floor(cols) == c)
            cover = np.flatnonzero(own | (d2 <= radius**2))
            if len(cover) == 0:
                continue
            cover = cover[heights[cover] >= heights[cover].max() - tolerance]
            keys = [(round(d2[i] * DISTANCE_STEPS), -heights[i], i) for i in cover]
            out[r, c] = min(keys)[2]
    return out


@pytest.fixture(scope="module")
def lumpy():
    """An irregular closed-ish cloud of 600 points: a deformed sphere, no symmetry."""
    rng = np.random.default_rng(3)
    d = rng.normal(size=(600, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    r = 1.0 + 0.25 * d[:, 0] ** 2 + 0.15 * d[:, 1] + 0.1 * np.sin(3 * d[:, 2])
    return d * r[:, None] * np.array([2.0, 1.3, 0.8])


def test_zbuffer_matches_slow_reference_and_maps_back(lumpy):
    rend = render(lumpy, views=6, size=40)
    assert rend.images.shape == (6, 5, 40, 40) and rend.images.dtype == np.float32
    assert rend.index.shape == (6, 40, 40) and rend.index.dtype == np.int64
    assert rend.n_views == 6 and rend.n_points == 600 and rend.splat_px > 0
    camera = camera_coordinates(lumpy, rend.frame, rend.rotations)
    rows, cols = pixel_coordinates(camera, rend.frame.half_extent, 40)
    for v in range(6):
        ref = _reference_zbuffer(rows[v], cols[v], camera[v, :, 2], (40, 40), rend.splat_px)
        np.testing.assert_array_equal(rend.index[v], ref)
    np.testing.assert_array_equal(rend.valid, rend.index >= 0)
    # seen = exactly the ids that some pixel shows
    shown = np.unique(rend.index[rend.index >= 0])
    np.testing.assert_array_equal(np.flatnonzero(rend.seen), shown)
    assert 0 < rend.seen.sum() < 600
    # a map holding each pixel's own id gives every seen point its own id back
    ids = to_points(rend.index.astype(np.float64), rend)
    np.testing.assert_array_equal(ids[rend.seen], np.flatnonzero(rend.seen))
    # unseen points take their nearest seen point's score, or NaN
    seen_pts = lumpy[rend.seen]
    for i in np.flatnonzero(~rend.seen):
        j = np.flatnonzero(rend.seen)[np.argmin(np.linalg.norm(seen_pts - lumpy[i], axis=1))]
        assert ids[i] == j
    raw = to_points(rend.index, rend, fill=None)
    assert np.isnan(raw[~rend.seen]).all() and np.isfinite(raw[rend.seen]).all()


def test_to_points_is_max_over_views_and_resizes(lumpy):
    rend = render(lumpy, views=3, size=32)
    rng = np.random.default_rng(0)
    maps = rng.random((3, 32, 32))
    got = to_points(torch.from_numpy(maps).float(), rend, fill=None)
    expected = np.full(600, -np.inf)
    for v in range(3):
        for r in range(32):
            for c in range(32):
                i = rend.index[v, r, c]
                if i >= 0:
                    expected[i] = max(expected[i], np.float32(maps[v, r, c]))
    expected[~rend.seen] = np.nan
    np.testing.assert_allclose(got, expected, rtol=1e-7)
    # a low-resolution map is resized bilinearly (align_corners=False) first
    small = rng.random((3, 8, 8))
    big = F.interpolate(torch.from_numpy(small)[:, None], size=(32, 32), mode="bilinear",
                        align_corners=False)[:, 0].numpy()
    np.testing.assert_allclose(to_points(small, rend), to_points(big, rend), rtol=1e-12)
    np.testing.assert_allclose(to_points(np.full((3, 5, 7), 2.5), rend), 2.5)
    with pytest.raises(InputError, match="views"):
        to_points(np.zeros((2, 32, 32)), rend)
    with pytest.raises(InputError, match="fill"):
        to_points(maps, rend, fill="zero")
    with pytest.raises(InputError, match="shape"):
        to_points(np.zeros((32, 32)), rend)


def test_views_are_rotations_of_the_principal_frame(lumpy):
    rots = view_rotations(6)
    for r in rots:
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(r), 1.0)
    np.testing.assert_array_equal(view_rotations(1)[0], np.eye(3))       # +z: least variance
    rend = render(lumpy, views=1, size=32)
    axes = rend.frame.axes
    var = np.var((lumpy - lumpy.mean(0)) @ axes.T, axis=0)
    assert var[2] == var.min()
    # the +z camera's height is the coordinate along the third principal axis
    cam = camera_coordinates(lumpy, rend.frame, rend.rotations)
    np.testing.assert_allclose(cam[0, :, 2], (lumpy - rend.frame.centre) @ axes[2], atol=1e-12)
    # the whole part fits with a margin: every point lands inside the image
    rows, cols = pixel_coordinates(camera_coordinates(lumpy, rend.frame, view_rotations(6)),
                                   rend.frame.half_extent, 32)
    assert rows.min() > 0.5 and cols.min() > 0.5 and rows.max() < 31.5 and cols.max() < 31.5


def test_diagonal_view_sets_look_along_the_cube_corners_and_edges_at_one_scale(lumpy):
    from pointad.render import VIEW_SETS
    assert [len(VIEW_SETS[v]) for v in (1, 3, 6, 14, 26)] == [1, 3, 6, 14, 26]
    assert VIEW_SETS[14][:6] == VIEW_SETS[6] == VIEW_SETS[26][:6]
    rots = view_rotations(26)
    assert len({tuple(np.round(r[2], 9)) for r in rots}) == 26  # 26 distinct directions
    for name, r in zip(VIEW_SETS[26], rots):
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(r), 1.0)
        # the camera looks back along the named direction: "+x-y" is (1, -1, 0) / sqrt(2)
        want = np.zeros(3)
        for sign, axis in zip(name[::2], name[1::2]):
            want["xyz".index(axis)] = 1.0 if sign == "+" else -1.0
        np.testing.assert_allclose(r[2], want / np.linalg.norm(want), atol=1e-12)
    # the axis views of 6 are unchanged, and their frame is the bounding cube
    six, many = render(lumpy, views=6, size=32), render(lumpy, views=26, size=32)
    np.testing.assert_array_equal(six.images, render(lumpy, views=6, size=32).images)
    np.testing.assert_allclose(many.frame.axes, six.frame.axes)
    assert many.frame.half_extent >= six.frame.half_extent
    # a box's corners stick out of the cube in a diagonal view: the frame grows to fit them
    box = np.random.default_rng(0).uniform(-1, 1, (4000, 3)) * [3.0, 2.0, 1.0]
    box_six, box_many = render(box, views=6, size=32), render(box, views=26, size=32)
    assert box_many.frame.half_extent > 1.1 * box_six.frame.half_extent  # (3, 2, 0) / sqrt(2)
    for views in (14, 26):
        rend = render(lumpy, views=views, size=32)
        assert rend.images.shape == (views, 5, 32, 32) and rend.views == VIEW_SETS[views]
        # every point lands inside every view's image and depth range (one scale for all)
        cam = camera_coordinates(lumpy, rend.frame, rend.rotations)
        assert np.abs(cam).max() < rend.frame.half_extent
        rows, cols = pixel_coordinates(cam, rend.frame.half_extent, 32)
        assert rows.min() > 0 and cols.min() > 0 and rows.max() < 32 and cols.max() < 32
        # every view shows the part
        assert rend.valid.reshape(views, -1).any(axis=1).all()
    assert rend.seen.mean() > six.seen.mean()  # more directions see more of a lumpy part
    with pytest.raises(InputError, match="views"):
        render(lumpy, views=27, size=32)


def _dome(bump: bool):
    """A jittered 70 x 50 grid on the dome z = -0.3 (x^2 + y^2), optionally with a Gaussian
    bump of height 0.05 and sigma 0.08 at (0.4, -0.3)."""
    rng = np.random.default_rng(1)
    x, y = np.meshgrid(np.linspace(-1, 1, 70), np.linspace(-0.7, 0.7, 50))
    x = x + rng.uniform(-0.005, 0.005, x.shape)
    y = y + rng.uniform(-0.005, 0.005, y.shape)
    z = -0.3 * (x**2 + y**2)
    if bump:
        z = z + 0.05 * np.exp(-((x - 0.4) ** 2 + (y + 0.3) ** 2) / (2 * 0.08**2))
    return np.stack([x, y, z], axis=-1).reshape(-1, 3)


def test_tolerant_zbuffer_shows_a_shallow_dent_and_hides_a_surface_behind(lumpy):
    rend = render(lumpy, views=6, size=40, splat_tolerance=1.5)
    camera = camera_coordinates(lumpy, rend.frame, rend.rotations)
    rows, cols = pixel_coordinates(camera, rend.frame.half_extent, 40)
    for v in range(6):
        ref = _reference_tolerant_zbuffer(rows[v], cols[v], camera[v, :, 2], (40, 40),
                                          rend.splat_px, 1.5 * rend.frame.spacing)
        np.testing.assert_array_equal(rend.index[v], ref)
    # the same silhouettes as the plain z-test, more of the points shown
    plain = render(lumpy, views=6, size=40)
    np.testing.assert_array_equal(rend.valid, plain.valid)
    assert rend.seen.sum() > plain.seen.sum()
    # a plane of random samples with a dent 0.05 deep, and a second plane 0.5 behind it
    rng = np.random.default_rng(0)
    xy = rng.uniform(-1, 1, (4000, 2))
    dent = np.hypot(*xy.T) < 0.15
    height = np.where(dent, -0.05, 0.0)
    back = rng.uniform(-1, 1, (1000, 2))
    rows = np.concatenate([1 - xy[:, 1], 1 - back[:, 1]])[None] * 32
    cols = np.concatenate([xy[:, 0] + 1, back[:, 0] + 1])[None] * 32
    heights = np.concatenate([height, np.full(1000, -0.5)])[None]
    shown = {}
    for tol in (0.0, 0.1, 0.3):
        index = zbuffer(rows, cols, heights, (64, 64), radius=2.0, tolerance=tol)
        np.testing.assert_array_equal(index >= 0, zbuffer(rows, cols, heights, (64, 64),
                                                          radius=2.0) >= 0)
        shown[tol] = np.unique(index[index >= 0])
        assert shown[tol].max() < 4000  # the back plane never shows through
    # the plain z-test hides most of the dent behind its rim's splats (and, on a flat noise-free
    # plane, most points behind their lower-id neighbours'); within the tolerance they show
    assert dent[shown[0.0]].sum() < 0.2 * dent.sum()
    assert dent[shown[0.1]].sum() > 0.7 * dent.sum()
    assert len(shown[0.1]) > 0.7 * 4000 > 2 * len(shown[0.0])
    with pytest.raises(InputError, match="tolerance"):
        zbuffer(rows, cols, heights, (64, 64), radius=2.0, tolerance=-1.0)


def test_bump_shows_in_the_depth_image_exactly_around_its_spot():
    flat, bumped = _dome(False), _dome(True)
    size = 96
    ref = render(flat, views=1, size=size)
    rend = render(bumped, views=1, size=size, frame=ref.frame)
    # the bump stays below the dome's top, so both renders share the depth scale (up to the
    # bump's 1e-9 tail at the top)
    np.testing.assert_allclose(ref.depth_range, rend.depth_range, atol=1e-8)
    # where the bump projects: the camera coordinates of the spot on the dome
    spot = np.array([[0.4, -0.3, -0.3 * (0.4**2 + 0.3**2)]])
    cam = camera_coordinates(spot, ref.frame, ref.rotations)
    row, col = (float(a[0, 0]) for a in pixel_coordinates(cam, ref.frame.half_extent, size))
    pixel = 2 * ref.frame.half_extent / size
    r, c = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5, indexing="ij")
    dist = np.hypot(r - row, c - col) * pixel              # cloud units from the spot
    changed = np.abs(rend.images[0, 0] - ref.images[0, 0]) > 1e-4
    # the bump is below 1e-4 of the depth range (0.45) beyond 3.74 sigma; a moved point tilts the
    # normals (and so the splat planes) of its 10 nearest neighbours; the splat adds its radius,
    # the own pixel up to one more
    knn_reach = cKDTree(flat).query(flat, k=10)[0].max()
    assert dist[changed].max() <= 3.8 * 0.08 + knn_reach + (rend.splat_px + 1) * pixel
    core = dist < 0.08                                     # within one sigma: all changed
    assert changed[core].all() and core.sum() > 20
    # the height change at the spot is the bump's height seen along the view axis
    near, far = ref.depth_range[0, 1], ref.depth_range[0, 0]
    dh = (rend.images[0, 0] - ref.images[0, 0]) * (near - far)
    at = np.unravel_index(np.argmin(dist), dist.shape)
    along = abs(ref.frame.axes[2] @ [0, 0, 1])
    assert dh[at] == pytest.approx(0.05 * along * np.sign(ref.frame.axes[2][2]), rel=0.15)


def test_organized_scan_uses_its_own_grid():
    plate = sample_cloud("plate", 1200)
    rend = render(plate, views=6, size=64)                  # views and size ignored
    h, w = plate.grid_shape
    assert rend.images.shape == (1, 5, h, w) and rend.views == ("grid",) and rend.frame is None
    flat = rend.index[0].ravel()
    np.testing.assert_array_equal(flat[plate.grid_index], np.arange(len(plate.points)))
    assert rend.seen.all() and rend.valid.all()
    z = plate.points[:, 2]
    depth = rend.images[0, 0].ravel()[plate.grid_index]
    np.testing.assert_allclose(depth, (z.max() - z) / (z.max() - z.min()), atol=1e-6)
    np.testing.assert_allclose(rend.depth_range[0], [-z.max(), -z.min()])
    # normals in the camera frame (x right, y up, z toward the sensor) match the exact ones
    exact = plate.normals * np.array([1, -1, -1])
    got = rend.images[0, 1:4].reshape(3, -1).T[plate.grid_index]
    interior = (np.arange(h)[:, None] % (h - 1) > 1) & (np.arange(w) % (w - 1) > 1)
    cos = (got * exact).sum(1)[interior.ravel()[plate.grid_index]]
    assert cos.min() > 0.99


def test_organized_grid_with_missing_and_duplicate_pixels():
    h, w = 20, 24
    r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    pts = np.stack([c * 1.0, r * 1.0, 50 + 0.1 * c], axis=-1).reshape(-1, 3)
    gidx = np.arange(h * w)
    drop = np.array([5 * w + 7, 12 * w + 12])              # one-pixel dropouts: filled images
    big = (r >= 2) & (r < 8) & (c >= 14) & (c < 20)         # a 6 x 6 hole: stays empty
    keep = ~np.isin(gidx, drop) & ~big.ravel()
    pts, gidx = pts[keep], gidx[keep]
    # a second point on pixel (3, 3), nearer to the sensor: it wins the z-buffer
    pts = np.vstack([pts, [3.0, 3.0, 49.0]])
    gidx = np.append(gidx, 3 * w + 3)
    # (a Cloud refuses repeated pixels; a bare CloudInput does not)
    rend = render(CloudInput(pts, (h, w), gidx))
    idx = rend.index[0]
    assert idx[3, 3] == len(pts) - 1
    assert not rend.seen[np.flatnonzero(gidx == 3 * w + 3)[0]]
    assert (idx.ravel()[drop] == -1).all() and (idx[big] == -1).all()
    assert (rend.valid[0] == (idx >= 0)).all()
    # dropouts get neighbour values in every channel, the big hole none
    dr, dc = divmod(int(drop[0]), w)
    depth = rend.images[0, 0]
    neighbours = [depth[dr + a, dc + b] for a in (-1, 0, 1) for b in (-1, 0, 1) if a or b]
    assert depth[dr, dc] == pytest.approx(np.mean(neighbours), rel=1e-5)
    assert np.allclose(rend.images[0, :, big], 0.0)
    # every point's scores come back from its pixel
    scores = to_points(np.arange(h * w, dtype=float).reshape(1, h, w), rend)
    seen = rend.seen
    np.testing.assert_array_equal(scores[seen], gidx[seen])


def test_fill_small_holes_fills_gaps_only():
    valid = np.zeros((1, 16, 16), dtype=bool)
    valid[0, 2:14, 2:14] = True
    valid[0, 5, 5] = False                                  # 1 px
    valid[0, 9, 4:6] = False                                # 2 px gap
    valid[0, 8:12, 9:13] = False                            # 4 x 4: a real hole
    images = np.zeros((1, 5, 16, 16), dtype=np.float32)
    rng = np.random.default_rng(0)
    images[0, 0][valid[0]] = rng.random(valid.sum())
    images[0, 3][valid[0]] = 1.0
    out = fill_small_holes(images, valid, radius=1)
    expected = images[0, 0, 4:7, 4:7].sum() / 8
    assert out[0, 0, 5, 5] == pytest.approx(expected, rel=1e-6)
    assert out[0, 0, 9, 4] > 0 and out[0, 0, 9, 5] > 0 and out[0, 3, 9, 4] == pytest.approx(1)
    assert (out[0, :, 8:12, 9:13] == 0).all()               # the hole and the outside stay empty
    assert (out[0][:, ~np.pad(np.ones((12, 12), bool), 2)] == 0).all()
    np.testing.assert_array_equal(out[0][:, valid[0]], images[0][:, valid[0]])
    np.testing.assert_array_equal(fill_small_holes(images, valid, radius=0), images)


def test_same_part_in_another_pose_renders_the_same(lumpy):
    rot = Rotation.from_euler("xyz", [30, -50, 110], degrees=True).as_matrix()
    moved = lumpy @ rot.T + np.array([5.0, -2.0, 7.0])
    a, b = render(lumpy, size=48), render(moved, size=48)
    same = (a.index == b.index).mean()
    assert same > 0.995
    both = (a.index == b.index) & a.valid
    np.testing.assert_allclose(a.images[:, :, :][np.broadcast_to(both[:, None], a.images.shape)],
                               b.images[np.broadcast_to(both[:, None], b.images.shape)],
                               atol=1e-4)


def test_render_is_deterministic_and_channels_are_in_range(lumpy):
    a, b = render(lumpy, size=32), render(lumpy, size=32)
    for f in ("images", "index", "valid", "seen", "nearest_seen", "depth_range"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert CHANNELS == ("depth", "nx", "ny", "nz", "curvature")
    im, valid = a.images, a.valid
    depth = im[:, 0][valid]
    assert depth.min() == 0.0 and depth.max() == 1.0
    assert (im[:, 0][~valid & (im[:, 0] == 0)] == 0).all()
    normals = np.moveaxis(im[:, 1:4], 1, -1)[valid]
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    assert (normals[:, 2] >= 0).all()                       # facing the camera
    curv = im[:, 4][valid]
    assert curv.min() >= 0 and curv.max() <= 1 / 3 + 1e-6
    # depth="box": the fitting cube's extent along the view axis maps to [0, 1]; the same
    # heights as the min-max depth
    box = render(lumpy, size=32, depth="box")
    e = box.frame.half_extent
    np.testing.assert_allclose(box.depth_range, np.tile([-e, e], (6, 1)))
    np.testing.assert_array_equal(box.index, a.index)
    for v in range(6):
        sel = a.valid[v]
        far, near = a.depth_range[v]
        np.testing.assert_allclose(box.images[v, 0][sel] * 2 * e - e,
                                   far + a.images[v, 0][sel] * (near - far), atol=1e-5 * e)


def test_depth_is_the_tangent_plane_height_at_the_pixel_centre():
    """A roof z = 0.5 |x|: away from ridge and eaves every pixel's height is the exact plane's."""
    rng = np.random.default_rng(2)
    xy = rng.uniform([-1, -0.7], [1, 0.7], size=(3000, 2))
    roof = np.column_stack([xy, 0.5 * np.abs(xy[:, 0])])
    size = 64
    rend = render(roof, views=1, size=size, fill_holes=False)
    cam = camera_coordinates(roof, rend.frame, rend.rotations)[0]
    e = rend.frame.half_extent
    pixel = 2 * e / size
    far, near = rend.depth_range[0]
    heights = far + rend.images[0, 0].astype(np.float64) * (near - far)
    checked = 0
    for side in (-1, 1):
        on = np.sign(roof[:, 0]) == side
        # the exact plane of this side in camera coordinates: h = a x + b y + c
        coef = np.linalg.lstsq(np.column_stack([cam[on, :2], np.ones(on.sum())]), cam[on, 2],
                               rcond=None)[0]
        # (and from the eaves, where heights are clipped to the highest/lowest point's)
        far_from_ridge = on & (np.abs(roof[:, 0]) > 0.15) & (np.abs(roof[:, 0]) < 0.9)
        sel = rend.valid[0] & np.isin(rend.index[0], np.flatnonzero(far_from_ridge))
        r, c = np.nonzero(sel)
        x = (c + 0.5) * pixel - e
        y = e - (r + 0.5) * pixel
        np.testing.assert_allclose(heights[sel], coef[0] * x + coef[1] * y + coef[2],
                                   atol=2e-6 * (near - far))
        # not the shown point's own height: the splat's slope matters here
        own = cam[rend.index[0][sel], 2]
        assert np.abs(own - heights[sel]).max() > 0.2 * pixel
        checked += sel.sum()
    assert checked > 1000


def test_six_views_of_20k_points_show_most_of_them():
    """(Its time is measured by tools/bench_render.py, against a reference timed in the same run:
    wall-clock limits do not belong in the unit suite.)"""
    pts = sample_cloud("flange", 20_000).points
    rend = render(pts, views=6, size=128)
    assert rend.images.shape == (6, len(CHANNELS), 128, 128) and rend.n_points == 20_000
    assert rend.seen.mean() > 0.6


def test_render_rejects_bad_input(lumpy):
    with pytest.raises(InputError, match="views"):
        render(lumpy, views=2)
    with pytest.raises(InputError, match="size"):
        render(lumpy, size=4)
    with pytest.raises(InputError, match="frame"):
        render(lumpy, frame=(0, 0, 1))
    with pytest.raises(InputError, match="depth"):
        render(lumpy, depth="global")
    with pytest.raises(InputError, match="normal_k"):
        render(lumpy[:5])
    with pytest.raises(InputError, match="collinear"):
        render(np.outer(np.linspace(0, 1, 50), [1.0, 2.0, 3.0]))
    with pytest.raises(InputError, match="grid_index"):
        render(Cloud(points=lumpy[:20], grid_shape=(4, 4), grid_index=np.arange(20)))
    assert isinstance(render(lumpy, size=16), DepthRender)
    assert isinstance(render(lumpy, size=16).frame, ViewFrame)


@pytest.fixture(scope="module")
def blob():
    """A denser irregular closed surface (4000 points) and its 64 px reference render."""
    rng = np.random.default_rng(7)
    d = rng.normal(size=(4000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    r = 1.0 + 0.3 * d[:, 0] ** 2 + 0.15 * d[:, 1] + 0.1 * np.sin(3 * d[:, 2])
    pts = d * r[:, None] * np.array([2.0, 1.3, 1.0])
    return pts, render(pts, views=6, size=64, depth="box")


def _depth_error(rendered, reference) -> np.ndarray:
    """(V,) mean |depth difference| over the pixels either render shows."""
    either = rendered.valid | reference.valid
    diff = np.abs(rendered.images[:, 0] - reference.images[:, 0])
    return np.array([diff[v][either[v]].mean() for v in range(len(diff))])


def test_partial_scan_is_completed_from_the_reference(blob):
    """A one-sided scan of the part, rendered in the complete cloud's frame, shows the back of
    its own surface (or nothing) in the views turned away from the scanner; completion paints
    those sides from the reference, so every view matches it, and takes the pixels away from the
    points behind them (points are never shown by painted pixels)."""
    from pointad.geometry.visibility import visible_from
    from pointad.render.completion import complete, unseen_regions
    pts, reference = blob
    scanner = reference.frame.axes[0] + 0.2 * reference.frame.axes[1]   # near the +x view
    cut = pts[visible_from(pts, scanner)]
    partial = render(cut, views=6, size=64, depth="box", frame=reference.frame)
    before = _depth_error(partial, reference)
    done = complete(partial, reference, cut)
    after = _depth_error(done, reference)
    assert before.max() > 0.2 and after.max() < 0.02
    fill = unseen_regions(partial, reference)
    cameras = reference.rotations[:, 2] @ reference.frame.axes   # view directions, cloud axes
    away, toward = np.argmin(cameras @ scanner), np.argmax(cameras @ scanner)
    assert fill[away].sum() > 0.5 * reference.valid[away].sum()
    assert fill[toward].sum() < 0.1 * reference.valid[toward].sum()
    # The painted pixels and the seam (the scan's pixels within `guard` pixels of them, their
    # image kept) show no point; the rest is the scan's render as it was.
    from scipy import ndimage
    seam = ndimage.binary_dilation(fill, np.ones((1, 3, 3), dtype=bool), iterations=3) & ~fill
    assert (partial.index[seam] >= 0).sum() > 20
    assert (done.index[fill | seam] == -1).all()
    keep = ~(fill | seam)
    assert (done.index[keep] == partial.index[keep]).all()
    assert np.array_equal(done.images.transpose(1, 0, 2, 3)[:, seam],
                          partial.images.transpose(1, 0, 2, 3)[:, seam])
    assert np.array_equal(done.images[toward][:, ~fill[toward]],
                          partial.images[toward][:, ~fill[toward]])
    plain = complete(partial, reference, cut, guard=0)   # no seam: only the painted pixels
    assert np.array_equal(plain.images, done.images)
    assert (plain.index[fill] == -1).all() and (plain.index[~fill] == partial.index[~fill]).all()
    # A seam as wide as the views (every view has painted pixels) would show no point at all:
    # then only the painted pixels show none, as without a guard.
    assert fill.any(axis=(1, 2)).all()
    wide = complete(partial, reference, cut, guard=64)
    assert np.array_equal(wide.index, plain.index) and np.array_equal(wide.images, plain.images)
    assert (complete(partial, reference, cut, guard=10).index >= 0).sum() \
        < (done.index >= 0).sum() < (plain.index >= 0).sum()
    assert (done.seen <= partial.seen).all() and done.seen.any()
    scores = to_points(np.ones((6, 64, 64)), done)
    assert np.isfinite(scores).all()          # unseen points take their nearest seen point's
    # Deterministic, and a complete cloud is left as it is.
    again = complete(render(cut, views=6, size=64, depth="box", frame=reference.frame),
                     reference, cut)
    assert np.array_equal(again.images, done.images) and np.array_equal(again.index, done.index)
    assert complete(reference, reference, pts) is reference


def test_completion_keeps_a_hole_inside_the_seen_surface(blob):
    """A small hole in a side the scanner saw is a defect, not an unseen side: in the view that
    looks at it its pixels stay as the scan renders them (they neither touch the silhouette nor
    cover 10% of it; views that see it at the rim, on their silhouette, may paint it)."""
    from pointad.render.completion import complete, unseen_regions
    pts, reference = blob
    top = pts[np.argmax(pts[:, 2])]
    spot = np.linalg.norm(pts - top, axis=1) < 0.35
    assert 0.005 < spot.mean() < 0.05
    holed = pts[~spot]
    rendered = render(holed, views=6, size=64, depth="box", frame=reference.frame)
    cameras = reference.rotations[:, 2] @ reference.frame.axes   # view directions, cloud axes
    view = np.argmax(cameras @ [0.0, 0.0, 1.0])                  # the view that looks at it
    deeper = rendered.images[view, 0] < reference.images[view, 0] - 0.05
    gap = reference.valid[view] & (~rendered.valid[view] | deeper)
    assert gap.sum() > 10                      # the hole shows there
    assert not unseen_regions(rendered, reference)[view].any()
    done = complete(rendered, reference, holed)
    assert np.array_equal(done.images[view], rendered.images[view])


def test_features_to_points_average_the_pixels_that_show_each_point():
    """Against a loop over the pixels: each point's feature is the mean of the (resized) maps
    at every pixel that shows it; a point no pixel shows has its nearest shown point's."""
    cloud = sample_cloud("box", 1500, seed=1)
    rendered = render(cloud, views=3, size=32)
    rng = np.random.default_rng(0)
    maps = [torch.from_numpy(rng.random((3, 4, 32, 32))),
            torch.from_numpy(rng.random((3, 2, 16, 16)))]
    out = features_to_points(maps, rendered)
    assert out.shape == (len(cloud.points), 6)
    coarse = torch.nn.functional.interpolate(maps[1], size=(32, 32), mode="bilinear",
                                             align_corners=False).numpy()
    full = np.concatenate([maps[0].numpy(), coarse], axis=1)  # (V, 6, H, W)
    sums = np.zeros((len(cloud.points), 6))
    counts = np.zeros(len(cloud.points))
    for v, y, x in zip(*np.nonzero(rendered.index >= 0)):
        sums[rendered.index[v, y, x]] += full[v, :, y, x]
        counts[rendered.index[v, y, x]] += 1
    seen = counts > 0
    assert np.array_equal(seen, rendered.seen) and 0.2 < seen.mean() < 1.0
    np.testing.assert_allclose(out[seen], sums[seen] / counts[seen, None], rtol=1e-6)
    hidden = np.flatnonzero(~seen)
    np.testing.assert_array_equal(out[hidden], out[rendered.nearest_seen[hidden]])
    with pytest.raises(InputError, match="views"):
        features_to_points([maps[0][:2]], rendered)
