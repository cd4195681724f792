"""Farthest point sampling: a spread-out subset of a cloud (or of feature vectors), greedy, batched.

The same greedy k-centre selection serves PatchCore's coreset
(:func:`pointad.detectors.memory_bank.greedy_coreset` runs it on projected features).
"""
from __future__ import annotations

import numbers

import torch

from pointad.errors import InputError
from pointad.ops._checks import as_cloud, positive_int

# CUDA / dense path: the running minimum distances are scanned in blocks of this many points; the
# maximum of each block (a fast vectorized reduction) then the argmax of the block maxima and of
# one block replace a full-length argmax, ~10x slower than a max on CPU. Same result.
_SCAN_BLOCK = 1024
# CPU path: points in spatially compact blocks (Morton order) of this many; a block is only
# updated when the new sample can be nearer than its farthest point's current distance.
_PRUNE_BLOCK = 256


def farthest_point_sampling(points: torch.Tensor, n_samples: int, *,
                            start_index: int = 0) -> torch.Tensor:
    """Indices of ``n_samples`` points chosen greedily, each the farthest from those before it.

    The classic algorithm: start at ``start_index``; keep every point's squared distance to the
    nearest selected point; select the point where it is largest, the lowest index among equal
    maxima; update the distances with the new point. It selects the same points as Open3D's
    ``PointCloud.farthest_point_down_sample`` (which starts from index 0 and returns them in
    index order, not in selection order).

    On CPU, 3D points are grouped into small spatially compact blocks and a block is skipped when
    its bounding box is farther from the new sample than its farthest point is from the samples
    so far (nothing in it can change): after the first few dozen samples only a few blocks are
    touched per step. On other devices every distance is updated each step (one fused pass, no
    host synchronization). Both give the same indices.

    Args:
        points: (N, D) or (B, N, D) float32 or float64 tensor (3D points, or any feature
            vectors); every batch element starts at the same index.
        n_samples: points to select, ``1 <= n_samples <= N``.
        start_index: first selected point, ``0 <= start_index < N``.

    Returns:
        (..., n_samples) int64 indices in selection order. A cloud with fewer than ``n_samples``
        distinct points repeats indices once every distinct point is taken (distance 0 ties).
        Indices only: not differentiable.
    """
    p, batched = as_cloud(points, "points", dim=None)
    n = p.shape[1]
    n_samples = positive_int(n_samples, "n_samples")
    if n_samples > n:
        raise InputError(f"n_samples={n_samples} exceeds the number of points ({n})")
    if isinstance(start_index, bool) or not isinstance(start_index, numbers.Integral) \
            or not 0 <= start_index < n:
        raise InputError(f"start_index must be an integer in [0, {n}), got {start_index!r}")
    with torch.no_grad():
        p = p.detach()
        if p.shape[2] != 3:
            out = _fps_features(p, n_samples, int(start_index))
        elif p.device.type == "cpu":
            out = torch.stack([_fps_pruned(cloud, n_samples, int(start_index)) for cloud in p])
        else:
            out = _fps_dense(p, n_samples, int(start_index))
    return out if batched else out[0]


def _fps_features(p: torch.Tensor, n_samples: int, start: int) -> torch.Tensor:
    """(B, n_samples) indices for (B, N, D) feature vectors of any dimension: every distance
    updated every step on contiguous rows (one fused norm per step beats coordinate planes once
    D is large, and box bounds prune nothing in high dimensions)."""
    out = torch.empty((p.shape[0], n_samples), dtype=torch.int64, device=p.device)
    for b, x in enumerate(p):
        current = torch.tensor(start, device=p.device)
        nearest = torch.linalg.vector_norm(x - x[current], dim=1)
        out[b, 0] = current
        for i in range(1, n_samples):
            current = torch.argmax(nearest)      # the first (lowest) index among equal maxima
            out[b, i] = current
            torch.minimum(nearest, torch.linalg.vector_norm(x - x[current], dim=1), out=nearest)
    return out


def _fps_dense(p: torch.Tensor, n_samples: int, start: int) -> torch.Tensor:
    """(B, n_samples) indices, every distance updated every step; any device and dimension."""
    b, n, dim = p.shape
    device, dtype = p.device, p.dtype
    block = min(_SCAN_BLOCK, n)
    blocks = -(-n // block)
    padded = blocks * block
    # Coordinate planes (D, B, N'): the distance update runs on contiguous rows, in place.
    planes = torch.zeros((dim, b, padded), dtype=dtype, device=device)
    planes[:, :, :n] = p.permute(2, 0, 1)
    nearest = torch.full((b, padded), float("inf"), dtype=dtype, device=device)
    nearest[:, n:] = -float("inf")                     # padding is never the farthest
    by_block = nearest.view(b, blocks, block)
    rows = torch.arange(b, device=device)
    out = torch.empty((b, n_samples), dtype=torch.int64, device=device)
    current = torch.full((b, 1), start, dtype=torch.int64, device=device)
    for i in range(n_samples):
        out[:, i:i + 1] = current
        # Direct differences (x^2 + y^2) + z^2, not |p|^2 - 2 p.c + |c|^2: exact, so ties break
        # as in Open3D and the CPU path.
        centre = planes.gather(2, current.expand(dim, b, 1).reshape(dim, b, 1))
        torch.minimum(nearest, (planes - centre).square_().sum(0), out=nearest)
        first_block = by_block.amax(2).argmax(1)
        within = by_block[rows, first_block].argmax(1)
        current = (first_block * block + within).unsqueeze(1)
    return out


def _fps_pruned(p: torch.Tensor, n_samples: int, start: int) -> torch.Tensor:
    """(n_samples,) indices for one (N, 3) CPU cloud, updating only blocks the sample can reach.

    Besides the work saved, each step's operations are small, so they run without the thread
    pool: a long sequence of parallel regions is what makes torch slow on a busy machine.
    """
    n = p.shape[0]
    dtype = p.dtype
    block = min(_PRUNE_BLOCK, n)
    blocks = -(-n // block)
    order = torch.argsort(_morton_codes(p))
    # Pad to whole blocks with copies of the last point (no change to the bounding boxes); the
    # copies keep distance -inf, so they are never selected nor the reason to visit a block.
    order = torch.cat([order, order[-1:].expand(blocks * block - n)])
    coords = p[order].view(blocks, block, 3).transpose(1, 2).contiguous()   # (G, 3, S)
    lo, hi = coords.amin(2), coords.amax(2)                                # (G, 3) boxes
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    original = order.view(blocks, block).clone()
    original.view(-1)[n:] = n                          # never the lowest index
    nearest = torch.full((blocks, block), float("inf"), dtype=dtype)
    nearest.view(-1)[n:] = -float("inf")
    # Largest distance in each block, a hair enlarged: box and point distances round differently.
    reach_limit = torch.full((blocks,), float("inf"), dtype=dtype)
    grow = 1.0 + 16 * torch.finfo(dtype).eps
    block_max = torch.full((blocks,), float("inf"), dtype=dtype)
    block_arg = torch.zeros(blocks, dtype=torch.int64)  # lowest index attaining block_max
    big = torch.tensor(n, dtype=torch.int64)
    out = torch.empty(n_samples, dtype=torch.int64)
    current = torch.tensor([start])
    # index_select / index_copy_ rather than tensor[idx]: the advanced-indexing kernel can start
    # the thread pool even for a few blocks, which costs milliseconds on a busy machine.
    for i in range(n_samples):
        out[i] = current[0]
        c = p.index_select(0, current)                                     # (1, 3)
        gap = ((c - centre).abs_() - half).clamp_(min=0)
        reach = torch.nonzero((gap * gap).sum(1) < reach_limit).squeeze(1)
        # (x^2 + y^2) + z^2 of the direct differences, as the dense path and Open3D.
        d2 = (coords.index_select(0, reach) - c.unsqueeze(2)).square_().sum(1)
        near = torch.minimum(nearest.index_select(0, reach), d2)
        nearest.index_copy_(0, reach, near)
        top = near.amax(1)
        block_max.index_copy_(0, reach, top)
        reach_limit.index_copy_(0, reach, top * grow)
        lowest = torch.where(near == top.unsqueeze(1), original.index_select(0, reach), big)
        block_arg.index_copy_(0, reach, lowest.amin(1))
        current = torch.where(block_max == block_max.amax(), block_arg, big).amin().view(1)
    return out


def _morton_codes(p: torch.Tensor) -> torch.Tensor:
    """(N,) int64 Z-order codes of 10-bit quantized coordinates: nearby codes, nearby points."""
    lo = p.amin(0)
    span = (p.amax(0) - lo).clamp(min=torch.finfo(p.dtype).tiny)
    q = ((p - lo) / span * 1023).to(torch.int64).clamp(0, 1023)
    code = torch.zeros(p.shape[0], dtype=torch.int64)
    for axis in range(3):
        v = q[:, axis]
        v = (v | (v << 16)) & 0x030000FF
        v = (v | (v << 8)) & 0x0300F00F
        v = (v | (v << 4)) & 0x030C30C3
        v = (v | (v << 2)) & 0x09249249
        code |= v << axis
    return code
