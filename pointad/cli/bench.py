"""``pnas bench make``: build the synthetic benchmark (procedural parts, no downloads), in the
standard preset or the realistic one (``--preset realistic``, Real3D-AD-like scans)."""
from __future__ import annotations

import argparse

from pointad.cli._interrupt import Interrupted, graceful_interrupts
from pointad.cli.generate import add_parallel_arguments
from pointad.errors import InputError
from pointad.parallel import check_options, open_executor
from pointad.validation import check_seed

HELP = """Build the project's synthetic 3D anomaly-detection benchmark.

Procedural industrial parts (flange, hex_bolt, gear, bracket, pipe_elbow, bottle, plate_holes,
blade) are scanned by two virtual sensors and written in the layouts of the real datasets:

  OUT/real3d/   Real3D-AD: 360-degree scans (.pcd, millimetres), gt/NNN_<defect>.txt x y z label
  OUT/mvtec3d/  MVTec 3D-AD: single-view xyz TIFFs (metres) with gt PNG masks

Test defects: bulge, dent, crack, scratch, hole, chipped_edge, bend and pnas (3D-PNAS Perlin).
OUT/benchmark.json lists every sample (defect, anomalous fraction, pose); OUT/README.txt states
units and layout. The same --seed gives byte-identical files. Nothing is downloaded.

Presets (--preset):
  standard   the above: complete, uniformly dense test scans in a uniformly random rotation,
             defects of 1-7 % of the points sized relative to the part
  realistic  calibrated to look like Real3D-AD, not easier; OUT/real3d/ only. Parts: stool,
             heatsink, wing, mug, fork (thin and branching) and flange, gear, hex_bolt
             (--categories may also name bowl, ribbed_panel and the standard families).
             Training: complete 360-degree templates. Test scans: own density (x0.6-1.4 and a
             smooth spatial modulation), 85 % partial views (seen from 1-3 directions;
             --partial 0: all complete, 360 degrees, as a turntable scanner gives), a pose
             within 25 degrees and 10 % of the part's size, noise 0.1-0.3 point spacings, a few
             outliers. Defects bulge, dent, hole, crack, scratch (no pnas: detectors trained on
             3D-PNAS defects are tested on kinds they never saw) on 0.5-5 % of the points,
             1-5 point spacings high or deep. small: 4000-point scans, 2 train, 4 good + 4
             defective test clouds per category; default: 24000 (test clouds 5k-33k points after
             the view cut, median about 12k), 4 train, 8 good + 12 defective."""


def add_parser(verbs) -> None:
    p = verbs.add_parser("bench", help="synthetic benchmark datasets", description=HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    make = actions.add_parser("make", help="build the benchmark into a directory",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    make.add_argument("--out", "-o", required=True, help="output directory (empty or absent)")
    make.add_argument("--preset", default="standard", choices=("standard", "realistic"),
                      help="standard, or realistic: Real3D-AD-like partial, noisy, posed test "
                           "scans of thin parts with small defects (default: %(default)s)")
    make.add_argument("--size", default="default", choices=("small", "default"),
                      help="small: a quick build for tests; default: for benchmarking "
                           "(default: %(default)s)")
    make.add_argument("--seed", type=int, default=0,
                      help="seed of everything (default: %(default)s)")
    make.add_argument("--categories", default=None,
                      help="comma-separated part families (default: the preset's: all eight "
                           "standard ones, or the realistic preset's eight)")
    make.add_argument("--kinds", default=None,
                      help="comma-separated layouts to write: real3d, mvtec3d (default: both; "
                           "real3d for the realistic preset, which writes no other)")
    make.add_argument("--partial", type=float, default=None, metavar="SHARE",
                      help="realistic preset: the share of test scans cut to a partial view, "
                           "0-1 (default: the preset's 0.85; 0: every test scan complete, "
                           "360 degrees, everything else alike)")
    make.add_argument("--overwrite", action="store_true",
                      help="build into a non-empty directory; an earlier build's files are "
                           "replaced")
    make.add_argument("--resume", action="store_true",
                      help="continue a build that Ctrl-C, SIGTERM or a crash stopped: finished "
                           "categories are kept, the others built again (same bytes as an "
                           "uninterrupted build; same --preset, --size, --seed, "
                           "--categories and --kinds)")
    make.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    add_parallel_arguments(make, what="categories (one task per category and layout)")
    make.set_defaults(run=run)


def _split(text: str | None, option: str) -> list[str] | None:
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise InputError(f"{option} is empty; give comma-separated names")
    return names


def run(args) -> int:
    from pointad.synthbench import make_benchmark  # heavy imports (open3d, torch) only when run

    check_seed(args.seed, "--seed")
    check_options(args.workers, args.scheduler)
    if args.resume and args.overwrite:
        raise InputError("--resume keeps the finished categories and --overwrite replaces the "
                         "build: give one of them")
    try:
        with graceful_interrupts("category") as stop, \
                open_executor(args.workers, args.scheduler) as executor:
            out = make_benchmark(args.out, size=args.size, seed=args.seed,
                                 categories=_split(args.categories, "--categories"),
                                 kinds=_split(args.kinds, "--kinds"), progress=not args.quiet,
                                 overwrite=args.overwrite, preset=args.preset,
                                 executor=executor, resume=args.resume, stop=stop.check,
                                 partial=args.partial)
    except Interrupted as exc:
        exc.detail = "the finished categories are kept; --resume continues the build"
        raise
    if not args.quiet:
        import json

        manifest = json.loads((out / "benchmark.json").read_text(encoding="utf-8"))
        counts: dict[str, int] = {}
        for sample in manifest["samples"]:
            counts[sample["layout"]] = counts.get(sample["layout"], 0) + 1
        layouts = ", ".join(f"{n} scans in {out / layout}" for layout, n in counts.items())
        print(f"wrote {len(manifest['categories'])} categories ({layouts}), "
              f"{len(manifest['files'])} files with {out / 'benchmark.json'} and README.txt")
    return 0
