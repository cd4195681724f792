"""Executors for the long verbs: serial by default, local worker processes, or a Dask cluster.

An *executor* is anything with ``concurrent.futures``' ``submit`` (returning a
``concurrent.futures.Future``): a :class:`SerialExecutor`, a ``ProcessPoolExecutor`` or
``distributed.Client(...).get_executor()``. The Python API (``pointad.runner.evaluate``,
``pnas generate``'s ``run(args, executor=...)``) takes one; :func:`open_executor` makes the
one the ``--workers N`` / ``--scheduler ADDRESS`` options ask for:

- neither: ``None`` (the caller runs serially, in this process);
- ``workers=N``: a ``distributed.LocalCluster`` of N worker processes, one thread each, with
  OpenMP, BLAS, numba and torch limited to one thread per worker (:func:`single_thread`);
- ``scheduler=ADDRESS``: a ``distributed.Client`` connected to a running ``dask scheduler``.

``resources={"GPU": 1}`` makes every submitted task ask for that Dask worker resource, so it
runs only on workers started with ``dask worker ADDRESS --resources GPU=1`` (with ``workers``,
each local worker gets the resources it is asked for).

Dask is imported only here and only when a cluster is asked for. Tasks get file paths and
write their own outputs; each carries its own seed, so the outputs are the same bytes whatever
the worker count or order.
"""
from __future__ import annotations

import contextlib
import os
import signal
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, as_completed, wait
from typing import Any

from pointad.errors import InputError

#: Environment of local worker processes: one thread per library (the workers are the threads).
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
CONNECT_TIMEOUT_S = 10


class SerialExecutor:
    """``submit`` runs the call at once, in this process; the Future holds its result or its
    exception. ``map`` is the built-in ``map`` (lazy)."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # the caller reads it from the Future, as with a pool
            future.set_exception(exc)
        return future

    def map(self, fn: Callable, *iterables):
        return map(fn, *iterables)

    def shutdown(self, wait: bool = True, **_) -> None:
        pass


def single_thread() -> None:
    """Limit this process to one compute thread (called by every task on a worker): the
    variables of :data:`SINGLE_THREAD_ENV` for what loads later, and torch if it is loaded."""
    for key, value in SINGLE_THREAD_ENV.items():
        os.environ.setdefault(key, value)
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def call(fn: Callable, *args, **kwargs) -> Any:
    """``fn(*args, **kwargs)`` after :func:`single_thread`: what a worker runs."""
    single_thread()
    return fn(*args, **kwargs)


def check_options(workers: int | None, scheduler: str | None) -> None:
    """``--workers`` is an integer >= 1 and is not given with ``--scheduler``."""
    if workers is not None and scheduler is not None:
        raise InputError("--workers starts local workers, --scheduler uses a running cluster: "
                         "give one")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise InputError(f"--workers must be an integer >= 1, got {workers!r}")
    if scheduler is not None and not str(scheduler).strip():
        raise InputError("--scheduler needs an address such as tcp://host:8786")


@contextlib.contextmanager
def _no_signals_in_children() -> Iterator[None]:
    """SIGINT ignored while worker processes start, so they inherit that: a Ctrl-C at the
    terminal (sent to the whole process group) reaches the driver alone, which stops the work
    and closes the cluster. SIGTERM is left alone: the nanny ends its worker with it."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signal.SIGINT: signal.getsignal(signal.SIGINT)}
    for s in previous:
        signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def open_executor(workers: int | None = None, scheduler: str | None = None, *,
                  resources: dict | None = None) -> Iterator[Any]:
    """The executor of ``--workers`` / ``--scheduler`` (None for a serial run: neither given);
    the cluster it started is closed on the way out (pending tasks cancelled), also after an
    exception or an interrupt. An unreachable ``scheduler``, or a local cluster that does not
    start (e.g. a script run as ``python -`` cannot spawn workers), is an
    :class:`InputError`."""
    check_options(workers, scheduler)
    if workers is None and scheduler is None:
        yield None
        return
    import logging

    from distributed import Client, LocalCluster

    # Dask logs a worker's death and a cancelled task as warnings: the verb reports them.
    loggers = {name: logging.getLogger(name) for name in ("distributed", "tornado.application")}
    levels = {name: logger.level for name, logger in loggers.items()}
    loggers["distributed"].setLevel(logging.ERROR)
    try:
        with contextlib.ExitStack() as stack:
            if workers is not None:
                with _no_signals_in_children(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "port 8787 in use": no dashboard here
                    try:
                        cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                               processes=True, dashboard_address=None,
                                               env=dict(SINGLE_THREAD_ENV),
                                               resources=resources or None,
                                               # A worker's heartbeat error when the
                                               # scheduler closes first is a traceback:
                                               silence_logs=logging.CRITICAL + 1)
                    except Exception as exc:  # Dask's failure: one line, not its traceback
                        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
                        raise InputError(f"--workers {workers}: the local Dask cluster did not "
                                         f"start ({type(exc).__name__}: {reason})") from None
                stack.callback(cluster.close)
                client = Client(cluster)
            else:
                try:
                    client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
                except (OSError, TimeoutError, ValueError) as exc:
                    reason = " ".join(str(exc).split()) or type(exc).__name__
                    raise InputError(f"--scheduler {scheduler}: cannot connect ({reason})") \
                        from None
            stack.callback(client.close)
            kwargs: dict = {"pure": False}
            if resources:
                kwargs["resources"] = dict(resources)
            executor = client.get_executor(**kwargs)
            executor.n_workers = workers or max(1, len(client.scheduler_info()["workers"]))
            try:
                yield executor
            finally:
                # A task cancelled at shutdown (after an error) is no news: keep stderr clean.
                for logger in loggers.values():
                    logger.setLevel(logging.CRITICAL + 1)
                executor.shutdown(wait=False)
    finally:
        for name, level in levels.items():
            loggers[name].setLevel(level)


def worker_count(executor: Any) -> int:
    """How many tasks ``executor`` runs at once, as far as it says (1 for a serial one)."""
    if executor is None or isinstance(executor, SerialExecutor):
        return 1
    for name in ("n_workers", "_max_workers"):
        value = getattr(executor, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return os.cpu_count() or 1


def is_worker_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (from a Future) says a worker died or lost its connection rather than
    that the task raised: Dask's ``KilledWorker`` and comm errors, a broken process pool."""
    from concurrent.futures.process import BrokenProcessPool

    module = type(exc).__module__ or ""
    return isinstance(exc, BrokenProcessPool) or module.startswith("distributed")


def run_tasks(executor: Any, tasks: Iterable[tuple[Any, Callable, tuple]], *, window: int,
              check: Callable[[], None] | None = None, drain: bool = True,
              poll_s: float = 0.2) -> Iterator[tuple[Any, Future]]:
    """Run ``tasks`` (``(key, fn, args)``; ``fn(*args)`` through :func:`call`) on ``executor``
    with at most ``window`` of them submitted at a time, and yield ``(key, future)`` as each
    finishes (in any order). ``check()`` runs every ``poll_s`` seconds while waiting; when it
    raises (an interrupt), nothing more is submitted, the tasks already submitted are waited
    for (a task is never cut off in the middle of its writes) and yielded, then the exception
    propagates. With ``drain=False`` (tasks that write nothing, whose results the driver
    saves) the submitted tasks are cancelled instead. The driver holds at most ``window``
    tasks' results at a time."""
    todo = iter(tasks)
    inflight: dict[Future, Any] = {}

    def fill() -> None:
        while len(inflight) < window:
            item = next(todo, None)
            if item is None:
                return
            key, fn, args = item
            inflight[executor.submit(call, fn, *args)] = key

    fill()
    while inflight:
        stopping = None
        if check is not None:
            try:
                check()
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after the drain
                stopping = exc
        if stopping is not None and not drain:
            for future in list(inflight):  # the finished ones are kept, the others cancelled
                if future.done() and not future.cancelled():
                    yield inflight.pop(future), future
                else:
                    future.cancel()  # a Dask task already running: cancelled at shutdown
            raise stopping
        if stopping is not None:
            for future in as_completed(list(inflight)):
                yield inflight.pop(future), future
            raise stopping
        done, _ = wait(list(inflight), timeout=poll_s, return_when=FIRST_COMPLETED)
        for future in done:
            yield inflight.pop(future), future
        fill()
