"""UniAD (You et al., NeurIPS 2022): feature reconstruction with a transformer whose attention
may not look at a token's own neighbourhood, and whose decoder layers own learned queries.

Input: (B, C, h, w) frozen-backbone features already brought to one grid (the MFCN neck,
:func:`pointad.models2d.transformer.resize_concat`). Training jitters the C-dim tokens
(``f + 20 * ||f|| / C * N(0, I)``), projects them to ``hidden``, encodes them with neighbour-masked
self-attention (4 post-norm layers) and decodes with 4 layer-wise-query layers (learned query ->
encoder memory; then -> the previous layer's output; FFN), LayerNorm, ``Linear(hidden -> C)``.
Loss: MSE to the clean features. Anomaly map: the L2 norm of the reconstruction error over
channels, bilinearly upsampled.
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

# UniAD's config (hidden 256, 8 heads, FFN 1024, 4 + 4 layers, dropout 0.1) and a narrow variant
# for CPU tests; both keep the layer counts and the masks.
PRESETS = {
    "paper": dict(hidden=256, heads=8, ffn=1024, enc_layers=4, dec_layers=4, dropout=0.1),
    "small": dict(hidden=64, heads=4, ffn=128, enc_layers=4, dec_layers=4, dropout=0.1),
}


class QueryDecoderLayer(nn.Module):
    """UniAD's layer-wise query decoder layer: its own learned query (L, hidden) attends to the
    encoder memory, the result attends to the previous layer's output, then the FFN; each
    sub-block post-norm, neighbour mask on both attentions."""

    def __init__(self, n_tokens: int, dim: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.query = nn.Embedding(n_tokens, dim)
        self.to_memory = PostNormAttention(dim, heads, dropout)
        self.to_previous = PostNormAttention(dim, heads, dropout)
        self.ffn = PostNormFeedForward(dim, ffn, dropout)

    def forward(self, previous, memory, pos, mask):
        q = self.query.weight[None].expand(memory.shape[0], -1, -1)
        x = self.to_memory(q, memory, pos, pos, mask)
        x = self.to_previous(x, previous, pos, pos, mask)
        return self.ffn(x)


class UniADModel(MaskedTokenEncoder):
    """The UniAD reconstruction network on a fixed token grid.

    Args:
        in_channels: C of the neck's features (272 with EfficientNet-B4 stages 1-4).
        grid: (h, w) token grid (14 x 14 at 224 px and stride 16).
        hidden, heads, ffn, enc_layers, dec_layers, dropout: transformer sizes (see PRESETS).
        window: odd neighbour-mask window (None: 7 at 14 x 14, scaled for other grids).
        jitter_scale, jitter_prob: the feature jitter (20, 1.0 in UniAD).
    """

    def __init__(self, in_channels: int, grid: tuple[int, int], *, hidden: int = 256,
                 heads: int = 8, ffn: int = 1024, enc_layers: int = 4, dec_layers: int = 4,
                 dropout: float = 0.1, window: int | None = None, jitter_scale: float = 20.0,
                 jitter_prob: float = 1.0):
        super().__init__(in_channels, grid, hidden=hidden, heads=heads, ffn=ffn,
                         enc_layers=enc_layers, dropout=dropout, window=window,
                         jitter_scale=jitter_scale, jitter_prob=jitter_prob)
        n_tokens = self.grid[0] * self.grid[1]
        self.decoder = nn.ModuleList(QueryDecoderLayer(n_tokens, hidden, heads, ffn, dropout)
                                     for _ in range(dec_layers))
        self.decoder_norm = nn.LayerNorm(hidden)
        xavier_linears(self)

    def forward(self, features: torch.Tensor, *, jitter: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, h, w) features -> (B, C, h, w) reconstruction (jittered input if ``jitter``)."""
        tokens = tokens_of(features)
        if jitter:
            tokens = feature_jitter(tokens, self.jitter_scale, self.jitter_prob, generator)
        pos = self.pos()[None]
        memory = out = self.encode(tokens, pos)
        for layer in self.decoder:
            out = layer(out, memory, pos, self.mask)
        rec = self.output_proj(self.decoder_norm(out))
        return maps_of(rec, self.grid)

    def loss(self, features: torch.Tensor, generator: torch.Generator | None = None):
        """Training loss of one batch: MSE between the reconstruction of the jittered features
        and the clean features."""
        return F.mse_loss(self(features, jitter=True, generator=generator), features)

    @torch.no_grad()
    def anomaly_map(self, features: torch.Tensor, size: tuple[int, int] | None = None):
        """(B, h, w) L2 reconstruction error over channels, or (B, *size) upsampled bilinearly
        (corners aligned, as UniAD's ``UpsamplingBilinear2d``)."""
        err = (self(features) - features).pow(2).sum(dim=1).sqrt()
        return upsample(err, size)


def upsample(maps: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """(B, h, w) -> (B, *size) bilinear, corners aligned; unchanged when size is None."""
    if size is None or tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=tuple(size), mode="bilinear",
                         align_corners=True)[:, 0]


def image_score(maps: torch.Tensor, kernel: int) -> torch.Tensor:
    """UniAD's image score: max of the map after a ``kernel`` x ``kernel`` average pool, stride 1
    (16 at 224 px). (B, H, W) -> (B,)."""
    k = max(1, min(int(kernel), maps.shape[-1], maps.shape[-2]))
    return F.avg_pool2d(maps[:, None], k, stride=1).flatten(1).max(dim=1).values
