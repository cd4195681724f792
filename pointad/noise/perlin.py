"""Improved Perlin noise with fBm octaves, 2D and 3D, on numpy arrays or torch tensors.

``perlin2``/``perlin3`` take the arguments of the C `noise` package's ``pnoise2``/``pnoise3`` and,
with ``seed=None`` and ``base`` 0 or 1, return identical values (float32, the precision that package
computes in). numpy inputs run a fused multi-core numba kernel; torch inputs run
:mod:`pointad.noise.perlin_torch` on the tensor's device (CPU or CUDA).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from pointad.noise import _kernels
from pointad.noise.tables import corner_hash2, corner_hash3, packed_cell_hash2, permutation_table
from pointad.validation import check_number, check_seed


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch")


def check_fbm_params(octaves, persistence, lacunarity, repeat, base, seed) -> None:
    """Raise :class:`~pointad.errors.InputError` for fBm parameters outside their valid ranges."""
    check_number(octaves, "octaves", low=1, high=32, integer=True)
    check_number(persistence, "persistence", low=0, low_open=True)
    check_number(lacunarity, "lacunarity", low=0, low_open=True)
    check_number(repeat, "repeat", low=1)
    check_number(base, "base", low=0, high=255, integer=True)
    if seed is not None:
        check_seed(seed)


@lru_cache(maxsize=64)
def _tables2(seed, base):
    hash2 = corner_hash2(permutation_table(seed), base)
    return packed_cell_hash2(hash2), hash2.ravel()


@lru_cache(maxsize=64)
def _tables3(seed, base):
    hash_ij, hash_k = corner_hash3(permutation_table(seed), base)
    return hash_ij.ravel().astype(np.uint8), hash_k


def _flat_coords(*arrays):
    """Broadcast coordinates to one shape; return it and flat contiguous float32/float64 arrays.

    float64 stays float64 (the kernel rounds each value to float32 on load, like the C package),
    which saves a conversion pass over the whole input.
    """
    floats = [np.asarray(a) for a in arrays]
    floats = [a if a.dtype in (np.float32, np.float64) else a.astype(np.float64) for a in floats]
    if len({a.shape for a in floats}) > 1:
        floats = list(np.broadcast_arrays(*floats))
    return floats[0].shape, [np.ascontiguousarray(a).ravel() for a in floats]


def perlin2(x, y, octaves: int = 1, persistence: float = 0.5, lacunarity: float = 2.0,
            base: int = 0, *, repeat: float = 1024, seed: int | None = None):
    """2D fBm Perlin noise at ``(x, y)``; returns an array of the broadcast shape of ``x`` and
    ``y``.

    Args:
        x, y: coordinates (any shape, broadcastable); numpy-like -> numpy float32 result,
            torch tensors -> float32 tensor on their device.
        octaves: number of noise layers summed (>= 1).
        persistence: amplitude factor between successive octaves (> 0).
        lacunarity: frequency factor between successive octaves (> 0).
        base: lattice offset 0..255, as in the `noise` package (not a seed).
        repeat: period of the noise along each axis at the first octave.
        seed: ``None`` uses Ken Perlin's permutation (parity with `noise`); an integer draws an
            independent permutation, so different seeds give unrelated fields.

    Values lie in about [-1, 1] (the fBm sum is divided by the total amplitude).
    """
    check_fbm_params(octaves, persistence, lacunarity, repeat, base, seed)
    if _is_tensor(x) or _is_tensor(y):
        from pointad.noise.perlin_torch import perlin2_torch
        return perlin2_torch(x, y, octaves, persistence, lacunarity, base, repeat=repeat, seed=seed)
    shape, (xs, ys) = _flat_coords(x, y)
    out = np.empty(xs.shape[0], dtype=np.float32)
    _kernels.fbm2(xs, ys, out, int(octaves), np.float32(persistence), np.float32(lacunarity),
                  np.float32(repeat), *_tables2(seed, int(base)))
    return out.reshape(shape)


def perlin3(x, y, z, octaves: int = 1, persistence: float = 0.5, lacunarity: float = 2.0,
            base: int = 0, *, repeat: int = 1024, seed: int | None = None):
    """3D fBm Perlin noise at ``(x, y, z)``; same conventions as :func:`perlin2`.

    As in the `noise` package, the per-octave period is ``int(repeat * freq)``.
    """
    check_fbm_params(octaves, persistence, lacunarity, repeat, base, seed)
    if _is_tensor(x) or _is_tensor(y) or _is_tensor(z):
        from pointad.noise.perlin_torch import perlin3_torch
        return perlin3_torch(x, y, z, octaves, persistence, lacunarity, base, repeat=repeat,
                             seed=seed)
    shape, (xs, ys, zs) = _flat_coords(x, y, z)
    out = np.empty(xs.shape[0], dtype=np.float32)
    hash_ij, hash_k = _tables3(seed, int(base))
    _kernels.fbm3(xs, ys, zs, out, int(octaves), np.float32(persistence), np.float32(lacunarity),
                  np.float32(repeat), hash_ij, hash_k)
    return out.reshape(shape)
