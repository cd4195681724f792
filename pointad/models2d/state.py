"""A module's parameters and buffers as prefixed numpy arrays (what ``Detector.save`` stores)
and back."""
from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import nn

from pointad.errors import InputError

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def state_arrays(module: nn.Module, prefix: str) -> dict:
    """``{prefix + name: numpy array}`` for every entry of ``module.state_dict()``."""
    return {prefix + k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_state_arrays(module: ModuleT, arrays: dict, prefix: str) -> ModuleT:
    """Load the ``prefix``-ed arrays of :func:`state_arrays` into ``module`` (same shapes
    required); raise :class:`InputError` when entries are missing or do not fit."""
    state = {k[len(prefix):]: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()
             if k.startswith(prefix)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(f"saved model does not match its parameters: {exc}") from None
    return module
