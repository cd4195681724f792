"""Batched, differentiable point operations in plain torch (CPU and CUDA; device follows inputs).

A cloud is a float32 or float64 tensor (N, 3) or (B, N, 3); outputs keep the batch axis only
when the input had one. Distances are in the unit of the coordinates. Bad arguments raise
:class:`pointad.errors.InputError` naming the argument.

- :func:`knn`: exact k nearest neighbours (voxel grid on CPU, chunked brute force anywhere).
- :func:`ball_query`: the up-to-``max_nn`` nearest within a radius (Open3D's hybrid search).
- :func:`farthest_point_sampling`: greedy spread-out subset (Open3D's farthest point sampling).
- :func:`local_pca_normals`, :func:`orient_towards`: PCA normals of kNN neighbourhoods.
- :func:`gather_groups`, :func:`group_centred`: neighbourhood coordinates from index tensors.
"""
from pointad.ops.ball_query import ball_query
from pointad.ops.grouping import gather_groups, group_centred
from pointad.ops.knn import knn
from pointad.ops.normals import local_pca_normals, orient_towards
from pointad.ops.sampling import farthest_point_sampling

__all__ = ["ball_query", "farthest_point_sampling", "gather_groups", "group_centred", "knn",
           "local_pca_normals", "orient_towards"]
