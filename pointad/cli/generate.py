"""``pnas generate``: synthesize anomalies on clouds (or the built-in sample) and write them."""
from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from pointad.cli import EXIT_INPUT_ERROR, EXIT_SOME_FAILED
from pointad.cli._interrupt import Interrupted, graceful_interrupts
from pointad.cli._progress import cloud_progress
from pointad.errors import InputError
from pointad.geometry.normals import ORIENTATIONS, estimate_normals
from pointad.geometry.projection import PROJECTIONS
from pointad.io import SUPPORTED_READ, SUPPORTED_WRITE, Cloud, read_cloud
from pointad.io.atomic import check_writable_dir
from pointad.io.jsonfile import to_plain
from pointad.parallel import (
    check_options,
    is_worker_failure,
    open_executor,
    run_tasks,
    worker_count,
)
from pointad.samples import SAMPLES, sample_cloud
from pointad.synthesis.defects import DEFECTS, FRACTION_RANGE, DefectMix, available
from pointad.synthesis.defects.base import MAX_FRACTION, get_kind
from pointad.synthesis.output import (
    finished_sample,
    kind_slug,
    mix_record,
    sample_paths,
    write_sample,
)
from pointad.synthesis.pnas import LOOKUPS, MODES, PNAS, SIGNS, TRANSFERS, UNITS
from pointad.validation import as_normals, check_number, check_seed, parse_bool

PNAS_FRACTION = 0.03  # --fraction of the 3D-PNAS synthesizer when none is given
# The options only the 3D-PNAS synthesizer reads (refused with a --defect mix).
PNAS_ONLY = ("mode", "scale", "octaves", "persistence", "lacunarity", "strength", "projection",
             "units", "sign", "falloff", "resolution", "lookup", "transfer", "threshold")

HELP = """Synthesize anomalies on point clouds: Perlin-noise defects (3D-PNAS, the default) or the
defect kinds of pointad.synthesis.defects (--defect).

Each INPUT (file or directory of clouds; none = the built-in sample) gets --count samples; sample
j uses seed --seed + j. Every sample is written as OUT/<name>_pnas_<seed>.<format> with per-point
fields label (0/1), soft_label and displacement (signed, length units), plus a JSON sidecar with
every parameter and the seed. Existing files are never overwritten without --overwrite.
A cloud and its sidecar land together (the sidecar last) or not at all. A directory INPUT
gives its clouds, less hidden files and the outputs of pnas generate.

Long runs: an input or a sample that fails (bad file, impossible defect) is reported at the
end, one line each (file and reason), while the others are written. Ctrl-C (or SIGTERM)
stops after the current sample (twice: at once); nothing half-written is left, and
--resume (--skip-existing) continues: finished samples are skipped, the others come out
byte-identical to an uninterrupted run (each sample has its own seed).

Parallel: --workers N makes the samples in N local worker processes, --scheduler ADDRESS on a
running Dask cluster (whose workers see the same paths); the files are the same bytes as a
serial run's. Ctrl-C starts no new task and waits for the running ones.

Exit status: 0 all written; 1 some inputs or samples failed, the others were written;
2 bad arguments, or nothing could be made; 130 (SIGINT) or 143 (SIGTERM) interrupted.

Units (--units relative, the default): --strength is a fraction of the object diameter (diameter
of the centroid-centred bounding sphere), --scale is noise cycles across the object (--mode paper)
or across the defect (--mode local). --units absolute: strength in the cloud's length unit, scale
in cycles per length unit.

Defect kinds (--list-defects lists them): --defect KIND[:WEIGHT], repeatable, draws each sample's
kind by weight (default 1), e.g. --defect ridge:2 --defect hole; --defects-per-sample N or LO-HI
puts several defects on one sample, one after the other. --height H or LO,HI (peak in point
spacings) and --fraction apply to every kind (default: each kind's own, drawn from the seed);
--defect-param KEY=VALUE (repeatable) gives a kind's own keyword, which every kind of the mix must
take. Such a sample is written as OUT/<name>_<kind>_<seed>.<format> (several kinds joined by '-')
with per-point fields label (0/1), displacement (the offset along the normal, signed) and offset
(its length); points a hole removed are absent. The sidecar holds the kinds, every drawn
parameter, the seed and the mix. --defect pnas alone (one per sample, no --height or
--defect-param) is the 3D-PNAS synthesizer above with all its options; otherwise the 3D-PNAS
options (--mode, --scale, --strength...) are refused."""

def add_parser(verbs) -> None:
    p = verbs.add_parser("generate", help="synthesize anomalies and write them", description=HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help=f"cloud files or directories ({' '.join(SUPPORTED_READ)}); "
                        "none = built-in sample")
    p.add_argument("--out", "-o", default="pnas_out",
                   help="output directory (default: %(default)s)")
    p.add_argument("--sample", default="flange", choices=SAMPLES,
                   help="built-in sample used when no INPUT is given (default: %(default)s)")
    add_synthesis_arguments(p)
    add_defect_arguments(p, mix=True)
    p.add_argument("--count", "-n", type=int, default=1,
                   help="samples per input (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default: %(default)s)")
    p.add_argument("--format", default="ply", choices=[e.lstrip(".") for e in SUPPORTED_WRITE],
                   help="output format (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--skip-existing", "--resume", dest="skip_existing", action="store_true",
                   help="continue a run: skip the samples whose cloud and sidecar are both in "
                        "--out (made with the same options), make the others")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.add_argument("--progress", action="store_true",
                   help="show the progress bar inside a cloud of over 1M points (estimating "
                        "its normals) even when stderr is not a terminal")
    add_parallel_arguments(p, what="samples")
    p.set_defaults(run=run)


def add_parallel_arguments(p, *, what: str) -> None:
    """--workers N and --scheduler ADDRESS (see :mod:`pointad.parallel`)."""
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help=f"make the {what} in N local worker processes (Dask LocalCluster, one "
                        "thread each); the files are the same bytes as a serial run's")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help=f"make the {what} on a running Dask cluster (e.g. tcp://host:8786, "
                        "from `dask scheduler`); its workers must see the same file paths")


def add_synthesis_arguments(p) -> None:
    """The PNAS options (mode, noise, strength, projection, normals...), shared with the verbs
    that synthesize (``pnas view``, ``pnas plot``); :func:`synth_from_args` reads them back."""
    p.add_argument("--mode", default="local", choices=MODES,
                   help="local: one localized defect; paper: the paper's whole-part field "
                        "(default: %(default)s)")
    p.add_argument("--scale", type=float, default=2.0,
                   help="noise frequency s, see Units (default: %(default)s)")
    p.add_argument("--octaves", type=int, default=4, help="fBm octaves o (default: %(default)s)")
    p.add_argument("--persistence", type=float, default=0.5,
                   help="fBm amplitude ratio p per octave (default: %(default)s)")
    p.add_argument("--lacunarity", type=float, default=2.0,
                   help="fBm frequency ratio l per octave (default: %(default)s)")
    p.add_argument("--strength", type=float, default=0.02,
                   help="peak displacement along the normal, see Units (default: %(default)s)")
    p.add_argument("--projection", default="auto", choices=("auto",) + PROJECTIONS,
                   help="2D parameterization; auto = pca (paper) / tangent (local) "
                        "(default: %(default)s)")
    p.add_argument("--units", default="relative", choices=UNITS, help="(default: %(default)s)")
    p.add_argument("--fraction", type=float, default=None,
                   help=f"target fraction of anomalous points: 3D-PNAS local mode (default: "
                        f"{PNAS_FRACTION}) and every --defect kind (default: drawn in "
                        f"{FRACTION_RANGE[0]}-{FRACTION_RANGE[1]} per defect)")
    p.add_argument("--sign", default="mixed", choices=SIGNS,
                   help="bump, dent, or mixed (drawn per sample) (default: %(default)s)")
    p.add_argument("--falloff", type=float, default=0.5,
                   help="local mode: part of the defect radius that fades out "
                        "(default: %(default)s)")
    p.add_argument("--resolution", type=int, default=256,
                   help="paper mode: noise grid resolution r (default: %(default)s)")
    p.add_argument("--lookup", default="bilinear", choices=LOOKUPS,
                   help="paper mode: grid lookup (default: %(default)s)")
    p.add_argument("--transfer", default="identity", choices=TRANSFERS,
                   help="paper mode: f(noise) (default: %(default)s)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="paper mode: level of --transfer threshold (default: %(default)s)")
    p.add_argument("--normal-k", type=int, default=30,
                   help="neighbours for normal estimation when a cloud has none "
                        "(default: %(default)s)")
    p.add_argument("--normal-radius", type=float, default=None,
                   help="optional neighbourhood radius for normal estimation, in the cloud's "
                        "length unit (at most --normal-k neighbours inside it)")
    p.add_argument("--orient", default="auto", choices=ORIENTATIONS,
                   help="orientation of estimated normals (default: %(default)s)")


def synth_from_args(args) -> PNAS:
    """The :class:`PNAS` the options of :func:`add_synthesis_arguments` describe."""
    return PNAS(mode=args.mode, scale=args.scale, octaves=args.octaves,
                persistence=args.persistence, lacunarity=args.lacunarity, strength=args.strength,
                projection=args.projection, units=args.units,
                fraction=PNAS_FRACTION if args.fraction is None else args.fraction,
                sign=args.sign, falloff=args.falloff, resolution=args.resolution,
                lookup=args.lookup, transfer=args.transfer, threshold=args.threshold,
                normal_k=args.normal_k, normal_radius=args.normal_radius, orient=args.orient)


def add_defect_arguments(p, *, mix: bool) -> None:
    """The defect-kind options: --defect, --height, --defect-param and, with ``mix`` (``pnas
    generate``), weights, --defects-per-sample and --list-defects; read back by
    :func:`defect_mix_from_args` (``pnas view``: :func:`defect_common`)."""
    if mix:
        p.add_argument("--defect", action="append", default=None, metavar="KIND[:WEIGHT]",
                       help="a defect kind of pointad.synthesis.defects, with an optional "
                            "weight (default 1); repeat for a mix drawn per sample")
        p.add_argument("--defects-per-sample", default="1", metavar="N|LO-HI",
                       help="defects on one sample, or a range drawn per sample "
                            "(default: %(default)s)")
        p.add_argument("--list-defects", action="store_true",
                       help="list the defect kinds and exit")
    else:
        p.add_argument("--defect", default=None, metavar="KIND",
                       help="start on this defect kind of pointad.synthesis.defects instead of "
                            "3D-PNAS (the d key cycles through the kinds)")
    p.add_argument("--height", default=None, metavar="H|LO,HI",
                   help="--defect kinds: peak displacement in point spacings, or a range drawn "
                        "per defect (default: each kind's own)")
    p.add_argument("--defect-param", action="append", default=None, metavar="KEY=VALUE",
                   help="--defect kinds: a keyword of the kind (a number, LO,HI or a word), "
                        "such as aspect=4 for ridge; repeatable")


def defect_summaries() -> list[tuple[str, str]]:
    """``(kind, first paragraph of its docstring on one line)`` for every kind."""
    out = []
    for name in available():
        doc = inspect.getdoc(get_kind(name)) or ""
        first = " ".join(doc.split("\n\n")[0].split()).replace("``", "")
        out.append((name, first))
    return out


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{what} must be a number, got {text!r}") from None


def parse_defect_spec(text: str) -> tuple[str, float]:
    """``"KIND"`` or ``"KIND:WEIGHT"`` -> (kind, weight); the kind must be registered and the
    weight a number >= 0."""
    name, sep, weight_text = str(text).partition(":")
    name = name.strip()
    if name not in DEFECTS:
        raise DEFECTS.unknown(name)
    if not sep:
        return name, 1.0
    weight = _number(weight_text, f"--defect {text}: the weight")
    if not weight >= 0 or weight == float("inf"):
        raise InputError(f"--defect {text}: the weight must be a finite number >= 0")
    return name, weight


def parse_count(text: str) -> int | tuple[int, int]:
    """``"N"`` or ``"LO-HI"`` -> N or (LO, HI), each an integer >= 1, LO <= HI (LO == HI: N)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", str(text))
    if not match:
        raise InputError(f"--defects-per-sample must be N or LO-HI (integers >= 1), got {text!r}")
    lo = int(match.group(1))
    hi = lo if match.group(2) is None else int(match.group(2))
    if lo < 1 or hi < lo:
        raise InputError(f"--defects-per-sample must be N or LO-HI with 1 <= LO <= HI, "
                         f"got {text!r}")
    return lo if lo == hi else (lo, hi)


def parse_height(text: str | None) -> float | tuple[float, float] | None:
    """``"H"`` or ``"LO,HI"`` (point spacings) -> H or (LO, HI); checked by the kinds' rule."""
    if text is None:
        return None
    parts = str(text).split(",")
    if len(parts) > 2:
        raise InputError(f"--height must be H or LO,HI in point spacings, got {text!r}")
    values = [_number(v, "--height") for v in parts]
    height = values[0] if len(values) == 1 else (values[0], values[1])
    from pointad.synthesis.defects.base import check_height

    try:
        return check_height(height)
    except InputError as exc:
        raise InputError(f"--height: {exc}") from None


def _param_value(text: str) -> Any:
    """A --defect-param value: an integer, a number, ``LO,HI`` (a pair of numbers), true/false,
    none, or the word itself."""
    text = text.strip()
    low = text.lower()
    if low in ("true", "false"):
        return parse_bool(low, "--defect-param value")
    if low == "none":
        return None
    if "," in text:
        parts = text.split(",")
        if len(parts) != 2:
            raise InputError(f"--defect-param value {text!r}: a range is LO,HI")
        return (_number(parts[0], "--defect-param LO"), _number(parts[1], "--defect-param HI"))
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _keywords(kind: str) -> list[str]:
    """The keyword parameters a kind takes."""
    return [p.name for p in inspect.signature(get_kind(kind)).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY]


def parse_defect_params(items: list[str] | None, kinds: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` items -> {key: value}; every kind of ``kinds`` must take each key (the
    error names the kinds that do not)."""
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise InputError(f"--defect-param must be KEY=VALUE, got {item!r}")
        if key in ("fraction", "height"):
            raise InputError(f"--defect-param {key}: use --{key}")
        if key in params:
            raise InputError(f"--defect-param {key} given twice")
        takers = [k for k in available() if key in _keywords(k)]
        refusing = [k for k in kinds if k not in takers]
        if refusing:
            raise InputError(
                f"--defect-param {key}: not taken by the kind{'s' * (len(refusing) > 1)} "
                f"{', '.join(refusing)}"
                + (f" (taken by {', '.join(takers)})" if takers else " (taken by no kind)"))
        if not takers:
            raise InputError(f"--defect-param {key}: taken by no kind")
        params[key] = _param_value(value)
    return params


def defect_common(args, kinds: list[str], *, fraction: bool = True) -> dict[str, Any]:
    """The keywords given to every kind: --fraction (when given and ``fraction``), --height,
    --defect-param (checked against ``kinds``)."""
    common: dict[str, Any] = {}
    if fraction and args.fraction is not None:
        common["fraction"] = check_number(args.fraction, "--fraction", low=0, high=MAX_FRACTION,
                                          low_open=True)
    height = parse_height(args.height)
    if height is not None:
        common["height"] = height
    common.update(parse_defect_params(args.defect_param, kinds))
    return common


def _synthesis_defaults() -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    add_synthesis_arguments(parser)
    return vars(parser.parse_args([]))


def defect_mix_from_args(args) -> DefectMix | None:
    """The :class:`DefectMix` of --defect, --defects-per-sample, --height, --fraction and
    --defect-param; None for the 3D-PNAS synthesizer (no --defect, or ``--defect pnas`` alone:
    one per sample, no --height or --defect-param). A mix refuses the 3D-PNAS options."""
    if not args.defect:
        if args.height is not None or args.defect_param or args.defects_per_sample != "1":
            raise InputError("--height, --defect-param and --defects-per-sample need --defect")
        return None
    weights: dict[str, float] = {}
    for spec in args.defect:
        name, weight = parse_defect_spec(spec)
        if name in weights:
            raise InputError(f"--defect {name} given twice")
        weights[name] = weight
    kinds = [k for k, w in weights.items() if w > 0]
    if not kinds:
        raise InputError("--defect needs a kind of positive weight")
    count = parse_count(args.defects_per_sample)
    if list(weights) == ["pnas"] and count == 1 and args.height is None \
            and not args.defect_param:
        return None
    defaults = _synthesis_defaults()
    changed = [name for name in PNAS_ONLY if getattr(args, name) != defaults[name]]
    if changed:
        option = "--" + changed[0].replace("_", "-")
        raise InputError(f"{option} sets the 3D-PNAS synthesizer (no --defect, or --defect pnas "
                         "alone); the kinds of --defect take --height, --fraction and "
                         "--defect-param")
    return DefectMix(weights, n_defects=count, **defect_common(args, kinds))


def cloud_normals(cloud: Cloud, args):
    """(N, 3) unit normals of ``cloud``: its own, or estimated with --normal-k, --orient and
    --normal-radius as the 3D-PNAS synthesizer does."""
    if cloud.normals is not None:
        return as_normals(cloud.normals, len(cloud.points))
    # A large cloud gets a bar of its own (see pointad.cli._progress; --progress, --quiet).
    with cloud_progress(len(cloud.points), "estimating normals",
                        quiet=getattr(args, "quiet", False),
                        requested=getattr(args, "progress", False)) as progress:
        return estimate_normals(cloud.points, k=args.normal_k, orient=args.orient,
                                organized=cloud.organized, radius=args.normal_radius,
                                progress=progress)


def is_output_name(name: str, stems) -> bool:
    """Whether a file ``name`` is ``<stem>_<kinds>_<seed>.<ext>``, what ``pnas generate`` writes
    for an input of one of ``stems`` (kinds: defect kinds joined by ``-``, ``pnas`` for 3D-PNAS)."""
    base = name.rpartition(".")[0]
    for stem in stems:
        if not base.startswith(stem + "_"):
            continue
        middle, _, seed = base[len(stem) + 1:].rpartition("_")
        if seed.isdigit() and middle and all(k in DEFECTS for k in middle.split("-")):
            return True
    return False


def collect_inputs(inputs, out: Path | None = None,
                   skipped: list[Path] | None = None) -> list[Path]:
    """Expand INPUT arguments into cloud files: a directory gives its supported files, sorted.

    A directory's hidden files (temporaries of a write in progress) and the outputs of ``pnas
    generate`` in it are left out, so a run never reads outputs back: a cloud a sidecar names
    and, in the ``out`` directory, ``<stem>_<kinds>_<seed>.<ext>`` beside an input ``<stem>.*``
    (an output whose sidecar never landed). The outputs left out go to ``skipped``."""
    files = []
    skipped = [] if skipped is None else skipped
    out_dir = out.resolve() if out is not None and out.is_dir() else None
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(f for f in path.iterdir() if f.is_file() and not f.name.startswith(".")
                           and f.suffix.lower() in SUPPORTED_READ)
            stems = {f.stem for f in found} if path.resolve() == out_dir else set()
            outputs = [f for f in found if finished_sample(f, f.with_suffix(".json")) is not None
                       or is_output_name(f.name, stems - {f.stem})]
            skipped.extend(outputs)
            found = [f for f in found if f not in outputs]
            if not found:
                raise InputError(f"{path}: directory holds no clouds ({' '.join(SUPPORTED_READ)})"
                                 + (f"; {len(outputs)} outputs of pnas generate left out"
                                    if outputs else ""))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise InputError(f"{path}: file not found")
    return files


def _load(path: Path | None, args) -> tuple[str, Cloud]:
    if path is None:
        return args.sample, sample_cloud(args.sample)
    return path.stem, read_cloud(path)


def possible_outputs(out: Path, stems: list[str], seeds: list[int], fmt: str,
                     mix: DefectMix) -> list[Path]:
    """Files in ``out`` that a run of ``mix`` could write: ``<stem>_<kinds>_<seed>.<fmt|json>``
    with one of ``stems`` and ``seeds`` and kinds of the mix, as many as it puts on a sample
    (the kinds are drawn while generating, so the names are known only then)."""
    if not out.is_dir():
        return []
    count = mix.n_defects
    lo, hi = (count, count) if isinstance(count, int) else count
    kinds, wanted = set(mix.kinds), set(seeds)
    found = []
    for path in sorted(out.iterdir()):
        for stem in stems:
            rest = path.name[len(stem) + 1:] if path.name.startswith(stem + "_") else ""
            base, _, ext = rest.rpartition(".")
            middle, _, seed = base.rpartition("_")
            parts = middle.split("-")
            if ext in (fmt, "json") and seed.isdigit() and int(seed) in wanted \
                    and lo <= len(parts) <= hi and all(k in kinds for k in parts):
                found.append(path)
                break
    return found


def check_defect(sample, points, args, where: str) -> None:
    """Refuse a 3D-PNAS sample that labels no point or moves none (parameters so extreme that a
    "defective" cloud would have no defect), naming the option to change."""
    labelled = bool(sample.labels.any())
    if labelled and not np.array_equal(sample.points, points):
        return
    if args.strength == 0:
        hint = "--strength is 0"
    elif args.mode == "paper" and args.transfer == "threshold" and not labelled:
        hint = "lower --threshold or raise --strength"
    else:
        hint = "raise --strength" + (" or --fraction" if args.mode == "local" else "")
    what = "moves no point" if labelled else "labels no point anomalous"
    raise InputError(f"{where}: the defect {what}; {hint}")


def run(args, executor=None) -> int:
    """``pnas generate``; ``executor`` (``concurrent.futures``-style, see
    :mod:`pointad.parallel`) makes the samples there instead of --workers / --scheduler."""
    from tqdm import tqdm  # here, not at the top: `pnas --help` imports this module

    if args.list_defects:
        for name, summary in defect_summaries():
            print(f"{name:<14} {summary}")
        return 0
    mix = defect_mix_from_args(args)
    synth = synth_from_args(args) if mix is None else None
    workers, scheduler = getattr(args, "workers", None), getattr(args, "scheduler", None)
    check_options(workers, scheduler)
    if args.count < 1:
        raise InputError(f"--count must be >= 1, got {args.count}")
    check_seed(args.seed, "--seed")
    check_seed(args.seed + args.count - 1, f"the last seed (--seed + --count - 1 = "
               f"{args.seed} + {args.count} - 1)")
    if args.overwrite and args.skip_existing:
        raise InputError("--overwrite replaces finished samples, --skip-existing (--resume) "
                         "keeps them: give one")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    left_out: list[Path] = []
    files: list[Path | None] = list(collect_inputs(args.inputs, out, left_out)) or [None]
    seeds = [args.seed + j for j in range(args.count)]

    # Name every output first, so a name clash stops the run before anything is written.
    stems = [args.sample if f is None else f.stem for f in files]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})[0]
        raise InputError(f"two inputs share the name {dup!r}; outputs would collide")
    # A mix draws the kind (part of the name) while generating: every name it could use.
    targets = {(stem, seed): sample_paths(out, stem, seed, args.format)
               for stem in stems for seed in seeds} if mix is None else {}
    # An input is never written over, not even with --overwrite: the inputs in --out must not
    # bear an output's name.
    in_out = [f for f in files if f is not None and f.parent.resolve() == out.resolve()]
    over = [f for f in in_out if is_output_name(f.name, set(stems) - {f.stem})]
    if over:
        raise InputError(f"{over[0]}: is an input and an output name of this run; "
                         "choose another --out")
    done = finished_outputs(out, stems, seeds, args.format, mix, targets)
    if args.skip_existing:
        check_finished(out, done, synth, mix)
    elif not args.overwrite:
        if mix is None:
            clash = [p for pair in targets.values() for p in pair if p.exists()]
        else:
            clash = possible_outputs(out, stems, seeds, args.format, mix)
        if clash:
            raise InputError(f"{clash[0]} exists ({len(clash)} output files exist); use "
                             "--resume to continue that run, --overwrite or another --out")
    created = not out.exists()
    check_writable_dir(out)

    failures: dict[tuple[str, str], list[int]] = {}  # (input, reason) -> seeds (-1: all)
    tried: dict[str, int] = {}  # input -> samples tried
    n_written = n_failed = 0
    bar = tqdm(total=len(files) * len(seeds), unit="sample", disable=args.quiet or None,
               desc="pnas generate")
    if left_out and not args.quiet:
        bar.write(f"left out {len(left_out)} outputs of pnas generate found among the inputs")
    if args.skip_existing and done and not args.quiet:
        bar.write(f"--resume: {len(done)} finished samples in {out} are kept")

    def record(outcome: tuple, n_samples: int | None = None) -> None:
        """Count and report one outcome of :func:`generate_input` (``n_samples``: how many
        samples an input's failure stands for; default all it tried)."""
        nonlocal n_written, n_failed
        status, source, seed, text = outcome
        if status == "failed":  # seed -1: the input itself (every sample tried) failed
            failures.setdefault((source, text), []).append(seed)
            n = (tried[source] if n_samples is None else n_samples) if seed == -1 else 1
            n_failed += n
            bar.update(n)
            return
        n_written += 1
        bar.update(1)
        if not args.quiet:
            bar.write(text)

    jobs: list[tuple] = []  # (path, stem, source, seeds to make)
    for path, stem in zip(files, stems):
        todo = [s for s in seeds if (stem, s) not in done] if args.skip_existing else seeds
        bar.update(len(seeds) - len(todo))
        if todo:
            source = "built-in sample " + args.sample if path is None else str(path)
            tried[source] = len(todo)
            jobs.append((path, stem, source, todo))
    try:
        with graceful_interrupts("sample") as stop:
            if executor is None and workers is None and scheduler is None:
                for path, stem, source, todo in jobs:
                    stop.check()
                    for outcome in generate_input(path, stem, source, todo, args, synth, mix,
                                                  out, targets, check=stop.check):
                        record(outcome)
            else:
                with contextlib.ExitStack() as stack:
                    if executor is None:
                        executor = stack.enter_context(open_executor(workers, scheduler))
                    _run_parallel(executor, jobs, args, synth, mix, out, targets, stop, record)
            stop.check()  # a signal during the last sample: the exit status still says so
    except Interrupted as exc:
        bar.close()
        _report(failures, tried)
        exc.detail = (f"{n_written} new samples written; --resume continues the run"
                      if n_written else "")
        raise
    finally:
        bar.close()
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # nothing made: leave no trace
    if not failures:
        return 0
    _report(failures, tried)
    if n_written or (args.skip_existing and done):  # the run made (or kept) some samples
        print(f"pnas: {n_failed} of {len(files) * len(seeds)} samples failed; the others "
              "were written", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_INPUT_ERROR  # nothing could be made: as for a bad argument


# What one input or sample may fail with (a bad file, an impossible defect): reported at the
# end while the others go on. Anything else is a bug and stops the run.
ITEM_ERRORS = (InputError, ValueError, OSError)

#: Most samples of one input in one task of a parallel run: a Ctrl-C waits for the tasks
#: running (each worker estimates the input's normals again for each of its tasks).
MAX_CHUNK = 32


def generate_input(path: Path | None, stem: str, source: str, seeds: list[int], args,
                   synth: PNAS | None, mix: DefectMix | None, out: Path,
                   targets: dict[tuple[str, int], tuple[Path, Path]], check=None):
    """Make the samples ``seeds`` of one input (``path``; None: the built-in sample) and write
    them; yields one outcome per sample, ``("written", source, seed, message)`` or
    ``("failed", source, seed, reason)``, or a single ``("failed", source, -1, reason)`` when
    the input cannot be read (or its normals estimated). ``check()`` runs before each sample."""
    try:
        _, cloud = _load(path, args)
        # Once per input: its --count samples all use the same normals.
        normals = cloud_normals(cloud, args)
    except ITEM_ERRORS as exc:
        yield ("failed", source, -1, _reason(exc, source))
        return
    grid = None
    if cloud.grid_shape is not None and cloud.grid_index is not None:  # organized
        grid = (cloud.grid_shape, cloud.grid_index)
    for seed in seeds:
        if check is not None:
            check()
        try:
            if mix is None:
                assert synth is not None
                sample = synth(cloud.points, normals, seed=seed, grid=grid)
                check_defect(sample, cloud.points, args, f"{source}, seed {seed}")
                cloud_path, json_path = targets[(stem, seed)]
                # --resume rewrites a cloud whose sidecar never landed.
                write_sample(cloud, sample, cloud_path, json_path, source=source,
                             overwrite=args.overwrite or args.skip_existing)
                n_points, n_anomalous = len(sample.points), int(sample.labels.sum())
                fraction, kind = sample.anomalous_fraction, ""
            else:
                result = mix(cloud.points, normals, seed=seed)
                cloud_path, json_path = sample_paths(out, stem, seed, args.format, result.kind)
                write_sample(cloud, result, cloud_path, json_path, source=source,
                             overwrite=args.overwrite or args.skip_existing, normals=normals,
                             mix=mix)
                _, labels, _ = result.visible()
                n_points, n_anomalous = len(labels), int(labels.sum())
                fraction, kind = result.anomalous_fraction, f"{kind_slug(result.kind)}: "
        except ITEM_ERRORS as exc:
            yield ("failed", source, seed, _reason(exc, source))
            continue
        yield ("written", source, seed,
               f"wrote {cloud_path} ({kind}{n_points} points, {n_anomalous} anomalous = "
               f"{100 * fraction:.1f}%) and {json_path.name}")


def generate_chunk(*job) -> list[tuple]:
    """:func:`generate_input` as a list: the task a worker runs."""
    return list(generate_input(*job))


def _run_parallel(executor, jobs: list[tuple], args, synth, mix, out: Path,
                  targets: dict, stop, record) -> None:
    """Run ``jobs`` on ``executor`` in tasks of one input's seeds (about two tasks per worker,
    at most :data:`MAX_CHUNK` samples each; at most two tasks per worker submitted at a time)
    and ``record`` the outcomes as the tasks finish. A task that raised, or whose worker died,
    counts as a failure of each of its samples. After Ctrl-C no task is started and the
    running ones finish (:func:`pointad.parallel.run_tasks`)."""
    quiet = argparse.Namespace(**{**vars(args), "quiet": True, "progress": False, "run": None})
    slots = worker_count(executor)
    per_input = max(1, math.ceil(2 * slots / max(1, len(jobs))))

    def tasks():
        for path, stem, source, todo in jobs:
            n = min(len(todo), max(per_input, math.ceil(len(todo) / MAX_CHUNK)))
            size = math.ceil(len(todo) / n)
            for i in range(0, len(todo), size):
                chunk = todo[i:i + size]
                mine = {(stem, s): targets[(stem, s)] for s in chunk if (stem, s) in targets}
                yield ((source, chunk), generate_chunk,
                       (path, stem, source, chunk, quiet, synth, mix, out, mine))

    for (source, chunk), future in run_tasks(executor, tasks(), window=2 * slots,
                                             check=stop.check):
        exc = future.exception()
        if exc is None:
            for outcome in future.result():
                record(outcome, len(chunk))  # an input that fails: the samples of this task
            continue
        if not isinstance(exc, ITEM_ERRORS) and not is_worker_failure(exc):
            raise exc  # a bug, as in a serial run
        reason = _reason(exc, source)
        if is_worker_failure(exc):
            reason = f"worker failed ({reason})"
        for seed in chunk:
            record(("failed", source, seed, reason))


def _reason(exc: BaseException, source: str) -> str:
    """The one-line message of ``exc`` without a leading ``"<source>: "``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[len(source) + 2:] if text.startswith(f"{source}: ") else text


def _report(failures: dict[tuple[str, str], list[int]], tried: dict[str, int]) -> None:
    """One line on stderr per input and reason: ``pnas: error: INPUT: REASON`` (the input, or
    every sample of it that was tried, failed so) or ``pnas: error: INPUT, seed 3: REASON``
    (``seeds 1-4, 7``: those samples). A reason that names its input is printed as it is."""
    for (source, reason), seeds in failures.items():
        if reason.startswith(source):
            print(f"pnas: error: {reason}", file=sys.stderr)
            continue
        which = "" if -1 in seeds or len(seeds) == tried.get(source) \
            else f", seed {seeds[0]}" if len(seeds) == 1 else f", seeds {_seed_list(seeds)}"
        print(f"pnas: error: {source}{which}: {reason}", file=sys.stderr)


def _seed_list(seeds: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    runs: list[list[int]] = []
    for s in sorted(seeds):
        if runs and s == runs[-1][-1] + 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def finished_outputs(out: Path, stems: list[str], seeds: list[int], fmt: str,
                     mix: DefectMix | None,
                     targets: dict[tuple[str, int], tuple[Path, Path]]) -> dict[tuple[str, int],
                                                                                dict]:
    """The samples of this run that are finished in ``out`` (a cloud and the sidecar naming
    it): ``(stem, seed) -> sidecar``. A cloud without its sidecar is not finished."""
    done = {}
    if mix is None:
        for key, (cloud_path, json_path) in targets.items():
            meta = finished_sample(cloud_path, json_path)
            if meta is not None:
                done[key] = meta
        return done
    for json_path in possible_outputs(out, stems, seeds, fmt, mix):
        if json_path.suffix != ".json":
            continue
        meta = finished_sample(json_path.with_suffix(f".{fmt}"), json_path)
        # The longest stem that names it: "a_b" before "a" for a_b_ridge_0.json.
        stem = max((s for s in stems if is_output_name(json_path.name, [s])), key=len)
        if meta is not None and isinstance(meta.get("seed"), int):
            done[(stem, meta["seed"])] = meta
    return done


def check_finished(out: Path, done: dict[tuple[str, int], dict], synth: PNAS | None,
                   mix: DefectMix | None) -> None:
    """Refuse to continue a run whose finished samples were made with other parameters (the
    sidecar's 3D-PNAS ``config``, or its defect ``mix``)."""
    def plain(value):
        return json.loads(json.dumps(to_plain(value)))

    key, wanted = ("mix", plain(mix_record(mix))) if mix is not None else \
        ("config", plain(synth.get_params() if synth is not None else {}))
    for meta in done.values():
        if meta.get(key) != wanted:
            changed = sorted(k for k in set(wanted) | set(meta.get(key) or {})
                             if (meta.get(key) or {}).get(k) != wanted.get(k))
            raise InputError(f"{out / str(meta.get('output'))}: made with other parameters "
                             f"({', '.join(changed) or key}); --resume continues a run with "
                             "the same options (or use --overwrite or another --out)")
