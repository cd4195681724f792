"""Viewpoints and orthographic drawing of coloured points on matplotlib axes.

A view is ``"defect"`` (look straight at the labelled or highest-scoring region, from outside the
part), ``"oblique"`` (the defect view tilted by :data:`OBLIQUE_TILT` so a bump or dent shows its
relief; the viewer's default) or ``(azimuth, elevation)`` in degrees (world frame: azimuth about
+z from +x, elevation above the xy plane). :func:`draw_points` draws the points seen from there
with the painter's algorithm (far points first, markers big enough to close the gaps), so the
front surface hides the back without a 3D engine.
"""
from __future__ import annotations

import numpy as np

from pointad.errors import InputError
from pointad.geometry.units import point_spacing

DEFAULT_VIEW = (30.0, 25.0)
OBLIQUE_TILT = 50.0  # degrees between an "oblique" view and the defect's straight-on view
VIEW_NAMES = ("defect", "oblique")
MAX_FOCUS_FRACTION = 0.25  # "defect" views fall back to DEFAULT_VIEW above this labelled share


def parse_view(text: str):
    """``"defect"`` / ``"oblique"`` -> the name; ``"AZ,EL"`` (degrees) -> ``(az, el)`` floats."""
    text = str(text).strip()
    if text in VIEW_NAMES:
        return text
    parts = text.split(",")
    try:
        az, el = (float(p) for p in parts)
    except ValueError:
        raise InputError("view must be 'defect', 'oblique' or 'AZIMUTH,ELEVATION' in "
                         f"degrees; got {text!r}") \
            from None
    if not (np.isfinite(az) and np.isfinite(el) and -90.0 <= el <= 90.0):
        raise InputError(f"view elevation must lie in [-90, 90] degrees; got {text!r}")
    return az, el


def view_direction(view, points: np.ndarray, normals: np.ndarray | None = None,
                   focus: np.ndarray | None = None) -> np.ndarray:
    """(3,) unit vector from the part toward the camera.

    ``view``: ``(az, el)`` degrees, ``"defect"`` or ``"oblique"`` (:func:`oblique_direction`).
    For ``"defect"``, ``focus`` (N,) bool marks the region to face: the camera sits along the
    region's mean normal (``normals`` (N, 3)), or along the direction from the part's centroid to
    the region's when normals are absent or cancel out. Without a focus region, or with one
    covering more than a quarter of the points, it falls back to :data:`DEFAULT_VIEW`.
    """
    if view == "oblique":
        return oblique_direction(points, normals, focus)
    if view == "defect":
        facing = _facing(points, normals, focus)
        if facing is not None:
            return facing
        view = DEFAULT_VIEW
    az, el = np.radians(view[0]), np.radians(view[1])
    return np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


def _facing(points, normals, focus) -> np.ndarray | None:
    """The ``"defect"`` direction, or None when there is no region to face."""
    sel = None if focus is None else np.asarray(focus, dtype=bool)
    # A region covering much of the part (a paper-mode field) has no side to face.
    if sel is None or not sel.any() or sel.mean() > MAX_FOCUS_FRACTION:
        return None
    if normals is not None:
        d = np.asarray(normals)[sel].mean(axis=0)
        if np.linalg.norm(d) > 0.3:  # the normals agree on a side
            return d / np.linalg.norm(d)
    d = points[sel].mean(axis=0) - points.mean(axis=0)
    spread = np.linalg.norm(points - points.mean(axis=0), axis=1).max()
    if np.linalg.norm(d) > 0.05 * spread:
        return d / np.linalg.norm(d)
    return None


def oblique_direction(points: np.ndarray, normals: np.ndarray | None = None,
                      focus: np.ndarray | None = None, tilt: float = OBLIQUE_TILT) -> np.ndarray:
    """(3,) unit vector toward the camera: the ``"defect"`` direction ``n`` tilted by ``tilt``
    degrees, so the camera faces the defect (``n . d = cos(tilt)``) but sees its relief from the
    side.

    The tilt goes outward, toward the side of the part the defect lies on (the component of
    centroid -> defect across ``n``), so the part does not stand between camera and defect; when
    the defect lies nearly straight along ``n`` from the centroid (a side wall of a round part,
    the middle of a face) it goes toward world +z (from above), or +x when ``n`` is vertical.
    Without a defect to face it is :data:`DEFAULT_VIEW` (already oblique).
    """
    pts = np.asarray(points, dtype=np.float64)
    n = _facing(pts, normals, focus)
    if n is None:
        return view_direction(DEFAULT_VIEW, pts)
    sel = np.asarray(focus, dtype=bool)
    outward = pts[sel].mean(axis=0) - pts.mean(axis=0)
    spread = np.linalg.norm(pts - pts.mean(axis=0), axis=1).max()
    side = outward - (outward @ n) * n
    if np.linalg.norm(side) < 0.2 * spread:
        for hint in (np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])):
            side = hint - (hint @ n) * n
            if np.linalg.norm(side) > 0.3:
                break
    side = side / np.linalg.norm(side)
    t = np.radians(tilt)
    d = np.cos(t) * n + np.sin(t) * side
    return d / np.linalg.norm(d)


def camera_frame(direction: np.ndarray) -> np.ndarray:
    """(3, 3) rows: screen right, screen up, toward the camera. Up follows world +z when it can
    (+y when looking along z)."""
    back = np.asarray(direction, dtype=np.float64)
    back = back / np.linalg.norm(back)
    hint = np.array([0.0, 0.0, 1.0]) if abs(back[2]) < 0.95 else np.array([0.0, 1.0, 0.0])
    right = np.cross(hint, back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    return np.stack([right, up, back])


def project_to_view(points: np.ndarray, direction: np.ndarray):
    """Orthographic screen coordinates ``uv`` (N, 2) and ``depth`` (N,) (larger = nearer the
    camera), in the points' length unit."""
    frame = camera_frame(direction)
    local = np.asarray(points, dtype=np.float64) @ frame.T
    return local[:, :2], local[:, 2]


def draw_points(ax, points: np.ndarray, colors: np.ndarray, direction: np.ndarray, *,
                crop: tuple | None = None, size_factor: float = 2.4, title: str | None = None):
    """Draw (N, 3) ``points`` with (N, 3) uint8 ``colors`` on ``ax`` as seen along ``direction``.

    ``crop = (center (3,), radius)`` keeps only points within ``radius`` of ``center`` (a zoom on
    a defect). Marker diameter is ``size_factor`` x the point spacing on screen, so neighbouring
    markers overlap and the surface looks closed. Axes are hidden and equal-aspect.
    """
    pts = np.asarray(points, dtype=np.float64)
    col = np.asarray(colors)
    if crop is not None:
        keep = np.linalg.norm(pts - np.asarray(crop[0]), axis=1) <= crop[1]
        pts, col = pts[keep], col[keep]
    if len(pts) == 0:
        raise InputError("nothing to draw: no point inside the view")
    uv, depth = project_to_view(pts, direction)
    order = np.argsort(depth, kind="stable")  # far first: nearer markers paint over them
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2 * 1.04, 1e-12)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_aspect("equal")
    ax.set_axis_off()
    fig = ax.figure
    box = ax.get_position()
    side_px = min(box.width * fig.get_figwidth(), box.height * fig.get_figheight()) * fig.dpi
    spacing = point_spacing(pts) if len(pts) > 1 else half / 50
    diameter_px = max(1.0, size_factor * spacing * side_px / (2 * half))
    ax.scatter(uv[order, 0], uv[order, 1], c=col[order] / 255.0,
               s=(diameter_px * 72.0 / fig.dpi) ** 2, marker="o", linewidths=0, rasterized=True)
    if title:
        ax.set_title(title, fontsize=9)
