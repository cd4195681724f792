"""Ground-truth defect regions for AUPRO: connected components of the anomalous elements.

Both helpers return ``(region_ids, n_regions)``: ``region_ids`` (P,) int64 over every element of
every input concatenated in order (images flattened row-major), 0 = normal element and
1..n_regions = the element's region, numbered globally across the whole set.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pointad.errors import InputError
from pointad.geometry.units import point_spacing
from pointad.metrics._checks import as_binary
from pointad.validation import as_points, check_number

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def as_list(items: ArrayLike | Iterable[ArrayLike], item_ndim: int, name: str) -> list[Any]:
    """``items`` as a list of arrays: one array of ``item_ndim`` dims is a single item, an array of
    ``item_ndim + 1`` dims is a stack of items, any other sequence is taken item by item."""
    if isinstance(items, np.ndarray):
        if items.ndim == item_ndim:
            return [items]
        if items.ndim != item_ndim + 1:
            raise InputError(f"{name} must be one {item_ndim}-D array, a stack of them or a list; "
                             f"got an array of shape {items.shape}")
    try:
        out = list(cast("Iterable[Any]", items))  # a scalar raises TypeError here
    except TypeError:
        raise InputError(f"{name} must be a list of arrays, got {type(items).__name__}") from None
    if not out:
        raise InputError(f"{name} is empty")
    return out


def region_ids_from_masks(masks: ArrayLike | Iterable[ArrayLike]) -> tuple[np.ndarray, int]:
    """Regions of 2-D ground-truth masks: 8-connected components of the nonzero pixels.

    ``masks``: list of (H_i, W_i) arrays (or an (N, H, W) stack, or one (H, W) mask); nonzero =
    anomalous. Returns ``(region_ids (sum H_i W_i,) int64, n_regions)``; masks without a defect
    contribute only zeros. Diagonal neighbours join, as in the MVTec AD / 3D-AD evaluation.
    """
    ids: list[np.ndarray] = []
    n_regions = 0
    for i, mask in enumerate(as_list(masks, 2, "gt_masks")):
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise InputError(f"gt_masks[{i}] must be 2-D (H, W), got shape {mask.shape}")
        labelled, n = ndimage.label(mask != 0, structure=_EIGHT_CONNECTED)
        labelled = labelled.astype(np.int64).ravel()
        labelled[labelled > 0] += n_regions  # global numbering across the whole set
        ids.append(labelled)
        n_regions += n
    return np.concatenate(ids), n_regions


def cloud_regions(points: np.ndarray, anomalous: np.ndarray, radius: float | None = None,
                  spacing_factor: float = 3.0) -> tuple[np.ndarray, int]:
    """Regions of one cloud: ``(ids (N,) int64 with 0 = normal and 1..n, n)``.

    ``points`` (N, 3), ``anomalous`` (N,) bool. Two anomalous points are linked when their distance
    is <= ``radius``; regions are the connected components of that graph. ``radius=None`` uses
    ``spacing_factor`` x the cloud's point spacing (:func:`pointad.geometry.point_spacing`: the
    median nearest-neighbour distance, duplicates ignored), so that a scan's neighbouring points
    always join while separate defects stay apart.
    """
    ids = np.zeros(len(points), dtype=np.int64)
    where = np.flatnonzero(anomalous)
    if where.size == 0:
        return ids, 0
    if where.size == 1:
        ids[where] = 1
        return ids, 1
    if radius is None:
        radius = spacing_factor * point_spacing(points)
    from pointad.ops import NeighbourIndex  # torch on first use: importing metrics stays light

    pairs = NeighbourIndex(np.ascontiguousarray(points[where], dtype=np.float64)).pairs(radius)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
                       shape=(where.size, where.size))
    n, comp = connected_components(graph, directed=False)
    ids[where] = comp + 1
    return ids, int(n)


def region_ids_from_points(points_list: ArrayLike | Iterable[ArrayLike],
                           labels_list: ArrayLike | Iterable[ArrayLike],
                           radius: float | None = None,
                           spacing_factor: float = 3.0) -> tuple[np.ndarray, int]:
    """Regions of unorganized clouds: connected components of each cloud's anomalous points.

    ``points_list``: list of (N_i, 3) arrays (or one (N, 3) array); ``labels_list``: matching
    (N_i,) bool / 0-1 labels, 1 = anomalous. The radius rule is :func:`cloud_regions`'s, applied
    per cloud (each cloud gets its own spacing when ``radius`` is None).
    Returns ``(region_ids (sum N_i,) int64, n_regions)``.
    """
    if radius is not None:
        check_number(radius, "radius", low=0, low_open=True)
    check_number(spacing_factor, "spacing_factor", low=0, low_open=True)
    clouds = as_list(points_list, 2, "points_list")
    labels = as_list(labels_list, 1, "labels_list")
    if len(clouds) != len(labels):
        raise InputError(f"points_list has {len(clouds)} clouds but labels_list has {len(labels)}")
    ids: list[np.ndarray] = []
    n_regions = 0
    for i, (pts, lab) in enumerate(zip(clouds, labels)):
        pts = as_points(pts, name=f"points_list[{i}]")
        if np.ndim(lab) != 1:
            raise InputError(f"labels_list[{i}] must be 1-D, got shape {np.shape(lab)}")
        lab = as_binary(lab, name=f"labels_list[{i}]")
        if len(lab) != len(pts):
            raise InputError(f"labels_list[{i}] has {len(lab)} labels but the cloud has "
                             f"{len(pts)} points")
        cloud_ids, n = cloud_regions(pts, lab, radius, spacing_factor)
        cloud_ids[cloud_ids > 0] += n_regions
        ids.append(cloud_ids)
        n_regions += n
    return np.concatenate(ids), n_regions
