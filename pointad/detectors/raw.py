"""``raw``: the honest baseline. Per-point distance to the nearest point of the training clouds
after rigid alignment (PCA pre-alignment + ICP).

Every training cloud is a template; a test cloud is aligned to each, and a point's score is its
smallest distance to any aligned template. With ``holes`` (opt-in) the other direction
joins it: where the aligned templates have surface the scan lacks, in a region small enough to
be a hole rather than a side the scanner did not see, the scan points on its rim score the
region's depth (:func:`pointad.geometry.coverage.missing_from_templates`), so missing material,
whose rim keeps the surface's shape and distance, is seen. The object score is the mean of the top
``top_fraction`` of the distances (a single max is hostage to one stray point); the hole channel
stays out of it (as in ``patchcore-ms``; ``pnas-offset`` gives a rim a fixed score instead of
the depth, and puts it in both): on a good partial scan a pocket the scanner could not see into
can pass for a hole, and a depth of several spacings on one such region would decide the object.
"""
from __future__ import annotations

import numpy as np

from pointad.detectors.base import Detector
from pointad.detectors.registry import register
from pointad.geometry import estimate_normals
from pointad.geometry.coverage import missing_from_templates
from pointad.geometry.registration import align_to_templates, nearest_template_points, subsample
from pointad.ops import NeighbourIndex
from pointad.reductions import top_mean
from pointad.validation import check_number, check_seed, parse_bool


@register
class RawDistance(Detector):
    """Nearest-template distance after alignment.

    Args:
        max_template_points: points kept per template (seeded subsample); bounds memory.
        align_points: points used by the alignment (both clouds subsampled).
        icp_iterations: ICP iterations per start.
        pca: also try the four PCA pre-alignments (off: identity start only).
        coarse: coarse-to-fine ICP from each start (correspondences up to 20 % and 5 % of the
            part's diameter first): partial views and poses of tens of degrees, where a fine
            ICP alone settles in a wrong minimum (off: fine ICP only, faster).
        consensus: each alignment also tries the template's near-symmetries and the poses
            found on the other templates, keeping the pose that leaves the fewest points far
            from the template, finished by point-to-plane ICP on the whole template
            (:func:`pointad.geometry.registration.align_to_templates`; the default since 3
            December 2026, docs/realistic-preset.md: *`consensus` by default*). Off: the best
            ICP start alone.
        top_fraction: object score = mean of this top fraction of the distances.
        holes: also score the rims of missing surface (a point's score is the larger of its
            distance and the depth of the hole it borders); off: distance only. Point scores
            only: the object score is that of ``holes=False``.
        seed: seed of the subsampling.
    """

    name = "raw"

    def __init__(self, max_template_points: int = 100_000, align_points: int = 4000,
                 icp_iterations: int = 30, pca: bool = True, coarse: bool = True,
                 consensus: bool = True, top_fraction: float = 0.01, holes: bool = False,
                 seed: int = 0):
        self.max_template_points = check_number(max_template_points, "max_template_points",
                                                low=10, integer=True)
        self.align_points = check_number(align_points, "align_points", low=10, integer=True)
        self.icp_iterations = check_number(icp_iterations, "icp_iterations", low=1, integer=True)
        self.pca = parse_bool(pca, "pca")
        self.coarse = parse_bool(coarse, "coarse")
        self.consensus = parse_bool(consensus, "consensus")
        self.top_fraction = check_number(top_fraction, "top_fraction", low=0, high=1,
                                         low_open=True)
        self.holes = parse_bool(holes, "holes")
        self.seed = check_seed(seed)

    def _fit(self, clouds):
        self.templates_ = [subsample(c.points, self.max_template_points, self.seed + i)
                           for i, c in enumerate(clouds)]
        self.indexes_ = [NeighbourIndex(t) for t in self.templates_]
        # derived, not saved: hole normals, near-symmetries, polish normals
        self._normals, self._symmetries, self._plane_normals = None, {}, {}

    def _predict(self, cloud):
        points = cloud.points
        matrices = align_to_templates(
            points, dict(enumerate(self.templates_)), dict(enumerate(self.indexes_)),
            max_points=self.align_points, iterations=self.icp_iterations, pca=self.pca,
            seed=self.seed, coarse=self.coarse,
            symmetries=self._symmetries if self.consensus else None,
            normals=self._plane_normals)
        best = nearest_template_points(points, matrices, self.indexes_)[0]
        score = top_mean(best, self.top_fraction)
        if self.holes:
            if self._normals is None:  # the templates' normals, once (not saved: derived)
                self._normals = [estimate_normals(t) for t in self.templates_]
            best = np.maximum(best, missing_from_templates(
                points, matrices, self.templates_, normals=self._normals, indexes=self.indexes_))
        return best, score

    def _get_state(self):
        return {f"template_{i}": t for i, t in enumerate(self.templates_)}

    def _set_state(self, arrays):
        keys = sorted((k for k in arrays if k.startswith("template_")), key=lambda k: int(k[9:]))
        if not keys:
            raise KeyError("template_0")  # a fitted raw detector has at least one template
        self.templates_ = [np.asarray(arrays[k], dtype=np.float64) for k in keys]
        self.indexes_ = [NeighbourIndex(t) for t in self.templates_]
        # derived, not saved: hole normals, near-symmetries, polish normals
        self._normals, self._symmetries, self._plane_normals = None, {}, {}
