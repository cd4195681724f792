"""Where torch work runs: CUDA when available, else the CPU (``device="auto"``); and
:func:`seeded`, the one way library code seeds torch's global generators."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from pointad.errors import InputError


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> ``cuda`` if ``torch.cuda.is_available()`` else ``cpu``; or a device name."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but torch.cuda.is_available() is False")
    return device


@contextmanager
def seeded(seed: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Run the block with torch's global generators seeded with ``seed`` (the CPU one and, for a
    CUDA ``device``, that device's), then restore the caller's generator states.

    For work that draws from torch's global generators and cannot take a local one
    (``nn.Module`` initialisation, dropout): the same seed gives the same draws, and the caller's
    random state is the same after the block as before it. Other draws take a local
    ``torch.Generator`` or ``numpy.random.Generator``.
    """
    device = resolve_device(device) if isinstance(device, str) else torch.device(device)
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield
