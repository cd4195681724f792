"""Depth renders of point clouds for 2D anomaly methods, with the pixel -> point map back.

Organized scans (MVTec 3D-AD-like) keep their own pixel grid: one view, each point at its pixel.
Other clouds are rendered orthographically from 1, 3, 6, 14 or 26 directions of their principal
frame (:mod:`pointad.render.views`) by a splatting z-buffer (:mod:`pointad.render.orthographic`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pointad.errors import InputError
from pointad.geometry import local_frames
from pointad.io import as_cloud_input
from pointad.ops import knn
from pointad.render.channels import CHANNELS, channel_images, fill_small_holes
from pointad.render.organized import grid_coordinates
from pointad.render.orthographic import MAX_SPLAT_PX, pixel_coordinates, splat_heights, zbuffer
from pointad.render.views import (
    ViewFrame,
    camera_coordinates,
    fit_frame,
    view_names,
    view_rotations,
)
from pointad.validation import check_choice, check_number

DEPTH_NORMS = ("view", "box")


@dataclass
class DepthRender:
    """Images of one cloud and which point each pixel shows.

    Attributes:
        images: (V, 5, H, W) float32, channels ``depth, nx, ny, nz, curvature``
            (:data:`pointad.render.channels.CHANNELS`). Depth is the surface height toward the
            camera at the pixel centre (orthographic views: the shown point's tangent plane there,
            see :func:`~pointad.render.orthographic.splat_heights`; organized scans: the point's
            own height ``-z``) mapped by ``depth_range`` to [0, 1] (1 = nearest), 0 where empty;
            normals are unit
            vectors in the view's camera frame (x right, y up, z toward the camera) facing the
            camera; curvature is the surface variation in [0, 1/3]. Hole-filled pixels carry
            interpolated values in every channel although ``valid`` is False there.
        index: (V, H, W) int64 id of the point each pixel shows, -1 where none (incl. filled holes).
        valid: (V, H, W) bool, ``index >= 0``.
        n_points: N, the number of points of the cloud.
        seen: (N,) bool, points shown by at least one pixel of one view.
        nearest_seen: (N,) int64, for each point the nearest seen point (itself when seen).
        depth_range: (V, 2) float64 ``(far, near)`` heights, in the cloud's unit, that map to
            depth 0 and 1: ``height = far + depth * (near - far)`` on valid pixels.
        views: names of the view directions (``"+x"``, ...; ``("grid",)`` for organized scans).
        frame: the :class:`~pointad.render.views.ViewFrame` rendered in (None when organized);
            pass it to :func:`render` to render another cloud in exactly the same frame.
        rotations: (V, 3, 3) principal frame -> camera frame (None when organized).
        splat_px: the splat radius used, in pixels.
    """

    images: np.ndarray
    index: np.ndarray
    valid: np.ndarray
    n_points: int
    seen: np.ndarray
    nearest_seen: np.ndarray | None = None
    depth_range: np.ndarray | None = None
    views: tuple = ()
    frame: ViewFrame | None = None
    rotations: np.ndarray | None = None
    splat_px: float = 0.0

    @property
    def n_views(self) -> int:
        return int(self.images.shape[0])


def render(cloud, *, views: int = 6, size: int = 128, fill_holes=True, normal_k: int = 10,
           splat: float = 2.5, margin: float = 0.05, depth: str = "view",
           frame: ViewFrame | None = None, splat_tolerance: float = 0.0) -> DepthRender:
    """Render a cloud to depth/normal/curvature images with a pixel -> point index map.

    Args:
        cloud: (N, 3) array, :class:`pointad.io.Cloud`, dataset sample or
            :class:`~pointad.io.CloudInput`. Organized clouds (with ``grid_shape`` and
            ``grid_index``) give one view on their own (H, W) pixel grid, camera at the origin
            looking along +z; ``views``, ``size``, ``splat``, ``margin``, ``depth``, ``frame``
            and ``splat_tolerance`` are then ignored.
        views: 1, 3, 6, 14 or 26 orthographic views of the pose-normalised part (6 = +-x, +-y,
            +-z of the principal frame; 3 = +x, +y, +z; 1 = +z, the least-variance axis, which
            shows the widest silhouette; 14 = the 6 and the 8 cube corners; 26 = also the 12
            cube edges, :data:`pointad.render.VIEW_SETS`).
        size: image side in pixels; the part's principal-frame bounding cube (grown by ``margin``,
            a fraction of its half side) fills the image at the same scale in every view.
        fill_holes: fill empty pixels inside the silhouette in gaps up to ~2 px wide (True), up to
            ~2r px wide (an integer r) or not at all (False / 0); image channels only.
        normal_k: kNN size of the local PCA giving normals and curvature.
        splat: each point also covers the pixels whose centres lie within ``splat`` times the
            median point spacing of it (capped at 8 px); 0 = only its own pixel. The z-buffer
            keeps the nearest covering point per pixel, so ``index`` shows front surfaces only.
            Without a footprint, gaps between the points of a front surface show the back of the
            part through it; for uniformly random surface samples about 6% of the front pixels
            are still such gaps at 2.0 and about 1% at 2.5 (the default; evenly spaced scans need
            less). Larger footprints hide more points near silhouettes (``seen``) and blur edges
            by the radius.
        splat_tolerance: 0 (default): a plain z-test. > 0, in point spacings: a pixel covered by
            several splats at most this far behind the nearest one shows the point closest to
            it in the image plane (one surface, as in surface splatting), so the floor of a dent
            a few spacings deep is not hidden behind its rim's splats
            (:func:`~pointad.render.orthographic.zbuffer`). Unorganized clouds only.
        depth: ``"view"``: depth spans [0, 1] over each view's shown heights (min-max);
            ``"box"``: depth maps the fitting cube's extent along the view axis to [0, 1], the same
            scale in every view and unaffected by how far a defect sticks out.
        frame: render in this frame instead of fitting one (e.g. ``other_render.frame``), so two
            clouds of one part are pixel-aligned with the same splat footprint (the frame's point
            spacing); points outside its cube are not shown.

    Returns:
        A :class:`DepthRender`. Deterministic: the same input gives the same render; the same
        part in another rigid pose gives the same images (up to sign ambiguities of symmetric
        parts, see :func:`pointad.geometry.principal_frame`).
    """
    cin = as_cloud_input(cloud, name="cloud")
    check_number(normal_k, "normal_k", low=3, integer=True)
    if fill_holes is True or fill_holes is False:
        hole_radius = int(fill_holes)
    else:
        hole_radius = check_number(fill_holes, "fill_holes", low=0, high=16, integer=True)
    points = cin.points
    if len(points) < normal_k:
        raise InputError(f"the cloud has {len(points)} points, fewer than normal_k={normal_k}")
    # Unorganized clouds: each view turns the normals toward its own camera below.
    normals, curvature = local_frames(points, normal_k,
                                      orient="camera_location" if cin.organized else "none")

    if cin.organized:
        grid_shape = cin.grid_shape
        assert grid_shape is not None  # organized clouds carry their grid
        rows, cols = grid_coordinates(grid_shape, cin.grid_index, len(points))
        shape = tuple(int(s) for s in grid_shape)
        flip = np.array([1.0, -1.0, -1.0])  # camera frame: x right, y up, z toward the sensor
        heights = -points[None, :, 2]
        cam_normals = (normals * flip)[None]
        radius, tolerance, names, used_frame = 0.0, 0.0, ("grid",), None
        rotations, ranges = None, None
    else:
        names = view_names(views)
        check_number(size, "size", low=8, high=4096, integer=True)
        check_number(splat, "splat", low=0)
        check_number(splat_tolerance, "splat_tolerance", low=0)
        check_number(margin, "margin", low=0, high=1)
        check_choice(depth, "depth", DEPTH_NORMS)
        if frame is None:
            used_frame = fit_frame(points, margin, views)
        elif isinstance(frame, ViewFrame):
            used_frame = frame
        else:
            raise InputError(f"frame must be a ViewFrame (e.g. a DepthRender's .frame), got "
                             f"{type(frame).__name__}")
        rotations = view_rotations(views)
        camera = camera_coordinates(points, used_frame, rotations)
        rows, cols = pixel_coordinates(camera, used_frame.half_extent, size)
        heights = camera[..., 2]
        shape = (size, size)
        pixel = 2.0 * used_frame.half_extent / size
        radius = min(splat * used_frame.spacing / pixel, MAX_SPLAT_PX)
        tolerance = splat_tolerance * used_frame.spacing
        cam_normals = normals[None] @ (rotations @ used_frame.axes).transpose(0, 2, 1)
        cam_normals *= np.where(cam_normals[..., 2:3] < 0, -1.0, 1.0)  # face the camera
        half_extent = used_frame.half_extent
        ranges = np.tile([-half_extent, half_extent], (len(names), 1)) if depth == "box" else None

    index = zbuffer(rows, cols, heights, shape, radius, tolerance)
    valid = index >= 0
    if cin.organized:
        pixel_heights = np.where(valid, heights[0][np.maximum(index, 0)], 0.0)
    else:
        pixel_heights = splat_heights(index, camera, cam_normals, half_extent)
    images, depth_range = channel_images(index, pixel_heights, cam_normals, curvature, ranges)
    if hole_radius:
        images = fill_small_holes(images, valid, hole_radius)
    seen = np.zeros(len(points), dtype=bool)
    seen[index[valid]] = True
    return DepthRender(images=images, index=index, valid=valid, n_points=len(points), seen=seen,
                       nearest_seen=_nearest_seen(points, seen), depth_range=depth_range,
                       views=names, frame=used_frame, rotations=rotations, splat_px=float(radius))


def _nearest_seen(points: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(N,) id of each point's nearest seen point (itself when seen; -1 when nothing is seen)."""
    nearest = np.arange(len(points))
    unseen = ~seen
    if not seen.any():
        nearest[:] = -1
    elif unseen.any():
        seen_ids = np.flatnonzero(seen)
        j = knn(points[unseen], points[seen], 1)[1][:, 0]
        nearest[unseen] = seen_ids[j]
    return nearest


__all__ = ["CHANNELS", "DEPTH_NORMS", "DepthRender", "render"]
