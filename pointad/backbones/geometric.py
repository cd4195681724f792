"""Weight-free features: local statistics of the render channels at several scales."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from pointad.backbones.base import FeatureExtractor
from pointad.backbones.registry import BACKBONES
from pointad.errors import InputError

# Curvature (surface variation) lies in [0, 1/3]; x3 puts it on the scale of depth and normals.
CURVATURE_GAIN = 3.0
N_FEATURES = 11  # coverage, 5 masked means, 5 masked standard deviations


@BACKBONES.register
class GeometricExtractor(FeatureExtractor):
    """Masked local means and standard deviations of depth, normals and curvature.

    At stride ``s`` each output cell summarises the ``2s x 2s`` window centred on its ``s x s``
    block (neighbouring windows overlap by half), over the pixels that hold surface (a unit
    normal: shown or hole-filled): the fraction of the window's in-image pixels that do
    (coverage), then the mean and the (population) standard deviation of each of the 5 channels
    (curvature x3) over them; 0 for a window without surface. 11 channels per scale. Cheap,
    deterministic, no weights.
    """

    name = "geometric"

    def __init__(self, strides=(4, 8, 16)):
        super().__init__()
        strides = [int(s) for s in strides]
        if (not strides or any(s < 2 or s % 2 or strides[-1] % s for s in strides)
                or strides != sorted(set(strides))):
            raise InputError(f"geometric strides must be increasing even integers >= 2 that "
                             f"divide the largest, got {list(strides)}")
        self.strides = strides
        self.channels = [N_FEATURES] * len(strides)
        self.freeze()

    def _extract(self, images):
        b, _, h, w = images.shape
        mask = ((images[:, 1:4] ** 2).sum(1, keepdim=True) > 0.25).to(images.dtype)
        x = images.clone()
        x[:, 4] *= CURVATURE_GAIN
        inside = torch.ones_like(mask)
        out = []
        for s in self.strides:
            def windows(t):
                # (B, C, 4 s^2, L): every 2s x 2s window, zero-padded by s/2 around the image.
                cols = F.unfold(t, kernel_size=2 * s, stride=s, padding=s // 2)
                return cols.view(b, t.shape[1], 4 * s * s, -1)
            m, v = windows(mask), windows(x)
            count = m.sum(2)                                       # (B, 1, L)
            safe = count.clamp_min(1.0)
            mean = (v * m).sum(2) / safe
            # Centred before squaring: E[x^2] - E[x]^2 cancels badly in float32 (depth ~ 1).
            var = (((v - mean.unsqueeze(2)) * m) ** 2).sum(2) / safe
            coverage = count / windows(inside).sum(2)
            feats = torch.cat([coverage, mean, var.sqrt()], dim=1)
            out.append(feats.view(b, N_FEATURES, h // s, w // s))
        return out
