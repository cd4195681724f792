"""An HTML report of ``pnas eval`` results: one self-contained page (``index.html``, its PNG
images next to it; no network, no JavaScript) to open in a browser or send to a colleague.

For one or more results JSONs (several: the methods side by side) the page holds the runs and
their settings, the mean table, the per-category table of every metric, the per-defect-kind
table (good clouds against one kind, mean over categories), ROC and PRO curves
(:mod:`viz.curves`: one figure per run, and with several runs one per category with a line per
method) and, per category and method, ground truth beside the score heatmap
(:func:`viz.heatmap.score_figure`, seen from the side that faces the defect) of the test clouds
with the highest and the lowest object scores.

The scores come from the scores files saved with the results (:func:`viz.curves.rescore`: no
detector runs); the clouds are read from the recorded dataset (or ``data``). The numbers in the
tables are the JSON's. Everything that comes from the data (names, paths, parameters, notes) is
HTML-escaped. The report is written into a temporary directory beside ``out_dir`` and moved
into place when complete; an existing ``out_dir`` is replaced only with ``overwrite``.
"""
from __future__ import annotations

import html
import json
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

from pointad.errors import InputError
from pointad.runner import METRIC_COLUMNS, TIME_COLUMNS, cell
from pointad.validation import check_number

PAGE = "index.html"
KIND_METRICS = ("I-AUROC", "P-AUROC")
MAX_DRAWN = 60_000  # points of a heatmap; larger clouds are drawn from a seeded subset
CSS = """
body { font-family: sans-serif; margin: 16px 24px; color: #222; max-width: 1600px; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 3px 8px; }
td.num { text-align: right; font-family: monospace; }
tr.mean td { font-weight: bold; background: #f2f2f2; }
.side { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.run { flex: 1 1 420px; min-width: 320px; }
figure { margin: 4px 0 12px; } figcaption { font-size: 0.85em; color: #444; }
.clouds { display: flex; flex-wrap: wrap; gap: 8px; }
.clouds figure { flex: 0 1 265px; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.note { color: #8a4b00; font-size: 0.9em; }
code { font-size: 0.9em; }
"""


def esc(value) -> str:
    """``value`` as text for HTML (quotes too)."""
    return html.escape(str(value), quote=True)


def check_report_dir(path, *, overwrite: bool = False) -> Path:
    """Check before any work that the report can go to ``path``: not a file, not an existing
    directory unless ``overwrite`` (and then only an empty one or an earlier report, with its
    ``index.html``), and its parent writable."""
    from pointad.io.atomic import check_writable_dir

    name = os.fspath(path)
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{name}: exists and is not a directory")
    if path.exists() and not overwrite:
        raise InputError(f"{name} exists; use --overwrite or another report directory")
    if path.is_dir() and any(path.iterdir()) and not (path / PAGE).is_file():
        # --overwrite replaces a report, never a folder of other files (results, data...).
        raise InputError(f"{name}: not a report (no {PAGE}); refusing to replace it")
    check_writable_dir(path.parent if str(path.parent) else Path("."))
    return path


def run_labels(runs) -> list:
    """A distinct label per run: the variant or method, ``(unified)`` for a unified run, and
    the dataset format or position when that is still ambiguous."""
    labels = [r.get("variant", r["method"]) + (" (unified)" if r.get("mode") == "unified" else "")
              for r in runs]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} [{r['format']}]" for lab, r in zip(labels, runs)]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} #{i + 1}" for i, lab in enumerate(labels)]
    return labels


def extreme_indices(object_scores, k: int) -> tuple[list, list]:
    """Indices of the ``k`` highest and the ``k`` lowest object scores (highest first, then
    lowest first; no cloud twice; ties broken by index)."""
    s = np.asarray(object_scores, dtype=np.float64)
    order = np.lexsort((np.arange(len(s)), -s))  # descending score, then index
    high = [int(i) for i in order[:k]]
    low = [int(i) for i in order[::-1] if int(i) not in high][:k]
    return high, low


def _num(value, run: int, row: str, metric: str) -> str:
    text = cell(value, 0, 3)
    return (f'<td class="num" data-run="{run}" data-row="{esc(row)}" data-metric="{esc(metric)}"'
            f">{text}</td>")


class _Report:
    """The page under construction: its HTML parts and the images written to ``folder``."""

    def __init__(self, folder: Path, dpi: int):
        self.folder, self.dpi, self.count = folder, dpi, 0
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def image(self, fig, stem: str, caption: str) -> str:
        """Save ``fig`` as ``<stem>-<n>.png`` in the report; its ``<figure>`` HTML."""
        self.count += 1
        name = f"{stem}-{self.count:03d}.png"
        fig.savefig(self.folder / name, dpi=self.dpi, format="png", facecolor="white")
        return (f'<figure><img src="{name}" alt="{esc(caption)}">'
                f"<figcaption>{esc(caption)}</figcaption></figure>")


def build_report(result_paths, out_dir, *, data=None, overwrite: bool = False,
                 extremes: int = 2, progress: bool = False, dpi: int = 80) -> Path:
    """Write the report of the results JSONs ``result_paths`` to ``out_dir`` (see the module
    docstring); return the path of its page. ``data`` overrides the recorded dataset root (one
    for all runs); ``extremes``: how many of the highest and of the lowest scored test clouds
    each category shows per method."""
    from viz.curves import category_curves, load_results, rescore

    paths = [result_paths] if isinstance(result_paths, (str, os.PathLike)) else list(result_paths)
    if not paths:
        raise InputError("no results file given")
    check_number(extremes, "extremes", low=1, integer=True)
    out_dir = check_report_dir(out_dir, overwrite=overwrite)
    runs = [load_results(p) for p in paths]
    labels = run_labels(runs)
    rows = [{r["category"]: r for r in results["categories"]} for results in runs]
    tmp = out_dir.with_name(f".{out_dir.name}.{secrets.token_hex(4)}.tmp")
    tmp.mkdir(parents=True)
    try:
        report = _Report(tmp, dpi)
        curves: list = [{} for _ in runs]
        refits: list = [[] for _ in runs]
        clouds: dict = {}
        # One category of one run at a time: its clouds are read, drawn and let go.
        for cat in _categories(runs):
            for k, (path, results) in enumerate(zip(paths, runs)):
                if cat not in rows[k]:
                    continue
                samples, predictions = rescore(results, categories=[cat], data=data,
                                               progress=progress, results_path=path,
                                               refitted=refits[k])[cat]
                options = results.get("metric_options") or {}
                kw = {key: options[key] for key in ("num_thresholds", "pro_spacing_factor")
                      if key in options}
                curves[k][cat] = _curves_or_none(category_curves, cat, samples, predictions,
                                                 rows[k][cat], kw)
                high, low = extreme_indices([p.score for p in predictions], extremes)
                clouds[(cat, k)] = [_heatmap(report, samples[i], predictions[i], which, rank, k)
                                    for which, chosen in (("highest", high), ("lowest", low))
                                    for rank, i in enumerate(chosen)]
                del samples, predictions
        _page(report, paths, runs, labels, curves, refits, clouds, extremes)
        (tmp / PAGE).write_text("".join(report.parts), encoding="utf-8")
        _move_into_place(tmp, out_dir, overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / PAGE


def _curves_or_none(fn, category, samples, predictions, row, kw):
    try:
        return fn(category, samples, predictions, json_row=row, **kw)
    except InputError:
        return None  # no per-point labels: no curve (the table says n/a)


def _move_into_place(tmp: Path, out_dir: Path, overwrite: bool) -> None:
    """Rename the finished report over ``out_dir`` (the old one, with ``overwrite``, is moved
    aside first and removed after)."""
    old = None
    if out_dir.exists():
        if not overwrite:
            raise InputError(f"{os.fspath(out_dir)} exists; use --overwrite")
        old = out_dir.with_name(f".{out_dir.name}.{secrets.token_hex(4)}.old")
        os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _page(report, paths, runs, labels, curves, refits, clouds, extremes) -> None:
    from viz.curves import comparison_figure, curves_figure

    title = "pnas eval report: " + ", ".join(labels)
    report.add(f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
               f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n"
               f"<h1>{esc(title)}</h1>\n")
    _runs_table(report, paths, runs, labels, refits)
    _mean_table(report, runs, labels)
    _category_table(report, runs, labels)
    _kind_table(report, runs, labels)
    _notes(report, runs, labels)
    report.add('<h2 id="curves">ROC and PRO curves</h2>\n<div class="side">')
    for k, (results, label) in enumerate(zip(runs, labels)):
        drawn = [c for c in curves[k].values() if c is not None]
        if not drawn:
            report.add(f'<p class="note">{esc(label)}: no category has per-point labels; '
                       "no curve</p>")
            continue
        fig = curves_figure(results, drawn)
        report.add('<div class="run">' + report.image(
            fig, f"curves-{k}", f"{label}: point ROC and PRO per category") + "</div>")
    report.add("</div>\n")
    categories = _categories(runs)
    if len(runs) > 1:
        report.add('<h2 id="compare">Methods compared, per category</h2>\n<div class="side">')
        for cat in categories:
            by_method = {label: curves[k][cat] for k, label in enumerate(labels)
                         if curves[k].get(cat) is not None}
            if by_method:
                report.add('<div class="run">' + report.image(
                    comparison_figure(cat, by_method), "compare",
                    f"{cat}: ROC and PRO of each method") + "</div>")
        report.add("</div>\n")
    report.add('<h2 id="clouds">Highest and lowest scored test clouds</h2>\n'
               f"<p>Per category and method: the {extremes} test clouds with the highest and the "
               f"{extremes} with the lowest object score; ground truth (red: anomalous points) "
               "beside the point scores (bright: anomalous), seen from the side that faces the "
               "defect (the labelled points; for a good cloud the highest scores).</p>\n")
    for cat in categories:
        report.add(f"<h3>{esc(cat)}</h3>\n<div class=\"side\">")
        for k, label in enumerate(labels):
            if (cat, k) in clouds:
                report.add(f'<div class="run"><h4>{esc(label)}</h4><div class="clouds">'
                           + "".join(clouds[(cat, k)]) + "</div></div>")
        report.add("</div>\n")
    report.add("</body></html>\n")


def _heatmap(report, sample, prediction, which: str, rank: int, k: int) -> str:
    """Ground truth beside the score heatmap of one cloud, from the defect's side; a cloud of
    more than :data:`MAX_DRAWN` points is drawn from that many (seeded, the same every time)."""
    from viz.heatmap import score_figure

    status = "good" if sample.label == 0 else f"anomalous ({sample.defect})"
    caption = (f"{which} #{rank + 1}: {sample.id}, {status}, object score "
               f"{prediction.score:.4g}")
    points, scores, labels = sample.points, np.asarray(prediction.point_scores), sample.labels
    if len(points) > MAX_DRAWN:
        keep = np.sort(np.random.default_rng(0).choice(len(points), MAX_DRAWN, replace=False))
        points, scores = points[keep], scores[keep]
        labels = None if labels is None else labels[keep]
        caption += f" ({MAX_DRAWN} of its {len(sample.points)} points drawn)"
    fig = score_figure(points, scores, ("defect",), labels=labels, title=caption, panel_in=2.8)
    return report.image(fig, f"cloud-{k}", caption)


def _categories(runs) -> list:
    seen: list = []
    for r in runs:
        for row in r["categories"]:
            if row["category"] not in seen:
                seen.append(row["category"])
    return seen


def _runs_table(report, paths, runs, labels, refits) -> None:
    report.add('<h2 id="runs">Runs</h2>\n<table><tr><th>run</th><th>method</th><th>mode</th>'
               "<th>data</th><th>format</th><th>parameters</th><th>results file</th>"
               "<th>scores</th></tr>\n")
    for path, r, label, refit in zip(paths, runs, labels, refits):
        params = json.dumps(r.get("params", {}), sort_keys=True)
        source = ("saved (" + esc(r["scores_file"]) + ")" if r.get("scores_file") else "")
        if refit:
            source += ("; " if source else "") + "re-run for " + esc(", ".join(refit))
        report.add(f"<tr><td>{esc(label)}</td><td>{esc(r['method'])}</td>"
                   f"<td>{esc(r.get('mode', 'per-category'))}</td><td><code>"
                   f"{esc(r.get('data', '?'))}</code></td><td>{esc(r['format'])}</td>"
                   f"<td><code>{esc(params)}</code></td><td><code>{esc(os.fspath(path))}</code>"
                   f"</td><td>{source}</td></tr>\n")
    report.add("</table>\n")


def _mean_table(report, runs, labels) -> None:
    cols = METRIC_COLUMNS + TIME_COLUMNS
    report.add('<h2 id="mean">Mean over categories</h2>\n<table><tr><th>run</th>'
               + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>\n")
    for k, (r, label) in enumerate(zip(runs, labels)):
        report.add(f"<tr><td>{esc(label)}</td>"
                   + "".join(_num(r["mean"].get(c), k, "mean", c) for c in cols) + "</tr>\n")
    report.add("</table>\n")


def _category_table(report, runs, labels) -> None:
    """Rows: categories and the mean; a column group per metric, a column per run in it."""
    n = len(runs)
    report.add('<h2 id="categories">Per category</h2>\n<table><tr><th rowspan="2">category'
               "</th>" + "".join(f'<th colspan="{n}">{esc(m)}</th>' for m in METRIC_COLUMNS)
               + "</tr>\n<tr>" + "".join(f"<th>{esc(lab)}</th>" for _ in METRIC_COLUMNS
                                         for lab in labels) + "</tr>\n")
    rows = [{r["category"]: r for r in results["categories"]} for results in runs]
    for cat in _categories(runs) + ["mean"]:
        cls = ' class="mean"' if cat == "mean" else ""
        cells = []
        for m in METRIC_COLUMNS:
            for k, results in enumerate(runs):
                row = results["mean"] if cat == "mean" else rows[k].get(cat)
                cells.append(_num(None if row is None else row.get(m), k, cat, m)
                             if row is not None else "<td>-</td>")
        report.add(f"<tr{cls}><td>{esc(cat)}</td>" + "".join(cells) + "</tr>\n")
    report.add("</table>\n")


def _kind_table(report, runs, labels) -> None:
    kinds = sorted({kind for r in runs for kind in r.get("mean_by_defect", {})})
    if not kinds:
        return
    n = len(runs)
    report.add('<h2 id="kinds">Per defect kind</h2>\n<p>Good test clouds against the clouds of '
               "one defect kind, mean over categories.</p>\n<table><tr><th rowspan=\"2\">"
               "defect kind</th>" + "".join(f'<th colspan="{n}">{m}</th>' for m in KIND_METRICS)
               + "</tr>\n<tr>" + "".join(f"<th>{esc(lab)}</th>" for _ in KIND_METRICS
                                         for lab in labels) + "</tr>\n")
    for kind in kinds:
        cells = []
        for m in KIND_METRICS:
            for k, r in enumerate(runs):
                values = r.get("mean_by_defect", {}).get(kind)
                cells.append("<td>-</td>" if values is None else
                             _num(values.get(m), k, f"kind:{kind}", m))
        report.add(f"<tr><td>{esc(kind)}</td>" + "".join(cells) + "</tr>\n")
    report.add("</table>\n")


def _notes(report, runs, labels) -> None:
    lines = []
    for r, label in zip(runs, labels):
        for cat, reasons in (r.get("undefined") or {}).items():
            for metric, why in reasons.items():
                lines.append(f"{label}, {cat}: {metric} n/a: {why}")
        for cat, notes in (r.get("notes") or {}).items():
            lines += [f"{label}, {cat}: {note}" for note in notes]
    if lines:
        report.add('<h2 id="notes">Notes</h2>\n<ul>' + "".join(f"<li>{esc(x)}</li>"
                                                              for x in lines) + "</ul>\n")
