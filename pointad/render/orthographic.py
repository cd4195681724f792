"""Z-buffer: which point each pixel shows, with a small splat so sparse clouds render solid.

Pixel ``(r, c)`` covers ``[r, r + 1) x [c, c + 1)`` in continuous pixel coordinates (rows grow
downward). A point covers the pixel it falls in and every pixel whose centre lies within
``radius`` pixels of it; each pixel keeps the covering point nearest to the camera (largest
height), ties broken by the lower point id (or, with a depth ``tolerance``, the covering point
nearest to the pixel centre among those within the tolerance of the nearest). The pixel's
depth is then read off the shown point's tangent plane (:func:`splat_heights`). Vectorised:
the only Python loops run over views and the footprint's pixel offsets, never over points.
"""
from __future__ import annotations

import numpy as np

from pointad.errors import InputError

MAX_SPLAT_PX = 8.0  # bounds the footprint (and the work) for very sparse clouds
MAX_SLOPE = 2.0     # steepest tangent plane extrapolated across a splat (about 63 degrees)
DISTANCE_STEPS = 1024  # zbuffer's tolerance pass compares squared pixel distances to 1/1024 px^2


def pixel_coordinates(camera: np.ndarray, half_extent: float, size: int):
    """Continuous ``(rows, cols)`` (each (..., N)) of camera coordinates (..., N, 3) in a
    ``size`` x ``size`` image of the square ``[-half_extent, half_extent]^2`` (x right, y up)."""
    pixel = 2.0 * half_extent / size
    cols = (camera[..., 0] + half_extent) / pixel
    rows = (half_extent - camera[..., 1]) / pixel
    return rows, cols


def zbuffer(rows: np.ndarray, cols: np.ndarray, heights: np.ndarray, shape,
            radius: float = 0.0, tolerance: float = 0.0) -> np.ndarray:
    """(V, H, W) int64 id of the point each pixel shows, -1 where none does.

    Args:
        rows, cols: (V, N) continuous pixel coordinates of every point in every view.
        heights: (V, N) distance toward the camera (larger = nearer), any unit.
        shape: (H, W) of the images.
        radius: splat radius in pixels (0 = each point covers only its own pixel).
        tolerance: 0: each pixel shows its nearest covering point (a plain z-test). > 0 (the
            heights' unit): of the covering points at most ``tolerance`` below the nearest one
            (one surface, as in surface splatting), the pixel shows the one whose position is
            closest to the pixel centre (ties: nearer, then lower id), so a point a little
            behind its neighbours' splats (the floor of a small dent) keeps its own pixels
            while a surface further behind stays hidden.
    """
    rows, cols, heights = (np.asarray(a, dtype=np.float64) for a in (rows, cols, heights))
    if not (rows.shape == cols.shape == heights.shape and rows.ndim == 2):
        raise InputError(f"rows {rows.shape}, cols {cols.shape} and heights {heights.shape} must "
                         "all be (V, N)")
    if not 0 <= radius <= MAX_SPLAT_PX:
        raise InputError(f"splat radius must be in [0, {MAX_SPLAT_PX}] pixels, got {radius}")
    if not tolerance >= 0:
        raise InputError(f"depth tolerance must be >= 0, got {tolerance}")
    n_views, n = heights.shape
    h, w = (int(s) for s in shape)
    reach = int(np.ceil(radius))
    offsets = [(dr, dc) for dr in range(-reach, reach + 1) for dc in range(-reach, reach + 1)]
    ids = np.arange(n)
    out = np.full((n_views, h * w), -1, dtype=np.int64)
    for v in range(n_views):
        r0, c0 = np.floor(rows[v]), np.floor(cols[v])
        fr, fc = rows[v] - r0, cols[v] - c0
        r0, c0 = r0.astype(np.int64), c0.astype(np.int64)
        # Rank points nearest first (ties: lower id), so a scatter-min of ranks is the z-test.
        order = np.lexsort((ids, -heights[v]))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = ids
        best = np.full(h * w, n, dtype=np.int64)
        for who, pix, _ in _footprint(offsets, r0, c0, fr, fc, (h, w), radius):
            np.minimum.at(best, pix, rank[who])
        shown = best < n
        if tolerance > 0:
            # Second pass: among the covering points within ``tolerance`` of the pixel's
            # nearest, the one closest to the pixel centre (quantised distance^2, then rank).
            floor = np.full(h * w, np.inf)
            floor[shown] = heights[v, order[best[shown]]] - tolerance
            best = np.full(h * w, np.iinfo(np.int64).max, dtype=np.int64)
            for who, pix, d2 in _footprint(offsets, r0, c0, fr, fc, (h, w), radius):
                near = heights[v, who] >= floor[pix]
                key = np.round(d2[near] * DISTANCE_STEPS).astype(np.int64) * (n + 1)
                np.minimum.at(best, pix[near], key + rank[who[near]])
            best[shown] %= n + 1
        out[v, shown] = order[best[shown]]
    return out.reshape(n_views, h, w)


def _footprint(offsets, r0, c0, fr, fc, shape, radius):
    """Per footprint offset ``(dr, dc)``: the ids of the points covering a pixel there, the
    pixels' flat indices and their centres' squared distances to the points (pixel units);
    ``r0, c0`` (N,) the points' pixels, ``fr, fc`` (N,) their positions inside them."""
    h, w = shape
    for dr, dc in offsets:
        pr, pc = r0 + dr, c0 + dc
        keep = (pr >= 0) & (pr < h) & (pc >= 0) & (pc < w)
        d2 = (dr + 0.5 - fr) ** 2 + (dc + 0.5 - fc) ** 2
        if dr or dc:
            keep &= d2 <= radius * radius
        yield np.flatnonzero(keep), pr[keep] * w + pc[keep], d2[keep]


def splat_heights(index: np.ndarray, camera: np.ndarray, normals: np.ndarray,
                  half_extent: float) -> np.ndarray:
    """(V, H, W) surface height at each pixel centre: the shown point's tangent plane there.

    A splat is a small disk in the point's tangent plane, so the height at a pixel centre is
    ``h_i - (n_x dx + n_y dy) / n_z`` for the offset (dx, dy) from the point, not the point's own
    height (which would turn every slope into a staircase of flat splats). The slope is capped at
    :data:`MAX_SLOPE` so near-silhouette normals do not extrapolate wildly, and the heights are
    clipped to the range of the shown points' own heights. 0 where empty.

    Args:
        index: (V, H, W) shown point ids from :func:`zbuffer`, -1 where empty.
        camera: (V, N, 3) camera coordinates of the points (x right, y up, z height).
        normals: (V, N, 3) unit normals in the camera frames, facing the camera (``nz >= 0``).
        half_extent: half the side of the square the (H, W) image shows, in cloud units.
    """
    n_views, h, w = index.shape
    pixel = 2.0 * half_extent / w
    xs = (np.arange(w) + 0.5) * pixel - half_extent
    ys = half_extent - (np.arange(h) + 0.5) * pixel
    out = np.zeros(index.shape)
    for v in range(n_views):
        valid = index[v] >= 0
        ids = index[v][valid]
        rr, cc = np.nonzero(valid)
        p, n = camera[v, ids], normals[v, ids]
        grad = -n[:, :2] / np.maximum(n[:, 2:3], 1e-12)
        norm = np.linalg.norm(grad, axis=1, keepdims=True)
        grad *= np.minimum(1.0, MAX_SLOPE / np.maximum(norm, 1e-300))
        plane = p[:, 2] + grad[:, 0] * (xs[cc] - p[:, 0]) + grad[:, 1] * (ys[rr] - p[:, 1])
        # Silhouette splats (steep normals) would otherwise stick out past the part's extremes.
        out[v][valid] = np.clip(plane, p[:, 2].min(), p[:, 2].max())
    return out
