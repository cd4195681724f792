"""Atomic, no-clobber file writes.

Every writer in :mod:`pointad.io` writes into a temporary file next to the target and moves it
into place only when writing succeeded, so a crash or an error never leaves a half-written
output, and an existing file is never replaced unless the caller asked for it.
"""
from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from pointad.errors import InputError

# Temporary files of the writes in progress: remove_pending() deletes them when the process must
# end at once (a second Ctrl-C), where no ``finally`` block runs.
_PENDING: set[Path] = set()


@contextmanager
def atomic_write(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it to ``path`` when the block succeeds.

    The temporary file is ``.<name>.<random><ext>`` in the target's directory (same filesystem,
    so the final move is atomic; same extension, so writers that dispatch on it still work).
    It exists and is empty when yielded. On an exception it is removed and ``path`` is untouched.

    Raises:
        InputError: ``path`` is a directory, or it exists and ``overwrite`` is False (checked
            before anything is written, and again at the final move, which never clobbers).
    """
    name = os.fspath(path)  # messages show the path as the caller wrote it
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{name}: is a directory, expected a file")
    if not overwrite and os.path.lexists(path):
        raise InputError(f"{name} exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(path)
    _PENDING.add(tmp)
    try:
        yield tmp
        _place(tmp, path, name, overwrite)
    finally:
        # After a successful placement tmp is already gone; otherwise this is the cleanup.
        tmp.unlink(missing_ok=True)
        _PENDING.discard(tmp)


@contextmanager
def atomic_group(paths: Sequence[str | os.PathLike[str]], *,
                 overwrite: bool = False) -> Iterator[list[Path]]:
    """Yield one temporary path per target (as :func:`atomic_write`); when the block succeeds,
    move them into place in the order given, so the last file marks the group complete (e.g. a
    cloud, then its sidecar). On an exception nothing is placed and every temporary is removed.

    Every target is checked (directory, existing without ``overwrite``) before anything is
    written. Should a move fail midway, the files already moved stay (each complete) and the
    rest are removed: a reader that waits for the last file never sees half a group.
    """
    with ExitStack() as stack:
        # Exit order is the reverse of entry: enter the last target first, so the first
        # target is placed first and the last one last.
        temps = [stack.enter_context(atomic_write(p, overwrite=overwrite))
                 for p in reversed(list(paths))]
        yield temps[::-1]


def check_writable_dir(path: str | os.PathLike[str]) -> Path:
    """Create the directory ``path`` (and its parents) if needed and make sure a file can be
    created in it, so a long run fails before its work rather than at its first write.

    Raises:
        InputError: ``path`` is a file, or the directory cannot be created or written.
    """
    name = os.fspath(path)
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{name}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        tmp = _create_temp(path / "write-check")
        tmp.unlink()
    except OSError as exc:
        raise InputError(f"{name}: cannot write there: {exc.strerror or exc}") from None
    return path


def remove_pending() -> None:
    """Delete the temporary files of every write in progress (for an immediate exit)."""
    for tmp in list(_PENDING):
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        _PENDING.discard(tmp)


def _create_temp(path: Path) -> Path:
    """Create an empty, uniquely named hidden file beside ``path`` and return its path."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{path.suffix}")
        try:
            # O_EXCL: never reuse someone else's file; mode 0o666 lets the umask decide the
            # final permissions like a plain open() would (mkstemp would force 0o600).
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise InputError(f"{os.fspath(path)}: could not create a temporary file next to it")


def _place(tmp: Path, path: Path, name: str, overwrite: bool) -> None:
    """Move ``tmp`` to ``path``; without ``overwrite`` fail if ``path`` appeared meanwhile."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        # link() fails with EEXIST instead of replacing, which rename() would do silently.
        os.link(tmp, path)
    except FileExistsError:
        raise InputError(f"{name} exists; refusing to overwrite it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                             errno.EMLINK):
            raise
        _place_without_links(tmp, path, name)
        return
    tmp.unlink()


def _place_without_links(tmp: Path, path: Path, name: str) -> None:
    """No-clobber move on filesystems without hard links: claim the name, then replace it."""
    try:
        # The exclusive create reserves the name; the replace only ever replaces our own
        # empty placeholder (which may be visible for that instant).
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except FileExistsError:
        raise InputError(f"{name} exists; refusing to overwrite it") from None
    os.replace(tmp, path)
