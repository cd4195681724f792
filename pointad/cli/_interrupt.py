"""Ctrl-C (SIGINT) and SIGTERM for the long verbs: stop at a safe point, never inside native code.

Python's default SIGINT handler raises KeyboardInterrupt wherever the main thread is. In
``pnas generate`` that is mostly inside SciPy's ``cKDTree.query(workers=-1)`` (the kNN of the
normal estimation and of the defect kinds), whose main thread waits on worker threads that
run the query in C without the GIL. The exception unwinds the main thread while those workers
keep reading the tree and the query arrays; the interpreter then frees them on its way out and
a worker dies in ``query_single_point`` while the main thread is in ``Py_FinalizeEx``: a
segfault (exit 139) after "pnas: interrupted" (8 of 20 runs of ``tools/sigint_stress.py
--max-delay 7`` before this module; none after). It is not the OpenMP pools of numba or torch:
they are idle by then. The interrupt can also be lost inside SciPy's Cython thread helper, and
the run then simply goes on.

:func:`graceful_interrupts` installs handlers that only record the signal. The verb calls
:meth:`Stop.check` between items (samples, categories), where no worker thread is alive;
``check`` raises :class:`Interrupted`, which unwinds normally (temporary files are removed by
their ``finally`` blocks) and ``pnas`` exits 128 + the signal number (130 for SIGINT, 143 for
SIGTERM). A second signal means "stop now": the temporary files of the writes in progress are
removed and the process ends at once with ``os._exit`` (no interpreter teardown, so the native
threads cannot crash it); every file already in place is complete.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """Raised by :meth:`Stop.check` after SIGINT or SIGTERM; ``code`` is the exit status.

    A BaseException, like KeyboardInterrupt, so that ``except Exception`` never swallows it."""

    def __init__(self, signum: int):
        self.signum = signum
        self.code = 128 + signum
        self.detail = ""  # what was kept, how to continue (the verb fills it in)
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


class Stop:
    """The signal received (``signum``, None if none yet) and the check that acts on it."""

    def __init__(self, what: str):
        self.what = what
        self.signum: int | None = None

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal came; call it where stopping is safe."""
        if self.signum is not None:
            raise Interrupted(self.signum)

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:  # the second one: stop now
            from pointad.io.atomic import remove_pending  # loaded by then: the verb writes

            remove_pending()
            _say("pnas: interrupted")
            os._exit(128 + signum)
        self.signum = signum
        _say(f"pnas: stopping after the current {self.what} "
             f"({'Ctrl-C' if signum == signal.SIGINT else 'signal'} again to stop at once)")


def _say(line: str) -> None:
    # os.write, not print: a handler may run while the main thread is inside a print.
    try:
        sys.stdout.flush()
    except (OSError, ValueError, RuntimeError):
        pass
    try:
        os.write(2, (line + "\n").encode())
    except OSError:
        pass


@contextmanager
def graceful_interrupts(what: str = "item") -> Iterator[Stop]:
    """Within the block SIGINT and SIGTERM only set :attr:`Stop.signum` (see the module doc);
    ``what`` names the unit of work in the message. The previous handlers come back after.
    Outside the main thread (where handlers cannot be installed) the block runs unchanged."""
    stop = Stop(what)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    # A signal the parent chose to ignore (nohup, a background job) stays ignored.
    previous = {s: signal.getsignal(s) for s in SIGNALS
                if signal.getsignal(s) is not signal.SIG_IGN}
    for s in previous:
        signal.signal(s, stop._handle)
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
