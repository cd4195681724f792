"""The evaluation runner: fit a detector on each category's normal training clouds, score the test
split, and compute the numbers the field reports.

Per category: I-AUROC (object scores), P-AUROC and P-AP (all test points together), AUPRO
(8-connected regions on the image grid for organized scans, radius-graph regions for unorganized
clouds; FPR limit 0.3), I-AP, P-F1max, fit time and scoring time per cloud; and their mean over
categories. Results go to JSON and CSV. A metric that cannot be computed is null, with the reason.

:func:`evaluate_to` is the runner of ``pnas eval`` and ``tools/report.py``: it checks that it
may write its outputs before it starts, saves each category's result as soon as it is done and
resumes from the finished ones.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pointad import __version__
from pointad.datasets import DATASETS, detect_format, load_dataset
from pointad.detectors import Prediction, create
from pointad.errors import InputError
from pointad.io import write_json
from pointad.io.atomic import atomic_group, atomic_write, check_writable_dir
from pointad.io.jsonfile import to_plain
from pointad.metrics import aupro_images, aupro_points, auroc, average_precision, f1_max
from pointad.parallel import is_worker_failure, run_tasks, worker_count
from pointad.validation import check_number

TABLE_COLUMNS = ("I-AUROC", "P-AUROC", "AUPRO", "P-AP")
METRIC_COLUMNS = TABLE_COLUMNS + ("I-AP", "P-F1max")
TIME_COLUMNS = ("fit_s", "predict_s_per_cloud")


@dataclass
class CategoryResult:
    """Scores and numbers of one category. A metric that cannot be computed (no defective test
    cloud, no per-point labels...) is None, with the reason in ``undefined``."""

    category: str
    metrics: dict
    n_train: int
    n_test: int
    fit_s: float
    predict_s_per_cloud: float
    notes: list = field(default_factory=list)
    by_defect: dict = field(default_factory=dict)
    undefined: dict = field(default_factory=dict)  # metric -> why it is None
    scores: CategoryScores | None = field(default=None, repr=False, compare=False)

    def row(self) -> dict:
        return {"category": self.category, **self.metrics, "fit_s": self.fit_s,
                "predict_s_per_cloud": self.predict_s_per_cloud, "n_train": self.n_train,
                "n_test": self.n_test, "by_defect": self.by_defect}

    @classmethod
    def from_row(cls, row: dict, notes=(), undefined=None) -> CategoryResult:
        """The result a :meth:`row` (read back from JSON) describes."""
        return cls(category=row["category"], metrics={k: row.get(k) for k in METRIC_COLUMNS},
                   n_train=row["n_train"], n_test=row["n_test"], fit_s=row["fit_s"],
                   predict_s_per_cloud=row["predict_s_per_cloud"], notes=list(notes),
                   by_defect=row.get("by_defect", {}), undefined=dict(undefined or {}))


SCORE_FIELDS = ("sample_ids", "paths", "defects", "object_labels", "object_scores", "offsets",
                "point_scores", "labels")


@dataclass
class CategoryScores:
    """The per-point and object scores of one category's test clouds, as saved next to the
    results (:func:`write_results`), so curves, heatmaps and reports never re-run a detector.

    Per cloud ``i`` (the test split's order): ``sample_ids[i]`` (the dataset's
    :attr:`Sample.id <pointad.datasets.Sample.id>`), ``paths[i]``, ``defects[i]``,
    ``object_labels[i]`` (0 good, 1 anomalous), ``object_scores[i]``; its point scores are
    ``point_scores[offsets[i]:offsets[i + 1]]`` and its point labels the same slice of
    ``labels`` (int8: 1 anomalous, 0 normal, -1 for a cloud without point labels)."""

    sample_ids: np.ndarray
    paths: np.ndarray
    defects: np.ndarray
    object_labels: np.ndarray
    object_scores: np.ndarray
    offsets: np.ndarray
    point_scores: np.ndarray
    labels: np.ndarray

    @classmethod
    def from_predictions(cls, samples, predictions) -> CategoryScores:
        """The scores of test ``samples`` and their ``predictions`` (same order)."""
        sizes = [len(p.point_scores) for p in predictions]
        labels = [np.full(n, -1, np.int8) if s.labels is None else
                  np.asarray(s.labels, dtype=np.int8) for s, n in zip(samples, sizes)]
        return cls(sample_ids=np.array([str(s.id) for s in samples], dtype=str),
                   paths=np.array([str(s.path) for s in samples], dtype=str),
                   defects=np.array([str(s.defect) for s in samples], dtype=str),
                   object_labels=np.array([s.label for s in samples], dtype=np.int8),
                   object_scores=np.array([p.score for p in predictions], dtype=np.float64),
                   offsets=np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]),
                   point_scores=np.concatenate([np.asarray(p.point_scores) for p in predictions]
                                               or [np.zeros(0)]),
                   labels=np.concatenate(labels or [np.zeros(0, np.int8)]))

    def __len__(self) -> int:
        return len(self.sample_ids)

    def point_scores_of(self, i: int) -> np.ndarray:
        """The per-point scores of cloud ``i``."""
        return self.point_scores[self.offsets[i]:self.offsets[i + 1]]

    def predictions(self) -> list:
        """The detector's :class:`~pointad.detectors.Prediction` of each cloud, as scored."""
        return [Prediction(point_scores=self.point_scores_of(i),
                           score=float(self.object_scores[i])) for i in range(len(self))]

    def arrays(self, prefix: str = "") -> dict:
        """``{prefix + field: array}`` (the keys of a scores file)."""
        return {prefix + name: getattr(self, name) for name in SCORE_FIELDS}


def scores_path(json_path) -> Path:
    """The per-point scores file of a results JSON: ``<stem>.scores.npz`` next to it."""
    json_path = Path(json_path)
    return json_path.with_name(json_path.stem + ".scores.npz")


def save_scores(path, scores: dict, *, overwrite: bool = False) -> Path:
    """Write ``{category: CategoryScores or the path of a file that holds it}`` to ``path``,
    a compressed ``.npz`` (keys ``<category>/<field>``, :data:`SCORE_FIELDS`; NumPy's own
    format, written one category at a time, so a huge run holds one in memory), atomically."""
    with atomic_write(path, overwrite=overwrite) as tmp:
        _write_scores(tmp, scores)
    return Path(path)


def _write_scores(path: Path, scores: dict) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for category, item in scores.items():
            if not isinstance(item, CategoryScores):
                item = load_scores(item, [category])[category]
            for key, array in item.arrays(f"{category}/").items():
                with zf.open(key + ".npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)


def load_scores(path, categories=None) -> dict:
    """``{category: CategoryScores}`` of a scores file (:func:`save_scores`); only those of
    ``categories`` (the others are not read) when given.

    Raises:
        InputError: the file is missing or is not a scores file.
    """
    import zipfile

    name = os.fspath(path)
    if not Path(path).is_file():
        raise InputError(f"{name}: scores file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            fields: dict = {}
            for key in data.files:
                category, _, what = key.rpartition("/")
                if what in SCORE_FIELDS and category and \
                        (categories is None or category in categories):
                    fields.setdefault(category, {})[what] = data[key]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{name}: not a scores file of pnas eval ({exc})") from None
    out = {}
    for category, arrays in fields.items():
        missing = [f for f in SCORE_FIELDS if f not in arrays]
        if missing:
            raise InputError(f"{name}: category {category!r} lacks {', '.join(missing)}")
        scores = CategoryScores(**arrays)
        if scores.offsets[-1] != len(scores.point_scores) or \
                len(scores.labels) != len(scores.point_scores):
            raise InputError(f"{name}: category {category!r}: offsets and point arrays "
                             "disagree")
        out[category] = scores
    return out


def _safe(metric, *args, notes, name, undefined=None, **kwargs) -> float:
    """A metric's value, or NaN with a note (and the reason in ``undefined[name]``) when it is
    undefined (e.g. a single class)."""
    try:
        return float(metric(*args, **kwargs))
    except InputError as exc:
        notes.append(f"{name}: {exc}")
        if undefined is not None:
            undefined[name] = str(exc)
        return math.nan


def defined(value) -> float | None:
    """A metric as the results hold it: a float, or None (JSON null) for NaN / not computed."""
    return None if value is None or math.isnan(value) else float(value)


def mean_defined(values) -> float | None:
    """The mean of the values that are defined (not None or NaN); None if there is none."""
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(kept)) if kept else None


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
                     num_thresholds: int | None = None, notes=None, undefined=None) -> dict:
    """The metric columns for test ``samples`` and their ``predictions`` (same order). A metric
    that cannot be computed is NaN, with a line in ``notes`` and its reason in
    ``undefined[metric]`` (when those are given)."""
    notes = [] if notes is None else notes
    undefined = {} if undefined is None else undefined
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
    kw = dict(notes=notes, undefined=undefined)
    out = {
        "I-AUROC": _safe(auroc, obj_labels, obj_scores, name="I-AUROC", **kw),
        "P-AUROC": _safe(auroc, point_labels, point_scores, name="P-AUROC", **kw),
        "P-AP": _safe(average_precision, point_labels, point_scores, name="P-AP", **kw),
        "I-AP": _safe(average_precision, obj_labels, obj_scores, name="I-AP", **kw),
        "P-F1max": _safe(f1_max, point_labels, point_scores, name="P-F1max", **kw),
    }
    scores = [p.point_scores for p in predictions]
    if not samples:
        out["AUPRO"] = _safe(_no_labels, name="AUPRO", **kw)
    elif all(s.organized for s in samples):
        maps, masks = image_maps(samples, scores)
        out["AUPRO"] = _safe(aupro_images, maps, masks, name="AUPRO",
                             num_thresholds=num_thresholds, **kw)
    else:
        out["AUPRO"] = _safe(aupro_points, [s.points for s in samples], scores,
                             [s.labels for s in samples], name="AUPRO",
                             spacing_factor=pro_spacing_factor, num_thresholds=num_thresholds,
                             **kw)
    return out


def _no_labels():
    raise InputError("no test cloud has per-point labels")


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
                      dataset_options=None, progress: bool = True, executor=None,
                      check_stop=None, **metric_options) -> CategoryResult:
    """Fit ``method`` on ``category``'s training split of the dataset at ``root``; score its test
    split (its clouds in parallel on ``executor`` when given: see :func:`predict_split`).
    ``dataset_options`` go to the loader (e.g. ``remove_background=True``)."""
    detector, n_train, fit_s = fit_category(method, params, root, category,
                                            data_format=data_format,
                                            dataset_options=dataset_options)
    return score_category(detector, method, root, category, n_train=n_train, fit_s=fit_s,
                          data_format=data_format, dataset_options=dataset_options,
                          progress=progress, executor=executor, check_stop=check_stop,
                          **metric_options)


def fit_category(method: str, params: dict, root, category: str, *, data_format=None,
                 dataset_options=None) -> tuple:
    """A new ``method`` detector with ``params``, fitted on ``category``'s training split.
    Returns ``(detector, number of training clouds, fit seconds)``."""
    train = load_dataset(root, category, "train", format=data_format, **(dataset_options or {}))
    detector = create(method, **(params or {}))
    start = time.perf_counter()
    detector.fit(list(train))  # Samples: organized scans keep their pixel grid
    return detector, len(train), time.perf_counter() - start


def _timed_predictions(detector, root, category: str, split: str, data_format,
                       dataset_options, indices) -> list:
    """``[(prediction, seconds)]`` of the clouds at ``indices`` of a split: a worker's task
    (it reads the clouds itself; the fitted detector comes with the task)."""
    data = load_dataset(root, category, split, format=data_format, **(dataset_options or {}))
    out = []
    for i in indices:
        sample = data[i]
        start = time.perf_counter()
        prediction = detector.predict(sample)
        out.append((prediction, time.perf_counter() - start))
    return out


def predict_split(detector, root, category: str, *, split: str = "test", data_format=None,
                  dataset_options=None, progress: bool = True, desc: str | None = None,
                  executor=None, check_stop=None) -> tuple:
    """Score every cloud of ``category``'s ``split`` with a fitted ``detector``. Returns
    ``(samples, predictions, total predict seconds)``, in the split's order.

    ``executor``: the clouds are scored there in parallel, the fitted detector shipped with
    each task (``2 x workers`` chunks of consecutive clouds; each worker reads its clouds);
    the predictions are those of a serial run. ``check_stop()`` runs while waiting (it may
    raise to stop; the chunks in progress are cancelled)."""
    data = load_dataset(root, category, split, format=data_format, **(dataset_options or {}))
    samples, predictions, predict_s = [], [], 0.0
    if executor is not None:
        chunks = np.array_split(np.arange(len(data)), min(len(data), 2 * worker_count(executor)))
        tasks = ((k, _timed_predictions, (detector, root, category, split, data_format,
                                          dataset_options, [int(i) for i in chunk]))
                 for k, chunk in enumerate(chunks) if len(chunk))
        by_chunk = {}
        for k, future in run_tasks(executor, tasks, window=2 * worker_count(executor),
                                   check=check_stop, drain=False):
            by_chunk[k] = _result(future, category)
        timed = [item for k in sorted(by_chunk) for item in by_chunk[k]]
        predictions = [p for p, _ in timed]
        return list(data), predictions, float(sum(s for _, s in timed))
    for sample in tqdm(data, desc=desc or f"{detector.name} {category}", unit="cloud",
                       leave=False, disable=not progress or None):
        start = time.perf_counter()
        predictions.append(detector.predict(sample))
        predict_s += time.perf_counter() - start
        samples.append(sample)
    return samples, predictions, predict_s


def score_category(detector, method: str, root, category: str, *, n_train: int, fit_s: float,
                   data_format=None, dataset_options=None, progress: bool = True,
                   executor=None, check_stop=None, keep_scores: bool = True,
                   **metric_options) -> CategoryResult:
    """Score ``category``'s test split with an already fitted ``detector`` (its clouds in
    parallel on ``executor`` when given: see :func:`predict_split`). ``keep_scores``: the
    result carries the clouds' scores (:class:`CategoryScores`, ``result.scores``)."""
    samples, predictions, predict_s = predict_split(
        detector, root, category, data_format=data_format, dataset_options=dataset_options,
        progress=progress, desc=f"{method} {category}", executor=executor,
        check_stop=check_stop)
    notes: list = list(detector.fit_notes())
    undefined: dict = {}
    metrics = category_metrics(samples, predictions, notes=notes, undefined=undefined,
                               **metric_options)
    by_defect = {kind: {m: defined(v) for m, v in values.items()}
                 for kind, values in defect_metrics(samples, predictions).items()}
    return CategoryResult(category=category, metrics={k: defined(v) for k, v in metrics.items()},
                          n_train=n_train, n_test=len(samples), fit_s=fit_s,
                          predict_s_per_cloud=predict_s / max(1, len(samples)), notes=notes,
                          by_defect=by_defect, undefined=undefined,
                          scores=CategoryScores.from_predictions(samples, predictions)
                          if keep_scores else None)


def evaluate_unified(method: str, params: dict, root, categories, *, data_format=None,
                     dataset_options=None, progress: bool = True, score=None, on_result=None,
                     check_stop=None, executor=None, **metric_options) -> tuple[list, float]:
    """Fit ONE ``method`` detector on the training clouds of all ``categories`` together, then
    score each category's test split with it (only those in ``score``, when given). Returns the
    per-category results (each row's ``fit_s`` is that one fit's time) and the fit time.
    ``on_result(result)`` is called as each category is done; ``check_stop()`` before the fit
    and between categories (it may raise to stop). With ``executor`` the fitted detector is
    shipped to the workers: the categories are scored in parallel when there are at least as
    many as workers, else each category's test clouds are (see :func:`predict_split`)."""
    options = dataset_options or {}
    train, counts = [], {}
    for c in categories:
        split = list(load_dataset(root, c, "train", format=data_format, **options))
        train += split
        counts[c] = len(split)
    detector = create(method, **params)
    if check_stop is not None:
        check_stop()
    start = time.perf_counter()
    detector.fit(train)
    fit_s = time.perf_counter() - start
    results = []
    chosen = categories if score is None else [c for c in categories if c in score]
    if executor is not None and len(chosen) >= worker_count(executor):
        task = partial(score_category, detector, method, root, data_format=data_format,
                       dataset_options=options, progress=False, fit_s=fit_s, **metric_options)
        by_name = {}
        for result in _run_categories(executor, [(c, task, {"n_train": counts[c]})
                                                 for c in chosen], check_stop):
            by_name[result.category] = result
            if on_result is not None:
                on_result(result)
        return [by_name[c] for c in chosen], fit_s
    for c in chosen:
        if check_stop is not None:
            check_stop()
        results.append(score_category(detector, method, root, c, n_train=counts[c],
                                      fit_s=fit_s, data_format=data_format,
                                      dataset_options=options, progress=progress,
                                      executor=executor, check_stop=check_stop,
                                      **metric_options))
        if on_result is not None:
            on_result(results[-1])
    return results, fit_s


def _keywords(fn, category: str, keywords: dict):
    """``fn(category, **keywords)``: a category's task on a worker."""
    return fn(category, **keywords)


def _run_categories(executor, tasks, check_stop=None):
    """Run ``(category, fn, keywords)`` tasks (``fn(category, **keywords)``) on ``executor``,
    two per worker at a time; yield each :class:`CategoryResult` as it is done (a stop from
    ``check_stop`` cancels the categories in progress: workers write nothing). A category
    that fails stops the run as in a serial one (the finished ones were yielded); a worker
    that died is an :class:`InputError` naming the category."""
    window = 2 * worker_count(executor)
    for category, future in run_tasks(executor, ((c, _keywords, (fn, c, kw))
                                                 for c, fn, kw in tasks),
                                      window=window, check=check_stop, drain=False):
        yield _result(future, category)


def _result(future, category: str):
    """A finished task's result; its exception raised as in a serial run (a worker that died:
    an :class:`InputError` naming the category)."""
    exc = future.exception()
    if exc is not None:
        if is_worker_failure(exc):
            raise InputError(f"category {category}: worker failed "
                             f"({' '.join(str(exc).split()) or type(exc).__name__})")
        raise exc
    return future.result()


def resolve_categories(root, data_format=None, categories=None) -> tuple[Path, str, list]:
    """``(root, format, categories)`` of a dataset: the format detected when not given, every
    category when none is given; an unknown category is an :class:`InputError`."""
    root = Path(root)
    data_format = data_format or detect_format(root)
    known = DATASETS[data_format].categories(root)
    categories = list(categories) if categories else known
    unknown = [c for c in categories if c not in known]
    if unknown:
        raise InputError(f"{root}: no category {unknown[0]!r}; available: {', '.join(known)}")
    return root, data_format, categories


def run_settings(method: str, params: dict, root, data_format: str, dataset_options,
                 unified: bool, categories, metric_options: dict) -> dict:
    """What a result depends on besides the code: a saved category is reused only when these
    are equal (as JSON; the data as its resolved path; a unified run also needs the same
    categories, as its one model is fitted on them all)."""
    settings = {"method": method, "params": params, "mode": "unified" if unified
                else "per-category", "data": os.path.realpath(root), "format": data_format,
                "dataset_options": dataset_options or {},
                "metric_options": {k: v for k, v in metric_options.items() if v is not None}}
    if unified:
        settings["categories"] = list(categories)
    return json.loads(json.dumps(to_plain(settings)))


def settings_of(results: dict) -> dict:
    """The :func:`run_settings` of a results dict (from :func:`evaluate`, or its JSON)."""
    return run_settings(results["method"], results["params"], results["data"], results["format"],
                        results.get("dataset_options"), results.get("mode") == "unified",
                        [r["category"] for r in results["categories"]],
                        results.get("metric_options", {}))


def _check_settings(path: Path, saved: dict, wanted: dict) -> None:
    changed = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    if changed:
        raise InputError(f"{path}: made with other settings ({', '.join(changed)}); use "
                         "--overwrite or another --out")


def category_scores_path(checkpoint, category: str) -> Path:
    """Where :func:`save_category` puts a category's scores:
    ``checkpoint/<category>.scores.npz``."""
    return Path(checkpoint) / f"{category}.scores.npz"


def save_category(checkpoint, settings: dict, result: CategoryResult) -> Path:
    """Write ``result`` to ``checkpoint/<category>.json`` (atomically, replacing) with the run's
    ``settings``, and its scores, when it has them, to :func:`category_scores_path` first (the
    JSON marks the category done); :func:`load_categories` reads it back."""
    scores = category_scores_path(checkpoint, result.category)
    if result.scores is not None:
        save_scores(scores, {result.category: result.scores}, overwrite=True)
    else:
        scores.unlink(missing_ok=True)  # an earlier attempt's, not this result's
    return write_json(Path(checkpoint) / f"{result.category}.json",
                      {"settings": settings, "result": {**result.row(), "notes": result.notes,
                                                        "undefined": result.undefined}},
                      overwrite=True)


def load_categories(checkpoint, settings: dict, categories) -> dict:
    """``{category: CategoryResult}`` of the ``categories`` finished in ``checkpoint`` (their
    scores stay in their files, :func:`category_scores_path`, when saved).

    Raises:
        InputError: one was made with other ``settings``.
    """
    done = {}
    for category in categories:
        path = Path(checkpoint) / f"{category}.json"
        if not path.is_file():
            continue
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            row = saved["result"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable: evaluated again and replaced
        _check_settings(path, saved.get("settings", {}), settings)
        done[category] = CategoryResult.from_row(row, row.get("notes", ()),
                                                 row.get("undefined"))
    return done


def evaluate(method: str, root, *, categories=None, params=None, data_format=None,
             dataset_options=None, progress: bool = True, unified: bool = False,
             checkpoint=None, resume: bool = False, check_stop=None, executor=None,
             scores: dict | None = None, **metric_options) -> dict:
    """Evaluate ``method`` on every (or the given) category; returns the results dict (see
    :func:`write_results`), with a ``mean`` row over categories.

    ``unified=False`` fits one detector per category; ``unified=True`` fits one detector on the
    union of the categories' training clouds and scores every category with it. The results'
    ``"mode"`` says which (``"unified"`` or ``"per-category"``) and ``"fit_s"`` is the total fit
    time (unified: the one fit, which every row also shows).

    A metric that cannot be computed (no defective test cloud, no per-point labels) is None
    (null in JSON), with the reason under ``results["undefined"][category][metric]``; the mean
    is over the categories that have it.

    ``checkpoint``: a directory that receives each category's result as soon as it is done
    (:func:`save_category`). With ``resume`` the categories already there are read instead of
    evaluated (:func:`load_categories`: they must have the same settings), so the results are
    those of an uninterrupted run. ``check_stop()`` is called between categories (it may raise
    to stop the run; the finished categories are saved).

    ``executor`` (``concurrent.futures``-style: ``distributed.Client(...).get_executor()``, a
    ``ProcessPoolExecutor``, :func:`pointad.parallel.open_executor`): with at least as many
    categories as workers they are evaluated there in parallel (unified: the one detector is
    fitted here and the categories are scored there); with fewer, each detector is fitted here
    and shipped to the workers, which score its test clouds in parallel. The results are those
    of a serial run but for the times.

    ``scores``: a dict that receives ``{category: CategoryScores}`` (with ``checkpoint``: the
    path of the category's scores file there, :func:`category_scores_path`, so a long run holds
    no scores in memory); :func:`write_results` saves them. Without it no scores are kept."""
    if metric_options.get("num_thresholds") is not None:  # before any fit, not NaN at the end
        check_number(metric_options["num_thresholds"], "num_thresholds", low=2, integer=True)
    root, data_format, categories = resolve_categories(root, data_format, categories)
    params = params or {}
    full_params = create(method, **params).get_params()
    settings = run_settings(method, full_params, root, data_format, dataset_options, unified,
                            categories, metric_options)
    done = load_categories(checkpoint, settings, categories) \
        if checkpoint is not None and resume else {}
    if scores is not None:  # the finished categories' scores, where they were saved
        scores.update({c: category_scores_path(checkpoint, c) for c in done
                       if category_scores_path(checkpoint, c).is_file()})
    metric_options = {**metric_options, "keep_scores": scores is not None}

    def finish(result: CategoryResult) -> None:
        if checkpoint is not None:
            save_category(checkpoint, settings, result)
        if scores is not None and result.scores is not None:
            scores[result.category] = result.scores if checkpoint is None else \
                category_scores_path(checkpoint, result.category)
        result.scores = None  # saved (or not wanted): not held for the whole run
        done[result.category] = result

    todo = [c for c in categories if c not in done]
    if unified:
        fit_s = next(iter(done.values())).fit_s if done else 0.0
        if todo:
            _, fit_s = evaluate_unified(method, params, root, categories,
                                        data_format=data_format, dataset_options=dataset_options,
                                        progress=progress, score=todo, on_result=finish,
                                        check_stop=check_stop, executor=executor,
                                        **metric_options)
    elif executor is not None and len(todo) >= worker_count(executor):
        task = partial(evaluate_category, method, params, root, data_format=data_format,
                       dataset_options=dataset_options, progress=False, **metric_options)
        for result in _run_categories(executor, [(c, task, {}) for c in todo], check_stop):
            finish(result)
        fit_s = float(sum(done[c].fit_s for c in categories))
    else:
        for c in todo:
            if check_stop is not None:
                check_stop()
            finish(evaluate_category(method, params, root, c, data_format=data_format,
                                     dataset_options=dataset_options, progress=progress,
                                     executor=executor, check_stop=check_stop,
                                     **metric_options))
        fit_s = float(sum(done[c].fit_s for c in categories))
    results = [done[c] for c in categories]
    mean: dict = {k: mean_defined([r.metrics[k] for r in results]) for k in METRIC_COLUMNS}
    mean.update({k: float(np.mean([getattr(r, k) for r in results])) for k in TIME_COLUMNS})
    kinds = sorted({kind for r in results for kind in r.by_defect})
    mean_by_defect = {kind: {m: mean_defined([r.by_defect[kind][m] for r in results
                                              if kind in r.by_defect])
                             for m in ("I-AUROC", "P-AUROC")} for kind in kinds}
    undefined = {r.category: r.undefined for r in results if r.undefined}
    if any(mean[k] is None for k in METRIC_COLUMNS):
        undefined["mean"] = {k: "not computed for any category" for k in METRIC_COLUMNS
                             if mean[k] is None}
    return {
        "method": method, "params": full_params,
        "mode": "unified" if unified else "per-category", "fit_s": fit_s,
        "data": str(root), "format": data_format, "dataset_options": dataset_options or {},
        "metric_options": settings["metric_options"], "pointad_version": __version__,
        "categories": [r.row() for r in results], "mean": mean,
        "mean_by_defect": mean_by_defect,
        "notes": {r.category: r.notes for r in results if r.notes},
        "undefined": undefined,
    }


def evaluate_to(out_dir, method: str, root, *, name: str | None = None, resume: bool = False,
                overwrite: bool = False, categories=None, params=None, data_format=None,
                dataset_options=None, progress: bool = True, unified: bool = False,
                check_stop=None, executor=None, point_scores: bool = True,
                **metric_options) -> tuple[dict, Path, Path]:
    """:func:`evaluate` into ``out_dir`` without losing work; returns ``(results, json path,
    csv path)`` (:func:`result_paths`, named after ``name``, default ``method``; a ``name``
    other than the method is recorded as ``results["variant"]``).

    Before any work: the dataset, the method and its parameters are checked, the result files
    must not exist (unless ``resume`` or ``overwrite``) and ``out_dir`` must be writable. Each
    category's result is saved in ``<stem>.categories/`` as soon as it is done. With ``resume``
    the categories finished there, or in the existing result file (whose categories stay in
    it), are read instead of evaluated; they must have the same settings, else an
    :class:`InputError`. The result files are written at the end (atomically), then the
    per-category files are removed. ``executor``: see :func:`evaluate`.

    ``point_scores``: the test clouds' scores are saved next to the JSON, in
    ``<stem>.scores.npz`` (:func:`save_scores`; the JSON's ``"scores_file"`` names it), each
    category's in ``<stem>.categories/`` as it is done; resuming keeps those of the finished
    categories. False (huge datasets): no scores file."""
    if resume and overwrite:
        raise InputError("--resume keeps finished categories, --overwrite replaces them: "
                         "give one")
    if metric_options.get("num_thresholds") is not None:
        check_number(metric_options["num_thresholds"], "num_thresholds", low=2, integer=True)
    root, data_format, categories = resolve_categories(root, data_format, categories)
    full_params = create(method, **(params or {})).get_params()  # bad method or parameter
    name = name or method
    json_path, csv_path, checkpoint = result_paths(out_dir, name, data_format, unified)
    if not (resume or overwrite):
        for p in (json_path, csv_path, scores_path(json_path)):
            if p.exists():
                raise InputError(f"{p} exists; use --resume to add to it, --overwrite or "
                                 "another --out")
        if checkpoint.is_dir() and any(checkpoint.glob("*.json")):
            raise InputError(f"{checkpoint} holds the categories of an unfinished run; "
                             "--resume continues it, --overwrite starts over")
    previous = None
    if resume and json_path.is_file():
        try:
            previous = json.loads(json_path.read_text(encoding="utf-8"))
            done_rows = list(previous["categories"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{json_path}: not a results file of pnas eval ({exc}); use "
                             "--overwrite or another --out") from None
        if not unified:  # its categories stay in the result file
            categories = [r["category"] for r in done_rows] + \
                [c for c in categories if c not in {r["category"] for r in done_rows}]
        wanted = run_settings(method, full_params, root, data_format, dataset_options, unified,
                              categories, metric_options)
        _check_settings(json_path, settings_of(previous), wanted)
        old_scores = scores_path(json_path)
        previous_scores = load_scores(old_scores) \
            if point_scores and previous.get("scores_file") and old_scores.is_file() else {}
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    check_writable_dir(out_dir)
    try:
        if previous is not None:
            for row in previous["categories"]:
                if not (checkpoint / f"{row['category']}.json").exists():
                    kept = CategoryResult.from_row(
                        row, previous.get("notes", {}).get(row["category"], ()),
                        previous.get("undefined", {}).get(row["category"]))
                    kept.scores = previous_scores.get(row["category"])
                    save_category(checkpoint, wanted, kept)
        scores: dict | None = {} if point_scores else None
        results = evaluate(method, root, categories=categories, params=params,
                           data_format=data_format, dataset_options=dataset_options,
                           progress=progress, unified=unified, checkpoint=checkpoint,
                           resume=resume, check_stop=check_stop, executor=executor,
                           scores=scores, **metric_options)
    finally:
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()  # nothing made: leave no trace
    if name != method:
        results["variant"] = name
    written = write_results(results, out_dir, overwrite=resume or overwrite, scores=scores)
    for c in categories:
        (checkpoint / f"{c}.json").unlink(missing_ok=True)
        category_scores_path(checkpoint, c).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        checkpoint.rmdir()  # kept if it holds anything else
    return results, written[0], written[1]


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
        lines.append(f"{row['category']:<16}" + "".join(cell(row[c]) for c in TABLE_COLUMNS)
                     + f"{row['fit_s']:>9.2f}{row['predict_s_per_cloud']:>9.3f}")
    # Why a metric is n/a: one line per reason and set of metrics, naming the categories.
    why: dict = {}
    for category, reasons in results.get("undefined", {}).items():
        if category == "mean":
            continue  # n/a in the mean: n/a in every category
        by_reason: dict = {}
        for metric in METRIC_COLUMNS:
            if metric in reasons:
                by_reason.setdefault(reasons[metric], []).append(metric)
        for reason, metrics in by_reason.items():
            why.setdefault((reason, tuple(metrics)), []).append(category)
    lines += [f"n/a: {', '.join(metrics)} of {', '.join(cats)}: {reason}"
              for (reason, metrics), cats in why.items()]
    return "\n".join(lines)


def cell(value, width: int = 9, digits: int = 3) -> str:
    """A metric right-aligned in ``width`` characters; ``n/a`` when it was not computed."""
    return f"{'n/a':>{width}}" if value is None or math.isnan(value) \
        else f"{value:>{width}.{digits}f}"


def format_defect_table(results: dict) -> str:
    """Mean over categories of I-AUROC and P-AUROC per defect kind (good clouds vs that kind)."""
    lines = [f"{'defect kind':<16}{'I-AUROC':>9}{'P-AUROC':>9}"]
    for kind, m in results.get("mean_by_defect", {}).items():
        lines.append(f"{kind:<16}{cell(m['I-AUROC'])}{cell(m['P-AUROC'])}")
    return "\n".join(lines)


def write_results(results: dict, out_dir, *, overwrite: bool = False,
                  scores: dict | None = None) -> tuple[Path, Path]:
    """Write ``<out_dir>/<method>_<format>.json`` and ``.csv`` atomically (``..._unified``
    for a unified run; ``results["variant"]``, when set, names the file instead of the method);
    return both paths. The two land together, the JSON last; a metric that was not computed is
    null in the JSON and an empty cell in the CSV.

    ``scores`` (``{category: CategoryScores or its file}``, from :func:`evaluate`): the
    per-point scores go to ``<stem>.scores.npz`` (:func:`scores_path`, :func:`save_scores`),
    written before the JSON, whose ``"scores_file"`` (set in ``results`` too) names it. Without
    scores the JSON names none (and, overwriting, an old scores file of that name is removed)."""
    json_path, csv_path, _ = result_paths(out_dir, results.get("variant", results["method"]),
                                          results["format"], results.get("mode") == "unified")
    npz_path = scores_path(json_path)
    if scores:
        results["scores_file"] = npz_path.name
    else:
        results.pop("scores_file", None)
    if not overwrite:
        for p in (json_path, csv_path) + ((npz_path,) if scores else ()):
            if p.exists():
                raise InputError(f"{p} exists; use --overwrite or another --out")
    columns = ["category", *METRIC_COLUMNS, *TIME_COLUMNS, "n_train", "n_test"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in results["categories"] + [{"category": "mean", **results["mean"]}]:
        writer.writerow(row)
    targets = ([npz_path] if scores else []) + [csv_path, json_path]
    with atomic_group(targets, overwrite=overwrite) as temps:
        *tmp_npz, tmp_csv, tmp_json = temps
        if scores:
            _write_scores(tmp_npz[0], scores)
        tmp_csv.write_text(buf.getvalue())
        try:
            write_json(tmp_json, results, overwrite=True)
        except InputError as exc:  # name the target, not its temporary
            raise InputError(str(exc).replace(os.fspath(tmp_json), os.fspath(json_path))) \
                from None
    if not scores and overwrite:
        npz_path.unlink(missing_ok=True)  # the scores of the replaced result
    return json_path, csv_path


def result_paths(out_dir, name: str, data_format: str,
                 unified: bool = False) -> tuple[Path, Path, Path]:
    """``out_dir/<name>_<format>[_unified]`` + ``.json``, ``.csv`` and ``.categories`` (the
    directory of the per-category results of a run in progress, :func:`evaluate_to`)."""
    stem = Path(out_dir) / (f"{name}_{data_format}" + ("_unified" if unified else ""))
    return (stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".csv"),
            stem.with_name(stem.name + ".categories"))


# ----------------------------------------------------------------------------- 1D signals


@dataclass
class _SignalView:
    """A test signal as :func:`category_metrics` reads a sample: a one-row organized "scan"
    (so AUPRO's regions are runs of labelled time steps)."""

    label: int
    labels: np.ndarray | None
    defect: str
    grid_shape: tuple
    grid_index: np.ndarray
    gt_mask: None = None
    organized: bool = True


def evaluate_signals(method: str, dataset, *, params=None, progress: bool = False) -> dict:
    """Fit the 1D ``method`` (:func:`pointad.signals.create`) on ``dataset.train`` (a
    :class:`pointad.signals.SignalSet`), score its test samples and return the results dict of
    :func:`evaluate` (one category, the dataset; ``by_defect``: per anomaly kind), so
    :func:`format_table` and :func:`write_results` print and write it. ``I-*`` metrics are
    window-level (one score per test signal window), ``P-*`` and AUPRO point-level (per time
    step; AUPRO's regions are runs of labelled steps); ``predict_s_per_cloud`` is seconds per
    test window."""
    from pointad.signals import create as create_signal_detector
    detector = create_signal_detector(method, **(params or {}))
    start = time.perf_counter()
    detector.fit(dataset.train)
    fit_s = time.perf_counter() - start
    views, predictions, predict_s = [], [], 0.0
    for sample in tqdm(dataset.test, desc=f"{method} {dataset.name}", unit="window",
                       leave=False, disable=not progress or None):
        start = time.perf_counter()
        predictions.append(detector.predict(sample.signal, name=sample.name or "signal"))
        predict_s += time.perf_counter() - start
        n = len(sample.signal)
        views.append(_SignalView(int(sample.label), sample.labels, sample.kind, (1, n),
                                 np.arange(n)))
    notes: list = []
    undefined: dict = {}
    metrics = category_metrics(views, predictions, notes=notes, undefined=undefined)
    by_defect = {kind: {m: defined(v) for m, v in values.items()}
                 for kind, values in defect_metrics(views, predictions).items()}
    result = CategoryResult(category=dataset.name,
                            metrics={k: defined(v) for k, v in metrics.items()},
                            n_train=len(dataset.train), n_test=len(views), fit_s=fit_s,
                            predict_s_per_cloud=predict_s / max(1, len(views)), notes=notes,
                            by_defect=by_defect, undefined=undefined)
    mean = {**result.metrics, "fit_s": fit_s, "predict_s_per_cloud": result.predict_s_per_cloud}
    return {
        "method": method, "params": detector.get_params(), "mode": "per-category",
        "fit_s": fit_s, "data": dataset.name, "format": "signals", "dataset_options": {},
        "metric_options": {}, "pointad_version": __version__,
        "levels": {"I-": "window (one score per test signal window)",
                   "P-": "point (one score per time step)"},
        "categories": [result.row()], "mean": mean, "mean_by_defect": dict(by_defect),
        "notes": {dataset.name: notes} if notes else {},
        "undefined": {dataset.name: undefined} if undefined else {},
    }
