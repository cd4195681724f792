"""numba's ``njit`` and ``prange``, with pointad's one global setting, numba imported on first use.

Every compiled kernel in pointad imports them from here. numba picks its parallel threading
layer at the first parallel call, trying Intel TBB first; a TBB wheel older than numba wants
prints a warning, while OpenMP does the same work. So, unless the user set
``NUMBA_THREADING_LAYER_PRIORITY`` (then it is left alone), numba's
``numba.config.THREADING_LAYER_PRIORITY`` is set to OpenMP, then workqueue, then TBB: when this
module is imported if numba already is, else when numba is imported, before the first kernel
compiles. That is pointad's only import-time side effect; it touches numba's configuration, never
``os.environ``.

numba itself (a quarter of a second, with llvmlite) is imported only when a kernel is first
called: :func:`njit` returns a :class:`LazyKernel` that compiles on its first call, so importing
pointad (``pnas --help``) does not load numba. On that first call the kernel's module gets the
compiled dispatcher in place of the wrapper, and so do the kernels it calls, and ``prange`` in
that module becomes numba's (outside compiled code :func:`prange` is ``range``).

numba's thread pool starts before the first kernel runs, with the process's thread count (see
:func:`_start_pool`): numba's OpenMP layer would otherwise set the OpenMP thread count of the
whole process, torch's included, to the CPU count, and torch's results depend on it.
"""
from __future__ import annotations

import functools
import importlib
import os
import sys
import threading
import types
from typing import Any

LAYER_PRIORITY = ["omp", "workqueue", "tbb"]

_lock = threading.RLock()
_pool_started = False


def _numba() -> Any:
    """numba, imported and configured (the threading-layer priority) on first use."""
    import numba

    if "NUMBA_THREADING_LAYER_PRIORITY" not in os.environ:
        numba.config.THREADING_LAYER_PRIORITY = LAYER_PRIORITY  # type: ignore[attr-defined]
    return numba


def _start_pool(numba: Any) -> None:
    """Start numba's thread pool (once) with as many threads as the process's other compute
    libraries use.

    On start, numba's OpenMP layer sets the OpenMP thread count of the process to its pool size
    (the CPU count unless ``NUMBA_NUM_THREADS`` is set), and torch shares that count: a process
    limited to one thread (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``) would train on
    every core after the first kernel, and a torch training run's numbers depend on its thread
    count (a fit in this process and one on a one-thread worker would differ). So, unless the
    user set ``NUMBA_NUM_THREADS``, the pool gets torch's thread count when torch is loaded,
    else ``OMP_NUM_THREADS`` when that is set (at most numba's own default); and torch's count
    is put back if it changed anyway."""
    global _pool_started
    if _pool_started:
        return
    _pool_started = True
    from numba.np.ufunc import parallel

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    started = getattr(parallel, "_is_initialized", False)  # by other code: leave it as it is
    if "NUMBA_NUM_THREADS" not in os.environ and not started:
        wanted = before
        if wanted is None:
            try:
                wanted = int(os.environ.get("OMP_NUM_THREADS", ""))
            except ValueError:
                wanted = None
        if wanted is not None and 1 <= wanted < numba.config.NUMBA_NUM_THREADS:
            numba.config.NUMBA_NUM_THREADS = wanted
            parallel.NUM_THREADS = wanted  # the count the pool starts with
    numba.get_num_threads()  # starts the pool
    if torch is not None and before is not None and torch.get_num_threads() != before:
        torch.set_num_threads(before)


if "numba" in sys.modules:   # imported already: configure it now, before any parallel call
    _numba()


def prange(*args: int) -> range:
    """``numba.prange`` inside a kernel (substituted when the kernel compiles), ``range``
    outside."""
    return range(*args)


def _global_names(code: types.CodeType) -> set[str]:
    """The global names ``code`` and the code objects nested in it refer to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


class LazyKernel:
    """A function for ``numba.njit(**options)``, compiled on its first call (see the module
    docstring). Calls, pickling and the function's attributes behave as the dispatcher's."""

    def __init__(self, py_func: Any, options: dict[str, Any]) -> None:
        functools.update_wrapper(self, py_func)
        self.py_func = py_func
        self._options = options
        self._dispatcher: Any = None

    def compiled(self) -> Any:
        """The numba dispatcher (created, with the module's globals rebound, on first use)."""
        if self._dispatcher is None:
            with _lock:
                if self._dispatcher is None:
                    numba = _numba()
                    _start_pool(numba)
                    dispatcher = numba.njit(**self._options)(self.py_func)
                    self._dispatcher = dispatcher
                    space = self.py_func.__globals__
                    if space.get(self.py_func.__name__) is self:
                        space[self.py_func.__name__] = dispatcher
                    for name in _global_names(self.py_func.__code__):
                        value = space.get(name)
                        if isinstance(value, LazyKernel):
                            space[name] = value.compiled()
                        elif value is prange:
                            space[name] = numba.prange
        return self._dispatcher

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.compiled()(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return _kernel, (self.py_func.__module__, self.py_func.__qualname__)

    def __repr__(self) -> str:
        return f"<LazyKernel {self.py_func.__module__}.{self.py_func.__qualname__}>"


def _kernel(module: str, qualname: str) -> Any:
    """The kernel ``module.qualname`` (unpickling a :class:`LazyKernel`)."""
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def njit(*args: Any, **options: Any) -> Any:
    """``numba.njit``, compiled on first call: ``@njit`` or ``@njit(cache=True, ...)``."""
    if len(args) == 1 and callable(args[0]):
        return LazyKernel(args[0], options)
    if args:
        raise TypeError("njit takes keyword options only (signatures are not supported)")
    return lambda func: LazyKernel(func, options)


__all__ = ["LAYER_PRIORITY", "LazyKernel", "njit", "prange"]
