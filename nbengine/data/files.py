"""Files on disk: reading a data file's bytes with one clear error for each way
that can fail, and writing a file all at once (atomically)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Callable, Iterator

from nbengine.errors import DataError


def read_bytes(path: str | os.PathLike, kind: str = "file") -> bytes:
    """All the bytes of a file; a missing file, a folder or an unreadable file is a DataError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(path, "no such file")
    if os.path.isdir(path):
        raise DataError(path, f"is a directory, not a {kind}")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DataError(path, f"cannot be read ({e.strerror})") from None


def is_number(cell: str) -> bool:
    """Whether a CSV cell reads as a number."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def give_ordinary_mode(path: str | os.PathLike) -> None:
    """Set the mode a new file gets (0o666 less the umask): temporary files are made
    readable by their owner only, which would keep them from other users."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, text: bool = False, suffix: str = ".tmp",
                 check: Callable[[str], object] | None = None) -> Iterator:
    """Write ``path`` all at once, or not at all.

    Yields a file opened for writing (binary, or text with ``text``) in a temporary
    file beside ``path``. When the block ends without an error, the file is flushed
    to disk, ``check(temporary path)`` runs if given (it raises to refuse the file),
    the file gets an ordinary file's mode, and it is renamed over ``path`` in one
    step. On any error the temporary file is removed and ``path`` is untouched, so
    a reader never sees half a file. OSError from the file system is left to the
    caller to report.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "w" if text else "wb", **({"newline": "", "encoding": "utf-8"} if text else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check(tmp)
        give_ordinary_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
