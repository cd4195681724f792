"""``pnas signals eval``: fit a 1D detector on normal signals and report window-level and
point-level metrics (the same table, JSON and CSV as ``pnas eval``)."""
from __future__ import annotations

import argparse

from pointad.cli.eval import parse_key_value
from pointad.errors import InputError
from pointad.signals import available
from pointad.validation import check_number

HELP = """Fit a 1D anomaly detector (mmae, mae, window-knn) on normal signals, score the test
signals and print window-level (I-AUROC, one score per test window) and point-level (P-AUROC,
AUPRO, P-AP, one score per time step) metrics; writes OUT/<method>_signals.json and .csv (never
over existing files without --overwrite).

Data: --synthetic-ecg (the built-in generator: normal recordings, and ectopic beats, ST shifts,
noise bursts and dropped beats with per-sample labels), or --data DIR: a folder of WFDB records
(*.hea/*.dat with *.atr beat annotations; the first half of each record gives the normal training
windows, the second half the test windows) or a PTB-XL folder (ptbxl_database.csv; window-level
labels only).

Exit status: 0 done; 2 bad arguments or data."""


def add_parser(verbs) -> None:
    p = verbs.add_parser("signals", help="1D signals (ECG, scan-line profiles): evaluate a "
                         "detector", description=HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="signals_verb", metavar="ACTION", parser_class=type(p))
    sub.required = True
    e = sub.add_parser("eval", help="evaluate a 1D detector", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", "-d", help="a folder of WFDB records or a PTB-XL folder")
    src.add_argument("--synthetic-ecg", action="store_true",
                     help="the built-in synthetic ECG dataset (pointad.signals.ecg)")
    e.add_argument("--method", "-m", required=True,
                   help=f"signal detector ({', '.join(available())})")
    e.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                   help="detector parameter, value parsed as JSON when it can be (repeatable)")
    e.add_argument("--window-s", type=float, default=10.0,
                   help="WFDB records: window length in seconds (default: %(default)s)")
    e.add_argument("--n-train", type=int, default=60,
                   help="synthetic ECG: normal training recordings (default: %(default)s)")
    e.add_argument("--n-test", type=int, default=20,
                   help="synthetic ECG: normal test recordings; as many of each anomaly kind "
                        "divided by two (default: %(default)s)")
    e.add_argument("--seed", type=int, default=0,
                   help="synthetic ECG: dataset seed (default: %(default)s)")
    e.add_argument("--out", "-o", default="results",
                   help="output directory (default: %(default)s)")
    e.add_argument("--overwrite", action="store_true", help="replace existing result files")
    e.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    e.set_defaults(run=run)


def load_signal_data(args):
    """The :class:`pointad.signals.SignalSet` the arguments name."""
    from pathlib import Path
    if args.synthetic_ecg:
        from pointad.signals.ecg import synthetic_ecg
        n_test = check_number(args.n_test, "--n-test", low=1, integer=True)
        return synthetic_ecg(check_number(args.n_train, "--n-train", low=1, integer=True),
                             n_test, max(1, n_test // 2), seed=args.seed)
    from pointad.signals.wfdb_io import load_ptbxl, load_wfdb_dir
    root = Path(args.data)
    if not root.is_dir():
        raise InputError(f"{args.data}: not a directory")
    if (root / "ptbxl_database.csv").is_file():
        return load_ptbxl(root)
    check_number(args.window_s, "--window-s", low=0, low_open=True)
    return load_wfdb_dir(root, window_s=args.window_s)


def run(args) -> int:
    from pathlib import Path

    from pointad.io.atomic import check_writable_dir
    from pointad.runner import evaluate_signals, format_table, result_paths, write_results
    from pointad.signals import create
    params = dict(parse_key_value(p) for p in args.param)
    create(args.method, **params)  # an unknown method or a bad parameter: before any work
    out = Path(args.out)
    created = not out.exists()
    check_writable_dir(out)
    try:
        if not args.overwrite:
            for path in result_paths(out, args.method, "signals")[:2]:
                if path.exists():
                    raise InputError(f"{path} exists; use --overwrite or another --out")
        data = load_signal_data(args)
        results = evaluate_signals(args.method, data, params=params, progress=not args.quiet)
        json_path, csv_path = write_results(results, out, overwrite=args.overwrite)
    finally:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # nothing made: leave no trace
    print(format_table(results))
    print("I-* window-level, P-* and AUPRO point-level; per anomaly kind:")
    for kind, m in results["mean_by_defect"].items():
        window = "n/a" if m["I-AUROC"] is None else f"{m['I-AUROC']:.3f}"
        point = "n/a" if m["P-AUROC"] is None else f"{m['P-AUROC']:.3f}"
        print(f"  {kind:<14} window AUROC {window:>6}  point AUROC {point:>6}")
    print(f"wrote {json_path} and {csv_path}")
    return 0
