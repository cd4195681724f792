"""The catalogue of bad inputs (issue 13): every verb and the public API answer each one with a
clear one-line error, or with the right output.

CLI cases run ``pnas`` in-process (an uncaught exception fails the test: no traceback can hide)
and check: exit status 2, exactly one line on stderr starting with ``pnas: error:``, nothing
written in the output location, and every input file byte-identical afterwards. Inputs are tiny
clouds (300 points) written once per module.
"""
import hashlib
import json

import numpy as np
import pytest

from conftest import sphere_points
from pointad.cli import main
from pointad.errors import InputError
from pointad.io import Cloud, read_cloud, write_cloud

N = 300
BIG_SEED = str(2**64)


def _sphere(seed=0, radius=1.0, n=N):
    return sphere_points(n, radius=radius, seed=seed)


def _replace(path, new, old, by):
    new.write_bytes(path.read_bytes().replace(old, by))


def _fewer_header_files(d):
    """Clouds whose header declares fewer (or more) points than the file holds."""
    pts, _ = _sphere()
    write_cloud(d / "ok.ply", Cloud(points=pts))
    write_cloud(d / "ok_ascii.ply", Cloud(points=pts), binary=False)
    write_cloud(d / "ok.pcd", Cloud(points=pts))
    write_cloud(d / "ok_ascii.pcd", Cloud(points=pts), binary=False)
    _replace(d / "ok.ply", d / "fewer.ply", b"element vertex 300", b"element vertex 200")
    _replace(d / "ok_ascii.ply", d / "fewer_ascii.ply", b"element vertex 300",
             b"element vertex 200")
    _replace(d / "ok.ply", d / "more.ply", b"element vertex 300", b"element vertex 400")
    for src, name in (("ok.pcd", "fewer.pcd"), ("ok_ascii.pcd", "fewer_ascii.pcd")):
        (d / name).write_bytes((d / src).read_bytes().replace(b"WIDTH 300", b"WIDTH 200")
                               .replace(b"POINTS 300", b"POINTS 200"))
    (d / "more.pcd").write_bytes((d / "ok.pcd").read_bytes().replace(b"WIDTH 300", b"WIDTH 400")
                                 .replace(b"POINTS 300", b"POINTS 400"))
    (d / "trunc.ply").write_bytes((d / "ok.ply").read_bytes()[:-100])
    # Meshes: faces after the vertices (plyfile's path); one face row too many.
    from plyfile import PlyData, PlyElement

    vertex = np.array([tuple(p) for p in pts], dtype=[("x", "f8"), ("y", "f8"), ("z", "f8")])
    face = np.array([([0, 1, 2],), ([0, 1, 3],)], dtype=[("vertex_indices", "i4", (3,))])
    for text, name in ((True, "mesh_ascii"), (False, "mesh")):
        PlyData([PlyElement.describe(vertex, "vertex"), PlyElement.describe(face, "face")],
                text=text).write(str(d / f"{name}.ply"))
    (d / "mesh_ascii_extra.ply").write_bytes((d / "mesh_ascii.ply").read_bytes() + b"3 1 2 3\n")
    (d / "mesh_extra.ply").write_bytes((d / "mesh.ply").read_bytes() + b"\x03\x01\x00")


def _array_files(d):
    pts, _ = _sphere()
    (d / "empty.ply").write_bytes(b"")
    (d / "empty.npy").write_bytes(b"")
    (d / "empty.npz").write_bytes(b"")
    np.save(d / "full.npy", pts)
    (d / "trunc.npy").write_bytes((d / "full.npy").read_bytes()[:500])
    write_cloud(d / "full.npz", Cloud(points=pts))
    (d / "trunc.npz").write_bytes((d / "full.npz").read_bytes()[:700])
    np.save(d / "bool.npy", pts > 0)
    np.save(d / "complex.npy", pts.astype(complex))
    np.savez(d / "nopoints.npz", xyz=pts)
    np.save(d / "scores_empty.npy", np.zeros(0))  # a valid array, but no scores
    (d / "scores_trunc.npy").write_bytes((d / "full.npy").read_bytes()[:200])
    np.savez(d / "scores.npy.npz", scores=np.zeros(N))
    (d / "scores_archive.npy").write_bytes((d / "scores.npy.npz").read_bytes())
    np.save(d / "scores_short.npy", np.zeros(10))
    np.save(d / "scores_nan.npy", np.full(N, np.nan))
    np.save(d / "scores_complex.npy", np.zeros(N, complex))


def _text_files(d):
    rng = np.random.default_rng(0)
    pts, _ = _sphere()
    rows = pts.tolist()
    rows[7][1] = "nan"
    rows[20][0] = "nan"
    _table(d / "nan.xyz", rows)
    _table(d / "identical.xyz", [[1.5, 2.5, 3.5]] * N)
    _table(d / "collinear.xyz", [[t, 2 * t, 3 * t] for t in np.linspace(0, 1, N)])
    _table(d / "few.xyz", rng.normal(size=(12, 3)).tolist())
    _table(d / "nonnum.xyz", pts[:9].tolist() + [["1", "2", "x"]] + pts[10:].tolist())
    _table(d / "labels5.xyz", [list(p) + [5] for p in pts])
    _table(d / "huge.xyz", (pts * 1e100).tolist())
    _table(d / "tiny.xyz", (pts * 1e-13).tolist())
    (d / "noz.ply").write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\n"
                               "property float y\nend_header\n0 0\n1 1\n")
    (d / "cloud.foo").write_text("1 2 3\n")
    (d / "empty_dir").mkdir()


def _table(path, rows):
    path.write_text("\n".join(" ".join(str(v) for v in r) for r in rows) + "\n")


def _detector_files(d):
    from pointad.detectors import create

    det = create("raw", max_template_points=200, align_points=100, icp_iterations=3, pca=False)
    det.fit([_sphere(1)[0], _sphere(2)[0]])
    path = det.save(d / "det.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(d / "det_missing.npz", **{k: v for k, v in arrays.items() if k != "template_1"})
    meta = json.loads(str(arrays["__meta__"]))
    meta.pop("arrays", None)  # a file from before the array list: no template at all
    np.savez(d / "det_old.npz", __meta__=np.array(json.dumps(meta)))
    np.savez(d / "det_nometa.npz", template_0=arrays["template_0"])
    (d / "det_trunc.npz").write_bytes(path.read_bytes()[:300])
    (d / "det_empty.npz").write_bytes(b"")
    np.save(d / "det.npy", arrays["template_0"])


def _dataset(root, *, nan_test=False, nan_train=False, fewer=False, gt=None):
    """A plain-folder dataset (one category, 2 train, 1 good and 1 bad test cloud)."""
    from pointad.synthesis import PNAS

    for i in range(2):
        pts = _sphere(10 + i)[0]
        if nan_train and i == 1:
            pts[[3, 9]] = np.nan
        write_cloud(root / "cat" / "train" / f"t{i}.ply", Cloud(points=pts))
    write_cloud(root / "cat" / "test" / "good" / "g0.ply", Cloud(points=_sphere(20)[0]))
    pts, nrm = _sphere(21)
    s = PNAS(strength=0.05, fraction=0.05, sign="bump")(pts, nrm, seed=0)
    bad = s.points.copy()
    if nan_test:
        bad[[4, 17]] = np.nan
    path = root / "cat" / "test" / "bad" / "b0.ply"
    write_cloud(path, Cloud(points=bad, labels=None if gt else s.labels))
    if fewer:
        data = path.read_bytes()
        path.write_bytes(data.replace(b"element vertex 300", b"element vertex 250"))
    if gt == "short":
        (path.parent / "b0.labels.txt").write_text("0\n1\n0\n")
    if gt == "empty_npy":
        (path.parent / "b0.labels.npy").write_bytes(b"")


def _mvtec(root):
    """The smallest MVTec 3D-AD layout: one organized training scan."""
    h, w = 20, 15
    r, c = np.mgrid[0:h, 0:w]
    pts = np.stack([c * 0.001, r * 0.001, 0.5 + 0.0001 * c], axis=-1).reshape(-1, 3)
    write_cloud(root / "cat" / "train" / "good" / "xyz" / "000.tiff",
                Cloud(points=pts, grid_shape=(h, w), grid_index=np.arange(h * w)))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    _fewer_header_files(d)
    _array_files(d)
    _text_files(d)
    _detector_files(d)
    _dataset(d / "ds")
    _dataset(d / "ds_nan_test", nan_test=True)
    _dataset(d / "ds_nan_train", nan_train=True)
    _dataset(d / "ds_fewer", fewer=True)
    _dataset(d / "ds_gt_short", gt="short")
    _dataset(d / "ds_gt_empty", gt="empty_npy")
    _mvtec(d / "mvtec")
    (d / "ds_stray" / "cat" / "test").mkdir(parents=True)
    write_cloud(d / "ds_stray" / "cat" / "train" / "t.ply", Cloud(points=_sphere()[0]))
    write_cloud(d / "ds_stray" / "cat" / "test" / "x.ply", Cloud(points=_sphere()[0]))
    (d / "results.json").write_text(json.dumps({
        "method": "raw", "format": "folder", "data": str(d / "ds"),
        "categories": [{"category": "cat"}], "mean": {}}))
    (d / "trunc.json").write_text('{"method": "raw", "categ')
    return d


def _snapshot(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(inputs, tmp_path, capsys, args):
    out = tmp_path / "out"
    argv = [a.format(inp=inputs, out=out) for a in args]
    before = _snapshot(inputs)
    code = main(argv)
    stdout, err = capsys.readouterr()
    return code, stdout, err, out, before


SMALL = ["--sample-points", "500"]
SHOT = ["--screenshot", "{out}/a.png"]

# (id, arguments, a part of the one-line message). {inp}: the module's input folder, {out}:
# an output location that must stay empty.
CLI_CASES = [
    # -- pnas generate: files --------------------------------------------------------------
    ("gen-missing", ["generate", "{inp}/none.ply", "-o", "{out}"], "none.ply: file not found"),
    ("gen-empty-dir", ["generate", "{inp}/empty_dir", "-o", "{out}"], "holds no clouds"),
    ("gen-unknown-ext", ["generate", "{inp}/cloud.foo", "-o", "{out}"], "extension .foo"),
    ("gen-ply-fewer", ["generate", "{inp}/fewer.ply", "-o", "{out}"],
     "fewer.ply: holds more data than its header declares (200 vertex)"),
    ("gen-ply-ascii-fewer", ["generate", "{inp}/fewer_ascii.ply", "-o", "{out}"],
     "fewer_ascii.ply: holds 300 vertices but its header declares 200"),
    ("gen-mesh-ascii-extra", ["generate", "{inp}/mesh_ascii_extra.ply", "-o", "{out}"],
     "mesh_ascii_extra.ply: holds more data than its header declares (300 vertex, 2 face)"),
    ("gen-mesh-extra", ["generate", "{inp}/mesh_extra.ply", "-o", "{out}"],
     "mesh_extra.ply: holds more data than its header declares (300 vertex, 2 face): 3 more"),
    ("gen-ply-more", ["generate", "{inp}/more.ply", "-o", "{out}"], "more.ply: cannot read PLY"),
    ("gen-ply-trunc", ["generate", "{inp}/trunc.ply", "-o", "{out}"], "trunc.ply: cannot read"),
    ("gen-ply-empty", ["generate", "{inp}/empty.ply", "-o", "{out}"], "empty.ply"),
    ("gen-ply-noz", ["generate", "{inp}/noz.ply", "-o", "{out}"], "lacks coordinate(s) z"),
    ("gen-pcd-fewer", ["generate", "{inp}/fewer.pcd", "-o", "{out}"],
     "fewer.pcd: binary data holds 300 points but the header declares 200"),
    ("gen-pcd-ascii-fewer", ["generate", "{inp}/fewer_ascii.pcd", "-o", "{out}"],
     "fewer_ascii.pcd: ascii data has"),
    ("gen-pcd-more", ["generate", "{inp}/more.pcd", "-o", "{out}"],
     "more.pcd: binary data is truncated: 300 of 400"),
    ("gen-npy-empty", ["generate", "{inp}/empty.npy", "-o", "{out}"], "empty.npy: cannot read"),
    ("gen-npy-trunc", ["generate", "{inp}/trunc.npy", "-o", "{out}"], "trunc.npy: cannot read"),
    ("gen-npy-bool", ["generate", "{inp}/bool.npy", "-o", "{out}"], "expected real numbers"),
    ("gen-npy-complex", ["generate", "{inp}/complex.npy", "-o", "{out}"],
     "expected real numbers"),
    ("gen-npz-empty", ["generate", "{inp}/empty.npz", "-o", "{out}"], "not an .npz"),
    ("gen-npz-trunc", ["generate", "{inp}/trunc.npz", "-o", "{out}"], "trunc.npz"),
    ("gen-npz-nopoints", ["generate", "{inp}/nopoints.npz", "-o", "{out}"],
     "has no 'points' array"),
    ("gen-nan", ["generate", "{inp}/nan.xyz", "-o", "{out}"],
     "nan.xyz: points contain 2 non-finite (NaN/inf) rows, first at index 7"),
    ("gen-identical", ["generate", "{inp}/identical.xyz", "-o", "{out}"], "all identical"),
    ("gen-collinear", ["generate", "{inp}/collinear.xyz", "-o", "{out}"], "collinear"),
    ("gen-few", ["generate", "{inp}/few.xyz", "-o", "{out}"], "fewer than the normal"),
    ("gen-nonnumeric", ["generate", "{inp}/nonnum.xyz", "-o", "{out}"], "nonnum.xyz"),
    ("gen-labels5", ["generate", "{inp}/labels5.xyz", "-o", "{out}"], "other than 0/1"),
    ("gen-huge", ["generate", "{inp}/huge.xyz", "-o", "{out}"],
     "huge.xyz: points have coordinates up to"),
    ("gen-huge-mix", ["generate", "{inp}/huge.xyz", "-o", "{out}", "--defect", "bulge"],
     "huge.xyz: points have coordinates up to"),
    # -- pnas generate: options ------------------------------------------------------------
    ("gen-seed-neg", ["generate", "-o", "{out}", "--seed", "-1"], "--seed must be >= 0"),
    ("gen-seed-2**64", ["generate", "-o", "{out}", "--seed", BIG_SEED], "--seed must be <="),
    ("gen-seed-count", ["generate", "-o", "{out}", "--seed", str(2**63 - 1), "--count", "2"],
     "the last seed"),
    ("gen-seed-text", ["generate", "-o", "{out}", "--seed", "one"], "invalid int value"),
    ("gen-count-0", ["generate", "-o", "{out}", "--count", "0"], "--count must be >= 1"),
    ("gen-scale-0", ["generate", "-o", "{out}", "--scale", "0"], "scale must be > 0"),
    ("gen-octaves-0", ["generate", "-o", "{out}", "--octaves", "0"], "octaves must be >= 1"),
    ("gen-strength-neg", ["generate", "-o", "{out}", "--strength", "-1"],
     "strength must be >= 0"),
    ("gen-strength-nan", ["generate", "-o", "{out}", "--strength", "nan"],
     "strength must be finite"),
    ("gen-strength-0", ["generate", "{inp}/ok.ply", "-o", "{out}", "--strength", "0"],
     "ok.ply, seed 0: the defect labels no point anomalous; --strength is 0"),
    ("gen-strength-tiny", ["generate", "{inp}/ok.ply", "-o", "{out}", "--strength", "1e-300"],
     "the defect moves no point; raise --strength"),
    ("gen-threshold-extreme", ["generate", "{inp}/ok.ply", "-o", "{out}", "--mode", "paper",
                               "--transfer", "threshold", "--threshold", "0.999999"],
     "labels no point anomalous; lower --threshold"),
    ("gen-threshold-1", ["generate", "-o", "{out}", "--threshold", "1"], "threshold must be < 1"),
    ("gen-fraction-0", ["generate", "-o", "{out}", "--fraction", "0"], "fraction must be > 0"),
    ("gen-fraction-big", ["generate", "-o", "{out}", "--fraction", "0.9"], "fraction must be <="),
    ("gen-falloff-0", ["generate", "-o", "{out}", "--falloff", "0"], "falloff must be > 0"),
    ("gen-resolution-1", ["generate", "-o", "{out}", "--resolution", "1"], "resolution must be"),
    ("gen-normal-k-2", ["generate", "{inp}/ok.ply", "-o", "{out}", "--normal-k", "2"],
     "normal_k must be >= 3"),
    ("gen-normal-radius-0", ["generate", "-o", "{out}", "--normal-radius", "0"],
     "normal_radius must be > 0"),
    ("gen-projection-grid", ["generate", "{inp}/ok.ply", "-o", "{out}", "--projection", "grid"],
     "needs an organized cloud"),
    ("gen-projection-choice", ["generate", "-o", "{out}", "--projection", "uv"],
     "invalid choice"),
    ("gen-format", ["generate", "-o", "{out}", "--format", "obj"], "invalid choice"),
    ("gen-unknown-option", ["generate", "-o", "{out}", "--colour", "red"], "unrecognized"),
    ("gen-out-is-file", ["generate", "-o", "{inp}/ok.ply"], "exists and is not a directory"),
    ("gen-same-stem", ["generate", "{inp}/ok.ply", "{inp}/ok.pcd", "-o", "{out}"],
     "share the name 'ok'"),
    ("gen-defect-unknown", ["generate", "-o", "{out}", "--defect", "blister"],
     "unknown defect kind 'blister'"),
    ("gen-defect-weight", ["generate", "-o", "{out}", "--defect", "bulge:-1"],
     "the weight must be a finite number >= 0"),
    ("gen-defect-twice", ["generate", "-o", "{out}", "--defect", "bulge", "--defect", "bulge"],
     "given twice"),
    ("gen-defect-param-taken", ["generate", "-o", "{out}", "--defect", "hole",
                                "--defect-param", "aspect=3"], "not taken by the kind hole"),
    ("gen-defect-param-form", ["generate", "-o", "{out}", "--defect", "ridge",
                               "--defect-param", "aspect"], "must be KEY=VALUE"),
    ("gen-defect-param-range", ["generate", "-o", "{out}", "--defect", "ridge",
                                "--defect-param", "aspect=1,2,3"], "a range is LO,HI"),
    ("gen-height-neg", ["generate", "-o", "{out}", "--defect", "bulge", "--height", "-1"],
     "--height"),
    ("gen-height-three", ["generate", "-o", "{out}", "--defect", "bulge", "--height", "1,2,3"],
     "--height must be H or LO,HI"),
    ("gen-height-alone", ["generate", "-o", "{out}", "--height", "2"], "need --defect"),
    ("gen-per-sample-0", ["generate", "-o", "{out}", "--defect", "bulge",
                          "--defects-per-sample", "0"], "--defects-per-sample"),
    ("gen-per-sample-order", ["generate", "-o", "{out}", "--defect", "bulge",
                              "--defects-per-sample", "3-1"], "LO <= HI"),
    ("gen-mix-pnas-option", ["generate", "-o", "{out}", "--defect", "bulge", "--scale", "3"],
     "--scale sets the 3D-PNAS synthesizer"),
    # -- pnas bench make ---------------------------------------------------------------------
    ("bench-seed-neg", ["bench", "make", "-o", "{out}/b", "--seed", "-1"], "--seed must be >= 0"),
    ("bench-seed-2**64", ["bench", "make", "-o", "{out}/b", "--seed", BIG_SEED],
     "--seed must be <="),
    ("bench-categories-empty", ["bench", "make", "-o", "{out}/b", "--categories", ","],
     "--categories is empty"),
    ("bench-category-unknown", ["bench", "make", "-o", "{out}/b", "--categories", "teapot"],
     "unknown category 'teapot'"),
    ("bench-kinds-unknown", ["bench", "make", "-o", "{out}/b", "--kinds", "kitti"],
     "unknown layout 'kitti'"),
    ("bench-realistic-mvtec", ["bench", "make", "-o", "{out}/b", "--preset", "realistic",
                               "--kinds", "mvtec3d"], "real3d layout only"),
    ("bench-size", ["bench", "make", "-o", "{out}/b", "--size", "huge"], "invalid choice"),
    ("bench-out-file", ["bench", "make", "-o", "{inp}/ok.ply"], "not a directory"),
    ("bench-out-nonempty", ["bench", "make", "-o", "{inp}/ds"], "not empty"),
    ("bench-no-action", ["bench"], "required"),
    # -- pnas eval -----------------------------------------------------------------------------
    ("eval-missing-data", ["eval", "-m", "raw", "-d", "{inp}/none", "-o", "{out}"],
     "dataset folder not found"),
    ("eval-not-dataset", ["eval", "-m", "raw", "-d", "{inp}/empty_dir", "-o", "{out}"],
     "not a dataset folder"),
    ("eval-method", ["eval", "-m", "nearest", "-d", "{inp}/ds", "-o", "{out}"], "nearest"),
    ("eval-category", ["eval", "-m", "raw", "-d", "{inp}/ds", "-c", "gear", "-o", "{out}"],
     "no category 'gear'"),
    ("eval-format", ["eval", "-m", "raw", "-d", "{inp}/ds", "--format", "mvtec3d",
                     "-o", "{out}"], "ds"),
    ("eval-pro-0", ["eval", "-m", "raw", "-d", "{inp}/ds", "--pro-thresholds", "0",
                    "-o", "{out}"], "--pro-thresholds must be >= 2, got 0"),
    ("eval-pro-1", ["eval", "-m", "raw", "-d", "{inp}/ds", "--pro-thresholds", "1",
                    "-o", "{out}"], "--pro-thresholds must be >= 2, got 1"),
    ("eval-param-form", ["eval", "-m", "raw", "-d", "{inp}/ds", "-p", "pca", "-o", "{out}"],
     "need KEY=VALUE"),
    ("eval-param-bool-word", ["eval", "-m", "raw", "-d", "{inp}/ds", "-p", "pca=maybe",
                              "-o", "{out}"], "pca must be true or false (or 1/0), got 'maybe'"),
    ("eval-param-bool-int", ["eval", "-m", "raw", "-d", "{inp}/ds", "-p", "pca=2",
                             "-o", "{out}"], "pca must be true or false (or 1/0), got 2"),
    ("eval-param-unknown", ["eval", "-m", "raw", "-d", "{inp}/ds", "-p", "speed=1",
                            "-o", "{out}"], "speed"),
    ("eval-param-range", ["eval", "-m", "raw", "-d", "{inp}/ds", "-p", "top_fraction=2",
                          "-o", "{out}"], "top_fraction must be <= 1"),
    ("eval-param-seed", ["eval", "-m", "raw", "-d", "{inp}/ds", "-p", f"seed={BIG_SEED}",
                         "-o", "{out}"], "seed must be <="),
    ("eval-param-object-score", ["eval", "-m", "hetnet", "-d", "{inp}/ds", "-p",
                                 "object_score=best", "-o", "{out}"],
     "object_score must be one of image, points; got 'best'"),
    ("eval-param-splat-tolerance", ["eval", "-m", "pbas", "-d", "{inp}/ds", "-p",
                                    "splat_tolerance=-1", "-o", "{out}"],
     "splat_tolerance must be >= 0"),
    ("eval-data-option", ["eval", "-m", "raw", "-d", "{inp}/ds", "--data-option", "center=1",
                          "-o", "{out}"], "unknown option(s) center"),
    ("eval-data-option-bool", ["eval", "-m", "raw", "-d", "{inp}/mvtec", "--data-option",
                               "remove_background=maybe", "-o", "{out}"],
     "remove_background must be true or false"),
    ("eval-nan-test", ["eval", "-m", "raw", "-d", "{inp}/ds_nan_test", "-o", "{out}"],
     "b0.ply: points contain 2 non-finite (NaN/inf) rows, first at index 4"),
    ("eval-nan-train", ["eval", "-m", "raw", "-d", "{inp}/ds_nan_train", "-o", "{out}"],
     "t1.ply: points contain 2 non-finite (NaN/inf) rows, first at index 3"),
    ("eval-ply-fewer", ["eval", "-m", "raw", "-d", "{inp}/ds_fewer", "-o", "{out}"],
     "b0.ply: holds more data than its header declares"),
    ("eval-gt-short", ["eval", "-m", "raw", "-d", "{inp}/ds_gt_short", "-o", "{out}"],
     "has 3 labels but b0.ply has 300 points"),
    ("eval-gt-empty-npy", ["eval", "-m", "raw", "-d", "{inp}/ds_gt_empty", "-o", "{out}"],
     "b0.labels.npy: not a .npy array of labels (the file is empty)"),
    ("eval-stray", ["eval", "-m", "raw", "-d", "{inp}/ds_stray", "-o", "{out}"],
     "test clouds belong in test/good/"),
    # -- pnas view (never opens a window: every case fails before rendering) -----------------
    ("view-missing", ["view", "{inp}/none.ply", *SHOT], "none.ply: file not found"),
    ("view-nan", ["view", "{inp}/nan.xyz", *SHOT],
     "nan.xyz: points contain 2 non-finite (NaN/inf) rows, first at index 7"),
    ("view-huge", ["view", "{inp}/huge.xyz", *SHOT], "huge.xyz: points have coordinates"),
    ("view-ply-fewer", ["view", "{inp}/fewer.ply", *SHOT], "fewer.ply: holds more data"),
    ("view-scores-empty-file", ["view", *SMALL, "--scores", "{inp}/empty.npy", *SHOT],
     "empty.npy: not a .npy array of scores (the file is empty)"),
    ("view-scores-trunc", ["view", *SMALL, "--scores", "{inp}/scores_trunc.npy", *SHOT],
     "scores_trunc.npy: not a .npy array of scores"),
    ("view-scores-archive", ["view", *SMALL, "--scores", "{inp}/scores_archive.npy", *SHOT],
     "an .npz archive, not a single .npy array"),
    ("view-scores-none", ["view", *SMALL, "--scores", "{inp}/scores_empty.npy", *SHOT],
     "0 scores but the cloud has 500 points"),
    ("view-scores-short", ["view", *SMALL, "--scores", "{inp}/scores_short.npy", *SHOT],
     "10 scores but the cloud has 500 points"),
    ("view-detector-empty", ["view", *SMALL, "--detector", "{inp}/det_empty.npz", *SHOT],
     "det_empty.npz: not a saved pointad detector (the file is empty)"),
    ("view-detector-trunc", ["view", *SMALL, "--detector", "{inp}/det_trunc.npz", *SHOT],
     "det_trunc.npz: not a saved pointad detector"),
    ("view-detector-missing", ["view", *SMALL, "--detector", "{inp}/det_missing.npz", *SHOT],
     "det_missing.npz: raw detector file lacks the array template_1"),
    ("view-detector-npy", ["view", *SMALL, "--detector", "{inp}/det.npy", *SHOT],
     "det.npy: not a saved pointad detector"),
    ("view-seed-neg", ["view", *SMALL, "--seed", "-1", *SHOT], "--seed must be >= 0"),
    ("view-seed-2**64", ["view", *SMALL, "--seed", BIG_SEED, *SHOT], "--seed must be <="),
    ("view-window", ["view", *SMALL, "--window", "10x10", *SHOT], "--window"),
    ("view-screenshot-ext", ["view", *SMALL, "--screenshot", "{out}/a.jpg"], ".png"),
    ("view-defect", ["view", *SMALL, "--defect", "blister", *SHOT], "'blister'"),
    ("view-view", ["view", *SMALL, "--view", "sideways", *SHOT], "view"),
    # -- pnas plot -----------------------------------------------------------------------------
    ("plot-heatmap-scores-empty", ["plot", "heatmap", *SMALL, "--scores", "{inp}/empty.npy",
                                   "-o", "{out}/a.png"], "empty.npy: not a .npy array"),
    ("plot-heatmap-scores-trunc", ["plot", "heatmap", *SMALL, "--scores",
                                   "{inp}/scores_trunc.npy", "-o", "{out}/a.png"],
     "scores_trunc.npy: not a .npy array of scores"),
    ("plot-heatmap-scores-nan", ["plot", "heatmap", "{inp}/ok.ply", "--scores",
                                 "{inp}/scores_nan.npy", "-o", "{out}/a.png"], "must be finite"),
    ("plot-heatmap-scores-complex", ["plot", "heatmap", "{inp}/ok.ply", "--scores",
                                     "{inp}/scores_complex.npy", "-o", "{out}/a.png"],
     "finite real numbers"),
    ("plot-heatmap-detector-empty", ["plot", "heatmap", *SMALL, "--detector",
                                     "{inp}/det_empty.npz", "-o", "{out}/a.png"],
     "det_empty.npz: not a saved pointad detector"),
    ("plot-heatmap-detector-trunc", ["plot", "heatmap", *SMALL, "--detector",
                                     "{inp}/det_trunc.npz", "-o", "{out}/a.png"],
     "det_trunc.npz: not a saved pointad detector"),
    ("plot-heatmap-detector-missing", ["plot", "heatmap", *SMALL, "--detector",
                                       "{inp}/det_missing.npz", "-o", "{out}/a.png"],
     "lacks the array template_1"),
    ("plot-heatmap-detector-old", ["plot", "heatmap", *SMALL, "--detector",
                                   "{inp}/det_old.npz", "-o", "{out}/a.png"],
     "det_old.npz: raw detector file lacks the array 'template_0'"),
    ("plot-heatmap-detector-nometa", ["plot", "heatmap", *SMALL, "--detector",
                                      "{inp}/det_nometa.npz", "-o", "{out}/a.png"],
     "no __meta__ entry"),
    ("plot-heatmap-nan", ["plot", "heatmap", "{inp}/nan.xyz", "--detector", "{inp}/det.npz",
                          "-o", "{out}/a.png"], "nan.xyz: points contain 2 non-finite"),
    ("plot-heatmap-nan-scores", ["plot", "heatmap", "{inp}/nan.xyz", "--scores",
                                 "{inp}/scores_short.npy", "-o", "{out}/a.png"],
     "nan.xyz: points contain 2 non-finite"),
    ("plot-heatmap-neither", ["plot", "heatmap", "-o", "{out}/a.png"], "--detector"),
    ("plot-field-nan", ["plot", "field", "{inp}/nan.xyz", "-o", "{out}/a.png"],
     "nan.xyz: points contain 2 non-finite"),
    ("plot-before-after-nan", ["plot", "before-after", "{inp}/nan.xyz", "-o", "{out}/a.png"],
     "nan.xyz: points contain 2 non-finite"),
    ("plot-sweep-nan", ["plot", "sweep", "{inp}/nan.xyz", "-o", "{out}/a.png"],
     "nan.xyz: points contain 2 non-finite"),
    ("plot-field-pcd-fewer", ["plot", "field", "{inp}/fewer.pcd", "-o", "{out}/a.png"],
     "fewer.pcd: binary data holds 300 points"),
    ("plot-field-huge", ["plot", "field", "{inp}/huge.xyz", "-o", "{out}/a.png"],
     "huge.xyz: points have coordinates"),
    ("plot-field-identical", ["plot", "field", "{inp}/identical.xyz", "-o", "{out}/a.png"],
     "identical.xyz: points are all identical"),
    ("plot-field-seed-neg", ["plot", "field", *SMALL, "--seed", "-1", "-o", "{out}/a.png"],
     "--seed must be >= 0"),
    ("plot-field-seed-2**64", ["plot", "field", *SMALL, "--seed", BIG_SEED,
                               "-o", "{out}/a.png"], "--seed must be <="),
    ("plot-field-projection", ["plot", "field", *SMALL, "--projection", "volume",
                               "-o", "{out}/a.png"], "2D"),
    ("plot-field-ext", ["plot", "field", "-o", "{out}/a.txt"], ".png"),
    ("plot-sweep-axis", ["plot", "sweep", "--cols", "octaves=x", "-o", "{out}/a.png"], "ints"),
    ("plot-sweep-same", ["plot", "sweep", "--rows", "scale=1", "--cols", "scale=2",
                         "-o", "{out}/a.png"], "different parameters"),
    ("plot-curves-pro-0", ["plot", "curves", "{inp}/results.json", "--pro-thresholds", "0",
                           "-o", "{out}/a.png"], "--pro-thresholds must be >= 2, got 0"),
    ("plot-curves-trunc-json", ["plot", "curves", "{inp}/trunc.json", "-o", "{out}/a.png"],
     "trunc.json: not a JSON file"),
    ("plot-bars-npy", ["plot", "bars", "{inp}/full.npy", "-o", "{out}/a.png"], "JSON"),
    ("plot-bars-metric", ["plot", "bars", "{inp}/results.json", "--metric", "speed",
                          "-o", "{out}/a.png"], "'speed'"),
    ("plot-none", ["plot"], "required"),
]


@pytest.mark.parametrize("args,message", [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(inputs, tmp_path, capsys, args,
                                                            message):
    code, _, err, out, before = _run(inputs, tmp_path, capsys, args)
    assert code == 2, err
    assert err.startswith("pnas: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert message in err, err
    assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))
    assert _snapshot(inputs) == before  # nothing the user gave was touched


def test_existing_outputs_survive_a_refused_run(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", str(inputs / "ok.ply"), "-o", str(out), "-q"]) == 0
    written = _snapshot(out)
    capsys.readouterr()
    # The same run again, and a failing one: both refused, the first results kept byte for byte.
    for extra in ([], ["--strength", "0", "--overwrite"], ["--seed", BIG_SEED, "--overwrite"]):
        code = main(["generate", str(inputs / "ok.ply"), "-o", str(out), "-q", *extra])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, err
        assert _snapshot(out) == written


# -- the public API ------------------------------------------------------------------------


def _pts():
    return _sphere()[0]


def _grid_synth():
    from pointad.synthesis import PNAS
    return PNAS(projection="grid")


def _plate():
    h, w = 15, 20
    r, c = np.mgrid[0:h, 0:w]
    pts = np.stack([c * 1.0, r * 1.0, 0.05 * np.sin(c)], axis=-1).reshape(-1, 3)
    nrm = np.tile([0.0, 0.0, 1.0], (h * w, 1))
    return pts, nrm, (h, w), np.arange(h * w)


def _api_cases():
    import torch

    from pointad import detectors
    from pointad.synthesis import PNAS
    from pointad.synthesis.defects import DefectMix, apply
    from pointad.validation import as_points, check_not_degenerate, parse_bool

    pts = _pts()
    plate, plate_n, shape, index = _plate()
    grad = torch.ones(10, 3, requires_grad=True)
    huge = pts * 1e100
    nan = pts.copy()
    nan[5] = np.nan
    return [
        ("as_points-complex", lambda: as_points(pts.astype(complex)),
         "points must be real numbers, got complex numbers"),
        ("as_points-bool", lambda: as_points(pts > 0), "got booleans"),
        ("as_points-strings", lambda: as_points(pts.astype(str)), "got strings"),
        ("as_points-grad", lambda: as_points(grad), "requires grad"),
        ("as_points-ragged", lambda: as_points([[1, 2, 3], [1, 2]]), "must be numeric"),
        ("as_points-none", lambda: as_points(None), "must have shape (N, 3)"),
        ("as_points-shape", lambda: as_points(np.zeros((5, 2))), "shape (N, 3)"),
        ("as_points-nan", lambda: as_points(nan), "1 non-finite (NaN/inf) rows, first at index 5"),
        ("as_points-huge", lambda: as_points(huge), "coordinates up to"),
        ("degenerate-identical", lambda: check_not_degenerate(np.ones((50, 3)) * 1e-13),
         "all identical"),
        ("degenerate-zero", lambda: check_not_degenerate(np.zeros((50, 3))), "all identical"),
        ("degenerate-nan", lambda: check_not_degenerate(nan), "non-finite"),
        ("pnas-complex", lambda: PNAS()(pts.astype(complex)), "complex numbers"),
        ("pnas-bool", lambda: PNAS()(pts > 0), "booleans"),
        ("pnas-grad", lambda: PNAS()(torch.as_tensor(pts).requires_grad_()), "requires grad"),
        ("pnas-huge", lambda: PNAS()(huge), "coordinates up to"),
        ("pnas-huge-normals", lambda: PNAS()(huge, pts), "coordinates up to"),
        ("pnas-seed-2**64", lambda: PNAS()(pts, pts, seed=2**64), "seed must be <="),
        ("pnas-seed-neg", lambda: PNAS()(pts, pts, seed=-1), "seed must be >= 0"),
        ("pnas-seed-float", lambda: PNAS()(pts, pts, seed=1.5), "seed must be an integer"),
        ("pnas-seed-bool", lambda: PNAS()(pts, pts, seed=True), "seed must be an integer"),
        ("pnas-grid-int", lambda: _grid_synth()(plate, plate_n, grid=5),
         "grid must be ((H, W), grid_index) or None, got int"),
        ("pnas-grid-str", lambda: _grid_synth()(plate, plate_n, grid="grid"), "got str"),
        ("pnas-grid-one", lambda: _grid_synth()(plate, plate_n, grid=(shape,)),
         "got tuple of 1 items"),
        ("pnas-grid-shape", lambda: _grid_synth()(plate, plate_n, grid=((15,), index)),
         "grid: grid_shape must be two positive integers"),
        ("pnas-grid-negative", lambda: _grid_synth()(plate, plate_n, grid=((-15, 20), index)),
         "grid_shape must be two positive integers"),
        ("pnas-grid-index-none", lambda: _grid_synth()(plate, plate_n, grid=(shape, None)),
         "grid_index must be a 1-D integer array"),
        ("pnas-grid-index-float", lambda: _grid_synth()(plate, plate_n,
                                                         grid=(shape, index + 0.5)),
         "grid_index must be a 1-D integer array"),
        ("pnas-grid-index-range", lambda: _grid_synth()(plate, plate_n, grid=((10, 10), index)),
         "values outside [0, 100)"),
        ("pnas-grid-index-length", lambda: _grid_synth()(plate, plate_n, grid=(shape, index[:5])),
         "grid_index has 5 entries but there are 300 points"),
        ("pnas-grid-repeated", lambda: _grid_synth()(plate, plate_n,
                                                      grid=(shape, np.zeros(300, int))),
         "repeated pixels"),
        ("regenerate-empty", lambda: PNAS().regenerate(pts, {}),
         "a dict with 'config' and 'seed'"),
        ("regenerate-none", lambda: PNAS().regenerate(pts, None), "got NoneType"),
        ("regenerate-config", lambda: PNAS().regenerate(pts, {"config": {"speed": 1}, "seed": 0}),
         "params['config']"),
        ("regenerate-seed", lambda: PNAS().regenerate(pts, {"config": {}, "seed": -3}),
         "seed must be >= 0"),
        ("mix-seed-2**64", lambda: DefectMix({"bulge": 1})(pts, pts, seed=2**64),
         "seed must be <="),
        ("apply-complex", lambda: apply("bulge", pts.astype(complex), pts), "complex numbers"),
        ("apply-huge", lambda: apply("bulge", huge, pts), "coordinates up to"),
        ("read_cloud-none", lambda: read_cloud(None), "path must be a file path"),
        ("read_cloud-int", lambda: read_cloud(3), "got int"),
        ("read_cloud-empty-name", lambda: read_cloud(""), "path must be a file path"),
        ("write_cloud-none", lambda: write_cloud(None, Cloud(points=pts)), "file path"),
        ("fit-none", lambda: detectors.create("raw").fit(None),
         "fit takes a list of training clouds, got NoneType"),
        ("fit-array", lambda: detectors.create("raw").fit(pts), "pass [points]"),
        ("fit-str", lambda: detectors.create("raw").fit("clouds/"), "got str"),
        ("fit-empty", lambda: detectors.create("raw").fit([]), "at least one training cloud"),
        ("fit-complex", lambda: detectors.create("raw").fit([pts.astype(complex)]),
         "training cloud 0 must be real numbers"),
        ("fit-grad", lambda: detectors.create("raw").fit([grad]), "requires grad"),
        ("predict-unfitted", lambda: detectors.create("raw").predict(pts), "not fitted"),
        ("create-pca-word", lambda: detectors.create("raw", pca="maybe"),
         "pca must be true or false (or 1/0), got 'maybe'"),
        ("create-pca-none", lambda: detectors.create("raw", pca=None), "got None"),
        ("create-seed-2**64", lambda: detectors.create("raw", seed=2**64), "seed must be <="),
        ("load-none", lambda: detectors.load(None), "path must be a file path"),
        ("parse_bool-word", lambda: parse_bool("yes", "flag"), "flag must be true or false"),
        ("parse_bool-two", lambda: parse_bool(2, "flag"), "got 2"),
        ("parse_bool-empty", lambda: parse_bool("", "flag"), "got ''"),
        ("parse_bool-float", lambda: parse_bool(1.0, "flag"), "got 1.0"),
    ]


API_CASES = _api_cases()


@pytest.mark.parametrize("call,message", [c[1:] for c in API_CASES],
                         ids=[c[0] for c in API_CASES])
def test_api_bad_input_raises_one_line_input_error(call, message):
    with pytest.raises(InputError) as info:
        call()
    text = str(info.value)
    assert message in text and "\n" not in text


@pytest.mark.parametrize("name,message", [
    ("empty.npz", "empty.npz: not a saved pointad detector (the file is empty)"),
    ("det_trunc.npz", "det_trunc.npz: not a saved pointad detector (not a zip archive"),
    ("det.npy", "det.npy: not a saved pointad detector"),
    ("det_missing.npz", "det_missing.npz: raw detector file lacks the array template_1"),
    ("det_old.npz", "det_old.npz: raw detector file lacks the array 'template_0'"),
    ("det_nometa.npz", "no __meta__ entry"),
    ("none.npz", "none.npz: file not found"),
])
def test_load_names_the_file_and_the_problem(inputs, name, message):
    from pointad import detectors

    with pytest.raises(InputError) as info:
        detectors.load(inputs / name)
    assert message in str(info.value) and str(inputs) in str(info.value)


def test_a_saved_detector_lists_its_arrays_and_loads_whole(inputs):
    from pointad import detectors

    with np.load(inputs / "det.npz") as data:
        meta = json.loads(str(data["__meta__"]))
        assert sorted(meta["arrays"]) == sorted(k for k in data.files if k != "__meta__")
    loaded = detectors.load(inputs / "det.npz")
    assert np.isfinite(loaded.predict(_sphere(5)[0]).point_scores).all()


# -- the right output ------------------------------------------------------------------------


def test_booleans_parse_strictly_everywhere():
    from pointad.cli.eval import parse_key_value
    from pointad.cli.generate import _param_value
    from pointad.detectors import create
    from pointad.validation import parse_bool

    for text, value in (("True", True), ("FALSE", False), ("false", False), ("1", True),
                        ("0", False), (" true ", True)):
        assert parse_bool(text, "x") is value
    assert parse_bool(np.bool_(True), "x") is True and parse_bool(0, "x") is False
    # -p pca=False used to reach the detector as the string 'False' (refused, or truthy).
    assert parse_key_value("pca=False") == ("pca", False)
    assert parse_key_value("pca=TRUE") == ("pca", True)
    assert parse_key_value("n=3") == ("n", 3)
    for given in ("False", "false", "0", 0, False):
        assert create("raw", **dict([parse_key_value(f"pca={given}")])).pca is False
        assert create("raw", pca=given).pca is False
    assert create("raw", pca="1").pca is True
    assert _param_value("False") is False and _param_value("TRUE") is True


def test_data_option_reaches_the_loader_as_a_bool(inputs):
    from pointad.cli.eval import parse_key_value
    from pointad.datasets import load_dataset

    # --data-option remove_background=False: bool("False") was True.
    for text in ("remove_background=False", "remove_background=0"):
        key, value = parse_key_value(text)
        data = load_dataset(inputs / "mvtec", "cat", "train", **{key: value})
        assert data.remove_background is False and len(data[0]) == 300  # nothing removed
    key, value = parse_key_value("remove_background=TRUE")
    assert load_dataset(inputs / "mvtec", "cat", "train", **{key: value}).remove_background is True


@pytest.mark.parametrize("mode", ["local", "paper"])
@pytest.mark.parametrize("unit", [1e-13, 1e-25, 1e12])
def test_synthesis_is_scale_invariant_down_to_tiny_units(mode, unit):
    from pointad.synthesis import PNAS

    pts, nrm = _sphere(3)
    for normals in (nrm, None):  # given, or estimated on the scaled cloud
        base = PNAS(mode=mode)(pts, normals, seed=4)
        scaled = PNAS(mode=mode)(pts * unit, normals, seed=4)
        assert base.labels.sum() > 0
        np.testing.assert_array_equal(scaled.labels, base.labels)
        np.testing.assert_allclose(scaled.points, base.points * unit, rtol=1e-6, atol=0)


@pytest.mark.parametrize("kind", ["bulge", "crack", "scratch", "drag", "bend", "pitting"])
def test_defect_kinds_are_scale_invariant_down_to_tiny_units(kind):
    from pointad.synthesis.defects import apply

    pts, nrm = _sphere(3, n=1500)
    base = apply(kind, pts, nrm, seed=5)
    tiny = apply(kind, pts * 1e-13, nrm, seed=5)
    np.testing.assert_array_equal(tiny.labels, base.labels)


def test_meshes_and_exact_headers_read_whole(inputs):
    pts, _ = _sphere()
    for name in ("ok.ply", "ok_ascii.ply", "ok.pcd", "ok_ascii.pcd", "mesh.ply",
                 "mesh_ascii.ply"):
        np.testing.assert_allclose(read_cloud(inputs / name).points, pts, rtol=1e-6, atol=1e-7)


def test_generate_on_a_part_in_tiny_units(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", str(inputs / "tiny.xyz"), "-o", str(out), "-q"]) == 0
    assert main(["generate", str(inputs / "ok.ply"), "-o", str(out), "-q"]) == 0
    tiny, ok = read_cloud(out / "tiny_pnas_0.ply"), read_cloud(out / "ok_pnas_0.ply")
    assert tiny.labels.sum() > 0
    np.testing.assert_array_equal(tiny.labels, ok.labels)
    assert np.isfinite(tiny.fields["displacement"]).all()


def test_large_seeds_are_reproducible_up_to_the_limit(inputs, tmp_path):
    seed = 2**63 - 1
    for out in ("a", "b"):
        assert main(["generate", str(inputs / "ok.ply"), "-o", str(tmp_path / out), "-q",
                     "--seed", str(seed)]) == 0
    name = f"ok_pnas_{seed}.ply"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_float32_formats_refuse_values_they_would_write_as_inf(tmp_path):
    pts = _pts()
    with pytest.raises(InputError, match="do not fit the float32 numbers PCD stores"):
        write_cloud(tmp_path / "a.pcd", Cloud(points=pts * 1e100))
    with pytest.raises(InputError, match="field 'd' up to 1e\\+50"):
        write_cloud(tmp_path / "a.ply", Cloud(points=pts, fields={"d": np.full(N, 1e50)}))
    assert not list(tmp_path.iterdir())
    write_cloud(tmp_path / "a.npz", Cloud(points=pts * 1e100))  # float64: kept
    np.testing.assert_array_equal(read_cloud(tmp_path / "a.npz").points, pts * 1e100)


def test_eval_rejects_num_thresholds_before_fitting(inputs):
    from pointad.runner import evaluate

    with pytest.raises(InputError, match="num_thresholds must be >= 2"):
        evaluate("raw", inputs / "none", num_thresholds=0)
