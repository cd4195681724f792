"""Point features: FPFH (single and multi-scale) and group pooling / interpolation, local patches in
their principal frame."""
from pointad.features.fpfh import fpfh, multiscale_fpfh
from pointad.features.grouping import fps_groups, group_mean, interpolate_to_points
from pointad.features.patches import Patches, local_patches, principal_frames, quadric_residuals

__all__ = ["fpfh", "multiscale_fpfh", "fps_groups", "group_mean", "interpolate_to_points",
           "Patches", "local_patches", "principal_frames", "quadric_residuals"]
