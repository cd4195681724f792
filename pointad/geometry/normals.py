"""Local frames of a point cloud: kNN-PCA normals and surface variation, and their orientation.

The one place pointad computes normals (synthesis, features, renders and detectors all call
:func:`local_frames` or :func:`estimate_normals`). Normals are unit (N, 3) float64 arrays.
Orientation matters: a "bump" moves points along the normal and FPFH's angles change sign with
it, so every caller gets the same orientation for the same cloud. The orientation names are
Open3D's: ``"camera_location"`` (``orient_normals_towards_camera_location``) and
``"consistent_tangent_plane"`` (``orient_normals_consistent_tangent_plane``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree

from pointad.errors import InputError
from pointad.jit import njit
from pointad.validation import check_choice, check_not_degenerate, check_number

ORIENTATIONS = ("auto", "camera_location", "consistent_tangent_plane", "none")
_ORIENT_K = 8  # neighbours per point in the orientation graph


class LocalFrames(NamedTuple):
    """``normals`` (N, 3) unit float64 and ``curvature`` (N,) surface variation in [0, 1/3]."""

    normals: np.ndarray
    curvature: np.ndarray


def local_frames(points: np.ndarray, k: int = 30, *, orient: str = "auto",
                 camera_location=None, organized: bool = False,
                 radius: float | None = None) -> LocalFrames:
    """Oriented normals and surface variation of (N, 3) points (kNN PCA,
    :func:`pointad.ops.local_pca`).

    k: neighbourhood size, the point itself included. radius: when given (length unit of the
    points), only neighbours within it count, at most ``k`` of them (Open3D's hybrid search); a
    point with fewer than 3 inside falls back to its ``k`` nearest.

    orient: ``"camera_location"`` flips each normal toward ``camera_location`` (default the
    origin, i.e. the sensor of a single-view scan in camera coordinates);
    ``"consistent_tangent_plane"`` makes normals consistent across the surface (signs propagated
    along a minimum spanning tree of the kNN graph, as Open3D does) and then turns each connected
    part to face away from its centroid, for closed objects; ``"auto"`` is ``"camera_location"``
    for organized (single-view) clouds and ``"consistent_tangent_plane"`` otherwise; ``"none"``
    leaves PCA's signs. Raises :class:`InputError` for fewer than ``k`` points or a degenerate
    (collinear) cloud.
    """
    check_number(k, "normal neighbourhood size k", low=3, integer=True)
    check_choice(orient, "orient", ORIENTATIONS)
    if radius is not None:
        check_number(radius, "normal radius", low=0, low_open=True)
    points = np.asarray(points, dtype=np.float64)
    if len(points) < k:
        raise InputError(f"points has {len(points)} points, fewer than the normal neighbourhood "
                         f"size k={k}")
    check_not_degenerate(points)
    import torch  # imported on first use, so importing pointad.geometry stays light (CLI --help)

    from pointad.ops import local_pca
    normals, curvature = local_pca(torch.from_numpy(points), k, radius=radius)
    if orient == "auto":
        orient = "camera_location" if organized else "consistent_tangent_plane"
    normals = orient_normals(points, normals.numpy(), orient, camera_location=camera_location)
    return LocalFrames(normals, curvature.numpy())


def estimate_normals(points: np.ndarray, k: int = 30, *, orient: str = "auto",
                     camera_location=None, organized: bool = False,
                     radius: float | None = None) -> np.ndarray:
    """The (N, 3) unit normals of :func:`local_frames` (same arguments)."""
    return local_frames(points, k, orient=orient, camera_location=camera_location,
                        organized=organized, radius=radius).normals


def orient_normals(points, normals, orient: str = "consistent_tangent_plane",
                   camera_location=None) -> np.ndarray:
    """Return ``normals`` (N, 3) with signs chosen by ``orient`` (see :func:`local_frames`)."""
    check_choice(orient, "orient", ORIENTATIONS[1:])
    normals = np.array(normals, dtype=np.float64)
    if orient == "none":
        return normals
    if orient == "camera_location":
        vp = np.zeros(3) if camera_location is None else np.asarray(camera_location,
                                                                    dtype=np.float64)
        if vp.shape != (3,) or not np.isfinite(vp).all():
            raise InputError(f"camera_location must be 3 finite numbers, got {camera_location!r}")
        flip = ((vp - points) * normals).sum(axis=1) < 0
        normals[flip] *= -1
        return normals
    from pointad.ops import knn
    k = min(_ORIENT_K, len(points) - 1)
    neighbours = knn(np.ascontiguousarray(points, dtype=np.float64), points.astype(np.float64),
                     k + 1)[1][:, 1:]
    return _orient_outward(points, normals, neighbours)


@njit(cache=True)
def _propagate_signs(order, pred, normals, signs):
    # BFS order visits every parent before its children.
    for node in order:
        parent = pred[node]
        if parent < 0 or parent >= len(normals):
            continue
        dot = (normals[node, 0] * normals[parent, 0] + normals[node, 1] * normals[parent, 1]
               + normals[node, 2] * normals[parent, 2])
        signs[node] = signs[parent] if dot >= 0 else -signs[parent]


def _orient_outward(points, normals, neighbours):
    n = len(points)
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    cols = neighbours.ravel()
    # Edges between near-parallel normals are cheap, so the tree avoids propagating across creases.
    weight = 1.0 - np.abs((normals[rows] * normals[cols]).sum(axis=1)) + 1e-6
    graph = coo_matrix((weight, (rows, cols)), shape=(n, n)).tocsr()
    n_parts, part = connected_components(graph, directed=False)
    # A virtual root joined to one node of every part lets one BFS cover the whole forest.
    firsts = np.unique(part, return_index=True)[1]
    mst = minimum_spanning_tree(graph).tocoo()
    forest = coo_matrix((np.concatenate([mst.data, np.ones(n_parts)]),
                         (np.concatenate([mst.row, np.full(n_parts, n)]),
                          np.concatenate([mst.col, firsts]))), shape=(n + 1, n + 1)).tocsr()
    order, pred = breadth_first_order(forest, n, directed=False, return_predecessors=True)
    signs = np.ones(n + 1)
    _propagate_signs(order, pred, normals, signs)
    normals = normals * signs[:n, None]
    # Each connected part faces outward on the whole: the normals agree with centroid rays.
    outward = ((points - points.mean(axis=0)) * normals).sum(axis=1)
    votes = np.bincount(part, weights=outward, minlength=n_parts)
    normals[votes[part] < 0] *= -1
    return normals
