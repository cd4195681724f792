"""``pnas generate``: synthesize anomalies on clouds (or the built-in sample) and write them."""
from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pointad.errors import InputError
from pointad.geometry.normals import ORIENTATIONS, estimate_normals
from pointad.geometry.projection import PROJECTIONS
from pointad.io import SUPPORTED_READ, SUPPORTED_WRITE, Cloud, read_cloud
from pointad.samples import SAMPLES, sample_cloud
from pointad.synthesis.defects import DEFECTS, FRACTION_RANGE, DefectMix, available
from pointad.synthesis.defects.base import MAX_FRACTION, get_kind
from pointad.synthesis.output import kind_slug, sample_paths, write_sample
from pointad.synthesis.pnas import LOOKUPS, MODES, PNAS, SIGNS, TRANSFERS, UNITS
from pointad.validation import as_normals, check_number

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
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.set_defaults(run=run)


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
        return low == "true"
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
    return estimate_normals(cloud.points, k=args.normal_k, orient=args.orient,
                            organized=cloud.organized, radius=args.normal_radius)


def collect_inputs(inputs) -> list[Path]:
    """Expand INPUT arguments into cloud files: a directory gives its supported files, sorted."""
    files = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(f for f in path.iterdir()
                           if f.is_file() and f.suffix.lower() in SUPPORTED_READ)
            if not found:
                raise InputError(f"{path}: directory holds no clouds ({' '.join(SUPPORTED_READ)})")
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


def run(args) -> int:
    if args.list_defects:
        for name, summary in defect_summaries():
            print(f"{name:<14} {summary}")
        return 0
    mix = defect_mix_from_args(args)
    synth = synth_from_args(args) if mix is None else None
    if args.count < 1:
        raise InputError(f"--count must be >= 1, got {args.count}")
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    files = collect_inputs(args.inputs) or [None]
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    seeds = [args.seed + j for j in range(args.count)]

    # Name every output first, so a name clash stops the run before anything is written.
    stems = [args.sample if f is None else f.stem for f in files]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})[0]
        raise InputError(f"two inputs share the name {dup!r}; outputs would collide")
    # A mix draws the kind (part of the name) while generating: every name it could use.
    targets = {(stem, seed): sample_paths(out, stem, seed, args.format)
               for stem in stems for seed in seeds} if mix is None else {}
    if not args.overwrite:
        if mix is None:
            clash = [p for pair in targets.values() for p in pair if p.exists()]
        else:
            clash = possible_outputs(out, stems, seeds, args.format, mix)
        if clash:
            raise InputError(f"{clash[0]} exists ({len(clash)} output files exist); "
                             "use --overwrite or another --out")

    bar = tqdm(total=len(files) * len(seeds), unit="sample", disable=args.quiet or None,
               desc="pnas generate")
    for path, stem in zip(files, stems):
        _, cloud = _load(path, args)
        grid = (cloud.grid_shape, cloud.grid_index) if cloud.organized else None
        source = "built-in sample " + args.sample if path is None else str(path)
        try:
            normals = None if mix is None else cloud_normals(cloud, args)
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from None
        for seed in seeds:
            if mix is None:
                assert synth is not None
                try:
                    sample = synth(cloud.points, cloud.normals, seed=seed, grid=grid)
                except InputError as exc:
                    raise InputError(f"{source}: {exc}") from None
                cloud_path, json_path = targets[(stem, seed)]
                write_sample(cloud, sample, cloud_path, json_path, source=source,
                             overwrite=args.overwrite)
                n_points, n_anomalous = len(sample.points), int(sample.labels.sum())
                fraction, kind = sample.anomalous_fraction, ""
            else:
                try:
                    result = mix(cloud.points, normals, seed=seed)
                except InputError as exc:
                    raise InputError(f"{source}: {exc}") from None
                cloud_path, json_path = sample_paths(out, stem, seed, args.format, result.kind)
                write_sample(cloud, result, cloud_path, json_path, source=source,
                             overwrite=args.overwrite, normals=normals, mix=mix)
                _, labels, _ = result.visible()
                n_points, n_anomalous = len(labels), int(labels.sum())
                fraction, kind = result.anomalous_fraction, f"{kind_slug(result.kind)}: "
            bar.update(1)
            if not args.quiet:
                bar.write(f"wrote {cloud_path} ({kind}{n_points} points, {n_anomalous} "
                          f"anomalous = {100 * fraction:.1f}%) and {json_path.name}")
    bar.close()
    return 0
