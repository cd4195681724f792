"""Distributed and parallel runs on Dask (issue 13, part 1).

One ``distributed.LocalCluster`` (2 worker processes, 1 thread each) serves the module; the
verbs reach it with ``--scheduler ADDRESS``. Every output of ``pnas generate`` must be the same
bytes as a serial run's, the results of ``pnas eval`` the same numbers (times aside); a bad
input on a worker is reported like a serial failure; bad options are one line and exit 2.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import pointad.parallel as parallel
from conftest import write_tiny_real3d
from pointad.cli import main
from pointad.io import Cloud, write_cloud
from pointad.parallel import SerialExecutor, open_executor, run_tasks
from pointad.runner import evaluate
from pointad.samples import sample_cloud

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None,
                                       env=dict(parallel.SINGLE_THREAD_ENV))
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Three tiny clouds and a bad one."""
    src = tmp_path_factory.mktemp("in")
    for i, name in enumerate("ace"):
        write_cloud(src / f"{name}.xyz",
                    Cloud(points=sample_cloud("sphere", n_points=300, seed=i).points))
    (src / "b.xyz").write_text("1 2 3\n4 5 nan\n7 8 9\n")  # bad: NaN and too few points
    return src


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("extra", [["--count", "1"], ["--count", "5", "--seed", "3"],
                                   ["--count", "3", "--defect", "ridge", "--defect", "hole",
                                    "--defects-per-sample", "1-2"]])
def test_generate_on_the_cluster_writes_the_bytes_of_a_serial_run(cluster, inputs, tmp_path,
                                                                   capsys, extra):
    good = [inputs / f"{n}.xyz" for n in "ace"]
    code, _, err = run_cli(["generate", *good, "-o", tmp_path / "s", "-q", *extra], capsys)
    assert code == 0, err
    code, _, err = run_cli(["generate", *good, "-o", tmp_path / "p", "-q", *extra,
                            "--scheduler", cluster.scheduler_address], capsys)
    assert code == 0, err
    serial, dist = files(tmp_path / "s"), files(tmp_path / "p")
    assert len(serial) == 2 * 3 * int(extra[1])
    assert dist == serial


def test_a_bad_input_on_a_worker_is_reported_and_the_others_are_written(cluster, inputs,
                                                                        tmp_path, capsys):
    code, _, err_serial = run_cli(["generate", inputs, "-o", tmp_path / "s", "-n", "4", "-q"],
                                  capsys)
    assert code == 1
    code, _, err = run_cli(["generate", inputs, "-o", tmp_path / "p", "-n", "4", "-q",
                            "--scheduler", cluster.scheduler_address], capsys)
    assert code == 1
    assert err.replace(str(tmp_path / "p"), "OUT") == \
        err_serial.replace(str(tmp_path / "s"), "OUT")
    assert err.strip().splitlines()[-1] == "pnas: 4 of 16 samples failed; the others were written"
    assert f"pnas: error: {inputs / 'b.xyz'}: " in err and "Traceback" not in err
    assert files(tmp_path / "p") == files(tmp_path / "s")


def test_generate_with_local_workers(inputs, tmp_path, capsys):
    """--workers starts (and closes) its own LocalCluster."""
    good = [inputs / f"{n}.xyz" for n in "ac"]
    code, out, err = run_cli(["generate", *good, "-o", tmp_path / "s", "-n", "2"], capsys)
    assert code == 0, err
    code, out_p, err = run_cli(["generate", *good, "-o", tmp_path / "p", "-n", "2",
                                "--workers", "2"], capsys)
    assert code == 0, err
    assert files(tmp_path / "p") == files(tmp_path / "s")
    assert sorted(out_p.replace("/p/", "/s/").splitlines()) == sorted(out.splitlines())


def test_a_local_clusters_workers_keep_their_logs_off_stderr(capfd):
    """A worker logs an error when the scheduler goes first at shutdown (its heartbeat finds
    the connection closed), with a traceback, in the middle of the verb's one-line report:
    the workers of ``--workers`` log nothing to stderr; failures reach the verb as results."""
    import logging

    with open_executor(workers=1) as executor:
        log = logging.getLogger("distributed.worker")
        executor.submit(log.error, "pointad-test: heartbeat failed").result()
        executor.submit(log.critical, "pointad-test: critical").result()
    err = capfd.readouterr().err
    assert "pointad-test" not in err, err


def test_bench_make_on_the_cluster_writes_the_bytes_of_a_serial_build(cluster, tmp_path,
                                                                      capsys):
    args = ["bench", "make", "--size", "small", "--categories", "bottle,pipe_elbow",
            "--kinds", "real3d", "-q"]
    assert run_cli(args + ["-o", tmp_path / "s"], capsys)[0] == 0
    code, _, err = run_cli(args + ["-o", tmp_path / "p", "--scheduler",
                                   cluster.scheduler_address], capsys)
    assert code == 0, err
    serial = {p.relative_to(tmp_path / "s"): p.read_bytes()
              for p in sorted((tmp_path / "s").rglob("*")) if p.is_file()}
    dist = {p.relative_to(tmp_path / "p"): p.read_bytes()
            for p in sorted((tmp_path / "p").rglob("*")) if p.is_file()}
    assert len(serial) > 10 and dist == serial


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_real3d(tmp_path_factory.mktemp("tiny") / "real3d", n_points=500,
                             n_good=2, n_bad=2, fraction=0.05)


TIMES = ("fit_s", "predict_s_per_cloud")
# raw, fast: these tests compare runs with each other, not its registration (consensus: turned
# starts, most of its time).
RAW_PARAMS = {"align_points": 400, "icp_iterations": 5, "consensus": False}


def without_times(results):
    results = json.loads(json.dumps(results))
    results.pop("fit_s", None)
    for row in results["categories"] + [results["mean"]]:
        for k in TIMES:
            row.pop(k, None)
    return results


@pytest.mark.parametrize("unified", [False, True])
def test_eval_on_the_cluster_gives_the_serial_results(cluster, tiny, tmp_path, capsys, unified):
    args = ["eval", "-m", "raw", "-d", tiny, "-q", "-p", "align_points=400",
            "-p", "icp_iterations=5", "-p", "consensus=false"] + ["--unified"] * unified
    code, _, err = run_cli(args + ["-o", tmp_path / "s"], capsys)
    assert code == 0, err
    code, _, err = run_cli(args + ["-o", tmp_path / "p", "--scheduler",
                                   cluster.scheduler_address], capsys)
    assert code == 0, err
    name = "raw_real3d" + "_unified" * unified
    serial = json.loads((tmp_path / "s" / f"{name}.json").read_text())
    dist = json.loads((tmp_path / "p" / f"{name}.json").read_text())
    assert without_times(dist) == without_times(serial)
    assert [r["category"] for r in dist["categories"]] == ["box", "cylinder"]
    assert not (tmp_path / "p" / f"{name}.categories").exists()


def test_evaluate_takes_any_executor(cluster, tiny):
    params = RAW_PARAMS
    serial = evaluate("raw", tiny, params=params, progress=False)
    with distributed.Client(cluster) as client:
        dist = evaluate("raw", tiny, params=params, progress=False,
                        executor=client.get_executor())
    mine = evaluate("raw", tiny, params=params, progress=False, executor=SerialExecutor())
    assert without_times(dist) == without_times(serial) == without_times(mine)


class CountingExecutor:
    """Runs each call at once (as :class:`SerialExecutor`), says it has ``n_workers`` workers
    and records what it runs."""

    def __init__(self, n_workers):
        self.n_workers = n_workers
        self.calls = []

    def submit(self, fn, /, *args, **kwargs):
        self.calls.append(args[0].__name__ if fn is parallel.call else fn.__name__)
        return SerialExecutor().submit(fn, *args, **kwargs)


@pytest.mark.parametrize("unified", [False, True])
def test_fewer_categories_than_workers_score_the_test_clouds_in_parallel(cluster, tiny, unified):
    """One category on 2 workers: the fitted detector goes to the workers with chunks of its
    test clouds; the numbers are the serial run's."""
    params = RAW_PARAMS
    serial = evaluate("raw", tiny, params=params, categories=["cylinder"], unified=unified,
                      progress=False)
    with distributed.Client(cluster) as client:
        executor = client.get_executor()
        executor.n_workers = 2
        dist = evaluate("raw", tiny, params=params, categories=["cylinder"], unified=unified,
                        progress=False, executor=executor)
    assert without_times(dist) == without_times(serial)
    counting = CountingExecutor(n_workers=3)
    mine = evaluate("raw", tiny, params=params, categories=["cylinder"], unified=unified,
                    progress=False, executor=counting)
    assert without_times(mine) == without_times(serial)
    n_test = serial["categories"][0]["n_test"]
    assert counting.calls == ["_timed_predictions"] * min(n_test, 6)  # 2 x workers chunks
    counting = CountingExecutor(n_workers=2)  # as many categories as workers: by category
    evaluate("raw", tiny, params=params, unified=unified, progress=False, executor=counting)
    assert len(counting.calls) == 2 and "_timed_predictions" not in counting.calls


def test_run_tasks_drains_the_running_tasks_when_stopped():
    calls = []

    def check():
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt

    seen = []
    with pytest.raises(KeyboardInterrupt):
        for key, future in run_tasks(SerialExecutor(), ((i, abs, (-i,)) for i in range(10)),
                                     window=3, check=check):
            seen.append((key, future.result()))
    assert sorted(seen) == [(i, i) for i in range(6)]  # every task submitted is reported


def test_eval_stopped_keeps_the_finished_categories_and_resumes(tiny, tmp_path):
    """A stop (Ctrl-C) during a parallel eval: the categories done are saved, --resume ends
    the run with the serial results."""
    from pointad.runner import evaluate_to

    params = RAW_PARAMS

    def stop():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # SerialExecutor: both categories done at submit
        evaluate_to(tmp_path, "raw", tiny, params=params, progress=False, check_stop=stop,
                    executor=SerialExecutor())
    assert sorted(p.name for p in (tmp_path / "raw_real3d.categories").iterdir()) == \
        ["box.json", "box.scores.npz", "cylinder.json", "cylinder.scores.npz"]
    results, _, _ = evaluate_to(tmp_path, "raw", tiny, params=params, progress=False,
                                resume=True, executor=SerialExecutor())
    assert results.pop("scores_file") == "raw_real3d.scores.npz"  # what evaluate_to wrote
    assert without_times(results) == without_times(evaluate("raw", tiny, params=params,
                                                            progress=False))


def test_gpu_resource_is_asked_on_every_task(cluster):
    with open_executor(scheduler=cluster.scheduler_address, resources={"GPU": 1}) as ex:
        assert ex._kwargs["resources"] == {"GPU": 1}
        assert ex.n_workers == 2


@pytest.mark.parametrize("verb", [["generate", "-o", "{out}"],
                                  ["eval", "-m", "raw", "-d", "{data}", "-o", "{out}"],
                                  ["bench", "make", "-o", "{out}", "--size", "small"]])
@pytest.mark.parametrize("options, expect", [
    (["--workers", "0"], "--workers must be an integer >= 1, got 0"),
    (["--workers", "-3"], "--workers must be an integer >= 1"),
    (["--workers", "two"], "invalid int value"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:9"], "give one"),
    (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler tcp://127.0.0.1:9: cannot connect"),
])
def test_bad_parallel_options_are_one_line_exit_2(tiny, tmp_path, capsys, monkeypatch, verb,
                                                  options, expect):
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 0.5)
    args = [a.format(out=tmp_path / "out", data=tiny) for a in verb] + options
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("pnas: error: "), err
    assert expect in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_local_cluster_that_does_not_start_is_one_line_exit_2(tiny, tmp_path, capsys,
                                                                 monkeypatch):
    import distributed

    def fail(**_):  # what Dask raises when a `python -` script spawns its workers
        raise RuntimeError("An attempt has been made to start a new process before the\n"
                           "current process has finished its bootstrapping phase.")

    monkeypatch.setattr(distributed, "LocalCluster", fail)
    code, _, err = run_cli(["eval", "-m", "raw", "-d", tiny, "-o", tmp_path / "out",
                            "--workers", "2"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("pnas: error: --workers 2: the local Dask cluster did not start "
                          "(RuntimeError: An attempt has been made"), err
    assert not (tmp_path / "out").exists()


def test_gpu_workers_needs_a_cluster(tiny, tmp_path, capsys):
    code, _, err = run_cli(["eval", "-m", "raw", "-d", tiny, "-o", tmp_path, "--gpu-workers"],
                           capsys)
    assert code == 2 and err.strip() == \
        "pnas: error: --gpu-workers needs --workers or --scheduler"


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_on_a_parallel_run_stops_cleanly(inputs, tmp_path):
    """Ctrl-C at a terminal (SIGINT to the whole process group, workers included): exit 130,
    only whole samples written, the cluster closed, and --resume finishes the run."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "pointad", "generate", str(inputs / "a.xyz"), "-o", str(out),
            "-n", "400", "-q"]
    proc = subprocess.Popen(args + ["--workers", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 90
    while not (out.is_dir() and any(out.glob("*.json"))):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "--resume continues" in err and "Traceback" not in err
    assert not [p.name for p in out.rglob(".*")]
    clouds = sorted(out.glob("*.ply"))
    assert 0 < len(clouds) < 400
    assert all(p.with_suffix(".json").is_file() for p in clouds)
    assert len(list(out.glob("*.json"))) == len(clouds)
    deadline = time.monotonic() + 20  # the workers are gone with the driver
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "worker processes outlived the driver"
        time.sleep(0.2)
