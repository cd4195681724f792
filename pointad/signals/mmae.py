"""``mmae``: the multi-scale masked autoencoder of MMAE-ECG (Zhou et al., arXiv 2502.05494), and
``mae``, the same network with the local scale off (a plain single-scale masked autoencoder).

**Tokens.** A window of ``n_segments * segment_length`` time steps (standardised per channel with
the training mean and standard deviation) is cut into ``n_segments`` non-overlapping segments;
a segment's ``segment_length * C`` values, linearly embedded, are a token. No beat detection.

**Masking** (:mod:`pointad.signals.masking`): a global mask of ``mask_ratio`` of the segments and
a local region of ``local_window`` consecutive segments masked at ``mask_ratio`` inside it; a
segment masked at either scale is hidden from the encoder.

**Network** (:class:`MMAENet`). The visible segments enter twice: every visible segment as a
*global* token with the global position embedding (learned, one per segment), and the visible
segments of the local region again as *local* tokens with a distinct learned local position
embedding (one per place in the region), so the encoder attends across the scales.
A pre-LN Transformer encoder (LN -> multi-head self-attention -> LN -> MLP, ``depth`` blocks)
reads the visible tokens only (the hidden ones are removed from every attention as keys, and their
content is zeroed before the embedding). The decoder is ONE pre-LN Transformer block over the
encoded visible tokens and a learned mask token at every hidden place, both scales, with its own
global and local position embeddings; a linear head gives each hidden token's segment.

**Loss: MSE on per-segment-normalised targets of the hidden segments only** (both scales).
Each target segment is centred and divided by its own standard deviation per channel (MAE's
``norm_pix_loss``): the loss measures the *shape* of a segment, not its level or gain, which
vary between recordings (baseline wander, electrode gain) and are not anomalies in themselves.
The variance gets a floor of ``norm_floor`` (in units of the training variance): a nearly flat
segment (the baseline between beats) would otherwise be divided by its noise and turn into noise
that no model can predict, making every normal baseline look anomalous.

**Inference: aggregation over maskings.** One masking sees only part of a signal, and a
reconstruction error depends on which neighbours were visible. Each window is scored with
``n_maskings`` maskings that cover every segment evenly
(:func:`pointad.signals.masking.covering_masks`, drawn from a generator seeded by ``seed``:
the same detector gives the same scores). In one masking a hidden step's error is its squared
error (mean over channels, averaged over its global and, inside the region, local
reconstruction); ``score_units="signal"`` (default) multiplies the normalised error by the
segment's own (floored) variance, i.e. the predicted shape is put back at the segment's scale, so
a segment that is anomalous by its amplitude (a noise burst, a bump) is not normalised away
(``"normalised"``: the training loss's units). Over the maskings that hide a step,
``aggregate="mean"`` (default) averages its errors, and ``"min"`` keeps its best reconstruction
(a normal step is reconstructed well by at least one masking that left its informative
neighbours visible, an anomalous one by none). On synthetic ECG the mean was better at the
point level for every anomaly kind (ectopic 0.79 vs 0.76, ST shift 0.70 vs 0.64, the same
network); on periodic profiles with bumps and a briefly trained network the min was (point
AUROC 0.78 vs 0.59).
Signals longer than a window are scored in windows overlapping by ``overlap`` (the last one
ending at the signal's end) and the per-step scores averaged where windows overlap; a signal
shorter than a window is padded by repeating it (``np.pad`` wrap), and the padding's scores are
dropped. The signal's score is the mean of its top ``top_fraction`` step scores (anomalies are
local: a mean over the whole signal would dilute them).

**Position embeddings** are learned, one table per scale (and per encoder / decoder), and start
from MAE's sine-cosine table (the local one continuing the global positions, so the scales
differ): with a small random start the mask tokens, which differ only by position, stay nearly
equal and training sat on a plateau for hundreds of steps.

**Training**: ``steps`` AdamW steps (5 % linear warm-up to ``lr``, then cosine decay) on batches
of ``batch_size`` windows cropped at random places of the training signals, with fresh random
masks every step, all drawn from ``seed``. CUDA when available (``device="auto"``,
:mod:`pointad.device`).
"""
from __future__ import annotations

import math

import numpy as np

from pointad.errors import InputError
from pointad.reductions import top_mean
from pointad.signals.base import SignalDetector, sliding_windows
from pointad.signals.masking import Masks, covering_masks, random_masks
from pointad.signals.registry import register
from pointad.signals.window_knn import channel_stats
from pointad.validation import check_choice, check_number, check_seed


def _torch():
    import torch
    return torch


def build_net(segment_length: int, channels: int, n_segments: int, local_window: int,
              dim: int, depth: int, heads: int, mlp_ratio: float):
    """The MMAE network (torch imported here, so listing the detectors imports no torch)."""
    import torch
    from torch import nn

    def sincos(n, width, offset=0):
        """(1, n, width) sine-cosine table of positions ``offset .. offset + n - 1``: the
        learnable position embeddings start from it (MAE's table). With a small random start
        the mask tokens, which differ only by their position, stay nearly equal after the
        decoder's LayerNorm and every hidden segment gets the same blurred reconstruction."""
        pos = torch.arange(offset, offset + n, dtype=torch.float32)[:, None]
        freq = torch.exp(-math.log(10000.0) * torch.arange(0, width, 2) / width)[None]
        table = torch.zeros(n, width)
        table[:, 0::2] = torch.sin(pos * freq)
        table[:, 1::2] = torch.cos(pos * freq)[:, :width // 2]
        return table[None]

    class Block(nn.Module):
        """Pre-LN Transformer block: x + MSA(LN(x)), then x + MLP(LN(x))."""

        def __init__(self):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim)
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
            self.norm2 = nn.LayerNorm(dim)
            hidden = int(dim * mlp_ratio)
            self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

        def forward(self, x, key_padding_mask=None):
            h = self.norm1(x)
            x = x + self.attn(h, h, h, key_padding_mask=key_padding_mask,
                              need_weights=False)[0]
            return x + self.mlp(self.norm2(x))

    class MMAENet(nn.Module):
        def __init__(self):
            super().__init__()
            p = segment_length * channels
            self.n_segments, self.local_window = n_segments, local_window
            self.embed = nn.Linear(p, dim)
            self.pos_global = nn.Parameter(sincos(n_segments, dim))
            self.pos_local = nn.Parameter(sincos(local_window, dim, n_segments))
            self.encoder = nn.ModuleList(Block() for _ in range(depth))
            self.encoder_norm = nn.LayerNorm(dim)
            self.decoder_embed = nn.Linear(dim, dim)
            self.mask_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
            self.dec_pos_global = nn.Parameter(sincos(n_segments, dim))
            self.dec_pos_local = nn.Parameter(sincos(local_window, dim, n_segments))
            self.decoder = Block()
            self.decoder_norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, p)

        def tokens(self, segments, start):
            """(B, T + delta, P) the global tokens then the local region's tokens."""
            if not self.local_window:
                return segments
            idx = start[:, None] + torch.arange(self.local_window, device=segments.device)
            local = torch.gather(segments, 1, idx[..., None].expand(-1, -1, segments.shape[2]))
            return torch.cat([segments, local], 1)

        def encode(self, segments, hidden, start, local_hidden):
            """Encoded tokens (B, T + delta, dim); rows of hidden tokens are meaningless (never
            attended to) and ``pad`` (B, T + delta) marks them."""
            pad = torch.cat([hidden, local_hidden], 1)
            x = self.tokens(segments, start) * (~pad)[..., None]
            pos = torch.cat([self.pos_global, self.pos_local], 1)
            x = self.embed(x) + pos
            for block in self.encoder:
                x = block(x, key_padding_mask=pad)
            return self.encoder_norm(x), pad

        def forward(self, segments, hidden, start, local_hidden):
            """Reconstructions (B, T + delta, P) of every token (only hidden ones are used)."""
            x, pad = self.encode(segments, hidden, start, local_hidden)
            x = torch.where(pad[..., None], self.mask_token.to(x.dtype), self.decoder_embed(x))
            x = x + torch.cat([self.dec_pos_global, self.dec_pos_local], 1)
            return self.head(self.decoder_norm(self.decoder(x)))

    return MMAENet()


def normalised_targets(tokens, segment_length: int, channels: int, floor: float,
                       with_scale: bool = False):
    """Per-segment normalised targets: each (segment, channel) centred and divided by
    ``sqrt(max(var, floor))`` (torch, any leading shape; last axis ``segment_length * C``).
    ``with_scale``: also return those variances, shape (..., 1, C)."""
    torch = _torch()
    t = tokens.reshape(*tokens.shape[:-1], segment_length, channels)
    mean = t.mean(-2, keepdim=True)
    var = torch.clamp(t.var(-2, keepdim=True, unbiased=False), min=floor)
    out = ((t - mean) / torch.sqrt(var)).reshape(tokens.shape)
    return (out, var) if with_scale else out


class MaskedSignalAutoencoder(SignalDetector):
    """The shared code of ``mmae`` and ``mae`` (``local_window=0``)."""

    def __init__(self, segment_length: int = 10, n_segments: int = 40, mask_ratio: float = 0.3,
                 local_window: int = 6, dim: int = 64, depth: int = 3, heads: int = 4,
                 mlp_ratio: float = 2.0, steps: int = 1500, batch_size: int = 32,
                 lr: float = 3e-3, weight_decay: float = 0.05, norm_floor: float = 0.1,
                 n_maskings: int = 6, aggregate: str = "mean", score_units: str = "signal",
                 overlap: float = 0.5, top_fraction: float = 0.1, seed: int = 0,
                 device: str = "auto"):
        self.segment_length = check_number(segment_length, "segment_length", low=1,
                                           integer=True)
        self.n_segments = check_number(n_segments, "n_segments", low=2, integer=True)
        self.mask_ratio = check_number(mask_ratio, "mask_ratio", low=0.05, high=0.75)
        self.local_window = check_number(local_window, "local_window", low=0,
                                         high=n_segments, integer=True)
        if self.local_window == 1:
            raise InputError("local_window must be 0 (no local scale) or at least 2, got 1")
        self.dim = check_number(dim, "dim", low=1, integer=True)
        self.depth = check_number(depth, "depth", low=1, integer=True)
        self.heads = check_number(heads, "heads", low=1, integer=True)
        if dim % heads:
            raise InputError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.mlp_ratio = check_number(mlp_ratio, "mlp_ratio", low=0, low_open=True)
        self.steps = check_number(steps, "steps", low=1, integer=True)
        self.batch_size = check_number(batch_size, "batch_size", low=1, integer=True)
        self.lr = check_number(lr, "lr", low=0, low_open=True)
        self.weight_decay = check_number(weight_decay, "weight_decay", low=0)
        self.norm_floor = check_number(norm_floor, "norm_floor", low=0, low_open=True)
        self.n_maskings = check_number(n_maskings, "n_maskings", low=1, integer=True)
        self.aggregate = check_choice(aggregate, "aggregate", ("mean", "min"))
        self.score_units = check_choice(score_units, "score_units", ("signal", "normalised"))
        self.overlap = check_number(overlap, "overlap", low=0, high=1, high_open=True)
        self.top_fraction = check_number(top_fraction, "top_fraction", low=0, high=1,
                                         low_open=True)
        self.seed = check_seed(seed)
        from pointad.device import resolve_device

        resolve_device(device)  # a bad or unavailable device: an error now, not after the fit
        self.device = device

    @property
    def min_length(self) -> int:
        return self.segment_length

    @property
    def window(self) -> int:
        """Time steps of one model window."""
        return self.segment_length * self.n_segments

    # -- helpers -----------------------------------------------------------------------------
    def _device(self):
        from pointad.device import resolve_device

        return resolve_device(self.device)

    def _padded(self, signal: np.ndarray) -> np.ndarray:
        """A (T, C) signal standardised, repeated (wrap) up to one window if shorter."""
        z = (signal - self.mean_) / self.std_
        if len(z) < self.window:
            z = np.pad(z, ((0, self.window - len(z)), (0, 0)), mode="wrap")
        return z

    def _segments(self, windows: np.ndarray):
        """(B, window, C) numpy -> (B, T, segment_length * C) float32 tensor on the device."""
        torch = _torch()
        b, _, c = windows.shape
        seg = windows.reshape(b, self.n_segments, self.segment_length * c)
        return torch.from_numpy(np.ascontiguousarray(seg, dtype=np.float32)).to(self._device())

    def _mask_tensors(self, masks: Masks):
        torch = _torch()
        dev = self._device()
        return (torch.from_numpy(masks.hidden).to(dev), torch.from_numpy(masks.start).to(dev),
                torch.from_numpy(masks.local_hidden).to(dev))

    def _build(self, channels: int):
        from pointad.device import seeded
        with seeded(self.seed, self._device()):
            net = build_net(self.segment_length, channels, self.n_segments, self.local_window,
                            self.dim, self.depth, self.heads, self.mlp_ratio)
        return net.to(self._device())

    def _errors(self, net, segments, masks: Masks, scaled: bool = False):
        """Per-token squared errors (B, T + delta, segment_length) on normalised targets and
        the (B, T + delta) bool of the tokens reconstructed (hidden ones)."""
        torch = _torch()
        hidden, start, local_hidden = self._mask_tensors(masks)
        pred = net(segments, hidden, start, local_hidden)
        tokens = net.tokens(segments, start)
        c = self.n_channels_fit
        target, var = normalised_targets(tokens, self.segment_length, c, self.norm_floor,
                                         with_scale=True)
        err = (pred - target).reshape(*pred.shape[:2], self.segment_length, c).pow(2)
        if scaled:  # back in signal units: the segment's own scale, its shape predicted
            err = err * var
        err = err.mean(-1)
        return err, torch.cat([hidden, local_hidden], 1)

    # -- hooks -------------------------------------------------------------------------------
    def _fit(self, signals: list) -> None:
        torch = _torch()
        self.n_channels_fit = signals[0].shape[1]
        self.mean_, self.std_ = channel_stats(signals)
        padded = [self._padded(s) for s in signals]
        lengths = np.array([len(s) for s in padded])
        rng = np.random.default_rng(self.seed)
        net = self._build(self.n_channels_fit)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        net.train()
        for step in range(self.steps):
            warm = min(1.0, (step + 1) / max(1, self.steps // 20))  # 5 % linear warm-up
            for group in opt.param_groups:  # then cosine decay
                group["lr"] = self.lr * warm * 0.5 * (1 + math.cos(math.pi * step / self.steps))
            which = rng.integers(0, len(padded), size=self.batch_size)
            starts = rng.integers(0, lengths[which] - self.window + 1)
            batch = np.stack([padded[i][s:s + self.window] for i, s in zip(which, starts)])
            masks = random_masks(rng, self.batch_size, self.n_segments, self.mask_ratio,
                                 self.local_window)
            err, used = self._errors(net, self._segments(batch), masks)
            loss = err.mean(-1)[used].mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        self.net_ = net
        self.final_loss_ = float(loss.detach())

    def window_scores(self, windows: np.ndarray) -> np.ndarray:
        """Per-step scores (B, window) of standardised (B, window, C) windows: in each of
        ``n_maskings`` covering maskings (the same masks for every window: drawn from ``seed``)
        a hidden step's error is its squared error averaged over its reconstructions (global,
        and local when it is hidden inside the region); the maskings that hide a step are then
        aggregated by ``aggregate`` (mean or min)."""
        torch = _torch()
        masks = covering_masks(np.random.default_rng(self.seed), self.n_maskings,
                               self.n_segments, self.mask_ratio, self.local_window)
        t, d, L = self.n_segments, self.local_window, self.segment_length
        total = np.zeros((len(windows), t, L))
        best = np.full((len(windows), t, L), np.inf)
        count = np.zeros((len(windows), t, 1))
        segments = self._segments(windows)
        with torch.no_grad():
            for k in range(self.n_maskings):
                one = Masks(*(np.repeat(a[k:k + 1], len(windows), 0) for a in
                              (masks.global_, masks.start, masks.local, masks.hidden)))
                err, used = self._errors(self.net_, segments, one,
                                         scaled=self.score_units == "signal")
                err = (err * used[..., None]).double().cpu().numpy()
                used = used.cpu().numpy()
                e, n = err[:, :t].copy(), used[:, :t].astype(float)
                if d:
                    s = int(masks.start[k])
                    e[:, s:s + d] += err[:, t:]
                    n[:, s:s + d] += used[:, t:]
                hit = n > 0
                e = e / np.maximum(n, 1)[..., None]
                total += e
                best = np.where(hit[..., None], np.minimum(best, e), best)
                count[:, :, 0] += hit
        if self.aggregate == "min":
            out = np.where(np.isfinite(best), best, 0.0)
        else:
            out = total / np.maximum(count, 1)
        return out.reshape(len(windows), t * L)

    def score_signals(self, signals: list, batch: int = 64) -> list:
        """Per-step scores ((T_i,) arrays) of validated (T_i, C) signals, their windows scored
        together in batches of ``batch`` (what :meth:`predict` does for one signal; for many
        short signals, such as the rows of a scan, one call is much faster)."""
        hop = max(1, int(round(self.window * (1 - self.overlap))))
        padded = [self._padded(s) for s in signals]
        jobs = [(i, s) for i, z in enumerate(padded)
                for s in sliding_windows(len(z), self.window, hop)]
        totals = [np.zeros(len(z)) for z in padded]
        counts = [np.zeros(len(z)) for z in padded]
        for b in range(0, len(jobs), batch):
            chunk = jobs[b:b + batch]
            ws = self.window_scores(np.stack([padded[i][s:s + self.window] for i, s in chunk]))
            for (i, s), v in zip(chunk, ws):
                totals[i][s:s + self.window] += v
                counts[i][s:s + self.window] += 1
        return [(t / c)[:len(sig)] for t, c, sig in zip(totals, counts, signals)]

    def _predict(self, signal: np.ndarray):
        point = self.score_signals([signal])[0]
        return point, top_mean(point, self.top_fraction)

    def _get_state(self) -> dict:
        state = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        return {**state, "mean_": self.mean_, "std_": self.std_}

    def _set_state(self, arrays: dict) -> None:
        torch = _torch()
        self.mean_, self.std_ = arrays["mean_"], arrays["std_"]
        self.n_channels_fit = len(self.mean_)
        net = self._build(self.n_channels_fit)
        net.load_state_dict({k[4:]: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()
                             if k.startswith("net.")})
        net.eval()
        self.net_ = net


@register
class MMAE(MaskedSignalAutoencoder):
    """The multi-scale masked autoencoder (global + local masking, ``local_window`` >= 2)."""

    name = "mmae"

    def __init__(self, segment_length: int = 10, n_segments: int = 40, mask_ratio: float = 0.3,
                 local_window: int = 6, dim: int = 64, depth: int = 3, heads: int = 4,
                 mlp_ratio: float = 2.0, steps: int = 1500, batch_size: int = 32,
                 lr: float = 3e-3, weight_decay: float = 0.05, norm_floor: float = 0.1,
                 n_maskings: int = 6, aggregate: str = "mean", score_units: str = "signal",
                 overlap: float = 0.5, top_fraction: float = 0.1, seed: int = 0,
                 device: str = "auto"):
        super().__init__(segment_length, n_segments, mask_ratio, local_window, dim, depth, heads,
                         mlp_ratio, steps, batch_size, lr, weight_decay, norm_floor, n_maskings,
                         aggregate, score_units, overlap, top_fraction, seed, device)
        if self.local_window == 0:
            raise InputError("local_window must be >= 2 for mmae (0 is the plain 'mae')")


@register
class MAE(MaskedSignalAutoencoder):
    """The plain masked autoencoder baseline: MMAE's network and training with the local scale
    off (one global random mask, one position embedding, no local tokens)."""

    name = "mae"

    def __init__(self, segment_length: int = 10, n_segments: int = 40, mask_ratio: float = 0.3,
                 dim: int = 64, depth: int = 3, heads: int = 4, mlp_ratio: float = 2.0,
                 steps: int = 1500, batch_size: int = 32, lr: float = 3e-3,
                 weight_decay: float = 0.05, norm_floor: float = 0.1, n_maskings: int = 6,
                 aggregate: str = "mean", score_units: str = "signal", overlap: float = 0.5,
                 top_fraction: float = 0.1, seed: int = 0, device: str = "auto"):
        super().__init__(segment_length, n_segments, mask_ratio, 0, dim, depth, heads,
                         mlp_ratio, steps, batch_size, lr, weight_decay, norm_floor, n_maskings,
                         aggregate, score_units, overlap, top_fraction, seed, device)
