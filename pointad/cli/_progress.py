"""A progress bar inside one long cloud (normal estimation of a large input), on stderr.

Shown for a cloud of more than :data:`LARGE_CLOUD` points when stderr is a terminal or the user
asked for it (``--progress``), never with ``--quiet``. The work reports ``progress(done, total)``
(:func:`pointad.geometry.local_frames`); the bar shows the percentage and the time left.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

LARGE_CLOUD = 1_000_000  # points: below this the work takes seconds, no bar


def wanted(n_points: int, *, quiet: bool = False, requested: bool = False) -> bool:
    """Whether a cloud of ``n_points`` gets a bar: large, not ``quiet``, and stderr a terminal
    or the bar ``requested``."""
    if quiet or n_points <= LARGE_CLOUD:
        return False
    return requested or sys.stderr.isatty()


@contextmanager
def cloud_progress(n_points: int, desc: str, *, quiet: bool = False,
                   requested: bool = False) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback driving a tqdm bar (None when no bar is
    :func:`wanted`); the bar is removed when the block ends."""
    if not wanted(n_points, quiet=quiet, requested=requested):
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, file=sys.stderr, leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

    def progress(done: int, total: int) -> None:
        percent = min(100, int(100 * done / max(total, 1)))
        if percent > bar.n:
            bar.update(percent - bar.n)

    try:
        yield progress
    finally:
        bar.close()
