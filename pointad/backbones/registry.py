"""The backbone names: ``available_backbones()`` and ``create_backbone(name)``.

Each extractor module registers its class in :data:`BACKBONES` (``@BACKBONES.register``, under
the class's ``name``); the built-in names map to those modules, imported on first use. A family
of architectures is registered as ``"<library>:<arch>"`` and its class takes ``library`` and
``arch``. What else a name accepts comes from its class's constructor: ``weights`` when the
constructor has it, ``seed`` when it has it (others ignore it: they are deterministic), and its
other parameters as options.
"""
from __future__ import annotations

import inspect

from pointad.device import resolve_device, seeded
from pointad.errors import InputError
from pointad.registry import Registry

BACKBONES = Registry("backbone", {
    "geometric": "pointad.backbones.geometric",
    "random-cnn": "pointad.backbones.random_cnn",
    "efficientnet-lite0": "pointad.backbones.efficientnet_lite",
    "torchvision:<arch>": "pointad.backbones.torchvision_local",
    "timm:<arch>": "pointad.backbones.torchvision_local",
})
ARCH = "<arch>"  # stands for an architecture in a family's registered name
_GIVEN = {"weights", "seed", "library", "arch"}  # constructor parameters create_backbone fills


def available_backbones() -> list[str]:
    """Backbone names :func:`create_backbone` accepts (``<arch>`` stands for an architecture)."""
    return BACKBONES.names()


def create_backbone(name: str = "geometric", *, weights=None, seed: int = 0,
                    device: str = "auto", **kw):
    """A frozen :class:`~pointad.backbones.base.FeatureExtractor` by name, on ``device``
    (``"auto"``: CUDA when available).

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
    library, _, arch = name.partition(":")
    key = f"{library}:{ARCH}" if arch else name
    if key not in BACKBONES:
        raise BACKBONES.unknown(name)
    cls = BACKBONES.get(key)
    params = inspect.signature(cls).parameters
    options = sorted(set(params) - _GIVEN)
    unknown = set(kw) - set(options)
    if unknown:
        raise InputError(f"backbone {name} has no option(s) {', '.join(sorted(unknown))}; "
                         f"its options: {', '.join(options) or 'none'}")
    if weights is not None and "weights" not in params:
        raise InputError(f"the {name} backbone takes no weights")
    given = {"weights": weights, "seed": seed, "library": library, "arch": arch}
    # Building torch modules draws default initial weights from torch's global generator (then
    # replaced by seeded or loaded ones): keep the caller's random state.
    with seeded(seed):
        extractor = cls(**{k: v for k, v in given.items() if k in params}, **kw)
    return extractor.to(dev).freeze()
