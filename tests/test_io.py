"""Tests of pointad.io: round trips for every format, dataset layouts, meshes, atomic writes,
errors."""
import json
import os

import numpy as np
import pytest
import tifffile
import trimesh

from pointad.errors import InputError
from pointad.io import (
    SUPPORTED_READ,
    SUPPORTED_WRITE,
    Cloud,
    atomic_write,
    read_cloud,
    write_cloud,
    write_json,
)

N = 64


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def cloud(rng):
    """An unorganized cloud with normals, labels and two fields."""
    normals = rng.normal(size=(N, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return Cloud(points=rng.normal(scale=10.0, size=(N, 3)), normals=normals,
                 labels=rng.integers(0, 2, N), fields={"soft_label": rng.random(N),
                                                       "displacement": rng.normal(size=N)})


@pytest.fixture
def organized(rng):
    """An organized 6 x 5 cloud with 20 of the 30 pixels present."""
    index = np.sort(rng.choice(30, size=20, replace=False))
    return Cloud(points=rng.uniform(1.0, 2.0, size=(20, 3)), grid_shape=(6, 5), grid_index=index,
                 labels=rng.integers(0, 2, 20), fields={"soft_label": rng.random(20)})


def assert_raises_naming(path, func, *args, match=None, **kwargs):
    """Call func and check it raises a one-line InputError that starts with the path."""
    with pytest.raises(InputError, match=match) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    return message


def no_temp_files(directory):
    return [p.name for p in directory.iterdir() if p.name.startswith(".")] == []


# ---------------------------------------------------------------- Cloud


def test_cloud_converts_dtypes(rng):
    c = Cloud(points=rng.random((5, 3)).astype(np.float32), labels=[0, 1, 1, 0, 1],
              grid_shape=(2, 3), grid_index=np.array([0, 1, 2, 4, 5], dtype=np.int32))
    assert c.points.dtype == np.float64 and c.labels.dtype == np.uint8
    assert c.grid_index.dtype == np.int64 and c.grid_shape == (2, 3)
    assert len(c) == 5 and c.organized and c.fields == {}


@pytest.mark.parametrize("kwargs, match", [
    ({"normals": np.zeros((4, 3))}, "normals has 4 entries"),
    ({"labels": np.zeros(6)}, "labels has 6 entries"),
    ({"labels": np.array([0, 2, 1, 0, 1])}, "other than 0/1"),
    ({"fields": {"soft_label": np.zeros(3)}}, "field 'soft_label' has 3 entries"),
    ({"fields": {"label": np.zeros(5)}}, "reserved"),
    ({"fields": {"bad name": np.zeros(5)}}, "letters, digits"),
    ({"grid_shape": (2, 3)}, "together"),
    ({"grid_shape": (2, 2), "grid_index": np.arange(5)}, "outside"),
    ({"grid_shape": (2, 3), "grid_index": np.array([0, 1, 1, 2, 3])}, "repeated"),
])
def test_cloud_rejects_inconsistent_arrays(rng, kwargs, match):
    with pytest.raises(InputError, match=match):
        Cloud(points=rng.random((5, 3)), **kwargs)


def test_cloud_rejects_bad_points_shape():
    with pytest.raises(InputError, match=r"shape \(N, 3\)"):
        Cloud(points=np.zeros((5, 2)))


# ---------------------------------------------------------------- round trips

# extension, binary, points tolerance, keeps normals, keeps labels, keeps fields (float32)
ROUND_TRIPS = [
    (".ply", True, 0.0, True, True, True),
    (".ply", False, 0.0, True, True, True),
    (".pcd", True, 1e-5, True, True, True),
    (".pcd", False, 1e-5, True, True, True),
    (".xyz", True, 0.0, True, True, False),
    (".txt", True, 0.0, True, True, False),
    (".csv", True, 0.0, True, True, False),
    (".npy", True, 0.0, True, True, False),
    (".npz", True, 0.0, True, True, True),
]


@pytest.mark.parametrize("ext, binary, tol, normals, labels, fields", ROUND_TRIPS)
def test_round_trip(tmp_path, cloud, ext, binary, tol, normals, labels, fields):
    path = write_cloud(tmp_path / f"cloud{ext}", cloud, binary=binary)
    assert path == tmp_path / f"cloud{ext}" and path.is_file()
    back = read_cloud(path)
    # PCD stores float32: tol is relative to the ~10 unit coordinates.
    np.testing.assert_allclose(back.points, cloud.points, rtol=0, atol=tol)
    assert back.points.dtype == np.float64
    if normals:
        np.testing.assert_allclose(back.normals, cloud.normals, rtol=0, atol=max(tol, 1e-7))
    if labels:
        np.testing.assert_array_equal(back.labels, cloud.labels)
        assert back.labels.dtype == np.uint8
    if fields:
        assert sorted(back.fields) == sorted(cloud.fields)
        for name, values in cloud.fields.items():
            exact = ext == ".npz"  # the others store fields as float32
            np.testing.assert_allclose(back.fields[name], values, rtol=0 if exact else 1e-6,
                                       atol=0 if exact else 1e-6)
    else:
        assert back.fields == {}
    assert no_temp_files(tmp_path)


def test_round_trip_points_only(tmp_path, rng):
    points = rng.random((N, 3))
    for ext in (".ply", ".pcd", ".xyz", ".csv", ".npy", ".npz"):
        back = read_cloud(write_cloud(tmp_path / f"p{ext}", Cloud(points)))
        np.testing.assert_allclose(back.points, points, atol=1e-7)
        assert back.normals is None and back.labels is None and not back.organized


@pytest.mark.parametrize("ext", [".tiff", ".tif", ".npz", ".pcd"])
def test_round_trip_organized(tmp_path, organized, ext):
    back = read_cloud(write_cloud(tmp_path / f"grid{ext}", organized))
    assert back.grid_shape == (6, 5)
    np.testing.assert_array_equal(back.grid_index, organized.grid_index)
    np.testing.assert_allclose(back.points, organized.points, atol=1e-6)
    if ext != ".tiff" and ext != ".tif":  # a TIFF holds xyz only
        np.testing.assert_array_equal(back.labels, organized.labels)
        np.testing.assert_allclose(back.fields["soft_label"], organized.fields["soft_label"],
                                   atol=1e-6)


def test_tiff_written_as_float32_image_with_zero_holes(tmp_path, organized):
    path = write_cloud(tmp_path / "grid.tiff", organized)
    image = tifffile.imread(path)
    assert image.shape == (6, 5, 3) and image.dtype == np.float32
    flat = image.reshape(-1, 3)
    missing = np.setdiff1d(np.arange(30), organized.grid_index)
    assert (flat[missing] == 0).all()
    np.testing.assert_allclose(flat[organized.grid_index], organized.points, atol=1e-6)


def test_write_uppercase_extension_and_ascii_ply_header(tmp_path, cloud):
    path = write_cloud(tmp_path / "UP.PLY", cloud, binary=False)
    head = path.read_text().split("end_header")[0]
    assert head.startswith("ply\nformat ascii 1.0\n")
    assert "property uchar label" in head and "property float soft_label" in head
    np.testing.assert_array_equal(read_cloud(path).labels, cloud.labels)


def test_binary_pcd_header(tmp_path, cloud):
    path = write_cloud(tmp_path / "c.pcd", cloud)
    header = path.read_bytes().split(b"DATA binary\n")[0].decode("ascii")
    assert "FIELDS x y z normal_x normal_y normal_z label soft_label displacement" in header
    assert f"WIDTH {N}\nHEIGHT 1" in header and f"POINTS {N}" in header


def test_csv_written_with_header(tmp_path, cloud):
    path = write_cloud(tmp_path / "c.csv", cloud)
    lines = path.read_text().splitlines()
    assert lines[0] == "x,y,z,nx,ny,nz,label"
    assert len(lines) == N + 1 and lines[1].count(",") == 6
    assert lines[1].split(",")[-1] in ("0", "1")


def test_supported_extensions():
    assert set(SUPPORTED_WRITE) <= set(SUPPORTED_READ)
    assert {".ply", ".pcd", ".obj", ".stl", ".tiff"} <= set(SUPPORTED_READ)
    assert ".obj" not in SUPPORTED_WRITE


# ---------------------------------------------------------------- dataset layouts


def test_read_csv_with_header(tmp_path):
    path = tmp_path / "gt.csv"
    path.write_text("x,y,z,nx,ny,nz\n1,2,3,0,0,1\n4.5,5,6,1,0,0\n")
    c = read_cloud(path)
    np.testing.assert_array_equal(c.points, [[1, 2, 3], [4.5, 5, 6]])
    np.testing.assert_array_equal(c.normals, [[0, 0, 1], [1, 0, 0]])
    assert c.labels is None


def test_read_real3d_style_txt(tmp_path):
    # Real3D-AD ground truth: whitespace separated x y z label, no header.
    path = tmp_path / "gt.txt"
    path.write_text("0.5 1.5 -2.0 0\n1.0 2.0 3.0 1\n\n-1 -2 -3 0.0\n")
    c = read_cloud(path)
    np.testing.assert_array_equal(c.points, [[0.5, 1.5, -2.0], [1, 2, 3], [-1, -2, -3]])
    np.testing.assert_array_equal(c.labels, [0, 1, 0])


def test_read_anomaly_shapenet_style_txt(tmp_path):
    # Anomaly-ShapeNet ground truth: comma separated x,y,z,label.
    path = tmp_path / "gt.txt"
    path.write_text("0.1,0.2,0.3,1\n0.4,0.5,0.6,0\n")
    c = read_cloud(path)
    np.testing.assert_array_equal(c.points, [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    np.testing.assert_array_equal(c.labels, [1, 0])


def test_read_tiff_with_missing_pixels(tmp_path, rng):
    image = rng.uniform(1.0, 2.0, size=(4, 5, 3)).astype(np.float32)
    image[0, 0] = 0
    image[2, 3] = 0
    image[3, 4] = 0
    image[1, 1, 0] = 0  # one zero coordinate is a real point, not a hole
    path = tmp_path / "xyz.tiff"
    tifffile.imwrite(path, image, photometric="rgb")
    c = read_cloud(path)
    expected = np.setdiff1d(np.arange(20), [0, 2 * 5 + 3, 3 * 5 + 4])
    assert len(c) == 17 and c.grid_shape == (4, 5)
    np.testing.assert_array_equal(c.grid_index, expected)
    np.testing.assert_array_equal(c.points, image.reshape(-1, 3)[expected].astype(np.float64))


def test_read_organized_npy(tmp_path, rng):
    image = rng.random((3, 4, 3)) + 1
    image[1, 2] = 0
    np.save(tmp_path / "xyz.npy", image)
    c = read_cloud(tmp_path / "xyz.npy")
    assert c.grid_shape == (3, 4) and len(c) == 11
    assert 1 * 4 + 2 not in c.grid_index
    np.testing.assert_array_equal(c.points, image.reshape(-1, 3)[c.grid_index])


def test_read_npy_seven_columns(tmp_path, rng):
    table = np.hstack([rng.random((10, 6)), rng.integers(0, 2, (10, 1))])
    np.save(tmp_path / "t.npy", table)
    c = read_cloud(tmp_path / "t.npy")
    np.testing.assert_array_equal(c.points, table[:, :3])
    np.testing.assert_array_equal(c.normals, table[:, 3:6])
    np.testing.assert_array_equal(c.labels, table[:, 6])


def test_read_npz_extra_keys(tmp_path, rng):
    points = rng.random((10, 3))
    np.savez(tmp_path / "c.npz", points=points, curvature=np.arange(10.0), meta=np.zeros((2, 2)))
    c = read_cloud(tmp_path / "c.npz")
    np.testing.assert_array_equal(c.points, points)
    assert list(c.fields) == ["curvature"]
    np.testing.assert_array_equal(c.fields["curvature"], np.arange(10.0))


def test_npz_fields_named_like_savez_parameters(tmp_path, rng):
    # np.savez(f, **arrays) took these for its own parameters: "file" failed, "allow_pickle"
    # was dropped.
    fields = {"file": np.arange(5.0), "allow_pickle": np.ones(5), "args": np.zeros(5)}
    cloud = Cloud(points=rng.random((5, 3)), fields=fields)
    back = read_cloud(write_cloud(tmp_path / "c.npz", cloud))
    assert sorted(back.fields) == sorted(fields)
    for name, values in fields.items():
        np.testing.assert_array_equal(back.fields[name], values)


def test_read_ply_extra_properties(tmp_path):
    path = tmp_path / "c.ply"
    path.write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
                    "property float z\nproperty uchar red\nproperty int label\n"
                    "element face 0\nproperty list uchar int vertex_indices\nend_header\n"
                    "1 2 3 255 1\n4 5 6 0 0\n")
    c = read_cloud(path)
    np.testing.assert_array_equal(c.points, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(c.labels, [1, 0])
    np.testing.assert_array_equal(c.fields["red"], [255, 0])
    assert c.normals is None


@pytest.mark.parametrize("binary", [True, False])
def test_written_ply_is_standard(tmp_path, cloud, binary):
    # plyfile's reader (not our ascii fast path) agrees with what we wrote.
    from plyfile import PlyData
    path = write_cloud(tmp_path / "c.ply", cloud, binary=binary)
    vertex = PlyData.read(str(path))["vertex"]
    np.testing.assert_array_equal(np.column_stack([vertex["x"], vertex["y"], vertex["z"]]),
                                  cloud.points)
    np.testing.assert_array_equal(vertex["label"], cloud.labels)
    np.testing.assert_allclose(vertex["soft_label"], cloud.fields["soft_label"], rtol=1e-6)


def test_read_ascii_ply_with_faces_before_vertices(tmp_path):
    # Not the fast-path layout: plyfile reads it, and the faces are ignored.
    path = tmp_path / "mesh.ply"
    path.write_text("ply\nformat ascii 1.0\nelement face 1\n"
                    "property list uchar int vertex_indices\n"
                    "element vertex 3\nproperty double x\nproperty double y\nproperty double z\n"
                    "property double nx\nproperty double ny\nproperty double nz\nend_header\n"
                    "3 0 1 2\n0 0 0 0 0 1\n1 0 0 0 0 1\n0 1 0 0 0 1\n")
    c = read_cloud(path)
    np.testing.assert_array_equal(c.points, [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(c.normals, np.tile([0.0, 0, 1], (3, 1)))


def test_read_organized_ascii_pcd_with_nan_pixels(tmp_path):
    path = tmp_path / "o.pcd"
    path.write_text("# organized\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"
                    "WIDTH 2\nHEIGHT 2\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 4\nDATA ascii\n"
                    "1 2 3\nnan nan nan\n4 5 6\n7 8 9\n")
    c = read_cloud(path)
    assert c.grid_shape == (2, 2)
    np.testing.assert_array_equal(c.grid_index, [0, 2, 3])
    np.testing.assert_array_equal(c.points, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])


@pytest.mark.parametrize("binary", [True, False])
def test_read_pcd_with_histogram_and_padding(tmp_path, binary):
    # COUNT > 1 fields (feature histograms) and '_' padding are skipped; U 4 label and a
    # double field are read.
    records = np.zeros(3, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("hist", "<f4", (2,)),
                                 ("_", "<u1", (3,)), ("label", "<u4"), ("curv", "<f8")])
    records["x"] = [1, 2, 3]
    records["hist"] = 7
    records["label"] = [0, 1, 1]
    records["curv"] = [0.5, 0.25, 0.125]
    header = ("VERSION .7\nFIELDS x y z hist _ label curv\nSIZE 4 4 4 4 1 4 8\nTYPE F F F F U U F\n"
              "COUNT 1 1 1 2 3 1 1\nWIDTH 3\nHEIGHT 1\nPOINTS 3\n")
    path = tmp_path / "h.pcd"
    if binary:
        path.write_bytes(header.encode() + b"DATA binary\n" + records.tobytes())
    else:
        rows = "".join(f"{r['x']} 0 0 7 7 0 0 0 {r['label']} {r['curv']}\n" for r in records)
        path.write_text(header + "DATA ascii\n" + rows)
    c = read_cloud(path)
    np.testing.assert_array_equal(c.points[:, 0], [1, 2, 3])
    np.testing.assert_array_equal(c.labels, [0, 1, 1])
    assert list(c.fields) == ["curv"]
    np.testing.assert_array_equal(c.fields["curv"], [0.5, 0.25, 0.125])


def test_messages_keep_the_path_as_written(tmp_path, monkeypatch, cloud):
    monkeypatch.chdir(tmp_path)
    message = str(pytest.raises(InputError, read_cloud, "./nope.pcd").value)
    assert message == "./nope.pcd: file not found"
    write_cloud("./out/c.npz", cloud)
    message = str(pytest.raises(InputError, write_cloud, "./out/c.npz", cloud).value)
    assert message == "./out/c.npz exists; refusing to overwrite it"
    np.testing.assert_array_equal(read_cloud("out/c.npz").points, cloud.points)


# ---------------------------------------------------------------- meshes

BOX = (2.0, 4.0, 6.0)


@pytest.fixture(scope="module")
def box_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("meshes")
    box = trimesh.creation.box(extents=BOX)
    paths = {}
    for ext in (".obj", ".stl"):
        paths[ext] = directory / f"box{ext}"
        box.export(paths[ext])
    return paths


@pytest.mark.parametrize("ext", [".obj", ".stl"])
def test_mesh_points_lie_on_box_surface(box_files, ext):
    c = read_cloud(box_files[ext], mesh_points=500, seed=3)
    half = np.array(BOX) / 2
    scaled = np.abs(c.points) / half
    assert c.points.shape == (500, 3)
    assert (scaled <= 1 + 1e-9).all()
    np.testing.assert_allclose(scaled.max(axis=1), 1.0, atol=1e-9)  # on a face, not inside
    # The normal is the outward axis of the face the point lies on.
    np.testing.assert_allclose(np.linalg.norm(c.normals, axis=1), 1.0, atol=1e-12)
    axis = np.abs(c.normals).argmax(axis=1)
    np.testing.assert_allclose(scaled[np.arange(500), axis], 1.0, atol=1e-9)
    assert (np.sign(c.normals[np.arange(500), axis])
            == np.sign(c.points[np.arange(500), axis])).all()
    # Area-uniform: the two 4 x 6 faces (normal along x) hold about 48 / 88 of the points.
    assert 0.45 < (axis == 0).mean() < 0.64
    assert 0.08 < (axis == 2).mean() < 0.28  # the two 2 x 4 faces: 16 / 88


def test_mesh_sampling_is_seeded(box_files):
    a = read_cloud(box_files[".obj"], mesh_points=200, seed=7)
    b = read_cloud(box_files[".obj"], mesh_points=200, seed=7)
    other = read_cloud(box_files[".obj"], mesh_points=200, seed=8)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.normals, b.normals)
    assert not np.allclose(a.points, other.points)


def test_mesh_without_faces(tmp_path):
    path = tmp_path / "verts.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    assert "no faces" in assert_raises_naming(path, read_cloud, path)


def test_mesh_points_must_be_positive(box_files):
    with pytest.raises(InputError, match="mesh_points"):
        read_cloud(box_files[".obj"], mesh_points=0)


# ---------------------------------------------------------------- atomic writes and JSON


def test_atomic_write_places_file_via_hidden_temp(tmp_path):
    target = tmp_path / "sub" / "dir" / "out.ply"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".out.ply")
        assert tmp.suffix == ".ply" and tmp.exists() and not target.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert no_temp_files(target.parent)


def test_atomic_write_exception_leaves_target_untouched(tmp_path):
    target = tmp_path / "out.txt"
    target.write_bytes(b"original")
    with pytest.raises(RuntimeError):
        with atomic_write(target, overwrite=True) as tmp:
            tmp.write_bytes(b"half written")
            raise RuntimeError("writer crashed")
    assert target.read_bytes() == b"original"
    assert no_temp_files(tmp_path)
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "new.txt") as tmp:
            raise RuntimeError("writer crashed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_write_refuses_existing_file(tmp_path, cloud):
    target = tmp_path / "out.ply"
    target.write_bytes(b"original bytes")
    message = assert_raises_naming(target, write_cloud, target, cloud,
                                   match="refusing to overwrite")
    assert message == f"{target} exists; refusing to overwrite it"
    assert target.read_bytes() == b"original bytes"
    assert no_temp_files(tmp_path)


def test_atomic_write_no_clobber_when_file_appears_meanwhile(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(InputError, match="refusing to overwrite"):
        with atomic_write(target) as tmp:
            tmp.write_bytes(b"ours")
            target.write_bytes(b"theirs")  # another process wins the race
    assert target.read_bytes() == b"theirs"
    assert no_temp_files(tmp_path)


def test_overwrite_replaces(tmp_path, cloud):
    target = tmp_path / "out.npz"
    target.write_bytes(b"original bytes")
    write_cloud(target, cloud, overwrite=True)
    np.testing.assert_array_equal(read_cloud(target).points, cloud.points)
    assert no_temp_files(tmp_path)


def test_write_json(tmp_path):
    path = tmp_path / "params.json"
    obj = {"b": np.float32(0.5), "a": np.arange(3), "n": np.int64(4), "t": (1, 2), "path": tmp_path}
    assert write_json(path, obj) == path
    text = path.read_text()
    assert json.loads(text) == {"a": [0, 1, 2], "b": 0.5, "n": 4, "t": [1, 2],
                                "path": str(tmp_path)}
    assert text.index('"a"') < text.index('"b"') and '\n  "a": [' in text
    assert_raises_naming(path, write_json, path, {"x": 1}, match="refusing")
    write_json(path, {"x": 1}, overwrite=True)
    assert json.loads(path.read_text()) == {"x": 1}
    assert_raises_naming(path, write_json, path, {"x": float("nan")}, overwrite=True, match="JSON")
    assert json.loads(path.read_text()) == {"x": 1}
    blocked = path / "sub.json"  # parent is a file
    assert_raises_naming(blocked, write_json, blocked, {"x": 1}, match="cannot write")


# ---------------------------------------------------------------- bad input


def _truncated_binary_ply(tmp_path, cloud):
    path = write_cloud(tmp_path / "t.ply", cloud)
    path.write_bytes(path.read_bytes()[:-50])
    return path


def _truncated_binary_pcd(tmp_path, cloud):
    path = write_cloud(tmp_path / "t.pcd", cloud)
    path.write_bytes(path.read_bytes()[:-50])
    return path


def _write(name, content):
    def make(tmp_path, cloud):
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path
    return make


def _tiff_2d(tmp_path, cloud):
    path = tmp_path / "depth.tiff"
    tifffile.imwrite(path, np.ones((4, 5), dtype=np.float32))
    return path


def _tiff_all_zero(tmp_path, cloud):
    path = tmp_path / "zero.tif"
    tifffile.imwrite(path, np.zeros((4, 5, 3), dtype=np.float32), photometric="rgb")
    return path


def _compressed_pcd(tmp_path, cloud):
    path = write_cloud(tmp_path / "c.pcd", cloud)
    path.write_bytes(path.read_bytes().replace(b"DATA binary", b"DATA binary_compressed"))
    return path


BAD_FILES = [
    (_truncated_binary_ply, "early end-of-file"),
    (_write("garbage.ply", b"not a ply file\n"), "cannot read PLY"),
    (_write("short.ply", "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
            "property float y\nproperty float z\nend_header\n1 2 3\n4 5 6\n"), "truncated: 2 of 3"),
    (_write("noxyz.ply", "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n"
            "property float y\nend_header\n1 2\n"), "lacks coordinate"),
    (_write("nolabel.ply", "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n"
            "property float y\nproperty float z\nproperty float label\nend_header\n1 2 3 0.5\n"),
     "other than 0/1"),
    (_truncated_binary_pcd, "truncated"),
    (_compressed_pcd, "binary_compressed PCD is not supported"),
    (_write("nodata.pcd", "VERSION 0.7\nFIELDS x y z\n"), "no DATA line"),
    (_write("bad.txt", "x y z\n1 2 3\n\n4 five 6\n"), "line 4 is not numeric: '4 five 6'"),
    (_write("ragged.xyz", "1 2 3\n4 5\n"), "line 2 has 2 values, the lines before it 3"),
    (_write("ragged.csv", "1,2,3\n4,5,6,\n"), "line 2 is not numeric"),
    (_write("cols.csv", "1,2,3,4,5\n"), "5 columns"),
    (_write("label.txt", "1 2 3 0\n4 5 6 2\n"), "other than 0/1"),
    (_write("twoheaders.csv", "x,y,z\na,b,c\n1,2,3\n"), "line 2 is not numeric"),
    (_write("empty.txt", ""), "contains no points"),
    (_write("header_only.csv", "x,y,z\n"), "contains no points"),
    (_write("corrupt.npy", b"\x93NUMPY garbage"), "cannot read NPY"),
    (_write("corrupt.npz", b"PK garbage"), "not an .npz"),
    (_write("corrupt.tiff", b"not a tiff"), "cannot read TIFF"),
    (_tiff_2d, r"\(H, W, 3\)"),
    (_tiff_all_zero, "contains no points"),
    (_write("corrupt.glb", b"glTF garbage"), "cannot read mesh"),
]


@pytest.mark.parametrize("make, match", BAD_FILES, ids=[m for _, m in BAD_FILES])
def test_bad_files_raise_input_error(tmp_path, cloud, make, match):
    path = make(tmp_path, cloud)
    message = assert_raises_naming(path, read_cloud, path, match=match)
    assert path.name in message


def test_npy_label_column_checked(tmp_path):
    path = tmp_path / "l.npy"
    np.save(path, np.array([[0, 0, 0, 0.5]]))
    assert_raises_naming(path, read_cloud, path, match="other than 0/1")


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.ply"
    assert assert_raises_naming(missing, read_cloud, missing) == f"{missing}: file not found"
    directory = tmp_path / "dir.ply"
    directory.mkdir()
    assert_raises_naming(directory, read_cloud, directory, match="is a directory")


def test_unknown_extension(tmp_path, cloud):
    path = tmp_path / "cloud.las"
    path.write_bytes(b"x")
    message = assert_raises_naming(path, read_cloud, path, match="extension .las")
    assert ".ply" in message and ".obj" in message
    message = assert_raises_naming(path, write_cloud, path, cloud, match="extension .las")
    assert ".pcd" in message and ".obj" not in message
    assert path.read_bytes() == b"x"


def test_write_tiff_needs_organized_cloud(tmp_path, cloud):
    path = tmp_path / "c.tiff"
    assert_raises_naming(path, write_cloud, path, cloud, match="not organized")
    assert not path.exists() and no_temp_files(tmp_path)


def test_write_refuses_empty_cloud_and_non_cloud(tmp_path):
    path = tmp_path / "e.ply"
    assert_raises_naming(path, write_cloud, path, Cloud(np.empty((0, 3))), match="no points")
    assert_raises_naming(path, write_cloud, path, np.zeros((3, 3)), match="Cloud")
    assert os.listdir(tmp_path) == []
