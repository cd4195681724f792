"""ROC and PRO curves and a per-category bar chart of ``pnas eval`` results.

The results JSON (:func:`pointad.runner.write_results`) holds the numbers; the per-point scores a
curve needs are in the scores file next to it (``"scores_file"``, :func:`pointad.runner.
save_scores`). :func:`bars_figure` draws from the JSON alone; :func:`rescore` reads the saved
scores and the test clouds (no detector runs), and only for a category without saved scores
repeats the evaluation the JSON records (method, detector parameters, dataset, format and
options). :func:`curves_figure` draws the curves with :func:`pointad.metrics.roc_curve` and
:func:`pointad.metrics.pro_curve`. Each legend shows the recomputed area next to the JSON's, so
a changed dataset or detector shows up.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointad.errors import InputError
from pointad.metrics import (
    area_under_curve,
    auroc,
    pro_curve,
    region_ids_from_masks,
    region_ids_from_points,
    roc_curve,
)

BAR_METRICS = ("I-AUROC", "P-AUROC", "AUPRO", "P-AP")
FPR_LIMIT = 0.3


def load_results(path) -> dict:
    """Read and check a ``pnas eval`` results JSON (method, format, categories, mean)."""
    name = os.fspath(path)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{name}: file not found")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{name}: not a JSON file ({exc})") from None
    if not isinstance(results, dict) or not all(k in results for k in ("method", "categories",
                                                                       "mean", "format")):
        raise InputError(f"{name}: not a pnas eval results file (needs method, format, "
                         "categories and mean)")
    if not isinstance(results["categories"], list) or not results["categories"]:
        raise InputError(f"{name}: the results hold no category")
    for row in results["categories"]:
        if not isinstance(row, dict) or "category" not in row:
            raise InputError(f"{name}: a category row has no 'category' name")
    return results


def bars_figure(results: dict, metrics=BAR_METRICS):
    """Grouped bars: one group per category (and the mean), one bar per metric, values printed.
    Missing or NaN values are left out (a gap, not a zero)."""
    from viz.figure_output import new_figure

    metrics = list(metrics)
    unknown = [m for m in metrics if m not in results["mean"]]
    if unknown:
        raise InputError(f"metric {unknown[0]!r} is not in the results; available: "
                         f"{', '.join(k for k in results['mean'] if not k.endswith('_s'))}")
    rows = results["categories"] + [{"category": "mean", **results["mean"]}]
    fig = new_figure(max(6.0, 1.1 * len(rows) * max(1, len(metrics)) / 3 + 2), 4.2)
    ax = fig.subplots()
    width = 0.8 / len(metrics)
    x = np.arange(len(rows))
    for k, metric in enumerate(metrics):
        values = np.array([_number(r.get(metric)) for r in rows])
        ok = np.isfinite(values)
        bars = ax.bar(x[ok] + (k - (len(metrics) - 1) / 2) * width, values[ok], width,
                      label=metric)
        ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1, rotation=90)
    ax.set_xticks(x, [r["category"] for r in rows], rotation=30, ha="right")
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("value")
    ax.axvline(len(rows) - 1.5, color="0.6", lw=0.8, ls=":")
    ax.legend(ncol=len(metrics), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.13))
    ax.set_title(f"{results['method']} on {results.get('data', '?')} ({results['format']})",
                 fontsize=10, pad=24)
    fig.tight_layout()
    return fig


def _number(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


@dataclass
class CategoryCurves:
    """The curves of one category: point ROC ``(fpr, tpr)``, PRO ``(fpr, pro)``, their areas
    (P-AUROC; AUPRO up to :data:`FPR_LIMIT`, normalized) and the JSON's values for comparison."""

    category: str
    roc: tuple
    pro: tuple | None
    p_auroc: float
    aupro: float
    json_p_auroc: float
    json_aupro: float


def category_curves(category: str, samples, predictions, *, num_thresholds=None,
                    pro_spacing_factor: float = 3.0, json_row: dict | None = None):
    """Curves of one category's test ``samples`` and their ``predictions``, with the regions the
    runner uses (8-connected mask regions for organized scans, radius-graph regions otherwise)."""
    from pointad.runner import image_maps  # the runner's own map/mask layout, not a copy

    pairs = [(s, p) for s, p in zip(samples, predictions) if s.labels is not None]
    if not pairs:
        raise InputError(f"{category}: no test cloud has per-point labels; no curve to draw")
    samples, predictions = [s for s, _ in pairs], [p for _, p in pairs]
    labels = np.concatenate([s.labels for s in samples]).astype(bool)
    scores = np.concatenate([p.point_scores for p in predictions])
    fpr, tpr, _ = roc_curve(labels, scores)
    point_scores = [p.point_scores for p in predictions]
    if all(s.organized for s in samples):
        maps, masks = image_maps(samples, point_scores)
        ids, n_regions = region_ids_from_masks(masks)
        flat = np.concatenate([m.ravel() for m in maps])
    else:
        ids, n_regions = region_ids_from_points([s.points for s in samples],
                                                [s.labels for s in samples],
                                                spacing_factor=pro_spacing_factor)
        flat = np.concatenate(point_scores)
    pro, area = None, math.nan
    if n_regions:
        pro = pro_curve(flat, ids, n_regions, num_thresholds)
        area = area_under_curve(*pro, FPR_LIMIT) / FPR_LIMIT
    row = json_row or {}
    return CategoryCurves(category, (fpr, tpr), pro, auroc(labels, scores), area,
                          _number(row.get("P-AUROC")), _number(row.get("AUPRO")))


def saved_scores(results: dict, results_path=None, categories=None) -> dict:
    """``{category: CategoryScores}`` of the scores file the results name (``"scores_file"``,
    next to ``results_path``; only ``categories`` when given); empty when they name none or
    there is no ``results_path``.

    Raises:
        InputError: the named file is missing or unreadable.
    """
    from pointad.runner import load_scores

    name = results.get("scores_file")
    if not name or results_path is None:
        return {}
    path = Path(results_path).parent / Path(str(name)).name  # next to the JSON, nowhere else
    if not path.is_file():
        raise InputError(f"{os.fspath(results_path)}: its scores file {path.name} is missing "
                         "(copy it next to the JSON)")
    return load_scores(path, categories)


def _saved_source(results: dict, results_path) -> str:
    """The scores file's name for messages."""
    return os.fspath(Path(results_path).parent / Path(str(results.get("scores_file"))).name)


def _saved_predictions(samples, scores, category: str, source):
    """The saved scores of ``category`` as predictions of its test ``samples``."""
    ids = [str(s.id) for s in samples]
    if ids != [str(i) for i in scores.sample_ids] or \
            any(len(s.points) != len(scores.point_scores_of(i)) for i, s in enumerate(samples)):
        raise InputError(f"{source}: the saved scores of {category} are not those of the "
                         "dataset's test clouds (the data changed; give --data)")
    return scores.predictions()


def rescore(results: dict, *, categories=None, data=None, progress: bool = False,
            results_path=None, refitted: list | None = None):
    """``{category: (samples, predictions)}`` of the evaluation recorded in ``results``: the
    test clouds (read from the dataset) and their predictions, from the saved scores when
    ``results_path`` (the JSON) has a scores file with the category (:func:`saved_scores`; no
    detector runs), else by fitting the method with the recorded parameters on the category's
    training split and scoring its test split (the runner's own fit and score steps,
    :func:`pointad.runner.fit_category` and :func:`pointad.runner.predict_split`); the
    categories re-run so are appended to ``refitted``. ``data`` overrides the recorded
    dataset root."""
    from pointad.datasets import load_dataset
    from pointad.runner import fit_category, predict_split

    root = Path(data or results.get("data", ""))
    if not root.is_dir():
        raise InputError(f"{root}: dataset directory not found (give --data)")
    known = [r["category"] for r in results["categories"]]
    chosen = list(categories) if categories else known
    missing = [c for c in chosen if c not in known]
    if missing:
        raise InputError(f"no category {missing[0]!r} in the results; available: "
                         f"{', '.join(known)}")
    options = results.get("dataset_options") or {}
    saved = saved_scores(results, results_path, chosen)
    out = {}
    for category in chosen:
        if category in saved:
            samples = list(load_dataset(root, category, "test", format=results["format"],
                                        **options))
            out[category] = (samples, _saved_predictions(
                samples, saved[category], category,
                _saved_source(results, results_path)))
            continue
        if refitted is not None:
            refitted.append(category)
        detector, _, _ = fit_category(results["method"], results.get("params") or {}, root,
                                      category, data_format=results["format"],
                                      dataset_options=options)
        samples, predictions, _ = predict_split(
            detector, root, category, data_format=results["format"], dataset_options=options,
            progress=progress, desc=f"{results['method']} {category}")
        out[category] = (samples, predictions)
    return out


def _draw_curves(roc_ax, pro_ax, labelled) -> None:
    """ROC and PRO (up to :data:`FPR_LIMIT`) of ``[(label, CategoryCurves)]``, one colour each;
    legends give the areas and the JSON's."""
    for label, c in labelled:
        line, = roc_ax.plot(*c.roc, lw=1.2,
                            label=f"{label}: {c.p_auroc:.3f} (JSON {c.json_p_auroc:.3f})")
        if c.pro is not None:
            fpr, pro = c.pro
            keep = fpr <= FPR_LIMIT
            pro_ax.plot(np.append(fpr[keep], FPR_LIMIT),
                        np.append(pro[keep], np.interp(FPR_LIMIT, fpr, pro)), lw=1.2,
                        color=line.get_color(),
                        label=f"{label}: {c.aupro:.3f} (JSON {c.json_aupro:.3f})")
    roc_ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
    roc_ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate (points)",
               ylabel="true positive rate", title="ROC (legend: P-AUROC)")
    pro_ax.set(xlim=(0, FPR_LIMIT), ylim=(0, 1.01), xlabel="false positive rate",
               ylabel="per-region overlap", title=f"PRO up to FPR {FPR_LIMIT} (legend: AUPRO)")
    for ax in (roc_ax, pro_ax):
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)


def comparison_figure(category: str, curves_by_method: dict):
    """ROC and PRO of one category for several methods (``{label: CategoryCurves}``), one
    line per method."""
    from viz.figure_output import new_figure

    fig = new_figure(10, 4.4)
    roc_ax, pro_ax = fig.subplots(1, 2)
    _draw_curves(roc_ax, pro_ax, list(curves_by_method.items()))
    fig.suptitle(category, fontsize=11)
    fig.tight_layout()
    return fig


def curves_figure(results: dict, curves: list):
    """Three panels: point ROC per category, PRO per category (FPR up to :data:`FPR_LIMIT`,
    the AUPRO range) and the per-category bars of P-AUROC and AUPRO from the JSON."""
    from viz.figure_output import new_figure

    fig = new_figure(15, 4.8)
    roc_ax, pro_ax, bar_ax = fig.subplots(1, 3)
    _draw_curves(roc_ax, pro_ax, [(c.category, c) for c in curves])
    rows = results["categories"]
    names = [r["category"] for r in rows]
    x = np.arange(len(rows))
    for k, metric in enumerate(("P-AUROC", "AUPRO")):
        vals = np.array([_number(r.get(metric)) for r in rows])
        ok = np.isfinite(vals)
        bar_ax.bar(x[ok] + (k - 0.5) * 0.4, vals[ok], 0.4, label=metric)
    bar_ax.set_xticks(x, names, rotation=30, ha="right")
    bar_ax.set(ylim=(0, 1.05), title="per category (JSON)")
    bar_ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{results['method']} on {results.get('data', '?')} ({results['format']})",
                 fontsize=11)
    fig.tight_layout()
    return fig
