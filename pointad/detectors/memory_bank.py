"""PatchCore's memory bank in torch: greedy coreset subsampling, chunked 1-NN scoring and the
object-score reweighting (Roth et al. 2022), on CPU or CUDA.

Memory stays bounded: the coreset caps the bank (``max_size``), and the nearest-neighbour search
(:func:`pointad.ops.knn`, brute force on feature vectors) works in query chunks of bounded size.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from pointad.detectors.base import Detector, partial_cuts
from pointad.device import resolve_device
from pointad.errors import InputError
from pointad.io import CloudInput
from pointad.ops import farthest_point_sampling, knn
from pointad.params import ParamsMixin
from pointad.validation import check_number, check_seed


def random_projection(dim_in: int, dim_out: int, seed: int, device=None) -> torch.Tensor:
    """(dim_in, dim_out) Gaussian random projection scaled to preserve distances on average."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(dim_in, dim_out, generator=gen) / math.sqrt(dim_out)).to(device)


def greedy_coreset(features: torch.Tensor, n_select: int, *, projection_dim: int = 128,
                   seed: int = 0, start: int = 0) -> torch.Tensor:
    """Indices (n_select,) of a greedy k-centre coreset of (M, D) ``features``.

    Each step adds the feature farthest from the ones chosen so far (starting at ``start``): the
    farthest point sampling of :func:`pointad.ops.farthest_point_sampling`, on a random projection
    to ``projection_dim`` dimensions when D is larger, as PatchCore does.
    """
    m = features.shape[0]
    if n_select >= m:
        return torch.arange(m, device=features.device)
    x = features.float()
    if x.shape[1] > projection_dim:
        x = x @ random_projection(x.shape[1], projection_dim, seed, x.device)
    return farthest_point_sampling(x, n_select, start_index=start)


class MemoryBank(ParamsMixin):
    """A bank of normal features with PatchCore scoring; ``get_state``/``set_state`` save and
    restore the fitted bank as numpy arrays.

    Args:
        coreset_ratio: fraction of the training features kept by the greedy coreset (0, 1].
        max_size: upper bound on the bank size (memory: max_size x D float32).
        projection_dim: dimension of the random projection used by the coreset selection.
        n_reweight: neighbourhood size of PatchCore's object-score reweighting (0 = off).
        seed: seed of the projection.
    """

    def __init__(self, coreset_ratio: float = 0.1, max_size: int = 50_000,
                 projection_dim: int = 128, n_reweight: int = 3, seed: int = 0):
        self.coreset_ratio = check_number(coreset_ratio, "coreset_ratio", low=0, high=1,
                                          low_open=True)
        self.max_size = check_number(max_size, "max_size", low=1, integer=True)
        self.projection_dim = check_number(projection_dim, "projection_dim", low=1, integer=True)
        self.n_reweight = check_number(n_reweight, "n_reweight", low=0, integer=True)
        self.seed = check_seed(seed)
        self.bank: torch.Tensor | None = None

    def fit(self, features: torch.Tensor) -> MemoryBank:
        """Keep a coreset of (M, D) normal ``features``."""
        n = min(self.max_size, max(1, int(math.ceil(self.coreset_ratio * features.shape[0]))))
        keep = greedy_coreset(features, n, projection_dim=self.projection_dim, seed=self.seed)
        self.bank = features[keep].float().contiguous()
        return self

    def fitted_bank(self) -> torch.Tensor:
        """The (B, D) bank; :class:`InputError` before :meth:`fit` or :meth:`set_state`."""
        if self.bank is None:
            raise InputError("the memory bank is not fitted: call fit() or set_state() first")
        return self.bank

    def patch_scores(self, features: torch.Tensor):
        """1-NN distance (M,) of each feature to the bank, and the bank index of that neighbour."""
        dist, idx = knn(features.float(), self.fitted_bank(), 1)
        return dist[:, 0], idx[:, 0]

    def object_score(self, features: torch.Tensor, scores: torch.Tensor,
                     nearest: torch.Tensor) -> float:
        """PatchCore's reweighted maximum: ``w * s*`` with
        ``w = 1 - exp(s*/sqrt(D)) / sum_j exp(|m_test - m_j| / sqrt(D))`` over the ``n_reweight``
        bank features nearest to m* (m* itself excluded), so a maximum that sits in a sparse part
        of the bank counts less."""
        best = int(torch.argmax(scores))
        s_star = scores[best]
        bank = self.fitted_bank()
        if self.n_reweight < 2 or bank.shape[0] < 2:
            return float(s_star)
        m_star = bank[nearest[best]][None]
        _, support = knn(m_star, bank, min(self.n_reweight, bank.shape[0]))
        support = support[0, 1:]  # drop m* itself
        d = torch.linalg.vector_norm(bank[support] - features[best].float(), dim=1)
        scale = math.sqrt(features.shape[1])
        weight = 1.0 - torch.exp(s_star / scale) / torch.exp(d / scale).sum()
        return float(weight * s_star)

    def get_state(self) -> dict:
        """The fitted bank as named numpy arrays (what :meth:`set_state` takes)."""
        return {"bank": self.fitted_bank().detach().cpu().numpy()}

    def set_state(self, arrays: dict, device=None) -> MemoryBank:
        """Restore the bank from :meth:`get_state`'s arrays (on ``device``)."""
        self.bank = torch.as_tensor(np.asarray(arrays["bank"]), dtype=torch.float32,
                                    device=device)
        return self


class BankDetector(Detector):
    """Base of the detectors that score groups of point features against a PatchCore bank
    (``btf``, ``patchcore-ms``, ``pnas-refiner``): the settings they share, validated in one
    place, and the bank they build (``memory_`` once fitted). Not registered itself."""

    n_reweight = 0  # PatchCore's object-score reweighting; a subclass that uses it sets it

    def _set_bank_params(self, n_groups: int, group_size: int, coreset_ratio: float,
                         max_bank: int, seed: int, device: str, partial_views: int = 0) -> None:
        """Validate and store the shared constructor parameters (call from ``__init__``)."""
        self.partial_views = check_number(partial_views, "partial_views", low=0, integer=True)
        self.n_groups = check_number(n_groups, "n_groups", low=1, integer=True)
        self.group_size = check_number(group_size, "group_size", low=1, integer=True)
        self.coreset_ratio = check_number(coreset_ratio, "coreset_ratio", low=0, high=1,
                                          low_open=True)
        self.max_bank = check_number(max_bank, "max_bank", low=1, integer=True)
        self.seed = check_seed(seed)
        self.device = device
        self._device = resolve_device(device)

    def _partial_views(self, clouds) -> list[CloudInput]:
        """``partial_views`` single-view cuts of every unorganized training cloud
        (:func:`pointad.detectors.base.partial_cuts`): the bank then also holds what a partial
        test scan shows of the part (one face of a thin wall, not both)."""
        return partial_cuts(clouds, self.partial_views, self.seed, self.group_size)

    def _memory_bank(self) -> MemoryBank:
        """An empty bank with this detector's settings."""
        return MemoryBank(coreset_ratio=self.coreset_ratio, max_size=self.max_bank,
                          n_reweight=self.n_reweight, seed=self.seed)
