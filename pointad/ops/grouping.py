"""Neighbourhood coordinates gathered from index tensors (e.g. from knn or ball_query)."""
from __future__ import annotations

from typing import Any

import torch

from pointad.errors import InputError
from pointad.ops._checks import as_cloud
from pointad.ops.knn import gather_points


def _check_idx(idx: Any, n: int, batch: int, batched: bool) -> torch.Tensor:
    if not isinstance(idx, torch.Tensor):
        raise InputError(f"idx must be a torch.Tensor, got {type(idx).__name__}")
    if idx.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise InputError(f"idx must be an integer tensor, got dtype {idx.dtype}")
    want = 3 if batched else 2
    if idx.dim() != want:
        raise InputError(f"idx must have shape {'(B, M, K)' if batched else '(M, K)'} to match "
                         f"the points, got {tuple(idx.shape)}")
    idx = idx.long() if batched else idx.long().unsqueeze(0)
    if idx.shape[0] != batch:
        raise InputError(f"idx has batch size {idx.shape[0]} but points has {batch}")
    if idx.numel() and (int(idx.min()) < -1 or int(idx.max()) >= n):
        raise InputError(f"idx values must be in [-1, {n}) (-1 = padding), got "
                         f"[{int(idx.min())}, {int(idx.max())}]")
    return idx


def gather_groups(points: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinates of the points an index tensor names, with -1 as padding.

    Args:
        points: (N, 3) or (B, N, 3) float32 or float64 tensor.
        idx: (M, K) or (B, M, K) integer indices into ``points``; -1 marks an empty slot (as
            :func:`pointad.ops.ball_query` pads).

    Returns:
        groups: (..., M, K, 3) coordinates; padded slots are zeros (use :func:`group_centred` to
            have them sit at the group's centre instead). Differentiable w.r.t. ``points``.
        mask: (..., M, K) bool, True where the slot holds a point.
    """
    p, batched = as_cloud(points, "points")
    i = _check_idx(idx, p.shape[1], p.shape[0], batched)
    mask = i >= 0
    groups = gather_points(p, i.clamp(min=0))
    groups = torch.where(mask.unsqueeze(-1), groups, torch.zeros((), dtype=p.dtype,
                                                                  device=p.device))
    return (groups, mask) if batched else (groups[0], mask[0])


def group_centred(points: torch.Tensor, centres: torch.Tensor,
                  idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets of each group's points from its centre (the local frame of PointNet++-style layers).

    Args:
        points: (N, 3) or (B, N, 3) float32 or float64 tensor.
        centres: (M, 3) or (B, M, 3), one per row of ``idx`` (usually the queries that made it).
        idx: (M, K) or (B, M, K) integer indices into ``points``, -1 = padding.

    Returns:
        offsets: (..., M, K, 3) ``points[idx] - centres``; padded slots are zero, i.e. the padding
            stands for the centre itself. Differentiable w.r.t. ``points`` and ``centres``.
        mask: (..., M, K) bool, True where the slot holds a point.
    """
    p, batched = as_cloud(points, "points")
    c, c_batched = as_cloud(centres, "centres")
    if c_batched != batched or c.shape[0] != p.shape[0]:
        raise InputError(f"centres {tuple(centres.shape)} must be batched like points "
                         f"{tuple(points.shape)}")
    if c.dtype != p.dtype or c.device != p.device:
        raise InputError(f"centres ({c.dtype}, {c.device}) must match points "
                         f"({p.dtype}, {p.device})")
    i = _check_idx(idx, p.shape[1], p.shape[0], batched)
    if i.shape[1] != c.shape[1]:
        raise InputError(f"idx has {i.shape[1]} rows but there are {c.shape[1]} centres")
    mask = i >= 0
    offsets = gather_points(p, i.clamp(min=0)) - c.unsqueeze(2)
    offsets = torch.where(mask.unsqueeze(-1), offsets, torch.zeros((), dtype=p.dtype,
                                                                    device=p.device))
    return (offsets, mask) if batched else (offsets[0], mask[0])
