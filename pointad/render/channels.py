"""The image channels of a depth render (depth, normal, curvature) and small-hole filling.

Channels, in order: ``depth`` (height toward the camera scaled to [0, 1] by a per-view range,
1 = nearest, 0 where empty), ``nx, ny, nz`` (unit normal in the view's camera frame, facing the
camera, 0 where empty) and ``curvature`` (surface variation
``lambda_min / (lambda_0 + lambda_1 + lambda_2)`` of the point's kNN covariance, in [0, 1/3]).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

CHANNELS = ("depth", "nx", "ny", "nz", "curvature")


def channel_images(index: np.ndarray, heights: np.ndarray, normals: np.ndarray,
                   curvature: np.ndarray, ranges: np.ndarray | None = None):
    """Images ``(V, 5, H, W)`` float32 and the depth ranges ``(V, 2)`` used.

    Args:
        index: (V, H, W) point id per pixel, -1 where empty.
        heights: (V, H, W) surface height toward the camera at each pixel (read where
            ``index >= 0`` only).
        normals: (V, N, 3) each point's unit normal in each camera frame, oriented as the
            caller wants it shown (the renderer turns them toward the camera).
        curvature: (N,) per-point surface variation.
        ranges: (V, 2) ``(far, near)`` heights that map to depth 0 and 1 (depth is clipped to
            [0, 1]); default the range of the heights shown in each view. A view whose range is
            empty (all shown pixels at one height) gets depth 1 on every shown pixel.
    """
    n_views, h, w = index.shape
    images = np.zeros((n_views, len(CHANNELS), h, w), dtype=np.float32)
    out_ranges = np.zeros((n_views, 2))
    for v in range(n_views):
        valid = index[v] >= 0
        ids = index[v][valid]
        if ids.size == 0:
            continue
        hv = heights[v][valid]
        far, near = (hv.min(), hv.max()) if ranges is None else ranges[v]
        out_ranges[v] = far, near
        span = near - far
        # Clipped: a frame reused from another cloud may leave points outside its cube.
        images[v, 0][valid] = np.clip((hv - far) / span, 0.0, 1.0) if span > 0 else 1.0
        nv = normals[v, ids]
        for c in range(3):
            images[v, 1 + c][valid] = nv[:, c]
        images[v, 4][valid] = curvature[ids]
    return images, out_ranges


def fill_small_holes(images: np.ndarray, valid: np.ndarray, radius: int = 1) -> np.ndarray:
    """Copy of ``images`` (V, C, H, W) with small empty pixels inside the silhouette filled.

    A hole pixel is an empty pixel that a morphological closing of ``valid`` (V, H, W) with a
    (2 * radius + 1)-square structuring element fills, i.e. a gap up to about ``2 * radius``
    pixels wide; larger holes (real holes of the part) and the outside stay empty. Holes are
    filled from the border inward, each pixel with the mean of its already known 8-neighbours;
    the normal channels (1-3) are renormalised to unit length. Channel 0..C-1 all get filled;
    ``valid`` is not changed (filled pixels show no point).
    """
    out = images.copy()
    if radius <= 0:
        return out
    kernel = np.ones((3, 3))
    structure = np.ones((2 * radius + 1, 2 * radius + 1), dtype=bool)
    for v in range(len(images)):
        known = valid[v].copy()
        # Pad so the closing does not treat the image border as empty space to erode from.
        pad = radius + 1
        closed = ndimage.binary_closing(np.pad(known, pad), structure=structure)[pad:-pad,
                                                                                  pad:-pad]
        hole = closed & ~known
        while hole.any():
            weight = ndimage.correlate(known.astype(np.float64), kernel, mode="constant")
            ready = hole & (weight > 0)
            if not ready.any():
                break
            for c in range(images.shape[1]):
                total = ndimage.correlate(np.where(known, out[v, c], 0.0).astype(np.float64),
                                          kernel, mode="constant")
                out[v, c][ready] = (total[ready] / weight[ready]).astype(out.dtype)
            known |= ready
            hole &= ~ready
        filled = known & ~valid[v]
        if images.shape[1] >= 4 and filled.any():
            normal = out[v, 1:4][:, filled]
            length = np.linalg.norm(normal, axis=0)
            out[v, 1:4][:, filled] = np.divide(normal, length, out=np.zeros_like(normal),
                                               where=length > 0)
    return out
