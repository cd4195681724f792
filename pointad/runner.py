"""The evaluation runner: fit a detector on each category's normal training clouds, score the test
split, and compute the numbers the field reports.

Per category: I-AUROC (object scores), P-AUROC and P-AP (all test points together), AUPRO
(8-connected regions on the image grid for organized scans, radius-graph regions for unorganized
clouds; FPR limit 0.3), I-AP, P-F1max, fit time and scoring time per cloud; and their mean over
categories. Results go to JSON and CSV.
"""
from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pointad import __version__
from pointad.datasets import DATASETS, detect_format, load_dataset
from pointad.detectors import create
from pointad.errors import InputError
from pointad.io import atomic_write, write_json
from pointad.metrics import aupro_images, aupro_points, auroc, average_precision, f1_max

TABLE_COLUMNS = ("I-AUROC", "P-AUROC", "AUPRO", "P-AP")
METRIC_COLUMNS = TABLE_COLUMNS + ("I-AP", "P-F1max")
TIME_COLUMNS = ("fit_s", "predict_s_per_cloud")


@dataclass
class CategoryResult:
    """Scores and numbers of one category."""

    category: str
    metrics: dict
    n_train: int
    n_test: int
    fit_s: float
    predict_s_per_cloud: float
    notes: list = field(default_factory=list)
    by_defect: dict = field(default_factory=dict)

    def row(self) -> dict:
        return {"category": self.category, **self.metrics, "fit_s": self.fit_s,
                "predict_s_per_cloud": self.predict_s_per_cloud, "n_train": self.n_train,
                "n_test": self.n_test, "by_defect": self.by_defect}


def _safe(metric, *args, notes, name, **kwargs) -> float:
    """A metric's value, or NaN with a note when it is undefined (e.g. a single class)."""
    try:
        return float(metric(*args, **kwargs))
    except InputError as exc:
        notes.append(f"{name}: {exc}")
        return math.nan


def image_maps(samples, scores):
    """Full-size (H, W) anomaly maps and ground-truth masks of organized ``samples`` from their
    per-point ``scores`` (same order), as AUPRO sees them; unseen pixels get the map's
    minimum."""
    maps, masks = [], []
    for s, sc in zip(samples, scores):
        h, w = s.grid_shape
        m = np.full(h * w, sc.min() if sc.size else 0.0)
        m[s.grid_index] = sc
        maps.append(m.reshape(h, w))
        if s.gt_mask is not None:
            masks.append(s.gt_mask)
        else:
            g = np.zeros(h * w, np.uint8)
            g[s.grid_index] = s.labels
            masks.append(g.reshape(h, w))
    return maps, masks


def category_metrics(samples, predictions, *, pro_spacing_factor: float = 3.0,
                     num_thresholds: int | None = None, notes=None) -> dict:
    """The metric columns for test ``samples`` and their ``predictions`` (same order)."""
    notes = [] if notes is None else notes
    obj_labels = np.array([s.label for s in samples])
    obj_scores = np.array([p.score for p in predictions])
    # Point metrics need per-point ground truth: a plain folder may lack it for some clouds.
    pairs = [(s, p) for s, p in zip(samples, predictions) if s.labels is not None]
    if len(pairs) < len(samples):
        notes.append(f"{len(samples) - len(pairs)} test clouds have no per-point labels; "
                     "point metrics use the others")
    samples, predictions = [s for s, _ in pairs], [p for _, p in pairs]
    point_labels = np.concatenate([s.labels for s in samples] or [np.zeros(0)]).astype(bool)
    point_scores = np.concatenate([p.point_scores for p in predictions] or [np.zeros(0)])
    out = {
        "I-AUROC": _safe(auroc, obj_labels, obj_scores, notes=notes, name="I-AUROC"),
        "P-AUROC": _safe(auroc, point_labels, point_scores, notes=notes, name="P-AUROC"),
        "P-AP": _safe(average_precision, point_labels, point_scores, notes=notes, name="P-AP"),
        "I-AP": _safe(average_precision, obj_labels, obj_scores, notes=notes, name="I-AP"),
        "P-F1max": _safe(f1_max, point_labels, point_scores, notes=notes, name="P-F1max"),
    }
    scores = [p.point_scores for p in predictions]
    if all(s.organized for s in samples):
        maps, masks = image_maps(samples, scores)
        out["AUPRO"] = _safe(aupro_images, maps, masks, notes=notes, name="AUPRO",
                             num_thresholds=num_thresholds)
    else:
        out["AUPRO"] = _safe(aupro_points, [s.points for s in samples], scores,
                             [s.labels for s in samples], notes=notes, name="AUPRO",
                             spacing_factor=pro_spacing_factor, num_thresholds=num_thresholds)
    return out


def defect_metrics(samples, predictions) -> dict:
    """Per defect kind: I-AUROC and P-AUROC of the good test clouds against the clouds of that
    kind only, so one can see which defects a detector finds (kinds without both classes are
    skipped)."""
    out = {}
    good = [i for i, s in enumerate(samples) if s.label == 0]
    for kind in sorted({s.defect for s in samples if s.label == 1}):
        chosen = good + [i for i, s in enumerate(samples) if s.defect == kind]
        metrics = category_metrics([samples[i] for i in chosen], [predictions[i] for i in chosen],
                                   notes=[])
        out[kind] = {"I-AUROC": metrics["I-AUROC"], "P-AUROC": metrics["P-AUROC"]}
    return out


def evaluate_category(method: str, params: dict, root, category: str, *, data_format=None,
                      dataset_options=None, progress: bool = True,
                      **metric_options) -> CategoryResult:
    """Fit ``method`` on ``category``'s training split of the dataset at ``root``; score its test
    split. ``dataset_options`` go to the loader (e.g. ``remove_background=True``)."""
    detector, n_train, fit_s = fit_category(method, params, root, category,
                                            data_format=data_format,
                                            dataset_options=dataset_options)
    return score_category(detector, method, root, category, n_train=n_train, fit_s=fit_s,
                          data_format=data_format, dataset_options=dataset_options,
                          progress=progress, **metric_options)


def fit_category(method: str, params: dict, root, category: str, *, data_format=None,
                 dataset_options=None) -> tuple:
    """A new ``method`` detector with ``params``, fitted on ``category``'s training split.
    Returns ``(detector, number of training clouds, fit seconds)``."""
    train = load_dataset(root, category, "train", format=data_format, **(dataset_options or {}))
    detector = create(method, **(params or {}))
    start = time.perf_counter()
    detector.fit(list(train))  # Samples: organized scans keep their pixel grid
    return detector, len(train), time.perf_counter() - start


def predict_split(detector, root, category: str, *, split: str = "test", data_format=None,
                  dataset_options=None, progress: bool = True, desc: str | None = None) -> tuple:
    """Score every cloud of ``category``'s ``split`` with a fitted ``detector``. Returns
    ``(samples, predictions, total predict seconds)``, in the split's order."""
    data = load_dataset(root, category, split, format=data_format, **(dataset_options or {}))
    samples, predictions, predict_s = [], [], 0.0
    for sample in tqdm(data, desc=desc or f"{detector.name} {category}", unit="cloud",
                       leave=False, disable=not progress or None):
        start = time.perf_counter()
        predictions.append(detector.predict(sample))
        predict_s += time.perf_counter() - start
        samples.append(sample)
    return samples, predictions, predict_s


def score_category(detector, method: str, root, category: str, *, n_train: int, fit_s: float,
                   data_format=None, dataset_options=None, progress: bool = True,
                   **metric_options) -> CategoryResult:
    """Score ``category``'s test split with an already fitted ``detector``."""
    samples, predictions, predict_s = predict_split(
        detector, root, category, data_format=data_format, dataset_options=dataset_options,
        progress=progress, desc=f"{method} {category}")
    notes: list = []
    metrics = category_metrics(samples, predictions, notes=notes, **metric_options)
    return CategoryResult(category=category, metrics=metrics, n_train=n_train,
                          n_test=len(samples), fit_s=fit_s,
                          predict_s_per_cloud=predict_s / max(1, len(samples)), notes=notes,
                          by_defect=defect_metrics(samples, predictions))


def evaluate_unified(method: str, params: dict, root, categories, *, data_format=None,
                     dataset_options=None, progress: bool = True,
                     **metric_options) -> tuple[list, float]:
    """Fit ONE ``method`` detector on the training clouds of all ``categories`` together, then
    score each category's test split with it. Returns the per-category results (each row's
    ``fit_s`` is that one fit's time) and the fit time."""
    options = dataset_options or {}
    train, counts = [], {}
    for c in categories:
        split = list(load_dataset(root, c, "train", format=data_format, **options))
        train += split
        counts[c] = len(split)
    detector = create(method, **params)
    start = time.perf_counter()
    detector.fit(train)
    fit_s = time.perf_counter() - start
    results = [score_category(detector, method, root, c, n_train=counts[c], fit_s=fit_s,
                              data_format=data_format, dataset_options=options,
                              progress=progress, **metric_options) for c in categories]
    return results, fit_s


def evaluate(method: str, root, *, categories=None, params=None, data_format=None,
             dataset_options=None, progress: bool = True, unified: bool = False,
             **metric_options) -> dict:
    """Evaluate ``method`` on every (or the given) category; returns the results dict (see
    :func:`write_results`), with a ``mean`` row over categories.

    ``unified=False`` fits one detector per category; ``unified=True`` fits one detector on the
    union of the categories' training clouds and scores every category with it. The results'
    ``"mode"`` says which (``"unified"`` or ``"per-category"``) and ``"fit_s"`` is the total fit
    time (unified: the one fit, which every row also shows)."""
    root = Path(root)
    data_format = data_format or detect_format(root)
    known = DATASETS[data_format].categories(root)
    categories = list(categories) if categories else known
    unknown = [c for c in categories if c not in known]
    if unknown:
        raise InputError(f"{root}: no category {unknown[0]!r}; available: {', '.join(known)}")
    if unified:
        results, fit_s = evaluate_unified(method, params or {}, root, categories,
                                          data_format=data_format,
                                          dataset_options=dataset_options, progress=progress,
                                          **metric_options)
    else:
        results = [evaluate_category(method, params or {}, root, c, data_format=data_format,
                                     dataset_options=dataset_options, progress=progress,
                                     **metric_options) for c in categories]
        fit_s = float(sum(r.fit_s for r in results))
    mean = {k: float(np.nanmean([r.metrics[k] for r in results]))
            if any(not math.isnan(r.metrics[k]) for r in results) else math.nan
            for k in METRIC_COLUMNS}
    mean.update({k: float(np.mean([getattr(r, k) for r in results])) for k in TIME_COLUMNS})
    kinds = sorted({kind for r in results for kind in r.by_defect})
    mean_by_defect = {kind: {m: float(np.nanmean([r.by_defect[kind][m] for r in results
                                                  if kind in r.by_defect]))
                             for m in ("I-AUROC", "P-AUROC")} for kind in kinds}
    return {
        "method": method, "params": create(method, **(params or {})).get_params(),
        "mode": "unified" if unified else "per-category", "fit_s": fit_s,
        "data": str(root), "format": data_format, "dataset_options": dataset_options or {},
        "pointad_version": __version__,
        "categories": [r.row() for r in results], "mean": mean,
        "mean_by_defect": mean_by_defect,
        "notes": {r.category: r.notes for r in results if r.notes},
    }


def format_table(results: dict) -> str:
    """A fixed-width text table: one row per category and the mean."""
    head = f"{'category':<16}" + "".join(f"{c:>9}" for c in TABLE_COLUMNS) + \
        f"{'fit s':>9}{'s/cloud':>9}"
    mode = ", unified: one model for all categories" if results.get("mode") == "unified" else ""
    lines = [f"{results['method']} on {results['data']} ({results['format']}{mode})", head,
             "-" * len(head)]
    rows = results["categories"] + [{"category": "mean", **results["mean"]}]
    for i, row in enumerate(rows):
        if i == len(rows) - 1:
            lines.append("-" * len(head))
        lines.append(f"{row['category']:<16}" + "".join(f"{row[c]:>9.3f}" for c in TABLE_COLUMNS)
                     + f"{row['fit_s']:>9.2f}{row['predict_s_per_cloud']:>9.3f}")
    return "\n".join(lines)


def format_defect_table(results: dict) -> str:
    """Mean over categories of I-AUROC and P-AUROC per defect kind (good clouds vs that kind)."""
    lines = [f"{'defect kind':<16}{'I-AUROC':>9}{'P-AUROC':>9}"]
    for kind, m in results.get("mean_by_defect", {}).items():
        lines.append(f"{kind:<16}{m['I-AUROC']:>9.3f}{m['P-AUROC']:>9.3f}")
    return "\n".join(lines)


def write_results(results: dict, out_dir, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``<out_dir>/<method>_<format>.json`` and ``.csv`` atomically (``..._unified``
    for a unified run; ``results["variant"]``, when set, names the file instead of the method);
    return both paths."""
    out_dir = Path(out_dir)
    stem = f"{results.get('variant', results['method'])}_{results['format']}"
    if results.get("mode") == "unified":
        stem += "_unified"
    json_path, csv_path = out_dir / f"{stem}.json", out_dir / f"{stem}.csv"
    if not overwrite:
        for p in (json_path, csv_path):
            if p.exists():
                raise InputError(f"{p} exists; use --overwrite or another --out")
    write_json(json_path, results, overwrite=overwrite)
    columns = ["category", *METRIC_COLUMNS, *TIME_COLUMNS, "n_train", "n_test"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in results["categories"] + [{"category": "mean", **results["mean"]}]:
        writer.writerow(row)
    with atomic_write(csv_path, overwrite=overwrite) as tmp:
        Path(tmp).write_text(buf.getvalue())
    return json_path, csv_path
