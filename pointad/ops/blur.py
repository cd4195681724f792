"""Gaussian blur of score maps (the smoothing PatchCore-style detectors apply to anomaly maps)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from pointad.errors import InputError


def gaussian_blur(maps: torch.Tensor, sigma: float, *, truncate: float = 4.0) -> torch.Tensor:
    """``maps`` (..., H, W) blurred by a separable Gaussian of std ``sigma`` pixels.

    The kernel is cut at ``truncate`` standard deviations (radius ``int(truncate * sigma + 0.5)``,
    at least 1, as ``scipy.ndimage.gaussian_filter``) and normalised; borders are padded by
    reflection. A map narrower than the kernel keeps the central taps it can reflect, renormalised.
    Returns a tensor of the input's shape, dtype and device; ``sigma <= 0`` returns ``maps``.
    """
    if not isinstance(maps, torch.Tensor) or maps.dim() < 2:
        raise InputError("maps must be a tensor of shape (..., H, W)")
    if sigma <= 0:
        return maps
    r = max(1, int(truncate * sigma + 0.5))
    x = torch.arange(-r, r + 1, dtype=maps.dtype, device=maps.device)
    kern = torch.exp(-0.5 * (x / sigma) ** 2)
    h, w = maps.shape[-2:]
    out = maps.reshape(-1, 1, h, w)
    pad_h, pad_w = min(r, h - 1), min(r, w - 1)
    out = F.pad(out, (pad_w, pad_w, 0, 0), mode="reflect") if pad_w else out
    out = F.conv2d(out, _taps(kern, r, pad_w).reshape(1, 1, 1, -1))
    out = F.pad(out, (0, 0, pad_h, pad_h), mode="reflect") if pad_h else out
    out = F.conv2d(out, _taps(kern, r, pad_h).reshape(1, 1, -1, 1))
    return out.reshape(maps.shape)


def _taps(kern: torch.Tensor, r: int, pad: int) -> torch.Tensor:
    """The central ``2 * pad + 1`` taps of a radius-``r`` kernel, normalised to sum 1."""
    k = kern[r - pad:r + pad + 1]
    return k / k.sum()
