"""Meshes (``.obj .stl .off .glb .gltf``) turned into point clouds by surface sampling.

trimesh loads the file (a multi-part scene is merged into one mesh, with its transforms); the
points are then drawn uniformly by area from a seeded generator, so a given mesh, count and
seed always give the same cloud.
"""
from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np

from pointad.errors import InputError
from pointad.io.cloud import Cloud


def read_mesh(path: str | Path, *, mesh_points: int = 20000, seed: int = 0) -> Cloud:
    """Sample ``mesh_points`` points on the surface of the mesh in ``path``.

    Returns a Cloud whose normals are the unit normals of the faces the points were drawn on
    (their orientation follows the face winding). Units are those of the mesh file.
    """
    # force="mesh" merges scenes into one Trimesh; process=False skips vertex merging, which
    # sampling does not need.
    import trimesh  # ~1 s to import: only when a mesh is actually read

    # force="mesh" always gives a Trimesh (Scene.to_mesh()).
    mesh = cast(trimesh.Trimesh, trimesh.load(path, force="mesh", process=False))
    faces = getattr(mesh, "faces", None)
    if faces is None or len(faces) == 0:
        raise InputError("has no faces: there is no surface to sample points on")
    points, normals = sample_surface(np.asarray(mesh.triangles, dtype=np.float64), mesh_points,
                                     seed)
    return Cloud(points=points, normals=normals)


def sample_surface(triangles: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``count`` points uniformly on the area of (F, 3, 3) triangles.

    Returns (count, 3) points and (count, 3) unit face normals of the triangles they lie on.
    """
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    cross = np.cross(b - a, c - a)
    double_area = np.linalg.norm(cross, axis=1)
    # Degenerate or non-finite triangles get weight 0, so they are never picked.
    double_area[~np.isfinite(double_area)] = 0.0
    usable = np.flatnonzero(double_area > 0)
    if len(usable) == 0:
        raise InputError("has no face with a positive, finite area: there is no surface to sample")
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(double_area)
    face = np.searchsorted(cumulative, rng.random(count) * cumulative[-1], side="right")
    # Rounding can put a draw at the very top; give it to the last face that has area.
    face = np.minimum(face, usable[-1])
    u, v = rng.random((2, count))
    # Reflect draws from the far half of the unit square back into the triangle.
    outside = u + v > 1
    u[outside], v[outside] = 1 - u[outside], 1 - v[outside]
    points = a[face] + u[:, None] * (b - a)[face] + v[:, None] * (c - a)[face]
    normals = cross[face] / double_area[face, None]
    return points, normals
