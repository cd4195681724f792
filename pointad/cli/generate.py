"""``pnas generate``: synthesize anomalies on clouds (or the built-in sample) and write them."""
from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from pointad.errors import InputError
from pointad.geometry.normals import ORIENTATIONS
from pointad.geometry.projection import PROJECTIONS
from pointad.io import SUPPORTED_READ, SUPPORTED_WRITE, Cloud, read_cloud
from pointad.samples import SAMPLES, sample_cloud
from pointad.synthesis.output import sample_paths, write_sample
from pointad.synthesis.pnas import LOOKUPS, MODES, PNAS, SIGNS, TRANSFERS, UNITS

HELP = """Synthesize Perlin-noise anomalies (3D-PNAS) on point clouds.

Each INPUT (file or directory of clouds; none = the built-in sample) gets --count samples; sample
j uses seed --seed + j. Every sample is written as OUT/<name>_pnas_<seed>.<format> with per-point
fields label (0/1), soft_label and displacement (signed, length units), plus a JSON sidecar with
every parameter and the seed. Existing files are never overwritten without --overwrite.

Units (--units relative, the default): --strength is a fraction of the object diameter (diameter
of the centroid-centred bounding sphere), --scale is noise cycles across the object (--mode paper)
or across the defect (--mode local). --units absolute: strength in the cloud's length unit, scale
in cycles per length unit."""


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
    p.add_argument("--fraction", type=float, default=0.03,
                   help="local mode: target fraction of anomalous points (default: %(default)s)")
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
                projection=args.projection, units=args.units, fraction=args.fraction,
                sign=args.sign, falloff=args.falloff, resolution=args.resolution,
                lookup=args.lookup, transfer=args.transfer, threshold=args.threshold,
                normal_k=args.normal_k, normal_radius=args.normal_radius, orient=args.orient)


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


def run(args) -> int:
    synth = synth_from_args(args)
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
    targets = {(stem, seed): sample_paths(out, stem, seed, args.format)
               for stem in stems for seed in seeds}
    if not args.overwrite:
        clash = [p for pair in targets.values() for p in pair if p.exists()]
        if clash:
            raise InputError(f"{clash[0]} exists ({len(clash)} output files exist); "
                             "use --overwrite or another --out")

    bar = tqdm(total=len(files) * len(seeds), unit="sample", disable=args.quiet or None,
               desc="pnas generate")
    for path, stem in zip(files, stems):
        _, cloud = _load(path, args)
        grid = (cloud.grid_shape, cloud.grid_index) if cloud.organized else None
        source = "built-in sample " + args.sample if path is None else str(path)
        for seed in seeds:
            try:
                sample = synth(cloud.points, cloud.normals, seed=seed, grid=grid)
            except InputError as exc:
                raise InputError(f"{source}: {exc}") from None
            cloud_path, json_path = targets[(stem, seed)]
            write_sample(cloud, sample, cloud_path, json_path, source=source,
                         overwrite=args.overwrite)
            bar.update(1)
            if not args.quiet:
                bar.write(f"wrote {cloud_path} ({len(sample.points)} points, "
                          f"{int(sample.labels.sum())} anomalous = "
                          f"{100 * sample.anomalous_fraction:.1f}%) and {json_path.name}")
    bar.close()
    return 0
