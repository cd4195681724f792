"""Local PCA of k-nearest-neighbour neighbourhoods: unoriented normals and surface variation.

This is the package's one local-frame computation; :func:`pointad.geometry.local_frames` adds
the orientation (toward a camera location, or consistent across the surface) on top of it. On
CPU (no grad) it is :func:`pointad.ops.frames.knn_frames`, one fused numba pass (no torch).
"""
from __future__ import annotations

import numpy as np
import torch

from pointad.errors import InputError
from pointad.ops._checks import as_cloud, positive_float, positive_int
from pointad.ops.frames import knn_frames
from pointad.ops.knn import gather_points, search

_CHUNK = 200_000  # points per covariance / eigendecomposition block (bounds the memory)


def local_pca(points: torch.Tensor, k: int = 30, *,
              radius: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit normals and surface variation of every point's ``k``-nearest-neighbour neighbourhood.

    The neighbourhood is the point itself and its ``k - 1`` nearest others (Open3D's
    ``estimate_normals`` with ``KDTreeSearchParamKNN(k)``); with ``radius`` only neighbours
    strictly within it count, at most ``k`` (Open3D's hybrid search), and a point with fewer than
    3 inside falls back to its ``k`` nearest. The neighbourhood is centred on its mean; the
    eigenvector of the smallest eigenvalue of its 3x3 scatter matrix is the normal, and that
    eigenvalue's share of the total, ``l0 / (l0 + l1 + l2)``, is the surface variation (0 on a
    plane, 1/3 for an isotropic blob).

    Args:
        points: (N, 3) or (B, N, 3) float32 or float64 tensor.
        k: neighbourhood size, ``3 <= k <= N``.
        radius: optional neighbourhood radius, > 0, in the unit of the points.

    Returns:
        normals: (..., N, 3) unit normals, unoriented (the sign is arbitrary; orient them with
            :func:`pointad.geometry.orient_normals`), dtype and device of ``points``.
        curvature: (..., N) surface variation in [0, 1/3].

    On CPU (no grad) this is :func:`knn_frames`, one fused numba pass; elsewhere, or when
    ``points`` requires grad, torch builds the scatter matrices (differentiable where the two
    smallest eigenvalues differ).
    """
    p, batched = as_cloud(points, "points")
    k = positive_int(k, "k")
    if k < 3:
        raise InputError(f"k must be >= 3 to span a plane, got {k}")
    if k > p.shape[1]:
        raise InputError(f"k={k} exceeds the number of points ({p.shape[1]})")
    if radius is not None:
        radius = positive_float(radius, "radius")
    normal_parts: list[torch.Tensor] = []
    curvature_parts: list[torch.Tensor] = []
    for cloud in p:
        if cloud.device.type == "cpu" and not cloud.requires_grad:
            frames = knn_frames(cloud.numpy().astype(np.float64), k, radius=radius)
            normal_parts.append(torch.from_numpy(frames.normals).to(p.dtype))
            curvature_parts.append(torch.from_numpy(frames.curvature).to(p.dtype))
            continue
        n_b: list[torch.Tensor] = []
        c_b: list[torch.Tensor] = []
        for start in range(0, cloud.shape[0], _CHUNK):
            block = cloud[start:start + _CHUNK]
            idx = _neighbourhoods(block, cloud, k, radius)
            cov = _scatter(cloud, idx)
            vals, vecs = torch.linalg.eigh(cov)                  # eigenvalues ascending
            vals = vals.clamp(min=0)
            total = vals.sum(-1)
            n_b.append(vecs[..., 0].to(p.dtype))
            c_b.append(torch.where(total > 0, vals[..., 0] / total.clamp(min=1e-300),
                                   torch.zeros_like(total)).to(p.dtype))
        normal_parts.append(torch.cat(n_b))
        curvature_parts.append(torch.cat(c_b))
    normals, curvature = torch.stack(normal_parts), torch.stack(curvature_parts)
    return (normals, curvature) if batched else (normals[0], curvature[0])


def _neighbourhoods(block: torch.Tensor, cloud: torch.Tensor, k: int,
                    radius: float | None) -> torch.Tensor:
    """(M, k) neighbour indices of ``block`` in ``cloud``; -1 for slots beyond ``radius``."""
    _, idx = search(block[None], cloud[None], k, ordered=False)
    idx = idx[0]
    if radius is None:
        return idx
    _, near = search(block[None], cloud[None], k, radius=radius)
    near = near[0]
    if near.device.type != "cpu":   # brute force returns any points beyond: mask by distance
        d = torch.linalg.vector_norm(gather_points(cloud[None], near.clamp(min=0)[None])[0]
                                     - block[:, None], dim=-1)
        near = near.masked_fill((d >= radius) | (near < 0), -1)
    enough = (near >= 0).sum(1) >= 3
    return torch.where(enough[:, None], near, idx)


def _scatter(cloud: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(M, 3, 3) scatter matrices of the neighbourhoods ``cloud[idx[m]]`` (-1 slots skipped)."""
    mask = (idx >= 0).unsqueeze(-1).to(cloud.dtype)
    nb = gather_points(cloud[None], idx.clamp(min=0)[None])[0] * mask      # (M, k, 3)
    mean = nb.sum(1, keepdim=True) / mask.sum(1, keepdim=True)
    centred = (nb - mean) * mask
    return centred.transpose(-1, -2) @ centred
