"""HetNet (Yu et al., IROS 2025, arXiv 2506.16050): the network and the noise module.

Only the paper's abstract is known (no code was published); what follows is our reading of it
(``shared/reference/methods2d.md`` section 3, the recipe marked [ours]):

* Teachers: two frozen extractors of different families (the detector computes their maps);
  at every scale their standardised maps are concatenated, (B, C_k, h_k, w_k), finest first.
* :class:`LocalGaussianNoise`: a multivariate Gaussian per grid location of the normal teacher
  features (the samples of a ``window`` x ``window`` neighbourhood over all training images,
  Ledoit-Wolf shrunk covariance); training noise ``eps ~ N(0, lambda^2 Sigma_loc)`` is added
  only inside random rectangles (:func:`random_masks`, 5-20% of the image).
* :class:`HetNetModel`: the adaptive local-global fusion (every scale projected to the coarsest
  grid; a local branch of two 3 x 3 convolutions and a global branch of one self-attention layer
  over all positions followed by squeeze-excitation channel attention, blended by per-location
  softmax gates from a 1 x 1 convolution), a one-class bottleneck, and a student decoder that
  goes back up the scales (bilinear upsampling, two 3 x 3 convolutions, a 1 x 1 head per scale)
  and reproduces the *clean* teacher maps from the noised ones.
* Loss: over the scales, the mean of ``1 - cos(T, S)`` per position plus the MSE (the abstract's
  distillation and reconstruction terms). Anomaly map: both terms per position, summed over the
  upsampled scales (ours: ``1 - cos`` alone ignores the magnitude, which carries the depth and
  curvature deviations of the weight-free teacher; measured on the small benchmark, P-AUROC 0.69
  with ``1 - cos`` alone against 0.92 with both).

Normalisation is GroupNorm (ours: batches of a few renders make BatchNorm's statistics noisy,
and it behaves the same in training and evaluation).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PRESETS = {
    # No published widths: "paper" is our full-size network (RD4AD-like bottleneck),
    # "small" a narrow one for CPU tests; both keep every branch, the gates and the losses.
    "paper": dict(width=128, bottleneck=256, heads=4),
    "small": dict(width=32, bottleneck=32, heads=2),
}
_EPS = 1e-8
#: Elements per chunk of the covariance estimation (locations x samples x channels).
_CHUNK = 1 << 23


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), _norm(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), _norm(cout), nn.ReLU())


# Noise ------------------------------------------------------------------------------------------
def ledoit_wolf(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Ledoit-Wolf shrunk covariances of a batch of sample sets, as scikit-learn's
    ``ledoit_wolf`` (with the mean removed): ``x`` (L, N, C) -> ``(cov (L, C, C), shrinkage
    (L,))``, ``cov = (1 - s) S + s mu I`` with ``S`` the empirical (1/N) covariance and
    ``mu = tr(S) / C``."""
    n, c = x.shape[1], x.shape[2]
    xc = x - x.mean(dim=1, keepdim=True)
    emp = xc.transpose(1, 2) @ xc / n
    mu = emp.diagonal(dim1=1, dim2=2).sum(dim=1) / c
    x2 = xc * xc
    beta_ = (x2.transpose(1, 2) @ x2).sum(dim=(1, 2))
    delta_ = (emp * emp).sum(dim=(1, 2))  # sum((X^T X)^2) / n^2
    beta = (beta_ / n - delta_) / (c * n)
    delta = (delta_ - 2 * mu * emp.diagonal(dim1=1, dim2=2).sum(dim=1) + c * mu * mu) / c
    beta = torch.minimum(beta, delta)
    shrink = torch.where(delta > 0, beta / delta.clamp(min=1e-30), torch.zeros_like(delta))
    eye = torch.eye(c, dtype=x.dtype, device=x.device)
    cov = (1 - shrink)[:, None, None] * emp + (shrink * mu)[:, None, None] * eye
    return cov, shrink


class LocalGaussianNoise(nn.Module):
    """Per-location multivariate Gaussians of normal feature maps, and masked noise from them.

    Args:
        features: (M, C, h, w) normal (training) maps of one scale.
        window: odd side of the neighbourhood whose positions (over all M maps) are a location's
            samples (ours: a few training renders alone give too few samples per location; the
            border is padded by replication).

    ``mean`` is (h * w, C), ``cov`` the Ledoit-Wolf shrunk covariances (h * w, C, C) and
    ``chol`` their Cholesky factors (a ``1e-6`` ridge keeps constant locations, e.g. background
    every render leaves empty, factorable: their noise is ~0).
    """

    chol: torch.Tensor

    def __init__(self, features: torch.Tensor, window: int = 3):
        super().__init__()
        m, c, h, w = features.shape
        self.shape = (c, h, w)
        p = window // 2
        padded = F.pad(features, (p, p, p, p), mode="replicate") if p else features
        cols = F.unfold(padded, window)  # (M, C * window^2, h * w)
        samples = cols.reshape(m, c, window * window, h * w).permute(3, 0, 2, 1)
        samples = samples.reshape(h * w, m * window * window, c)  # (L, N, C)
        step = max(1, _CHUNK // max(1, samples.shape[1] * c))
        means, covs = [], []
        for i in range(0, h * w, step):
            chunk = samples[i:i + step].double()
            means.append(chunk.mean(dim=1))
            covs.append(ledoit_wolf(chunk)[0])
        cov = torch.cat(covs)
        ridge = 1e-6 * torch.eye(c, dtype=cov.dtype, device=cov.device)
        self.register_buffer("mean", torch.cat(means).float())
        self.register_buffer("cov", cov.float())
        self.register_buffer("chol", torch.linalg.cholesky(cov + ridge).float())

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, C, h, w) zero-mean draws, ``N(0, cov)`` at every location."""
        c, h, w = self.shape
        z = torch.randn(h * w, c, n, generator=generator, device=self.chol.device)
        eps = self.chol @ z  # (L, C, n)
        return eps.permute(2, 1, 0).reshape(n, c, h, w)

    def forward(self, features: torch.Tensor, masks: torch.Tensor, scale: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """``features + scale * eps * mask``: the (B, C, h, w) maps with noise inside the
        (B, h, w) bool masks only."""
        eps = self.sample(len(features), generator)
        return features + scale * eps * masks[:, None].to(features.dtype)


def random_masks(n: int, size: int, area: tuple[float, float],
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, size, size) bool masks, one random rectangle each: its area a uniform fraction in
    ``area`` of the image, its aspect ratio log-uniform in [1/2, 2], its position uniform."""
    u = torch.rand(n, 4, generator=generator, device=generator.device if generator else None)
    u = u.cpu().double()
    frac = area[0] + (area[1] - area[0]) * u[:, 0]
    ratio = torch.exp((u[:, 1] * 2 - 1) * math.log(2))
    hs = (torch.sqrt(frac * ratio) * size).round().clamp(1, size).long()
    ws = (torch.sqrt(frac / ratio) * size).round().clamp(1, size).long()
    ys = ((size - hs + 1) * u[:, 2]).floor().long().clamp(max=size - 1)
    xs = ((size - ws + 1) * u[:, 3]).floor().long().clamp(max=size - 1)
    r = torch.arange(size)
    rows = (r[None] >= ys[:, None]) & (r[None] < (ys + hs)[:, None])
    cols = (r[None] >= xs[:, None]) & (r[None] < (xs + ws)[:, None])
    return rows[:, :, None] & cols[:, None, :]


def masks_on_grid(masks: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, H, W) pixel masks -> (B, *grid) cells at least half inside the mask."""
    cover = F.adaptive_avg_pool2d(masks[:, None].float(), grid)[:, 0]
    return cover >= 0.5


# Network ----------------------------------------------------------------------------------------
class LocalGlobalFusion(nn.Module):
    """The adaptive local-global fusion on (B, C, h, w): ``g_l * local + g_g * global`` with
    per-location softmax gates ``(g_l, g_g)`` from a 1 x 1 convolution of both branches."""

    def __init__(self, cin: int, width: int, heads: int):
        super().__init__()
        self.local = nn.Sequential(nn.Conv2d(cin, width, 3, padding=1, bias=False),
                                   _norm(width), nn.ReLU(),
                                   nn.Conv2d(width, width, 3, padding=1, bias=False),
                                   _norm(width))
        self.to_tokens = nn.Conv2d(cin, width, 1)
        self.attn_norm = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.se = nn.Sequential(nn.Linear(width, max(4, width // 4)), nn.ReLU(),
                                nn.Linear(max(4, width // 4), width), nn.Sigmoid())
        self.gate = nn.Conv2d(2 * width, 2, 1)

    def forward(self, x: torch.Tensor, return_gates: bool = False):
        b, _, h, w = x.shape
        local = self.local(x)
        t = self.to_tokens(x).flatten(2).transpose(1, 2)  # (B, hw, width)
        q = self.attn_norm(t)
        t = t + self.attn(q, q, q, need_weights=False)[0]
        t = t * self.se(t.mean(dim=1))[:, None]
        glob = t.transpose(1, 2).reshape(b, -1, h, w)
        gates = torch.softmax(self.gate(torch.cat([local, glob], dim=1)), dim=1)
        out = F.relu(gates[:, :1] * local + gates[:, 1:] * glob)
        return (out, gates) if return_gates else out


class HetNetModel(nn.Module):
    """Fusion, bottleneck and student decoder on the teachers' multi-scale maps.

    Args:
        channels: C_k of the teacher maps per scale, finest first.
        grids: (h_k, w_k) of the scales, finest first (the last is the coarsest).
        width: channels of the fusion and decoder.
        bottleneck: channels of the one-class embedding.
        heads: attention heads of the global branch (a divisor of ``width``).
    """

    def __init__(self, channels, grids, *, width: int = 128, bottleneck: int = 256,
                 heads: int = 4):
        super().__init__()
        self.channels = [int(c) for c in channels]
        self.grids = [(int(g[0]), int(g[1])) for g in grids]
        self.proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, width, 3, padding=1, bias=False), _norm(width), nn.ReLU())
            for c in self.channels)
        self.fusion = LocalGlobalFusion(width * len(self.channels), width, heads)
        self.bottleneck = nn.Sequential(nn.Conv2d(width, bottleneck, 1, bias=False),
                                        _norm(bottleneck), nn.ReLU())
        n = len(self.channels)
        self.blocks = nn.ModuleList(_conv_block(bottleneck if k == n - 1 else width, width)
                                    for k in range(n))
        self.heads = nn.ModuleList(nn.Conv2d(width, c, 1) for c in self.channels)

    def encode(self, maps: list) -> torch.Tensor:
        """The bottleneck embedding of the (noised) teacher maps at the coarsest grid."""
        coarse = self.grids[-1]
        projected = [F.adaptive_avg_pool2d(p(m), coarse) for p, m in zip(self.proj, maps)]
        return self.bottleneck(self.fusion(torch.cat(projected, dim=1)))

    def forward(self, maps: list) -> list:
        """The student's reproduction of the clean teacher maps, per scale, finest first."""
        h = self.encode(maps)
        out = [None] * len(self.channels)
        for k in reversed(range(len(self.channels))):
            if tuple(h.shape[-2:]) != self.grids[k]:
                h = F.interpolate(h, size=self.grids[k], mode="bilinear", align_corners=False)
            h = self.blocks[k](h)
            out[k] = self.heads[k](h)
        return out

    @staticmethod
    def loss(student: list, teacher: list) -> torch.Tensor:
        """Sum over scales of mean ``1 - cos`` per position plus the MSE."""
        terms = []
        for s, t in zip(student, teacher):
            terms += [(1 - F.cosine_similarity(s, t, dim=1, eps=_EPS)).mean(), F.mse_loss(s, t)]
        return sum(terms[1:], terms[0])

    @staticmethod
    def discrepancy(student: list, teacher: list, size: tuple[int, int]) -> torch.Tensor:
        """(B, *size) anomaly maps: the sum over scales of the bilinearly upsampled
        ``1 - cos(T, S)`` plus squared-error (mean over channels) maps, the loss's two terms
        per position."""
        terms = []
        for s, t in zip(student, teacher):
            d = 1 - F.cosine_similarity(s, t, dim=1, eps=_EPS) + ((s - t) ** 2).mean(dim=1)
            terms.append(F.interpolate(d[:, None], size=size, mode="bilinear",
                                       align_corners=False)[:, 0])
        return sum(terms[1:], terms[0])
