"""``pnas eval``: fit a detector per category on a dataset and report the field's metrics."""
from __future__ import annotations

import argparse
import json

from pointad.cli._interrupt import Interrupted, graceful_interrupts
from pointad.cli.generate import add_parallel_arguments
from pointad.cli.plot import add_report_arguments
from pointad.detectors import available
from pointad.errors import InputError
from pointad.parallel import check_options, open_executor
from pointad.validation import check_number, parse_bool

HELP = """Fit a detector on each category's normal training clouds, score the test split, print
I-AUROC, P-AUROC, AUPRO (FPR limit 0.3) and point AP per category and their mean, and write
OUT/<method>_<format>.json and .csv. DATA is a dataset root in the MVTec 3D-AD, Real3D-AD,
Anomaly-ShapeNet or plain-folder layout (detected, or --format); `pnas bench make` builds one.

Nothing is lost: before any work pnas eval checks that OUT is writable and that the result files
do not exist (unless --resume or --overwrite). Each category's result is saved in
OUT/<method>_<format>.categories/ as soon as it is done; after Ctrl-C (which stops after the
current category; twice: at once) or a crash, --resume reads the finished categories and
evaluates the others, giving the table of an uninterrupted run. A metric that cannot be
computed (no defective test cloud, no per-point labels) is n/a in the table and null in the
JSON, with the reason under "undefined".

The per-point and object scores of the test clouds are saved next to the JSON, in
OUT/<method>_<format>.scores.npz (the JSON's "scores_file" names it), so `pnas plot curves` and
reports never run the detector again; --no-point-scores leaves them out (huge datasets).
--report DIR also writes an HTML report of the run (index.html and its images; `pnas plot
report` makes one of several results files, methods side by side).

Parallel: --workers N runs on N local worker processes, --scheduler ADDRESS on a running Dask
cluster. With at least as many categories as workers, the categories are evaluated in parallel
(--unified: the detector is fitted here and each category scored on a worker); with fewer,
each detector is fitted here and shipped to the workers, which score its test clouds in
parallel. --gpu-workers runs each task on a worker with the Dask resource GPU. The results are
those of a serial run but for the times.

Exit status: 0 done; 2 bad arguments or data; 130 (SIGINT) or 143 (SIGTERM) interrupted."""


def parse_key_value(text: str):
    """``KEY=VALUE`` -> ``(KEY, VALUE)``, VALUE parsed as JSON when it can be (else the string);
    true/false in any case is a bool (1/0 stay integers: each boolean parameter takes those too,
    through :func:`pointad.validation.parse_bool`)."""
    if "=" not in text:
        raise InputError(f"--param and --data-option need KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    if value.strip().lower() in ("true", "false"):
        return key, parse_bool(value, key)
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
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run (or add categories to a finished one): "
                        "the categories already finished with the same settings are read, "
                        "not evaluated again")
    p.add_argument("--no-point-scores", dest="point_scores", action="store_false",
                   help="do not save the test clouds' scores next to the results (huge "
                        "datasets; curves and reports then run the detector again)")
    add_report_arguments(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_parallel_arguments(p, what="categories, or with fewer categories than workers the "
                                   "test clouds (scored by the fitted detector shipped to the "
                                   "workers)")
    p.add_argument("--gpu-workers", action="store_true",
                   help="run each task on a Dask worker that has the resource GPU (started "
                        "with `dask worker ADDRESS --resources GPU=1`; with --workers every "
                        "local worker has one); needs --workers or --scheduler")
    p.set_defaults(run=run)


def run(args) -> int:
    from pointad.runner import evaluate_to, format_defect_table, format_table, resolve_categories

    check_options(args.workers, args.scheduler)
    if args.gpu_workers and args.workers is None and args.scheduler is None:
        raise InputError("--gpu-workers needs --workers or --scheduler")
    if args.pro_thresholds is not None:
        check_number(args.pro_thresholds, "--pro-thresholds", low=2, integer=True)
    params = dict(parse_key_value(p) for p in args.param)
    options = dict(parse_key_value(p) for p in args.data_option)
    if args.report is not None:  # before the work: a report needs the scores and a free place
        from viz.report import check_report_dir

        if not args.point_scores:
            raise InputError("--report draws from the saved scores: drop --no-point-scores")
        check_number(args.extremes, "--extremes", low=1, integer=True)
        check_report_dir(args.report, overwrite=args.overwrite)
    if args.workers is not None or args.scheduler is not None:
        resolve_categories(args.data, args.format, args.category)  # bad data: before a cluster
    with graceful_interrupts("category") as stop:
        try:
            with open_executor(args.workers, args.scheduler,
                               resources={"GPU": 1} if args.gpu_workers else None) as executor:
                results, json_path, csv_path = evaluate_to(
                    args.out, args.method, args.data, resume=args.resume,
                    overwrite=args.overwrite, categories=args.category, params=params,
                    data_format=args.format, dataset_options=options,
                    progress=not args.quiet and executor is None, unified=args.unified,
                    check_stop=stop.check, executor=executor,
                    point_scores=args.point_scores, num_thresholds=args.pro_thresholds)
        except Interrupted as exc:
            exc.detail = "the finished categories are kept; --resume continues"
            raise
        try:
            stop.check()  # a signal during the last category: the exit status still says so
        except Interrupted as exc:
            exc.detail = f"after the last category: {json_path} and {csv_path} are complete"
            raise
    print(format_table(results))
    if results["mean_by_defect"]:
        print(format_defect_table(results))
    print(f"wrote {json_path} and {csv_path}")
    if results.get("scores_file"):
        print(f"wrote {json_path.parent / results['scores_file']} (the per-point scores)")
    if args.report is not None:
        from viz.report import build_report

        page = build_report([json_path], args.report, overwrite=args.overwrite,
                            extremes=args.extremes, progress=not args.quiet)
        print(f"wrote {page}")
    return 0
