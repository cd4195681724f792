"""``cpmf``: multi-view render features of every point in a memory bank, no training.

CPMF (Cao, Xu and Shen, "Complementary Pseudo Multimodal Feature for Point Cloud Anomaly
Detection", Pattern Recognition 2024) renders a point cloud from many views, runs a frozen 2D
backbone on the renders, gives each point the mean of the features of the pixels that show it
over all views, and scores the points against a PatchCore bank of the training points' features.
Here on the shared depth machinery (:class:`~pointad.detectors.depth.DepthDetector`: the clouds
registered onto the first training cloud and rendered in its frame, a partial scan's unseen
sides completed from its render): :func:`pointad.render.features_to_points` gives the point
features (every level of ``backbone``, standardised per channel with the training statistics),
:class:`~pointad.detectors.memory_bank.MemoryBank` keeps a greedy coreset of the training
points' features, a point scores the mean distance to its ``k`` nearest bank features, a cloud
the mean of its top ``top_fraction`` point scores.

Ours, not the paper's: our depth renders (depth, normal, curvature) instead of its own
rendered images; the default weight-free ``geometric`` backbone (a frozen
ResNet in the paper: ``backbone="efficientnet-lite0"`` is the packaged pretrained one; on the
small realistic builds it was no better, docs/depth-methods.md, "A memory bank of the same
features");
registration and completion; the top-fraction object score (a single maximum is hostage to one
stray point).
"""
from __future__ import annotations

import numpy as np
import torch

from pointad.detectors.depth import DepthDetector
from pointad.detectors.memory_bank import MemoryBank
from pointad.detectors.registry import register
from pointad.ops import knn
from pointad.reductions import top_mean
from pointad.render import features_to_points
from pointad.render.completion import GUARD_PIXELS
from pointad.validation import check_number

STD_FLOOR = 1e-6  # a channel constant over the training points is not divided by zero


@register
class CPMF(DepthDetector):
    """CPMF on depth renders (see the module docstring).

    Args (besides :class:`~pointad.detectors.depth.DepthDetector`'s; nothing is trained, so
    there are no epochs, learning rate or architecture; ``batch_size`` is the images per
    backbone pass):
        k: a point's score is the mean distance to its ``k`` nearest bank features.
        coreset_ratio: fraction of the training points' features the greedy coreset keeps
            (0, 1] (PatchCore's; 1 keeps every point).
        max_bank: upper bound on the bank size (memory: ``max_bank`` x channels float32).
        top_fraction: object score = mean of this top fraction of the point scores (0, 1].
    """

    name = "cpmf"
    presets: dict = {"paper": {}}
    # Fitted state (set by fit or load): the bank of standardised training point features and
    # the per-channel statistics.
    memory_: MemoryBank
    mean_: torch.Tensor
    std_: torch.Tensor

    def __init__(self, backbone: str = "geometric", weights=None, views: int = 6,
                 size: int = 128, batch_size: int = 8, seed: int = 0, device: str = "auto",
                 progress: bool = True, depth: str = "box", align: bool = True,
                 partial_views: int = 0, seam_guard: int = GUARD_PIXELS, rescans: int = 0,
                 k: int = 3, coreset_ratio: float = 0.1, max_bank: int = 50_000,
                 top_fraction: float = 0.01, splat_tolerance: float = 0.0):
        super().__init__(backbone=backbone, weights=weights, views=views, size=size,
                         epochs=1, batch_size=batch_size, seed=seed, device=device,
                         progress=progress, depth=depth, align=align,
                         partial_views=partial_views, seam_guard=seam_guard, rescans=rescans,
                         splat_tolerance=splat_tolerance)
        self.k = check_number(k, "k", low=1, integer=True)
        self.coreset_ratio = check_number(coreset_ratio, "coreset_ratio", low=0, high=1,
                                          low_open=True)
        self.max_bank = check_number(max_bank, "max_bank", low=1, integer=True)
        self.top_fraction = check_number(top_fraction, "top_fraction", low=0, high=1,
                                         low_open=True)

    def _new_bank(self) -> MemoryBank:
        return MemoryBank(coreset_ratio=self.coreset_ratio, max_size=self.max_bank,
                          n_reweight=0, seed=self.seed)

    # DepthDetector hooks ----------------------------------------------------------------------
    def _train(self, features, view_of, clouds, renders):
        per_cloud, start = [], 0
        for rendered in renders:  # the images are in cloud order, each cloud's views together
            stop = start + rendered.n_views
            per_cloud.append(features_to_points([f[start:stop] for f in features], rendered))
            start = stop
        bank = torch.as_tensor(np.concatenate(per_cloud), dtype=torch.float32,
                               device=self._device)
        self.mean_ = bank.mean(dim=0)
        self.std_ = bank.std(dim=0).clamp_min(STD_FLOOR)
        self.memory_ = self._new_bank().fit((bank - self.mean_) / self.std_)

    def _score_render(self, rendered):
        feats = features_to_points(self.features(self.images(rendered)), rendered)
        x = torch.as_tensor(feats, dtype=torch.float32, device=self._device)
        bank = self.memory_.fitted_bank()
        dist, _ = knn((x - self.mean_) / self.std_, bank, min(self.k, len(bank)))
        scores = dist.mean(dim=1).double().cpu().numpy()
        return scores, top_mean(scores, self.top_fraction)

    def _get_model_state(self):
        return {**self.memory_.get_state(), "mean": self.mean_.cpu().numpy(),
                "std": self.std_.cpu().numpy()}

    def _set_model_state(self, arrays):
        self.memory_ = self._new_bank().set_state(arrays, self._device)
        self.mean_ = torch.as_tensor(np.asarray(arrays["mean"]), dtype=torch.float32,
                                     device=self._device)
        self.std_ = torch.as_tensor(np.asarray(arrays["std"]), dtype=torch.float32,
                                    device=self._device)


__all__ = ["CPMF"]
