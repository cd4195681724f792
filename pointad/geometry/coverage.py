"""Missing surface: where a registered scan lacks a surface the complete reference has.

A hole in a scanned part removes points; what is left around it keeps the surface's shape and
its distance to a training cloud, so a distance from the scan to the reference (``raw``, a
registration residual) cannot see it. Seen from the other side it is plain: the reference's
points over the hole have no scan point near them. So does every side a partial scan did not
see, though; what tells a hole from an unseen side is its size and shape. The reference's
uncovered points are grouped into connected regions: a region of at most ``max_region`` of the
reference's points is a hole (an unseen side of a 1-3 view scan is a large part of the
reference), and the scan points on its rim get the region's depth.

Units: lengths are those of the clouds; ``gap`` and the rim in units of the local point spacing.
"""
from __future__ import annotations

import numpy as np

from pointad.validation import as_points, check_number

_SPACING_K = 8  # local spacing from the 8th nearest neighbour's distance
_LINK = 4.0     # uncovered reference points this many of its spacings apart are one region



def local_spacing(points: np.ndarray, index=None) -> np.ndarray:
    """(N,) point spacing around each of (N, 3) ``points``, same unit and meaning as
    :func:`pointad.geometry.point_spacing` (the median nearest-neighbour distance) but local:
    the distance to its 8th nearest other point times ``sqrt(ln 2 / 8)`` (on a surface sampled
    at random with density rho, the k-th neighbour lies at about ``sqrt(k / (pi rho))`` and the
    median nearest one at ``sqrt(ln 2 / (pi rho))``), so it follows a density that varies
    across the cloud. ``index``: a :class:`pointad.ops.NeighbourIndex` of
    ``points`` when one exists."""
    from pointad.ops import NeighbourIndex

    pts = as_points(points, min_points=2)
    index = NeighbourIndex(pts) if index is None else index
    k = min(_SPACING_K, len(pts) - 1)
    dist = index.query(pts, k + 1)[0][:, k]
    return dist * np.sqrt(np.log(2.0) / k)


def uncovered_regions(points: np.ndarray, reference: np.ndarray, *, gap: float = 2.5,
                      max_region: float = 0.05, min_region: float = 0.002,
                      min_facing: float = 0.7, min_enclosed: float = 0.0,
                      visibility: bool = False, normals=None, index=None,
                      reference_index=None, spacing=None) -> tuple[np.ndarray, np.ndarray]:
    """The small regions of ``reference`` that (N, 3) ``points`` do not cover.

    ``reference``: (M, 3) a complete cloud of the part, registered with ``points``. A reference
    point is uncovered when its nearest scan point is farther than ``gap`` times the larger of
    the scan's local spacing there (:func:`local_spacing`) and the reference's spacing.
    Uncovered points within 4 reference spacings of each other form one region; a region of
    ``min_region * M`` (at least 5) to ``max_region * M`` points is kept (larger: a side the
    scanner did not see; smaller: gaps of the sampling), and when it faces the way the covered
    reference surface around it does: the mean cosine between its points' outward normals
    (``normals``, (M, 3), estimated when None) and the mean normal of its ring (the covered
    reference points within 4 spacings of it) is at least ``min_facing`` (-1: no test). A hole
    in a face faces the way the face does; the wall of a bore or a pocket the scanner could not
    see into, which a partial scan misses in a good part, is turned away from its rim. And a
    kept region is enclosed: at least ``min_enclosed`` of the reference points next to it (among
    its points' 16 nearest, within 4 spacings, not in it) are covered (0, the default: no
    test). A hole is surrounded by the surface the scan has; a region that runs into surface
    the scan lacks and could not see (the edge of a shadow, of a side out of view, where the
    estimated views of ``visibility`` are a little off) is not, nor is a hole at the edge of what
    the scan saw. Without ``visibility`` every point next to a region is covered.
    ``visibility`` (off by default): before the regions are formed, an uncovered point counts
    only where the scan could have seen it: turned to one of the view directions that explain
    what the scan covers and not hidden behind other reference surface along it
    (:func:`pointad.geometry.visibility.views_explaining`,
    :func:`pointad.geometry.visibility.unhidden_facing`). A hole next to the side a partial scan
    did not see is then a region of its own instead of a corner of that side (too large to be
    a hole); a side the scan could not see drops out whatever its size.
    ``index``, ``reference_index``: a :class:`pointad.ops.NeighbourIndex` of ``points``, one of
    ``reference``, when they exist; ``spacing``: the (N,) :func:`local_spacing` of ``points``
    when known (it does not change when they move rigidly).

    Returns ``(region (M,) int, depth (M,) float)``: the kept region of each reference point
    (0, 1, ...; -1 for a covered point or one of a region not kept), and every reference
    point's distance to its nearest scan point.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from pointad.geometry.units import point_spacing
    from pointad.ops import NeighbourIndex

    check_number(gap, "gap", low=0, low_open=True)
    check_number(max_region, "max_region", low=0, high=1)
    check_number(min_region, "min_region", low=0, high=max_region)
    check_number(min_facing, "min_facing", low=-1, high=1)
    check_number(min_enclosed, "min_enclosed", low=0, high=1)
    pts = as_points(points, min_points=2)
    ref = as_points(reference, min_points=2, name="reference")
    index = NeighbourIndex(pts) if index is None else index
    reference_index = NeighbourIndex(ref) if reference_index is None else reference_index
    spacing = local_spacing(pts, index) if spacing is None else spacing
    depth, near = (a[:, 0] for a in index.query(ref, 1))
    ref_spacing = point_spacing(ref, reference_index)
    scale = np.maximum(spacing[near], ref_spacing)
    covered = depth <= gap * scale
    uncovered = np.flatnonzero(~covered)
    region = np.full(len(ref), -1, dtype=np.int64)
    fewest = max(5, int(np.ceil(min_region * len(ref))))
    if len(uncovered) < fewest:
        return region, depth
    if visibility or min_facing > -1:
        from pointad.geometry.normals import estimate_normals
        normals = estimate_normals(ref) if normals is None else np.asarray(normals)
    if visibility:
        from pointad.geometry.visibility import unhidden_facing, views_explaining
        views = views_explaining(ref, normals, covered, ref_spacing)
        uncovered = uncovered[unhidden_facing(ref, normals, uncovered, views, ref_spacing)]
        if len(uncovered) < fewest:
            return region, depth
    sub = ref[uncovered]
    k = min(16, len(sub))
    dist, nbr = NeighbourIndex(sub).query(sub, k)
    link = dist <= _LINK * ref_spacing
    rows = np.repeat(np.arange(len(sub)), k)[link.ravel()]
    graph = coo_matrix((np.ones(len(rows)), (rows, nbr.ravel()[link.ravel()])),
                       shape=(len(sub), len(sub)))
    _, label = connected_components(graph, directed=False)
    size = np.bincount(label)
    small = (size >= fewest) & (size <= max_region * len(ref))
    if (min_facing > -1 or min_enclosed > 0) and small.any():
        for c in np.flatnonzero(small):
            small[c] = _ring_holds(normals, uncovered[label == c], covered, reference_index,
                                   ref, _LINK * ref_spacing, min_facing, min_enclosed)
    number = np.cumsum(small) - 1  # kept regions numbered 0, 1, ... in label order
    inside = small[label]
    region[uncovered[inside]] = number[label[inside]]
    return region, depth


def _ring_holds(normals, members: np.ndarray, covered: np.ndarray, ref_index,
                ref: np.ndarray, reach: float, min_facing: float, min_enclosed: float) -> bool:
    """Whether the reference points ``members`` (an uncovered region) are enclosed and face
    the way their ring does. Next to them: the reference points among their 16 nearest, within
    ``reach``, not members; at least ``min_enclosed`` of those must be ``covered`` (0: no test).
    The ring: those of them that are covered; the mean cosine between the members' ``normals``
    and the ring's mean normal must be at least ``min_facing`` (-1: no test; a ring of fewer
    than 6 points fails it)."""
    dist, nbr = ref_index.query(ref[members], 16)
    near = np.setdiff1d(np.unique(nbr[dist <= reach]), members)
    if min_enclosed > 0 and not (len(near) and covered[near].mean() >= min_enclosed):
        return False
    if min_facing <= -1:
        return True
    ring = near[covered[near]]
    if len(ring) < 6:
        return False
    way = normals[ring].mean(axis=0)
    size = np.linalg.norm(way)
    if not size > 0:
        return False
    return bool((normals[members] @ (way / size)).mean() >= min_facing)


def missing_surface(points: np.ndarray, reference: np.ndarray, *, gap: float = 2.5,
                    max_region: float = 0.05, min_region: float = 0.002,
                    min_facing: float = 0.7, min_enclosed: float = 0.0,
                    visibility: bool = False, rim: float = 4.0, rim_share: float = 0.0,
                    normals=None, index=None, reference_index=None,
                    spacing=None) -> np.ndarray:
    """(N,) how much surface is missing next to each of (N, 3) ``points``, in their unit.

    ``reference``: (M, 3) a complete cloud of the part, registered with ``points``. Each
    reference point t of a small uncovered region (:func:`uncovered_regions`, with ``gap``,
    ``max_region``, ``min_region``, ``min_facing``, ``min_enclosed``, ``visibility`` and the
    reference's ``normals``) lies at a
    depth d(t) from the scan (its distance to the nearest scan point); a scan point within
    ``d(t)`` plus ``rim`` of its local spacings plus ``rim_share`` times the region's largest
    depth D of such a t (among its 16 nearest) gets D, the largest over the regions it
    borders. Points near no small uncovered region get 0. So the rim of a hole of radius r
    scores about r, as a bump of height r scores in a point-to-reference distance, and reaches
    about ``rim`` spacings plus ``rim_share * r`` beyond the hole's edge (``rim_share`` 0.5: the
    rim :func:`pointad.synthesis.hole.carve_hole` labels, half the hole's radius). A list of
    shares gives one row per share, (S, N), from one search for the regions. The defaults
    (``gap`` 2.5, ``rim`` 4, ``max_region`` 0.05, ``min_region`` 0.002, ``min_facing`` 0.7)
    were chosen on a ``--seed 1`` build of the realistic preset (``rim_share`` 0 keeps the
    narrow rim: docs/realistic-preset.md, *A hole's rim as wide as its label*);
    ``min_enclosed`` is off by default (0.9 with ``visibility`` there: good scans with a false
    hole 24 -> 0 of 64, but holes found 10 -> 8 of 19; on the build nothing was chosen on,
    ``pnas-offset`` was level with it at its defaults and worse with ``consensus``:
    docs/realistic-preset.md, *Only enclosed regions as holes*). ``index``,
    ``reference_index``, ``spacing``: as in :func:`uncovered_regions`.
    """
    from pointad.ops import NeighbourIndex

    check_number(rim, "rim", low=0)
    shares, several = _rim_shares(rim_share)
    pts = as_points(points, min_points=2)
    index = NeighbourIndex(pts) if index is None else index
    spacing = local_spacing(pts, index) if spacing is None else spacing
    region, depth = uncovered_regions(pts, reference, gap=gap, max_region=max_region,
                                      min_region=min_region, min_facing=min_facing,
                                      min_enclosed=min_enclosed, visibility=visibility,
                                      normals=normals, index=index,
                                      reference_index=reference_index, spacing=spacing)
    kept = region >= 0
    if not kept.any():
        return np.zeros((len(shares), len(pts)) if several else len(pts))
    holes = np.asarray(reference, dtype=np.float64)[kept]
    hole_depth, hole_region = depth[kept], region[kept]
    deepest = np.zeros(hole_region.max() + 1)
    np.maximum.at(deepest, hole_region, hole_depth)
    k = min(16, len(holes))
    dist, nbr = NeighbourIndex(holes).query(pts, k)
    region_depth = deepest[hole_region[nbr]]
    reach = hole_depth[nbr] + rim * spacing[:, None]
    out = np.array([np.where(dist <= reach + share * region_depth, region_depth, 0.0).max(axis=1)
                    for share in shares])
    return out if several else out[0]


def _rim_shares(rim_share) -> tuple[list, bool]:
    """``(shares, several)``: :func:`missing_surface`'s ``rim_share`` as a list of checked
    shares, and whether it was given as a list (one row per share) or one number."""
    several = isinstance(rim_share, (list, tuple))
    return [check_number(x, "rim_share", low=0)
            for x in (rim_share if several else [rim_share])], several


def missing_from_templates(points: np.ndarray, matrices: dict, templates, *, normals=None,
                           indexes=None, agree: int = 2, **kw) -> np.ndarray:
    """(N,) :func:`missing_surface` of (N, 3) ``points`` against several complete templates, in
    the points' unit. ``matrices`` maps a template's position in ``templates`` to the 4 x 4
    transform taking ``points`` onto it (:func:`pointad.geometry.registration.align`);
    ``normals``: the templates' outward normals, in the same order (estimated when None);
    ``indexes``: a :class:`pointad.ops.NeighbourIndex` of each, when they exist. A
    point gets the largest value that at least ``agree`` of the templates give it (the
    ``agree``-th largest; all of them when there are fewer): one template a hole merges into an
    unseen side of cannot hide it, one the scan is badly aligned to cannot make one. ``kw``:
    :func:`missing_surface`'s parameters ((S, N) with a list of ``rim_share``, each share's
    row found as the others are). Zeros when ``matrices`` is empty."""
    from pointad.geometry.registration import transform
    from pointad.ops import NeighbourIndex

    check_number(agree, "agree", low=1, integer=True)
    points = np.asarray(points, dtype=np.float64)
    spacing = local_spacing(points) if matrices else None  # the same in every rigid pose
    values = []
    for j, matrix in matrices.items():
        moved = transform(points, matrix)
        values.append(missing_surface(
            moved, templates[j], index=NeighbourIndex(moved), spacing=spacing,
            normals=None if normals is None else normals[j],
            reference_index=None if indexes is None else indexes[j], **kw))
    if not values:
        shares, several = _rim_shares(kw.get("rim_share", 0.0))
        return np.zeros((len(shares), len(points)) if several else len(points))
    stacked = np.sort(np.asarray(values), axis=0)
    return stacked[len(values) - min(agree, len(values))]
