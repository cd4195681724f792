"""The frozen multi-scale feature extractor every 2D method builds on.

An extractor takes depth renders (:class:`pointad.render.DepthRender` images, (B, 5, H, W):
depth, nx, ny, nz, curvature) and returns one feature map per scale, (B, C_i, H // s_i,
W // s_i). It is frozen: always in eval mode, no parameter takes gradients and the forward pass
runs under ``torch.no_grad`` (not ``inference_mode``, so the features may feed trainable heads).
"""
from __future__ import annotations

from abc import ABCMeta, abstractmethod

import numpy as np
import torch
import torch.nn.functional as F

from pointad.errors import InputError

N_CHANNELS = 5  # depth, nx, ny, nz, curvature (pointad.render.CHANNELS)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_input(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) input for an ImageNet network from (B, 5, H, W) renders: depth, nx, ny, each
    mapped to [0, 1] (normals by (n + 1) / 2) and standardised with the ImageNet mean and std."""
    rgb = torch.cat([images[:, :1], (images[:, 1:3] + 1.0) * 0.5], dim=1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb - mean) / std


class FeatureExtractor(torch.nn.Module, metaclass=ABCMeta):
    """Frozen multi-scale features of depth renders.

    ``forward(images)``: (B, 5, H, W) float32 renders (a tensor on any device, or a numpy
    array) -> list of (B, C_i, H // s_i, W // s_i) float32 maps on the extractor's device, one per
    scale, finest first. Attributes ``channels`` (list of C_i) and ``strides`` (list of s_i).
    Images whose sides are not multiples of the largest stride are padded with empty pixels
    (zeros, as the renderer leaves them) and the maps cropped back to ``H // s_i``.
    Subclasses set ``name``, ``channels``, ``strides`` and implement :meth:`_extract`.
    """

    name = "base"
    _anchor: torch.Tensor

    def __init__(self):
        super().__init__()
        self.channels: list[int] = []
        self.strides: list[int] = []
        # Tracks the device through .to()/.cuda() even for extractors without parameters.
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    @abstractmethod
    def _extract(self, images: torch.Tensor) -> list:
        """Feature maps of a validated, padded (B, 5, H, W) float32 batch on the device."""

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    def freeze(self) -> FeatureExtractor:
        """Eval mode and no gradients for every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(False)
        return super().train(False)

    def train(self, mode: bool = True) -> FeatureExtractor:
        # Frozen: BatchNorm statistics and dropout never switch to training behaviour.
        return super().train(False)

    def forward(self, images) -> list:
        x = self._check(images)
        h, w = x.shape[-2:]
        step = max(self.strides)
        pad_h, pad_w = (-h) % step, (-w) % step
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        with torch.no_grad():
            maps = self._extract(x)
        return [m[:, :, : h // s, : w // s].float() for m, s in zip(maps, self.strides)]

    def _check(self, images) -> torch.Tensor:
        if isinstance(images, np.ndarray):
            images = torch.from_numpy(images)
        if not isinstance(images, torch.Tensor):
            raise InputError(f"images must be a (B, 5, H, W) tensor, got {type(images).__name__}")
        if images.ndim != 4 or images.shape[1] != N_CHANNELS:
            raise InputError(f"images must have shape (B, {N_CHANNELS}, H, W) (depth, nx, ny, nz, "
                             f"curvature), got {tuple(images.shape)}")
        if not images.is_floating_point():
            raise InputError(f"images must be floating point, got {images.dtype}")
        h, w = images.shape[-2:]
        if min(h, w) < max(self.strides) or images.shape[0] == 0:
            raise InputError(f"images of {h} x {w} pixels are too small for the {self.name} "
                             f"backbone: each side needs at least {max(self.strides)} (its largest "
                             "stride), and the batch must not be empty")
        x = images.to(self.device, torch.float32)
        if not bool(torch.isfinite(x).all()):
            raise InputError("images contain NaN or inf")
        return x

    def extra_repr(self) -> str:
        return f"channels={self.channels}, strides={self.strides}"
