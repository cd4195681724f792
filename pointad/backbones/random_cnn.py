"""A seeded random-weight CNN: a weight-free baseline with learned-feature-like structure."""
from __future__ import annotations

import torch
from torch import nn

from pointad.backbones.base import FeatureExtractor
from pointad.backbones.registry import BACKBONES
from pointad.validation import check_number, check_seed


@BACKBONES.register
class RandomCNN(FeatureExtractor):
    """Four stages at strides 2, 4, 8, 16 with ``width, 2 width, 4 width, 8 width`` channels.

    Each stage is a 3x3 stride-2 convolution and a 3x3 stride-1 convolution, each followed by a
    ReLU; weights are He-normal (fan-in) and biases zero, drawn from ``torch.Generator`` seeded
    with ``seed``, so the same seed gives the same network on every machine and device. The input
    is the 5 render channels centred on 0 (depth 2d - 1, normals as they are, curvature 6c - 1).
    """

    name = "random-cnn"

    def __init__(self, seed: int = 0, width: int = 16):
        super().__init__()
        check_seed(seed)
        check_number(width, "width", low=1, high=1024, integer=True)
        self.seed, self.width = seed, width
        widths = [width, 2 * width, 4 * width, 8 * width]
        stages, prev = [], 5
        for c in widths:
            stages.append(nn.Sequential(nn.Conv2d(prev, c, 3, stride=2, padding=1), nn.ReLU(),
                                        nn.Conv2d(c, c, 3, stride=1, padding=1), nn.ReLU()))
            prev = c
        self.stages = nn.ModuleList(stages)
        gen = torch.Generator().manual_seed(seed)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu",
                                        generator=gen)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self.channels, self.strides = widths, [2, 4, 8, 16]
        scale = torch.tensor([2.0, 1.0, 1.0, 1.0, 6.0]).view(1, 5, 1, 1)
        shift = torch.tensor([-1.0, 0.0, 0.0, 0.0, -1.0]).view(1, 5, 1, 1)
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)
        self.freeze()

    def _extract(self, images):
        x = images * self.scale + self.shift
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out
