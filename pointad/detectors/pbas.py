"""``pbas``: PBAS (Chen et al., IEEE TCSVT 2025) on depth renders.

The backbone levels at ``strides`` (PBAS: WideResNet layer2 and layer3, strides 8 and 16) are
embedded PatchCore-style (3 x 3 neighbourhoods, the coarser level resized to the finer grid,
average-pooled to ``pretrain_dim`` and ``target_dim``), then :mod:`pointad.models2d.pbas` learns
the approximate boundary (hypersphere centres per grid position, the compactness term), synthesizes
anomalous features on the hypersphere shell ``k = 0.25`` mean radii outside the normal features
(no textures) and refines the boundary with the discriminator. Adaptor: Adam (weight decay 1e-5)
at ``lr``; discriminator: AdamW at ``2 lr``. The fitted model is the one after the last epoch (PBAS
keeps the epoch with the best *test* score; that is model selection on the test set).

Anomaly map: the discriminator's patch logit (the paper's sigmoid probability, same ranking,
no saturation), bilinearly upsampled and Gaussian-smoothed (sigma 4 px at 288 px, scaled to
``size``); object score: the max patch logit before smoothing over the pixels that show the
part, max over views.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from pointad.detectors.depth import GUARD_PIXELS, DepthDetector, standardize_stats
from pointad.detectors.registry import register
from pointad.errors import InputError
from pointad.models2d.pbas import PRESETS, PBASModel, patch_embed
from pointad.models2d.state import load_state_arrays, state_arrays
from pointad.ops import gaussian_blur
from pointad.validation import check_number

PATCH = 3


@register
class PBAS(DepthDetector):
    """PBAS on depth renders (see the module docstring).

    Args (besides :class:`~pointad.detectors.depth.DepthDetector`'s):
        strides: backbone levels used, by stride (the finest sets the patch grid).
        k: the synthetic shift, in mean radii (0.25).
    """

    name = "pbas"
    presets = PRESETS
    mean_: torch.Tensor  # fitted: per-dimension statistics of the training embeddings
    std_: torch.Tensor

    def __init__(self, backbone: str = "geometric", weights=None, views: int = 6,
                 size: int = 128, epochs: int = 300, batch_size: int = 8, lr: float = 1e-4,
                 arch: str = "paper", seed: int = 0, device: str = "auto",
                 progress: bool = True, depth: str = "box", align: bool = True,
                 partial_views: int = 0, seam_guard: int = GUARD_PIXELS, rescans: int = 0,
                 object_score: str = "image", splat_tolerance: float = 0.0,
                 strides=(8, 16), k: float = 0.25):
        super().__init__(backbone=backbone, weights=weights, views=views, size=size,
                         epochs=epochs, batch_size=batch_size, lr=lr, arch=arch, seed=seed,
                         device=device, progress=progress, depth=depth, align=align,
                         partial_views=partial_views, seam_guard=seam_guard, rescans=rescans,
                         object_score=object_score, splat_tolerance=splat_tolerance)
        if not isinstance(strides, (list, tuple)) or not strides:
            raise InputError(f"strides must be a non-empty list of backbone strides, got "
                             f"{strides!r}")
        self.strides = sorted(check_number(s, "strides", low=1, integer=True) for s in strides)
        self.k = check_number(k, "k", low=0, low_open=True)

    def _levels(self, features: list) -> list:
        return self.levels(features, self.strides)

    def _raw_embed(self, features: list) -> torch.Tensor:
        """(B, L, D) PatchCore-style embedding of the selected levels."""
        p = self.presets[self.arch]
        return patch_embed(self._levels(features), PATCH, p["pretrain_dim"], p["target_dim"])

    def embed(self, features: list) -> torch.Tensor:
        """(B, L, D) PatchCore-style embedding of the selected levels, standardised per
        dimension with the training statistics (a fitted detector)."""
        return (self._raw_embed(features) - self.mean_) / self.std_

    @property
    def grid(self) -> tuple[int, int]:
        g = self.size // self.strides[0]
        return (g, g)

    def _build(self) -> PBASModel:
        p = self.presets[self.arch]
        g = self.grid
        return PBASModel(p["target_dim"], g[0] * g[1], hidden=p["hidden"],
                         k=self.k).to(self._device)

    def _train(self, features, view_of, clouds, renders):
        emb = self._raw_embed(features)
        mean, std = standardize_stats(emb.reshape(-1, emb.shape[-1], 1, 1))
        self.mean_, self.std_ = mean.reshape(1, 1, -1), std.reshape(1, 1, -1)
        emb = (emb - self.mean_) / self.std_
        self.model_ = self._build()
        cpu_gen = torch.Generator().manual_seed(self.seed)
        # ABL: centres from one pass over the (shuffled) training batches.
        self.model_.init_centres(emb[b] for b in self._order(len(emb), cpu_gen))
        opts = self.model_.optimizers(self.lr)
        self.model_.train()
        for _ in self._bar(range(self.epochs), "fit", unit="epoch"):
            for batch in self._order(len(emb), cpu_gen):
                for o in opts:
                    o.zero_grad()
                self.model_.loss(emb[batch]).backward()
                for o in opts:
                    o.step()
        self.model_.eval()

    def _score_views(self, features, valid):
        logits = self.model_.scores(self.embed(features), logits=True)
        patches = logits.reshape(-1, *self.grid)
        maps = F.interpolate(patches[:, None], size=(self.size, self.size), mode="bilinear",
                             align_corners=False)[:, 0]
        # Image score: the max patch score (before smoothing) over patches that show the part.
        shown = F.adaptive_max_pool2d(valid[:, None].float(), self.grid)[:, 0] > 0
        masked = torch.where(shown, patches, torch.full_like(patches, -torch.inf))
        best = masked.flatten(1).max(dim=1).values
        scores = torch.where(torch.isfinite(best), best, patches.flatten(1).max(dim=1).values)
        return gaussian_blur(maps, 4.0 * self.size / 288), scores

    def _get_model_state(self):
        return {"mean": self.mean_.cpu().numpy(), "std": self.std_.cpu().numpy(),
                **state_arrays(self.model_, "model.")}

    def _set_model_state(self, arrays):
        self.mean_ = torch.as_tensor(arrays["mean"], device=self._device)
        self.std_ = torch.as_tensor(arrays["std"], device=self._device)
        self.model_ = load_state_arrays(self._build(), arrays, "model.").eval()
