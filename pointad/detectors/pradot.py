"""``pradot``: PRADOT (Trombetta and Lartizien, ECML 2025 workshop) on depth renders.

Local and global prototypes learned with entropic optimal transport on the frozen backbone's
maps (:mod:`pointad.models2d.pradot`): no network and no gradient descent. For every backbone
level in ``strides`` (one scale) and every ``alpha`` in ``alphas`` one set of prototypes is
learned: the maps are standardised per channel with the training statistics (ours: the depth
backbones' channels have unrelated scales), each prototype starts at a random training
embedding of its cell (ours; the paper starts at random), and each batch of ``batch_size``
images moves the prototypes toward the barycentres the Sinkhorn plan gives them
(``p <- momentum p + (1 - momentum) bary``; Sinkhorn in the log domain, ``reg``,
``iterations``), ``epochs`` passes over the training images. The cost mixes a feature
distance (squared Euclidean by default, ours; the paper's cosine with ``distance="cosine"``)
and the cell position (``alpha``: 0 ignores the position, so every prototype may match
everywhere; > 0 ties the prototypes to their image region).

Anomaly map: each set's cost of every cell to its nearest prototype, bilinearly upsampled
(align_corners, as the paper) and averaged over the sets (the paper's final model is the
average of four runs: layer2 and layer3, alpha 0 and 0.3); object score: the max of the map
over the pixels that show the part, max over views. One model can be fitted on clouds of many
categories at once (``pnas eval --unified``).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pointad.detectors.depth import GUARD_PIXELS, DepthDetector, standardize_stats
from pointad.detectors.registry import register
from pointad.errors import InputError
from pointad.models2d.pradot import DISTANCES, Prototypes
from pointad.validation import check_choice, check_number


def _number_list(value, name: str, **bounds) -> list:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise InputError(f"{name} must be a non-empty list of numbers, got {value!r}")
    items = [check_number(v, name, **bounds) for v in value]
    if len(set(items)) != len(items):
        raise InputError(f"{name} must not repeat a value, got {value!r}")
    return items


@register
class PRADOT(DepthDetector):
    """PRADOT on depth renders (see the module docstring).

    Args (besides :class:`~pointad.detectors.depth.DepthDetector`'s; ``epochs`` are OT passes
    over the training images, ``batch_size`` the images of one OT problem; there is no learning
    rate and no architecture to choose):
        strides: backbone levels used, by stride (one prototype set per level and alpha; the
            paper: ResNet-50 layer2 and layer3, strides 8 and 16).
        alphas: weights of the position term of the cost, each in [0, 1] (the paper: 0 and 0.3).
        n_prototypes: P >= 1 (an integer): P local prototypes per grid cell (default 1 for
            the CPU; the paper: 16); a fraction in (0, 1): one prototype per cell of a grid
            that much coarser.
        momentum: EMA momentum of the prototype update (0.95, the paper's).
        reg: entropic regularisation of Sinkhorn on the [0, 1] costs (0.01, the paper's).
        iterations: Sinkhorn iterations per batch (100, the paper's).
        distance: feature term of the cost: ``"sqeuclidean"`` (default, ours: the squared
            Euclidean distance of the standardised features, whose barycentre the EMA step
            moves to) or ``"cosine"`` (the paper's ``1 - cos``; on the weight-free
            ``geometric`` backbone's 11 channels per level it loses the magnitude a defect
            changes and falls below chance on the small benchmark).

    Cost: every OT problem is (``batch_size`` x cells) x prototypes, ``iterations`` times, so
    CPU time grows with ``n_prototypes`` x (size / stride)^4; the defaults fit a CPU run. Paper-like
    settings for a GPU: ``n_prototypes=16, epochs=50, batch_size=64``.
    """

    name = "pradot"
    presets: dict = {"paper": {}}
    # Fitted: per-level statistics and one prototype set per (stride, alpha), stride-major.
    means_: list[torch.Tensor]
    stds_: list[torch.Tensor]
    sets_: list[Prototypes]

    def __init__(self, backbone: str = "geometric", weights=None, views: int = 6,
                 size: int = 128, epochs: int = 10, batch_size: int = 8, seed: int = 0,
                 device: str = "auto", progress: bool = True, depth: str = "box",
                 align: bool = True, partial_views: int = 0, seam_guard: int = GUARD_PIXELS,
                 rescans: int = 0,
                 object_score: str = "image", splat_tolerance: float = 0.0,
                 strides=(8, 16), alphas=(0.0, 0.3),
                 n_prototypes: float = 1, momentum: float = 0.95, reg: float = 0.01,
                 iterations: int = 100, distance: str = "sqeuclidean"):
        super().__init__(backbone=backbone, weights=weights, views=views, size=size,
                         epochs=epochs, batch_size=batch_size, seed=seed, device=device,
                         progress=progress, depth=depth, align=align,
                         partial_views=partial_views, seam_guard=seam_guard, rescans=rescans,
                         object_score=object_score, splat_tolerance=splat_tolerance)
        self.strides = sorted(_number_list(strides, "strides", low=1, integer=True))
        self.alphas = _number_list(alphas, "alphas", low=0, high=1)
        self.n_prototypes = check_number(n_prototypes, "n_prototypes", low=0, low_open=True)
        if self.n_prototypes >= 1 and self.n_prototypes != int(self.n_prototypes):
            raise InputError(f"n_prototypes must be an integer >= 1 (per cell) or a fraction "
                             f"in (0, 1) (a coarser grid), got {n_prototypes!r}")
        self.momentum = check_number(momentum, "momentum", low=0, high=1, high_open=True)
        self.reg = check_number(reg, "reg", low=0, low_open=True)
        self.iterations = check_number(iterations, "iterations", low=1, integer=True)
        self.distance = check_choice(distance, "distance", DISTANCES)

    # Features ---------------------------------------------------------------------------------
    def _levels(self, features: list) -> list:
        return self.levels(features, self.strides)

    def _grid(self, stride: int) -> tuple[int, int]:
        g = self.size // stride
        if g < 1:
            raise InputError(f"size ({self.size}) is smaller than stride {stride}")
        return (g, g)

    def embeddings(self, features: list) -> list:
        """Per level: (B, h w, C) standardised embeddings (training statistics)."""
        out = []
        for level, mean, std in zip(self._levels(features), self.means_, self.stds_):
            x = (level.to(self._device) - mean) / std
            out.append(x.flatten(2).transpose(1, 2).contiguous())
        return out

    # DepthDetector hooks ----------------------------------------------------------------------
    def _train(self, features, view_of, clouds, renders):
        levels = self._levels(features)
        stats = [standardize_stats(level.to(self._device)) for level in levels]
        self.means_, self.stds_ = [m for m, _ in stats], [s for _, s in stats]
        embs = self.embeddings(features)
        cpu_gen = torch.Generator().manual_seed(self.seed)
        self.sets_ = []
        for stride, emb in zip(self.strides, embs):
            for alpha in self.alphas:
                protos = Prototypes(emb.shape[-1], self._grid(stride), self.n_prototypes,
                                    alpha, self.distance, device=self._device)
                protos.init_from(emb, cpu_gen)
                for _ in self._bar(range(self.epochs), f"stride {stride} alpha {alpha}",
                                   unit="epoch"):
                    for batch in self._order(len(emb), cpu_gen):
                        protos.step(emb[batch], self.reg, self.iterations, self.momentum)
                protos.fix_scale(emb[i:i + self.batch_size]
                                 for i in range(0, len(emb), self.batch_size))
                self.sets_.append(protos)

    def _score_views(self, features, valid):
        embs = self.embeddings(features)
        maps = torch.zeros(())
        for k, protos in enumerate(self.sets_):
            cost = protos.score(embs[k // len(self.alphas)])
            maps = maps + F.interpolate(cost[:, None], size=(self.size, self.size),
                                        mode="bilinear", align_corners=True)[:, 0]
        maps = maps / len(self.sets_)
        masked = torch.where(valid, maps, torch.full_like(maps, -torch.inf))
        best = masked.flatten(1).max(dim=1).values
        scores = torch.where(torch.isfinite(best), best, maps.flatten(1).max(dim=1).values)
        return maps, scores

    def _get_model_state(self):
        arrays: dict[str, np.ndarray] = {}
        for i, stride in enumerate(self.strides):
            arrays[f"mean.{stride}"] = self.means_[i].cpu().numpy()
            arrays[f"std.{stride}"] = self.stds_[i].cpu().numpy()
        for k, protos in enumerate(self.sets_):
            arrays[f"prototypes.{k}"] = protos.features.cpu().numpy()
            arrays[f"feat_scale.{k}"] = np.array(protos.feat_scale)
        return arrays

    def _set_model_state(self, arrays):
        def tensor(key):
            return torch.as_tensor(np.asarray(arrays[key]), device=self._device)

        self.means_ = [tensor(f"mean.{s}") for s in self.strides]
        self.stds_ = [tensor(f"std.{s}") for s in self.strides]
        self.sets_ = []
        for k in range(len(self.strides) * len(self.alphas)):
            stride, alpha = self.strides[k // len(self.alphas)], self.alphas[k % len(self.alphas)]
            feats = tensor(f"prototypes.{k}")
            protos = Prototypes(feats.shape[1], self._grid(stride), self.n_prototypes, alpha,
                                self.distance, device=self._device)
            if feats.shape != protos.features.shape:
                raise InputError(f"saved prototypes {k} have shape {tuple(feats.shape)}, these "
                                 f"parameters make {tuple(protos.features.shape)}")
            protos.features = feats.float()
            protos.feat_scale = float(arrays[f"feat_scale.{k}"])
            self.sets_.append(protos)


__all__ = ["PRADOT"]
