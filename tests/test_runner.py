"""The evaluation runner on tiny datasets written in the real layouts.

The raw detector's metrics on the two tiny datasets are checked against seeded regression values
(EXPECTED below, tolerances in tests/regression.py). After an intended change of the detector,
regenerate them with one command and review the diff:

    .venv/bin/python tools/regression_values.py --write
"""
import csv
import json

import numpy as np
import pytest
from PIL import Image

import pointad.detectors as detectors
from conftest import write_tiny_real3d
from pointad.detectors import Prediction
from pointad.errors import InputError
from pointad.io import Cloud, write_cloud
from pointad.runner import category_metrics, evaluate, format_table, write_results
from pointad.samples import sample_cloud
from pointad.synthesis import PNAS
from regression import check  # tests/regression.py

# Per category. I-AUROC counts 3 x 3 (real3d) and 2 x 2 (plate) pairs of clouds, so the
# tolerance of 0.07 allows no flipped pair: the lowest object score of a defective cloud is
# 1.4 times the highest of a good one on tiny-real3d and 5 times on the plate (measured when
# written), far beyond what rounding on another CPU can move.
# BEGIN regression values (regenerate: .venv/bin/python tools/regression_values.py --write)
EXPECTED = {  # case -> row ("mean" or a category) -> metric -> value
    "raw/plate-mvtec3d": {"plate": {"I-AUROC": 1.0, "P-AUROC": 0.9999, "AUPRO": 0.9996}},
    "raw/tiny-real3d": {
        "box": {"I-AUROC": 1.0, "P-AUROC": 0.9924, "AUPRO": 0.9769},
        "cylinder": {"I-AUROC": 1.0, "P-AUROC": 0.9932, "AUPRO": 0.9751},
    },
}
# END regression values


@pytest.fixture(scope="module")
def real3d_root(tmp_path_factory):
    """Real3D-AD layout: 2 categories, 2 templates, 3 good and 3 defective test clouds each."""
    return write_tiny_real3d(tmp_path_factory.mktemp("real3d"), n_points=2500, n_good=3, n_bad=3,
                             fraction=0.04)


@pytest.mark.regression
def test_evaluate_real3d_layout(real3d_root, tmp_path):
    results = evaluate("raw", real3d_root, params={"align_points": 1500}, progress=False)
    assert results["format"] == "real3d"
    rows = {r["category"]: r for r in results["categories"]}
    assert set(rows) == {"box", "cylinder"}
    for row in rows.values():
        assert row["n_train"] == 2 and row["n_test"] == 6
        assert 0 <= row["AUPRO"] <= 1 and 0 < row["P-AP"] <= 1
        assert row["fit_s"] >= 0 and row["predict_s_per_cloud"] > 0
    check(EXPECTED, "raw/tiny-real3d", results, per_category=True)
    for key in ("I-AUROC", "P-AUROC", "AUPRO", "P-AP"):
        assert results["mean"][key] == pytest.approx(np.mean([r[key] for r in rows.values()]))
    table = format_table(results)
    assert "box" in table and "cylinder" in table and "mean" in table and "AUPRO" in table
    json_path, csv_path = write_results(results, tmp_path)
    assert json.loads(json_path.read_text())["method"] == "raw"
    with open(csv_path) as f:
        csv_rows = list(csv.DictReader(f))
    assert [r["category"] for r in csv_rows] == ["box", "cylinder", "mean"]
    assert float(csv_rows[0]["P-AUROC"]) == pytest.approx(rows["box"]["P-AUROC"])
    with pytest.raises(InputError, match="exists"):
        write_results(results, tmp_path)


def test_evaluate_one_category_and_unknown(real3d_root):
    results = evaluate("raw", real3d_root, categories=["box"], progress=False,
                       params={"align_points": 1000})
    assert [r["category"] for r in results["categories"]] == ["box"]
    with pytest.raises(InputError, match="no category 'gear'"):
        evaluate("raw", real3d_root, categories=["gear"], progress=False)


@pytest.mark.regression
def test_evaluate_mvtec_layout_uses_image_aupro(tmp_path):
    """Organized plates with dents: AUPRO comes from the image grid and the PNG masks."""
    plate = sample_cloud("plate", n_points=1200)
    h, w = plate.grid_shape
    rng = np.random.default_rng(0)

    def scan(points):
        img = points.reshape(h, w, 3).astype(np.float32) / 1000.0  # metres, like MVTec
        return Cloud(points=img.reshape(-1, 3), grid_shape=(h, w), grid_index=np.arange(h * w))

    cat = tmp_path / "plate"
    for i in range(2):
        noisy = plate.points + rng.normal(0, 0.01, plate.points.shape)
        write_cloud(cat / "train" / "good" / "xyz" / f"{i:03d}.tiff", scan(noisy))
    synth = PNAS(strength=0.03, fraction=0.05, sign="dent")
    for j in range(4):
        defect = "good" if j < 2 else "dent"
        pts, labels = plate.points + rng.normal(0, 0.01, plate.points.shape), np.zeros(h * w, bool)
        if defect == "dent":
            s = synth(pts, plate.normals, seed=j, grid=(plate.grid_shape, plate.grid_index))
            pts, labels = s.points, s.labels
        write_cloud(cat / "test" / defect / "xyz" / f"{j:03d}.tiff", scan(pts))
        (cat / "test" / defect / "gt").mkdir(parents=True, exist_ok=True)
        Image.fromarray((labels.reshape(h, w) * 255).astype(np.uint8)).save(
            cat / "test" / defect / "gt" / f"{j:03d}.png")
    results = evaluate("raw", tmp_path, params={"pca": False, "align_points": 1000},
                       progress=False)
    row = results["categories"][0]
    assert results["format"] == "mvtec3d" and row["category"] == "plate"
    check(EXPECTED, "raw/plate-mvtec3d", results, per_category=True)


def _sample(labels, grid=None):
    from pointad.datasets import Sample
    labels = np.asarray(labels, np.uint8)
    return Sample(points=np.zeros((len(labels), 3)), labels=labels, label=int(labels.any()),
                  category="c", defect="d" if labels.any() else "good", id="x", path=None,
                  grid_shape=grid, grid_index=None if grid is None else np.arange(len(labels)))


def test_category_metrics_perfect_and_reversed_scores():
    labels = [[0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]]
    samples = [_sample(lab, grid=(2, 2)) for lab in labels]
    perfect = [Prediction(np.asarray(lab, float), float(max(lab))) for lab in labels]
    m = category_metrics(samples, perfect)
    assert m["I-AUROC"] == 1.0 and m["P-AUROC"] == 1.0 and m["AUPRO"] == 1.0 and m["P-AP"] == 1.0
    reverse = [Prediction(1.0 - np.asarray(lab, float), -float(max(lab))) for lab in labels]
    m = category_metrics(samples, reverse)
    assert m["I-AUROC"] == 0.0 and m["P-AUROC"] == 0.0 and m["AUPRO"] == 0.0


def test_undefined_metrics_are_nan_with_a_note():
    samples = [_sample([0, 0, 0]), _sample([0, 0, 0])]  # no anomalous sample at all
    preds = [Prediction(np.zeros(3), 0.0), Prediction(np.ones(3), 1.0)]
    notes = []
    m = category_metrics(samples, preds, notes=notes)
    assert np.isnan(m["I-AUROC"]) and np.isnan(m["P-AUROC"]) and np.isnan(m["AUPRO"])
    assert any("I-AUROC" in n for n in notes)


@pytest.fixture(scope="module")
def small_bench(tmp_path_factory):
    from pointad.synthbench import make_benchmark
    out = tmp_path_factory.mktemp("bench") / "sb"
    make_benchmark(out, size="small", seed=0, categories=["flange", "bottle"], progress=False)
    return out


def test_pnas_eval_on_the_synthetic_benchmark(small_bench, tmp_path, capsys):
    from pointad.cli import main
    code = main(["eval", "--method", "raw", "--data", str(small_bench / "real3d"),
                 "--category", "flange", "--out", str(tmp_path), "-q",
                 "--param", "align_points=800"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "flange" in out and "mean" in out and "I-AUROC" in out and "AUPRO" in out
    saved = json.loads((tmp_path / "raw_real3d.json").read_text())
    assert saved["params"]["align_points"] == 800
    assert [r["category"] for r in saved["categories"]] == ["flange"]
    from pointad.synthbench import SIZES
    assert saved["categories"][0]["n_test"] == (SIZES["small"]["n_good"]
                                                + SIZES["small"]["n_defective"])
    code = main(["eval", "--method", "raw", "--data", str(small_bench / "mvtec3d"),
                 "--category", "bottle", "--out", str(tmp_path), "-q", "-p", "align_points=800"])
    out, err = capsys.readouterr()
    assert code == 0, err and "mvtec3d" in out
    assert (tmp_path / "raw_mvtec3d.csv").read_text().splitlines()[0].startswith("category,I-AUROC")


@pytest.mark.parametrize("args,expect", [
    (["--method", "nope"], "unknown detector 'nope'"),
    (["--param", "top_fraction=2"], "top_fraction must be <= 1"),
    (["--param", "oops"], "--param and --data-option need KEY=VALUE"),
    (["--category", "gear"], "no category 'gear'"),
])
def test_pnas_eval_errors_are_one_line(small_bench, tmp_path, capsys, args, expect):
    from pointad.cli import main
    base = ["eval", "--method", "raw", "--data", str(small_bench / "real3d"), "--out",
            str(tmp_path), "-q"]
    code = main(base + args)
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and expect in err
    assert not any(tmp_path.iterdir())


def test_pnas_eval_missing_data(tmp_path, capsys):
    from pointad.cli import main
    code = main(["eval", "--method", "raw", "--data", str(tmp_path / "none"), "-q"])
    _, err = capsys.readouterr()
    assert code == 2 and "none" in err and err.count("\n") == 1


def test_pnas_eval_passes_dataset_options(small_bench, tmp_path, capsys):
    from pointad.cli import main
    code = main(["eval", "--method", "raw", "--data", str(small_bench / "real3d"), "--category",
                 "bottle", "--data-option", "center=true", "--out", str(tmp_path), "-q"])
    assert code == 0
    assert json.loads((tmp_path / "raw_real3d.json").read_text())["dataset_options"] == {
        "center": True}
    code = main(["eval", "--method", "raw", "--data", str(small_bench / "real3d"),
                 "--data-option", "remove_background=true", "--out", str(tmp_path / "x"), "-q"])
    _, err = capsys.readouterr()
    assert code == 2 and "unknown option(s) remove_background for format real3d" in err


def test_per_defect_breakdown(small_bench):
    results = evaluate("raw", small_bench / "real3d", params={"align_points": 800},
                       progress=False)
    from pointad.datasets import load_dataset
    kinds = {s.defect for c in ("flange", "bottle")
             for s in load_dataset(small_bench / "real3d", c, "test") if s.label}
    assert set(results["mean_by_defect"]) == kinds
    for row in results["categories"]:
        for m in row["by_defect"].values():
            assert 0 <= m["P-AUROC"] <= 1 and 0 <= m["I-AUROC"] <= 1
    from pointad.runner import format_defect_table
    table = format_defect_table(results)
    assert all(kind in table for kind in kinds)


@pytest.fixture
def report():
    """tools/report.py as a module."""
    from conftest import TOOLS, load_script
    return load_script(TOOLS / "report.py")


def test_report_tool_tables_and_resume(report, tmp_path, capsys, monkeypatch):
    """tools/report.py: one table row per (layout, method, mode), numbers equal the results
    JSON, and a second call reads the JSON instead of evaluating again."""
    write_tiny_real3d(tmp_path / "bench" / "real3d", n_points=1000, n_good=2, n_bad=2,
                      fraction=0.05)
    argv = ["--data", str(tmp_path / "bench"), "--out", str(tmp_path / "res"), "--methods", "raw",
            "--layouts", "real3d", "--modes", "per-category,unified", "-q"]
    assert report.main(argv) == 0
    first = capsys.readouterr().out
    saved = json.loads((tmp_path / "res" / "raw_real3d_unified.json").read_text())
    assert saved["mode"] == "unified"
    row = next(line for line in first.splitlines() if line.startswith("| real3d | raw | unified"))
    assert f"| {saved['mean']['I-AUROC']:.3f} | {saved['mean']['P-AUROC']:.3f} |" in row
    assert "| real3d | raw | per-category |" in first
    monkeypatch.setattr(report, "evaluate_to", lambda *a, **k: pytest.fail("evaluated again"))
    assert report.main(argv) == 0
    assert capsys.readouterr().out == first
    assert report.main(argv[:-1] + ["--modes", "sideways"]) == 2


def test_report_tool_params_per_method_and_mismatch(report, tmp_path, capsys):
    """--param METHOD.KEY=VALUE reaches that method only; a result file made with other
    parameters is a one-line error (exit 2) and is left as it was."""
    assert report.parse_setting("raw.top_fraction=0.05") == ("raw", "top_fraction", 0.05)
    assert report.parse_setting("seed=3") == (None, "seed", 3)
    settings = [("raw", "top_fraction", 0.05), (None, "seed", 3), ("btf", "n_groups", 64)]
    assert report.method_params("raw", settings) == {"top_fraction": 0.05, "seed": 3}
    assert report.method_params("btf", settings) == {"seed": 3, "n_groups": 64}

    write_tiny_real3d(tmp_path / "bench" / "real3d", n_points=1000, n_good=2, n_bad=2,
                      fraction=0.05)
    argv = ["--data", str(tmp_path / "bench"), "--out", str(tmp_path / "res"), "--methods", "raw",
            "--layouts", "real3d", "-q", "--param", "raw.top_fraction=0.05"]
    assert report.main(argv) == 0
    path = tmp_path / "res" / "raw_real3d.json"
    before = path.read_bytes()
    assert json.loads(before)["params"]["top_fraction"] == 0.05
    capsys.readouterr()
    assert report.main(argv[:-1] + ["raw.top_fraction=0.02"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "top_fraction" in err and "raw_real3d.json" in err
    assert path.read_bytes() == before
    assert report.main(argv[:-1] + ["no-equals-sign"]) == 2


def test_report_tool_params_added_since_count_at_their_default(report):
    """A stored result without a parameter the detector has gained is reused when that
    parameter is wanted at its default, and not when it is set to something else."""
    stored = detectors.create("raw").get_params()
    del stored["pca"]
    assert report.changed_params("raw", {}, stored) == []
    assert report.changed_params("raw", {"pca": False}, stored) == ["pca"]
    assert report.changed_params("raw", {"top_fraction": 0.5}, stored) == ["top_fraction"]
    stored["gone"] = 1  # a parameter the detector no longer has
    assert report.changed_params("raw", {}, stored) == ["gone"]


def test_report_tool_variants_and_left_out_test_kinds(report, tmp_path, capsys):
    """NAME@LABEL is detector NAME with its own parameters and result file; ``@test-kinds``
    becomes the benchmark's test defect kinds (what pnas-offset@mix leaves out of training)."""
    settings = [("raw@loose", "top_fraction", 0.5), ("raw", "seed", 2)]
    assert report.method_params("raw@loose", settings) == {"top_fraction": 0.5, "seed": 2}
    assert report.method_params("raw", settings) == {"seed": 2}
    assert report.detector_name("pnas-offset@mix") == "pnas-offset"
    bench = tmp_path / "bench"
    write_tiny_real3d(bench / "real3d", n_points=1000, n_good=2, n_bad=2, fraction=0.05)
    samples = [{"split": "test", "defect": "good"}, {"split": "test", "defect": "hole"},
               {"split": "test", "defect": "bulge"}, {"split": "train", "defect": "good"}]
    (bench / "benchmark.json").write_text(json.dumps({"samples": samples}))
    assert report.test_kinds(bench) == "bulge,hole"
    argv = ["--data", str(bench), "--out", str(tmp_path / "res"), "--methods", "raw,raw@loose",
            "--layouts", "real3d", "-q", "--param", "raw@loose.top_fraction=0.5"]
    assert report.main(argv) == 0
    out = capsys.readouterr().out
    loose = json.loads((tmp_path / "res" / "raw@loose_real3d.json").read_text())
    plain = json.loads((tmp_path / "res" / "raw_real3d.json").read_text())
    assert loose["params"]["top_fraction"] == 0.5 and plain["params"]["top_fraction"] == 0.01
    assert "| real3d | raw@loose | per-category |" in out and "I-AUROC / P-AUROC per" in out
    assert report.main(["--preset", "realistic", "--data", str(tmp_path / "none"), "-q"]) == 2
    assert "benchmark.json: not found" in capsys.readouterr().err


def test_report_tool_presets_name_registered_detectors_with_valid_params(report):
    """Every method of every preset is a registered detector (or a variant of one) that accepts
    the preset's parameters for it (``@test-kinds`` is filled in from a benchmark at run time)."""
    for name, preset in report.PRESETS.items():
        for method in preset["methods"].split(","):
            params = {k: v for k, v in report.method_params(method, preset["params"]).items()
                      if v != "@test-kinds"}
            det = detectors.create(report.detector_name(method), **params)
            got = det.get_params()
            assert all(got[k] == v or k.endswith("_params") for k, v in params.items()), \
                (name, method)
    assert "cpmf" in report.PRESETS["depth"]["methods"].split(",")


def test_report_tool_calibration_line(report):
    runs = {("real3d", "btf", "per-category"): {"mean": {"I-AUROC": 0.81}}}
    assert "ABOVE" in report.calibration_line(runs, "btf", 0.55, 0.75)
    runs[("real3d", "btf", "per-category")]["mean"]["I-AUROC"] = 0.62
    assert "0.620, within" in report.calibration_line(runs, "btf", 0.55, 0.75)
    assert "not run" in report.calibration_line({}, "btf", 0.55, 0.75)


def test_pnas_eval_with_consensus_registration(small_bench, tmp_path, capsys):
    """``consensus`` registration is ``raw``'s default from the CLI, is saved with the result,
    and the registration it runs (near-symmetries, then the point-to-plane polish) finds the
    flange's defects; ``--param consensus=false`` reaches the detector and its result; a value
    that is not a boolean is a one-line error."""
    from pointad.cli import main
    def eval_args(out):
        return ["eval", "--method", "raw", "--data", str(small_bench / "real3d"), "--category",
                "flange", "--out", str(out), "-q", "--param", "align_points=800"]

    args = eval_args(tmp_path)
    assert main(args) == 0, capsys.readouterr().err
    saved = json.loads((tmp_path / "raw_real3d.json").read_text())
    assert saved["params"]["consensus"] is True
    row = saved["categories"][0]
    assert row["I-AUROC"] > 0.8 and row["P-AUROC"] > 0.8, row
    off = eval_args(tmp_path / "off") + ["--param", "consensus=false"]
    assert main(off) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "off" / "raw_real3d.json").read_text())["params"][
        "consensus"] is False
    capsys.readouterr()
    code = main(args + ["--param", "consensus=maybe"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "consensus must be true or false" in err


def test_pnas_eval_runs_pnas_offset_from_the_cli(small_bench, tmp_path, capsys):
    """``pnas eval -m pnas-offset`` end to end at CI settings: the parameters given reach the
    saved result, the flange's defect points are found (P-AUROC 0.90 at these settings; the
    object score of a 100-step network on a handful of test clouds is not asserted: 0.63), and
    a setting it cannot use is a one-line error."""
    from pointad.cli import main
    args = ["eval", "--method", "pnas-offset", "--data", str(small_bench / "real3d"),
            "--category", "flange", "--out", str(tmp_path), "-q"]
    small = ["n_synthetic=4", "patches_per_copy=16", "patch_points=64", "context=32",
             "reach=8", "width=16", "neighbours=8", "steps=100", "batch_size=16",
             "align_points=800", "icp_iterations=10", "device=cpu"]
    params = [a for p in small for a in ("--param", p)]
    assert main(args + params) == 0, capsys.readouterr().err
    saved = json.loads((tmp_path / "pnas-offset_real3d.json").read_text())
    assert saved["params"]["steps"] == 100 and saved["params"]["patch_points"] == 64
    assert saved["params"]["hole_rim"] == 0.5  # the default reaches the saved result
    row = saved["categories"][0]
    assert row["P-AUROC"] > 0.8, row
    capsys.readouterr()
    code = main(args + params + ["--param", "context=64"])  # context must stay < patch_points
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "context" in err
