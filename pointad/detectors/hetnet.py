"""``hetnet``: HetNet (Yu et al., IROS 2025, arXiv 2506.16050) on depth renders.

Only the abstract is known (no code was published): heterogeneous teachers distilled
collaboratively, an adaptive local-global feature fusion and local multivariate Gaussian noise,
aimed at view and pose variation. Our design (``shared/reference/methods2d.md`` section 3, the
recipe marked [ours]; the network in :mod:`pointad.models2d.hetnet`):

* Two frozen teachers of different families: ``backbone`` (default the packaged ImageNet
  EfficientNet-Lite0) and ``teacher2`` (default the weight-free ``geometric`` extractor). At every
  stride of ``strides`` each teacher's level at that stride (or its nearest level, bilinearly
  resized) is taken, standardised per channel with the training statistics, and the two are
  concatenated: the multi-scale teacher maps.
* Training: in every image a random rectangle (``mask_area`` of the render) gets noise drawn from
  the per-location multivariate Gaussians of the normal teacher maps (Ledoit-Wolf covariance over
  the 3 x 3 neighbourhood of each location in every training image), scaled by ``noise``; the
  fusion + bottleneck + student decoder reproduces the *clean* teacher maps (loss: ``1 - cos``
  plus MSE, summed over scales). AdamW (weight decay 1e-4), the learning rate divided by 10 after
  80% of the epochs.
* Anomaly map: the teacher-student discrepancy, ``1 - cos`` plus the squared error per position
  (mean over channels), bilinearly upsampled, summed over the scales and Gaussian-smoothed
  (sigma 4 px at 256 px, scaled to ``size``); object score: UniAD's, the max of the map after a
  16/224 average pool over the pixels that show the part (:func:`pooled_max`), max over views.
  One model can be fitted on all categories at once (``pnas eval --unified``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pointad.detectors.depth import GUARD_PIXELS, DepthDetector, pooled_max, standardize_stats
from pointad.detectors.registry import register
from pointad.errors import InputError
from pointad.models2d import hetnet as net
from pointad.models2d.state import load_state_arrays, state_arrays
from pointad.ops import gaussian_blur
from pointad.validation import check_number, check_range

WEIGHT_DECAY = 1e-4
NOISE_WINDOW = 3  # neighbourhood whose samples estimate a location's Gaussian


@register
class HetNet(DepthDetector):
    """HetNet on depth renders (see the module docstring).

    Args (besides :class:`~pointad.detectors.depth.DepthDetector`'s, whose ``backbone`` and
    ``weights`` are the first teacher; ``partial_views`` defaults to 4 here: every training
    cloud also gives 4 completed single-view cuts, which lifted P-AUROC by 0.09-0.15 on four
    builds of the realistic preset (partial test scans) and by 0.17 on the small standard
    one, at about 4 times the fit, docs/depth-methods.md, "HetNet trains on partial cuts"; 0
    trains on the complete clouds only. ``rescans=4`` (opt-in) lifted P-AUROC by 0.04 on two
    small realistic builds of complete scans and left partial ones flat, at 1.6 times the fit,
    docs/depth-methods.md, "Re-scans of the training clouds"; ``object_score`` defaults to
    ``"points"`` here, the mean of the top 1 % of the point scores: above the image score by
    0.04-0.12 I-AUROC on four default-size realistic builds, two of them made after the choice,
    docs/depth-methods.md, "HetNet scores a cloud by its top points"):
        teacher2: the second frozen teacher, of another family than ``backbone``
            (:func:`pointad.backbones.create_backbone` name).
        teacher2_weights: local weights file of ``teacher2``, when it needs one.
        strides: the scales, by backbone stride (each a divisor of ``size``).
        noise: lambda, the scale of the Gaussian noise (1: the normal features' own covariance).
        mask_area: (lo, hi) fraction of the render one noise rectangle covers.
    """

    name = "hetnet"
    presets = net.PRESETS

    def __init__(self, backbone: str = "efficientnet-lite0", weights=None, views: int = 6,
                 size: int = 128, epochs: int = 100, batch_size: int = 8, lr: float = 1e-3,
                 arch: str = "paper", seed: int = 0, device: str = "auto",
                 progress: bool = True, depth: str = "box", align: bool = True,
                 partial_views: int = 4, seam_guard: int = GUARD_PIXELS, rescans: int = 0,
                 object_score: str = "points", splat_tolerance: float = 0.0,
                 teacher2: str = "geometric", teacher2_weights=None, strides=(4, 8, 16),
                 noise: float = 1.0, mask_area=(0.05, 0.2)):
        super().__init__(backbone=backbone, weights=weights, views=views, size=size,
                         epochs=epochs, batch_size=batch_size, lr=lr, arch=arch, seed=seed,
                         device=device, progress=progress, depth=depth, align=align,
                         partial_views=partial_views, seam_guard=seam_guard, rescans=rescans,
                         object_score=object_score, splat_tolerance=splat_tolerance)
        if not isinstance(teacher2, str):
            raise InputError(f"teacher2 must be a backbone name, got {teacher2!r}")
        if teacher2 == backbone:
            raise InputError(f"teacher2 must be another backbone family than backbone "
                             f"({backbone!r}): HetNet's teachers are heterogeneous")
        self.teacher2 = teacher2
        self.teacher2_weights = None if teacher2_weights is None else str(teacher2_weights)
        if isinstance(strides, (str, bytes)) or not isinstance(strides, (list, tuple)) \
                or not strides:
            raise InputError(f"strides must be a non-empty list of backbone strides, got "
                             f"{strides!r}")
        self.strides = sorted({check_number(s, "strides", low=1, integer=True) for s in strides})
        for s in self.strides:
            if self.size % s:
                raise InputError(f"size ({self.size}) must be a multiple of every stride "
                                 f"(strides {self.strides})")
        self.noise = check_number(noise, "noise", low=0)
        self.mask_area = list(check_range(mask_area, "mask_area", low=0, high=1,
                                          low_open=True))
        self._teacher2 = None

    # Teachers ---------------------------------------------------------------------------------
    @property
    def teacher(self):
        """The second frozen teacher, built on first use."""
        if self._teacher2 is None:
            from pointad.backbones import create_backbone
            self._teacher2 = create_backbone(self.teacher2, weights=self.teacher2_weights,
                                             seed=self.seed, device=self.device)
        return self._teacher2

    def _levels(self, extractor, maps: list) -> list:
        """The teacher's maps at ``strides``: its level at each stride, or its nearest one
        (log scale) bilinearly resized to that stride's grid."""
        have = list(extractor.strides)
        out = []
        for s in self.strides:
            k = min(range(len(have)), key=lambda i: abs(math.log(have[i] / s)))
            m, grid = maps[k], (self.size // s, self.size // s)
            if tuple(m.shape[-2:]) != grid:
                m = F.interpolate(m, size=grid, mode="bilinear", align_corners=False)
            out.append(m)
        return out

    def features(self, images: torch.Tensor) -> list:
        """Both teachers' maps per scale, concatenated (not standardised): a list of
        (B, C1 + C2, size / s, size / s), finest first."""
        first, second = [], []
        for i in range(0, len(images), self.batch_size):
            batch = images[i:i + self.batch_size]
            first.append(self._levels(self.extractor, self.extractor(batch)))
            second.append(self._levels(self.teacher, self.teacher(batch)))
        return [torch.cat([torch.cat(a), torch.cat(b).to(a[0].device)], dim=1)
                for a, b in zip(zip(*first), zip(*second))]

    def _standardize(self, maps: list) -> list:
        return [(m.to(self._device) - mu) / sd for m, mu, sd in zip(maps, self.mean_, self.std_)]

    @property
    def grids(self) -> list:
        return [(self.size // s, self.size // s) for s in self.strides]

    def _build(self) -> net.HetNetModel:
        channels = [int(mu.shape[1]) for mu in self.mean_]
        return net.HetNetModel(channels, self.grids, **net.PRESETS[self.arch]).to(self._device)

    # Hooks ------------------------------------------------------------------------------------
    def noised(self, maps: list, noise_models: list, generator: torch.Generator) -> list:
        """One training batch's teacher maps with noise inside one random rectangle each."""
        masks = net.random_masks(len(maps[0]), self.size, tuple(self.mask_area), generator)
        masks = masks.to(self._device)
        return [nm(m, net.masks_on_grid(masks, g), self.noise, generator)
                for m, nm, g in zip(maps, noise_models, self.grids)]

    def _train(self, features, view_of, clouds, renders):
        stats = [standardize_stats(m.to(self._device)) for m in features]
        self.mean_ = [s[0] for s in stats]
        self.std_ = [s[1] for s in stats]
        maps = self._standardize(features)
        noise_models = [net.LocalGaussianNoise(m, NOISE_WINDOW) for m in maps]
        self.model_ = self._build()
        opt = torch.optim.AdamW(self.model_.parameters(), lr=self.lr, weight_decay=WEIGHT_DECAY)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, int(0.8 * self.epochs)),
                                                gamma=0.1)
        gen, cpu_gen = self._generator(), torch.Generator().manual_seed(self.seed)
        self.model_.train()
        for _ in self._bar(range(self.epochs), "fit", unit="epoch"):
            for batch in self._order(len(maps[0]), cpu_gen):
                clean = [m[batch] for m in maps]
                opt.zero_grad()
                student = self.model_(self.noised(clean, noise_models, gen))
                self.model_.loss(student, clean).backward()
                opt.step()
            sched.step()
        self.model_.eval()

    def _score_views(self, features, valid):
        maps = self._standardize(features)
        with torch.no_grad():
            student = self.model_(maps)
        d = self.model_.discrepancy(student, maps, (self.size, self.size))
        d = gaussian_blur(d, 4.0 * self.size / 256)
        return d, pooled_max(d, valid, self.size)

    def _get_model_state(self):
        stats = {}
        for k, (mu, sd) in enumerate(zip(self.mean_, self.std_)):
            stats[f"mean.{k}"] = mu.cpu().numpy()
            stats[f"std.{k}"] = sd.cpu().numpy()
        return {**stats, **state_arrays(self.model_, "model.")}

    def _set_model_state(self, arrays):
        n = len(self.strides)
        if any(f"mean.{k}" not in arrays or f"std.{k}" not in arrays for k in range(n)):
            raise InputError("saved hetnet does not match its parameters: missing statistics "
                             f"of {n} scales")
        self.mean_ = [torch.as_tensor(arrays[f"mean.{k}"], device=self._device)
                      for k in range(n)]
        self.std_ = [torch.as_tensor(arrays[f"std.{k}"], device=self._device) for k in range(n)]
        self.model_ = load_state_arrays(self._build(), arrays, "model.").eval()


__all__ = ["HetNet"]
