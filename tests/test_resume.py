"""Runs that keep going, resume, and never leave half a result (issue 13, part 2).

`pnas generate`: a bad input among good ones, outputs never read back as inputs, --resume
giving the bytes of an uninterrupted run, a cloud and its sidecar landing together, SIGINT and
SIGTERM on a real process. `pnas eval` and the runner: outputs checked before the work, each
category saved as it is done, --resume, and metrics that cannot be computed recorded as null.
"""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import pointad.runner as runner
from conftest import write_tiny_real3d
from pointad.cli import main
from pointad.cli._interrupt import Interrupted, graceful_interrupts
from pointad.errors import InputError
from pointad.io import Cloud, write_cloud
from pointad.io.atomic import atomic_group
from pointad.samples import sample_cloud


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def files(folder):
    """{name: bytes} of every file in ``folder``."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def hidden(folder):
    return [p.name for p in folder.rglob(".*")]


def write_xyz(path, n=300, seed=0):
    write_cloud(path, Cloud(points=sample_cloud("sphere", n_points=n, seed=seed).points))


# ----------------------------------------------------------------- pnas generate: keep going


def test_a_bad_file_is_reported_at_the_end_and_the_others_are_written(tmp_path, capsys):
    src = tmp_path / "in"
    write_xyz(src / "a.xyz", seed=1)
    (src / "b.xyz").write_text("1 2 3\n4 5 nan\n7 8 9\n")  # bad: NaN and too few points
    write_xyz(src / "c.xyz", seed=2)
    out = tmp_path / "out"
    code, _, err = run_cli(["generate", src, "-o", out, "--count", "2", "-q"], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith(f"pnas: error: {src / 'b.xyz'}: ")
    assert lines[1] == "pnas: 2 of 6 samples failed; the others were written"
    assert sorted(p.name for p in out.iterdir()) == [
        f"{s}_pnas_{i}.{e}" for s in "ac" for i in (0, 1) for e in ("json", "ply")]
    assert "Traceback" not in err


def test_every_input_failing_is_exit_2_one_line_each(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b"):
        (src / f"{name}.xyz").write_text("1 2 3\n")
    out = tmp_path / "out"
    code, _, err = run_cli(["generate", src, "-o", out, "-q"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in err
    for line, name in zip(lines, ("a.xyz", "b.xyz")):  # one point: fewer than k neighbours
        assert line.startswith(f"pnas: error: {src / name}: ") and "fewer than" in line
    assert not out.exists()  # nothing made, nothing left (not even the directory)


def test_one_sample_failing_names_its_seeds(tmp_path, capsys, monkeypatch):
    """Samples that fail for one reason (here seeds 1 and 2) are one line naming the input and
    the seeds; the others are written and the exit status is 1."""
    import pointad.cli.generate as generate
    real = generate.write_sample

    def flaky(cloud, sample, cloud_path, *a, **k):
        if sample.params["seed"] in (1, 2):
            raise InputError("the defect labels no point anomalous")
        return real(cloud, sample, cloud_path, *a, **k)

    monkeypatch.setattr(generate, "write_sample", flaky)
    code, _, err = run_cli(["generate", "-o", tmp_path, "--count", "4", "-q"], capsys)
    assert code == 1
    assert err.splitlines() == [
        "pnas: error: built-in sample flange, seeds 1-2: the defect labels no point anomalous",
        "pnas: 2 of 4 samples failed; the others were written"]
    assert sorted(p.name for p in tmp_path.glob("*.ply")) == ["flange_pnas_0.ply",
                                                              "flange_pnas_3.ply"]


def test_outputs_and_temporaries_are_never_read_back_as_inputs(tmp_path, capsys):
    """--out is the input folder: the second run (resuming) sees only the original inputs,
    not the outputs of the first, not a hidden temporary, not a cloud whose sidecar never
    landed."""
    src = tmp_path / "scans"
    write_xyz(src / "a.xyz", seed=1)
    write_xyz(src / "b.xyz", seed=2)
    args = ["generate", src, "-o", src, "--format", "xyz", "--count", "2", "-q"]
    assert run_cli(args, capsys)[0] == 0
    (src / "b_pnas_1.json").unlink()  # b_pnas_1.xyz: a cloud whose sidecar never landed
    (src / ".a.xyz.1234abcd.xyz").write_text("junk\n")  # a temporary left by a crash
    code, _, err = run_cli(args + ["--resume"], capsys)
    assert code == 0, err
    names = sorted(p.name for p in src.iterdir() if not p.name.startswith("."))
    assert names == sorted(["a.xyz", "b.xyz"] + [f"{s}_pnas_{i}.{e}" for s in "ab"
                                                 for i in (0, 1) for e in ("json", "xyz")])
    # A directory whose only clouds are outputs holds no inputs.
    only = tmp_path / "only"
    only.mkdir()
    for name in ("a_pnas_0.xyz", "a_pnas_0.json"):
        (only / name).write_bytes((src / name).read_bytes())
    code, _, err = run_cli(["generate", only, "-o", tmp_path / "o2", "-q"], capsys)
    assert code == 2 and "holds no clouds" in err and "1 outputs of pnas generate left out" in err


def test_an_input_is_never_an_output(tmp_path, capsys):
    write_xyz(tmp_path / "a.xyz")
    write_xyz(tmp_path / "a_pnas_0.xyz", seed=3)
    code, _, err = run_cli(["generate", tmp_path / "a.xyz", tmp_path / "a_pnas_0.xyz",
                            "-o", tmp_path, "--format", "xyz", "--overwrite", "-q"], capsys)
    assert code == 2 and "is an input and an output name" in err


@pytest.mark.parametrize("mix", [[], ["--defect", "ridge", "--defect", "hole:2"]])
def test_resume_gives_the_bytes_of_an_uninterrupted_run(tmp_path, capsys, mix):
    base = ["generate", "-q", "--count", "4", "--seed", "3", *mix]
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert run_cli(base + ["-o", whole], capsys)[0] == 0
    assert run_cli(base + ["-o", part], capsys)[0] == 0
    # An interrupted run: sample 5 lost its sidecar, sample 6 is gone.
    jsons = sorted(part.glob("*.json"), key=lambda p: json.loads(p.read_text())["seed"])
    assert [json.loads(p.read_text())["seed"] for p in jsons] == [3, 4, 5, 6]
    jsons[2].unlink()
    for p in part.glob(jsons[3].stem + ".*"):
        p.unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in part.glob("*_[34].*")}
    code, _, err = run_cli(base + ["-o", part, "--resume"], capsys)
    assert code == 0, err
    assert files(part) == files(whole) and len(files(whole)) == 8
    assert {p.name: p.stat().st_mtime_ns for p in part.glob("*_[34].*")} == kept  # skipped
    assert not hidden(part)
    # Without --resume the finished samples are refused, as before.
    code, _, err = run_cli(base + ["-o", part], capsys)
    assert code == 2 and "--resume to continue" in err


def test_resume_refuses_other_parameters_and_overwrite(tmp_path, capsys):
    assert run_cli(["generate", "-o", tmp_path, "-q"], capsys)[0] == 0
    before = files(tmp_path)
    code, _, err = run_cli(["generate", "-o", tmp_path, "-q", "--strength", "0.05",
                            "--count", "2", "--resume"], capsys)
    assert code == 2 and "made with other parameters (strength)" in err
    code, _, err = run_cli(["generate", "-o", tmp_path, "-q", "--resume", "--overwrite"],
                           capsys)
    assert code == 2 and "give one" in err
    assert files(tmp_path) == before


def test_cloud_and_sidecar_land_together_or_not_at_all(tmp_path, monkeypatch):
    import pointad.synthesis.output as output
    from pointad.synthesis import PNAS

    base = sample_cloud("sphere", n_points=300)
    sample = PNAS()(base.points, base.normals, seed=0)
    cloud_path, json_path = output.sample_paths(tmp_path, "s", 0, "ply")

    def broken(path, obj, **kwargs):
        raise InputError(f"{path}: disk full")

    monkeypatch.setattr(output, "write_json", broken)
    with pytest.raises(InputError, match="s_pnas_0.json: disk full"):  # the target's name
        output.write_sample(base, sample, cloud_path, json_path, source="x")
    assert not list(tmp_path.iterdir())  # no cloud, no temporary
    monkeypatch.undo()
    output.write_sample(base, sample, cloud_path, json_path, source="x")
    assert output.finished_sample(cloud_path, json_path)["seed"] == 0
    json_path.unlink()
    assert output.finished_sample(cloud_path, json_path) is None  # a cloud alone: unfinished


def test_atomic_group_checks_every_target_first(tmp_path):
    (tmp_path / "b").write_text("kept")
    with pytest.raises(InputError, match="exists"):
        with atomic_group([tmp_path / "a", tmp_path / "b"]) as temps:
            pytest.fail(f"entered with {temps}")
    assert files(tmp_path) == {"b": b"kept"}
    with pytest.raises(RuntimeError):
        with atomic_group([tmp_path / "a", tmp_path / "c"]) as (a, c):
            a.write_text("1")
            c.write_text("2")
            raise RuntimeError
    assert files(tmp_path) == {"b": b"kept"}
    with atomic_group([tmp_path / "a", tmp_path / "c"]) as (a, c):
        a.write_text("1")
        c.write_text("2")
    assert files(tmp_path) == {"a": b"1", "b": b"kept", "c": b"2"}


# --------------------------------------------------------------------- signals


def test_graceful_interrupts_only_record_the_signal():
    # A pytest-xdist worker ignores SIGINT, and an ignored signal stays ignored (by design):
    # start from Python's own handler, as a terminal's ``pnas`` has it.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(Interrupted) as caught:
            with graceful_interrupts("sample") as stop:
                stop.check()  # nothing yet
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # the handler runs here: no KeyboardInterrupt
                assert stop.signum == signal.SIGINT
                stop.check()
        assert caught.value.code == 130
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _generate_until_first_sample(tmp_path, out, count):
    """Start a real `pnas generate` and return it once its first sample is in ``out``."""
    src = tmp_path / "part.ply"
    if not src.exists():
        base = sample_cloud("flange", n_points=800)
        write_cloud(src, Cloud(points=base.points, normals=base.normals))
    proc = subprocess.Popen([sys.executable, "-m", "pointad", "generate", str(src), "-o",
                             str(out), "--count", str(count), "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(out.glob("*.json"))):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    return proc


def _assert_whole_samples_only(out):
    assert not hidden(out)
    clouds = sorted(out.glob("*.ply"))
    assert clouds and all(p.with_suffix(".json").is_file() for p in clouds)
    assert len(list(out.glob("*.json"))) == len(clouds)


def test_sigint_stops_a_real_run_cleanly_and_resume_finishes_it(tmp_path, capsys):
    out = tmp_path / "out"
    proc = _generate_until_first_sample(tmp_path, out, count=40)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "pnas: interrupted" in err and "--resume continues" in err
    assert "Traceback" not in err and "Fatal Python error" not in err
    _assert_whole_samples_only(out)
    n_before = len(list(out.glob("*.ply")))
    assert 0 < n_before < 40
    code, _, err = run_cli(["generate", tmp_path / "part.ply", "-o", out, "--count", "40", "-q",
                            "--resume"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["generate", tmp_path / "part.ply", "-o", tmp_path / "whole",
                            "--count", "40", "-q"], capsys)
    assert code == 0, err
    assert files(out) == files(tmp_path / "whole")


def test_sigterm_repeated_ends_a_real_run_cleanly(tmp_path):
    out = tmp_path / "out"
    proc = _generate_until_first_sample(tmp_path, out, count=400)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)  # impatient: stop at once (or with the first, if merged)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "Fatal Python error" not in err
    _assert_whole_samples_only(out)


SECOND_SIGNAL = """
import os, signal, sys, time
from pointad.cli._interrupt import graceful_interrupts
from pointad.io import atomic_write
with graceful_interrupts("sample") as stop:
    with atomic_write(sys.argv[1]) as tmp:
        tmp.write_text("half")
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)  # the second: exits here, removing tmp
        time.sleep(5)
print("not reached")
"""


def test_a_second_signal_exits_at_once_and_removes_temporaries(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SECOND_SIGNAL, str(tmp_path / "x.txt")],
                          capture_output=True, text=True, timeout=60,
                          preexec_fn=_default_sigint)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.splitlines() == [
        "pnas: stopping after the current sample (Ctrl-C again to stop at once)",
        "pnas: interrupted"]
    assert proc.stdout == "" and not list(tmp_path.iterdir())


# ------------------------------------------------------------------------- pnas eval / runner


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Real3D-AD layout, 2 categories, 2 good and 2 defective test clouds of 500 points."""
    return write_tiny_real3d(tmp_path_factory.mktemp("tiny") / "real3d", n_points=500,
                             n_good=2, n_bad=2, fraction=0.05)


PARAMS = {"align_points": 400, "icp_iterations": 5, "consensus": False}


class Stop(Exception):
    pass


def _stop_after(n):
    """A check_stop that raises on its (n + 1)-th call: n categories get done."""
    calls = []

    def check():
        calls.append(1)
        if len(calls) > n:
            raise Stop
    return check


@pytest.mark.parametrize("unified", [False, True])
def test_eval_saves_each_category_and_resumes(tiny, tmp_path, monkeypatch, unified):
    whole, _, _ = runner.evaluate_to(tmp_path / "whole", "raw", tiny, params=PARAMS,
                                     progress=False, unified=unified)
    out = tmp_path / "out"
    with pytest.raises(Stop):
        runner.evaluate_to(out, "raw", tiny, params=PARAMS, progress=False, unified=unified,
                           check_stop=_stop_after(1 + unified))  # unified: one check to fit
    stem = "raw_real3d" + ("_unified" if unified else "")
    parts = out / f"{stem}.categories"
    assert sorted(p.name for p in out.iterdir()) == [parts.name]  # no result file yet
    assert sorted(p.name for p in parts.iterdir()) == ["box.json", "box.scores.npz"]
    saved = json.loads((parts / "box.json").read_text())["result"]
    # Without --resume the unfinished run is refused, before any work.
    monkeypatch.setattr(runner, "evaluate", lambda *a, **k: pytest.fail("evaluated"))
    with pytest.raises(InputError, match="--resume continues it"):
        runner.evaluate_to(out, "raw", tiny, params=PARAMS, progress=False, unified=unified)
    monkeypatch.undo()
    scored = []
    real = runner.score_category
    monkeypatch.setattr(runner, "score_category",
                        lambda det, m, root, c, **k: scored.append(c) or real(det, m, root, c, **k))
    results, json_path, csv_path = runner.evaluate_to(out, "raw", tiny, params=PARAMS,
                                                      progress=False, unified=unified,
                                                      resume=True)
    assert scored == ["cylinder"]  # box was read, not evaluated again
    assert results["categories"][0] == {k: v for k, v in saved.items()
                                        if k not in ("notes", "undefined")}
    for a, b in zip(results["categories"], whole["categories"]):
        assert {k: a[k] for k in runner.METRIC_COLUMNS} == {k: b[k] for k in
                                                            runner.METRIC_COLUMNS}
    assert {k: results["mean"][k] for k in runner.METRIC_COLUMNS} == \
        {k: whole["mean"][k] for k in runner.METRIC_COLUMNS}
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.csv", f"{stem}.json",
                                                     f"{stem}.scores.npz"]
    assert json.loads(json_path.read_text()) == json.loads(json.dumps(results))


def test_eval_resume_refuses_other_settings(tiny, tmp_path):
    with pytest.raises(Stop):
        runner.evaluate_to(tmp_path, "raw", tiny, params=PARAMS, progress=False,
                           check_stop=_stop_after(1))
    with pytest.raises(InputError, match=r"box.json: made with other settings \(params\)"):
        runner.evaluate_to(tmp_path, "raw", tiny, params={**PARAMS, "top_fraction": 0.5},
                           progress=False, resume=True)


def test_pnas_eval_checks_its_outputs_before_the_work(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "evaluate", lambda *a, **k: pytest.fail("evaluated"))
    (tmp_path / "raw_real3d.json").write_text("{}")
    base = ["eval", "-m", "raw", "-d", tiny, "-q"]
    code, _, err = run_cli(base + ["-o", tmp_path], capsys)
    assert code == 2 and "raw_real3d.json exists; use --resume" in err
    assert (tmp_path / "raw_real3d.json").read_text() == "{}"
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(base + ["-o", tmp_path / "file" / "sub"], capsys)
    assert code == 2 and "cannot write there" in err and err.count("\n") == 1
    code, _, err = run_cli(base + ["-o", tmp_path / "new", "--resume", "--overwrite"], capsys)
    assert code == 2 and "give one" in err and not (tmp_path / "new").exists()


def test_pnas_eval_resume_adds_categories_to_a_finished_file(tiny, tmp_path, capsys):
    base = ["eval", "-m", "raw", "-d", tiny, "-q", "-o", tmp_path, "-p", "align_points=400",
            "-p", "icp_iterations=5", "-p", "consensus=false"]
    assert run_cli(base + ["-c", "box"], capsys)[0] == 0
    box = json.loads((tmp_path / "raw_real3d.json").read_text())["categories"][0]
    code, out, err = run_cli(base + ["-c", "cylinder", "--resume"], capsys)
    assert code == 0, err
    saved = json.loads((tmp_path / "raw_real3d.json").read_text())
    assert [r["category"] for r in saved["categories"]] == ["box", "cylinder"]
    assert saved["categories"][0] == box  # kept as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw_real3d.csv", "raw_real3d.json",
                                                          "raw_real3d.scores.npz"]


def _all_good_folder(root):
    for cat in ("box", "cylinder"):
        for i in range(2):
            write_cloud(root / cat / "train" / f"{i}.xyz",
                        Cloud(points=sample_cloud(cat, 400, seed=i).points))
            write_cloud(root / cat / "test" / "good" / f"{i}.xyz",
                        Cloud(points=sample_cloud(cat, 400, seed=10 + i).points))
    return root


def test_metrics_that_cannot_be_computed_are_null_with_the_reason(tmp_path, capsys):
    data = _all_good_folder(tmp_path / "data")  # no defective test cloud at all
    code, out, err = run_cli(["eval", "-m", "raw", "-d", data, "-o", tmp_path / "res", "-q",
                              "-p", "align_points=300"], capsys)
    assert code == 0, err
    saved = json.loads((tmp_path / "res" / "raw_folder.json").read_text())
    for row in saved["categories"] + [saved["mean"]]:
        assert all(row[m] is None for m in runner.METRIC_COLUMNS)
        assert row["fit_s"] >= 0
    assert "labels are all normal" in saved["undefined"]["box"]["I-AUROC"]
    assert "anomalous point" in saved["undefined"]["cylinder"]["AUPRO"]
    assert saved["undefined"]["mean"]["P-AUROC"] == "not computed for any category"
    with open(tmp_path / "res" / "raw_folder.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["I-AUROC"] for r in rows] == ["", "", ""]
    table = out.splitlines()
    assert table[3].split()[:5] == ["box", "n/a", "n/a", "n/a", "n/a"]
    assert any(line.startswith("n/a: I-AUROC, P-AUROC of box, cylinder: labels are all normal")
               for line in table)


def test_mean_over_the_categories_that_have_the_metric():
    assert runner.mean_defined([0.5, None, float("nan"), 1.0]) == 0.75
    assert runner.mean_defined([None, float("nan")]) is None


def test_no_per_point_labels_at_all_gives_a_reason_for_aupro():
    from pointad.datasets import Sample
    from pointad.detectors import Prediction

    samples = [Sample(points=np.zeros((3, 3)), labels=None, label=label, category="c",
                      defect="d" if label else "good", id=str(label), path=None)
               for label in (0, 1)]
    preds = [Prediction(np.zeros(3), 0.0), Prediction(np.ones(3), 1.0)]
    undefined = {}
    m = runner.category_metrics(samples, preds, undefined=undefined)
    assert m["I-AUROC"] == 1.0
    assert np.isnan(m["AUPRO"]) and undefined["AUPRO"] == "no test cloud has per-point labels"
    assert set(undefined) == {"P-AUROC", "P-AP", "P-F1max", "AUPRO"}


def test_report_tool_resumes_inside_a_method(tiny, tmp_path, monkeypatch, capsys):
    """tools/report.py goes through the runner: an interrupted (method, layout) continues from
    its finished categories."""
    from conftest import TOOLS, load_script
    report = load_script(TOOLS / "report.py")
    out = tmp_path / "res"
    with pytest.raises(Stop):
        runner.evaluate_to(out, "raw", tiny, params=PARAMS, progress=False,
                           check_stop=_stop_after(1))
    scored = []
    real = runner.score_category
    monkeypatch.setattr(runner, "score_category",
                        lambda det, m, root, c, **k: scored.append(c) or real(det, m, root, c, **k))
    argv = ["--data", tiny.parent, "--out", out, "--methods", "raw", "--layouts", "real3d", "-q",
            "--param", "raw.align_points=400", "--param", "raw.icp_iterations=5",
            "--param", "raw.consensus=false"]
    assert report.main([str(a) for a in argv]) == 0
    assert scored == ["cylinder"]
    assert sorted(p.name for p in out.iterdir()) == ["raw_real3d.csv", "raw_real3d.json",
                                                     "raw_real3d.scores.npz"]
