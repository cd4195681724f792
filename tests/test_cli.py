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
