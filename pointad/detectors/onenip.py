"""``onenip``: OneNIP (Gao et al., ECCV 2024) on depth renders, trained on 3D-PNAS defects.

Each training image (a view of a training cloud) is reconstructed from the features of ONE
normal prompt image, and a synthetic-anomaly version of it is restored to its clean features
(:mod:`pointad.models2d.onenip`). Instead of OneNIP's CutPaste/DTD textures, the synthetic
anomalies are geometric: :class:`pointad.synthesis.PNAS` defects (parameters drawn per defect,
seeded) on the training cloud, rendered in the clean render's frame so the images are
pixel-aligned (and completed as the clean render is, with ``align``), with the per-point labels
mapped to pixels through ``DepthRender.index`` as the refiner's masks.

Prompt: OneNIP picks a random normal image of the same class. Here the prompt of an image is a
training image of the same view, nearest in (standardised) feature space, so in unified mode it is
of the same category and pose without being told the class; training draws among the 3 nearest
other images. Fusion statistics (max and min of the reconstruction maps) come from the training
images, not the test set. Object score: max of the average-pooled fused map over the pixels that
show the part, max over views.
"""
from __future__ import annotations

import numpy as np
import torch

from pointad.detectors.depth import GUARD_PIXELS, pooled_max, resize_nearest
from pointad.detectors.registry import register
from pointad.detectors.uniad import ReconstructionDetector
from pointad.io import CloudInput
from pointad.models2d.onenip import PRESETS, OneNIPModel, fuse
from pointad.models2d.state import load_state_arrays, state_arrays
from pointad.validation import check_number

PROMPT_POOL = 3  # training prompts are drawn among this many nearest other images


def draw_synthesizer(rng: np.random.Generator):
    """A :class:`PNAS` with drawn parameters (a localized defect of 1-5% of the points, 0.5-3% of
    the diameter high, bump or dent), so the refiner does not learn one defect shape."""
    from pointad.synthesis import PNAS
    return PNAS(fraction=float(rng.uniform(0.01, 0.05)), strength=float(rng.uniform(0.005, 0.03)),
                scale=float(rng.uniform(1.0, 4.0)), octaves=int(rng.integers(1, 7)), sign="mixed")


def pixel_masks(labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(V, H, W) float32 0/1 masks: the label of the point each pixel shows, 0 where none."""
    lab = np.asarray(labels, dtype=np.float32)
    return np.where(index >= 0, lab[np.maximum(index, 0)], 0.0).astype(np.float32)


@register
class OneNIP(ReconstructionDetector):
    """OneNIP on depth renders (see the module docstring).

    Args (besides :class:`~pointad.detectors.uniad.UniAD`'s):
        n_synthetic: PNAS defects drawn per training cloud (each rendered in all its views).
    """

    name = "onenip"
    presets = PRESETS

    def __init__(self, backbone: str = "geometric", weights=None, views: int = 6,
                 size: int = 128, epochs: int = 100, batch_size: int = 8, lr: float = 1e-4,
                 arch: str = "paper", seed: int = 0, device: str = "auto",
                 progress: bool = True, depth: str = "box", align: bool = True,
                 partial_views: int = 0, seam_guard: int = GUARD_PIXELS, rescans: int = 0,
                 object_score: str = "image", splat_tolerance: float = 0.0,
                 stride: int = 16, jitter: float = 20.0, window=None, n_synthetic: int = 4):
        super().__init__(backbone=backbone, weights=weights, views=views, size=size,
                         epochs=epochs, batch_size=batch_size, lr=lr, arch=arch, seed=seed,
                         device=device, progress=progress, depth=depth, align=align,
                         partial_views=partial_views, seam_guard=seam_guard, rescans=rescans,
                         object_score=object_score, splat_tolerance=splat_tolerance,
                         stride=stride, jitter=jitter, window=window)
        self.n_synthetic = check_number(n_synthetic, "n_synthetic", low=1, integer=True)

    def _build(self, in_channels: int) -> OneNIPModel:
        return OneNIPModel(in_channels, self.grid, **self._model_kwargs()).to(self._device)

    def _tokens(self, rendered) -> torch.Tensor:
        return self._standardize(self.neck(self.features(self.images(rendered))))

    def _synthetic(self, clouds, renders):
        """Per training image, (n_synthetic, C, h, w) tokens and (n_synthetic, size, size)
        masks of its PNAS defects."""
        rng = np.random.default_rng(self.seed)
        tokens, masks = [], []
        for cloud, clean in self._bar(list(zip(clouds, renders)), "synthesize", unit="cloud"):
            per_t, per_m = [], []
            for _ in range(self.n_synthetic):
                sample = draw_synthesizer(rng)(
                    cloud.points, seed=int(rng.integers(2**31 - 1)),
                    grid=(cloud.grid_shape, cloud.grid_index) if cloud.organized else None)
                defective = CloudInput(sample.points, cloud.grid_shape, cloud.grid_index)
                # completed as its clean render was, so only the defect tells them apart
                rendered = self.completed(self.render(defective, frame=clean.frame), defective)
                per_t.append(self._tokens(rendered))
                m = torch.from_numpy(pixel_masks(sample.labels, rendered.index))
                per_m.append(resize_nearest(m[:, None], self.size)[:, 0])
            # (n_syn, V, ...) -> per view (n_syn, ...)
            t, m = torch.stack(per_t), torch.stack(per_m)
            tokens += [t[:, v] for v in range(t.shape[1])]
            masks += [m[:, v].to(self._device) for v in range(m.shape[1])]
        return tokens, masks

    def _ranked_prompts(self, queries: torch.Tensor, views: torch.Tensor,
                        exclude: torch.Tensor | None = None) -> list:
        """For each (C, h, w) query and its view index, the bank images of the same view sorted
        by feature distance (``exclude``: each query's own bank index, skipped when others
        exist)."""
        out = []
        flat_bank = self.bank_.flatten(1)
        for i, (q, v) in enumerate(zip(queries, views.tolist())):
            cand = torch.nonzero(self.bank_view_ == v).flatten()
            if len(cand) == 0:  # a view the training never had: any image
                cand = torch.arange(len(self.bank_), device=self.bank_.device)
            if exclude is not None and len(cand) > 1:
                cand = cand[cand != exclude[i]]
            d = (flat_bank[cand] - q.flatten()).pow(2).sum(dim=1)
            out.append(cand[torch.argsort(d, stable=True)])
        return out

    def _train(self, features, view_of, clouds, renders):
        tokens = self.neck(features)
        self._init_stats(tokens)
        tokens = self._standardize(tokens)
        self.bank_, self.bank_view_ = tokens, view_of.to(self._device)
        syn_tokens, syn_masks = self._synthetic(clouds, renders)
        own = torch.arange(len(tokens), device=self._device)
        ranked = self._ranked_prompts(tokens, view_of, exclude=own)
        self.model_ = self._build(tokens.shape[1])
        cpu_gen = torch.Generator().manual_seed(self.seed + 1)

        def step_loss(batch, gen):
            pick = torch.randint(self.n_synthetic, (len(batch),), generator=cpu_gen).tolist()
            prompts = [ranked[i][int(torch.randint(min(PROMPT_POOL, len(ranked[i])), (1,),
                                                   generator=cpu_gen))] for i in batch]
            return self.model_.loss(tokens[batch],
                                    torch.stack([syn_tokens[i][s] for i, s in zip(batch, pick)]),
                                    tokens[torch.stack(prompts)],
                                    torch.stack([syn_masks[i][s] for i, s in zip(batch, pick)]),
                                    generator=gen)

        self._optimise(self.model_, len(tokens), step_loss)
        # Fusion statistics on the normal training images, each with its nearest other prompt.
        prompts = torch.stack([r[0] for r in ranked])
        rec_max, rec_min = -np.inf, np.inf
        for i in range(0, len(tokens), self.batch_size):
            rec, _ = self.model_.maps(tokens[i:i + self.batch_size],
                                      tokens[prompts[i:i + self.batch_size]],
                                      (self.size, self.size))
            rec_max, rec_min = max(rec_max, float(rec.max())), min(rec_min, float(rec.min()))
        self.rec_range_ = torch.tensor([rec_min, rec_max], dtype=torch.float64)

    def _score_views(self, features, valid):
        tokens = self._standardize(self.neck(features))
        views = torch.arange(len(tokens))
        prompts = torch.stack([r[0] for r in self._ranked_prompts(tokens, views)])
        rec, ref = self.model_.maps(tokens, self.bank_[prompts], (self.size, self.size))
        lo, hi = (float(v) for v in self.rec_range_)
        maps = fuse(rec, ref, hi, lo)
        return maps, pooled_max(maps, valid, self.size)

    def _get_model_state(self):
        return {**self._get_stats_state(), "bank": self.bank_.cpu().numpy(),
                "bank_view": self.bank_view_.cpu().numpy(),
                "rec_range": self.rec_range_.numpy(), **state_arrays(self.model_, "model.")}

    def _set_model_state(self, arrays):
        self._set_stats_state(arrays)
        self.bank_ = torch.as_tensor(arrays["bank"], device=self._device)
        self.bank_view_ = torch.as_tensor(arrays["bank_view"], device=self._device)
        self.rec_range_ = torch.as_tensor(arrays["rec_range"], dtype=torch.float64)
        self.model_ = load_state_arrays(self._build(self.mean_.shape[1]), arrays,
                                        "model.").eval()
