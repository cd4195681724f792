"""On-the-fly augmentation: a torch ``Dataset`` that turns normal clouds into synthetic anomalies.

Each item is drawn from a seed derived from ``(seed, epoch, index)``, so a run is reproducible,
workers of a ``DataLoader`` agree regardless of order, and ``set_epoch`` gives fresh defects.
The defects come from a :class:`PNAS` synthesizer or from the defect kinds of
:mod:`pointad.synthesis.defects` (a kind's name or a :class:`DefectMix`).
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from pointad.errors import InputError
from pointad.geometry.normals import estimate_normals
from pointad.io import Cloud
from pointad.synthesis.defects import DefectMix
from pointad.synthesis.pnas import PNAS
from pointad.validation import check_number, check_seed

GOOD = "good"  # the ``kind`` of an item left untouched (defect kinds only)


class _Items(Protocol):
    """What :class:`PNASAugment` wraps: a sized, integer-indexable collection of clouds."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...


def _unpack(item: Any) -> tuple[Any, Any, tuple[tuple[int, int], np.ndarray] | None]:
    """(points, normals or None, grid or None) from an array, Cloud, dict or (points, normals)."""
    if isinstance(item, Cloud):
        if item.grid_shape is not None and item.grid_index is not None:  # item.organized
            return item.points, item.normals, (item.grid_shape, item.grid_index)
        return item.points, item.normals, None
    if isinstance(item, dict):
        if "points" not in item:
            raise InputError("dataset items given as dicts need a 'points' key")
        return item["points"], item.get("normals"), None
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1], None
    return item, None, None


def _to_numpy(x: Any) -> Any:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


class PNASAugment(Dataset[dict[str, Any]]):
    """Wrap a dataset of normal clouds so each item is anomalous with probability ``probability``.

    Args:
        base: indexable dataset whose items are (N, 3) arrays/tensors, :class:`~pointad.io.Cloud`,
            dicts with ``points`` (and optional ``normals``), or ``(points, normals)`` pairs.
        synthesizer: a :class:`PNAS` (default ``PNAS()``), or defect kinds: a
            :class:`~pointad.synthesis.defects.DefectMix` or the name of one kind (see
            :func:`pointad.synthesis.defects.available`).
        probability: chance that an item gets a defect, in [0, 1].
        seed: base seed of every draw.
        normal_k: neighbourhood size for estimating normals the defect kinds need when an item
            has none (oriented as :class:`PNAS` does; PNAS estimates its own).

    Items are dicts: ``points`` (N, 3) float32 tensor, ``labels`` (N,) bool, ``soft_labels`` (N,)
    float32, ``label`` (bool, the object label), ``index`` and ``seed`` (the synthesis seed, or -1
    for an untouched item). With defect kinds, also ``offsets`` (N, 3) float32 (each point's
    displacement by the defect; zero on unlabelled points) and ``kind`` (the kind's name, kinds
    joined by ``+`` for several defects, ``"good"`` for an untouched item); ``soft_labels`` are
    then the labels as 0/1. A hole removes points, so such an item has fewer points than its
    source cloud (the kept points, with their labels and offsets): batch such items with a
    ``collate_fn`` that pads or concatenates (the default collate needs equal sizes).
    """

    def __init__(self, base: _Items, synthesizer: PNAS | DefectMix | str | None = None,
                 probability: float = 0.5, seed: int = 0, normal_k: int = 30) -> None:
        self.base = base
        if synthesizer is None:
            synthesizer = PNAS()
        elif isinstance(synthesizer, str):
            synthesizer = DefectMix(synthesizer)
        elif not isinstance(synthesizer, (PNAS, DefectMix)):
            raise InputError("synthesizer must be a PNAS, a DefectMix or a defect kind's name, "
                             f"got {type(synthesizer).__name__}")
        self.synthesizer: PNAS | DefectMix = synthesizer
        self.normal_k: int = check_number(normal_k, "normal_k", low=3, integer=True)
        self.probability: float = check_number(probability, "probability", low=0, high=1)
        self.seed: int = check_seed(seed)
        self.epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw new defects: items depend on ``(seed, epoch, index)``."""
        self.epoch = check_number(epoch, "epoch", low=0, integer=True)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        points, normals, grid = _unpack(self.base[index])
        points = np.asarray(_to_numpy(points), dtype=np.float64)
        normals = None if normals is None else np.asarray(_to_numpy(normals), dtype=np.float64)
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        draw_seed = int(rng.integers(0, 2**31 - 1))
        if isinstance(self.synthesizer, DefectMix):
            return self._kind_item(points, normals, grid, rng.random() < self.probability,
                                   draw_seed, int(index))
        if rng.random() < self.probability:
            sample = self.synthesizer(points, normals, seed=draw_seed, grid=grid)
            points, labels, soft = sample.points, sample.labels, sample.soft_labels
        else:
            labels, soft, draw_seed = np.zeros(len(points), bool), np.zeros(len(points)), -1
        return {
            "points": torch.as_tensor(points, dtype=torch.float32),
            "labels": torch.as_tensor(labels),
            "soft_labels": torch.as_tensor(soft, dtype=torch.float32),
            "label": bool(labels.any()),
            "index": int(index),
            "seed": draw_seed,
        }

    def _kind_item(self, points: np.ndarray, normals: np.ndarray | None,
                   grid: tuple[tuple[int, int], np.ndarray] | None, anomalous: bool,
                   draw_seed: int, index: int) -> dict[str, Any]:
        """An item of the defect kinds: the kept points, their labels, offsets and the kind."""
        assert isinstance(self.synthesizer, DefectMix)
        if anomalous:
            if normals is None:
                normals = estimate_normals(points, k=self.normal_k, organized=grid is not None)
            result = self.synthesizer(points, normals, seed=draw_seed)
            points, labels, offsets = result.visible()
            kind = result.kind
        else:
            labels, offsets = np.zeros(len(points), bool), np.zeros((len(points), 3))
            kind, draw_seed = GOOD, -1
        return {
            "points": torch.as_tensor(points, dtype=torch.float32),
            "labels": torch.as_tensor(labels),
            "soft_labels": torch.as_tensor(labels, dtype=torch.float32),
            "offsets": torch.as_tensor(offsets, dtype=torch.float32),
            "label": bool(labels.any()),
            "kind": kind,
            "index": index,
            "seed": draw_seed,
        }
