"""Shared small fixtures: clouds with known geometry, built with seeded generators."""
import numpy as np
import pytest


def sphere_points(n=3000, radius=1.0, seed=0):
    """(n, 3) points on a sphere and their outward normals."""
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(n, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    return p * radius, p.copy()


def ellipsoid_points(n=4000, radii=(3.0, 2.0, 1.0), seed=0):
    """(n, 3) points on an ellipsoid and exact outward normals."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    radii = np.asarray(radii)
    p = u * radii
    nrm = p / radii**2
    return p, nrm / np.linalg.norm(nrm, axis=1, keepdims=True)


def random_rotation(seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


@pytest.fixture
def ellipsoid():
    return ellipsoid_points()


@pytest.fixture
def sphere():
    return sphere_points()
