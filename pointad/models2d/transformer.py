"""Transformer parts shared by UniAD and OneNIP: feature jitter, the neighbour mask, the learned
2-D position embedding, post-norm attention blocks and the multi-scale neck.

Token tensors are batch-first: (B, L, C) with L = h * w tokens in row-major order.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pointad.errors import InputError


def feature_jitter(tokens: torch.Tensor, scale: float = 20.0, prob: float = 1.0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """UniAD's feature jitter: ``f + scale * (||f||_2 / C) * N(0, I)`` per token.

    Args:
        tokens: (B, L, C) features.
        scale: the jitter strength alpha (20 in UniAD).
        prob: chance that the batch is jittered at all (UniAD draws once per batch).
        generator: torch generator of the draws (seeded by the caller).

    Returns (B, L, C), a new tensor (the input is untouched).
    """
    if prob < 1.0:
        draw = torch.rand((), generator=generator, device=tokens.device)
        if float(draw) > prob:
            return tokens
    c = tokens.shape[-1]
    norms = tokens.norm(dim=-1, keepdim=True) / c
    noise = torch.randn(tokens.shape, generator=generator, device=tokens.device,
                        dtype=tokens.dtype)
    return tokens + scale * norms * noise


def auto_window(grid: tuple[int, int]) -> int:
    """The neighbour window for an (h, w) token grid: 7 at UniAD's 14 x 14, else the odd size
    nearest half the grid side (OneNIP's rule ``feature_size // 2`` made odd)."""
    return 2 * (min(grid) // 4) + 1


def neighbour_mask(grid: tuple[int, int], window: int | None = None,
                   device=None) -> torch.Tensor:
    """(L, L) bool attention mask, True = blocked: token i may not attend to the ``window`` x
    ``window`` square of tokens centred on itself (itself included), as in UniAD.

    ``window`` must be odd; None picks :func:`auto_window`. Every token keeps at least one token
    to attend to, so the window must be smaller than the longer grid side.
    """
    h, w = (int(v) for v in grid)
    window = auto_window((h, w)) if window is None else int(window)
    if window < 1 or window % 2 == 0:
        raise InputError(f"neighbour window must be a positive odd integer, got {window}")
    if window >= max(h, w):
        raise InputError(f"neighbour window {window} covers the whole {h}x{w} token grid: "
                         "use a smaller window or larger feature maps")
    r = window // 2
    rows = torch.arange(h, device=device).repeat_interleave(w)
    cols = torch.arange(w, device=device).repeat(h)
    near_rows = (rows[:, None] - rows[None, :]).abs() <= r
    return near_rows & ((cols[:, None] - cols[None, :]).abs() <= r)


class LearnedPosition2d(nn.Module):
    """Learned 2-D position embedding (DETR/UniAD style): a row and a column table of dim/2 each,
    concatenated per position. Returns (L, dim)."""

    def __init__(self, grid: tuple[int, int], dim: int):
        super().__init__()
        self.grid = (int(grid[0]), int(grid[1]))
        self.row = nn.Embedding(self.grid[0], dim // 2)
        self.col = nn.Embedding(self.grid[1], dim - dim // 2)
        nn.init.uniform_(self.row.weight)
        nn.init.uniform_(self.col.weight)

    def forward(self) -> torch.Tensor:
        h, w = self.grid
        col = self.col.weight[None, :, :].expand(h, w, -1)
        row = self.row.weight[:, None, :].expand(h, w, -1)
        return torch.cat([col, row], dim=-1).reshape(h * w, -1)


class FeedForward(nn.Module):
    """Linear -> ReLU -> dropout -> Linear."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.lin2(self.drop(F.relu(self.lin1(x))))


class PostNormAttention(nn.Module):
    """``norm(x + dropout(attn(q=x + pos_q, k=mem + pos_k, v=mem, mask)))``: one post-norm
    attention sub-block (positions added to queries and keys, not values, as in DETR/UniAD)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x, mem, pos_q, pos_k, mask):
        out = self.attn(x + pos_q, mem + pos_k, mem, attn_mask=mask, need_weights=False)[0]
        return self.norm(x + self.drop(out))


class PostNormFeedForward(nn.Module):
    """``norm(x + dropout(ffn(x)))``."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.ffn = FeedForward(dim, hidden, dropout)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        return self.norm(x + self.drop(self.ffn(x)))


class EncoderLayer(nn.Module):
    """Post-norm encoder layer: masked self-attention, then the FFN."""

    def __init__(self, dim: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.self_attn = PostNormAttention(dim, heads, dropout)
        self.ffn = PostNormFeedForward(dim, ffn, dropout)

    def forward(self, x, pos, mask):
        return self.ffn(self.self_attn(x, x, pos, pos, mask))


class MaskedTokenEncoder(nn.Module):
    """What UniAD and OneNIP share: (B, C, h, w) features as tokens of a fixed (h, w) grid,
    ``Linear(C -> hidden)`` in and ``Linear(hidden -> C)`` out, learned 2-D positions, the
    neighbour mask, the feature-jitter settings and ``enc_layers`` masked encoder layers.
    Subclasses add their decoders."""

    def __init__(self, in_channels: int, grid: tuple[int, int], *, hidden: int, heads: int,
                 ffn: int, enc_layers: int, dropout: float, window: int | None,
                 jitter_scale: float, jitter_prob: float):
        super().__init__()
        self.grid = (int(grid[0]), int(grid[1]))
        self.jitter_scale, self.jitter_prob = float(jitter_scale), float(jitter_prob)
        self.register_buffer("mask", neighbour_mask(self.grid, window), persistent=False)
        self.input_proj = nn.Linear(in_channels, hidden)
        self.output_proj = nn.Linear(hidden, in_channels)
        self.pos = LearnedPosition2d(self.grid, hidden)
        self.encoder = nn.ModuleList(EncoderLayer(hidden, heads, ffn, dropout)
                                     for _ in range(enc_layers))

    def encode(self, tokens: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """(B, L, C) tokens -> (B, L, hidden) encoder memory."""
        x = self.input_proj(tokens)
        for layer in self.encoder:
            x = layer(x, pos, self.mask)
        return x


def xavier_linears(module: nn.Module) -> None:
    """Xavier-uniform weights, zero biases for every Linear (UniAD's initialisation)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def resize_concat(features, size: tuple[int, int]) -> torch.Tensor:
    """UniAD's MFCN neck: bilinearly resize every (B, C_i, h_i, w_i) map to ``size`` (corners
    aligned, as ``UpsamplingBilinear2d``) and concatenate them: (B, sum C_i, *size)."""
    out = [f if tuple(f.shape[-2:]) == tuple(size) else
           F.interpolate(f, size=size, mode="bilinear", align_corners=True) for f in features]
    return torch.cat(out, dim=1)


def tokens_of(maps: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, h*w, C) tokens, row-major."""
    return maps.flatten(2).transpose(1, 2)


def maps_of(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, h*w, C) tokens -> (B, C, h, w)."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *grid)
