"""``pnas eval``: fit a detector per category on a dataset and report the field's metrics."""
from __future__ import annotations

import argparse
import json

from pointad.detectors import available
from pointad.errors import InputError

HELP = """Fit a detector on each category's normal training clouds, score the test split, print
I-AUROC, P-AUROC, AUPRO (FPR limit 0.3) and point AP per category and their mean, and write
OUT/<method>_<format>.json and .csv. DATA is a dataset root in the MVTec 3D-AD, Real3D-AD,
Anomaly-ShapeNet or plain-folder layout (detected, or --format); `pnas bench make` builds one."""


def parse_key_value(text: str):
    """``KEY=VALUE`` -> ``(KEY, VALUE)``, VALUE parsed as JSON when it can be (else the string)."""
    if "=" not in text:
        raise InputError(f"--param and --data-option need KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_parser(verbs) -> None:
    p = verbs.add_parser("eval", help="evaluate a detector on a dataset", description=HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", "-m", required=True,
                   help=f"detector name ({', '.join(available())})")
    p.add_argument("--data", "-d", required=True, help="dataset root directory")
    p.add_argument("--category", "-c", action="append",
                   help="category to evaluate (repeatable; default: all)")
    p.add_argument("--format", default=None, choices=("mvtec3d", "real3d", "shapenet", "folder"),
                   help="dataset layout (default: detected)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                   help="detector parameter, value parsed as JSON when it can be (repeatable)")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="dataset loader option, e.g. remove_background=true for MVTec 3D-AD "
                        "(RANSAC plane removal and largest cluster; repeatable)")
    p.add_argument("--out", "-o", default="results", help="output directory (default: %(default)s)")
    p.add_argument("--pro-thresholds", type=int, default=None, metavar="K",
                   help="AUPRO with K thresholds as in the published 3D tables (default: exact)")
    p.add_argument("--unified", action="store_true",
                   help="fit ONE detector on the training clouds of all selected categories "
                        "and score each category with it (default: one per category); writes "
                        "OUT/<method>_<format>_unified.json and .csv")
    p.add_argument("--overwrite", action="store_true", help="replace existing result files")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    from pointad.runner import evaluate, format_defect_table, format_table, write_results

    params = dict(parse_key_value(p) for p in args.param)
    options = dict(parse_key_value(p) for p in args.data_option)
    results = evaluate(args.method, args.data, categories=args.category, params=params,
                       data_format=args.format, dataset_options=options, progress=not args.quiet,
                       unified=args.unified, num_thresholds=args.pro_thresholds)
    print(format_table(results))
    if results["mean_by_defect"]:
        print(format_defect_table(results))
    json_path, csv_path = write_results(results, args.out, overwrite=args.overwrite)
    print(f"wrote {json_path} and {csv_path}")
    return 0
