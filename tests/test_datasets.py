"""Tests of pointad.datasets: tiny fixtures in each benchmark's exact layout, read back."""
import shutil

import numpy as np
import pytest
from PIL import Image

from pointad.datasets import (
    DATASETS,
    AnomalyShapeNet,
    MVTec3D,
    PointFolder,
    Real3DAD,
    Sample,
    detect_format,
    load_dataset,
)
from pointad.errors import InputError
from pointad.io import Cloud, write_cloud

H, W = 6, 8


def raises_naming(path, func, *args, match=None, **kwargs):
    """Assert ``func`` raises a one-line InputError whose message names ``path``."""
    with pytest.raises(InputError) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert str(path) in message, message
    assert "\n" not in message
    if match:
        assert match in message, message
    return message


# ------------------------------------------------------------------------------ MVTec 3D-AD


def organized_cloud(seed, missing=((0, 0), (2, 3), (5, 7))):
    """An H x W organized cloud: every pixel present except ``missing``; returns (cloud, index)."""
    rng = np.random.default_rng(seed)
    valid = np.ones((H, W), bool)
    for r, c in missing:
        valid[r, c] = False
    index = np.flatnonzero(valid)
    points = np.c_[rng.uniform(-0.05, 0.05, (len(index), 2)), rng.uniform(0.5, 0.6, len(index))]
    return Cloud(points=points, grid_shape=(H, W), grid_index=index)


def write_mask(path, mask):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((mask > 0).astype(np.uint8) * 255).save(path)


def defect_mask():
    mask = np.zeros((H, W), np.uint8)
    mask[1:4, 2:5] = 1  # covers the missing pixel (2, 3): it must not become a point
    return mask


@pytest.fixture
def mvtec(tmp_path):
    """Two categories; bagel: train 2, validation 1, test good 1 (+ no gt) and crack 2, hole 1."""
    root = tmp_path / "mvtec"
    seed = 0
    for cls in ("bagel", "tire"):
        for split, defect, stems in (("train", "good", ["000", "001"]),
                                     ("validation", "good", ["000"]),
                                     ("test", "good", ["000"]), ("test", "crack", ["000", "001"]),
                                     ("test", "hole", ["000"])):
            for stem in stems:
                seed += 1
                write_cloud(root / cls / split / defect / "xyz" / f"{stem}.tiff",
                            organized_cloud(seed))
                if split == "test" and defect != "good":
                    write_mask(root / cls / split / defect / "gt" / f"{stem}.png", defect_mask())
    (root / "license.txt").write_text("not a category")
    return root


def test_mvtec_splits_counts_and_labels(mvtec):
    assert MVTec3D.categories(mvtec) == ["bagel", "tire"]
    counts = {s: len(MVTec3D(mvtec, "bagel", s)) for s in MVTec3D.splits}
    assert counts == {"train": 2, "validation": 1, "test": 4}
    test = MVTec3D(mvtec, "bagel", "test")
    samples = list(test)
    assert [s.id for s in samples] == ["test/crack/000", "test/crack/001", "test/good/000",
                                       "test/hole/000"]
    assert [s.label for s in samples] == [1, 1, 0, 1]
    assert [s.defect for s in samples] == ["crack", "crack", "good", "hole"]
    train = list(MVTec3D(mvtec, "bagel", "train"))
    assert all(s.label == 0 and s.labels.sum() == 0 and s.labels.dtype == np.uint8 for s in train)
    assert {s.id for s in train} == {"train/good/000", "train/good/001"}
    assert all(s.category == "bagel" for s in samples)


def test_mvtec_labels_line_up_with_valid_pixels(mvtec):
    sample = MVTec3D(mvtec, "bagel", "test")[0]
    assert isinstance(sample, Sample)
    mask = defect_mask()
    missing = {(0, 0), (2, 3), (5, 7)}
    expected_index = [r * W + c for r in range(H) for c in range(W) if (r, c) not in missing]
    assert sample.grid_shape == (H, W)
    np.testing.assert_array_equal(sample.grid_index, expected_index)
    assert sample.points.shape == (H * W - 3, 3) and sample.points.dtype == np.float64
    np.testing.assert_array_equal(sample.gt_mask, mask)
    # 3 x 3 defect region minus its missing pixel (2, 3)
    assert sample.labels.sum() == 8
    rows, cols = np.divmod(sample.grid_index, W)
    np.testing.assert_array_equal(sample.labels, mask[rows, cols])
    # points are the TIFF's pixels (float32 on disk)
    # seed of test/crack/000
    np.testing.assert_allclose(sample.points, organized_cloud(5).points, rtol=1e-6)
    assert sample.path.name == "000.tiff" and sample.gt_path.name == "000.png"


def test_mvtec_good_without_gt_has_zero_labels(mvtec):
    good = [s for s in MVTec3D(mvtec, "bagel", "test") if s.defect == "good"][0]
    assert good.labels.sum() == 0 and good.gt_mask.sum() == 0 and good.gt_path is None


def plate_scene():
    """A 40 x 40 organized scan of a tilted plate at ~0.6 m with a 2 cm high cap on it.

    Returns the cloud, the (H, W) object mask (cap pixels more than 7 mm above the plate) and
    the (H, W) defect mask (the top of the cap). Three pixels are missing; one far stray point.
    """
    n = 40
    ys, xs = np.mgrid[0:n, 0:n]
    x = (xs - n / 2) * 0.002
    y = (ys - n / 2) * 0.002
    plane_z = 0.6 + 0.05 * x + 0.02 * y
    radius = 0.012
    d2 = x**2 + y**2
    height = np.where(d2 < radius**2, np.sqrt(np.clip(radius**2 - d2, 0, None)) * 20 / 12, 0.0)
    z = plane_z - height  # the camera looks along +z: the object is closer to it
    image = np.dstack([x, y, z])
    image[0, 0] = image[0, 1] = image[39, 39] = 0  # missing pixels
    image[0, 39] = [0.5, 0.5, 0.2]  # a stray point far from everything: DBSCAN noise
    valid = (image != 0).any(axis=2)
    index = np.flatnonzero(valid)
    cloud = Cloud(points=image.reshape(-1, 3)[index], grid_shape=(n, n), grid_index=index)
    # perpendicular height above the plate, to say which pixels are surely kept / dropped
    perp = height / np.sqrt(1 + 0.05**2 + 0.02**2)
    return cloud, perp, (height > 0.015).astype(np.uint8)


def test_mvtec_background_removal_keeps_object_drops_plane(tmp_path):
    root = tmp_path / "mv"
    cloud, perp, defect = plate_scene()
    write_cloud(root / "cap" / "test" / "bump" / "xyz" / "000.tiff", cloud)
    write_mask(root / "cap" / "test" / "bump" / "gt" / "000.png", defect)
    full = MVTec3D(root, "cap", "test")[0]
    assert len(full) == 40 * 40 - 3
    removed = MVTec3D(root, "cap", "test", remove_background=True)[0]
    flat_perp = perp.reshape(-1)[removed.grid_index]
    # nothing of the plate (nor the stray point) is kept, all of the cap clear of the margin is
    assert (flat_perp > 0.004).all()
    assert 39 not in removed.grid_index.tolist()  # the stray pixel (0, 39)
    surely_object = np.flatnonzero(perp.reshape(-1) > 0.006)
    assert set(surely_object) <= set(removed.grid_index.tolist())
    assert 50 < len(removed) < 200
    # labels, points and grid_index stay aligned; the mask stays full size
    np.testing.assert_array_equal(removed.labels, defect.reshape(-1)[removed.grid_index])
    position = np.searchsorted(full.grid_index, removed.grid_index)
    np.testing.assert_array_equal(removed.points, full.points[position])
    assert removed.gt_mask.shape == (40, 40) and removed.labels.sum() == defect.sum()
    again = MVTec3D(root, "cap", "test", remove_background=True, seed=0)[0]
    np.testing.assert_array_equal(again.grid_index, removed.grid_index)


def test_mvtec_errors(mvtec, tmp_path):
    raises_naming(tmp_path / "nope", MVTec3D, tmp_path / "nope", "bagel", "test")
    message = raises_naming(mvtec, MVTec3D, mvtec, "donut", "test")
    assert "bagel, tire" in message
    raises_naming("test", MVTec3D, mvtec, "bagel", "testing")
    raises_naming("bagel", MVTec3D, mvtec)  # two categories: one must be named
    # a defect mask of the wrong size: named when the sample is read
    png = mvtec / "bagel" / "test" / "hole" / "gt" / "000.png"
    Image.fromarray(np.zeros((H + 1, W), np.uint8)).save(png)
    dataset = MVTec3D(mvtec, "bagel", "test")
    raises_naming(png, dataset.__getitem__, 3, match="7 x 8")
    # a defect without its mask: named when the dataset is built
    png.unlink()
    raises_naming(png, MVTec3D, mvtec, "bagel", "test")
    # a missing split folder, an empty split
    shutil.rmtree(mvtec / "tire" / "validation")
    raises_naming(mvtec / "tire" / "validation", MVTec3D, mvtec, "tire", "validation")
    for tiff in (mvtec / "tire" / "train" / "good" / "xyz").iterdir():
        tiff.unlink()
    raises_naming(mvtec / "tire" / "train", MVTec3D, mvtec, "tire", "train", match="no samples")
    # unreadable TIFF and PNG
    tiff = mvtec / "tire" / "test" / "crack" / "xyz" / "000.tiff"
    tiff.write_bytes(b"not a tiff")
    dataset = MVTec3D(mvtec, "tire", "test")
    raises_naming(tiff, dataset.__getitem__, 0)
    bad_png = mvtec / "tire" / "test" / "crack" / "gt" / "001.png"
    bad_png.write_bytes(b"not a png")
    raises_naming(bad_png, dataset.__getitem__, 1)
    with pytest.raises(IndexError):
        dataset[len(dataset)]
    assert [s.id for s in dataset[2:]] == ["test/good/000", "test/hole/000"]


# ------------------------------------------------------------------------------ Real3D-AD


def cloud_of(n, seed, labels=None, offset=0.0):
    points = np.random.default_rng(seed).uniform(-1, 1, (n, 3)) + offset
    return Cloud(points=points, labels=labels)


def gt_labels(n, seed):
    labels = np.zeros(n, np.uint8)
    labels[np.random.default_rng(seed).choice(n, n // 4, replace=False)] = 1
    return labels


@pytest.fixture
def real3d(tmp_path):
    """airplane: 2 templates (+ one non-template PCD), test 2 good + bulge + sink; car: minimal."""
    root = tmp_path / "real3d"
    for cls in ("airplane", "car"):
        base = root / cls
        write_cloud(base / "train" / "0_template.pcd", cloud_of(30, 1, offset=5.0))
        write_cloud(base / "train" / "1_template.pcd", cloud_of(31, 2))
        write_cloud(base / "train" / "notes.pcd", cloud_of(10, 3))  # not a template: ignored
        write_cloud(base / "test" / "100_good.pcd", cloud_of(40, 4, offset=2.0))
        write_cloud(base / "test" / "101_good.pcd", cloud_of(41, 5))
        for stem, n, seed in (("102_bulge", 50, 6), ("103_sink", 35, 7)):
            # not the evaluated points
            write_cloud(base / "test" / f"{stem}.pcd", cloud_of(n + 5, seed))
            write_cloud(base / "gt" / f"{stem}.txt",
                        cloud_of(n, seed + 10, labels=gt_labels(n, seed)))
    return root


def test_real3d_samples(real3d):
    assert Real3DAD.categories(real3d) == ["airplane", "car"]
    train = Real3DAD(real3d, "airplane", "train")
    assert len(train) == 2
    assert [s.id for s in train] == ["train/good/0_template", "train/good/1_template"]
    assert all(s.label == 0 and not s.labels.any() for s in train)
    test = list(Real3DAD(real3d, "airplane", "test"))
    assert [(s.id, s.label, s.defect) for s in test] == [
        ("test/good/100_good", 0, "good"), ("test/good/101_good", 0, "good"),
        ("test/bulge/102_bulge", 1, "bulge"), ("test/sink/103_sink", 1, "sink")]
    good, bulge = test[0], test[2]
    np.testing.assert_allclose(good.points, cloud_of(40, 4, offset=2.0).points, rtol=1e-6)
    assert good.labels.shape == (40,) and good.labels.sum() == 0
    # anomalous: points and labels from the gt text, not from the PCD
    np.testing.assert_array_equal(bulge.points, cloud_of(50, 16).points)
    np.testing.assert_array_equal(bulge.labels, gt_labels(50, 6))
    assert bulge.path.name == "102_bulge.pcd" and bulge.gt_path.name == "102_bulge.txt"
    assert bulge.grid_shape is None and bulge.gt_mask is None


def test_real3d_center(real3d):
    sample = Real3DAD(real3d, "airplane", "train", center=True)[0]
    np.testing.assert_allclose(sample.points.mean(axis=0), 0, atol=1e-12)
    raw = Real3DAD(real3d, "airplane", "train")[0]
    np.testing.assert_allclose(sample.points, raw.points - raw.points.mean(axis=0))


def test_real3d_errors(real3d):
    raises_naming("validation", Real3DAD, real3d, "airplane", "validation")
    gt = real3d / "car" / "gt" / "103_sink.txt"
    write_cloud(gt, cloud_of(35, 1), overwrite=True)  # no label column
    raises_naming(gt, Real3DAD(real3d, "car", "test").__getitem__, 3, match="label")
    gt.unlink()
    raises_naming(gt, Real3DAD, real3d, "car", "test")
    for p in (real3d / "car" / "train").glob("*template*"):
        p.unlink()
    raises_naming(real3d / "car" / "train", Real3DAD, real3d, "car", "train")


# ------------------------------------------------------------------------------ Anomaly-ShapeNet


def write_comma_gt(path, cloud):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.c_[cloud.points, cloud.labels], delimiter=",", fmt="%.17g")


@pytest.fixture
def shapenet(tmp_path):
    root = tmp_path / "Anomaly-ShapeNet"
    base = root / "pcd" / "ashtray0"
    write_cloud(base / "train" / "ashtray0_template0.pcd", cloud_of(20, 1))
    write_cloud(base / "test" / "ashtray0_positive0.pcd", cloud_of(21, 2))
    for stem, n, seed in (("ashtray0_bulge0", 30, 3), ("ashtray0_concavity12", 25, 4)):
        write_cloud(base / "test" / f"{stem}.pcd", cloud_of(n + 3, seed))
        write_comma_gt(base / "GT" / f"{stem}.txt",
                       cloud_of(n, seed + 10, labels=gt_labels(n, seed)))
    write_cloud(root / "pcd" / "bag0" / "train" / "bag0_template0.pcd", cloud_of(20, 1))
    return root


def test_shapenet_samples(shapenet):
    for root in (shapenet, shapenet / "pcd"):
        assert AnomalyShapeNet.categories(root) == ["ashtray0", "bag0"]
        assert len(AnomalyShapeNet(root, "ashtray0", "train")) == 1
        test = list(AnomalyShapeNet(root, "ashtray0", "test"))
        assert [(s.id, s.label) for s in test] == [
            ("test/bulge/ashtray0_bulge0", 1), ("test/concavity/ashtray0_concavity12", 1),
            ("test/good/ashtray0_positive0", 0)]
        bulge = test[0]
        np.testing.assert_array_equal(bulge.points, cloud_of(30, 13).points)
        np.testing.assert_array_equal(bulge.labels, gt_labels(30, 3))
        assert test[2].labels.shape == (21,) and not test[2].labels.any()


def test_shapenet_missing_gt(shapenet):
    gt = shapenet / "pcd" / "ashtray0" / "GT" / "ashtray0_bulge0.txt"
    gt.unlink()
    raises_naming(gt, AnomalyShapeNet, shapenet, "ashtray0", "test")
    raises_naming(shapenet / "pcd" / "bag0" / "test", AnomalyShapeNet, shapenet, "bag0", "test")


# ------------------------------------------------------------------------------ plain folder


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "parts"
    base = root / "screw"
    write_cloud(base / "train" / "a.ply", cloud_of(20, 1))
    write_cloud(base / "train" / "b.pcd", cloud_of(21, 2))
    write_cloud(base / "test" / "good" / "c.ply", cloud_of(22, 3, labels=gt_labels(22, 9)))
    write_cloud(base / "test" / "dent" / "d.ply", cloud_of(23, 4, labels=gt_labels(23, 4)))
    write_cloud(base / "test" / "dent" / "e.txt", cloud_of(24, 5, labels=gt_labels(24, 5)))
    write_cloud(base / "test" / "scratch" / "f.xyz", cloud_of(25, 6))
    np.savetxt(base / "test" / "scratch" / "f.labels.txt", gt_labels(25, 6), fmt="%d")
    write_cloud(base / "test" / "scratch" / "g.npy", cloud_of(26, 7))
    np.save(base / "test" / "scratch" / "g.labels.npy", gt_labels(26, 7))
    write_cloud(base / "test" / "unlabelled" / "h.ply", cloud_of(27, 8))
    write_cloud(root / "nut" / "train" / "a.ply", cloud_of(20, 1))
    return root


def test_folder_samples(folder):
    assert PointFolder.categories(folder) == ["nut", "screw"]
    train = PointFolder(folder, "screw", "train")
    assert [s.id for s in train] == ["train/good/a", "train/good/b"]
    test = {s.id: s for s in PointFolder(folder, "screw", "test")}
    assert sorted(test) == ["test/dent/d", "test/dent/e", "test/good/c", "test/scratch/f",
                            "test/scratch/g", "test/unlabelled/h"]
    assert test["test/good/c"].label == 0 and not test["test/good/c"].labels.any()
    for sample_id, n, seed in (("test/dent/d", 23, 4), ("test/dent/e", 24, 5),
                               ("test/scratch/f", 25, 6), ("test/scratch/g", 26, 7)):
        sample = test[sample_id]
        assert sample.label == 1 and sample.labels.dtype == np.uint8
        np.testing.assert_array_equal(sample.labels, gt_labels(n, seed))
    assert test["test/scratch/f"].gt_path.name == "f.labels.txt"
    np.testing.assert_array_equal(test["test/dent/e"].points, cloud_of(24, 5).points)
    assert test["test/unlabelled/h"].labels is None and test["test/unlabelled/h"].label == 1
    with pytest.raises(InputError, match="validation"):
        PointFolder(folder, "screw", "validation")


def test_folder_single_category_and_validation(folder):
    single = folder / "screw"
    assert PointFolder.categories(single) == ["screw"]
    assert len(PointFolder(single, None, "test")) == 6
    assert PointFolder(single, "screw", "train").category == "screw"
    write_cloud(single / "validation" / "good" / "v.ply", cloud_of(20, 1))
    assert [s.id for s in PointFolder(single, "screw", "validation")] == ["validation/good/v"]
    assert detect_format(single) == "folder"


def test_folder_ids_stay_unique(folder):
    write_cloud(folder / "nut" / "train" / "a.pcd", cloud_of(20, 1))
    assert [s.id for s in PointFolder(folder, "nut", "train")] == ["train/good/a.pcd",
                                                                   "train/good/a.ply"]
    write_cloud(folder / "nut" / "train" / "good" / "a.ply", cloud_of(20, 1))
    raises_naming(folder / "nut" / "train" / "good" / "a.ply", PointFolder, folder, "nut", "train")


def test_folder_errors(folder):
    labels = folder / "screw" / "test" / "scratch" / "f.labels.txt"
    np.savetxt(labels, np.zeros(24), fmt="%d")
    dataset = PointFolder(folder, "screw", "test")
    index = [s.id for s in dataset.samples].index("test/scratch/f")
    raises_naming(labels, dataset.__getitem__, index, match="24 labels")
    np.savetxt(labels, np.full(25, 2), fmt="%d")
    raises_naming(labels, dataset.__getitem__, index, match="0/1")
    stray = folder / "screw" / "test" / "stray.ply"
    write_cloud(stray, cloud_of(20, 1))
    raises_naming(stray, PointFolder, folder, "screw", "test")
    raises_naming(folder / "nut" / "test", PointFolder, folder, "nut", "test")


# ------------------------------------------------------------------------------ detection, loading


def test_detect_format_and_load_dataset(mvtec, real3d, shapenet, folder, tmp_path):
    assert detect_format(mvtec) == "mvtec3d"
    assert detect_format(real3d) == "real3d"
    assert detect_format(shapenet) == "shapenet"
    assert detect_format(shapenet / "pcd") == "shapenet"
    assert detect_format(folder) == "folder"
    assert set(DATASETS) == {"mvtec3d", "real3d", "shapenet", "folder"}
    for root, cls in ((mvtec, MVTec3D), (real3d, Real3DAD), (shapenet, AnomalyShapeNet),
                      (folder, PointFolder)):
        category = cls.categories(root)[0]
        dataset = load_dataset(root, category, "train")
        assert type(dataset) is cls and len(dataset) >= 1
    assert isinstance(load_dataset(real3d, "car", "test", center=True), Real3DAD)
    raises_naming("center", load_dataset, mvtec, "bagel", "test", center=True)
    raises_naming("plain", load_dataset, mvtec, "bagel", "test", format="plain")
    # a folder of a plain folder layout read as MVTec fails on its missing xyz/ folder
    raises_naming(folder / "screw" / "test" / "dent" / "xyz", load_dataset, folder, "screw",
                  "test", format="mvtec3d")
    # without any gt folder, the file names still tell the layouts apart
    shutil.rmtree(real3d / "airplane" / "gt")
    shutil.rmtree(real3d / "car" / "gt")
    assert detect_format(real3d) == "real3d"
    shutil.rmtree(shapenet / "pcd" / "ashtray0" / "GT")
    assert detect_format(shapenet / "pcd") == "shapenet"
    (tmp_path / "empty").mkdir()
    raises_naming(tmp_path / "empty", detect_format, tmp_path / "empty")
    raises_naming(tmp_path / "none", detect_format, tmp_path / "none")
    raises_naming("plane_distance", MVTec3D, mvtec, "bagel", "test", plane_distance=0)
