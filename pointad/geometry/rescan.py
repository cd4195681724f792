"""Re-scans: a good cloud as another scan of the same part would sample it.

Two scans of one part differ in which points they keep, how dense they are and their noise,
not in shape. A detector that learns from one sampling of each training part mistakes a fresh
sampling for a defect; training on seeded re-scans of each training cloud teaches it what a
new sampling changes and what it does not.
"""
from __future__ import annotations

import numpy as np

DENSITY = (0.55, 1.0)  # share of the points a re-scan keeps (uniform draw)
NOISE = (0.0, 0.2)     # Gaussian noise of a re-scan, in point spacings (uniform draw)


def rescan(points: np.ndarray, spacing: float, rng: np.random.Generator, *,
           density: tuple = DENSITY, noise: tuple = NOISE, normals: np.ndarray | None = None,
           one_side: float = 0.0, min_points: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One seeded re-scan of (N, 3) ``points``: ``(moved (M, 3), keep (N,) bool)``.

    A random share (uniform in ``density``) of the points is kept; with probability
    ``one_side`` only those whose (N, 3) ``normals`` face a random direction (cosine above
    -0.1) are, the side a single view sees. When fewer than ``min_points`` survive, every
    point is kept. The kept points move by isotropic Gaussian noise of standard deviation
    uniform in ``noise`` times ``spacing`` (the cloud's point spacing, its unit). ``rng``: a
    :class:`numpy.random.Generator`; the draws are the same for the same generator state.
    """
    points = np.asarray(points, dtype=np.float64)
    keep = rng.random(len(points)) < rng.uniform(*density)
    if rng.random() < one_side:
        if normals is None:
            raise ValueError("rescan: one_side > 0 needs normals")
        view = rng.normal(size=3)
        keep &= normals @ (view / np.linalg.norm(view)) > -0.1
    if keep.sum() < min_points:
        keep[:] = True
    moved = points[keep] + rng.normal(0.0, rng.uniform(*noise) * spacing,
                                      size=(int(keep.sum()), 3))
    return moved, keep
