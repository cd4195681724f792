"""Fused numba kernels for improved Perlin noise with fBm octaves (CPU, all cores).

The arithmetic is float32 in the same order as the C `noise` package (inputs rounded to float32,
float32 accumulators), which is what makes the results identical to ``noise.pnoise2``/``pnoise3``
rather than merely close. Every float constant is typed float32 because a float64 literal would
silently promote the whole expression.

Speed comes from two things (see ``tools/bench.py``):

* The hash chain ``perm[perm[perm[i] + j]]`` is folded into precomputed corner tables
  (:func:`pointad.noise.tables.corner_hash2`/``corner_hash3``), so a 2D lookup is one load from a
  64 KiB table instead of three dependent ones.
* The wrap ``fmod(x, repeat)`` of the C code only matters within one cell of ``+-repeat``; the
  kernels take a branch-free-in-practice fast path everywhere else.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_F1 = np.float32(1.0)
_F6 = np.float32(6.0)
_F10 = np.float32(10.0)
_F15 = np.float32(15.0)
_F0 = np.float32(0.0)

_OPTS = dict(cache=True, error_model="numpy", boundscheck=False)


@njit(inline="always", **_OPTS)
def _fade(t):
    return t * t * t * (t * (t * _F6 - _F15) + _F10)


@njit(inline="always", **_OPTS)
def _lerp(t, a, b):
    return a + t * (b - a)


@njit(inline="always", **_OPTS)
def _cells(x, floor_x, repeat):
    """Lattice cell of ``x`` and its right neighbour, modulo 256, wrapped as the C package does."""
    if -repeat < x and x < repeat - _F1:
        i = np.int64(floor_x)
        return i & 255, (i + 1) & 255
    # Slow path near or beyond the repeat period: the exact C sequence of fmod and casts.
    i = np.int64(np.floor(np.fmod(x, repeat))) if repeat > _F0 else np.int64(floor_x)
    nxt = np.float32(i + 1)
    ii = np.int64(np.fmod(nxt, repeat)) if repeat > _F0 else i + 1
    return i & 255, ii & 255


@njit(inline="always", **_OPTS)
def _noise2(x, y, repeat, hash2, gx, gy):
    fx = np.floor(x)
    fy = np.floor(y)
    i, ii = _cells(x, fx, repeat)
    j, jj = _cells(y, fy, repeat)
    x = x - fx
    y = y - fy
    u = _fade(x)
    v = _fade(y)
    x1 = x - _F1
    y1 = y - _F1
    h00 = hash2[i, j]
    h10 = hash2[ii, j]
    h01 = hash2[i, jj]
    h11 = hash2[ii, jj]
    return _lerp(v,
                 _lerp(u, x * gx[h00] + y * gy[h00], x1 * gx[h10] + y * gy[h10]),
                 _lerp(u, x * gx[h01] + y1 * gy[h01], x1 * gx[h11] + y1 * gy[h11]))


@njit(inline="always", **_OPTS)
def _grad3(h, x, y, z, gx, gy, gz):
    return x * gx[h] + y * gy[h] + z * gz[h]


@njit(inline="always", **_OPTS)
def _noise3(x, y, z, repeat, hash_ij, hash_k, gx, gy, gz):
    fx = np.floor(x)
    fy = np.floor(y)
    fz = np.floor(z)
    i, ii = _cells(x, fx, repeat)
    j, jj = _cells(y, fy, repeat)
    k, kk = _cells(z, fz, repeat)
    x = x - fx
    y = y - fy
    z = z - fz
    u = _fade(x)
    v = _fade(y)
    w = _fade(z)
    x1 = x - _F1
    y1 = y - _F1
    z1 = z - _F1
    aa = hash_ij[i, j]
    ba = hash_ij[ii, j]
    ab = hash_ij[i, jj]
    bb = hash_ij[ii, jj]
    near = _lerp(v,
                 _lerp(u, _grad3(hash_k[aa + k], x, y, z, gx, gy, gz),
                       _grad3(hash_k[ba + k], x1, y, z, gx, gy, gz)),
                 _lerp(u, _grad3(hash_k[ab + k], x, y1, z, gx, gy, gz),
                       _grad3(hash_k[bb + k], x1, y1, z, gx, gy, gz)))
    far = _lerp(v,
                _lerp(u, _grad3(hash_k[aa + kk], x, y, z1, gx, gy, gz),
                      _grad3(hash_k[ba + kk], x1, y, z1, gx, gy, gz)),
                _lerp(u, _grad3(hash_k[ab + kk], x, y1, z1, gx, gy, gz),
                      _grad3(hash_k[bb + kk], x1, y1, z1, gx, gy, gz)))
    return _lerp(w, near, far)


@njit(parallel=True, **_OPTS)
def fbm2(xs, ys, out, octaves, persistence, lacunarity, repeat, hash2, gx, gy):
    """``out[n]`` = fBm of 2D noise at ``(xs[n], ys[n])`` (flat float32 or float64 arrays, rounded to
    float32); float32 parameters.

    ``hash2`` is :func:`~pointad.noise.tables.corner_hash2` for the permutation and base.
    The per-octave period is ``repeat * freq`` as a float, as in the C package.
    """
    for n in prange(xs.shape[0]):
        x = np.float32(xs[n])  # float64 inputs are rounded here, as the C package does on entry
        y = np.float32(ys[n])
        freq = _F1
        amp = _F1
        total = _F0
        norm = _F0
        for _ in range(octaves):
            total += _noise2(x * freq, y * freq, repeat * freq, hash2, gx, gy) * amp
            norm += amp
            freq *= lacunarity
            amp *= persistence
        out[n] = total / norm


@njit(parallel=True, **_OPTS)
def fbm3(xs, ys, zs, out, octaves, persistence, lacunarity, repeat, hash_ij, hash_k, gx, gy, gz):
    """``out[n]`` = fBm of 3D noise; the per-octave period is truncated to an integer, as in C."""
    for n in prange(xs.shape[0]):
        x = np.float32(xs[n])
        y = np.float32(ys[n])
        z = np.float32(zs[n])
        freq = _F1
        amp = _F1
        total = _F0
        norm = _F0
        for _ in range(octaves):
            rep = np.float32(np.int64(repeat * freq))
            total += _noise3(x * freq, y * freq, z * freq, rep, hash_ij, hash_k, gx, gy, gz) * amp
            norm += amp
            freq *= lacunarity
            amp *= persistence
        out[n] = total / norm
