"""Built-in sample parts, generated procedurally (no data files, no downloads, deterministic).

``sample_cloud(name)`` returns a :class:`pointad.io.Cloud` with exact normals. Closed parts are
sampled uniformly on a trimesh surface; ``plate`` is an organized single-view scan (MVTec 3D-AD
style: a pixel grid in camera coordinates, sensor at the origin looking along +z).
"""
from __future__ import annotations

import numpy as np

from pointad.errors import InputError
from pointad.io import Cloud
from pointad.validation import check_number, check_seed


# trimesh (with networkx, a second) is imported when a part is made, not with this module.
def _flange():
    # A washer-like flange: flat faces, inner and outer cylinders, sharp edges.
    import trimesh
    return trimesh.creation.annulus(r_min=15.0, r_max=40.0, height=12.0, sections=96)


def _sphere():
    import trimesh
    return trimesh.creation.icosphere(subdivisions=4, radius=25.0)


def _cylinder():
    import trimesh
    return trimesh.creation.cylinder(radius=12.0, height=60.0, sections=96)


def _box():
    import trimesh
    return trimesh.creation.box(extents=(60.0, 40.0, 20.0))


MESH_SAMPLES = {"flange": _flange, "sphere": _sphere, "cylinder": _cylinder, "box": _box}
SAMPLES = tuple(MESH_SAMPLES) + ("plate",)


def sample_cloud(name: str = "flange", n_points: int = 20_000, seed: int = 0) -> Cloud:
    """A built-in part as a :class:`Cloud` of about ``n_points`` points (millimetres) with normals.

    Names: ``flange``, ``sphere``, ``cylinder``, ``box`` (closed, outward normals) and ``plate``
    (organized single-view scan, normals facing the sensor; ``n_points`` sets the pixel count).
    """
    check_number(n_points, "n_points", low=100, integer=True)
    check_seed(seed)
    if name == "plate":
        return _plate(n_points)
    if name not in MESH_SAMPLES:
        raise InputError(f"sample must be one of {', '.join(SAMPLES)}; got {name!r}")
    mesh = MESH_SAMPLES[name]()
    import trimesh
    points, faces = trimesh.sample.sample_surface(mesh, n_points, seed=seed)
    return Cloud(points=np.asarray(points, dtype=np.float64),
                 normals=np.asarray(mesh.face_normals[faces], dtype=np.float64))


def _plate(n_points: int) -> Cloud:
    """A gently curved 80 x 60 mm plate 300 mm in front of the sensor, one point per pixel."""
    width = int(round(np.sqrt(n_points * 4 / 3)))
    height = max(2, int(round(n_points / width)))
    x, y = np.meshgrid(np.linspace(-40, 40, width), np.linspace(-30, 30, height))
    z = 300.0 + 0.004 * x**2 + 2.0 * np.sin(y / 12.0)
    points = np.stack([x, y, z], axis=-1).reshape(-1, 3)
    # Normal of z = f(x, y) is (-fx, -fy, 1), flipped to face the sensor at the origin.
    fx = 0.008 * x
    fy = 2.0 / 12.0 * np.cos(y / 12.0)
    normals = -np.stack([-fx, -fy, np.ones_like(x)], axis=-1).reshape(-1, 3)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return Cloud(points=points, normals=normals, grid_shape=(height, width),
                 grid_index=np.arange(height * width))
