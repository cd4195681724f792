"""Moving points along their normals, and the label rule shared by every synthesis mode."""
from __future__ import annotations

import numpy as np

LABEL_LEVEL = 0.5  # anomalous <=> displaced by at least half the defect's peak strength


def displace(points: np.ndarray, normals: np.ndarray,
             magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(points + magnitude * normals, displacement)`` for (N, 3) points and (N,) signed
    magnitudes in the points' length unit. Inputs are not modified."""
    moved = np.flatnonzero(magnitude)
    if len(moved) > len(points) // 4:
        displacement = normals * magnitude[:, None]
        return points + displacement, displacement
    # A localized defect moves a few percent of the points: touch only those rows.
    displacement = np.zeros_like(points)
    displacement[moved] = normals[moved] * magnitude[moved, None]
    new_points = points.copy()
    new_points[moved] += displacement[moved]
    return new_points, displacement


def labels_from_soft(soft: np.ndarray) -> np.ndarray:
    """Binary labels (N,) bool from soft labels in [0, 1]."""
    return soft >= LABEL_LEVEL
