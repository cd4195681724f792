"""Local patches in a rotation-invariant frame: the input of point networks that see one
neighbourhood at a time.

A patch is the ``k`` nearest points of a centre, expressed in the principal frame of the patch
(PCA axes, largest spread first, the third axis the surface normal) with signs fixed by the third
moment along each axis, so a rigid motion of the cloud leaves a patch's coordinates unchanged
(up to the sign ties of symmetric patches). Plain torch, batched over patches, CPU or CUDA.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from pointad.ops import knn


class Patches(NamedTuple):
    """``M`` patches of ``K`` points.

    Attributes:
        index: (M, K) int64 indices of the patch points in the cloud.
        coords: (M, K, 3) patch points in the patch frame (``(p - origin) @ frame.T``), in the
            cloud's unit divided by ``scale``.
        frames: (M, 3, 3) rows = the frame's axes in cloud coordinates (right-handed).
        origins: (M, 3) the patch centroids.
        scale: the length the coordinates were divided by.
    """

    index: torch.Tensor  # type: ignore[assignment]  # a field named as tuple.index
    coords: torch.Tensor
    frames: torch.Tensor
    origins: torch.Tensor
    scale: float


def principal_frames(offsets: torch.Tensor) -> torch.Tensor:
    """(M, 3, 3) right-handed frames of (M, K, 3) centred point sets: rows are the principal
    axes, largest variance first; axes 0 and 2 point where the third moment of the coordinates
    along them is positive, axis 1 = axis 2 x axis 0."""
    cov = offsets.transpose(1, 2) @ offsets
    _, vecs = torch.linalg.eigh(cov)                  # ascending eigenvalues, columns
    axes = vecs.flip(-1).transpose(1, 2)              # rows, largest first
    proj = offsets @ axes.transpose(1, 2)             # (M, K, 3)
    skew = (proj ** 3).sum(dim=1)                     # (M, 3)
    sign = torch.where(skew < 0, -1.0, 1.0).to(axes.dtype)
    a0 = axes[:, 0] * sign[:, 0:1]
    a2 = axes[:, 2] * sign[:, 2:3]
    a1 = torch.linalg.cross(a2, a0)
    return torch.stack([a0, a1, a2], dim=1)


def local_patches(points: torch.Tensor, centres: torch.Tensor, k: int,
                  scale: float = 1.0, normals: torch.Tensor | None = None,
                  facing_cos: float = -0.5, context: int = 0, reach: int = 16,
                  generator: torch.Generator | None = None) -> Patches:
    """Patches of ``k`` points around each centre of ``points``, in their principal frame.

    A patch is the ``k - context`` nearest points of its centre (the core, in order of distance,
    the centre first) and ``context`` points drawn at random from the ``reach * k`` nearest (the
    surroundings at a lower density: a wider view of the surface for the same number of points).

    Args:
        points: (N, 3) float tensor.
        centres: (M,) int64 indices of the patch centres in ``points``.
        k: points per patch (at most N).
        scale: coordinates are divided by this length (> 0).
        normals: (N, 3) oriented unit normals; when given, a patch takes only points whose normal
            is within ``arccos(facing_cos)`` of the centre's (default 120 degrees), so a patch on
            a thin wall or a fin does not reach round to its back face (facing-away points fill
            a patch only when too few of the nearest ones face the centre's way).
        context: how many of the ``k`` points are drawn from the wider neighbourhood (0: plain
            kNN patches).
        reach: the wider neighbourhood holds the ``reach * k`` nearest points (>= 1).
        generator: draws the context points (a fixed seed gives the same patches).
    """
    k = min(int(k), points.shape[0])
    context = min(max(int(context), 0), k - 1)
    core = k - context
    pool = min(points.shape[0], max(3 * k, reach * k if context else 3 * k))
    if normals is None and not context:
        _, index = knn(points[centres], points, k)
    else:
        dist, near = knn(points[centres], points, pool)
        big = dist.amax() + 1.0
        key = dist.clone()
        if normals is not None:
            key += ((normals[near] * normals[centres][:, None]).sum(-1) <= facing_cos) * big
        order = key.argsort(dim=1, stable=True)
        index = torch.gather(near, 1, order[:, :core])
        if context:
            rest = order[:, core:]
            # Random among the facing points of the wider neighbourhood: facing-away ones last.
            noise = torch.rand(rest.shape, generator=generator, dtype=dist.dtype).to(dist.device)
            pick = (noise + (torch.gather(key, 1, rest) >= big)).topk(
                context, dim=1, largest=False).indices
            index = torch.cat([index, torch.gather(near, 1, torch.gather(rest, 1, pick))], 1)
    members = points[index]                           # (M, K, 3)
    origins = members.mean(dim=1)
    offsets = members - origins[:, None]
    frames = principal_frames(offsets)
    coords = (offsets @ frames.transpose(1, 2)) / scale
    return Patches(index=index, coords=coords, frames=frames, origins=origins, scale=float(scale))


def quadric_residuals(coords: torch.Tensor, ridge: float = 1e-6) -> torch.Tensor:
    """(M, K) height of each point of (M, K, 3) patch ``coords`` above the least-squares
    quadric ``z = a x^2 + b xy + c y^2 + d x + e y + f`` of its patch (third coordinate along the
    patch normal): how far a point sits off the smooth surface through its neighbours.
    ``ridge`` regularizes the normal equations of degenerate patches."""
    x, y, z = coords.unbind(-1)
    design = torch.stack([x * x, x * y, y * y, x, y, torch.ones_like(x)], dim=-1)  # (M, K, 6)
    gram = design.transpose(1, 2) @ design
    gram = gram + ridge * torch.eye(6, dtype=gram.dtype, device=gram.device)
    coef = torch.linalg.solve(gram, design.transpose(1, 2) @ z[..., None])          # (M, 6, 1)
    return z - (design @ coef)[..., 0]


__all__ = ["Patches", "local_patches", "principal_frames", "quadric_residuals"]
