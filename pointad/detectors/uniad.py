"""``uniad``: UniAD (You et al., NeurIPS 2022) on depth renders.

The backbone's maps are resized to one grid at ``stride`` and concatenated (the MFCN neck),
standardised per channel with the training statistics (ours: the depth backbones' channels have
unrelated scales), and reconstructed by the UniAD transformer (feature jitter, neighbour-masked
attention, layer-wise query decoder; :mod:`pointad.models2d.uniad`). Training: MSE, AdamW
(weight decay 1e-4), the learning rate divided by 10 after 80% of the epochs, gradient norm
clipped at 0.1. Anomaly map: L2 reconstruction error, bilinearly upsampled; object score: max of
the map after UniAD's 16/224 average pool, max over views. One model can be fitted on clouds of
many categories at once (``pnas eval --unified``), as in the paper's unified setting.
"""
from __future__ import annotations

import torch

from pointad.detectors.depth import GUARD_PIXELS, DepthDetector, pooled_max, standardize_stats
from pointad.detectors.registry import register
from pointad.errors import InputError
from pointad.models2d.state import load_state_arrays, state_arrays
from pointad.models2d.transformer import resize_concat
from pointad.models2d.uniad import PRESETS, UniADModel
from pointad.validation import check_number

CLIP_NORM = 0.1
WEIGHT_DECAY = 1e-4


class ReconstructionDetector(DepthDetector):
    """What UniAD and OneNIP share: the stride-``stride`` neck, its standardisation, the
    neighbour window and the jitter."""

    def __init__(self, backbone: str = "geometric", weights=None, views: int = 6,
                 size: int = 128, epochs: int = 100, batch_size: int = 8, lr: float = 1e-4,
                 arch: str = "paper", seed: int = 0, device: str = "auto",
                 progress: bool = True, depth: str = "box", align: bool = True,
                 partial_views: int = 0, seam_guard: int = GUARD_PIXELS, rescans: int = 0,
                 object_score: str = "image", splat_tolerance: float = 0.0,
                 stride: int = 16, jitter: float = 20.0, window=None):
        super().__init__(backbone=backbone, weights=weights, views=views, size=size,
                         epochs=epochs, batch_size=batch_size, lr=lr, arch=arch, seed=seed,
                         device=device, progress=progress, depth=depth, align=align,
                         partial_views=partial_views, seam_guard=seam_guard, rescans=rescans,
                         object_score=object_score, splat_tolerance=splat_tolerance)
        self.stride = check_number(stride, "stride", low=1, integer=True)
        if self.size % self.stride:
            raise InputError(f"size ({self.size}) must be a multiple of stride ({self.stride})")
        self.jitter = check_number(jitter, "jitter", low=0)
        self.window = None if window is None else check_number(window, "window", low=1,
                                                               integer=True)
        if self.window is not None and self.window % 2 == 0:
            raise InputError(f"window must be odd, got {window}")

    @property
    def grid(self) -> tuple[int, int]:
        g = self.size // self.stride
        return (g, g)

    def neck(self, features: list) -> torch.Tensor:
        """(B, C, h, w) concatenated backbone maps on the token grid (not standardised)."""
        return resize_concat(features, self.grid)

    def _model_kwargs(self) -> dict:
        return {**self.presets[self.arch], "window": self.window, "jitter_scale": self.jitter}

    def _init_stats(self, tokens: torch.Tensor) -> None:
        self.mean_, self.std_ = standardize_stats(tokens)

    def _standardize(self, tokens: torch.Tensor) -> torch.Tensor:
        return (tokens - self.mean_) / self.std_

    def _optimise(self, model, n_images: int, step_loss) -> None:
        """UniAD's schedule: AdamW, lr / 10 after 80% of the epochs, gradient clipping.
        ``step_loss(batch_indices, generator)`` returns one batch's loss."""
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=WEIGHT_DECAY)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, int(0.8 * self.epochs)),
                                                gamma=0.1)
        gen, cpu_gen = self._generator(), torch.Generator().manual_seed(self.seed)
        model.train()
        for _ in self._bar(range(self.epochs), "fit", unit="epoch"):
            for batch in self._order(n_images, cpu_gen):
                opt.zero_grad()
                step_loss(batch, gen).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
                opt.step()
            sched.step()
        model.eval()

    def _get_stats_state(self) -> dict:
        return {"mean": self.mean_.cpu().numpy(), "std": self.std_.cpu().numpy()}

    def _set_stats_state(self, arrays) -> None:
        self.mean_ = torch.as_tensor(arrays["mean"], device=self._device)
        self.std_ = torch.as_tensor(arrays["std"], device=self._device)


@register
class UniAD(ReconstructionDetector):
    """UniAD on depth renders (see the module docstring).

    Args (besides :class:`~pointad.detectors.depth.DepthDetector`'s):
        stride: token grid stride in pixels (16 in UniAD: 14 x 14 tokens at 224 px).
        jitter: feature-jitter scale alpha (20 in UniAD; 0 turns it off).
        window: odd neighbour-mask window in tokens (None: 7 at 14 x 14, scaled to the grid).
    """

    name = "uniad"
    presets = PRESETS

    def _build(self, in_channels: int) -> UniADModel:
        return UniADModel(in_channels, self.grid, **self._model_kwargs()).to(self._device)

    def _train(self, features, view_of, clouds, renders):
        tokens = self.neck(features)
        self._init_stats(tokens)
        tokens = self._standardize(tokens)
        self.model_ = self._build(tokens.shape[1])
        self._optimise(self.model_, len(tokens),
                       lambda batch, gen: self.model_.loss(tokens[batch], generator=gen))

    def _score_views(self, features, valid):
        tokens = self._standardize(self.neck(features))
        maps = self.model_.anomaly_map(tokens, (self.size, self.size))
        return maps, pooled_max(maps, valid, self.size)

    def _get_model_state(self):
        return {**self._get_stats_state(), **state_arrays(self.model_, "model.")}

    def _set_model_state(self, arrays):
        self._set_stats_state(arrays)
        self.model_ = load_state_arrays(self._build(self.mean_.shape[1]), arrays, "model.").eval()


__all__ = ["UniAD", "ReconstructionDetector"]
