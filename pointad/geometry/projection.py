"""Parameterizations: where on a 2D (or 3D) noise domain each point samples the Perlin field.

Every projection returns coordinates in the cloud's length unit, expressed in a frame derived from
the data itself (:mod:`pointad.geometry.frames`), so rotating or moving the cloud leaves them
unchanged. Choose by name with :func:`project`:

==============  ====================================================================================
``pca``         the 3D-PNAS paper: the global PCA plane. Folds the back of a closed object onto the
                front (both receive the same noise); right for single-view scans.
``grid``        the pixel grid (column, row) of an organized cloud, times the pixel pitch.
``cylindrical`` (arc length, height) around the most distinct principal axis; seam at the cut.
``spherical``   (azimuth, elevation) times the mean radius, about the centroid; poles are pinched.
``tangent``     around a seed point: tangent-plane direction with chord-length radius, an
                approximate exponential map. Monotone in distance from the seed, so it never folds.
``volume``      the 3D position itself (3D noise): fold-free, seam-free baseline.
==============  ====================================================================================
"""
from __future__ import annotations

import numpy as np

from pointad.errors import InputError
from pointad.geometry.frames import principal_frame, tangent_frame
from pointad.geometry.units import point_spacing

PROJECTIONS = ("pca", "grid", "cylindrical", "spherical", "tangent", "volume")


def project(kind: str, points: np.ndarray, *, normals: np.ndarray | None = None,
            center: int | None = None, grid=None, subset: np.ndarray | None = None) -> np.ndarray:
    """Noise-domain coordinates of ``points`` (N, 3): (M, 2), or (M, 3) for ``volume``.

    ``subset`` (M,) indices restricts the output to those points (the frame is still the whole
    cloud's, except for ``tangent``, whose frame is fitted to the subset around the seed).
    ``center`` is the seed point index (``tangent``); ``grid`` is ``(grid_shape, grid_index)`` of an
    organized cloud (``grid``). Units are those of ``points``.
    """
    sel = slice(None) if subset is None else subset
    if kind == "pca":
        centre, axes = principal_frame(points)
        return (points[sel] - centre) @ axes[:2].T
    if kind == "volume":
        centre, axes = principal_frame(points)
        return (points[sel] - centre) @ axes.T
    if kind == "grid":
        return _grid_coords(points, grid)[sel]
    if kind == "cylindrical":
        return _cylindrical(points, sel)
    if kind == "spherical":
        centre, axes = principal_frame(points)
        local = (points[sel] - centre) @ axes.T
        radius = np.linalg.norm(points - centre, axis=1).mean()
        rho = np.linalg.norm(local, axis=1)
        elevation = np.arcsin(np.clip(local[:, 2] / np.maximum(rho, 1e-300), -1.0, 1.0))
        return np.stack([np.arctan2(local[:, 1], local[:, 0]), elevation], axis=1) * radius
    if kind == "tangent":
        if normals is None or center is None:
            raise InputError("the tangent projection needs normals and a seed point")
        return _tangent(points[sel] - points[center], normals[center])
    raise InputError(f"projection must be one of {', '.join(PROJECTIONS)}; got {kind!r}")


def _grid_coords(points, grid):
    if grid is None:
        raise InputError("the grid projection needs an organized cloud (e.g. an MVTec 3D-AD TIFF)")
    (height, width), index = grid
    index = np.asarray(index, dtype=np.int64)
    rows, cols = np.divmod(index, width)
    # Pixel pitch: median 3D distance between horizontally adjacent valid pixels.
    lookup = np.full(height * width, -1, dtype=np.int64)
    lookup[index] = np.arange(len(index))
    right = np.where(cols + 1 < width, lookup[np.minimum(index + 1, height * width - 1)], -1)
    has = right >= 0
    pitch = (np.median(np.linalg.norm(points[has] - points[right[has]], axis=1)) if has.any()
             else point_spacing(points))
    return np.stack([cols, rows], axis=1).astype(np.float64) * pitch


def _cylindrical(points, sel):
    centre, axes = principal_frame(points)
    local_all = (points - centre) @ axes.T
    logvar = np.log(local_all.var(axis=0) + 1e-300)
    # The cylinder axis is the principal axis whose variance stands apart from the other two.
    distinct = [min(abs(logvar[a] - logvar[b]) for b in range(3) if b != a) for a in range(3)]
    a = int(np.argmax(distinct))
    b, c = [i for i in range(3) if i != a]
    local = local_all[sel]
    radius = np.hypot(local_all[:, b], local_all[:, c]).mean()
    return np.stack([np.arctan2(local[:, c], local[:, b]) * radius, local[:, a]], axis=1)


def _tangent(offsets, normal):
    dist = np.linalg.norm(offsets, axis=1)
    frame = tangent_frame(normal, offsets)
    planar = offsets @ frame[:2].T
    planar_len = np.linalg.norm(planar, axis=1)
    scale = np.divide(dist, planar_len, out=np.zeros_like(dist), where=planar_len > 0)
    return planar * scale[:, None]
