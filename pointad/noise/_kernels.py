"""Fused numba kernels for improved Perlin noise with fBm octaves (CPU, all cores).

The arithmetic is float32 in the same order as the C `noise` package (inputs rounded to float32,
float32 accumulators), which is what makes the results identical to ``noise.pnoise2``/``pnoise3``
rather than merely close. Every float constant is typed float32 because a float64 literal would
silently promote the whole expression.

Speed (see ``tools/bench.py``) comes from three things:

* The hash chain ``perm[perm[perm[i] + j]]`` is folded into precomputed corner tables
  (:func:`pointad.noise.tables.corner_hash2`/``corner_hash3``): one load per 2D corner.
* Points are processed in blocks, each octave in three passes: lattice cells (vectorized), the
  table lookups (scalar: gathers from a table), then gradients, fades and lerps (vectorized).
  In 2D the four corner hashes of a cell are packed in one uint16, so the gather pass does one
  load per point (:func:`pointad.noise.tables.packed_cell_hash2`).
  A loop that stores while it gathers cannot be vectorized (the compiler cannot rule out that the
  store hits the table), so separating the gathers lets LLVM use SIMD for all the arithmetic.
* Gradients come from the hash by bit tests on constants derived from ``GRAD3``, not a second
  table lookup. The C package's ``fmod`` wrap is only done, exactly, for blocks that need it.
"""
from __future__ import annotations

import numpy as np

from pointad.jit import njit, prange
from pointad.noise.tables import GRAD3

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F6 = np.float32(6.0)
_F10 = np.float32(10.0)
_F15 = np.float32(15.0)
_BLOCK = 1024


def _bitmasks(column):
    """(nonzero, negative) bit masks over the 16 hash values for one gradient component."""
    nonzero = sum(1 << h for h in range(16) if GRAD3[h, column] != 0)
    negative = sum(1 << h for h in range(16) if GRAD3[h, column] < 0)
    return nonzero, negative


(_GX_NZ, _GX_NEG), (_GY_NZ, _GY_NEG), (_GZ_NZ, _GZ_NEG) = (_bitmasks(c) for c in range(3))

_OPTS = dict(cache=True, error_model="numpy", boundscheck=False)


@njit(inline="always", **_OPTS)
def _fade(t):
    return t * t * t * (t * (t * _F6 - _F15) + _F10)


@njit(inline="always", **_OPTS)
def _lerp(t, a, b):
    return a + t * (b - a)


@njit(inline="always", **_OPTS)
def _component(h, nonzero, negative):
    """Gradient component (-1, 0 or 1, float32) of hash ``h`` (0..15)."""
    return np.float32(((nonzero >> h) & 1) * (1 - 2 * ((negative >> h) & 1)))


@njit(inline="always", **_OPTS)
def _grad2(h, x, y):
    return x * _component(h, _GX_NZ, _GX_NEG) + y * _component(h, _GY_NZ, _GY_NEG)


@njit(inline="always", **_OPTS)
def _grad3(h, x, y, z):
    return (x * _component(h, _GX_NZ, _GX_NEG) + y * _component(h, _GY_NZ, _GY_NEG)
            + z * _component(h, _GZ_NZ, _GZ_NEG))


@njit(inline="always", **_OPTS)
def _wrapped_cells(x, repeat):
    """Cell of ``x`` and its right neighbour, modulo 256, by the C package's exact fmod sequence."""
    i = np.int64(np.floor(np.fmod(x, repeat))) if repeat > _F0 else np.int64(np.floor(x))
    nxt = np.float32(i + 1)
    ii = np.int64(np.fmod(nxt, repeat)) if repeat > _F0 else i + 1  # (int) cast truncates
    return i & 255, ii & 255


@njit(**_OPTS)
def _cells(src, m, freq, repeat, frac, cell, cell_next):
    """Pass 1 for one axis: fraction and lattice cells of the scaled coordinates (vectorized).

    Returns whether any point needed the C package's wrap, handled exactly by a scalar fix-up.
    """
    needs_wrap = False
    limit = repeat - _F1
    for k in range(m):
        x = src[k] * freq
        floor_x = np.floor(x)
        frac[k] = x - floor_x
        i = np.int32(floor_x)
        cell[k] = i & 255
        cell_next[k] = (i + 1) & 255
        needs_wrap |= not (-repeat < x and x < limit)
    if needs_wrap:  # rare: only near or beyond the repeat period
        for k in range(m):
            x = src[k] * freq
            if not (-repeat < x and x < limit):
                cell[k], cell_next[k] = _wrapped_cells(x, repeat)
    return needs_wrap


@njit(**_OPTS)
def _lookup2(m, ci, cii, cj, cjj, packed2, hash2, wrapped, out):
    """Pass 2 (2D): the four corner hashes of each point, packed 4 bits each (scalar gathers)."""
    if not wrapped:  # neighbours are (i + 1, j + 1): one load from the packed table
        for k in range(m):
            out[k] = packed2[ci[k] * 256 + cj[k]]
        return
    for k in range(m):
        i, ii, j, jj = ci[k] * 256, cii[k] * 256, cj[k], cjj[k]
        out[k] = ((hash2[i + j] & 15) | (hash2[ii + j] & 15) << 4 | (hash2[i + jj] & 15) << 8
                  | (hash2[ii + jj] & 15) << 12)


@njit(**_OPTS)
def _combine2(m, fx, fy, packed, acc, amp):
    """Pass 3 (2D): gradients, fades and lerps, accumulated with the octave's amplitude."""
    for k in range(m):
        x = fx[k]
        y = fy[k]
        x1 = x - _F1
        y1 = y - _F1
        u = _fade(x)
        v = _fade(y)
        p = np.int32(packed[k])
        acc[k] += _lerp(v, _lerp(u, _grad2(p & 15, x, y), _grad2((p >> 4) & 15, x1, y)),
                        _lerp(u, _grad2((p >> 8) & 15, x, y1),
                              _grad2((p >> 12) & 15, x1, y1))) * amp


@njit(inline="always", **_OPTS)
def _load_block(src, lo, m):
    """(_BLOCK,) float32 buffer holding ``src[lo:lo + m]`` (the rest uninitialised)."""
    dst = np.empty(_BLOCK, np.float32)
    for k in range(m):
        dst[k] = np.float32(src[lo + k])  # float64 is rounded here, as the C package does on entry
    return dst


@njit(parallel=True, **_OPTS)
def fbm2(xs, ys, out, octaves, persistence, lacunarity, repeat, packed2, hash2):
    """``out[n]`` = fBm of 2D noise at ``(xs[n], ys[n])``.

    ``xs``, ``ys``: flat float32 or float64 arrays (rounded to float32, as the C package does);
    float32 parameters; ``packed2``/``hash2``: :func:`~pointad.noise.tables.packed_cell_hash2`
    and the flat :func:`~pointad.noise.tables.corner_hash2`. The per-octave period is
    ``repeat * freq`` as a float, as in the C package.
    """
    n = xs.shape[0]
    for b in prange((n + _BLOCK - 1) // _BLOCK):
        lo = b * _BLOCK
        m = min(n, lo + _BLOCK) - lo
        x32, y32 = _load_block(xs, lo, m), _load_block(ys, lo, m)
        fx = np.empty(_BLOCK, np.float32)
        fy = np.empty(_BLOCK, np.float32)
        cells = np.empty((4, _BLOCK), np.int32)
        packed = np.empty(_BLOCK, np.uint16)
        acc = np.zeros(_BLOCK, np.float32)
        freq = _F1
        amp = _F1
        norm = _F0
        for _ in range(octaves):
            rep = repeat * freq
            wrapped = _cells(x32, m, freq, rep, fx, cells[0], cells[1])
            wrapped |= _cells(y32, m, freq, rep, fy, cells[2], cells[3])
            _lookup2(m, cells[0], cells[1], cells[2], cells[3], packed2, hash2, wrapped, packed)
            _combine2(m, fx, fy, packed, acc, amp)
            norm += amp
            freq *= lacunarity
            amp *= persistence
        for k in range(m):
            out[lo + k] = acc[k] / norm


@njit(**_OPTS)
def _lookup3(m, c, hash_ij, hash_k, h):
    """Pass 2 (3D): the eight corner hashes ``hash_k[hash_ij[i, j] + k]`` (scalar gathers)."""
    for q in range(m):
        i, ii, j, jj, kk0, kk1 = c[0, q] * 256, c[1, q] * 256, c[2, q], c[3, q], c[4, q], c[5, q]
        aa = hash_ij[i + j]
        ba = hash_ij[ii + j]
        ab = hash_ij[i + jj]
        bb = hash_ij[ii + jj]
        h[0, q] = hash_k[aa + kk0]
        h[1, q] = hash_k[ba + kk0]
        h[2, q] = hash_k[ab + kk0]
        h[3, q] = hash_k[bb + kk0]
        h[4, q] = hash_k[aa + kk1]
        h[5, q] = hash_k[ba + kk1]
        h[6, q] = hash_k[ab + kk1]
        h[7, q] = hash_k[bb + kk1]


@njit(**_OPTS)
def _combine3(m, fx, fy, fz, h, acc, amp):
    """Pass 3 (3D): gradients, fades and lerps, accumulated with the octave's amplitude."""
    for q in range(m):
        x = fx[q]
        y = fy[q]
        z = fz[q]
        x1 = x - _F1
        y1 = y - _F1
        z1 = z - _F1
        u = _fade(x)
        v = _fade(y)
        w = _fade(z)
        near = _lerp(v, _lerp(u, _grad3(h[0, q], x, y, z), _grad3(h[1, q], x1, y, z)),
                     _lerp(u, _grad3(h[2, q], x, y1, z), _grad3(h[3, q], x1, y1, z)))
        far = _lerp(v, _lerp(u, _grad3(h[4, q], x, y, z1), _grad3(h[5, q], x1, y, z1)),
                    _lerp(u, _grad3(h[6, q], x, y1, z1), _grad3(h[7, q], x1, y1, z1)))
        acc[q] += _lerp(w, near, far) * amp


@njit(parallel=True, **_OPTS)
def fbm3(xs, ys, zs, out, octaves, persistence, lacunarity, repeat, hash_ij, hash_k):
    """``out[n]`` = fBm of 3D noise; the per-octave period is truncated to an integer, as in C.

    ``hash_ij`` flat (65536,) int32 and ``hash_k`` (512,) int32 from
    :func:`~pointad.noise.tables.corner_hash3`.
    """
    n = xs.shape[0]
    for b in prange((n + _BLOCK - 1) // _BLOCK):
        lo = b * _BLOCK
        m = min(n, lo + _BLOCK) - lo
        x32, y32, z32 = _load_block(xs, lo, m), _load_block(ys, lo, m), _load_block(zs, lo, m)
        fx = np.empty(_BLOCK, np.float32)
        fy = np.empty(_BLOCK, np.float32)
        fz = np.empty(_BLOCK, np.float32)
        cells = np.empty((6, _BLOCK), np.int32)
        hashes = np.empty((8, _BLOCK), np.int32)
        acc = np.zeros(_BLOCK, np.float32)
        freq = _F1
        amp = _F1
        norm = _F0
        for _ in range(octaves):
            rep = np.float32(np.int64(repeat * freq))
            _cells(x32, m, freq, rep, fx, cells[0], cells[1])
            _cells(y32, m, freq, rep, fy, cells[2], cells[3])
            _cells(z32, m, freq, rep, fz, cells[4], cells[5])
            _lookup3(m, cells, hash_ij, hash_k, hashes)
            _combine3(m, fx, fy, fz, hashes, acc, amp)
            norm += amp
            freq *= lacunarity
            amp *= persistence
        for q in range(m):
            out[lo + q] = acc[q] / norm
