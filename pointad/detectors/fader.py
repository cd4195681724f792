"""``fader``: FADeR (Park et al., arXiv 2407.04597, 2024) on depth renders.

FADeR reconstructs an image by inpainting with one deterministic mask and a mosaic hint in the
masked region (EAR), and attenuates, with two MLP layers on every skip connection of the U-Net,
the features of regions the reconstructor gets wrong, so a defect the mask misses does not leak
through the skips into the reconstruction. Only the abstract is known; the recipe is
:mod:`pointad.models2d.fader` (what is ours is marked there).

On depth renders [ours]: the reconstructor works on the render channels themselves (depth, the
three normal components, curvature, and a surface indicator, each standardised with the training
statistics), not on backbone features: the excision, the mosaic hint and the pixel-wise error are
defined on images, and the renders are low-dimensional and clean enough to reconstruct, so no
backbone is needed. The saliency prior of the mask is the curvature channel (the geometric
analogue of EAR's DINO attention; a bump's rim and a dent's edge are curved), ranked per
``patch`` x ``patch`` cell over the cells that show the part.

Training (no defect labels): the U-Net learns to reconstruct the full image from the hinted
image with MSE, Adam at ``lr``. With ``attenuation``, the first two thirds of the epochs train the
plain U-Net (skips unattenuated); its reconstruction errors on the training images give the
attenuation targets ``1 - minmax(patch error)`` per skip resolution; the attenuation MLPs learn
them alone first (BCE, ``GATE_STEPS`` steps at ``GATE_LR_GAIN * lr`` on the frozen encoder's
skips), then the last third of the epochs trains them jointly with the reconstructor. Without
it, all epochs train the plain U-Net (the same number of reconstruction steps). On the small
synthetic benchmark the attenuation changes the metrics by less than their noise: the curvature
mask already covers most defects there (see the README).

Anomaly map: the mean absolute reconstruction error over the channels, Gaussian-smoothed (sigma
4 px at 256 px, scaled to ``size``); object score: max of the map after UniAD's scaled average
pool over the pixels that show the part, max over views.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from pointad.detectors.depth import GUARD_PIXELS, DepthDetector, pooled_max, standardize_stats
from pointad.detectors.registry import register
from pointad.errors import InputError
from pointad.models2d.fader import (
    PRESETS,
    FADeRNet,
    attenuation_targets,
    mosaic_hint,
    saliency_mask,
)
from pointad.models2d.state import load_state_arrays, state_arrays
from pointad.ops import gaussian_blur
from pointad.validation import check_number, parse_bool

CURVATURE = 4  # render channel of the curvature (pointad.render.CHANNELS)
FIRST_PASS = 2 / 3  # fraction of the epochs before the attenuation is trained
GATE_LR_GAIN = 10.0  # learning rate of the attenuation MLPs alone, in units of lr
GATE_STEPS = 200  # steps of the attenuation MLPs alone, before the joint fine-tuning


def surface_of(images: torch.Tensor) -> torch.Tensor:
    """(B, H, W) bool: pixels with a unit normal (shown or hole-filled surface)."""
    return (images[:, 1:4] ** 2).sum(1) > 0.25


@register
class FADeR(DepthDetector):
    """FADeR on depth renders (see the module docstring).

    Args (besides :class:`~pointad.detectors.depth.DepthDetector`'s; there is no backbone: the
    network reconstructs the render channels):
        attenuation: train and apply the two-layer attenuation on the skip connections (False:
            the plain inpainting U-Net, for the with/without comparison).
        mask_ratio: fraction of the surface cells excised by the deterministic mask (0, 1).
        patch: mask cell side in pixels.
        mosaic: block side of the mosaic hint in pixels.
    """

    name = "fader"
    presets = PRESETS
    # Fitted: per-channel statistics of the training inputs (None: not standardised yet).
    mean_: torch.Tensor | None = None
    std_: torch.Tensor | None = None

    def __init__(self, views: int = 6, size: int = 128, epochs: int = 100, batch_size: int = 8,
                 lr: float = 1e-3, arch: str = "paper", seed: int = 0, device: str = "auto",
                 progress: bool = True, depth: str = "box", align: bool = True,
                 partial_views: int = 0, seam_guard: int = GUARD_PIXELS, rescans: int = 0,
                 object_score: str = "image", splat_tolerance: float = 0.0,
                 attenuation: bool = True, mask_ratio: float = 0.3, patch: int = 8,
                 mosaic: int = 8):
        super().__init__(views=views, size=size, epochs=epochs, batch_size=batch_size, lr=lr,
                         arch=arch, seed=seed, device=device, progress=progress, depth=depth,
                         align=align,
                         partial_views=partial_views, seam_guard=seam_guard, rescans=rescans,
                         object_score=object_score, splat_tolerance=splat_tolerance)
        factor = 2 ** (len(self.presets[self.arch]["widths"]) - 1)
        if self.size % factor:
            raise InputError(f"size ({self.size}) must be a multiple of {factor} (the U-Net's "
                             f"{len(self.presets[self.arch]['widths']) - 1} halvings)")
        self.attenuation = parse_bool(attenuation, "attenuation")
        self.mask_ratio = check_number(mask_ratio, "mask_ratio", low=0, high=1, low_open=True,
                                       high_open=True)
        self.patch = check_number(patch, "patch", low=1, high=self.size, integer=True)
        self.mosaic = check_number(mosaic, "mosaic", low=1, high=self.size, integer=True)

    # No backbone: the "features" are the render images themselves.
    def features(self, images: torch.Tensor) -> list:
        return [images.to(self._device)]

    def prepare(self, images: torch.Tensor):
        """``(target, hinted, mask)`` of (B, 5, H, W) renders: the standardised channels plus
        the surface indicator (B, 6, H, W), their hinted version and the (B, H, W) mask."""
        surface = surface_of(images)
        x = torch.cat([images, surface[:, None].to(images.dtype)], dim=1)
        if self.mean_ is not None and self.std_ is not None:
            x = (x - self.mean_) / self.std_
        mask = self.mask_of(images)
        return x, mosaic_hint(x, mask, self.mosaic), mask

    def mask_of(self, images: torch.Tensor) -> torch.Tensor:
        """The deterministic (B, H, W) excision mask of (B, 5, H, W) renders: the top
        ``mask_ratio`` of the surface cells by mean curvature."""
        return saliency_mask(images[:, CURVATURE], surface_of(images), self.mask_ratio,
                             self.patch)

    def _build(self, channels: int) -> FADeRNet:
        return FADeRNet(channels, self.presets[self.arch]["widths"],
                        attenuation=self.attenuation).to(self._device)

    def _errors(self, x: torch.Tensor, hinted: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, H, W) mean absolute reconstruction error over the channels, in chunks."""
        out = []
        with torch.no_grad():
            for i in range(0, len(x), self.batch_size):
                rec, _ = self.model_(hinted[i:i + self.batch_size], mask[i:i + self.batch_size])
                out.append((rec - x[i:i + self.batch_size]).abs().mean(1))
        return torch.cat(out)

    def _train(self, features, view_of, clouds, renders):
        images = features[0]
        self.mean_ = None
        x, _, _ = self.prepare(images)
        self.mean_, self.std_ = standardize_stats(x)
        x, hinted, mask = self.prepare(images)
        self.model_ = self._build(x.shape[1])
        opt = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        cpu_gen = torch.Generator().manual_seed(self.seed)
        first = self.epochs if not self.attenuation else max(1, round(FIRST_PASS * self.epochs))
        targets = None
        self.model_.attenuate = False
        self.model_.train()
        for epoch in self._bar(range(self.epochs), "fit", unit="epoch"):
            if self.attenuation and epoch == first:
                targets = self._fit_gates(x, hinted, mask, cpu_gen)
            for batch in self._order(len(x), cpu_gen):
                opt.zero_grad()
                rec, gates = self.model_(hinted[batch], mask[batch])
                loss = F.mse_loss(rec, x[batch])
                if targets is not None:
                    loss = loss + _gate_loss(gates, [t[batch] for t in targets])
                loss.backward()
                opt.step()
        if self.attenuation and targets is None:  # a single epoch: gates after the U-Net
            self._fit_gates(x, hinted, mask, cpu_gen)
        self.model_.attenuate = self.attenuation
        self.model_.eval()

    def _fit_gates(self, x, hinted, mask, cpu_gen) -> list:
        """FADeR's label-free attenuation step: the targets from the plain U-Net's errors on
        the training images, then ``GATE_STEPS`` Adam steps (at ``GATE_LR_GAIN * lr``) of the
        attenuation MLPs alone on the frozen encoder's skips. Returns the targets and leaves
        the attenuation switched on."""
        model = self.model_
        model.attenuate = False
        model.eval()
        errors = self._errors(x, hinted, mask)
        with torch.no_grad():
            sizes = [s.shape[-2:] for s in model.encode(hinted[:1], mask[:1])[0]]
        targets = attenuation_targets(errors, sizes)
        model.attenuate = True
        if model.gates is None:
            raise RuntimeError("fader: the gates step needs attenuation=True")
        opt = torch.optim.Adam(model.gates.parameters(), lr=GATE_LR_GAIN * self.lr)
        batches: list[list[int]] = []
        while len(batches) < GATE_STEPS:
            batches += self._order(len(x), cpu_gen)
        for batch in batches[:GATE_STEPS]:
            with torch.no_grad():
                skips, _ = model.encode(hinted[batch], mask[batch])
            opt.zero_grad()
            _gate_loss(model.attenuated(skips)[1], [t[batch] for t in targets]).backward()
            opt.step()
        model.train()
        return targets

    def _score_views(self, features, valid):
        x, hinted, mask = self.prepare(features[0])
        maps = gaussian_blur(self._errors(x, hinted, mask), 4.0 * self.size / 256)
        return maps, pooled_max(maps, valid, self.size)

    def _get_model_state(self):
        assert self.mean_ is not None and self.std_ is not None  # fitted (Detector.save checks)
        return {"mean": self.mean_.cpu().numpy(), "std": self.std_.cpu().numpy(),
                **state_arrays(self.model_, "model.")}

    def _set_model_state(self, arrays):
        mean = torch.as_tensor(arrays["mean"], device=self._device)
        self.mean_, self.std_ = mean, torch.as_tensor(arrays["std"], device=self._device)
        self.model_ = load_state_arrays(self._build(mean.shape[1]), arrays, "model.").eval()


def _gate_loss(gates: list, targets: list) -> torch.Tensor:
    """Mean over the skips of the BCE between the gates and their targets."""
    losses = [F.binary_cross_entropy(g, t) for g, t in zip(gates, targets)]
    return sum(losses[1:], losses[0]) / len(gates)
