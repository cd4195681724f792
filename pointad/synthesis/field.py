"""Sampling the seeded Perlin field on noise-domain coordinates (2D or 3D).

The seed picks the permutation (an independent field), a rotation and an offset. The rotation
hides Perlin's axis-aligned lattice; the offset avoids the lattice points, where Perlin noise is
always zero. Both are applied in the data-derived frame, so the result rotates with the cloud.
"""
from __future__ import annotations

from typing import TypedDict

import numpy as np

from pointad.geometry.rotations import random_rotation
from pointad.noise import perlin2, perlin3

_OFFSET_RANGE = 200.0  # well inside the 1024 period, so no wrap seams at large offsets


class FbmParams(TypedDict):
    """The fBm parameters of :func:`pointad.noise.perlin2` / :func:`pointad.noise.perlin3`."""

    octaves: int
    persistence: float
    lacunarity: float


class NoiseDomain:
    """A seeded placement of the Perlin field: ``noise(coords) = fBm(R @ coords * freq + offset)``.

    Args:
        dim: 2 or 3.
        frequency: noise cycles per unit of the coordinates.
        octaves, persistence, lacunarity: fBm parameters (see :func:`pointad.noise.perlin2`).
        rng: the generator the rotation, offset and permutation are drawn from.
    """

    def __init__(self, dim: int, frequency: float, octaves: int, persistence: float,
                 lacunarity: float, rng: np.random.Generator) -> None:
        self.dim = dim
        self.frequency = float(frequency)
        self.fbm = FbmParams(octaves=int(octaves), persistence=float(persistence),
                             lacunarity=float(lacunarity))
        self.rotation: np.ndarray = random_rotation(rng, dim)
        self.offset = rng.uniform(-_OFFSET_RANGE, _OFFSET_RANGE, size=dim)
        self.perm_seed: int | None = int(rng.integers(0, 2**31 - 1))

    def to_noise_coords(self, coords: np.ndarray) -> np.ndarray:
        """(M, dim) coordinates -> (M, dim) positions in the noise lattice."""
        return coords @ (self.rotation.T * self.frequency) + self.offset

    def __call__(self, coords: np.ndarray) -> np.ndarray:
        """(M, dim) coordinates -> (M,) float32 noise values in about [-1, 1]."""
        q = self.to_noise_coords(coords)
        fn = perlin2 if self.dim == 2 else perlin3
        return fn(*q.T, **self.fbm, seed=self.perm_seed)

    def on_grid(self, lo: np.ndarray, hi: np.ndarray, resolution: int) -> np.ndarray:
        """(resolution, resolution) field sampled on a regular 2D grid spanning [lo, hi] (paper)."""
        u = np.linspace(lo[0], hi[0], resolution)
        v = np.linspace(lo[1], hi[1], resolution)
        uu, vv = np.meshgrid(u, v, indexing="ij")
        return self(np.stack([uu.ravel(), vv.ravel()], axis=1)).reshape(resolution, resolution)


def grid_lookup(grid: np.ndarray, lo: np.ndarray, hi: np.ndarray, coords: np.ndarray,
                method: str = "bilinear") -> np.ndarray:
    """Sample an (r, r) grid spanning [lo, hi] at (M, 2) coords; ``method`` bilinear or nearest."""
    r = grid.shape[0]
    flat = grid.ravel()
    # Continuous grid coordinates in [0, r - 1] per axis, as contiguous 1-D arrays (fast on 1M).
    t = []
    for axis in range(2):
        span = hi[axis] - lo[axis] if hi[axis] > lo[axis] else 1.0
        ta = (coords[:, axis] - lo[axis]) * ((r - 1) / span)
        t.append(np.clip(ta, 0.0, r - 1, out=ta))
    if method == "nearest":
        return flat[np.rint(t[0]).astype(np.int64) * r + np.rint(t[1]).astype(np.int64)]
    i0 = np.minimum(t[0].astype(np.int64), r - 2)  # t >= 0, so truncation is floor
    j0 = np.minimum(t[1].astype(np.int64), r - 2)
    fx, fy = t[0] - i0, t[1] - j0
    idx = i0 * r + j0
    top = flat[idx] + fx * (flat[idx + r] - flat[idx])
    bottom = flat[idx + 1] + fx * (flat[idx + r + 1] - flat[idx + 1])
    return top + fy * (bottom - top)


def min_max(values: np.ndarray) -> np.ndarray:
    """Rescale to [0, 1] (all zeros when the values are constant)."""
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values, dtype=np.float64)
