"""Depth renders of point clouds for 2D anomaly methods, and the way back to per-point scores.

- :func:`render`: a cloud -> :class:`DepthRender` (V, 5, H, W) images (depth, nx, ny, nz,
  curvature) with the (V, H, W) pixel -> point index map. Organized scans use their own grid;
  other clouds 1, 3, 6, 14 or 26 orthographic views of the pose-normalised part.
- :func:`to_points`: (V, H, W) per-pixel scores -> (N,) per-point scores (max over views);
  :func:`features_to_points`: (V, C, h, w) feature maps -> (N, C) per-point features (mean).
- :func:`pointad.render.completion.complete`: a partial scan's render, registered onto a complete
  reference cloud, with the sides the scanner did not see painted from the reference's render.
"""
from pointad.render.backproject import features_to_points, to_points
from pointad.render.channels import CHANNELS
from pointad.render.depth_render import DEPTH_NORMS, DepthRender, render
from pointad.render.views import VIEW_SETS, ViewFrame

__all__ = ["CHANNELS", "DEPTH_NORMS", "DepthRender", "VIEW_SETS", "ViewFrame",
           "features_to_points", "render", "to_points"]
