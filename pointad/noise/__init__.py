"""Perlin noise: vectorized improved Perlin noise with fBm octaves (numpy/numba and torch
backends)."""
from pointad.noise.perlin import perlin2, perlin3
from pointad.noise.tables import permutation_table

__all__ = ["perlin2", "perlin3", "permutation_table"]
