"""Batched, differentiable point operations in plain torch (CPU and CUDA; device follows inputs).

A cloud is a float32 or float64 tensor (N, 3) or (B, N, 3); outputs keep the batch axis only
when the input had one. Distances are in the unit of the coordinates. Bad arguments raise
:class:`pointad.errors.InputError` naming the argument.

- :func:`knn`, :class:`NeighbourIndex`: exact k nearest neighbours, the package's one neighbour
  search (SciPy's k-d tree on CPU, chunked brute force on CUDA and for feature vectors).
- :func:`ball_query`: the up-to-``max_nn`` nearest within a radius (Open3D's hybrid search).
- :func:`farthest_point_sampling`: greedy spread-out subset (Open3D's farthest point sampling).
- :func:`local_pca`: unoriented PCA normals and surface variation of kNN neighbourhoods.
- :func:`gaussian_blur`: separable Gaussian smoothing of (..., H, W) score maps.
- :func:`gather_groups`, :func:`group_centred`: neighbourhood coordinates from index tensors.
"""
from pointad.ops.ball_query import ball_query
from pointad.ops.blur import gaussian_blur
from pointad.ops.grouping import gather_groups, group_centred
from pointad.ops.knn import NeighbourIndex, knn
from pointad.ops.normals import local_pca
from pointad.ops.sampling import farthest_point_sampling

__all__ = ["NeighbourIndex", "ball_query", "farthest_point_sampling", "gather_groups",
           "gaussian_blur", "group_centred", "knn", "local_pca"]
