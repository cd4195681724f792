"""Input handling shared by ``pnas view`` and ``pnas plot``: one cloud (a file or a built-in
sample), per-point scores (a ``.npy`` file or a fitted detector), viewpoints."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pointad.errors import InputError
from pointad.io import SUPPORTED_READ, load_numpy, read_cloud
from pointad.samples import SAMPLES, sample_cloud
from pointad.validation import as_points


def add_cloud_arguments(p, *, required: bool = False) -> None:
    """INPUT (one cloud file; none = the built-in sample), --sample, --sample-points."""
    p.add_argument("input", nargs=None if required else "?", metavar="INPUT",
                   help=f"a cloud file ({' '.join(SUPPORTED_READ)})"
                        + ("" if required else "; none = built-in sample"))
    if not required:
        p.add_argument("--sample", default="flange", choices=SAMPLES,
                       help="built-in sample used when no INPUT is given (default: %(default)s)")
        p.add_argument("--sample-points", type=int, default=20000,
                       help="points of the built-in sample (default: %(default)s)")


def load_cloud(args):
    """``(name, cloud, source)`` of INPUT or the built-in sample."""
    if getattr(args, "input", None) is None:
        return args.sample, sample_cloud(args.sample, n_points=args.sample_points), \
            f"built-in sample {args.sample}"
    path = Path(args.input)
    if path.is_dir():
        raise InputError(f"{args.input}: is a directory; give one cloud file")
    if not path.exists():
        raise InputError(f"{args.input}: file not found")
    cloud = read_cloud(path)
    try:  # what is shown, synthesized on or scored must be finite
        as_points(cloud.points, min_points=4)
    except InputError as exc:
        raise InputError(f"{args.input}: {exc}") from None
    return path.stem, cloud, str(path)


def add_score_arguments(p) -> None:
    """--detector FILE.npz | --scores FILE.npy."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--detector", metavar="FILE.npz",
                       help="a fitted detector (Detector.save); scores the shown cloud")
    group.add_argument("--scores", metavar="FILE.npy", help="(N,) per-point scores of INPUT")


def load_scores(path, n_points: int) -> np.ndarray:
    """(N,) finite float64 scores from a ``.npy`` file, checked against the cloud's size."""
    name = os.fspath(path)
    scores = load_numpy(path, archive=False, what="a .npy array of scores")
    if scores.ndim != 1:
        raise InputError(f"{name}: scores must be a 1-D (N,) array, got shape "
                         f"{getattr(scores, 'shape', '?')}")
    if len(scores) != n_points:
        raise InputError(f"{name}: {len(scores)} scores but the cloud has {n_points} points")
    if scores.dtype.kind not in "iuf" or not np.all(np.isfinite(scores)):
        raise InputError(f"{name}: scores must be finite real numbers")
    return scores.astype(np.float64)


def load_detector(path):
    """A fitted detector from ``Detector.save``'s file."""
    from pointad.detectors import load

    return load(path)
