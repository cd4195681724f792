"""`pnas view --screenshot` and the `pnas plot` figures: real images that follow their input,
and one-line errors."""
import json

import numpy as np
import pytest
from PIL import Image

from conftest import write_tiny_real3d
from pointad.cli import main
from pointad.io import Cloud, write_cloud
from pointad.runner import evaluate, write_results
from pointad.samples import sample_cloud
from pointad.synthesis import PNAS
from viz.colors import ANOMALY_COLOR
from viz.offscreen import offscreen_problem
from viz.scene import LEGEND_WIDTH

SMALL = ["--sample-points", "3000"]


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def image(path):
    """The written image as an (H, W, 3) array, checked to be a real picture."""
    assert path.is_file() and path.stat().st_size > 1000
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.ndim == 3 and min(img.shape[:2]) >= 100
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20  # not blank, not one flat colour
    return img


def differ(a, b):
    return a.shape != b.shape or np.mean(np.any(a != b, axis=-1)) > 0.002


def two_images(tmp_path, capsys, base, first, second):
    """Run the same figure command with two different inputs; both must succeed."""
    out = []
    for i, extra in enumerate((first, second)):
        path = tmp_path / f"fig{i}.png"
        code, stdout, err = run_cli(base + extra + ["-o", path], capsys)
        assert code == 0, err
        assert f"wrote {path}" in stdout
        out.append(image(path))
    return out


def test_plot_sweep_follows_its_axes(tmp_path, capsys):
    a, b = two_images(tmp_path, capsys, ["plot", "sweep", *SMALL, "--seed", "2"],
                      ["--rows", "scale=1,3", "--cols", "octaves=1,4"],
                      ["--rows", "scale=6,8", "--cols", "octaves=1,4"])
    assert a.shape == b.shape and differ(a, b)


def test_plot_field_follows_the_seed(tmp_path, capsys):
    a, b = two_images(tmp_path, capsys, ["plot", "field", *SMALL, "--mode", "paper",
                                         "--resolution", "64"], ["--seed", "1"], ["--seed", "2"])
    assert differ(a, b)


def test_plot_before_after_follows_the_strength(tmp_path, capsys):
    a, b = two_images(tmp_path, capsys, ["plot", "before-after", *SMALL, "--view", "30,25"],
                      ["--strength", "0.01"], ["--strength", "0.05"])
    assert a.shape == b.shape and differ(a, b)


def test_plot_heatmap_from_scores_and_from_a_detector(tmp_path, capsys):
    import pointad.detectors as detectors

    base = sample_cloud("sphere", 2000, seed=0)
    sample = PNAS(strength=0.06, fraction=0.05, sign="bump")(base.points, base.normals, seed=1)
    cloud_path = tmp_path / "part.ply"
    write_cloud(cloud_path, Cloud(points=sample.points, labels=sample.labels))
    s1, s2 = tmp_path / "s1.npy", tmp_path / "s2.npy"
    np.save(s1, sample.soft_labels)
    np.save(s2, sample.soft_labels[::-1].copy())
    a, b = two_images(tmp_path, capsys, ["plot", "heatmap", cloud_path, "--view", "defect"],
                      ["--scores", s1], ["--scores", s2])
    assert a.shape == b.shape and differ(a, b)

    det = detectors.create("raw", align_points=500, icp_iterations=5)
    det.fit([sample_cloud("sphere", 2000, seed=i).points for i in (5, 6)])
    det.save(tmp_path / "raw.npz")
    path = tmp_path / "det.png"
    code, _, err = run_cli(["plot", "heatmap", cloud_path, "--detector", tmp_path / "raw.npz",
                            "-o", path], capsys)
    assert code == 0, err
    assert differ(image(path), a)


@pytest.fixture(scope="module")
def eval_results(tmp_path_factory):
    """A tiny Real3D-AD layout evaluated with raw, results written by the runner."""
    root = write_tiny_real3d(tmp_path_factory.mktemp("real3d"), n_points=1200, n_good=2, n_bad=2,
                             fraction=0.05)
    results = evaluate("raw", root, params={"align_points": 400, "icp_iterations": 5},
                       progress=False)
    json_path, _ = write_results(results, root.parent / f"{root.name}_results")
    return json_path, results


def test_plot_bars_follow_the_results(eval_results, tmp_path, capsys):
    json_path, results = eval_results
    changed = json.loads(json_path.read_text())
    changed["categories"][0]["P-AUROC"] = 0.1
    other = tmp_path / "changed.json"
    other.write_text(json.dumps(changed))
    a, b = two_images(tmp_path, capsys, ["plot", "bars"], [json_path], [other])
    assert a.shape == b.shape and differ(a, b)
    code, _, err = run_cli(["plot", "bars", json_path, "--metric", "nope", "-o",
                            tmp_path / "x.png"], capsys)
    assert code == 2 and "'nope'" in err and err.count("\n") == 1


def test_curves_recompute_the_json_numbers(eval_results):
    from viz.curves import category_curves, load_results, rescore

    json_path, results = eval_results
    loaded = load_results(json_path)
    scored = rescore(loaded)
    assert set(scored) == {"box", "cylinder"}
    for row in loaded["categories"]:
        samples, preds = scored[row["category"]]
        c = category_curves(row["category"], samples, preds, json_row=row)
        # The curves are those of the evaluation: their areas equal the JSON's numbers.
        assert c.p_auroc == pytest.approx(row["P-AUROC"], abs=1e-12)
        assert c.aupro == pytest.approx(row["AUPRO"], abs=1e-9)
        fpr, tpr = c.roc
        assert fpr[0] == 0 and tpr[-1] == 1 and np.all(np.diff(fpr) >= 0)


def test_plot_curves_follows_the_categories(eval_results, tmp_path, capsys):
    json_path, _ = eval_results
    a, b = two_images(tmp_path, capsys, ["plot", "curves", json_path, "-q"],
                      ["--category", "box"], ["--category", "cylinder"])
    assert a.shape == b.shape and differ(a, b)
    code, _, err = run_cli(["plot", "curves", json_path, "--category", "gear", "-o",
                            tmp_path / "g.png"], capsys)
    assert code == 2 and "'gear'" in err


@pytest.mark.skipif(offscreen_problem() is not None, reason=str(offscreen_problem()))
def test_view_screenshot_renders_offscreen(tmp_path, capsys):
    # The default: signed displacement (a bump: red, never blue), shaded, with a legend whose
    # blue half sits in the strip at the right.
    default = tmp_path / "default.png"
    code, out, err = run_cli(["view", *SMALL, "--seed", "3", "--sign", "bump", "--window",
                              "400x300", "--screenshot", default], capsys)
    assert code == 0, err
    img = image(default).astype(int)
    split = int(400 * (1 - LEGEND_WIDTH))
    blue = img[..., 2] > img[..., 0] + 80
    assert blue[:, split:].sum() > 200 and not blue[:, :split].any()
    assert (img[..., 0] > img[..., 2] + 80)[:, :split].sum() > 100
    # Labels one option (or key) away, flat: exact colours.
    path = tmp_path / "view.png"
    code, out, err = run_cli(["view", *SMALL, "--seed", "3", "--window", "400x300",
                              "--color-by", "label", "--shading", "flat", "--screenshot", path],
                             capsys)
    assert code == 0, err
    assert f"wrote {path} (400x300)" in out
    img = image(path)
    assert img.shape == (300, 400, 3)
    assert (img == ANOMALY_COLOR).all(axis=-1).sum() > 100
    plain = tmp_path / "plain.png"
    code, _, err = run_cli(["view", *SMALL, "--seed", "3", "--window", "400x300",
                            "--color-by", "plain", "--screenshot", plain], capsys)
    assert code == 0, err
    assert not (image(plain) == ANOMALY_COLOR).all(axis=-1).any()
    # Never over an existing file.
    code, _, err = run_cli(["view", *SMALL, "--screenshot", path], capsys)
    assert code == 2 and "exists" in err
    # A defect kind: its labels show.
    kind = tmp_path / "kind.png"
    code, _, err = run_cli(["view", *SMALL, "--seed", "3", "--window", "400x300", "--defect",
                            "bulge", "--height", "6", "--color-by", "label", "--shading", "flat",
                            "--screenshot", kind], capsys)
    assert code == 0, err
    assert (image(kind) == ANOMALY_COLOR).all(axis=-1).sum() > 100


@pytest.mark.parametrize("args,message", [
    (["view", "--screenshot", "{tmp}/a.jpg"], ".png"),
    (["view", "--window", "10x10", "--screenshot", "{tmp}/a.png"], "--window"),
    (["view", "{tmp}/missing.ply", "--screenshot", "{tmp}/a.png"], "file not found"),
    (["view", *SMALL, "--scores", "{tmp}/short.npy", "--screenshot", "{tmp}/a.png"], "3000 points"),
    (["view", *SMALL, "--view", "sideways", "--screenshot", "{tmp}/a.png"], "view"),
    (["view", *SMALL, "--defect", "blister", "--screenshot", "{tmp}/a.png"],
     "unknown defect kind 'blister'"),
    (["view", *SMALL, "--defect", "hole", "--defect-param", "aspect=3", "--screenshot",
      "{tmp}/a.png"], "not taken by the kind hole"),
    (["plot", "sweep", "--rows", "scale=1", "--cols", "scale=2", "-o", "{tmp}/a.png"],
     "different parameters"),
    (["plot", "sweep", "--cols", "octaves=x", "-o", "{tmp}/a.png"], "ints"),
    (["plot", "field", *SMALL, "--projection", "volume", "-o", "{tmp}/a.png"], "2D"),
    (["plot", "field", "-o", "{tmp}/a.txt"], ".png"),
    (["plot", "heatmap", "-o", "{tmp}/a.png"], "--detector"),
    (["plot", "heatmap", *SMALL, "--detector", "{tmp}/none.npz", "-o", "{tmp}/a.png"],
     "not found"),
    (["plot", "bars", "{tmp}/short.npy", "-o", "{tmp}/a.png"], "JSON"),
    (["plot", "curves", "{tmp}/empty.json", "-o", "{tmp}/a.png"], "not a pnas eval"),
    (["plot"], "required"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    np.save(tmp_path / "short.npy", np.zeros(10))
    (tmp_path / "empty.json").write_text("{}")
    code, _, err = run_cli([a.replace("{tmp}", str(tmp_path)) for a in args], capsys)
    assert code == 2
    assert err.startswith("pnas: error:") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "a.png").exists()
