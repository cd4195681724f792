"""Rotation matrices: about an axis, and uniformly random (the package's one place for both)."""
from __future__ import annotations

import numpy as np

from pointad.errors import InputError


def rotation_about(axis, angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about ``axis`` (3,), right-handed (Rodrigues' formula).

    The axis need not be unit length; a zero axis raises :class:`InputError`.
    """
    axis = np.asarray(axis, dtype=np.float64)
    length = float(np.linalg.norm(axis))
    if axis.shape != (3,) or not length > 0:
        raise InputError(f"rotation axis must be a non-zero 3-vector, got {axis.tolist()}")
    x, y, z = axis / length
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def random_rotation(rng: np.random.Generator, dim: int = 3) -> np.ndarray:
    """A (dim, dim) rotation drawn uniformly: dim 2, a uniform angle; dim 3, a normalised Gaussian
    quaternion (uniform on SO(3))."""
    if dim == 2:
        a = rng.uniform(0.0, 2.0 * np.pi)
        return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    if dim != 3:
        raise InputError(f"random_rotation supports dim 2 or 3, got {dim}")
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
