"""OneNIP (Gao et al., ECCV 2024): reconstruct (normal query) and restore (synthetic anomaly)
the query image's features from ONE normal prompt image, plus a supervised refiner.

Reimplemented from the paper's description and our notes (the official code has no licence):

* Tokens: the neck's (B, C, h, w) features as h*w tokens, jittered during training (as UniAD),
  ``Linear(C -> hidden)``, plus a learned 2-D position embedding.
* Encoder: 4 post-norm layers of neighbour-masked self-attention (as UniAD), shared by the
  query, synthetic and prompt images (one batch).
* Decoder: 4 two-way layers. The prompt's tokens are the queries and the query image's tokens
  the keys: prompt -> image cross-attention, MLP, image -> prompt cross-attention, each
  post-norm and neighbour-masked; then a final prompt -> image attention and LayerNorm, and
  ``Linear(hidden -> C)`` gives the reconstruction of the query image's features. Token i of the
  output starts from the prompt's (normal) token i and reads the query image only outside i's
  neighbourhood, so a defect at i is restored, not copied.
* Losses: MSE to the *clean* query features for the normal and the synthetic stream (weight 1),
  and Dice (p = 2, smooth 1, weight 0.5) of the refiner against the synthetic masks (all zeros
  for the normal stream).
* Refiner (MaskHead): ``|rec - feat|`` -> 2 x [Conv3x3 + BN + ReLU + ConvTranspose 2x2 stride 2]
  -> Conv1x1 -> one logit at 4x the token resolution, upsampled to full size; sigmoid.
* Score: ``0.5 * rec_map + 0.5 * (max + min) / 2 * ref_map`` with the max and min of the
  reconstruction maps on *normal training* images (the official code uses the test set's).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pointad.models2d.transformer import (
    MaskedTokenEncoder,
    PostNormAttention,
    PostNormFeedForward,
    feature_jitter,
    maps_of,
    tokens_of,
    xavier_linears,
)
from pointad.models2d.uniad import upsample

PRESETS = {
    "paper": dict(hidden=256, heads=8, ffn=1024, enc_layers=4, dec_layers=4, dropout=0.1,
                  refiner_width=128),
    "small": dict(hidden=64, heads=4, ffn=128, enc_layers=4, dec_layers=4, dropout=0.1,
                  refiner_width=32),
}

DICE_WEIGHT = 0.5


class TwoWayLayer(nn.Module):
    """Prompt -> image attention, MLP (on the prompt stream), image -> prompt attention."""

    def __init__(self, dim: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.prompt_to_image = PostNormAttention(dim, heads, dropout)
        self.mlp = PostNormFeedForward(dim, ffn, dropout)
        self.image_to_prompt = PostNormAttention(dim, heads, dropout)

    def forward(self, prompt, image, pos, mask):
        prompt = self.mlp(self.prompt_to_image(prompt, image, pos, pos, mask))
        image = self.image_to_prompt(image, prompt, pos, pos, mask)
        return prompt, image


class MaskHead(nn.Module):
    """The supervised refiner: (B, C, h, w) error features -> (B, 1, 4h, 4w) logits."""

    def __init__(self, in_channels: int, width: int = 128):
        super().__init__()
        layers = []
        for c_in in (in_channels, width):
            layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True), nn.ConvTranspose2d(width, width, 2, stride=2)]
        self.body = nn.Sequential(*layers)
        self.logit = nn.Conv2d(width, 1, 1)

    def forward(self, x):
        return self.logit(self.body(x))


def dice_loss(prob: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Dice loss with squared denominators (p = 2), per image, averaged: (B, H, W) each."""
    p, g = prob.flatten(1), target.flatten(1).to(prob)
    num = 2 * (p * g).sum(1) + smooth
    den = p.pow(2).sum(1) + g.pow(2).sum(1) + smooth
    return (1 - num / den).mean()


class OneNIPModel(MaskedTokenEncoder):
    """Prompt-conditioned reconstruction/restoration network and refiner on a fixed grid.

    Args:
        in_channels: C of the neck's features.
        grid: (h, w) token grid.
        hidden, heads, ffn, enc_layers, dec_layers, dropout, refiner_width: sizes (PRESETS).
        window: odd neighbour-mask window (None: scaled to the grid, 7 at 14 x 14).
        jitter_scale, jitter_prob: feature jitter of the query/synthetic tokens in training.
    """

    def __init__(self, in_channels: int, grid: tuple[int, int], *, hidden: int = 256,
                 heads: int = 8, ffn: int = 1024, enc_layers: int = 4, dec_layers: int = 4,
                 dropout: float = 0.1, refiner_width: int = 128, window: int | None = None,
                 jitter_scale: float = 20.0, jitter_prob: float = 1.0):
        super().__init__(in_channels, grid, hidden=hidden, heads=heads, ffn=ffn,
                         enc_layers=enc_layers, dropout=dropout, window=window,
                         jitter_scale=jitter_scale, jitter_prob=jitter_prob)
        self.decoder = nn.ModuleList(TwoWayLayer(hidden, heads, ffn, dropout)
                                     for _ in range(dec_layers))
        self.final_attention = PostNormAttention(hidden, heads, dropout)
        xavier_linears(self)
        self.refiner = MaskHead(in_channels, refiner_width)

    def reconstruct(self, features: torch.Tensor, prompt: torch.Tensor, *, jitter: bool = False,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, h, w) query features and (B, C, h, w) prompt features -> (B, C, h, w)
        reconstruction of the query (jittered query tokens if ``jitter``)."""
        q, p = tokens_of(features), tokens_of(prompt)
        if jitter:
            q = feature_jitter(q, self.jitter_scale, self.jitter_prob, generator)
        pos = self.pos()[None]
        encoded = self.encode(torch.cat([q, p]), pos)  # one batch, as the paper
        image, prompt_tokens = encoded[:len(q)], encoded[len(q):]
        for layer in self.decoder:
            prompt_tokens, image = layer(prompt_tokens, image, pos, self.mask)
        out = self.final_attention(prompt_tokens, image, pos, pos, self.mask)
        return maps_of(self.output_proj(out), self.grid)

    def refine(self, rec: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Refiner logits (B, 4h, 4w) from the reconstruction error. Its input is detached, so
        the Dice term trains the refiner only (our choice; the notes leave it open)."""
        return self.refiner((rec - features).abs().detach())[:, 0]

    def loss(self, query, synthetic, prompt, masks, generator=None) -> torch.Tensor:
        """One training step: (B, C, h, w) clean query, synthetic-anomaly and prompt features and
        (B, H, W) 0/1 masks of the synthetic anomalies (any H, W; the refiner's output is
        resized to them)."""
        b = len(query)
        rec = self.reconstruct(torch.cat([query, synthetic]), torch.cat([prompt, prompt]),
                               jitter=True, generator=generator)
        mse = F.mse_loss(rec, torch.cat([query, query]))
        logits = self.refine(rec, torch.cat([query, synthetic]))
        prob = torch.sigmoid(F.interpolate(logits[:, None], size=tuple(masks.shape[-2:]),
                                           mode="bilinear", align_corners=False)[:, 0])
        target = torch.cat([torch.zeros_like(masks[:b]), masks]).to(prob)
        return mse + DICE_WEIGHT * dice_loss(prob, target)

    @torch.no_grad()
    def maps(self, features, prompt, size: tuple[int, int]):
        """``(rec_map, ref_map)``, both (B, *size): the L2 reconstruction error (upsampled,
        corners aligned) and the refiner's probability (bilinear)."""
        rec = self.reconstruct(features, prompt)
        rec_map = upsample((rec - features).pow(2).sum(dim=1).sqrt(), size)
        ref = F.interpolate(self.refine(rec, features)[:, None], size=tuple(size),
                            mode="bilinear", align_corners=False)[:, 0]
        return rec_map, torch.sigmoid(ref)


def fuse(rec_map: torch.Tensor, ref_map: torch.Tensor, rec_max: float, rec_min: float):
    """OneNIP's test-time fusion ``0.5 * rec + 0.5 * (max + min) / 2 * ref``."""
    return 0.5 * rec_map + 0.5 * (rec_max + rec_min) / 2 * ref_map
