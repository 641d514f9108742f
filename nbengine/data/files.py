"""Files on disk: reading a data file's bytes with one clear error for each way
that can fail, writing a file all at once (atomically), and refusing, before any work,
an output that would replace one of the command's inputs."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, BinaryIO

from nbengine.errors import DataError
from nbengine.i18n import N_, Msg

# The most bytes nbengine reads from one file, or unpacks from one gzip file. The largest
# data set it knows, MNIST's 60,000 training digits as CSV, is about 110 MB; without a
# limit, /dev/zero given as data (or named in a checkpoint) would be read until memory ran out.
MAX_FILE_BYTES = 10**9
_KINDS = {
    stat.S_ISCHR: N_("a character device"),
    stat.S_ISBLK: N_("a block device"),
    stat.S_ISFIFO: N_("a named pipe"),
    stat.S_ISSOCK: N_("a socket"),
}
# The kinds of file the readers name in their messages (``kind``), and the ways a file is
# written (``verb``): words put into a message, translated with it when it is shown.
KIND_WORDS = (N_("file"), N_("CSV file"), N_("text file"), N_("checkpoint"), N_("tutorial file"))
VERB_WORDS = (N_("written"), N_("saved"))


def size_text(n: int) -> str:
    """A byte count as people write it: 1.2 GB, 110 MB, 512 bytes."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def open_regular(
    path: str | os.PathLike, kind: str = "file", error=DataError, limit: int | None = None
) -> BinaryIO:
    """A regular file of at most ``limit`` bytes, opened for reading (binary).

    Anything else raises ``error(path, problem)`` (DataError, CheckpointError, ... all
    take those two): a missing file, a folder, a device such as /dev/zero, a named pipe
    (opened without waiting for a writer, so it cannot hang), a socket, a file too large
    (``limit`` bytes, by default MAX_FILE_BYTES).
    """
    path = os.fspath(path)
    limit = MAX_FILE_BYTES if limit is None else limit
    kind = Msg(kind)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise error(path, Msg("no such file")) from None
    except IsADirectoryError:
        raise error(path, Msg("is a directory, not a {kind}", kind=kind)) from None
    except OSError as e:
        raise error(path, Msg("cannot be read ({reason})", reason=e.strerror)) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(path, Msg("is a directory, not a {kind}", kind=kind))
        if not stat.S_ISREG(st.st_mode):
            what = next(
                (name for test, name in _KINDS.items() if test(st.st_mode)),
                N_("not a regular file"),
            )
            raise error(
                path,
                Msg(
                    "is {what}, not a {kind}: nbengine reads only regular files",
                    what=Msg(what),
                    kind=kind,
                ),
            )
        if st.st_size > limit:
            raise error(path, too_large(st.st_size, kind, limit))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def too_large(size: int | None, kind: str, limit: int) -> Msg:
    what = (
        Msg("is {size}", size=size_text(size)) if size is not None else Msg("is larger than that")
    )
    return Msg(
        "{what}; nbengine reads a {kind} of at most {limit} (the largest data set it knows is about 110 MB)",
        what=what,
        kind=Msg(kind),
        limit=size_text(limit),
    )


def read_bytes(path: str | os.PathLike, kind: str = "file", limit: int | None = None) -> bytes:
    """All the bytes of a regular file (see :func:`open_regular`); anything else is a DataError."""
    path = os.fspath(path)
    limit = MAX_FILE_BYTES if limit is None else limit
    with open_regular(path, kind, DataError, limit) as f:
        try:
            # a file that grew since it was opened, or a /proc file of size 0
            data = f.read(limit + 1)
        except OSError as e:
            raise DataError(path, Msg("cannot be read ({reason})", reason=e.strerror)) from None
        except MemoryError:
            size = size_text(os.fstat(f.fileno()).st_size)
            raise DataError(
                path, Msg("is too large for this machine's memory ({size})", size=size)
            ) from None
    if len(data) > limit:
        raise DataError(path, too_large(None, kind, limit))
    return data


def gunzip(
    data: bytes, path: str | os.PathLike, kind: str = "file", limit: int | None = None
) -> bytes:
    """The bytes of a gzip file unpacked, at most ``limit`` of them (by default MAX_FILE_BYTES:
    a small file can unpack to a huge one). zlib.error, EOFError and gzip.BadGzipFile are
    left to the caller."""
    limit = MAX_FILE_BYTES if limit is None else limit
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
        out = f.read(limit + 1)
    if len(out) > limit:
        raise DataError(
            path,
            Msg(
                "unpacks to more than {limit}; nbengine reads a {kind} of at most {limit} (the "
                "largest data set it knows is about 110 MB)",
                limit=size_text(limit),
                kind=Msg(kind),
            ),
        )
    return out


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
def atomic_write(
    path: str | os.PathLike,
    text: bool = False,
    suffix: str = ".tmp",
    check: Callable[[str], object] | None = None,
) -> Iterator:
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
        f: IO
        if text:
            f = os.fdopen(fd, "w", newline="", encoding="utf-8")
        else:
            f = os.fdopen(fd, "wb")
        with f:
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


# -- outputs that must not replace inputs ---------------------------------------------------------


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file: the same path once links and ".." are resolved, or
    another name for the same file (a hard link: the same device and inode)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def check_output(
    path: str | os.PathLike,
    inputs: Iterable[tuple[str, str | os.PathLike]],
    error=DataError,
    verb: str = "written",
) -> None:
    """Refuse, before any work, an output file that cannot be written or would replace an input.

    inputs are (option, path) pairs: every file the command reads (``("--data",
    "train.csv")``). Raises ``error(path, problem)`` when the output is one of them, or its
    folder does not exist or cannot be written (tried by making a file there, as saving
    will).
    """
    path = os.fspath(path)
    for option, source in inputs:
        if same_file(path, source):
            raise error(
                path,
                Msg(
                    "cannot be {verb}: it is the same file as {option} {source}, which this command "
                    "reads; choose another name (writing it would destroy that file)",
                    verb=Msg(verb),
                    option=option,
                    source=os.fspath(source),
                ),
            )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise error(path, Msg("cannot be {verb}: the folder does not exist", verb=Msg(verb)))
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        raise error(
            path,
            Msg(
                "cannot be {verb}: the folder {folder} cannot be written ({reason})",
                verb=Msg(verb),
                folder=folder,
                reason=e.strerror,
            ),
        ) from None
