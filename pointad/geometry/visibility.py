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


# Which surface a scan could have seen, from the surface it did see ----------------------------
# A partial scan shows the side of the part that faces its sensor directions and is not hidden
# behind other surface. Given a complete reference of the part (registered with the scan) and
# which of its points the scan covers, :func:`views_explaining` finds directions that explain the
# covered set and :func:`unhidden_facing` says which reference points those directions see: an
# uncovered one among them is surface the scan should have shown (a hole), not a side it could
# not see. Lengths in units of ``spacing`` (the reference's point spacing).

def sphere_directions(n: int) -> np.ndarray:
    """(n, 3) unit vectors spread evenly over the sphere (a Fibonacci lattice; no randomness)."""
    check_number(n, "n", low=1, integer=True)
    i = np.arange(n) + 0.5
    polar = np.arccos(1.0 - 2.0 * i / n)
    turn = np.pi * (1.0 + 5.0 ** 0.5) * i
    return np.stack([np.cos(turn) * np.sin(polar), np.sin(turn) * np.sin(polar),
                     np.cos(polar)], axis=1)


def _image_axes(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(d, u, v)``: the unit ``direction`` and two unit vectors completing a right-handed
    frame (the image plane of a view along it)."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    u = np.cross(d, np.eye(3)[int(np.argmin(np.abs(d)))])
    u /= np.linalg.norm(u)
    return d, u, np.cross(d, u)


def zbuffer_visible(points: np.ndarray, normals: np.ndarray, direction, spacing: float, *,
                    pixel: float = 3.0, tolerance: float = 2.0, min_cos: float = 0.1,
                    max_slope: float = 1.0) -> np.ndarray:
    """(N,) bool: the points of (N, 3) ``points`` (outward (N, 3) ``normals``) a sensor far away
    along ``direction`` sees. An orthographic z-buffer of ``pixel`` spacings: a point is seen
    when its normal turns to the sensor (cosine above ``min_cos``) and it lies within
    ``tolerance`` spacings, plus its pixel's depth span on a steep face (pixel times the face's
    slope, at most ``max_slope``), of the nearest point in its pixel. A quick estimate (the
    steep-face allowance lets a point just behind an edge through)."""
    d, u, v = _image_axes(direction)
    pts = np.asarray(points, dtype=np.float64)
    size = pixel * spacing
    col = np.floor((pts @ u - (pts @ u).min()) / size).astype(np.int64)
    row = np.floor((pts @ v - (pts @ v).min()) / size).astype(np.int64)
    cell = row * (int(col.max()) + 1) + col
    depth = -(pts @ d)  # distance from the sensor, up to a constant
    nearest = np.full(int(cell.max()) + 1, np.inf)
    np.minimum.at(nearest, cell, depth)
    cos = np.asarray(normals, dtype=np.float64) @ d
    slope = np.minimum(np.sqrt(np.clip(1.0 - cos ** 2, 0.0, 1.0)) / np.maximum(cos, min_cos),
                       max_slope)
    return (cos > min_cos) & (depth <= nearest[cell] + tolerance * spacing + size * slope)


def views_explaining(points: np.ndarray, normals: np.ndarray, covered: np.ndarray,
                     spacing: float, *, max_views: int = 6, n_directions: int = 96,
                     sample: int = 4000, seed: int = 0) -> np.ndarray:
    """(K, 3) view directions (K <= ``max_views``) whose views together show the ``covered``
    points of a complete reference (N, 3) ``points`` (outward ``normals``; ``covered`` (N,)
    bool, e.g. the points a registered partial scan has a point next to) and little else.

    Greedy over ``n_directions`` directions (:func:`sphere_directions`) on a seeded sample of
    ``sample`` points (:func:`zbuffer_visible` at the sample's spacing): each step adds the
    direction whose newly seen points are most often covered (covered minus uncovered), and
    stops when that gains less than 2% of the sample. A scan from 1-3 directions gives about
    those; a complete scan up to ``max_views``. ``spacing``: the reference's point spacing."""
    check_number(max_views, "max_views", low=1, integer=True)
    pts = as_points(points, min_points=4)
    covered = np.asarray(covered, dtype=bool)
    pick = np.random.default_rng(seed).permutation(len(pts))[:sample]
    sub, sub_normals, sub_covered = pts[pick], np.asarray(normals)[pick], covered[pick]
    sub_spacing = spacing * np.sqrt(len(pts) / len(sub))
    directions = sphere_directions(n_directions)
    seen = np.array([zbuffer_visible(sub, sub_normals, d, sub_spacing) for d in directions])
    union = np.zeros(len(sub), dtype=bool)
    chosen: list[int] = []
    for _ in range(max_views):
        new = seen & ~union
        gain = (new & sub_covered).sum(axis=1) - (new & ~sub_covered).sum(axis=1)
        best = int(np.argmax(gain))
        if gain[best] <= 0.02 * len(sub):
            break
        chosen.append(best)
        union |= seen[best]
    return directions[chosen]


def unhidden_facing(points: np.ndarray, normals: np.ndarray, which: np.ndarray, directions,
                    spacing: float, *, radius: float = 2.0, ahead: float = 2.0,
                    min_cos: float = 0.3) -> np.ndarray:
    """(len(which),) bool: whether each point ``points[which]`` of a reference surface (N, 3),
    outward ``normals``, is seen along one of (K, 3) ``directions``: it faces it (cosine above
    ``min_cos``) and no other point lies on the ray from it to the sensor, i.e. within
    ``radius`` spacings of the ray and more than ``ahead`` spacings in front, and not on the
    point's own stretch of surface (farther from it than ``radius / cos + ahead`` spacings, the
    reach of a face as steep as its own). ``spacing``: the reference's point spacing."""
    from scipy.spatial import cKDTree

    pts = np.asarray(points, dtype=np.float64)
    nrm = np.asarray(normals, dtype=np.float64)
    which = np.asarray(which, dtype=np.int64)
    seen = np.zeros(len(which), dtype=bool)
    for direction in np.asarray(directions, dtype=np.float64).reshape(-1, 3):
        d, u, v = _image_axes(direction)
        cos = nrm[which] @ d
        ask = np.flatnonzero((cos > min_cos) & ~seen)
        if not len(ask):
            continue
        image, height = np.c_[pts @ u, pts @ v], pts @ d
        lists = cKDTree(image).query_ball_point(image[which[ask]], radius * spacing)
        counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        if not counts.sum():
            seen[ask] = True
            continue
        owner = np.repeat(np.arange(len(ask)), counts)
        other = np.concatenate([np.asarray(x, dtype=np.int64) for x in lists if len(x)])
        me = which[ask][owner]
        reach = (radius / np.maximum(cos[ask][owner], min_cos) + ahead) * spacing
        blocks = ((height[other] > height[me] + ahead * spacing)
                  & (np.linalg.norm(pts[other] - pts[me], axis=1) > reach))
        hidden = np.bincount(owner[blocks], minlength=len(ask)) > 0
        seen[ask[~hidden]] = True
    return seen
