"""Argument checks shared by the ops; each failure raises a one-line :class:`InputError`."""
from __future__ import annotations

import math
import numbers
from typing import Any

import torch

from pointad.errors import InputError


def as_cloud(x: Any, name: str, dim: int | None = 3) -> tuple[torch.Tensor, bool]:
    """Return ``x`` as a (B, N, dim) float32/float64 tensor and whether the input had a batch axis.

    Accepts (N, dim) (returned as a batch of one, a view) or (B, N, dim); ``dim=None`` accepts
    any number of coordinates (feature vectors). Non-finite coordinates are rejected: they have
    no meaningful nearest neighbour.
    """
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in (torch.float32, torch.float64):
        raise InputError(f"{name} must be a float32 or float64 tensor, got dtype {x.dtype}")
    if x.dim() not in (2, 3) or (x.shape[-1] != dim if dim is not None else x.shape[-1] < 1):
        d = "D" if dim is None else dim
        raise InputError(f"{name} must have shape (N, {d}) or (B, N, {d}), got {tuple(x.shape)}")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise InputError(f"{name} contains non-finite (NaN/inf) coordinates")
    return (x if x.dim() == 3 else x.unsqueeze(0)), x.dim() == 3


def as_cloud_pair(query: Any, points: Any, query_name: str = "query", points_name: str = "points",
                  dim: int | None = 3) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Check a query/points pair: same batchedness, batch size, coordinates, dtype and device."""
    q, q_batched = as_cloud(query, query_name, dim)
    p, p_batched = as_cloud(points, points_name, dim)
    if q.shape[-1] != p.shape[-1]:
        raise InputError(f"{query_name} has {q.shape[-1]} coordinates but {points_name} has "
                         f"{p.shape[-1]}")
    if q_batched != p_batched:
        raise InputError(f"{query_name} {tuple(query.shape)} and {points_name} "
                         f"{tuple(points.shape)} must both be batched (B, *, 3) or both unbatched")
    if q.shape[0] != p.shape[0]:
        raise InputError(f"{query_name} has batch size {q.shape[0]} but {points_name} has "
                         f"{p.shape[0]}")
    if q.dtype != p.dtype:
        raise InputError(f"{query_name} dtype {q.dtype} differs from {points_name} dtype {p.dtype}")
    if q.device != p.device:
        raise InputError(f"{query_name} is on {q.device} but {points_name} is on {p.device}")
    return q, p, p_batched


def positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int if it is an integer > 0 (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise InputError(f"{name} must be > 0, got {value}")
    return int(value)


def positive_float(value: Any, name: str) -> float:
    """Return ``value`` as a float if it is a finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    if value <= 0:
        raise InputError(f"{name} must be > 0, got {value}")
    return float(value)


def optional_chunk(value: Any, name: str = "chunk_size") -> int | None:
    """``None`` (automatic) or a positive int."""
    return None if value is None else positive_int(value, name)
