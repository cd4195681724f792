"""numba's ``njit`` and ``prange``, with pointad's one global setting.

Every compiled kernel in pointad imports them from here. numba picks its parallel threading
layer at the first parallel call, trying Intel TBB first; a TBB wheel older than numba wants
prints a warning, while OpenMP does the same work. So, unless the user set
``NUMBA_THREADING_LAYER_PRIORITY`` (then it is left alone), importing this module sets
``numba.config.THREADING_LAYER_PRIORITY`` to OpenMP, then workqueue, then TBB. This is pointad's
only import-time side effect; it touches numba's configuration, never ``os.environ``.
"""
from __future__ import annotations

import os

import numba
from numba import njit, prange

LAYER_PRIORITY = ["omp", "workqueue", "tbb"]

if "NUMBA_THREADING_LAYER_PRIORITY" not in os.environ:
    numba.config.THREADING_LAYER_PRIORITY = LAYER_PRIORITY

__all__ = ["njit", "prange"]
