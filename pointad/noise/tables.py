"""Lookup tables of improved Perlin noise: the permutation and the gradient set.

``KEN_PERLIN_PERM`` is Ken Perlin's reference permutation of 0..255 (the one the C `noise` package
uses), so ``seed=None`` reproduces that package. A seed builds a fresh permutation instead, which is
what makes fields statistically independent (the package's ``base`` is only an index offset).
"""
from __future__ import annotations

import numpy as np

KEN_PERLIN_PERM = np.array([
    151, 160, 137, 91, 90, 15, 131, 13, 201, 95, 96, 53, 194, 233, 7, 225, 140, 36, 103, 30, 69,
    142, 8, 99, 37, 240, 21, 10, 23, 190, 6, 148, 247, 120, 234, 75, 0, 26, 197, 62, 94, 252, 219,
    203, 117, 35, 11, 32, 57, 177, 33, 88, 237, 149, 56, 87, 174, 20, 125, 136, 171, 168, 68, 175,
    74, 165, 71, 134, 139, 48, 27, 166, 77, 146, 158, 231, 83, 111, 229, 122, 60, 211, 133, 230,
    220, 105, 92, 41, 55, 46, 245, 40, 244, 102, 143, 54, 65, 25, 63, 161, 1, 216, 80, 73, 209,
    76, 132, 187, 208, 89, 18, 169, 200, 196, 135, 130, 116, 188, 159, 86, 164, 100, 109, 198, 173,
    186, 3, 64, 52, 217, 226, 250, 124, 123, 5, 202, 38, 147, 118, 126, 255, 82, 85, 212, 207, 206,
    59, 227, 47, 16, 58, 17, 182, 189, 28, 42, 223, 183, 170, 213, 119, 248, 152, 2, 44, 154, 163,
    70, 221, 153, 101, 155, 167, 43, 172, 9, 129, 22, 39, 253, 19, 98, 108, 110, 79, 113, 224, 232,
    178, 185, 112, 104, 218, 246, 97, 228, 251, 34, 242, 193, 238, 210, 144, 12, 191, 179, 162,
    241, 81, 51, 145, 235, 249, 14, 239, 107, 49, 192, 214, 31, 181, 199, 106, 157, 184, 84, 204,
    176, 115, 121, 50, 45, 127, 4, 150, 254, 138, 236, 205, 93, 222, 114, 67, 29, 24, 72, 243, 141,
    128, 195, 78, 66, 215, 61, 156, 180,
], dtype=np.int32)

# The 12 cube-edge directions, then 4 repeats so that ``hash & 15`` indexes it without a modulo.
GRAD3 = np.array([
    [1, 1, 0], [-1, 1, 0], [1, -1, 0], [-1, -1, 0],
    [1, 0, 1], [-1, 0, 1], [1, 0, -1], [-1, 0, -1],
    [0, 1, 1], [0, -1, 1], [0, 1, -1], [0, -1, -1],
    [1, 0, -1], [-1, 0, -1], [0, -1, 1], [0, 1, 1],
], dtype=np.float32)


def permutation_table(seed: int | None = None) -> np.ndarray:
    """Return the (768,) int32 lookup table: a permutation of 0..255 tiled three times.

    ``seed=None`` gives Ken Perlin's reference permutation (parity with the `noise` package);
    an integer seed gives a permutation drawn with ``numpy.random.default_rng(seed)``. Tiling three
    times keeps every lookup ``perm[perm[i + base] + j + base]`` in range for ``0 <= base <= 255``.
    """
    if seed is None:
        perm = KEN_PERLIN_PERM
    else:
        perm = np.random.default_rng(seed).permutation(256).astype(np.int32)
    return np.ascontiguousarray(np.tile(perm, 3))


def corner_hash2(perm: np.ndarray, base: int = 0) -> np.ndarray:
    """(256, 256) uint8 gradient index of lattice corner (i, j), i.e.
    ``perm[perm[perm[i]+j]] & 15``.

    Indices and ``base`` follow the C package: ``i`` and ``j`` are taken modulo 256, then ``base``
    is added before each lookup. Folding the three dependent lookups into one table is the main
    speed-up of the CPU kernel.
    """
    idx = np.arange(256) + base
    a = perm[idx]
    return (perm[perm[a[:, None] + idx[None, :]]] & 15).astype(np.uint8)


def corner_hash3(perm: np.ndarray, base: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tables for 3D: ``hash_ij`` (256, 256) = ``perm[perm[i]+j]`` and ``hash_k`` (512,) =
    ``perm[m + base] & 15``, so that the gradient of corner (i, j, k) is
    ``hash_k[hash_ij[i, j] + k]``.
    """
    idx = np.arange(256) + base
    a = perm[idx]
    hash_ij = perm[a[:, None] + idx[None, :]].astype(np.int32)
    hash_k = (perm[np.arange(512) + base] & 15).astype(np.uint8)
    return hash_ij, hash_k


def packed_cell_hash2(hash2: np.ndarray) -> np.ndarray:
    """(65536,) uint16: the four 4-bit corner hashes of cell (i, j) packed into one value.

    Bits 0-3: corner (i, j); 4-7: (i+1, j); 8-11: (i, j+1); 12-15: (i+1, j+1), neighbours taken
    modulo 256. One load per point and octave instead of four; ``hash2`` from :func:`corner_hash2`.
    """
    h = hash2.astype(np.uint16) & 15
    right = np.roll(h, -1, axis=0)
    up = np.roll(h, -1, axis=1)
    return (h | right << 4 | up << 8 | np.roll(right, -1, axis=1) << 12).ravel()
