"""AUPRO: area under the per-region-overlap (PRO) curve up to a false-positive-rate limit.

The segmentation metric of MVTec AD / MVTec 3D-AD / Real3D-AD tables. AUROC over pixels lets a large
defect dominate; PRO averages the detected fraction over ground-truth *regions*, so a 1-pixel
scratch weighs as much as a large dent. The curve plots PRO against the FPR on normal elements and
is integrated up to ``fpr_limit`` (0.3 by convention), then normalized by ``fpr_limit`` into [0, 1].

All variants share :func:`pro_curve`, which works on flat arrays: ``scores`` (P,) and
``region_ids`` (P,) int with 0 = normal element and 1..n_regions = ground-truth region (numbered
globally across all images / clouds). :func:`aupro_images` and :func:`aupro_points` build the
regions from masks / labelled clouds (:mod:`pointad.metrics.regions`).
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike

from pointad.errors import InputError
from pointad.metrics._checks import as_scores
from pointad.metrics.regions import as_list, region_ids_from_masks, region_ids_from_points
from pointad.validation import check_number


def _checked_regions(scores: ArrayLike, region_ids: ArrayLike,
                     n_regions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated ``(scores (P,) float64, ids (P,) int64, sizes (n_regions + 1,))``."""
    s = as_scores(scores)
    ids = np.asarray(region_ids)
    if not (np.issubdtype(ids.dtype, np.integer) or ids.dtype == bool):
        raise InputError(f"region_ids must be integers, got dtype {ids.dtype}")
    ids = ids.astype(np.int64).ravel()
    if ids.size != s.size:
        raise InputError(f"region_ids has {ids.size} elements but scores has {s.size}")
    check_number(n_regions, "n_regions", low=0, integer=True)
    if n_regions == 0:
        raise InputError("there is no anomalous region in the ground truth: AUPRO is undefined")
    if ids.size and (ids.min() < 0 or ids.max() > n_regions):
        raise InputError(f"region_ids must lie in 0..n_regions={n_regions}, found values "
                         f"{ids.min()}..{ids.max()}")
    sizes = np.bincount(ids, minlength=n_regions + 1)
    if sizes[0] == 0:
        raise InputError("there is no normal (OK) element: AUPRO is undefined without an FPR")
    empty = np.flatnonzero(sizes[1:] == 0)
    if empty.size:
        raise InputError(f"region {int(empty[0]) + 1} of n_regions={n_regions} has no element")
    return s, ids, sizes


def pro_curve(scores: ArrayLike, region_ids: ArrayLike, n_regions: int,
              num_thresholds: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """PRO curve ``(fpr, pro)``, both (T,) with fpr nondecreasing.

    ``scores`` (P,) float, ``region_ids`` (P,) int (0 = normal, r = region r), ``n_regions`` >= 1.

    Exact (``num_thresholds=None``, the official MVTec 3D-AD evaluation): every distinct score is a
    threshold. Each normal element adds 1 / N_ok to the FPR and each element of region r adds
    1 / (|r| n_regions) to the PRO once the threshold passes it; elements are sorted by descending
    score and summed; only the last point of each block of equal scores is kept (a tie is one
    threshold); both are clipped to <= 1; (0, 0) is prepended and (1, 1) appended.

    ``num_thresholds=K`` (the variant behind the BTF / M3DM / Real3D-AD tables, K = 100 there):
    thresholds are K order statistics of the normal scores, ``ok_sorted[pos]`` with
    ``pos = linspace(0, N_ok - 1, K).astype(int)``; FPR = 1 - (pos + 1) / N_ok; a region's overlap
    is the fraction of its elements scoring strictly above the threshold; PRO = mean over regions.
    The point (1, 1) is added and the curve is ordered by increasing FPR.
    """
    s, ids, sizes = _checked_regions(scores, region_ids, n_regions)
    if num_thresholds is not None:
        check_number(num_thresholds, "num_thresholds", low=2, integer=True)
        return _pro_curve_sampled(s, ids, sizes, num_thresholds)
    # Per-element increments; 1/(|r| n) makes each region weigh the same in the mean overlap.
    region_step = np.concatenate([[0.0], 1.0 / (sizes[1:] * float(n_regions))])
    order = np.argsort(s)[::-1]  # order inside a tie is irrelevant: only block ends are kept
    ids_sorted, s_sorted = ids[order], s[order]
    fpr = np.cumsum((ids_sorted == 0) / float(sizes[0]))
    pro = np.cumsum(region_step[ids_sorted])
    last = np.append(s_sorted[1:] != s_sorted[:-1], True)
    # Clip: float round-off can push the running sums a hair above 1.
    fpr = np.concatenate([[0.0], np.minimum(fpr[last], 1.0), [1.0]])
    pro = np.concatenate([[0.0], np.minimum(pro[last], 1.0), [1.0]])
    return fpr, pro


def _pro_curve_sampled(s: np.ndarray, ids: np.ndarray, sizes: np.ndarray,
                       k: int) -> tuple[np.ndarray, np.ndarray]:
    """PRO curve at ``k`` thresholds sampled from the normal scores (see :func:`pro_curve`)."""
    n_ok, n_regions = int(sizes[0]), len(sizes) - 1
    pos = np.linspace(0, n_ok - 1, k).astype(int)
    thresholds = np.sort(s[ids == 0])[pos]  # nondecreasing
    fpr = 1.0 - (pos + 1) / n_ok
    anom = ids > 0
    # An element passes thresholds 0..c-1, c = number of thresholds strictly below its score; the
    # weighted histogram of c, summed from the top, gives every threshold's PRO in one pass.
    passed = np.searchsorted(thresholds, s[anom], side="left")
    weight = 1.0 / (sizes[ids[anom]] * float(n_regions))
    hist = np.bincount(passed, weights=weight, minlength=k + 1)
    pro = np.minimum(np.cumsum(hist[::-1])[::-1][1:], 1.0)
    # Thresholds rise with pos, so the FPR falls: add (1, 1) at the start and reverse.
    return (np.concatenate([[1.0], fpr])[::-1].copy(),
            np.concatenate([[1.0], pro])[::-1].copy())


def area_under_curve(x: ArrayLike, y: ArrayLike, x_max: float) -> float:
    """Trapezoid area under the curve (x, y) for x in [x[0], x_max].

    ``x``, ``y``: (T,), x nondecreasing; points with a non-finite coordinate are dropped. When
    ``x_max`` is not itself a sample, the segment that crosses it is cut there with y linearly
    interpolated, so the area does not jump as the limit passes a sample.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.size != y.size:
        raise InputError(f"x has {x.size} points but y has {y.size}")
    check_number(x_max, "x_max")
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if x.size == 0:
        raise InputError("the curve has no finite point")
    if np.any(np.diff(x) < 0):
        raise InputError("x must be nondecreasing")
    inside = int(np.searchsorted(x, x_max, side="right"))  # points with x <= x_max
    if inside == 0:
        raise InputError(f"x_max={x_max} lies below the curve's first x={x[0]}")
    correction = 0.0
    if x[inside - 1] != x_max:
        if inside == x.size:
            raise InputError(f"x_max={x_max} lies beyond the curve's last x={x[-1]}")
        x0, x1, y0, y1 = x[inside - 1], x[inside], y[inside - 1], y[inside]
        y_cut = y0 + (y1 - y0) * (x_max - x0) / (x1 - x0)
        correction = 0.5 * (y0 + y_cut) * (x_max - x0)
    x, y = x[:inside], y[:inside]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)) + correction)


def aupro(scores: ArrayLike, region_ids: ArrayLike, n_regions: int, fpr_limit: float = 0.3,
          num_thresholds: int | None = None) -> float:
    """Normalized AUPRO in [0, 1]: area under :func:`pro_curve` for FPR <= ``fpr_limit``, / limit.

    ``scores`` (P,), ``region_ids`` (P,) int (0 = normal, 1..n_regions), see :func:`pro_curve` for
    ``num_thresholds`` (None = exact, official; 100 = the sampled variant of many 3D tables).
    """
    check_number(fpr_limit, "fpr_limit", low=0, high=1, low_open=True)
    fpr, pro = pro_curve(scores, region_ids, n_regions, num_thresholds)
    return area_under_curve(fpr, pro, fpr_limit) / fpr_limit


def aupro_images(anomaly_maps: ArrayLike | Iterable[ArrayLike],
                 gt_masks: ArrayLike | Iterable[ArrayLike], fpr_limit: float = 0.3,
                 num_thresholds: int | None = None) -> float:
    """AUPRO of 2-D anomaly maps (e.g. MVTec 3D-AD depth-image predictions).

    ``anomaly_maps``, ``gt_masks``: lists of (H_i, W_i) arrays (or (N, H, W) stacks, or one image);
    mask nonzero = anomalous. Regions are the 8-connected components of each mask, numbered
    across the set; defect-free images add normal pixels only.
    """
    maps = as_list(anomaly_maps, 2, "anomaly_maps")
    masks = as_list(gt_masks, 2, "gt_masks")
    if len(maps) != len(masks):
        raise InputError(f"anomaly_maps has {len(maps)} images but gt_masks has {len(masks)}")
    for i, (amap, mask) in enumerate(zip(maps, masks)):
        if np.shape(amap) != np.shape(mask):
            raise InputError(f"anomaly_maps[{i}] has shape {np.shape(amap)} but gt_masks[{i}] "
                             f"has shape {np.shape(mask)}")
    ids, n_regions = region_ids_from_masks(masks)
    if n_regions == 0:
        raise InputError("no ground-truth mask has an anomalous pixel: AUPRO is undefined")
    scores = np.concatenate([as_scores(m, name=f"anomaly_maps[{i}]") for i, m in enumerate(maps)])
    return aupro(scores, ids, n_regions, fpr_limit, num_thresholds)


def aupro_points(points_list: ArrayLike | Iterable[ArrayLike],
                 scores_list: ArrayLike | Iterable[ArrayLike],
                 labels_list: ArrayLike | Iterable[ArrayLike], radius: float | None = None,
                 spacing_factor: float = 3.0, fpr_limit: float = 0.3,
                 num_thresholds: int | None = None) -> float:
    """AUPRO of unorganized point clouds (e.g. Real3D-AD per-point predictions).

    ``points_list``: list of (N_i, 3) arrays, ``scores_list``: (N_i,) scores, ``labels_list``:
    (N_i,) bool / 0-1 (1 = anomalous); one (N, 3) array with (N,) scores and labels is one cloud.
    Regions are the connected components of each cloud's anomalous points when every pair of
    anomalous points at distance <= ``radius`` is linked. ``radius=None`` takes, per cloud,
    ``spacing_factor`` (default 3) x the median distance from a point to its nearest distinct
    neighbour. On a unit-spaced grid, ``radius=1.5`` links exactly the 8 grid neighbours, which
    reproduces :func:`aupro_images`.
    """
    clouds = as_list(points_list, 2, "points_list")
    score_list = as_list(scores_list, 1, "scores_list")
    if len(score_list) != len(clouds):
        raise InputError(f"points_list has {len(clouds)} clouds but scores_list has "
                         f"{len(score_list)}")
    ids, n_regions = region_ids_from_points(clouds, labels_list, radius, spacing_factor)
    parts = []
    for i, (pts, sc) in enumerate(zip(clouds, score_list)):
        if np.ndim(sc) != 1 or len(sc) != len(pts):
            raise InputError(f"scores_list[{i}] must have shape ({len(pts)},), got {np.shape(sc)}")
        parts.append(as_scores(sc, name=f"scores_list[{i}]"))
    if n_regions == 0:
        raise InputError("no cloud has an anomalous point: AUPRO is undefined")
    return aupro(np.concatenate(parts), ids, n_regions, fpr_limit, num_thresholds)
