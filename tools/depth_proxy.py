"""Training-free checks of the depth-render pipeline (issue 14), without a network.

``own`` / ``align`` / ``complete``: per pixel, the depth difference to the nearest training render
of the same view (a pixel shown in one and not the other counts 1), a 3 x 3 mean, back to points
with ``to_points``; I-AUROC (max point score) and P-AUROC per category. It measures what the
renders let any 2D method see:

    .venv/bin/python tools/depth_proxy.py DATA/real3d fork,gear own        # own principal frames
    .venv/bin/python tools/depth_proxy.py DATA/real3d fork,gear align      # registered only
    .venv/bin/python tools/depth_proxy.py DATA/real3d fork,gear complete   # registered + completed

``oracle``: what the render and the map back to points let through of a signal that is already
right per point. Each test point's score is its distance to the nearest point of the registered
training clouds, in the template's point spacings (``raw``'s score, on the depth methods'
registration); ``direct`` scores the points with it, ``rendered`` with what a depth method's
per-pixel map would give them if it were that signal exactly: a point shown by a pixel of the
registered, completed render keeps its value, a point no view shows (hidden by a nearer
point's splat, or by the seam guard) takes that of its nearest shown point
(:func:`pointad.render.to_points`). Object score: the mean of the top 1% of the point scores,
for both. ``--seam-guard`` and ``--splat`` set the completion's guard (pixels) and the splat
radius (point spacings) of the render, ``--splat-tolerance`` its z-buffer's depth tolerance
(point spacings; defaults: the depth methods').

    .venv/bin/python tools/depth_proxy.py DATA/real3d fork,gear oracle --seam-guard 0

``features``: what a frozen backbone's features tell apart without any training (CPMF's recipe:
rendered views, a pretrained CNN, a memory bank). Each point's feature is the mean, over the
pixels that show it in the registered, completed views, of the ``--backbone`` maps (every level;
:func:`pointad.render.features_to_points`); the features of every training point form the bank
(standardised per channel with its statistics); a test point scores the mean distance to its 3
nearest bank features, a cloud its highest point score (and, second column, the mean of its top
1 %): the ``cpmf`` detector with ``coreset_ratio=1`` (``--splat`` does not apply).

    .venv/bin/python tools/depth_proxy.py DATA/real3d fork features --backbone efficientnet-lite0

Options: ``--size`` (render side, default 128); ``--views`` (default 6).
"""
import argparse
import inspect
import sys

import numpy as np
import torch
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from pointad.datasets import load_dataset
from pointad.detectors import create
from pointad.detectors.raw import RawDistance
from pointad.io import CloudInput
from pointad.ops import NeighbourIndex
from pointad.reductions import top_mean
from pointad.render import render, to_points
from pointad.render.completion import GUARD_PIXELS

MODES = ("own", "align", "complete", "oracle", "features")
BANK_K = 3  # features: nearest bank features averaged per test point
SPLAT = inspect.signature(render).parameters["splat"].default  # in point spacings
# the oracle's object score: raw's (the mean of the top fraction of its point scores)
RAW_TOP_FRACTION = inspect.signature(RawDistance).parameters["top_fraction"].default


def oracle_scores(rendered, values: np.ndarray) -> np.ndarray:
    """Per-point ``values`` (N,) as a depth method's map would carry them through ``rendered``:
    unchanged on the points some view shows, the value of the nearest shown point elsewhere
    (``to_points`` of the map that holds each shown point's value on its pixels)."""
    maps = np.where(rendered.index >= 0, values[np.maximum(rendered.index, 0)], 0.0)
    return to_points(maps, rendered)


def feature_bank(root, cat: str, size: int, guard: int, backbone: str, views: int) -> tuple:
    """``features`` on one category: ``(I-AUROC from the highest point score, P-AUROC, I-AUROC
    from the mean of the top 1 %, P-AUROC)`` of the ``cpmf`` detector keeping every training
    point in its bank (``coreset_ratio=1``, the 3 nearest averaged)."""
    det = create("cpmf", size=size, views=views, backbone=backbone, seam_guard=guard, k=BANK_K,
                 coreset_ratio=1.0, top_fraction=RAW_TOP_FRACTION, progress=False,
                 device="cpu")
    det.fit([CloudInput(s.points) for s in load_dataset(root, cat, "train")])
    labels, truth, highest, top, points = [], [], [], [], []
    for sample in load_dataset(root, cat, "test"):
        prediction = det.predict(CloudInput(sample.points))
        points.append(prediction.point_scores)
        highest.append(prediction.point_scores.max())
        top.append(prediction.score)
        labels.append(np.zeros(len(sample.points)) if sample.labels is None else sample.labels)
        truth.append(sample.label)
    p_auroc = roc_auc_score(np.concatenate(labels) > 0, np.concatenate(points))
    return (roc_auc_score(truth, highest), p_auroc, roc_auc_score(truth, top), p_auroc)


def category(root, cat: str, mode: str, size: int, guard: int = GUARD_PIXELS,
             splat: float = SPLAT, backbone: str = "geometric", views: int = 6,
             tolerance: float = 0.0) -> tuple:
    """``(I-AUROC, P-AUROC)`` of ``mode`` on one category; ``oracle``: ``(direct I, direct P,
    rendered I, rendered P)``; ``features``: ``(I, P, I from the top 1 %, P)``."""
    if mode == "features":
        return feature_bank(root, cat, size, guard, backbone, views)
    train = [CloudInput(s.points) for s in load_dataset(root, cat, "train")]
    det = create("uniad", arch="small", epochs=1, size=size, align=mode != "own",
                 seam_guard=guard, progress=False, device="cpu", backbone=backbone,
                 views=views, splat_tolerance=tolerance)
    det._template_index = None
    det._set_template(train[0])
    clouds = [train[0]] + [det.posed(c) for c in train[1:]]
    renders = [det.render(c, splat=splat) for c in clouds]
    if mode in ("complete", "oracle"):
        det.reference_ = renders[0]
        renders = [renders[0]] + [det.completed(r, c) for r, c in zip(renders[1:], clouds[1:])]
    if mode == "oracle":
        reference = NeighbourIndex(np.concatenate([c.points for c in clouds]))
    else:
        depth = np.stack([r.images[:, 0] for r in renders])
        valid = np.stack([r.valid for r in renders])
    labels, truth, columns = [], [], []
    for sample in load_dataset(root, cat, "test"):
        cloud = det.posed(CloudInput(sample.points))
        rendered = det.render(cloud, splat=splat)
        if mode in ("complete", "oracle"):
            rendered = det.completed(rendered, cloud)
        if mode == "oracle":
            distance = reference.query(cloud.points, 1)[0][:, 0] / det.frame_.spacing
            columns.append((distance, oracle_scores(rendered, distance)))
        else:
            err = np.where(rendered.valid[None] ^ valid, 1.0,
                           np.abs(rendered.images[:, 0][None] - depth)).min(axis=0)
            columns.append((to_points(ndimage.uniform_filter(err, size=(1, 3, 3)), rendered),))
        labels.append(np.zeros(len(cloud.points)) if sample.labels is None else sample.labels)
        truth.append(sample.label)
    point_truth = np.concatenate(labels) > 0
    out = []
    for scores in zip(*columns):
        objects = [top_mean(s, RAW_TOP_FRACTION) if mode == "oracle" else s.max() for s in scores]
        out += [roc_auc_score(truth, objects),
                roc_auc_score(point_truth, np.concatenate(scores))]
    return tuple(out)


def main(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="a Real3D-AD-layout folder")
    parser.add_argument("categories", help="comma-separated categories")
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("size", nargs="?", type=int, default=128, help="render side (pixels)")
    parser.add_argument("--seam-guard", type=int, default=GUARD_PIXELS)
    parser.add_argument("--splat", type=float, default=SPLAT)
    parser.add_argument("--splat-tolerance", type=float, default=0.0,
                        help="the renders' z-buffer depth tolerance (point spacings)")
    parser.add_argument("--backbone", default="geometric", help="features: the backbone")
    parser.add_argument("--views", type=int, default=6, help="views of each cloud")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = {"oracle": ("direct", "rendered"), "features": ("max", "top1%")}.get(
        args.mode, (args.mode,))
    rows = []
    for cat in args.categories.split(","):
        rows.append(category(args.data, cat, args.mode, args.size, args.seam_guard, args.splat,
                             args.backbone, args.views, args.splat_tolerance))
        print(" ".join(f"{name} {cat} I-AUROC {rows[-1][2 * i]:.3f} P-AUROC "
                       f"{rows[-1][2 * i + 1]:.3f}" for i, name in enumerate(names)), flush=True)
    mean = np.mean(rows, axis=0)
    print(" ".join(f"{name} mean I-AUROC {mean[2 * i]:.3f} P-AUROC {mean[2 * i + 1]:.3f}"
                   for i, name in enumerate(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
