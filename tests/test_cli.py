"""The `pnas generate` command: outputs, sidecars, safety of existing files, one-line errors."""
import json
import subprocess
import sys

import numpy as np
import pytest

from pointad.cli import main
from pointad.io import Cloud, read_cloud, write_cloud
from pointad.samples import sample_cloud
from pointad.synthesis import PNAS


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_builtin_sample_writes_cloud_and_sidecar(tmp_path, capsys):
    code, out, err = run_cli(["generate", "--out", str(tmp_path), "--seed", "4", "-q"], capsys)
    assert code == 0 and err == ""
    cloud = read_cloud(tmp_path / "flange_pnas_4.ply")
    meta = json.loads((tmp_path / "flange_pnas_4.json").read_text())
    assert meta["seed"] == 4 and meta["config"]["scale"] == 2.0
    assert meta["output"] == "flange_pnas_4.ply"
    assert cloud.labels.mean() == pytest.approx(0.03, abs=1e-4)
    assert np.array_equal(cloud.labels.astype(bool), cloud.fields["soft_label"] >= 0.5)
    # The sidecar regenerates the written sample from the original cloud.
    base = sample_cloud("flange")
    again = PNAS(**meta["config"])(base.points, base.normals, seed=meta["seed"])
    np.testing.assert_allclose(cloud.points, again.points, atol=1e-5)


def test_generate_reports_what_it_wrote(tmp_path, capsys):
    code, out, _ = run_cli(["generate", "-o", str(tmp_path), "--count", "2", "--fraction", "0.05"],
                           capsys)
    assert code == 0
    assert "flange_pnas_0.ply" in out and "flange_pnas_1.ply" in out and "5.0%" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "flange_pnas_0.json", "flange_pnas_0.ply", "flange_pnas_1.json", "flange_pnas_1.ply"]


def test_generate_directory_of_inputs_with_paper_mode(tmp_path, capsys):
    src = tmp_path / "in"
    for name, seed in (("a", 1), ("b", 2)):
        c = sample_cloud("sphere", n_points=1500, seed=seed)
        write_cloud(src / f"{name}.xyz", Cloud(points=c.points))  # no normals: estimated
    (src / "notes.md").write_text("not a cloud")
    out_dir = tmp_path / "out"
    code, _, err = run_cli(["generate", str(src), "-o", str(out_dir), "--mode", "paper",
                            "--octaves", "3", "--scale", "3", "--format", "npz", "-q"], capsys)
    assert code == 0, err
    written = sorted(p.name for p in out_dir.glob("*.npz"))
    assert written == ["a_pnas_0.npz", "b_pnas_0.npz"]
    meta = json.loads((out_dir / "a_pnas_0.json").read_text())
    assert meta["config"]["mode"] == "paper" and meta["config"]["octaves"] == 3
    assert meta["input"].endswith("a.xyz")


def test_organized_tiff_keeps_its_grid(tmp_path, capsys):
    plate = sample_cloud("plate", n_points=2000)
    write_cloud(tmp_path / "scan.tiff", Cloud(points=plate.points, grid_shape=plate.grid_shape,
                                              grid_index=plate.grid_index))
    code, _, err = run_cli(["generate", str(tmp_path / "scan.tiff"), "-o", str(tmp_path / "o"),
                            "--projection", "grid", "--format", "tiff", "-q"], capsys)
    assert code == 0, err
    out = read_cloud(tmp_path / "o" / "scan_pnas_0.tiff")
    assert out.grid_shape == plate.grid_shape and len(out) == len(plate)
    assert not np.allclose(out.points, plate.points.astype(np.float32))


def test_existing_outputs_are_never_overwritten(tmp_path, capsys):
    assert run_cli(["generate", "-o", str(tmp_path), "-q"], capsys)[0] == 0
    target = tmp_path / "flange_pnas_0.ply"
    before = target.read_bytes()
    code, _, err = run_cli(["generate", "-o", str(tmp_path), "--seed", "0", "--strength", "0.05",
                            "-q"], capsys)
    assert code == 2 and "exists" in err and "--overwrite" in err
    assert target.read_bytes() == before
    code, _, _ = run_cli(["generate", "-o", str(tmp_path), "--strength", "0.05", "--overwrite",
                          "-q"], capsys)
    assert code == 0 and target.read_bytes() != before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def _write_text(path, rows):
    path.write_text("\n".join(" ".join(str(v) for v in r) for r in rows) + "\n")


@pytest.mark.parametrize("case,expect", [
    ("missing", "file not found"),
    ("unknown_format", "missing.foo"),
    ("nan", "non-finite"),
    ("few", "fewer than the normal neighbourhood size"),
    ("collinear", "collinear"),
    ("bad_scale", "scale must be > 0"),
    ("bad_octaves", "octaves must be >= 1"),
    ("bad_count", "--count must be >= 1"),
    ("bad_choice", "invalid choice"),
    ("empty_dir", "directory holds no clouds"),
])
def test_bad_input_gets_one_line_error(tmp_path, capsys, case, expect):
    rng = np.random.default_rng(0)
    args = ["generate", "-o", str(tmp_path / "out"), "-q"]
    if case == "missing":
        args.append(str(tmp_path / "nope.ply"))
    elif case == "unknown_format":
        (tmp_path / "missing.foo").write_text("1 2 3\n")
        args.append(str(tmp_path / "missing.foo"))
    elif case == "nan":
        rows = rng.normal(size=(200, 3)).tolist()
        rows[7][1] = "nan"
        _write_text(tmp_path / "c.xyz", rows)
        args.append(str(tmp_path / "c.xyz"))
    elif case == "few":
        _write_text(tmp_path / "c.xyz", rng.normal(size=(12, 3)).tolist())
        args.append(str(tmp_path / "c.xyz"))
    elif case == "collinear":
        _write_text(tmp_path / "c.xyz", [[t, 2 * t, 3 * t] for t in np.linspace(0, 1, 100)])
        args.append(str(tmp_path / "c.xyz"))
    elif case == "bad_scale":
        args += ["--scale", "0"]
    elif case == "bad_octaves":
        args += ["--octaves", "0"]
    elif case == "bad_count":
        args += ["--count", "0"]
    elif case == "bad_choice":
        args += ["--projection", "uv"]
    elif case == "empty_dir":
        (tmp_path / "empty").mkdir()
        args.append(str(tmp_path / "empty"))
    code, out, err = run_cli(args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("pnas: error: ") and expect in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_console_script_help_and_error_without_traceback(tmp_path):
    exe = [sys.executable, "-m", "pointad"]
    helped = subprocess.run(exe + ["generate", "--help"], capture_output=True, text=True,
                            check=True)
    for word in ("--scale", "--octaves", "--persistence", "--lacunarity", "--strength",
                 "--projection", "--count", "--seed", "--format", "object diameter", "default: 4"):
        assert word in helped.stdout
    bad = subprocess.run(exe + ["generate", str(tmp_path / "none.ply")], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        f"pnas: error: {tmp_path / 'none.ply'}: file not found"]


def test_progress_bar_inside_a_large_cloud(tmp_path, capsys, monkeypatch):
    """A cloud over LARGE_CLOUD points gets a bar while its normals are estimated: with
    --progress (stderr here is no terminal), never with --quiet, not for a small cloud."""
    from pointad.cli import _progress
    assert not _progress.wanted(10, requested=True)
    assert not _progress.wanted(2_000_000, quiet=True, requested=True)
    assert _progress.wanted(2_000_000, requested=True)
    assert not _progress.wanted(2_000_000)          # stderr is captured: not a terminal
    monkeypatch.setattr(_progress, "LARGE_CLOUD", 1000)
    np.savetxt(tmp_path / "part.xyz", sample_cloud("flange", n_points=3000).points)
    args = ["generate", str(tmp_path / "part.xyz"), "--count", "2"]
    code, out, err = run_cli(args + ["-o", str(tmp_path / "a"), "--progress"], capsys)
    assert code == 0 and "estimating normals:" in err and "%|" in err
    code, out, err = run_cli(args + ["-o", str(tmp_path / "b"), "--progress", "-q"], capsys)
    assert code == 0 and err == "" and out == ""
    code, out, err = run_cli(args + ["-o", str(tmp_path / "c")], capsys)
    assert code == 0 and "estimating normals" not in err
    # The bar changes nothing written.
    for name in ("part_pnas_0.ply", "part_pnas_1.ply", "part_pnas_0.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_generate_estimates_normals_once_per_input(tmp_path, capsys, monkeypatch):
    """--count N estimates an input's normals once, and its samples are those of N separate
    runs (each sample its own seed)."""
    import pointad.cli.generate as generate_module
    calls = []
    real = generate_module.estimate_normals

    def counting(*args, **kwargs):
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(generate_module, "estimate_normals", counting)
    np.savetxt(tmp_path / "part.xyz", sample_cloud("flange", n_points=3000).points)
    for mix in ([], ["--defect", "ridge", "--defect", "hole"]):
        calls.clear()
        code, _, err = run_cli(["generate", str(tmp_path / "part.xyz"), "-o",
                                str(tmp_path / f"all{len(mix)}"), "--count", "3", "-q"] + mix,
                               capsys)
        assert code == 0, err
        assert calls == [3000]
        for seed in range(3):
            code, _, _ = run_cli(["generate", str(tmp_path / "part.xyz"), "-o",
                                  str(tmp_path / f"one{len(mix)}_{seed}"), "--seed", str(seed),
                                  "-q"] + mix, capsys)
            made = sorted((tmp_path / f"one{len(mix)}_{seed}").iterdir())
            for path in made:
                assert path.read_bytes() == (tmp_path / f"all{len(mix)}" / path.name).read_bytes()
        assert len(calls) == 4    # one per run


HEAVY = ("numba", "llvmlite", "scipy", "trimesh", "networkx", "torch", "open3d", "sklearn")


def test_help_imports_no_heavy_library():
    """`pnas --help` (and building the whole parser: every verb's options) loads none of numba,
    scipy, trimesh, torch or open3d: the verb modules import them where they run. Checked on
    the imports themselves (python -X importtime), not on a wall time; tools/bench.py --only
    help times it."""
    helped = subprocess.run([sys.executable, "-X", "importtime", "-m", "pointad", "--help"],
                            capture_output=True, text=True, check=True)
    assert "generate" in helped.stdout and "eval" in helped.stdout
    imported = {line.rsplit("|", 1)[1].strip() for line in helped.stderr.splitlines()
                if line.startswith("import time:") and line.count("|") == 2}
    assert "pointad.cli.generate" in imported          # the parser was really built
    assert not {name for name in imported if name.split(".")[0] in HEAVY}
    code = ("import sys; from pointad.cli import build_parser; build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert not set(json.loads(loaded.replace("'", '"'))) & set(HEAVY)


# --- defect kinds: --defect, --defects-per-sample, --height, --defect-param ----------------


def _flange_defect(kind, seed, **params):
    from pointad.synthesis.defects import apply

    base = sample_cloud("flange")
    return base, apply(kind, base.points, base.normals, seed=seed, **params)


def test_generate_one_defect_kind_matches_apply(tmp_path, capsys):
    code, out, err = run_cli(["generate", "-o", str(tmp_path), "--defect", "ridge", "--seed", "3",
                              "--height", "5", "--defect-param", "aspect=4"], capsys)
    assert code == 0, err
    assert "flange_ridge_3.ply (ridge: " in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flange_ridge_3.json",
                                                          "flange_ridge_3.ply"]
    base, result = _flange_defect("ridge", 3, height=5.0, aspect=4)
    points, labels, offsets = result.visible()
    written = read_cloud(tmp_path / "flange_ridge_3.ply")
    np.testing.assert_array_equal(written.labels.astype(bool), labels)
    np.testing.assert_allclose(written.points, points, atol=1e-4)
    np.testing.assert_allclose(written.fields["displacement"],
                               (offsets * base.normals).sum(axis=1), atol=1e-5)
    np.testing.assert_allclose(written.fields["offset"], np.linalg.norm(offsets, axis=1),
                               atol=1e-5)
    assert labels.any() and (written.fields["offset"][~labels] == 0).all()
    meta = json.loads((tmp_path / "flange_ridge_3.json").read_text())
    assert meta["kind"] == "ridge" and meta["kinds"] == ["ridge"] and meta["seed"] == 3
    assert meta["output"] == "flange_ridge_3.ply" and meta["n_defects"] == 1
    drawn = meta["defects"][0]
    assert drawn["aspect"] == 4 and drawn["height_spacings"] == pytest.approx(5.0)
    assert drawn == {**{k: v for k, v in result.params.items() if k != "seed"}, "kind": "ridge"}
    assert meta["mix"] == {"weights": {"ridge": 1.0}, "n_defects": 1,
                           "common": {"height": 5.0, "aspect": 4}}


def test_generate_weighted_mix_draws_only_the_given_kinds(tmp_path, capsys):
    code, _, err = run_cli(["generate", "-o", str(tmp_path), "-q", "--count", "6",
                            "--defect", "bulge:2", "--defect", "dent:1", "--defect", "crack:0",
                            "--fraction", "0.02"], capsys)
    assert code == 0, err
    metas = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.json"))]
    assert len(metas) == 6 and len(list(tmp_path.glob("*.ply"))) == 6
    kinds = [m["kind"] for m in metas]
    assert set(kinds) <= {"bulge", "dent"} and len(set(kinds)) == 2
    for m in metas:
        assert m["output"] == f"flange_{m['kind']}_{m['seed']}.ply"
        assert m["defects"][0]["target_fraction"] == 0.02
        assert m["mix"]["weights"] == {"bulge": 2.0, "dent": 1.0, "crack": 0.0}


def test_generate_two_defects_per_sample_and_a_hole_removes_points(tmp_path, capsys):
    code, out, err = run_cli(["generate", "-o", str(tmp_path), "--defect", "hole",
                              "--defects-per-sample", "2", "--seed", "1"], capsys)
    assert code == 0, err
    meta = json.loads((tmp_path / "flange_hole-hole_1.json").read_text())
    assert meta["kinds"] == ["hole", "hole"] and meta["n_defects"] == 2
    assert [d["kind"] for d in meta["defects"]] == ["hole", "hole"]
    assert meta["kind"] == "hole+hole" and meta["mix"]["n_defects"] == 2
    written = read_cloud(tmp_path / "flange_hole-hole_1.ply")
    n = len(sample_cloud("flange").points)
    removed = sum(d["removed"] for d in meta["defects"])
    assert len(written) == n - removed == meta["kept"] and removed > 0
    assert int(written.labels.sum()) == meta["anomalous"] > 0
    # One hole: the written cloud is apply's kept points.
    code, _, err = run_cli(["generate", "-o", str(tmp_path), "--defect", "hole", "-q"], capsys)
    assert code == 0, err
    _, result = _flange_defect("hole", 0)
    written = read_cloud(tmp_path / "flange_hole_0.ply")
    assert len(written) == int(result.keep.sum()) < n
    np.testing.assert_array_equal(written.labels.astype(bool), result.visible()[1])


def test_generate_defects_are_reproducible_and_never_overwritten(tmp_path, capsys):
    args = ["generate", "-q", "--defect", "ridge", "--defect", "hole:2", "--count", "3",
            "--defects-per-sample", "1-2", "--seed", "5"]
    for out in ("a", "b"):
        assert run_cli(args + ["-o", str(tmp_path / out)], capsys)[0] == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir()) and len(names) == 6
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    code, _, err = run_cli(args + ["-o", str(tmp_path / "a")], capsys)
    assert code == 2 and "exists" in err and "--overwrite" in err
    assert run_cli(args + ["-o", str(tmp_path / "a"), "--overwrite"], capsys)[0] == 0


def test_generate_defect_pnas_alone_is_the_pnas_synthesizer(tmp_path, capsys):
    base = ["generate", "-q", "--scale", "3", "--octaves", "2", "--seed", "2"]
    assert run_cli(base + ["-o", str(tmp_path / "a")], capsys)[0] == 0
    assert run_cli(base + ["-o", str(tmp_path / "b"), "--defect", "pnas"], capsys)[0] == 0
    for name in ("flange_pnas_2.ply", "flange_pnas_2.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_generate_list_defects(capsys):
    from pointad.synthesis.defects import available

    code, out, err = run_cli(["generate", "--list-defects"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == available()
    assert any(line.startswith("ridge ") and "elongated" in line for line in lines)


@pytest.mark.parametrize("extra,expect", [
    (["--defect", "blister"], "unknown defect kind 'blister'; available: bulge"),
    (["--defect", "ridge:x"], "weight must be a number"),
    (["--defect", "ridge:-1"], "weight must be a finite number >= 0"),
    (["--defect", "ridge:0"], "positive weight"),
    (["--defect", "ridge", "--defect", "ridge:2"], "given twice"),
    (["--defect", "ridge", "--defect", "hole", "--defect", "pnas", "--defect-param",
      "aspect=3"], "aspect: not taken by the kinds hole, pnas (taken by ridge, trench)"),
    (["--defect", "ridge", "--defect-param", "colour=3"], "taken by no kind"),
    (["--defect", "ridge", "--defect-param", "aspect"], "KEY=VALUE"),
    (["--defect", "ridge", "--defect-param", "height=3"], "use --height"),
    (["--defect", "ridge", "--defects-per-sample", "3-1"], "--defects-per-sample"),
    (["--defect", "ridge", "--defects-per-sample", "0"], "--defects-per-sample"),
    (["--defect", "ridge", "--height", "-2"], "--height"),
    (["--defect", "ridge", "--height", "4,2"], "lo <= hi"),
    (["--defect", "ridge", "--scale", "3"], "--scale sets the 3D-PNAS synthesizer"),
    (["--height", "3"], "need --defect"),
    (["--defect", "ridge", "--fraction", "0.9"], "--fraction must be <= 0.3"),
])
def test_bad_defect_options_get_one_line_error(tmp_path, capsys, extra, expect):
    code, out, err = run_cli(["generate", "-o", str(tmp_path / "out"), "-q", *extra], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("pnas: error: ") and expect in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
