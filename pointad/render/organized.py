"""The pixel grid of an organized scan (MVTec 3D-AD-like): each point keeps its own pixel."""
from __future__ import annotations

import numpy as np

from pointad.errors import InputError


def grid_coordinates(grid_shape, grid_index, n_points: int):
    """Continuous ``(rows, cols)`` (each (1, N)) at the centres of the points' own pixels.

    ``grid_index`` (N,) holds row-major flat pixel ids into ``grid_shape`` (H, W), as
    :class:`pointad.io.Cloud` stores them. Raises :class:`InputError` for a length mismatch or
    ids outside the grid.
    """
    try:
        h, w = (int(s) for s in grid_shape)
    except (TypeError, ValueError):
        raise InputError(f"grid_shape must be (H, W), got {grid_shape!r}") from None
    if h < 1 or w < 1:
        raise InputError(f"grid_shape must be positive, got {(h, w)}")
    index = np.asarray(grid_index)
    if index.shape != (n_points,) or not np.issubdtype(index.dtype, np.integer):
        raise InputError(f"grid_index must be ({n_points},) integers, got {index.shape} "
                         f"{index.dtype}")
    if n_points and (index.min() < 0 or index.max() >= h * w):
        raise InputError(f"grid_index must lie in [0, {h * w}) for grid_shape {(h, w)}, got "
                         f"[{index.min()}, {index.max()}]")
    index = index.astype(np.int64)
    return (index // w + 0.5)[None].astype(np.float64), (index % w + 0.5)[None].astype(np.float64)
