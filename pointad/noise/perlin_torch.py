"""Torch backend of :mod:`pointad.noise.perlin`: the same float32 arithmetic as the numba kernel,
as batched tensor ops on any device (CPU or CUDA).

Results equal the numba kernel's to float32 rounding (the same operation order; tests assert 1e-6).
Memory is about 30 float32 temporaries per point and octave, so huge inputs are processed in chunks.
"""
from __future__ import annotations

import numpy as np
import torch

from pointad.noise.tables import GRAD3, corner_hash2, corner_hash3, permutation_table

_CHUNK = 1 << 21  # points per chunk: bounds the temporaries to ~250 MB


def _fade(t):
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def _lerp(t, a, b):
    return a + t * (b - a)


def _cells(x, floor_x, repeat: float):
    """Cell index of x and its right neighbour modulo 256, with the C package's wrap near
    +-repeat."""
    i = floor_x.to(torch.int64)
    ii = i + 1
    wrap = ~((x > -repeat) & (x < repeat - 1.0))
    if bool(wrap.any()):
        xw = x[wrap]
        iw = torch.floor(torch.fmod(xw, repeat)).to(torch.int64)
        i = i.masked_scatter(wrap, iw)
        ii = ii.masked_scatter(wrap, torch.fmod((iw + 1).to(torch.float32), repeat).to(torch.int64))
    return i & 255, ii & 255


def _noise2(x, y, repeat, hash2, gx, gy):
    fx, fy = torch.floor(x), torch.floor(y)
    i, ii = _cells(x, fx, repeat)
    j, jj = _cells(y, fy, repeat)
    x, y = x - fx, y - fy
    u, v = _fade(x), _fade(y)
    x1, y1 = x - 1.0, y - 1.0

    def corner(a, b, px, py):
        h = hash2[a * 256 + b]
        return px * gx[h] + py * gy[h]

    return _lerp(v, _lerp(u, corner(i, j, x, y), corner(ii, j, x1, y)),
                 _lerp(u, corner(i, jj, x, y1), corner(ii, jj, x1, y1)))


def _noise3(x, y, z, repeat, hash_ij, hash_k, gx, gy, gz):
    fx, fy, fz = torch.floor(x), torch.floor(y), torch.floor(z)
    i, ii = _cells(x, fx, repeat)
    j, jj = _cells(y, fy, repeat)
    k, kk = _cells(z, fz, repeat)
    x, y, z = x - fx, y - fy, z - fz
    u, v, w = _fade(x), _fade(y), _fade(z)
    x1, y1, z1 = x - 1.0, y - 1.0, z - 1.0
    aa, ba = hash_ij[i * 256 + j], hash_ij[ii * 256 + j]
    ab, bb = hash_ij[i * 256 + jj], hash_ij[ii * 256 + jj]

    def grad(h, px, py, pz):
        return px * gx[h] + py * gy[h] + pz * gz[h]

    def layer(kk_, pz):
        return _lerp(v,
                     _lerp(u, grad(hash_k[aa + kk_], x, y, pz), grad(hash_k[ba + kk_], x1, y, pz)),
                     _lerp(u, grad(hash_k[ab + kk_], x, y1, pz),
                           grad(hash_k[bb + kk_], x1, y1, pz)))

    return _lerp(w, layer(k, z), layer(kk, z1))


def _prepare(coords, seed, base, three_d):
    tensors = [c for c in coords if isinstance(c, torch.Tensor)]
    device = tensors[0].device
    coords = torch.broadcast_tensors(*[torch.as_tensor(c, dtype=torch.float32, device=device)
                                       for c in coords])
    perm = permutation_table(seed)
    grads = [torch.as_tensor(np.ascontiguousarray(GRAD3[:, c]), device=device) for c in range(3)]
    tables: tuple[torch.Tensor, ...]
    if three_d:
        hij, hk = corner_hash3(perm, base)
        tables = (torch.as_tensor(hij.ravel().astype(np.int64), device=device),
                  torch.as_tensor(hk.astype(np.int64), device=device))
    else:
        tables = (torch.as_tensor(corner_hash2(perm, base).ravel().astype(np.int64),
                                  device=device),)
    return coords, tables, grads


def _fbm(noise_fn, coords, octaves, persistence, lacunarity, repeat, int_repeat, tables, grads):
    shape = coords[0].shape
    flat = [c.reshape(-1) for c in coords]
    out = torch.empty_like(flat[0])
    # Octave scalars follow the C package's float32 accumulation exactly.
    freqs, amps = [], []
    freq, amp, norm = np.float32(1), np.float32(1), np.float32(0)
    for _ in range(octaves):
        freqs.append(freq)
        amps.append(amp)
        norm = np.float32(norm + amp)
        freq = np.float32(freq * np.float32(lacunarity))
        amp = np.float32(amp * np.float32(persistence))
    for start in range(0, flat[0].numel(), _CHUNK):
        part = [c[start:start + _CHUNK] for c in flat]
        total = torch.zeros_like(part[0])
        for freq, amp in zip(freqs, amps):
            rep = np.float32(repeat) * freq
            rep = float(np.float32(np.int64(rep))) if int_repeat else float(rep)
            total = total + noise_fn(*[c * float(freq) for c in part], rep, *tables,
                                     *grads) * float(amp)
        out[start:start + _CHUNK] = total / float(norm)
    return out.reshape(shape)


def perlin2_torch(x, y, octaves=1, persistence=0.5, lacunarity=2.0, base=0, *, repeat=1024.0,
                  seed=None):
    """2D fBm Perlin noise on tensors (see :func:`pointad.noise.perlin2`); float32 on x's device."""
    coords, tables, grads = _prepare((x, y), seed, int(base), three_d=False)
    return _fbm(_noise2, coords, int(octaves), persistence, lacunarity, repeat, False, tables,
                grads[:2])


def perlin3_torch(x, y, z, octaves=1, persistence=0.5, lacunarity=2.0, base=0, *, repeat=1024,
                  seed=None):
    """3D fBm Perlin noise on tensors (see :func:`pointad.noise.perlin3`); float32 on x's device."""
    coords, tables, grads = _prepare((x, y, z), seed, int(base), three_d=True)
    return _fbm(_noise3, coords, int(octaves), persistence, lacunarity, repeat, True, tables, grads)
