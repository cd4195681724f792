"""Geometry of point clouds: sizes, frames, normals and the 2D/3D parameterizations."""
from pointad.geometry.frames import principal_frame
from pointad.geometry.normals import LocalFrames, estimate_normals, local_frames, orient_normals
from pointad.geometry.projection import PROJECTIONS, project
from pointad.geometry.units import isolated, object_diameter, point_spacing
from pointad.geometry.visibility import single_view_cuts, view_directions, visible_from

__all__ = ["principal_frame", "LocalFrames", "estimate_normals", "local_frames", "orient_normals",
           "PROJECTIONS", "project", "isolated", "object_diameter", "point_spacing",
           "single_view_cuts", "view_directions", "visible_from"]
