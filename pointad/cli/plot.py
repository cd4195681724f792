"""``pnas plot``: matplotlib figures (Agg, no display) of synthesis and evaluation.

Sub-verbs: ``sweep`` (a grid of two synthesis parameters), ``field`` (the Perlin field on the 2D
parameterization), ``before-after`` (the part before and after synthesis), ``heatmap`` (anomaly
scores on the part), ``bars`` and ``curves`` (``pnas eval`` results) and ``report`` (an HTML
page of one or more ``pnas eval`` results).
"""
from __future__ import annotations

import argparse

from pointad.cli._viz_inputs import (
    add_cloud_arguments,
    add_score_arguments,
    load_cloud,
    load_detector,
    load_scores,
)
from pointad.cli.generate import add_synthesis_arguments, synth_from_args
from pointad.errors import InputError
from pointad.validation import check_number, check_seed

HELP = """Draw figures of synthesized defects and detector results (PNG, PDF or SVG).

  sweep         the same part for a grid of two parameters (e.g. --rows scale=1,2,4
                --cols octaves=1,3,6)
  field         the Perlin field on the 2D parameterization, projected points, defect mask
  before-after  the part before and after synthesis, from chosen viewpoints
  heatmap       a detector's anomaly scores on a cloud (--detector or --scores)
  bars          per-category bars of a pnas eval results JSON
  curves        ROC and PRO curves of a pnas eval results JSON (from the per-point scores
                saved next to it; a category without them is evaluated again)
  report        one HTML page (images next to it) of one or more pnas eval results: tables,
                curves and score heatmaps of each category's highest and lowest scored clouds,
                several methods side by side

Existing files are never overwritten without --overwrite."""


def _common(p, *, views: bool = False) -> None:
    p.add_argument("--out", "-o", required=True, metavar="FILE",
                   help="image to write (.png, .pdf or .svg)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing image")
    if views:
        p.add_argument("--view", action="append", default=None, metavar="VIEW",
                       help="'defect' (face the defect) or AZIMUTH,ELEVATION in degrees; "
                            "repeat for more rows (default: defect and 30,25)")
        p.add_argument("--zoom", action="store_true", help="crop to the defect's neighbourhood")


def _synthesis(p) -> None:
    add_cloud_arguments(p)
    add_synthesis_arguments(p)
    p.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    p.add_argument("--center", type=int, default=None, metavar="INDEX",
                   help="index of the defect's seed point (default: drawn from the seed)")


def add_parser(verbs) -> None:
    p = verbs.add_parser("plot", help="figures: sweep grid, field, heatmaps, eval curves",
                         description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    figures = p.add_subparsers(dest="figure", metavar="FIGURE", parser_class=type(p))
    figures.required = True

    s = figures.add_parser("sweep", help="the part for a grid of two synthesis parameters")
    _synthesis(s)
    s.add_argument("--rows", default="scale=1,2,4", metavar="NAME=V1,V2,..",
                   help="parameter and values of the rows (default: %(default)s)")
    s.add_argument("--cols", default="octaves=1,3,6", metavar="NAME=V1,V2,..",
                   help="parameter and values of the columns (default: %(default)s)")
    s.add_argument("--view", default="defect", metavar="VIEW",
                   help="'defect' or AZIMUTH,ELEVATION (default: %(default)s)")
    s.add_argument("--whole", action="store_true",
                   help="show the whole part (default: zoom on the defect in local mode)")
    _common(s)
    s.set_defaults(run=run_sweep)

    f = figures.add_parser("field", help="the Perlin field on the 2D parameterization")
    _synthesis(f)
    _common(f)
    f.set_defaults(run=run_field)

    b = figures.add_parser("before-after", help="the part before and after synthesis")
    _synthesis(b)
    _common(b, views=True)
    b.set_defaults(run=run_before_after)

    h = figures.add_parser("heatmap", help="anomaly scores on a cloud")
    add_cloud_arguments(h)
    add_score_arguments(h)
    _common(h, views=True)
    h.set_defaults(run=run_heatmap)

    r = figures.add_parser("bars", help="per-category bars of pnas eval results")
    r.add_argument("results", metavar="RESULTS.json", help="written by pnas eval")
    r.add_argument("--metric", action="append", default=None,
                   help="metric to draw; repeat (default: I-AUROC P-AUROC AUPRO P-AP)")
    _common(r)
    r.set_defaults(run=run_bars)

    c = figures.add_parser("curves", help="ROC and PRO curves of pnas eval results")
    c.add_argument("results", metavar="RESULTS.json", help="written by pnas eval")
    c.add_argument("--category", "-c", action="append", default=None,
                   help="category to draw; repeat (default: all in the results)")
    c.add_argument("--data", default=None,
                   help="dataset root, when it moved since the evaluation (default: the "
                        "recorded one)")
    c.add_argument("--pro-thresholds", type=int, default=None, metavar="K",
                   help="PRO curve at K sampled thresholds (default: exact, every score)")
    c.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _common(c)
    c.set_defaults(run=run_curves)

    rp = figures.add_parser("report", help="an HTML report of pnas eval results")
    rp.add_argument("results", nargs="+", metavar="RESULTS.json",
                    help="written by pnas eval (several: methods side by side)")
    add_report_arguments(rp, flag="--out")
    rp.add_argument("--data", default=None,
                    help="dataset root, when it moved since the evaluation (default: the "
                         "recorded one)")
    rp.add_argument("--overwrite", action="store_true", help="replace an existing report")
    rp.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    rp.set_defaults(run=run_report)


def add_report_arguments(p, *, flag: str = "--report") -> None:
    """The report's options (``pnas plot report`` and ``pnas eval --report``)."""
    p.add_argument(flag, *(("-o",) if flag == "--out" else ()), required=flag == "--out",
                   default=None, metavar="DIR",
                   help="directory of the report: index.html and its PNG images (refused "
                        "when it exists, unless --overwrite)")
    p.add_argument("--extremes", type=int, default=2, metavar="K",
                   help="per category and method, heatmaps of the K highest and K lowest "
                        "scored test clouds (default: %(default)s)")


def _prepare(args):
    """Check the output path before any work is done."""
    from viz.figure_output import check_image_path

    check_image_path(args.out, overwrite=args.overwrite)


def _cloud_and_synth(args):
    synth = synth_from_args(args)
    check_seed(args.seed, "--seed")
    name, cloud, source = load_cloud(args)
    normals = cloud.normals
    grid = (cloud.grid_shape, cloud.grid_index) if cloud.organized else None
    if normals is None:
        from pointad.geometry.normals import estimate_normals

        try:
            normals = estimate_normals(cloud.points, k=synth.normal_k, orient=synth.orient,
                                       organized=grid is not None, radius=synth.normal_radius)
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from None
    return name, cloud, source, synth, normals, grid


def _views(args):
    from viz.views import DEFAULT_VIEW, parse_view

    return [parse_view(v) for v in args.view] if args.view else ["defect", DEFAULT_VIEW]


def _finish(fig, args) -> int:
    from viz.figure_output import save_figure

    path = save_figure(fig, args.out, overwrite=args.overwrite)
    print(f"wrote {path}")
    return 0


def _synthesize(synth, cloud, normals, grid, args, source):
    try:
        return synth(cloud.points, normals, seed=args.seed, center=args.center, grid=grid)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def run_sweep(args) -> int:
    from viz.sweep import parse_axis, sweep_figure
    from viz.views import parse_view

    _prepare(args)
    rows, cols = parse_axis(args.rows), parse_axis(args.cols)
    view = parse_view(args.view)
    _, cloud, source, synth, normals, grid = _cloud_and_synth(args)
    try:
        fig, _ = sweep_figure(cloud.points, normals, synth, rows, cols, seed=args.seed,
                              center=args.center, grid=grid, view=view, zoom=not args.whole)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    return _finish(fig, args)


def run_field(args) -> int:
    from viz.field import field_figure

    _prepare(args)
    _, cloud, source, synth, normals, grid = _cloud_and_synth(args)
    sample = _synthesize(synth, cloud, normals, grid, args, source)
    return _finish(field_figure(cloud.points, normals, sample, grid=grid), args)


def run_before_after(args) -> int:
    from viz.heatmap import before_after_figure

    _prepare(args)
    views = _views(args)
    _, cloud, source, synth, normals, grid = _cloud_and_synth(args)
    sample = _synthesize(synth, cloud, normals, grid, args, source)
    return _finish(before_after_figure(cloud.points, normals, sample, views, zoom=args.zoom),
                   args)


def run_heatmap(args) -> int:
    from viz.heatmap import score_figure

    _prepare(args)
    views = _views(args)
    if not (args.detector or args.scores):
        raise InputError("heatmap needs --detector FILE.npz or --scores FILE.npy")
    name, cloud, source = load_cloud(args)
    if args.scores:
        scores = load_scores(args.scores, len(cloud.points))
        what = f"scores from {args.scores}"
    else:
        detector = load_detector(args.detector)
        scores = detector.predict(cloud).point_scores
        what = f"{detector.name} detector ({args.detector})"
    fig = score_figure(cloud.points, scores, views, labels=cloud.labels, normals=cloud.normals,
                       zoom=args.zoom, title=f"{name}: {what}")
    return _finish(fig, args)


def run_bars(args) -> int:
    from viz.curves import BAR_METRICS, bars_figure, load_results

    _prepare(args)
    results = load_results(args.results)
    return _finish(bars_figure(results, args.metric or BAR_METRICS), args)


def run_curves(args) -> int:
    from viz.curves import category_curves, curves_figure, load_results, rescore

    _prepare(args)
    results = load_results(args.results)
    if args.pro_thresholds is not None:
        check_number(args.pro_thresholds, "--pro-thresholds", low=2, integer=True)
    scored = rescore(results, categories=args.category, data=args.data,
                     progress=not args.quiet, results_path=args.results)
    rows = {r["category"]: r for r in results["categories"]}
    curves = [category_curves(cat, samples, preds, num_thresholds=args.pro_thresholds,
                              json_row=rows[cat])
              for cat, (samples, preds) in scored.items()]
    for c in curves:
        if abs(c.p_auroc - c.json_p_auroc) > 1e-6:
            print(f"note: {c.category}: recomputed P-AUROC {c.p_auroc:.4f} differs from the "
                  f"JSON's {c.json_p_auroc:.4f} (changed data or a nondeterministic detector)")
    return _finish(curves_figure(results, curves), args)


def run_report(args) -> int:
    from viz.report import build_report, check_report_dir

    check_number(args.extremes, "--extremes", low=1, integer=True)
    check_report_dir(args.out, overwrite=args.overwrite)
    path = build_report(args.results, args.out, data=args.data, overwrite=args.overwrite,
                        extremes=args.extremes, progress=not args.quiet)
    print(f"wrote {path}")
    return 0
