"""The PyVista scene of one cloud: flat-coloured points, optional normal arrows, a text line and a
parallel-projection camera aimed along a view direction (see :mod:`viz.views`).

Points are drawn unlit with anti-aliasing off, so every pixel of a point carries its colour
exactly (the viewer's label colours can be found pixel by pixel in a screenshot).
"""
from __future__ import annotations

import numpy as np

from pointad.geometry.units import object_diameter, point_spacing
from viz.colors import BACKGROUND, GLYPH_COLOR
from viz.offscreen import import_pyvista
from viz.views import camera_frame, project_to_view

MAX_GLYPHS = 1500  # arrows drawn for at most this many points (an even stride through the cloud)


class CloudScene:
    """One PyVista plotter showing one cloud, updated in place as the cloud or colours change.

    Args:
        off_screen: render without a window (screenshots, tests, CI).
        window_size: (width, height) in pixels.
    """

    def __init__(self, *, off_screen: bool = False, window_size=(1024, 768)):
        pv = import_pyvista()
        self.pv = pv
        self.plotter = pv.Plotter(off_screen=off_screen, window_size=list(window_size))
        self.plotter.set_background(np.asarray(BACKGROUND) / 255.0)
        self.plotter.disable_anti_aliasing()
        self.poly = None
        self.actor = None
        self.glyph_actor = None
        self.text_actor = None
        self.point_size = 3.0

    def set_cloud(self, points: np.ndarray, colors: np.ndarray) -> None:
        """Show (N, 3) ``points`` with (N, 3) uint8 ``colors``; later calls update in place."""
        pts = np.ascontiguousarray(points, dtype=np.float64)
        rgb = np.ascontiguousarray(colors, dtype=np.uint8)
        if self.poly is not None and self.poly.n_points == len(pts):
            self.poly.points = pts
            self.poly.point_data["rgb"] = rgb
            self.poly.Modified()
            return
        if self.actor is not None:
            self.plotter.remove_actor(self.actor)
        self.poly = self.pv.PolyData(pts)
        self.poly.point_data["rgb"] = rgb
        self.actor = self.plotter.add_mesh(self.poly, scalars="rgb", rgb=True, lighting=False,
                                           point_size=self.point_size, style="points",
                                           render_points_as_spheres=False, reset_camera=False,
                                           show_scalar_bar=False)

    def set_normals(self, points: np.ndarray | None, normals: np.ndarray | None) -> None:
        """Draw normal arrows on an even subset of the points, or remove them (``None``)."""
        if self.glyph_actor is not None:
            self.plotter.remove_actor(self.glyph_actor)
            self.glyph_actor = None
        if points is None or normals is None:
            return
        step = max(1, len(points) // MAX_GLYPHS)
        sub = self.pv.PolyData(np.ascontiguousarray(points[::step], dtype=np.float64))
        sub.point_data["normals"] = np.ascontiguousarray(normals[::step], dtype=np.float64)
        length = 0.03 * object_diameter(points)
        arrows = sub.glyph(orient="normals", scale=False, factor=length,
                           geom=self.pv.Arrow(shaft_radius=0.03, tip_radius=0.08))
        self.glyph_actor = self.plotter.add_mesh(arrows, color=np.asarray(GLYPH_COLOR) / 255.0,
                                                 lighting=False, reset_camera=False)

    def set_text(self, text: str) -> None:
        """One block of text in the upper-left corner (replaces the previous one)."""
        if self.text_actor is None:  # creating a text actor costs ~0.25 s: update it instead
            self.text_actor = self.plotter.add_text(text, position="upper_left", font_size=9,
                                                    color="black")
        elif hasattr(self.text_actor, "SetText"):  # a corner annotation (index 2: upper left)
            self.text_actor.SetText(2, text)
        else:
            self.text_actor.SetInput(text)

    def look_along(self, points: np.ndarray, direction: np.ndarray, *, margin: float = 1.08):
        """Parallel camera looking at ``points`` from ``direction`` (toward the camera), framing
        them with ``margin``; point size follows the on-screen point spacing."""
        pts = np.asarray(points, dtype=np.float64)
        frame = camera_frame(direction)
        uv, _ = project_to_view(pts, direction)
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        centre_uv = (lo + hi) / 2
        # The focal point: the screen centre of the points' extent, at the cloud's mean depth.
        focal = (frame[0] * centre_uv[0] + frame[1] * centre_uv[1]
                 + frame[2] * (pts @ frame[2]).mean())
        width, height = self.plotter.window_size
        half_h = max((hi[1] - lo[1]) / 2, (hi[0] - lo[0]) / 2 * height / width, 1e-12) * margin
        cam = self.plotter.camera
        cam.SetParallelProjection(True)
        cam.SetFocalPoint(*focal)
        cam.SetPosition(*(focal + frame[2] * 2.0 * object_diameter(pts)))
        cam.SetViewUp(*frame[1])
        cam.SetParallelScale(half_h)
        self.plotter.renderer.ResetCameraClippingRange()
        pixels_per_unit = height / (2 * half_h)
        self.point_size = float(np.clip(np.ceil(1.6 * point_spacing(pts) * pixels_per_unit), 2, 12))
        if self.actor is not None:
            self.actor.GetProperty().SetPointSize(self.point_size)

    def world_to_pixels(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) (column, row) image pixel of each world point under the current camera (row 0 at
        the top, as in a screenshot array)."""
        ren = self.plotter.renderer
        width, height = self.plotter.window_size
        out = np.empty((len(points), 2))
        for i, p in enumerate(np.asarray(points, dtype=np.float64)):
            ren.SetWorldPoint(p[0], p[1], p[2], 1.0)
            ren.WorldToDisplay()
            x, y, _ = ren.GetDisplayPoint()
            out[i] = (x, height - 1 - y)
        return out

    def screenshot(self) -> np.ndarray:
        """(H, W, 3) uint8 image of the current scene."""
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(return_img=True))[..., :3].copy()

    def close(self) -> None:
        self.plotter.close()
