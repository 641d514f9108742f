"""Reading a data file's bytes, with one clear error for each way that can fail."""

from __future__ import annotations

import os

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
