"""A small graph network on local patches that predicts, for every patch point, its offset from
the normal surface and whether it is anomalous (PO3AD's target, on patches instead of sparse
voxels so it needs no MinkowskiEngine).

Two EdgeConv layers (DGCNN: an MLP of ``[f_i, f_j - f_i]`` over the ``neighbours`` nearest
patch points, max over j) give local shape, a max-pooled patch code gives context, and a
per-point head maps ``[edge1, edge2, code]`` to 4 numbers: the offset (3, in the patch frame) and
an anomaly logit. Plain torch; runs on the device of its parameters.
"""
from __future__ import annotations

import torch
from torch import nn

from pointad.features import quadric_residuals


def _mlp(*widths: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU()]
    return nn.Sequential(*layers)


def patch_neighbours(coords: torch.Tensor, k: int) -> torch.Tensor:
    """(B, K, k) indices of the ``k`` nearest points (self included) of each patch point;
    ``coords`` (B, K, 3)."""
    d = torch.cdist(coords, coords)
    return d.topk(min(k, coords.shape[1]), dim=-1, largest=False).indices


def edge_features(feats: torch.Tensor, nbr: torch.Tensor) -> torch.Tensor:
    """(B, K, k, 2C) ``[f_i, f_j - f_i]`` for (B, K, C) ``feats`` and (B, K, k) ``nbr``."""
    b, n, _ = nbr.shape
    flat = nbr + (torch.arange(b, device=nbr.device) * n)[:, None, None]
    gathered = feats.reshape(b * n, -1)[flat]
    centre = feats[:, :, None].expand_as(gathered)
    return torch.cat([centre, gathered - centre], dim=-1)


class OffsetNet(nn.Module):
    """Patch network: (B, K, 3) patch coordinates -> (B, K, 4) = offset (3) and logit (1).

    Each point enters as its coordinates, its height above the patch's least-squares quadric
    (:func:`pointad.features.quadric_residuals`: what sticks out of the smooth surface) and
    ``extra`` per-point features (e.g. the distance to the aligned normal part).

    Args:
        width: channels of the edge layers (the patch code has 4 x width).
        neighbours: k of the EdgeConv neighbourhoods inside a patch.
        extra: number of extra per-point features given to ``forward``.
    """

    def __init__(self, width: int = 48, neighbours: int = 12, extra: int = 0) -> None:
        super().__init__()
        self.neighbours = neighbours
        self.extra = extra
        self.edge1 = _mlp(2 * (4 + extra), width, width)
        self.edge2 = _mlp(2 * width, width)
        self.code = _mlp(2 * width, 4 * width)
        self.head = nn.Sequential(_mlp(6 * width, 2 * width, width), nn.Linear(width, 4))

    def forward(self, coords: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """``coords`` (B, K, 3), ``features`` (B, K, extra) -> (B, K, 4)."""
        nbr = patch_neighbours(coords, self.neighbours)
        parts = [coords, quadric_residuals(coords)[..., None]]
        if self.extra:
            if features is None or features.shape[-1] != self.extra:
                raise ValueError(f"OffsetNet(extra={self.extra}) needs (B, K, {self.extra}) "
                                 "features")
            parts.append(features)
        x = torch.cat(parts, dim=-1)
        f1 = self.edge1(edge_features(x, nbr)).amax(dim=2)
        f2 = self.edge2(edge_features(f1, nbr)).amax(dim=2)
        local = torch.cat([f1, f2], dim=-1)
        code = self.code(local).amax(dim=1, keepdim=True).expand(-1, coords.shape[1], -1)
        return self.head(torch.cat([local, code], dim=-1))


__all__ = ["OffsetNet", "edge_features", "patch_neighbours"]
