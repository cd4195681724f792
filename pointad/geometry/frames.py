"""Deterministic principal frames: PCA axes with signs fixed by the data, so every frame built from
them rotates with the cloud (the property the synthesis needs to be rotation-equivariant)."""
from __future__ import annotations

import numpy as np

from pointad.reductions import column_mean, column_sums, weighted_column_sums


def principal_frame(points: np.ndarray, weights: np.ndarray | None = None):
    """Return ``(centre, axes)`` of (N, 3) points: centre (3,), axes (3, 3) rows = unit axes.

    Rows are sorted by decreasing variance. Each of the first two axes points toward the side with
    the larger third moment (skew) of the projections, which is a property of the shape rather than
    of the coordinate system; the third axis is their cross product, so the frame is right-handed
    and a rotation of the input rotates the frame the same way. Symmetric shapes leave a sign
    undetermined; the result is then still deterministic.
    """
    if weights is None:
        centre = column_mean(points)
        centred = points - centre
        cov = centred.T @ centred
    else:
        w = np.asarray(weights, dtype=np.float64) / np.sum(weights)
        centre = weighted_column_sums(w, points)
        centred = points - centre
        cov = (centred * w[:, None]).T @ centred
    _, vecs = np.linalg.eigh(cov)
    axes = vecs[:, ::-1].T.copy()
    proj = centred @ axes[:2].T
    skew = column_sums(proj**3) if weights is None else weighted_column_sums(w, proj**3)
    for a in range(2):
        if skew[a] < 0:
            axes[a] = -axes[a]
    axes[2] = np.cross(axes[0], axes[1])
    return centre, axes


def tangent_frame(normal: np.ndarray, directions: np.ndarray, weights: np.ndarray | None = None):
    """(3, 3) frame whose last row is ``normal`` and first row the dominant tangent direction of
    ``directions`` (M, 3) (e.g. offsets of neighbours), sign fixed by skew as in
    :func:`principal_frame`. Falls back to any perpendicular vector when the directions carry none.
    """
    n = normal / np.linalg.norm(normal)
    tangential = directions - np.outer(directions @ n, n)
    w = np.ones(len(tangential)) if weights is None else weights
    cov = (tangential * w[:, None]).T @ tangential
    vals, vecs = np.linalg.eigh(cov)
    t1 = vecs[:, -1]
    if vals[-1] <= 1e-12 * max(vals.sum(), 1e-300):
        t1 = np.cross(n, np.eye(3)[np.argmin(np.abs(n))])
    t1 = t1 - (t1 @ n) * n
    t1 /= np.linalg.norm(t1)
    if weighted_column_sums(w, (tangential @ t1) ** 3) < 0:
        t1 = -t1
    return np.stack([t1, np.cross(n, t1), n])
