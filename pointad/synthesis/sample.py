"""The result of one synthesis: the defective cloud, its ground truth and how to regenerate it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class AnomalySample:
    """One synthetic anomaly on a cloud of N points.

    Attributes:
        points: (N, 3) float64, the displaced points (same order as the input).
        normals: (N, 3) float64 unit normals of the input surface, used as displacement directions.
        labels: (N,) bool, True where the point is anomalous (``soft_labels >= 0.5``: displaced by
            at least half the defect's peak strength).
        soft_labels: (N,) float64 in [0, 1], displacement magnitude / peak strength.
        displacement: (N, 3) float64, ``points - input points`` (along the normals).
        params: every parameter, the seed and the drawn choices; ``PNAS.regenerate`` rebuilds the
            sample from it and the input cloud.
    """

    points: np.ndarray
    normals: np.ndarray
    labels: np.ndarray
    soft_labels: np.ndarray
    displacement: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def anomalous_fraction(self) -> float:
        """Fraction of points labelled anomalous."""
        return float(self.labels.mean()) if len(self.labels) else 0.0

    @property
    def is_anomalous(self) -> bool:
        """Whether any point is labelled anomalous."""
        return bool(self.labels.any())
