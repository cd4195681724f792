"""``raw``: the honest baseline. Per-point distance to the nearest point of the training clouds
after rigid alignment (PCA pre-alignment + ICP).

Every training cloud is a template; a test cloud is aligned to each, and a point's score is its
smallest distance to any aligned template. The object score is the mean of the top
``top_fraction`` of point scores (a single max is hostage to one stray point).
"""
from __future__ import annotations

import numpy as np

from pointad.detectors.base import Detector
from pointad.detectors.registry import register
from pointad.errors import InputError
from pointad.geometry.registration import align, subsample, transform
from pointad.ops import NeighbourIndex
from pointad.validation import check_number


@register
class RawDistance(Detector):
    """Nearest-template distance after alignment.

    Args:
        max_template_points: points kept per template (seeded subsample); bounds memory.
        align_points: points used by the alignment (both clouds subsampled).
        icp_iterations: ICP iterations per start.
        pca: also try the four PCA pre-alignments (off: identity start only).
        top_fraction: object score = mean of this top fraction of point scores.
        seed: seed of the subsampling.
    """

    name = "raw"

    def __init__(self, max_template_points: int = 100_000, align_points: int = 4000,
                 icp_iterations: int = 30, pca: bool = True, top_fraction: float = 0.01,
                 seed: int = 0):
        self.max_template_points = check_number(max_template_points, "max_template_points",
                                                low=10, integer=True)
        self.align_points = check_number(align_points, "align_points", low=10, integer=True)
        self.icp_iterations = check_number(icp_iterations, "icp_iterations", low=1, integer=True)
        if not isinstance(pca, bool):
            raise InputError(f"pca must be true or false, got {pca!r}")
        self.pca = pca
        self.top_fraction = check_number(top_fraction, "top_fraction", low=0, high=1,
                                         low_open=True)
        self.seed = check_number(seed, "seed", low=0, integer=True)

    def _fit(self, clouds):
        self.templates_ = [subsample(c.points, self.max_template_points, self.seed + i)
                           for i, c in enumerate(clouds)]
        self.indexes_ = [NeighbourIndex(t) for t in self.templates_]

    def _predict(self, cloud):
        points = cloud.points
        best = np.full(len(points), np.inf)
        for template, index in zip(self.templates_, self.indexes_):
            matrix = align(points, template, max_points=self.align_points,
                           iterations=self.icp_iterations, pca=self.pca, seed=self.seed,
                           target_index=index)
            d = index.query(transform(points, matrix), 1)[0][:, 0]
            np.minimum(best, d, out=best)
        k = max(1, int(np.ceil(self.top_fraction * len(best))))
        return best, float(np.partition(best, len(best) - k)[len(best) - k:].mean())

    def _get_state(self):
        return {f"template_{i}": t for i, t in enumerate(self.templates_)}

    def _set_state(self, arrays):
        keys = sorted((k for k in arrays if k.startswith("template_")), key=lambda k: int(k[9:]))
        self.templates_ = [np.asarray(arrays[k], dtype=np.float64) for k in keys]
        self.indexes_ = [NeighbourIndex(t) for t in self.templates_]
