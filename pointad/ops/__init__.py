"""Batched, differentiable point operations in plain torch (CPU and CUDA; device follows inputs).

A cloud is a float32 or float64 tensor (N, 3) or (B, N, 3); outputs keep the batch axis only
when the input had one. Distances are in the unit of the coordinates. Bad arguments raise
:class:`pointad.errors.InputError` naming the argument.

- :func:`knn`, :class:`NeighbourIndex`: exact k nearest neighbours, the package's one neighbour
  search (SciPy's k-d tree on CPU, chunked brute force on CUDA and for feature vectors).
- :func:`ball_query`: the up-to-``max_nn`` nearest within a radius (Open3D's hybrid search).
- :func:`farthest_point_sampling`: greedy spread-out subset (Open3D's farthest point sampling).
- :func:`local_pca`: unoriented PCA normals and surface variation of kNN neighbourhoods
  (:func:`knn_frames`: the same on numpy arrays, fused on CPU, with the kNN graph, no torch).
- :func:`gaussian_blur`: separable Gaussian smoothing of (..., H, W) score maps.
- :func:`gather_groups`, :func:`group_centred`: neighbourhood coordinates from index tensors.

The names are imported on first use (PEP 562): ``from pointad.ops import knn_frames`` loads
numpy and numba only, the torch ops load torch. ``knn`` and ``ball_query`` are also the names
of their modules: importing such a module binds the package's attribute to the function, as an
eager ``from pointad.ops.knn import knn`` here would.
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

_HOME = {"ball_query": "ball_query", "gaussian_blur": "blur", "gather_groups": "grouping",
         "group_centred": "grouping", "NeighbourIndex": "knn", "knn": "knn",
         "KnnFrames": "frames", "knn_frames": "frames", "local_pca": "normals",
         "farthest_point_sampling": "sampling"}

if TYPE_CHECKING:
    from pointad.ops.ball_query import ball_query
    from pointad.ops.blur import gaussian_blur
    from pointad.ops.frames import KnnFrames, knn_frames
    from pointad.ops.grouping import gather_groups, group_centred
    from pointad.ops.knn import NeighbourIndex, knn
    from pointad.ops.normals import local_pca
    from pointad.ops.sampling import farthest_point_sampling


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'pointad.ops' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pointad.ops.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))


class _Package(types.ModuleType):
    """The import system sets ``pointad.ops.knn`` to the module ``pointad.ops.knn`` once loaded;
    the package keeps the function of that name instead."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _HOME.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = ["KnnFrames", "NeighbourIndex", "ball_query", "farthest_point_sampling", "gather_groups",
           "gaussian_blur", "group_centred", "knn", "knn_frames", "local_pca"]
