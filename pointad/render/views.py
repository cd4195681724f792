"""Pose normalisation and the orthographic view directions of the renderer.

A part is rendered in its own principal frame (:func:`pointad.geometry.principal_frame`: PCA axes
with signs fixed by the data), so the same part in another pose gives the same images. Each view
is a rotation from that frame to a camera frame whose x axis is the image's column direction,
y axis points up the image (rows grow downward) and z axis points toward the camera.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pointad.errors import InputError
from pointad.geometry import point_spacing, principal_frame
from pointad.validation import check_not_degenerate

# Camera frames as rows (x, y, z) in the part's principal frame. Each is a proper rotation; the
# camera sits on the +z row's side and looks back along it.
_CAMERAS = {
    "+x": ((0, 1, 0), (0, 0, 1), (1, 0, 0)),
    "-x": ((0, -1, 0), (0, 0, 1), (-1, 0, 0)),
    "+y": ((-1, 0, 0), (0, 0, 1), (0, 1, 0)),
    "-y": ((1, 0, 0), (0, 0, 1), (0, -1, 0)),
    "+z": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "-z": ((-1, 0, 0), (0, 1, 0), (0, 0, -1)),
}


def _name(direction) -> str:
    return "".join(f"{'+' if c > 0 else '-'}{axis}" for c, axis in zip(direction, "xyz") if c)


def _look_along(direction) -> tuple:
    """Camera rows (x, y, z) looking back along ``direction`` (z row = the unit direction),
    image up as close to the principal +z axis as the direction allows (+y when it is nearly
    parallel to z): a proper rotation."""
    z = np.asarray(direction, dtype=np.float64)
    z = z / np.linalg.norm(z)
    up = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    y = up - (up @ z) * z
    y /= np.linalg.norm(y)
    return tuple(map(tuple, (np.cross(y, z), y, z)))


# The diagonal directions: the 8 cube corners and the 12 cube edges of the principal frame.
_CORNERS = [(a, b, c) for a in (1, -1) for b in (1, -1) for c in (1, -1)]
_EDGES = [(a, b, 0) for a in (1, -1) for b in (1, -1)] \
    + [(a, 0, c) for a in (1, -1) for c in (1, -1)] + [(0, b, c) for b in (1, -1) for c in (1, -1)]
_CAMERAS.update({_name(d): _look_along(d) for d in _CORNERS + _EDGES})
# One view looks along the least-variance axis (the widest silhouette); three see every axis
# once; six see both sides of every axis; 14 add the 8 cube corners and 26 also the 12 cube
# edges (every direction of a 3 x 3 x 3 grid; CPMF renders 27 views).
_AXES6 = ("+x", "-x", "+y", "-y", "+z", "-z")
VIEW_SETS = {1: ("+z",), 3: ("+x", "+y", "+z"), 6: _AXES6,
             14: _AXES6 + tuple(_name(d) for d in _CORNERS),
             26: _AXES6 + tuple(_name(d) for d in _CORNERS + _EDGES)}


@dataclass(frozen=True)
class ViewFrame:
    """Where a part sits for rendering: the cube ``centre +- half_extent`` along ``axes``.

    centre: (3,) cube centre in cloud coordinates. axes: (3, 3) rows = the principal axes (unit,
    right-handed). half_extent: half the cube's side in the cloud's length unit, margin included.
    spacing: the median point spacing of the cloud the frame was fitted to (sets the splat
    radius, so a cloud rendered in a reused frame gets the same footprint).
    """

    centre: np.ndarray
    axes: np.ndarray
    half_extent: float
    spacing: float

    def arrays(self, prefix: str = "") -> dict:
        """The frame as named float64 arrays (for ``.npz``); :meth:`from_arrays` reads them."""
        return {f"{prefix}centre": np.asarray(self.centre, dtype=np.float64),
                f"{prefix}axes": np.asarray(self.axes, dtype=np.float64),
                f"{prefix}extent": np.array([self.half_extent, self.spacing])}

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "") -> ViewFrame:
        half_extent, spacing = (float(v) for v in arrays[f"{prefix}extent"])
        return cls(np.asarray(arrays[f"{prefix}centre"], dtype=np.float64),
                   np.asarray(arrays[f"{prefix}axes"], dtype=np.float64), half_extent, spacing)


def view_names(views: int) -> tuple:
    """Names (``"+x"``, ..., ``"-z"``, ``"+x+y+z"``, ...) of the directions used for ``views``
    in :data:`VIEW_SETS` (1, 3, 6, 14, 26)."""
    if isinstance(views, bool) or views not in VIEW_SETS:
        raise InputError(f"views must be one of {', '.join(map(str, VIEW_SETS))}; got {views!r}")
    return VIEW_SETS[views]


def view_rotations(views: int) -> np.ndarray:
    """(V, 3, 3) rotations from the principal frame to each view's camera frame (rows = camera
    x, y, z in principal coordinates)."""
    return np.array([_CAMERAS[name] for name in view_names(views)], dtype=np.float64)


def fit_frame(points: np.ndarray, margin: float = 0.05, views: int = 6) -> ViewFrame:
    """The principal frame of (N, 3) ``points`` and the smallest axis-aligned cube in it that
    holds them, grown by ``margin`` (a fraction of the half side) so no point lands on the border,
    and their median point spacing.

    The cube is centred on the bounding box in the principal frame and has the same side on every
    axis, so every view shows the part at the same scale. With diagonal views (``views`` 14 or
    26) the half side grows until the part fits every one of them (image and depth), so all
    views keep one scale; the axis-only sets (1, 3, 6) give the bounding cube itself. Raises
    :class:`InputError` for identical or collinear points.
    """
    check_not_degenerate(points)
    centre, axes = principal_frame(points)
    local = (points - centre) @ axes.T
    low, high = local.min(axis=0), local.max(axis=0)
    box_centre = 0.5 * (low + high)
    reach = float(np.max(high - low)) * 0.5
    centred = local - box_centre
    for name in view_names(views):
        if name not in _AXES6:  # a diagonal view: the part's extent along its camera axes
            camera = np.asarray(_CAMERAS[name], dtype=np.float64)
            reach = max(reach, float(np.abs(centred @ camera.T).max()))
    half = reach * (1.0 + margin)
    return ViewFrame(centre=centre + box_centre @ axes, axes=axes, half_extent=half,
                     spacing=point_spacing(points))


def camera_coordinates(points: np.ndarray, frame: ViewFrame, rotations: np.ndarray) -> np.ndarray:
    """(V, N, 3) camera coordinates of (N, 3) ``points`` in each view, in cloud units, the cube
    centre at the origin: x = image right, y = image up, z = toward the camera (height)."""
    local = (points - frame.centre) @ frame.axes.T
    return local[None] @ rotations.transpose(0, 2, 1)
