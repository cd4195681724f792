"""The realistic preset: Real3D-AD-like scans, a benchmark not easier than the real one.

What differs from the standard preset (``make_benchmark(..., preset="realistic")``, numbers in
:data:`REALISTIC`):

* **Parts**: five thin or branching families (stool, heatsink, wing, mug, fork; see
  :data:`pointad.synthbench.parts.THIN_CATEGORIES`) and three compact ones (flange, gear,
  hex_bolt), :data:`REALISTIC_CATEGORIES`.
* **Training templates**: complete 360-degree scans in the canonical pose, uniform density,
  sensor noise of 0.1-0.3 point spacings.
* **Test scans**: fresh scans, each with its own surface samples and density (a factor 0.6-1.4
  on the number of points, and a smooth spatial modulation: some regions up to 1.4-3.3 times
  denser than others, :func:`pointad.synthbench.scan.scan_varying`); 85 % of them cut to a
  partial view: the points seen from 1, 2 or 3 directions within 60 degrees of +z (ray cast
  against the part, :func:`pointad.synthbench.scan.visible_from`; views that see less than a
  quarter of the scan are drawn again, up to 4 times), the rest complete; a pose near the
  canonical one (a turn of at most 25 degrees about a random axis and a shift of at most 10 %
  of the part's largest extent, not a full random rotation); noise of 0.1-0.3 spacings; and
  0.05-0.2 % of the points thrown 3-12 spacings off the surface (outliers, labelled normal:
  the ground truth marks defects only).
* **Defects** at real scale: Real3D-AD's kinds (bulge, dent or sink, hole or missing material)
  and crack, scratch (:data:`REALISTIC_KINDS`; no pnas, so a detector trained on 3D-PNAS
  defects is tested on kinds it never saw); a target of 0.5-5 % of the test cloud's
  points; peak heights and depths of 1-5 point spacings (``height=(1, 5)``; a defect function
  without ``height`` gets the same as ``strength`` if it takes that, else keeps its own size).
  A defect is applied to the complete scan *before* the view is cut, so it can be partly out
  of view; the labels are those of the points kept. A defect that keeps fewer than 0.3 % or
  more than 6 % of the written cloud is drawn again (12 attempts, the last four on the partial
  cloud itself; then a bulge on the partial cloud, recorded in the manifest). Outliers are
  never defect points.

Only the Real3D-AD layout: MVTec 3D-AD's scans are single-view already, and the standard preset
writes them.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from pointad.errors import InputError
from pointad.geometry.rotations import rotation_about
from pointad.geometry.units import object_diameter
from pointad.synthbench.parts import FAMILIES, posed
from pointad.synthbench.scan import cone_direction, scan_varying, visible_from

# Every number of the preset, in one place (recorded in benchmark.json as its "scanner").
REALISTIC: dict[str, Any] = dict(
    rotation_deg=25.0,             # test pose: a turn of at most this about a random axis...
    shift=0.1,                     # ...and a shift of at most this times the largest extent
    density=(0.6, 1.4),            # per-scan factor on the number of points
    modulation=(0.3, 0.7),         # depth of the smooth spatial density variation, per scan
    wavelength=(0.6, 1.2),         # its wavelength, in largest extents of the part
    sigma_spacings=(0.1, 0.3),     # sensor noise per coordinate, in point spacings, per scan
    partial=0.85,                  # share of test scans cut to a partial view
    views=(0.5, 0.3, 0.2),         # probabilities of 1, 2, 3 view directions of a partial scan
    cone_deg=60.0,                 # view directions within this angle of +z
    min_visible=0.25,              # views seeing less of the scan than this are drawn again...
    view_attempts=4,               # ...up to this many times (then the best is kept)
    distance=300.0,                # sensor to part centre, mm
    min_cos=0.1,                   # returns at a grazing |cos| below this are lost
    outliers=(0.0005, 0.002),      # fraction of a test cloud's points thrown off the surface
    outlier_spacings=(3.0, 12.0),  # how far, in point spacings
    fraction_range=(0.005, 0.05),  # target anomalous fraction of a test cloud, drawn
    accept=(0.003, 0.06),          # anomalous fraction a written test cloud must have
    height_spacings=(1.0, 5.0),    # defect peak height / depth, in point spacings
    attempts=12,                   # draws of a defect before the bulge fallback
    partial_attempts=4,            # the last ones of which go on the partial cloud
)

# The preset's sizes; n_points: points of a complete uniform scan (templates; a test scan has
# 0.6-1.4 times these before its view is cut).
REALISTIC_SIZES: dict[str, dict[str, Any]] = {
    "small": dict(n_train=2, n_good=4, n_defective=4, n_points=4000),
    "default": dict(n_train=4, n_good=8, n_defective=12, n_points=24000),
}

REALISTIC_CATEGORIES = ("stool", "heatsink", "wing", "mug", "fork", "flange", "gear", "hex_bolt")
# No pnas: detectors that learn from 3D-PNAS defects (pnas-refiner, pnas-offset) must be tested
# on kinds they never trained on.
REALISTIC_KINDS = ("bulge", "dent", "hole", "crack", "scratch")


def realistic_kinds(category: str, n: int) -> list[str]:
    """The ``n`` defect kinds of a category: consecutive kinds of :data:`REALISTIC_KINDS`, each
    family starting further on (by its place in :data:`FAMILIES`, so not by what else is built)."""
    start = list(FAMILIES).index(category) * n
    return [REALISTIC_KINDS[(start + j) % len(REALISTIC_KINDS)] for j in range(n)]


def realistic_pose(mesh, rng: np.random.Generator):
    """``mesh`` turned by at most ``rotation_deg`` about a random axis through its centre and
    shifted by at most ``shift`` of its largest extent; returns ``(mesh, pose)`` as
    :func:`pointad.synthbench.parts.posed`, the pose also holding ``angle_deg``, ``axis`` and
    ``shift_mm``."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = float(rng.uniform(0.0, REALISTIC["rotation_deg"]))
    way = rng.normal(size=3)
    shift = way / np.linalg.norm(way) * rng.uniform(0.0, REALISTIC["shift"]) * mesh.extents.max()
    part, pose = posed(mesh, rotation_about(axis, np.deg2rad(angle)), shift=shift)
    pose.update(angle_deg=angle, axis=axis, shift_mm=shift)
    return part, pose


def realistic_template(mesh, n_points: int, rng: np.random.Generator):
    """A training template: a complete uniform scan of ``n_points`` in the canonical pose, noise
    of 0.1-0.3 spacings. Returns ``(points, info)``."""
    sigma = float(rng.uniform(*REALISTIC["sigma_spacings"]))
    scan, info = scan_varying(mesh, n_points, rng, sigma_spacings=sigma)
    info["sigma_spacings"] = sigma
    return scan.points, info


def realistic_test(mesh, n_points: int, rng: np.random.Generator, kind: str | None, defects,
                   partial: float | None = None):
    """One test scan of the preset (see the module's docstring), with a defect of ``kind``
    (None: a good scan) from ``defects`` (``defects.get(name)`` gives the defect function: a
    dict or a registry). ``partial``: the chance that the scan is cut to a partial view
    (default :data:`REALISTIC`'s 0.85; 0: every scan complete, as a 360-degree scanner gives).

    Returns ``(kind, points (M, 3), labels (M,) bool, pose, scan_info, defect_info)``; ``kind``
    is ``"bulge"`` when the requested kind could not be placed (``defect_info["requested"]``).
    """
    p = REALISTIC
    part, pose = realistic_pose(mesh, rng)
    density = float(rng.uniform(*p["density"]))
    modulation = float(rng.uniform(*p["modulation"]))
    wavelength = float(rng.uniform(*p["wavelength"])) * float(part.extents.max())
    sigma = float(rng.uniform(*p["sigma_spacings"]))
    scan, info = scan_varying(part, n_points, rng, density=density, modulation=modulation,
                              wavelength=wavelength, sigma_spacings=sigma)
    views = np.zeros((0, 3))
    visible = np.ones(len(scan.points), dtype=bool)
    if rng.random() < (p["partial"] if partial is None else partial):
        # Inverse CDF, not rng.choice(p=...): the same draws whatever numpy does with p.
        n_views = 1 + min(int(np.searchsorted(np.cumsum(p["views"]),
                                              rng.random() * sum(p["views"]), side="right")),
                          len(p["views"]) - 1)
        surface = scan.surface
        if surface is None or p["view_attempts"] < 1:
            raise InputError("the realistic scanner needs the noise-free surface and at least "
                             "one view attempt")
        best: tuple[np.ndarray, np.ndarray] | None = None
        for _ in range(p["view_attempts"]):  # an edge-on view of a flat part is taken again
            dirs = np.array([cone_direction(rng, p["cone_deg"]) for _ in range(n_views)])
            seen = visible_from(part, surface, scan.normals, dirs, distance=p["distance"],
                                min_cos=p["min_cos"])
            if best is None or seen.sum() > best[1].sum():
                best = (dirs, seen)
            if seen.mean() >= p["min_visible"]:
                break
        assert best is not None  # at least one attempt ran
        views, visible = best
    spacing = info["spacing_mm"]
    defect_info = {}
    if kind is None:
        points, labels = scan.points[visible], np.zeros(int(visible.sum()), dtype=bool)
    else:
        kind, points, labels, defect_info = _defect(kind, scan, visible, spacing, rng, defects)
    points, n_outliers = _outliers(points, labels, spacing, rng)
    info.update(density=density, modulation=modulation, sigma_spacings=sigma,
                n_points_360=len(scan.points), complete=len(views) == 0, views=views,
                visible_fraction=float(visible.mean()), outliers=n_outliers)
    return kind, points, labels, pose, info, defect_info


def _defect(kind, scan, visible, spacing, rng, defects):
    """A defect on the complete scan, kept where the view is; drawn again (the last attempts on
    the partial cloud) until the written cloud's anomalous fraction is within ``accept``.
    Returns ``(kind, points, labels, info)`` of the written (cut) cloud."""
    p = REALISTIC
    lo, hi = p["accept"]
    share = float(visible.mean())
    for attempt in range(p["attempts"]):
        on_partial = attempt >= p["attempts"] - p["partial_attempts"]
        pts, nrm = (scan.points[visible], scan.normals[visible]) if on_partial else \
            (scan.points, scan.normals)
        target = float(rng.uniform(*p["fraction_range"]))
        # On the complete scan the target is scaled by the share in view, so that a defect in
        # full view holds about ``target`` of the written cloud.
        fraction = target if on_partial else target * share
        info: dict = {}
        try:
            new, keep, labels = _call(defects.get(kind), pts, nrm, spacing, fraction, rng, info)
        except InputError:
            continue
        cut = keep if on_partial else keep & visible
        got = float(labels[cut].mean()) if cut.any() else 0.0
        if lo <= got <= hi:
            info.update(applied_to="partial scan" if on_partial else "complete scan",
                        attempts=attempt + 1, target_fraction=target)
            return kind, new[cut], labels[cut], info
    # Fallback: a bulge of the target size on the partial cloud always fits.
    pts, nrm = scan.points[visible], scan.normals[visible]
    target = float(rng.uniform(*p["fraction_range"]))
    info = {"requested": kind}
    new, keep, labels = _call(defects.get("bulge"), pts, nrm, spacing, target, rng, info)
    info.update(applied_to="partial scan", attempts=p["attempts"] + 1, target_fraction=target)
    return "bulge", new[keep], labels[keep], info


def _call(fn, points, normals, spacing, fraction, rng, info):
    """Run the defect function ``fn`` with the preset's sizes; ``(new, keep, labels)``, the drawn
    parameters added to ``info``.

    The sizes: ``fraction``, ``spacing`` and the peak in point spacings, as ``height`` (the
    range) where the kind takes it, else as ``strength`` (relative to the object diameter) for
    the kinds that take that. Both defect APIs are served: a function returning ``(new, keep,
    labels)`` and filling ``info=``, or one returning a result with ``points``, ``keep``,
    ``labels`` and ``params``.
    """
    params = inspect.signature(fn).parameters
    kwargs = {"fraction": fraction, "spacing": spacing}
    if "info" in params:
        kwargs["info"] = info
    if "height" in params:
        kwargs["height"] = REALISTIC["height_spacings"]
    elif "strength" in params:
        height = float(rng.uniform(*REALISTIC["height_spacings"]))
        kwargs["strength"] = height * spacing / object_diameter(points)
        info["height_spacings"] = height
    result = fn(points, normals, rng, **kwargs)
    if isinstance(result, tuple):
        return result
    info.update(result.params)
    info.setdefault("peak_mm", float(result.peak))
    return result.points, result.keep, result.labels


def _outliers(points, labels, spacing, rng):
    """Throw 0.05-0.2 % of the normal points 3-12 spacings off in random directions (flying
    points of a scanner). Returns ``(points, count)``."""
    lo, hi = REALISTIC["outliers"]
    n_lo = int(round(lo * len(points)))
    count = int(rng.integers(n_lo, max(n_lo, int(round(hi * len(points)))) + 1))
    normal = np.flatnonzero(~labels)
    count = min(count, len(normal))
    chosen = normal[rng.permutation(len(normal))[:count]]
    way = rng.normal(size=(count, 3))
    way /= np.maximum(np.linalg.norm(way, axis=1, keepdims=True), 1e-12)
    reach = rng.uniform(*REALISTIC["outlier_spacings"], size=count) * spacing
    points = np.array(points, dtype=np.float64, copy=True)
    points[chosen] += way * reach[:, None]
    return points, count
