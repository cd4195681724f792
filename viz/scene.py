"""The PyVista scene of one cloud: coloured points, optional normal arrows, a text line, a legend
(scalar bar) and a parallel-projection camera aimed along a view direction (see :mod:`viz.views`).

Shading (``shading=``): ``"edl"`` (default) adds eye-dome lighting, a screen-space pass that
darkens each pixel by how much nearer its neighbours' depths are: the relief of a bump or dent,
edges and silhouettes show whatever the colour, and it needs no normals (the displaced cloud's
normals would have to be re-estimated at every slider move). Its cost does not grow with the
number of points: on 1M points it is measured against flat points and lit spheres by
``tools/bench_viewer.py``. ``"flat"``: points unlit with anti-aliasing off, so every pixel of a
point carries its colour exactly (the viewer's label colours can be found pixel by pixel in a
screenshot). Splats are sized from the on-screen point spacing, larger when shaded so that they
close the surface (gaps would show the back of the part and shade as edges).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from pointad.geometry.units import object_diameter, point_spacing
from viz.colors import BACKGROUND, GLYPH_COLOR, Legend
from viz.offscreen import import_pyvista
from viz.views import camera_frame, project_to_view

MAX_GLYPHS = 1500  # arrows drawn for at most this many points (an even stride through the cloud)
SHADINGS = ("edl", "flat")
# Splat diameter in on-screen point spacings: flat points only need to touch; shaded ones overlap
# so that no gap shows the far side of the part.
SPLAT_FACTOR = {"flat": 1.6, "edl": 5.0}
LEGEND_WIDTH = 0.16  # share of the window's width kept for the scalar bar at the right


class CloudScene:
    """One PyVista plotter showing one cloud, updated in place as the cloud or colours change.

    Args:
        off_screen: render without a window (screenshots, tests, CI).
        window_size: (width, height) in pixels.
        shading: one of :data:`SHADINGS` (see the module's docstring).
    """

    def __init__(self, *, off_screen: bool = False, window_size=(1024, 768),
                 shading: str = "edl"):
        from pointad.validation import check_choice

        check_choice(shading, "shading", SHADINGS)
        pv = import_pyvista()
        self.pv = pv
        self.plotter = pv.Plotter(off_screen=off_screen, window_size=list(window_size))
        self.plotter.set_background(np.asarray(BACKGROUND) / 255.0)
        self.plotter.disable_anti_aliasing()
        self.poly: Any = None  # the pyvista PolyData shown
        self.actor = None
        self.glyph_actor = None
        self.text_actor = None
        self.legend_actor: Any = None  # a vtkScalarBarActor while a legend shows
        self.legend: Legend | None = None
        self.legend_box = (0.1, 0.62)  # the bar's bottom and height, in window fractions
        self.point_size = 3.0
        self.shading = "flat"
        self._spacing_px = None  # on-screen point spacing, set by look_along
        self.set_shading(shading)

    def set_shading(self, shading: str) -> None:
        """Switch between ``"edl"`` (eye-dome lighting) and ``"flat"``; splat size follows."""
        from pointad.validation import check_choice

        check_choice(shading, "shading", SHADINGS)
        if shading == "edl" and self.shading != "edl":
            self.plotter.enable_eye_dome_lighting()
        elif shading == "flat" and self.shading == "edl":
            self.plotter.disable_eye_dome_lighting()
        self.shading = shading
        self._size_points()

    def _size_points(self) -> None:
        if self._spacing_px is not None:
            self.point_size = float(np.clip(
                np.ceil(SPLAT_FACTOR[self.shading] * self._spacing_px), 2, 16))
        if self.actor is not None:
            self.actor.GetProperty().SetPointSize(self.point_size)

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

    def set_legend(self, legend: Legend | None) -> None:
        """Show a scalar bar at the right for ``legend`` (:class:`viz.colors.Legend`: title, map
        and range, or flat categories), or remove it (None)."""
        if self.legend_actor is not None:
            self.plotter.remove_actor(self.legend_actor)
            self.legend_actor = None
        self.legend = legend
        if legend is None:
            return
        from vtkmodules.vtkCommonCore import vtkLookupTable, vtkVariant
        from vtkmodules.vtkRenderingAnnotation import vtkScalarBarActor

        lut = vtkLookupTable()
        if legend.categories:
            lut.SetNumberOfTableValues(len(legend.categories))
            lut.IndexedLookupOn()
            for i, (name, rgb) in enumerate(legend.categories):
                r, g, b = (float(c) / 255.0 for c in rgb)
                lut.SetTableValue(i, r, g, b, 1.0)
                lut.SetAnnotation(vtkVariant(i), str(name))
        else:
            import matplotlib

            assert legend.cmap is not None, "a Legend has a cmap or categories"
            table = matplotlib.colormaps[legend.cmap](np.linspace(0.0, 1.0, 256))
            lut.SetNumberOfTableValues(256)
            for i, rgba in enumerate(table):
                lut.SetTableValue(i, float(rgba[0]), float(rgba[1]), float(rgba[2]), 1.0)
            hi = legend.vmax if legend.vmax > legend.vmin else legend.vmin + 1.0
            lut.SetTableRange(legend.vmin, hi)
        lut.Build()
        bar = vtkScalarBarActor()
        bar.SetLookupTable(lut)
        bar.SetTitle(legend.title)
        bar.SetNumberOfLabels(5)
        bar.SetLabelFormat("%-#6.3g")
        bar.SetPosition(1.0 - LEGEND_WIDTH + 0.02, self.legend_box[0])
        bar.SetWidth(LEGEND_WIDTH - 0.04)
        bar.SetHeight(self.legend_box[1])
        bar.SetBarRatio(0.25)
        bar.SetVerticalTitleSeparation(8)  # the title clear of the top label
        bar.UnconstrainedFontSizeOn()
        # Text in pixels, scaled with the window so that the title fits the strip.
        size = int(np.clip(self.plotter.window_size[0] / 80, 8, 13))
        for prop in (bar.GetTitleTextProperty(), bar.GetLabelTextProperty(),
                     bar.GetAnnotationTextProperty()):
            prop.SetColor(0.0, 0.0, 0.0)
            prop.SetFontSize(size)
            prop.BoldOff()
            prop.ItalicOff()
            prop.ShadowOff()
        self.plotter.renderer.AddViewProp(bar)
        self.legend_actor = bar

    def look_along(self, points: np.ndarray, direction: np.ndarray, *, margin: float = 1.08,
                   reserve_right: float = 0.0):
        """Parallel camera looking at ``points`` from ``direction`` (toward the camera), framing
        them with ``margin`` in the window less ``reserve_right`` of its width (the legend's
        strip); point size follows the on-screen point spacing."""
        pts = np.asarray(points, dtype=np.float64)
        frame = camera_frame(direction)
        uv, _ = project_to_view(pts, direction)
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        centre_uv = (lo + hi) / 2
        # The focal point: the screen centre of the points' extent, at the cloud's mean depth.
        focal = (frame[0] * centre_uv[0] + frame[1] * centre_uv[1]
                 + frame[2] * (pts @ frame[2]).mean())
        width, height = self.plotter.window_size
        free = width * (1.0 - reserve_right)
        half_h = max((hi[1] - lo[1]) / 2, (hi[0] - lo[0]) / 2 * height / free, 1e-12) * margin
        # Shift the view so the points sit in the middle of the free part of the window.
        focal = focal + frame[0] * (width - free) / 2 * (2 * half_h / height)
        cam = self.plotter.camera
        cam.SetParallelProjection(True)
        cam.SetFocalPoint(*focal)
        cam.SetPosition(*(focal + frame[2] * 2.0 * object_diameter(pts)))
        cam.SetViewUp(*frame[1])
        cam.SetParallelScale(half_h)
        self.plotter.renderer.ResetCameraClippingRange()
        pixels_per_unit = height / (2 * half_h)
        self._spacing_px = point_spacing(pts) * pixels_per_unit
        self._size_points()

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
