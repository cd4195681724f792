"""Per-point scores saved with the results, and the HTML report (issue 16).

The scores file next to a results JSON rebuilds the JSON's numbers, survives --resume, and lets
`pnas plot curves` and the report run no detector; the report's HTML parses, its images exist
and are not blank, its numbers are the JSON's, data is escaped, and a real browser (Debian's
headless Chromium) lays out its tables and figures.
"""
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pointad.runner as runner
from conftest import write_tiny_real3d
from pointad.cli import main
from pointad.datasets import load_dataset
from pointad.errors import InputError
from pointad.metrics import auroc

PARAMS = {"align_points": 400, "icp_iterations": 5, "consensus": False}
CHROMIUM = Path("/usr/bin/chromium")


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Real3D-AD layout, 2 categories, 2 good and 2 defective test clouds of 500 points."""
    return write_tiny_real3d(tmp_path_factory.mktemp("tiny") / "real3d", n_points=500,
                             n_good=2, n_bad=2, fraction=0.05)


@pytest.fixture(scope="module")
def runs(tiny, tmp_path_factory):
    """Two results files in one folder: raw on both categories, and the variant raw@wide
    (another top_fraction) on box only."""
    out = tmp_path_factory.mktemp("results")
    _, first, _ = runner.evaluate_to(out, "raw", tiny, params=PARAMS, progress=False)
    _, second, _ = runner.evaluate_to(out, "raw", tiny, name="raw@wide", categories=["box"],
                                      params={**PARAMS, "top_fraction": 0.2}, progress=False)
    return first, second


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    from viz.report import build_report

    page = build_report(list(runs), tmp_path_factory.mktemp("rep") / "report", extremes=1)
    return page


# ------------------------------------------------------------------------------ scores file


def test_scores_file_rebuilds_the_json_numbers(runs, tiny):
    path = runs[0]
    results = json.loads(path.read_text())
    assert results["scores_file"] == "raw_real3d.scores.npz"
    saved = runner.load_scores(path.parent / results["scores_file"])
    assert set(saved) == {"box", "cylinder"}
    for row in results["categories"]:
        s = saved[row["category"]]
        test = load_dataset(tiny, row["category"], "test")
        assert list(s.sample_ids) == [x.id for x in test]
        assert list(s.object_labels) == [x.label for x in test]
        assert [len(s.point_scores_of(i)) for i in range(len(s))] == [len(x) for x in test]
        assert np.array_equal(s.labels, np.concatenate([x.labels for x in test]))
        assert auroc(s.labels.astype(bool), s.point_scores) == row["P-AUROC"]
        assert auroc(s.object_labels, s.object_scores) == row["I-AUROC"]
    # The variant's file holds its own category only; top_fraction changes the object scores.
    other = runner.load_scores(runs[1].with_name("raw@wide_real3d.scores.npz"))
    assert set(other) == {"box"}
    assert np.array_equal(other["box"].point_scores, saved["box"].point_scores)
    assert not np.allclose(other["box"].object_scores, saved["box"].object_scores)


def test_load_scores_rejects_a_bad_file(tmp_path):
    bad = tmp_path / "x.scores.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="x.scores.npz: not a scores file"):
        runner.load_scores(bad)
    with pytest.raises(InputError, match="missing.npz: scores file not found"):
        runner.load_scores(tmp_path / "missing.npz")


def _stop_after(n):
    calls = []

    def check():
        calls.append(1)
        if len(calls) > n:
            raise Stop
    return check


def test_resume_keeps_the_scores_of_finished_categories(tiny, runs, tmp_path, monkeypatch):
    whole = runner.load_scores(runs[0].with_name("raw_real3d.scores.npz"))
    out = tmp_path / "out"
    with pytest.raises(Stop):
        runner.evaluate_to(out, "raw", tiny, params=PARAMS, progress=False,
                           check_stop=_stop_after(1))
    parts = out / "raw_real3d.categories"
    assert sorted(p.name for p in parts.iterdir()) == ["box.json", "box.scores.npz"]
    scored = []
    real = runner.score_category
    monkeypatch.setattr(runner, "score_category",
                        lambda det, m, root, c, **k: scored.append(c) or real(det, m, root, c, **k))
    results, json_path, _ = runner.evaluate_to(out, "raw", tiny, params=PARAMS,
                                               progress=False, resume=True)
    assert scored == ["cylinder"]  # box was read with its scores, not scored again
    assert sorted(p.name for p in out.iterdir()) == ["raw_real3d.csv", "raw_real3d.json",
                                                     "raw_real3d.scores.npz"]
    saved = runner.load_scores(out / results["scores_file"])
    for cat in ("box", "cylinder"):
        for name in runner.SCORE_FIELDS:
            assert np.array_equal(getattr(saved[cat], name), getattr(whole[cat], name)), name
    # A category added to the finished file keeps the scores of those already there.
    scored.clear()
    runner.evaluate_to(tmp_path / "add", "raw", tiny, params=PARAMS, progress=False,
                       categories=["box"])
    runner.evaluate_to(tmp_path / "add", "raw", tiny, params=PARAMS, progress=False,
                       categories=["cylinder"], resume=True)
    assert scored == ["box", "cylinder"]
    added = runner.load_scores(tmp_path / "add" / "raw_real3d.scores.npz")
    assert set(added) == {"box", "cylinder"}
    assert np.array_equal(added["box"].point_scores, whole["box"].point_scores)


def test_write_results_saves_scores_held_in_memory(tiny, runs, tmp_path):
    """Without a checkpoint evaluate keeps the scores in memory; write_results saves them."""
    scores = {}
    results = runner.evaluate("raw", tiny, categories=["cylinder"], params=PARAMS,
                              progress=False, scores=scores)
    assert isinstance(scores["cylinder"], runner.CategoryScores)
    json_path, _ = runner.write_results(results, tmp_path, scores=scores)
    assert json.loads(json_path.read_text())["scores_file"] == "raw_real3d.scores.npz"
    saved = runner.load_scores(tmp_path / "raw_real3d.scores.npz", ["cylinder"])["cylinder"]
    whole = runner.load_scores(runs[0].with_name("raw_real3d.scores.npz"))["cylinder"]
    assert np.array_equal(saved.point_scores, whole.point_scores)
    assert np.array_equal(saved.object_scores, whole.object_scores)
    with pytest.raises(InputError, match="raw_real3d.json exists"):
        runner.write_results(results, tmp_path, scores=scores)


def test_no_point_scores_and_overwrite(tiny, tmp_path, capsys):
    base = ["eval", "-m", "raw", "-d", tiny, "-q", "-o", tmp_path, "-c", "box",
            "-p", "align_points=400", "-p", "icp_iterations=5", "-p", "consensus=false"]
    code, out, err = run_cli(base, capsys)
    assert code == 0, err
    assert "raw_real3d.scores.npz (the per-point scores)" in out
    assert (tmp_path / "raw_real3d.scores.npz").is_file()
    code, out, err = run_cli(base + ["--overwrite", "--no-point-scores"], capsys)
    assert code == 0, err
    # The replaced result's scores go with it; the JSON names none.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw_real3d.csv", "raw_real3d.json"]
    assert "scores_file" not in json.loads((tmp_path / "raw_real3d.json").read_text())
    code, _, err = run_cli(base + ["--overwrite", "--no-point-scores", "--report",
                                   tmp_path / "rep"], capsys)
    assert code == 2 and "drop --no-point-scores" in err and err.count("\n") == 1


# ------------------------------------------------------------------------------ curves


def _count_detector_use(monkeypatch):
    """Count the detectors the runner creates (every fit goes through one)."""
    made = []
    real = runner.create
    monkeypatch.setattr(runner, "create", lambda *a, **k: made.append(a[0]) or real(*a, **k))
    return made


def test_plot_curves_uses_the_saved_scores_and_runs_no_detector(runs, tmp_path, capsys,
                                                                   monkeypatch):
    from viz.curves import category_curves, load_results, rescore

    made = _count_detector_use(monkeypatch)
    code, _, err = run_cli(["plot", "curves", runs[0], "-q", "-o", tmp_path / "c.png"], capsys)
    assert code == 0, err
    assert made == [] and (tmp_path / "c.png").stat().st_size > 1000
    results = load_results(runs[0])
    refitted = []
    scored = rescore(results, results_path=runs[0], refitted=refitted)
    assert made == [] and refitted == []
    for row in results["categories"]:
        c = category_curves(row["category"], *scored[row["category"]], json_row=row)
        assert c.p_auroc == row["P-AUROC"] and c.aupro == pytest.approx(row["AUPRO"], abs=1e-12)
    # The counter does count: results that name no scores file are evaluated again.
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({k: v for k, v in results.items() if k != "scores_file"}))
    rescore(load_results(bare), results_path=bare, categories=["box"], refitted=refitted)
    assert made == ["raw"] and refitted == ["box"]
    # Saved scores that are not those of the dataset's clouds are refused, not drawn.
    from viz.curves import _saved_predictions

    samples = scored["box"][0]
    saved = runner.load_scores(runs[0].with_name("raw_real3d.scores.npz"))["box"]
    assert len(_saved_predictions(samples, saved, "box", "s.npz")) == len(samples)
    with pytest.raises(InputError, match="s.npz: the saved scores of box are not those"):
        _saved_predictions(samples[::-1], saved, "box", "s.npz")
    # A JSON moved away from its scores file says so.
    moved = tmp_path / "m.json"
    moved.write_text(json.dumps(results))
    with pytest.raises(InputError, match="its scores file raw_real3d.scores.npz is missing"):
        rescore(load_results(moved), results_path=moved)


# ------------------------------------------------------------------------------ report


class Page(HTMLParser):
    """The parts of the report a test checks: images, numeric cells, all text."""

    def __init__(self):
        super().__init__()
        self.images, self.cells, self.text, self.tags, self._cell = [], {}, [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(a["src"])
        if tag == "td" and "data-metric" in a:
            self._cell = (int(a["data-run"]), a["data-row"], a["data-metric"])
            self.cells[self._cell] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self.cells[self._cell] += data


def parse(page: Path) -> Page:
    p = Page()
    p.feed(page.read_text(encoding="utf-8"))
    p.close()
    return p


def not_blank(path: Path) -> bool:
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.int32)
    colours = np.unique((a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2])
    return len(colours) > 20 and a.std() > 10


def test_report_parses_its_images_exist_and_its_numbers_are_the_jsons(report, runs):
    page = parse(report)
    for tag in ("html", "table", "h2", "img"):
        assert tag in page.tags
    assert "script" not in page.tags
    # 2 curve figures, 2 comparison figures (box, cylinder), heatmaps: highest and lowest of
    # box for both runs and of cylinder for the first.
    assert len(page.images) == 2 + 2 + 6
    for src in page.images:
        assert "/" not in src and ":" not in src  # next to the page, nothing fetched
        assert not_blank(report.parent / src), src
    assert sorted(os.listdir(report.parent)) == sorted(page.images + ["index.html"])
    expected = {}
    for k, path in enumerate(runs):
        results = json.loads(path.read_text())
        for row in results["categories"]:
            for m in runner.METRIC_COLUMNS:
                expected[(k, row["category"], m)] = row[m]
        for m in runner.METRIC_COLUMNS + runner.TIME_COLUMNS:
            expected[(k, "mean", m)] = results["mean"][m]
        for kind, values in results["mean_by_defect"].items():
            for m in ("I-AUROC", "P-AUROC"):
                expected[(k, f"kind:{kind}", m)] = values[m]
    assert set(page.cells) == set(expected)
    for key, value in expected.items():
        assert page.cells[key] == f"{value:.3f}", key
    text = " ".join(page.text)
    assert "raw@wide" in text and "test/bulge/" in text and "highest #1" in text


def test_extremes_are_the_highest_and_lowest_once_each():
    from viz.report import extreme_indices

    assert extreme_indices([0.5, 3.0, 1.0, 3.0, -1.0], 2) == ([1, 3], [4, 0])
    assert extreme_indices([2.0, 1.0, 0.0], 2) == ([0, 1], [2])  # no cloud twice


def test_report_escapes_data_and_never_replaces_without_overwrite(runs, tmp_path,
                                                                  monkeypatch):
    import viz.report
    from viz.report import build_report

    monkeypatch.setattr(viz.report, "MAX_DRAWN", 300)  # the 500-point clouds: a subset drawn

    results = json.loads(runs[0].read_text())
    results["variant"] = "<b>x&y</b>"
    results["notes"] = {"box": ["<script>alert(1)</script>"]}
    odd = runs[0].parent / "odd.json"  # next to the scores file it names
    odd.write_text(json.dumps(results))
    try:
        out = tmp_path / "rep"
        out.mkdir()
        (out / "mine.txt").write_text("keep")
        with pytest.raises(InputError, match="rep exists; use --overwrite"):
            build_report([odd], out, extremes=1)
        # --overwrite replaces a report, not a folder of other files.
        with pytest.raises(InputError, match="rep: not a report"):
            build_report([odd], out, extremes=1, overwrite=True)
        assert [p.name for p in out.iterdir()] == ["mine.txt"]
        (out / "index.html").write_text("an old report")
        page = build_report([odd], out, extremes=1, overwrite=True)
    finally:
        odd.unlink()
    raw = page.read_text(encoding="utf-8")
    assert "<b>x" not in raw and "<script>" not in raw
    assert "&lt;b&gt;x&amp;y&lt;/b&gt;" in raw and "&lt;script&gt;alert(1)" in raw
    assert "scores_file" not in raw and not (out / "mine.txt").exists()
    assert raw.count("(300 of its 500 points drawn)") == 2 * 2 * 2  # caption and alt text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries


def test_report_commands(runs, tiny, tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["plot", "report", tmp_path / "nope.json", "-o", tmp_path / "r"],
                           capsys)
    assert code == 2 and "nope.json: file not found" in err and err.count("\n") == 1
    (tmp_path / "r").mkdir()
    code, _, err = run_cli(["plot", "report", runs[0], "-o", tmp_path / "r"], capsys)
    assert code == 2 and "r exists; use --overwrite" in err
    monkeypatch.setattr(runner, "evaluate", lambda *a, **k: pytest.fail("evaluated"))
    code, _, err = run_cli(["eval", "-m", "raw", "-d", tiny, "-o", tmp_path / "o", "-q",
                            "--report", tmp_path / "r"], capsys)
    assert code == 2 and "r exists" in err and not (tmp_path / "o").exists()
    made = _count_detector_use(monkeypatch)
    code, out, err = run_cli(["plot", "report", runs[1], "-o", tmp_path / "one", "-q",
                              "--extremes", "1"], capsys)
    assert code == 0, err
    assert made == [] and "one/index.html" in out
    assert len(parse(tmp_path / "one" / "index.html").images) == 1 + 2


# ------------------------------------------------------------------------------ browser


def _chromium_or_skip():
    if CHROMIUM.is_file():
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail("CI: /usr/bin/chromium is missing (bash tools/setup.sh --test installs it)")
    pytest.skip("headless Chromium not installed (apt-get install chromium, or "
                "bash tools/setup.sh --test)")


def screenshot(page: Path, png: Path, profile: Path) -> np.ndarray:
    browser = _chromium_or_skip()
    proc = subprocess.run(
        [str(browser), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={png}",
         "--window-size=1280,2000", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and png.is_file(), proc.stderr[-2000:]
    return np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)


def colourful(a: np.ndarray) -> np.ndarray:
    """Pixels of saturated colour (the figures; the tables are black on white and grey)."""
    return (a.max(axis=2) - a.min(axis=2)) > 60


def test_browser_lays_out_the_tables_and_figures(report, tmp_path):
    shot = screenshot(report, tmp_path / "page.png", tmp_path / "profile")
    assert shot.shape == (2000, 1280, 3)
    dark = shot.max(axis=2) < 90
    colour = colourful(shot)
    # The tables' text at the top, no figure there; the figures below, side by side (colour
    # in the left and the right half) and over many rows of the page.
    assert dark[:600].mean() > 0.005 and colour[:600].mean() < 0.001
    assert colour[:, :640].mean() > 0.005 and colour[:, 640:].mean() > 0.005
    colour_rows = np.flatnonzero(colour.mean(axis=1) > 0.002)
    assert len(colour_rows) > 250 and colour_rows.max() - colour_rows.min() > 600
    # The colour comes from the images: the same page without them has none, and the same
    # amount of text at the top.
    bare = tmp_path / "bare"
    shutil.copytree(report.parent, bare)
    for png in bare.glob("*.png"):
        png.unlink()
    without = screenshot(bare / "index.html", tmp_path / "bare.png", tmp_path / "profile2")
    assert colourful(without).mean() < 0.0005
    text = (without.max(axis=2) < 90)[:600].mean()  # (a shorter page reflows a little)
    assert text == pytest.approx(dark[:600].mean(), rel=0.2)


def test_report_tool_html(runs, tiny, tmp_path, capsys, monkeypatch):
    """tools/report.py --html: the page of the runs it reports, from their saved scores."""
    from conftest import TOOLS, load_script
    tool = load_script(TOOLS / "report.py", "report_tool")
    monkeypatch.setattr(tool, "evaluate_to", lambda *a, **k: pytest.fail("evaluated again"))
    made = _count_detector_use(monkeypatch)
    argv = ["--data", str(tiny.parent), "--out", str(runs[0].parent), "--methods", "raw",
            "--layouts", "real3d", "-q", "--param", "align_points=400",
            "--param", "icp_iterations=5", "--param", "consensus=false",
            "--html", str(tmp_path / "html")]
    assert tool.main(argv) == 0
    assert made == []
    page = parse(tmp_path / "html" / "index.html")
    assert len(page.images) == 1 + 2 * 4  # the curves; every cloud (2 highest, 2 lowest)
    results = json.loads(runs[0].read_text())
    assert page.cells[(0, "mean", "P-AUROC")] == f"{results['mean']['P-AUROC']:.3f}"
    assert f"wrote {tmp_path / 'html' / 'index.html'}" in capsys.readouterr().out
    monkeypatch.setattr(tool, "results_for", lambda *a, **k: pytest.fail("read results"))
    assert tool.main(argv) == 2  # the page exists: refused before any work
    assert "html exists; use --overwrite" in capsys.readouterr().err
