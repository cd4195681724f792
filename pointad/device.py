"""Where torch work runs: CUDA when available, else the CPU (``device="auto"``)."""
from __future__ import annotations

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
