"""What ``fused``'s point weight costs: P-AUROC of every weight of the grid, from a report's
saved scores, without fitting anything again.

``fused`` mixes ``w * (point - l1) / s1 + (1 - w) * (depth - l2) / s2`` (its scale from the
held-out clouds). When a ``tools/report.py`` folder also holds the scores of ``fused``'s two
parts run alone with the same settings and seed (they are refitted on the same clouds, so their
scores are the parts' own), a least-squares fit of the fused scores on the two parts' gives
``w / s1`` and ``(1 - w) / s2`` per category; with the weight the fit used (its ``notes``) the
mix of any other weight follows, and its P-AUROC. A category where the fit used 0 or 1 has one
part only (the other's scale is lost) and is shown with its one value.

    .venv/bin/python tools/fused_weights.py results-fused-realistic \\
        --point patchcore-ms --depth hetnet --fused fused

Prints per category the weight the fit used and P-AUROC at 0, 0.1, ..., 1, then the mean over
the categories with both parts, of the weights the fits used and of each grid weight.
"""
import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from pointad.detectors.fused import WEIGHT_GRID
from pointad.errors import InputError
from pointad.metrics import auroc
from pointad.runner import load_scores, scores_path

_WEIGHT_NOTE = re.compile(r"fused: point weight ([0-9.]+)")


def results_path(folder: Path, method: str, layout: str) -> Path:
    path = folder / f"{method}_{layout}.json"
    if not path.is_file():
        raise InputError(f"{path}: not found (run tools/report.py with --methods {method})")
    return path


def used_weights(path: Path) -> dict:
    """``{category: point weight}`` from a fused run's result notes (its results JSON)."""
    notes = json.loads(path.read_text(encoding="utf-8")).get("notes") or {}
    out = {}
    for category, lines in notes.items():
        found = [m.group(1) for line in lines if (m := _WEIGHT_NOTE.search(line))]
        if found:
            out[category] = float(found[0])
    return out


def weight_curve(point: np.ndarray, depth: np.ndarray, fused: np.ndarray, labels: np.ndarray,
                 weight: float, grid=WEIGHT_GRID) -> tuple[np.ndarray, float]:
    """``(P-AUROC per grid weight (G,), largest residual of the scale fit)`` of one category:
    ``point``, ``depth``, ``fused`` (N,) point scores, ``labels`` (N,) (1 anomalous, 0 normal,
    -1 unlabelled: left out), ``weight`` in (0, 1) the one the fused scores were mixed with."""
    if not 0 < weight < 1:
        raise InputError(f"weight {weight}: one part only, the other's scale is lost")
    ok = np.isfinite(point) & np.isfinite(depth) & np.isfinite(fused) & (labels >= 0)
    design = np.c_[point[ok], depth[ok], np.ones(ok.sum())]
    coef = np.linalg.lstsq(design, fused[ok], rcond=None)[0]
    residual = float(np.abs(design @ coef - fused[ok]).max())
    a, b = coef[0] / weight, coef[1] / (1 - weight)
    curve = np.array([auroc(labels[ok], g * a * point[ok] + (1 - g) * b * depth[ok])
                      for g in grid])
    return curve, residual


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a tools/report.py output folder")
    parser.add_argument("--point", default="patchcore-ms", help="the point part's method label")
    parser.add_argument("--depth", default="hetnet", help="the depth part's method label")
    parser.add_argument("--fused", default="fused", help="the fused method label")
    parser.add_argument("--layout", default="real3d")
    args = parser.parse_args(argv)
    try:
        parts = {k: load_scores(scores_path(args.folder / f"{getattr(args, k)}_{args.layout}"
                                            ".json"))
                 for k in ("point", "depth", "fused")}
        weights = used_weights(results_path(args.folder, args.fused, args.layout))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("category  weight  P-AUROC at " + " ".join(f"{g:.1f}" for g in WEIGHT_GRID))
    curves, chosen = [], []
    for category in sorted(weights):
        arrays = [parts[k][category].point_scores for k in ("point", "depth", "fused")]
        labels = parts["fused"][category].labels
        known = (labels >= 0) & np.isfinite(arrays[2])
        used = auroc(labels[known], arrays[2][known])  # the fused run's own P-AUROC
        w = weights[category]
        if not 0 < w < 1:
            print(f"{category:9s} {w:4.1f}    one part only: P-AUROC {used:.3f}")
            continue
        curve, residual = weight_curve(*arrays, labels, w)
        if residual > 1e-6 * (1 + np.abs(arrays[2][known]).max()):
            print(f"{category:9s} the fused scores are not a mix of the parts' (residual "
                  f"{residual:.2g}): other settings or seeds?")
            continue
        curves.append(curve)
        chosen.append(used)
        print(f"{category:9s} {w:4.1f}    " + " ".join(f"{v:.3f}" for v in curve))
    if curves:
        print(f"mean over the {len(curves)} categories with both parts: the weights used "
              f"{np.mean(chosen):.3f}; each grid weight "
              + " ".join(f"{v:.3f}" for v in np.mean(curves, axis=0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
