"""ECG recordings on disk: WFDB records with beat annotations, and the PTB-XL layout.

**WFDB** (``.hea`` header, ``.dat`` samples, ``.atr`` beat annotations; MIT-BIH style, read
with the ``wfdb`` package): :func:`read_wfdb` gives the signal in physical units and per-sample
labels: a sample is abnormal iff it lies within ``before`` seconds before to ``after`` seconds
after (default 0.25 s / 0.45 s: the P wave to the end of the T wave) of an annotation whose
symbol is in ``abnormal`` (default :data:`ABNORMAL_SYMBOLS`, the AAMI supraventricular,
ventricular and fusion classes: ``A a J S V E F``). Normal beats (``N L R e j``), paced beats
(``/ f``), unclassifiable ones (``Q``) and non-beat annotations (rhythm changes, noise marks)
do not label anything. Per-window labels: a window is abnormal iff any of its samples is
(:func:`pointad.signals.window_samples`).

:func:`load_wfdb_dir` makes a dataset from a folder of records: each record is cut into windows;
the windows of the first ``train_fraction`` of every record that hold no abnormal sample are the
(normal) training signals, the windows of the rest are the test split (normal and abnormal).

**PTB-XL** (``ptbxl_database.csv`` plus ``records100/`` or ``records500/``): :func:`load_ptbxl`.
A record is normal iff its ``scp_codes`` give ``NORM`` a likelihood of at least
``norm_likelihood`` (default 100), abnormal iff they hold no ``NORM`` at all; the others are left
out. Training: the normal records of folds 1-8 (``strat_fold``); test: folds 9 and 10. PTB-XL has
no per-sample ground truth, so only window-level (record-level) metrics are defined.
"""
from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np

from pointad.errors import InputError
from pointad.signals.data import SignalSample, SignalSet, window_samples
from pointad.validation import check_number

ABNORMAL_SYMBOLS = ("A", "a", "J", "S", "V", "E", "F")


def _wfdb():
    try:
        import wfdb
    except ImportError:  # pragma: no cover - wfdb is a dependency
        raise InputError("reading WFDB records needs the 'wfdb' package (pip install wfdb)") \
            from None
    return wfdb


def read_wfdb(record, *, annotation: str = "atr", abnormal=ABNORMAL_SYMBOLS,
              before: float = 0.25, after: float = 0.45):
    """``(signal (T, C) float64, labels (T,) bool, fs)`` of the WFDB ``record`` (a path without
    extension). Without an annotation file every label is False. Errors name the record."""
    wfdb = _wfdb()
    record = Path(record)
    base = record.with_suffix("") if record.suffix in (".hea", ".dat", ".atr") else record
    if not base.with_suffix(".hea").is_file():
        raise InputError(f"{base}: no WFDB header {base.name}.hea")
    try:
        rec = wfdb.rdrecord(str(base))
    except Exception as exc:  # wfdb raises many kinds on a damaged record
        raise InputError(f"{base}: not a readable WFDB record ({exc})") from None
    signal = np.asarray(rec.p_signal, dtype=np.float64)
    if signal.ndim != 2 or not len(signal):
        raise InputError(f"{base}: the record holds no samples")
    if not np.isfinite(signal).all():
        raise InputError(f"{base}: the record holds NaN samples (missing values)")
    fs = float(rec.fs)
    labels = np.zeros(len(signal), bool)
    if base.with_suffix(f".{annotation}").is_file():
        try:
            ann = wfdb.rdann(str(base), annotation)
        except Exception as exc:
            raise InputError(f"{base}.{annotation}: not a readable annotation file ({exc})") \
                from None
        lo, hi = int(round(before * fs)), int(round(after * fs))
        for sample, symbol in zip(ann.sample, ann.symbol):
            if symbol in abnormal:
                labels[max(0, sample - lo):max(0, sample + hi + 1)] = True
    return signal, labels, fs


def load_wfdb_dir(root, *, window_s: float = 10.0, stride_s: float | None = None,
                  train_fraction: float = 0.5, **read_options) -> SignalSet:
    """A :class:`SignalSet` from the WFDB records (``*.hea``) of the folder ``root``: windows of
    ``window_s`` seconds every ``stride_s`` (default: no overlap); training: the all-normal
    windows of the first ``train_fraction`` of each record; test: the windows after it."""
    root = Path(root)
    headers = sorted(root.glob("*.hea")) if root.is_dir() else []
    if not headers:
        raise InputError(f"{root}: no WFDB records (*.hea) found")
    check_number(train_fraction, "train_fraction", low=0, high=1, low_open=True, high_open=True)
    train, test, rates = [], [], set()
    for header in headers:
        signal, labels, fs = read_wfdb(header.with_suffix(""), **read_options)
        rates.add(fs)
        window = int(round(window_s * fs))
        stride = int(round((stride_s or window_s) * fs))
        if window < 1 or stride < 1:
            raise InputError(f"window_s and stride_s must be at least one sample at {fs} Hz")
        cut = int(len(signal) * train_fraction)
        for w in window_samples(signal[:cut], labels[:cut], window, stride, header.stem):
            if not w.label:
                train.append(w.signal)
        test += window_samples(signal[cut:], labels[cut:], window, stride, header.stem)
    if len(rates) > 1:
        raise InputError(f"{root}: records at different sampling rates {sorted(rates)}")
    if not train or not test:
        raise InputError(f"{root}: no {'normal training' if not train else 'test'} window of "
                         f"{window_s} s (records too short for the window?)")
    return SignalSet(root.name, train, test, rates.pop())


def _scp(value: str, where: str) -> dict:
    try:
        codes = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise InputError(f"{where}: scp_codes {value!r} is not a dict") from None
    if not isinstance(codes, dict):
        raise InputError(f"{where}: scp_codes {value!r} is not a dict")
    return codes


def load_ptbxl(root, *, sampling_rate: int = 100, norm_likelihood: float = 100.0,
               limit: int | None = None) -> SignalSet:
    """A :class:`SignalSet` from a PTB-XL folder (``ptbxl_database.csv`` and the records it
    names in ``filename_lr`` (100 Hz) or ``filename_hr`` (500 Hz)); test samples have record-
    level labels only (``labels`` None). ``limit``: read at most that many records (a quick
    look)."""
    root = Path(root)
    table = root / "ptbxl_database.csv"
    if not table.is_file():
        raise InputError(f"{root}: no ptbxl_database.csv (not a PTB-XL folder)")
    column = {100: "filename_lr", 500: "filename_hr"}.get(sampling_rate)
    if column is None:
        raise InputError(f"sampling_rate must be 100 or 500, got {sampling_rate!r}")
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    need = {"scp_codes", "strat_fold", column}
    if rows and not need <= set(rows[0]):
        raise InputError(f"{table}: lacks the columns {', '.join(sorted(need - set(rows[0])))}")
    train, test = [], []
    for i, row in enumerate(rows[:limit] if limit else rows):
        where = f"{table} row {i + 2}"
        codes = _scp(row["scp_codes"], where)
        norm = codes.get("NORM")
        if norm is not None and float(norm) < norm_likelihood:
            continue  # NORM with doubt: neither clearly normal nor abnormal
        label = int(norm is None)
        signal, _, _ = read_wfdb(root / row[column], annotation="none-such")
        try:
            fold = int(float(row["strat_fold"]))
        except ValueError:
            raise InputError(f"{where}: strat_fold {row['strat_fold']!r} is not a number") \
                from None
        if fold <= 8:
            if not label:
                train.append(signal)
        else:
            test.append(SignalSample(signal, None, label, "abnormal" if label else "good",
                                     row[column]))
    if not train or not test:
        raise InputError(f"{root}: PTB-XL gave {len(train)} normal training and {len(test)} "
                         "test records; need at least one of each")
    return SignalSet("ptbxl", train, test, float(sampling_rate))
