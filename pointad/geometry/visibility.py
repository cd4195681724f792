"""What a sensor sees of a cloud from a direction: hidden point removal (Katz, Tal and Basri,
"Direct visibility of point sets", SIGGRAPH 2007), through Open3D.

No normals are needed, so it also cuts a thin wall (two faces a point spacing or two apart,
whose normals cannot be told apart) down to the face turned to the viewer: the single-view
partial scans a memory bank must have seen when its test scans are partial.
"""
from __future__ import annotations

import numpy as np

from pointad.geometry.units import object_diameter
from pointad.validation import as_points, check_number


def view_directions(n: int, seed: int) -> np.ndarray:
    """(n, 3) unit vectors drawn uniformly on the sphere with ``seed``."""
    check_number(n, "n", low=0, integer=True)
    v = np.random.default_rng(seed).normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def visible_from(points: np.ndarray, direction, *, distance: float = 3.0,
                 radius: float = 100.0) -> np.ndarray:
    """(N,) bool mask of the points of (N, 3) ``points`` a viewer sees from ``distance`` object
    diameters along ``direction`` (from the centroid); ``radius``: the spherical flip's radius,
    in the same diameters (larger keeps more points at grazing angles)."""
    import open3d as o3d

    pts = as_points(points, min_points=4)
    way = np.asarray(direction, dtype=np.float64)
    if way.shape != (3,) or not np.linalg.norm(way) > 0:
        raise ValueError(f"direction must be a non-zero 3-vector, got {direction!r}")
    diameter = object_diameter(pts)
    camera = pts.mean(axis=0) + way / np.linalg.norm(way) * distance * diameter
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    _, index = cloud.hidden_point_removal(camera, radius * diameter)
    mask = np.zeros(len(pts), dtype=bool)
    mask[np.asarray(index, dtype=np.int64)] = True
    return mask


def single_view_cuts(points: np.ndarray, n: int, seed: int, *, min_points: int = 4) -> list:
    """Up to ``n`` single-view cuts of (N, 3) ``points``: the (N,) bool masks of
    :func:`visible_from` seen from ``n`` seeded directions (:func:`view_directions`), each kept
    when it holds at least ``min_points`` points. What a partial scan of the part shows."""
    masks = []
    for direction in view_directions(n, seed):
        seen = visible_from(points, direction)
        if seen.sum() >= min_points:
            masks.append(seen)
    return masks
