"""PBAS (Chen et al., IEEE TCSVT 2025): progressive boundary guided anomaly synthesis at the
feature level, without textures.

* Embedding (SimpleNet/PatchCore style, no parameters): every backbone level is unfolded into
  3 x 3 neighbourhoods at its own resolution, resized to the first level's grid, mean-reduced to
  ``pretrain_dim`` per level and the levels to ``target_dim``.
* Feature adaptor: one ``Linear(D -> D)`` (Xavier-normal).
* ABL, approximate boundary learning: hypersphere centres ``c`` (one per grid position, L x D)
  from one pass over the training set: the first batch's per-position mean, then each later
  batch mean aligned to the nearest centre (cosine) and blended ``c <- 0.9 c + 0.1 mean``. The
  loss term ``r_ct = mean ||f - c*||`` (c* = each feature's nearest centre, cosine) pulls normal
  features into the sphere.
* AFS, hypersphere-guided anomaly synthesis: ``f_fake = f + (f - c*) / ||f - c*|| * r_ct * k``
  (k = 0.25), detached: a shift outward along the centre -> feature ray by a fixed fraction of the
  current mean radius.
* RBO, refined boundary optimisation: ``BCE(D(f), 0) + BCE(D(f_fake), 1)``, the discriminator
  ``Linear(D -> 1024) + BN + LeakyReLU(0.2) + Linear(1024 -> 1, no bias)``.

Patch score at test time: ``sigmoid(D(adaptor(f)))``; image score: the max patch score.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PRESETS = {
    "paper": dict(pretrain_dim=1536, target_dim=1536, hidden=1024),
    "small": dict(pretrain_dim=128, target_dim=128, hidden=128),
}

_EPS = 1e-8


def patch_embed(features, patch: int = 3, pretrain_dim: int = 1536,
                target_dim: int = 1536) -> torch.Tensor:
    """PatchCore/SimpleNet embedding of a list of (B, C_i, h_i, w_i) maps.

    Each level: ``patch`` x ``patch`` neighbourhoods (stride 1, zero padding) at its own
    resolution, bilinearly resized to the first level's (h, w), each C_i * patch^2 vector
    average-pooled to ``pretrain_dim``; then the levels' vectors concatenated and pooled to
    ``target_dim``. Returns (B, h * w, target_dim).
    """
    h, w = features[0].shape[-2:]
    per_level = []
    for f in features:
        b, c, hi, wi = f.shape
        p = F.unfold(f, patch, padding=patch // 2).reshape(b, c * patch * patch, hi, wi)
        if (hi, wi) != (h, w):
            p = F.interpolate(p, size=(h, w), mode="bilinear", align_corners=False)
        p = p.flatten(2).transpose(1, 2).reshape(b * h * w, 1, -1)
        per_level.append(F.adaptive_avg_pool1d(p, pretrain_dim))
    stacked = torch.cat(per_level, dim=2)  # (B*L, 1, levels * pretrain_dim)
    return F.adaptive_avg_pool1d(stacked, target_dim).reshape(features[0].shape[0], h * w, -1)


def nearest_centre(features: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index of each (M, D) feature's nearest of the (L, D) centres by cosine similarity: (M,)."""
    sim = F.normalize(features, dim=1, eps=_EPS) @ F.normalize(centres, dim=1, eps=_EPS).T
    return sim.argmax(dim=1)


def synthesize(features: torch.Tensor, centres: torch.Tensor, k: float = 0.25):
    """Hypersphere-guided feature-level anomaly synthesis (AFS).

    Args:
        features: (M, D) adapted normal features.
        centres: (L, D) hypersphere centres.
        k: the shift as a fraction of the mean radius.

    Returns ``(fake (M, D) detached, r_ct scalar with gradient, nearest (M,) centre ids)``:
    ``fake = f + (f - c*) / ||f - c*|| * r_ct * k``, so ``||fake - c*|| = ||f - c*|| + k r_ct``.
    """
    idx = nearest_centre(features.detach(), centres)
    d = features - centres[idx]
    dist = d.norm(dim=1, keepdim=True)
    r_ct = dist.mean()
    fake = (features + d / dist.clamp(min=_EPS) * r_ct * k).detach()
    return fake, r_ct, idx


class PBASModel(nn.Module):
    """Adaptor, centres and discriminator of PBAS on (B, L, D) embedded patch features.

    Args:
        dim: D, the embedding size (``target_dim``).
        n_positions: L, grid positions (one centre each).
        hidden: discriminator width (1024).
        k: AFS shift fraction (0.25).
        momentum: ABL centre blending (0.9).
    """

    centres: torch.Tensor

    def __init__(self, dim: int, n_positions: int, *, hidden: int = 1024, k: float = 0.25,
                 momentum: float = 0.9):
        super().__init__()
        self.k, self.momentum = float(k), float(momentum)
        self.adaptor = nn.Linear(dim, dim)
        self.discriminator = nn.Sequential(
            nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1, bias=False))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self.register_buffer("centres", torch.zeros(n_positions, dim))

    @torch.no_grad()
    def init_centres(self, batches) -> torch.Tensor:
        """ABL: set the centres from an iterable of (B, L, D) embedded training batches."""
        centres = None
        for batch in batches:
            mean = self.adaptor(batch).mean(dim=0)  # (L, D) per-position mean of this batch
            if centres is None:
                centres = mean
            else:
                aligned = mean[nearest_centre(centres, mean)]
                centres = self.momentum * centres + (1 - self.momentum) * aligned
        if centres is None:
            raise ValueError("init_centres needs at least one batch")
        self.centres.copy_(centres)
        return self.centres

    def loss(self, embedded: torch.Tensor) -> torch.Tensor:
        """One training step's loss on (B, L, D) embedded normal features:
        ``r_ct + BCE(D(f), 0) + BCE(D(f_fake), 1)``."""
        f = self.adaptor(embedded.reshape(-1, embedded.shape[-1]))
        fake, r_ct, _ = synthesize(f, self.centres, self.k)
        logits = self.discriminator(torch.cat([f, fake]))[:, 0]
        target = torch.cat([torch.zeros(len(f)), torch.ones(len(fake))]).to(logits)
        return r_ct + F.binary_cross_entropy_with_logits(logits, target) * 2

    def optimizers(self, lr: float = 1e-4) -> list:
        """PBAS's optimisers: Adam (weight decay 1e-5) for the adaptor at ``lr``, AdamW for the
        discriminator at ``2 * lr``."""
        return [torch.optim.Adam(self.adaptor.parameters(), lr=lr, weight_decay=1e-5),
                torch.optim.AdamW(self.discriminator.parameters(), lr=2 * lr)]

    @torch.no_grad()
    def scores(self, embedded: torch.Tensor, *, logits: bool = False) -> torch.Tensor:
        """(B, L, D) embedded features -> (B, L) anomaly probabilities (eval mode expected), or
        the discriminator's logits (the same ranking, without float saturation)."""
        b, n, d = embedded.shape
        out = self.discriminator(self.adaptor(embedded.reshape(-1, d)))[:, 0].reshape(b, n)
        return out if logits else torch.sigmoid(out)


