"""The synthetic benchmark: parts, scanners, the build and its ground truth, layouts, CLI (the
defect kinds themselves: tests/test_defects.py)."""
import json
import re

import numpy as np
import open3d as o3d
import pytest
import tifffile
import trimesh
from PIL import Image
from scipy.spatial import cKDTree

from pointad.cli import main
from pointad.errors import InputError
from pointad.geometry.rotations import random_rotation
from pointad.io import read_cloud
from pointad.synthbench import (
    CATEGORIES,
    DEFECTS,
    FAMILIES,
    REALISTIC,
    REALISTIC_SIZES,
    SIZES,
    THIN_CATEGORIES,
    make_benchmark,
    scan_depth,
    scan_full,
    scan_varying,
    visible_from,
)
from pointad.synthbench.make import _rng
from pointad.synthbench.parts import posed

SIGMA = 0.02  # sensor noise of the scans below, mm


def _scene(mesh):
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, dtype=np.float32)),
                        o3d.core.Tensor(np.asarray(mesh.faces, dtype=np.uint32)))
    return scene


def _query(points):
    return o3d.core.Tensor(np.asarray(points, dtype=np.float32))


# ---------------------------------------------------------------- parts


@pytest.mark.parametrize("name", list(CATEGORIES))
def test_part_family_is_a_watertight_solid_in_range(name):
    a = CATEGORIES[name](np.random.default_rng(0))
    b = CATEGORIES[name](np.random.default_rng(1))
    for mesh in (a, b):
        assert mesh.is_watertight and mesh.is_volume and mesh.volume > 0
        assert 20.0 <= mesh.extents.max() <= 80.0 and mesh.extents.min() >= 2.0
        assert mesh.bounds[0, 2] == pytest.approx(0.0, abs=1e-9)  # resting on z = 0
    # Random dimensions: another seed is another instance; the same seed the same one.
    assert not np.allclose(a.extents, b.extents)
    again = CATEGORIES[name](np.random.default_rng(0))
    assert np.array_equal(a.vertices, again.vertices) and np.array_equal(a.faces, again.faces)


def test_posed_records_the_rigid_transform():
    mesh = CATEGORIES["bracket"](np.random.default_rng(3))
    rotation = random_rotation(np.random.default_rng(4))
    moved, pose = posed(mesh, rotation)
    np.testing.assert_allclose(pose["rotation"] @ rotation.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(mesh.vertices @ pose["rotation"].T + pose["translation"],
                               moved.vertices, atol=1e-9)


# ---------------------------------------------------------------- scanners


def test_scan_full_points_lie_on_the_surface_with_outward_normals():
    mesh = CATEGORIES["flange"](np.random.default_rng(0))
    scan = scan_full(mesh, 4000, np.random.default_rng(1), sigma=SIGMA)
    clean = scan_full(mesh, 4000, np.random.default_rng(1), sigma=0.0)
    scene = _scene(mesh)
    dist = scene.compute_distance(_query(scan.points)).numpy()
    assert np.median(dist) < 2 * SIGMA and dist.max() < 6 * SIGMA
    # Without noise every point lies inside the triangle it was drawn on (exactly, in float64).
    tri = mesh.triangles[clean.faces]
    bary = trimesh.triangles.points_to_barycentric(tri, clean.points)
    assert bary.min() > -1e-9 and bary.max() < 1 + 1e-9
    off_plane = np.einsum("ij,ij->i", clean.points - tri[:, 0], mesh.face_normals[clean.faces])
    assert np.abs(off_plane).max() < 1e-9
    # The noise is the only difference between a noisy and a clean scan of the same seed.
    assert np.std(scan.points - clean.points) == pytest.approx(SIGMA, rel=0.1)
    np.testing.assert_allclose(np.linalg.norm(scan.normals, axis=1), 1.0, atol=1e-9)
    outside = scene.compute_occupancy(_query(clean.points + 0.3 * clean.normals)).numpy() == 0
    inside = scene.compute_occupancy(_query(clean.points - 0.3 * clean.normals)).numpy() == 1
    assert outside.mean() > 0.97 and inside.mean() > 0.97


def test_scan_full_is_area_weighted_and_seeded():
    box = trimesh.creation.box(extents=(60.0, 40.0, 20.0))
    scan = scan_full(box, 20000, np.random.default_rng(5), sigma=0.0)
    top = np.isclose(scan.points[:, 2], 10.0)
    assert top.mean() == pytest.approx(2400 / 8800, abs=0.015)   # share of the surface area
    same = scan_full(box, 20000, np.random.default_rng(5), sigma=0.0)
    other = scan_full(box, 20000, np.random.default_rng(6), sigma=0.0)
    assert np.array_equal(scan.points, same.points) and not np.allclose(scan.points, other.points)


@pytest.mark.parametrize("camera", ["orthographic", "pinhole"])
def test_scan_depth_box_seen_head_on_has_constant_depth(camera):
    box = trimesh.creation.box(extents=(40.0, 40.0, 20.0))
    box.apply_translation([0, 0, 10.0])  # top face at z = 20, resting on z = 0
    kw = dict(camera=camera, direction=[0, 0, 1], roll=0.0, distance=300.0, fill=0.8,
              sigma=0.0, dropout=0.0)
    scan = scan_depth(box, np.random.default_rng(0), (64, 64), **kw)
    assert scan.xyz.shape == (64, 64, 3) and scan.xyz.dtype == np.float32
    assert scan.triangle.shape == (64, 64) and scan.valid.all()      # the holder fills the rest
    top = scan.on_part
    # Sensor 300 mm above the box centre (z = 10): the top face is 290 mm away, the holder 310.
    np.testing.assert_allclose(scan.xyz[top][:, 2], 290.0, atol=1e-4)
    np.testing.assert_allclose(scan.xyz[~top][:, 2], 310.0, atol=1e-3)
    np.testing.assert_allclose(scan.normals[top], [[0, 0, -1]] * int(top.sum()), atol=1e-6)
    assert np.allclose(box.face_normals[scan.triangle[top]], [0, 0, 1])  # ids of the top face
    assert top.mean() == pytest.approx(0.8 ** 2, abs=0.04)              # the part fills the view
    bare = scan_depth(box, np.random.default_rng(0), (64, 64), background=False, **kw)
    assert np.array_equal(bare.valid, top)                             # rays that miss: missing
    assert (bare.xyz[~bare.valid] == 0).all() and (bare.triangle[~bare.valid] == -1).all()


def test_scan_depth_noise_dropout_and_grazing_returns():
    box = trimesh.creation.box(extents=(40.0, 40.0, 20.0))
    kw = dict(camera="orthographic", direction=[0, 0, 1], roll=0.0, background=False)
    noisy = scan_depth(box, np.random.default_rng(1), (96, 96), sigma=0.05, dropout=0.0, **kw)
    assert np.std(noisy.xyz[noisy.valid][:, 2]) == pytest.approx(0.05, rel=0.15)
    lossy = scan_depth(box, np.random.default_rng(1), (96, 96), sigma=0.0, dropout=0.1, **kw)
    assert 1 - lossy.valid.sum() / noisy.valid.sum() == pytest.approx(0.1, abs=0.03)
    # Seen 85 degrees off its normal (|cos| = 0.087) the top face is lost, the side face is not.
    view = [np.sin(np.deg2rad(85)), 0.0, np.cos(np.deg2rad(85))]
    graze = dict(direction=view, roll=0.0, background=False, sigma=0.0, dropout=0.0)
    lost = scan_depth(box, np.random.default_rng(2), (64, 64), **graze)
    kept = scan_depth(box, np.random.default_rng(2), (64, 64), min_cos=0.0, **graze)

    def top(s):
        return np.isclose(box.face_normals[s.triangle[s.on_part]][:, 2], 1.0)

    assert top(kept).sum() > 50 and top(lost).sum() == 0
    assert lost.on_part.sum() > 0.5 * kept.on_part.sum()


# ---------------------------------------------------------------- the benchmark


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "small"
    assert make_benchmark(out, size="small", seed=0, progress=False) == out
    return out


def _tree(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_small_benchmark_writes_both_layouts_exactly(small):
    size = SIZES["small"]
    manifest = json.loads((small / "benchmark.json").read_text())
    files = _tree(small)
    assert files == sorted(manifest["files"]) and "README.txt" in files
    assert manifest["seed"] == 0 and manifest["size"] == "small"
    assert manifest["categories"] == list(CATEGORIES) and len(CATEGORIES) >= 8
    kinds_seen = {"real3d": set(), "mvtec3d": set()}
    for cat in CATEGORIES:
        real = [f for f in files if f.startswith(f"real3d/{cat}/")]
        train = [f for f in real if "/train/" in f]
        assert train == [f"real3d/{cat}/train/{i:03d}_template.pcd" for i in range(size["n_train"])]
        tests = [f for f in real if "/test/" in f]
        assert len(tests) == size["n_good"] + size["n_defective"]
        stems = [re.fullmatch(rf"real3d/{cat}/test/(\d{{3}})_(\w+)\.pcd", f).groups()
                 for f in tests]
        assert sorted(int(i) for i, _ in stems) == list(range(len(tests)))
        assert sum(d == "good" for _, d in stems) == size["n_good"]
        gts = sorted(f for f in real if "/gt/" in f)
        assert gts == sorted(f"real3d/{cat}/gt/{i}_{d}.txt" for i, d in stems if d != "good")
        kinds_seen["real3d"] |= {d for _, d in stems if d != "good"}

        mv = [f for f in files if f.startswith(f"mvtec3d/{cat}/")]
        assert [f for f in mv if "/train/" in f] == [
            f"mvtec3d/{cat}/train/good/xyz/{i:03d}.tiff" for i in range(size["n_train"])]
        assert [f for f in mv if "/validation/" in f] == [
            f"mvtec3d/{cat}/validation/good/xyz/{i:03d}.tiff" for i in range(size["n_validation"])]
        test = [f for f in mv if "/test/" in f]
        xyz = [f for f in test if "/xyz/" in f]
        assert len(xyz) == size["n_good"] + size["n_defective"]
        for f in xyz:
            assert re.fullmatch(rf"mvtec3d/{cat}/test/\w+/xyz/\d{{3}}\.tiff", f)
            assert f.replace("/xyz/", "/gt/").replace(".tiff", ".png") in test
        assert len(test) == 2 * len(xyz)
        assert sum("/test/good/xyz/" in f for f in xyz) == size["n_good"]
        kinds_seen["mvtec3d"] |= {f.split("/")[3] for f in xyz} - {"good"}
    # Two defective samples per category and eight categories cover every defect kind.
    assert kinds_seen["real3d"] == kinds_seen["mvtec3d"] == set(DEFECTS)
    readme = (small / "README.txt").read_text()
    assert "MILLIMETRES" in readme and "METRES" in readme


def test_real3d_pcd_and_gt_hold_the_same_points(small):
    manifest = json.loads((small / "benchmark.json").read_text())
    anomalous = [s for s in manifest["samples"]
                 if s["layout"] == "real3d" and s["split"] == "test" and s["defect"] != "good"]
    assert len(anomalous) == SIZES["small"]["n_defective"] * len(CATEGORIES)
    for sample in anomalous:
        pcd, txt = (small / f for f in sample["files"])
        cloud, gt = read_cloud(pcd), read_cloud(txt)
        assert len(cloud) == len(gt) == sample["n_points"]
        assert np.array_equal(cloud.points, gt.points)
        assert gt.labels.mean() == pytest.approx(sample["anomalous_fraction"])
        assert 0.005 <= gt.labels.mean() <= 0.1
        assert len(txt.read_text().splitlines()[0].split()) == 4
    template = read_cloud(small / "real3d/gear/train/000_template.pcd")
    assert len(template) == SIZES["small"]["n_points"] and template.labels is None


def test_mvtec3d_tiff_and_png_agree(small):
    h, w = SIZES["small"]["resolution"]
    masks = sorted(small.glob("mvtec3d/*/test/*/gt/*.png"))
    assert len(masks) == len(CATEGORIES) * (SIZES["small"]["n_good"]
                                            + SIZES["small"]["n_defective"])
    for png in masks:
        tiff = png.parent.parent / "xyz" / f"{png.stem}.tiff"
        xyz = tifffile.imread(tiff)
        with Image.open(png) as image:
            assert image.mode == "L"
            mask = np.asarray(image)
        assert xyz.shape == (h, w, 3) and xyz.dtype == np.float32 and mask.shape == (h, w)
        assert set(np.unique(mask)) <= {0, 255}
        valid = (xyz != 0).any(axis=2)
        z = xyz[valid][:, 2]
        assert 0.1 < z.min() and z.max() < 1.0              # metres, not millimetres
        assert valid.mean() > 0.8 and not valid.all()       # holder in view, some pixels missing
        if png.parent.parent.name == "good":
            assert not mask.any()
        else:
            assert mask.any() and (mask[valid] > 0).mean() <= 0.1


def test_benchmark_is_deterministic_by_seed(small, tmp_path):
    again = make_benchmark(tmp_path / "again", size="small", seed=0, progress=False)
    files = _tree(small)
    assert _tree(again) == files
    for f in files:
        assert (small / f).read_bytes() == (again / f).read_bytes(), f
    other = make_benchmark(tmp_path / "other", size="small", seed=1, categories=["gear"],
                           progress=False)
    assert (other / "real3d/gear/train/000_template.pcd").read_bytes() != \
        (small / "real3d/gear/train/000_template.pcd").read_bytes()
    # A category's samples do not depend on the other categories built with it.
    alone = make_benchmark(tmp_path / "alone", size="small", seed=0, categories=["gear"],
                           kinds=["mvtec3d"], progress=False)
    for f in _tree(alone / "mvtec3d"):
        assert (alone / "mvtec3d" / f).read_bytes() == (small / "mvtec3d" / f).read_bytes()
    assert not (alone / "real3d").exists()


def test_benchmark_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        make_benchmark(tmp_path, size="small", categories=["plate_holes"], progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    make_benchmark(tmp_path, size="small", categories=["gear", "bottle"], progress=False,
                   overwrite=True)
    # Overwriting replaces the earlier build's files only: stale samples go, notes stay.
    make_benchmark(tmp_path, size="small", categories=["gear"], kinds=["real3d"],
                   progress=False, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "real3d/bottle").exists() and not (tmp_path / "mvtec3d").exists()
    with pytest.raises(InputError, match="size"):
        make_benchmark(tmp_path / "x", size="huge")
    with pytest.raises(InputError, match="category"):
        make_benchmark(tmp_path / "x", size="small", categories=["teapot"])


def test_loaders_read_the_benchmark(small):
    from pointad import datasets
    real = datasets.load_dataset(small / "real3d", category="flange", split="test")
    samples = [real[i] for i in range(len(real))]
    assert sum(s.label for s in samples) == SIZES["small"]["n_defective"]
    mv = datasets.load_dataset(small / "mvtec3d", category="flange", split="test")
    sample = next(mv[i] for i in range(len(mv)) if mv[i].label == 1)
    assert sample.grid_shape == tuple(SIZES["small"]["resolution"]) and sample.labels.any()


# ---------------------------------------------------------------- command line


def test_cli_bench_make_writes_the_tree(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["bench", "make", "--out", str(out), "--size", "small", "--seed", "3",
                 "--categories", "gear,bracket", "--kinds", "real3d,mvtec3d"])
    stdout, _ = capsys.readouterr()
    assert code == 0
    assert stdout.strip().splitlines()[-1].startswith("wrote 2 categories")
    assert str(out) in stdout
    manifest = json.loads((out / "benchmark.json").read_text())
    assert manifest["seed"] == 3 and manifest["categories"] == ["gear", "bracket"]
    assert (out / "real3d/bracket/train/000_template.pcd").is_file()
    assert (out / "mvtec3d/gear/validation/good/xyz/000.tiff").is_file()


@pytest.mark.parametrize("args", [
    ["--size", "huge"], ["--categories", "teapot"], ["--kinds", "shapenet"], ["--seed", "-1"],
    ["--categories", ","],
])
def test_cli_bench_make_bad_argument_is_one_line(tmp_path, capsys, args):
    code = main(["bench", "make", "--out", str(tmp_path / "o"), "--size", "small"] + args)
    _, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("pnas: error:")
    assert not (tmp_path / "o").exists()


def test_cli_bench_make_refuses_non_empty_out(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    code = main(["bench", "make", "--out", str(tmp_path), "--size", "small", "-q"])
    _, err = capsys.readouterr()
    assert code == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- the realistic preset


def _thin_share(mesh, n=2000, within=4.0):
    """Share of the surface (uniform samples) whose material is at most ``within`` mm thick: a
    ray cast inward along the normal leaves the part again within that distance."""
    clean = scan_full(mesh, n, np.random.default_rng(0), sigma=0.0)
    rays = np.hstack([clean.points - 1e-3 * clean.normals, -clean.normals])
    t_hit = _scene(mesh).cast_rays(_query(rays))["t_hit"].numpy()
    return float((t_hit < within).mean())


@pytest.mark.parametrize("name", list(THIN_CATEGORIES))
def test_thin_family_is_a_watertight_thin_solid_in_range(name):
    a = THIN_CATEGORIES[name](np.random.default_rng(0))
    b = THIN_CATEGORIES[name](np.random.default_rng(1))
    for mesh in (a, b):
        assert mesh.is_watertight and mesh.is_volume and mesh.volume > 0
        assert 20.0 <= mesh.extents.max() <= 80.0 and mesh.extents.min() >= 1.5
        assert mesh.bounds[0, 2] == pytest.approx(0.0, abs=1e-9)
        # Thin walls, fins, legs or arms: most of the surface has the back face within 4 mm.
        assert _thin_share(mesh) >= 0.6
    assert not np.allclose(a.extents, b.extents)
    again = THIN_CATEGORIES[name](np.random.default_rng(0))
    assert np.array_equal(a.vertices, again.vertices) and np.array_equal(a.faces, again.faces)


def test_thin_check_tells_compact_parts_apart():
    for name in ("flange", "hex_bolt", "bottle"):
        assert _thin_share(CATEGORIES[name](np.random.default_rng(0))) < 0.1
    assert set(FAMILIES) == set(CATEGORIES) | set(THIN_CATEGORIES)
    assert list(CATEGORIES) == ["flange", "hex_bolt", "gear", "bracket", "pipe_elbow", "bottle",
                                "plate_holes", "blade"]       # the standard preset's, unchanged


def test_visible_from_keeps_what_a_sensor_sees():
    # Two 10 mm cubes on the x axis, 10 mm apart: seen from +x, the far cube's +x face is hidden
    # behind the near one; from +z both top faces are seen, nothing else.
    near = trimesh.creation.box(extents=(10, 10, 10))
    near.apply_translation([15, 0, 0])
    far = trimesh.creation.box(extents=(10, 10, 10))
    far.apply_translation([-15, 0, 0])
    mesh = trimesh.util.concatenate([near, far])
    clean = scan_full(mesh, 3000, np.random.default_rng(0), sigma=0.0)
    top = np.isclose(clean.normals[:, 2], 1.0)
    seen = visible_from(mesh, clean.surface, clean.normals, [[0, 0, 1]])
    assert np.array_equal(seen, top)
    seen = visible_from(mesh, clean.surface, clean.normals, [[1, 0, 0]], distance=1000.0)
    plus_x = np.isclose(clean.normals[:, 0], 1.0)
    assert np.array_equal(seen, plus_x & (clean.points[:, 0] > 0))
    both = visible_from(mesh, clean.surface, clean.normals, [[0, 0, 1], [1, 0, 0]],
                        distance=1000.0)
    assert np.array_equal(both, top | (plus_x & (clean.points[:, 0] > 0)))


def test_scan_varying_density_and_noise():
    mesh = CATEGORIES["plate_holes"](np.random.default_rng(0))
    uniform, info = scan_varying(mesh, 3000, np.random.default_rng(1))
    assert len(uniform.points) == 3000 and info["sigma_mm"] == 0.0
    assert np.array_equal(uniform.points, uniform.surface)
    varying, info = scan_varying(mesh, 3000, np.random.default_rng(1), density=1.3,
                                 modulation=0.6, sigma_spacings=0.2)
    assert abs(len(varying.points) / 3900 - 1) < 0.15
    noise = varying.points - varying.surface
    assert np.std(noise) == pytest.approx(0.2 * info["spacing_mm"], rel=0.1)
    # Uneven: the number of neighbours within 5 mm varies far more than in a uniform scan.
    strong, _ = scan_varying(mesh, 3000, np.random.default_rng(1), modulation=0.9,
                             wavelength=30.0)

    def spread(points):
        counts = cKDTree(points).query_ball_point(points, 5.0, return_length=True)
        return np.percentile(counts, 90) / np.percentile(counts, 10)

    assert spread(strong.surface) > 1.35 * spread(uniform.surface)


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "realistic"
    make_benchmark(out, size="small", seed=0, categories=["stool", "gear"], preset="realistic",
                   progress=False)
    return out


def _rotation_deg(rotation):
    rotation = np.asarray(rotation)
    return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1))))


def test_realistic_build_layout_and_manifest(realistic):
    size = REALISTIC_SIZES["small"]
    manifest = json.loads((realistic / "benchmark.json").read_text())
    files = _tree(realistic)
    assert files == sorted(manifest["files"]) and not (realistic / "mvtec3d").exists()
    assert manifest["preset"] == "realistic" and manifest["layouts"] == ["real3d"]
    assert manifest["scanner"]["rotation_deg"] == REALISTIC["rotation_deg"]
    readme = (realistic / "README.txt").read_text()
    assert "preset='realistic'" in readme and "partial" in readme
    for cat in ("stool", "gear"):
        train = [f for f in files if f.startswith(f"real3d/{cat}/train/")]
        tests = [f for f in files if f.startswith(f"real3d/{cat}/test/")]
        gts = [f for f in files if f.startswith(f"real3d/{cat}/gt/")]
        assert len(train) == size["n_train"] and len(tests) == size["n_good"] + size["n_defective"]
        assert sum(f.endswith("_good.pcd") for f in tests) == size["n_good"]
        assert len(gts) == size["n_defective"]


def test_realistic_test_scans_are_partial_posed_and_on_the_part(realistic):
    manifest = json.loads((realistic / "benchmark.json").read_text())
    for cat in ("stool", "gear"):
        samples = [s for s in manifest["samples"] if s["category"] == cat]
        train = [s for s in samples if s["split"] == "train"]
        test = [s for s in samples if s["split"] == "test"]
        assert all(s["n_points"] == REALISTIC_SIZES["small"]["n_points"] for s in train)
        # Partial views: far fewer points on average than a complete scan, most of them cut.
        n_test = np.array([s["n_points"] for s in test])
        assert n_test.mean() < 0.75 * REALISTIC_SIZES["small"]["n_points"]
        assert sum(not s["scan"]["complete"] for s in test) >= len(test) // 2
        # Poses near the canonical one, not a full random rotation; the manifest's pose is the
        # one the points are in: they lie on the posed part (up to noise and a few outliers).
        mesh = FAMILIES[cat](_rng(0, cat, "design"))
        angles = [_rotation_deg(s["pose"]["rotation"]) for s in test]
        assert max(angles) <= REALISTIC["rotation_deg"] + 1e-6 and max(angles) > 1.0
        for s, angle in zip(test, angles):
            assert angle == pytest.approx(s["pose"]["angle_deg"], abs=1e-6)
            assert np.linalg.norm(s["pose"]["shift_mm"]) <= 0.1 * mesh.extents.max() + 1e-9
            part, _ = posed(mesh, np.array(s["pose"]["rotation"]), shift=s["pose"]["shift_mm"])
            cloud = read_cloud(realistic / s["files"][0])
            dist = _scene(part).compute_distance(_query(cloud.points)).numpy()
            spacing = s["scan"]["spacing_mm"]
            assert np.median(dist) < 0.5 * spacing
            if s["defect"] == "good":  # noise is 0.1-0.3 spacings; only outliers lie far off
                assert np.percentile(dist, 99) < 1.5 * spacing
                assert (dist > 2.5 * spacing).sum() <= s["scan"]["outliers"]


def test_realistic_defects_are_small_and_labelled_on_the_written_points(realistic):
    manifest = json.loads((realistic / "benchmark.json").read_text())
    anomalous = [s for s in manifest["samples"] if s["split"] == "test" and s["defect"] != "good"]
    assert len(anomalous) == 2 * REALISTIC_SIZES["small"]["n_defective"]
    assert {s["defect"] for s in anomalous} <= set(manifest["defect_kinds"])
    for s in anomalous:
        pcd, txt = (realistic / f for f in s["files"])
        cloud, gt = read_cloud(pcd), read_cloud(txt)
        assert np.array_equal(cloud.points, gt.points) and len(cloud) == s["n_points"]
        fraction = gt.labels.mean()
        assert fraction == pytest.approx(s["anomalous_fraction"])
        assert REALISTIC["accept"][0] <= fraction <= REALISTIC["accept"][1]
        # Real scale: peaks (depths) of at most 5 point spacings; a hole (peak 0) removes points.
        assert s["defect_params"]["peak_mm"] <= 5.0 * s["scan"]["spacing_mm"] * (1 + 1e-9)


def test_realistic_build_is_byte_identical_by_seed(realistic, tmp_path):
    # One category alone, same seed: the same bytes as in the two-category build.
    again = make_benchmark(tmp_path / "again", size="small", seed=0, categories=["stool"],
                           preset="realistic", progress=False)
    files = _tree(again / "real3d")
    assert files == ["stool/" + f for f in _tree(realistic / "real3d/stool")]
    for f in files:
        assert (again / "real3d" / f).read_bytes() == (realistic / "real3d" / f).read_bytes(), f


def test_realistic_preset_refuses_mvtec3d_and_unknown_presets(tmp_path):
    with pytest.raises(InputError, match="real3d layout only"):
        make_benchmark(tmp_path / "a", size="small", preset="realistic", kinds=["mvtec3d"])
    with pytest.raises(InputError, match="preset"):
        make_benchmark(tmp_path / "b", size="small", preset="hard")
    with pytest.raises(InputError, match="category"):  # thin families: realistic preset only
        make_benchmark(tmp_path / "c", size="small", categories=["stool"])
    assert not any(tmp_path.iterdir())


def test_realistic_partial_zero_gives_complete_scans_and_the_same_templates(realistic,
                                                                          tmp_path, capsys):
    """``partial=0`` (``--partial 0``): every test scan complete and posed, the templates the
    same bytes as the default build's; the share is recorded; bad values are refused."""
    out = tmp_path / "whole"
    code = main(["bench", "make", "--out", str(out), "--size", "small", "--preset", "realistic",
                 "--categories", "stool", "--partial", "0", "--quiet"])
    assert code == 0
    manifest = json.loads((out / "benchmark.json").read_text())
    assert manifest["scanner"]["partial"] == 0.0
    readme = (out / "README.txt").read_text()
    assert "0.3-0.7), 0 % cut" in readme and "complete (360-degree) test scans" in readme
    test = [s for s in manifest["samples"] if s["split"] == "test"]
    assert test and all(s["scan"]["complete"] and s["scan"]["visible_fraction"] == 1.0
                        for s in test)
    assert all(s["n_points"] == s["scan"]["n_points_360"] for s in test if s["defect"] == "good")
    default = json.loads((realistic / "benchmark.json").read_text())
    assert default["scanner"]["partial"] == REALISTIC["partial"]
    partial = [s for s in default["samples"] if s["category"] == "stool" and s["split"] == "test"]
    assert np.mean([s["n_points"] for s in test]) > 1.3 * np.mean([s["n_points"] for s in partial])
    for f in _tree(out / "real3d/stool/train"):
        assert (out / "real3d/stool/train" / f).read_bytes() == \
            (realistic / "real3d/stool/train" / f).read_bytes()
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(InputError, match="partial must be a number in"):
            make_benchmark(tmp_path / "bad", size="small", preset="realistic", partial=bad)
    with pytest.raises(InputError, match="realistic preset only"):
        make_benchmark(tmp_path / "bad", size="small", partial=0.5)
    assert not (tmp_path / "bad").exists()
    capsys.readouterr()
    code = main(["bench", "make", "--out", str(tmp_path / "x"), "--size", "small",
                 "--partial", "2"])
    _, err = capsys.readouterr()
    assert code == 2 and "partial" in err and len(err.strip().splitlines()) == 1


def test_cli_bench_make_realistic(tmp_path, capsys):
    out = tmp_path / "real"
    code = main(["bench", "make", "--out", str(out), "--size", "small", "--preset", "realistic",
                 "--categories", "fork"])
    stdout, _ = capsys.readouterr()
    assert code == 0 and "wrote 1 categories" in stdout
    manifest = json.loads((out / "benchmark.json").read_text())
    assert manifest["preset"] == "realistic" and manifest["categories"] == ["fork"]
    assert (out / "real3d/fork/train/000_template.pcd").is_file() and not (out / "mvtec3d").exists()
    code = main(["bench", "make", "--out", str(tmp_path / "x"), "--size", "small", "--preset",
                 "realistic", "--kinds", "mvtec3d"])
    _, err = capsys.readouterr()
    assert code == 2 and "real3d layout only" in err and len(err.strip().splitlines()) == 1


def test_an_interrupted_build_resumes_to_the_same_bytes(tmp_path):
    """A stop after the first category keeps it (checkpoint); --resume builds the rest, and the
    files equal an uninterrupted build's, benchmark.json included; no checkpoint is left."""
    cats = ["gear", "bottle"]
    whole = make_benchmark(tmp_path / "whole", size="small", seed=0, categories=cats,
                           kinds=["real3d"], progress=False)
    calls = []

    class Stopped(BaseException):
        pass

    def stop():
        calls.append(1)
        if len(calls) == 2:  # before the second category
            raise Stopped

    out = tmp_path / "resumed"
    with pytest.raises(Stopped):
        make_benchmark(out, size="small", seed=0, categories=cats, kinds=["real3d"],
                       progress=False, stop=stop)
    assert not (out / "benchmark.json").exists()
    assert [p.name for p in (out / ".partial").iterdir()] == ["real3d-gear.json"]
    (out / "real3d" / "bottle").mkdir(parents=True)  # a half-built category is built again
    (out / "real3d" / "bottle" / "stray.txt").write_text("left by the interrupted build")
    with pytest.raises(InputError, match="other settings"):
        make_benchmark(out, size="small", seed=1, categories=cats, kinds=["real3d"],
                       progress=False, resume=True)
    with pytest.raises(InputError, match="other settings"):  # the first run's gear unlisted
        make_benchmark(out, size="small", seed=0, categories=["bottle"], kinds=["real3d"],
                       progress=False, resume=True)
    make_benchmark(out, size="small", seed=0, categories=cats, kinds=["real3d"],
                   progress=False, resume=True)
    files = sorted(p.relative_to(whole) for p in whole.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()
                           and p.name != "stray.txt")
    for rel in files:
        assert (out / rel).read_bytes() == (whole / rel).read_bytes(), rel
    assert not (out / ".partial").exists()
    with pytest.raises(InputError, match="no interrupted build"):
        make_benchmark(tmp_path / "fresh", size="small", seed=0, categories=cats,
                       progress=False, resume=True)


def test_bench_make_resume_on_the_command_line(tmp_path, capsys):
    from pointad.cli import main

    base = ["bench", "make", "--size", "small", "--categories", "gear", "--kinds", "real3d",
            "-q", "--out", str(tmp_path / "b")]
    assert main(base + ["--resume", "--overwrite"]) == 2
    assert "give one of them" in capsys.readouterr().err
    assert main(base + ["--resume"]) == 2
    assert "no interrupted build" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
