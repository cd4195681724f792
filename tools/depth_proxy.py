"""A training-free check of the depth-render pipeline (issue 14): per pixel, the depth difference
to the nearest training render of the same view (a pixel shown in one and not the other counts
1), a 3 x 3 mean, back to points with ``to_points``; I-AUROC (max point score) and P-AUROC per
category. It measures what the renders let any 2D method see, without a network:

    .venv/bin/python tools/depth_proxy.py DATA/real3d fork,gear own        # own principal frames
    .venv/bin/python tools/depth_proxy.py DATA/real3d fork,gear align      # registered only
    .venv/bin/python tools/depth_proxy.py DATA/real3d fork,gear complete   # registered + completed

Optional 4th argument: the render size (default 128). Views: 6.
"""
import sys

import numpy as np
import torch
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from pointad.datasets import load_dataset
from pointad.detectors import create
from pointad.io import CloudInput
from pointad.render import to_points


def category(root, cat: str, mode: str, size: int) -> tuple:
    train = [CloudInput(s.points) for s in load_dataset(root, cat, "train")]
    det = create("uniad", arch="small", epochs=1, size=size, align=mode != "own",
                 progress=False, device="cpu")
    det._template_index = None
    det._set_template(train[0])
    clouds = [train[0]] + [det.posed(c) for c in train[1:]]
    renders = [det.render(c) for c in clouds]
    if mode == "complete":
        det.reference_ = renders[0]
        renders = [renders[0]] + [det.completed(r, c) for r, c in zip(renders[1:], clouds[1:])]
    depth = np.stack([r.images[:, 0] for r in renders])
    valid = np.stack([r.valid for r in renders])
    labels, scores, objects, truth = [], [], [], []
    for sample in load_dataset(root, cat, "test"):
        cloud = det.posed(CloudInput(sample.points))
        rendered = det.render(cloud)
        if mode == "complete":
            rendered = det.completed(rendered, cloud)
        err = np.where(rendered.valid[None] ^ valid, 1.0,
                       np.abs(rendered.images[:, 0][None] - depth)).min(axis=0)
        points = to_points(ndimage.uniform_filter(err, size=(1, 3, 3)), rendered)
        scores.append(points)
        labels.append(np.zeros(len(points)) if sample.labels is None else sample.labels)
        objects.append(points.max())
        truth.append(sample.label)
    return (roc_auc_score(truth, objects),
            roc_auc_score(np.concatenate(labels) > 0, np.concatenate(scores)))


def main(argv) -> None:
    torch.set_num_threads(1)
    root, cats, mode = argv[0], argv[1].split(","), argv[2]
    size = int(argv[3]) if len(argv) > 3 else 128
    rows = []
    for cat in cats:
        rows.append(category(root, cat, mode, size))
        print(f"{mode} {cat} I-AUROC {rows[-1][0]:.3f} P-AUROC {rows[-1][1]:.3f}", flush=True)
    mean = np.mean(rows, axis=0)
    print(f"{mode} mean I-AUROC {mean[0]:.3f} P-AUROC {mean[1]:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
