"""Point features: FPFH (single and multi-scale) and group pooling / interpolation."""
from pointad.features.fpfh import fpfh, multiscale_fpfh
from pointad.features.grouping import fps_groups, group_mean, interpolate_to_points

__all__ = ["fpfh", "multiscale_fpfh", "fps_groups", "group_mean", "interpolate_to_points"]
