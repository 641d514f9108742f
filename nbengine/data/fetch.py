"""Downloading MNIST, Fashion-MNIST and the Penn Treebank into a cache folder, each file
checked against its published digest: MD5 for the image sets (as their authors publish
them), SHA-256 for the Penn Treebank.

Where files go (the first that is set wins):

1. the ``cache_dir`` argument (``--cache-dir`` on the command line),
2. the environment variable ``NBENGINE_CACHE_DIR``,
3. the platform's cache folder: ``$XDG_CACHE_HOME/nbengine`` or ``~/.cache/nbengine`` on
   Linux, ``~/Library/Caches/nbengine`` on macOS, ``%LOCALAPPDATA%\\nbengine\\Cache`` on
   Windows;

then a folder per data set: ``~/.cache/nbengine/mnist/train-images-idx3-ubyte.gz``.

How a file is fetched, so that a file in the cache is always a complete, verified one:

- a file already there whose digest is the published one is kept (skipped); one with
  another digest is downloaded again, never trusted;
- the mirrors are tried in order; the body is streamed into a temporary file in the
  target folder, its size checked against the server's Content-Length and its digest
  against the published one, and only then renamed into place (``os.replace``, which
  is atomic), so an interrupted or corrupted download never looks like a real file;
- if no mirror gives a verified copy, :class:`FetchError` names the file and what went
  wrong at each mirror, and no partial file is left behind.

Only the standard library's urllib is used. Progress is reported through a callback,
``progress(file_name, bytes_done, bytes_total_or_None)``; this module never prints.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from nbengine import __version__
from nbengine.caches import cache_root, default_cache_root  # noqa: F401 (this module's interface)
from nbengine.data.files import atomic_write
from nbengine.data.registry import fetchable, fetchable_names
from nbengine.errors import DataError, NBEngineError
from nbengine.i18n import Msg, shown

CHUNK = 1 << 16  # bytes read from the network at a time
TIMEOUT = 30.0  # seconds without any data before a mirror is given up

Progress = Callable[[str, int, "int | None"], None]


class FetchError(NBEngineError):
    """No mirror gave a verified copy of a file; the message says what each one did."""

    def __init__(self, file: str, problems: Sequence[str]):
        self.file = file
        self.problems = list(problems)
        super().__init__(self._message(str))

    def _message(self, show) -> str:
        tried = (
            "; ".join(show(p) for p in self.problems)
            if self.problems
            else show(Msg("no mirrors to try"))
        )
        return show(Msg("{file}: could not be downloaded: {tried}", file=self.file, tried=tried))

    def shown(self) -> str:
        return self._message(shown)


# How each hash algorithm is written in messages.
HASH_NAMES = {"md5": "MD5", "sha256": "SHA-256"}


@dataclass(frozen=True)
class Fetched:
    """What happened to one file: downloaded from a mirror, or already present (skipped)."""

    name: str
    path: str
    size: int
    digest: str  # hex digest of the file by `algorithm`, equal to the published one
    mirror: str | None  # the base URL it came from; None when it was already present
    replaced: bool = False  # a file with the wrong digest was there and has been replaced
    algorithm: str = "md5"

    @property
    def skipped(self) -> bool:
        return self.mirror is None

    @property
    def md5(self) -> str | None:
        """The digest when it is an MD5 (the image sets), else None."""
        return self.digest if self.algorithm == "md5" else None

    @property
    def hash_name(self) -> str:
        """The algorithm as people write it: "MD5", "SHA-256"."""
        return HASH_NAMES.get(self.algorithm, self.algorithm)


# -- where the files go -------------------------------------------------------------------------


def dataset_folder(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder a fetchable data set's files go in: <cache root>/<name>."""
    return cache_root(cache_dir) / name


def missing_files(name: str, cache_dir: str | os.PathLike | None = None) -> list[str]:
    """The files of a fetchable data set not (yet) in its cache folder; [] when it is complete."""
    folder = dataset_folder(name, cache_dir)
    return [f for f in _spec(name).files if not (folder / f).is_file()]


def fetchable_sets(cache_dir: str | os.PathLike | None = None) -> list[dict]:
    """Every data set `data fetch` downloads, as `data list` states it: name, task, title, size,
    source, licence, whether all its files are in the cache (present), its folder there and the
    files it misses."""
    sets = []
    for name in fetchable_names():
        f, missing = fetchable(name), missing_files(name, cache_dir)
        assert f is not None  # a name fetchable_names gave
        sets.append(
            dict(
                name=f.name,
                task=f.task,
                title=f.title,
                size=f.size,
                source=f.source,
                licence=f.licence,
                present=not missing,
                folder=str(dataset_folder(name, cache_dir)),
                missing=missing,
            )
        )
    return sets


# -- checking and downloading one file ----------------------------------------------------------


def _hasher(algorithm: str):
    """A fresh hashlib object: "md5" (a checksum against corruption) or "sha256"."""
    if algorithm == "md5":
        # a checksum against corruption, not a security check
        return hashlib.md5(usedforsecurity=False)
    return hashlib.new(algorithm)


def digest_of(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """The digest of a file in hex ("md5": 32 digits, "sha256": 64), read in chunks."""
    h = _hasher(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def md5_of(path: str | os.PathLike) -> str:
    """The MD5 of a file as 32 hex digits, read in chunks."""
    return digest_of(path, "md5")


class _MirrorProblem(Exception):
    """What went wrong at one mirror, in a few words ("HTTP 500", "connection refused")."""


def _network_problem(e: BaseException, timeout: float) -> str:
    """A few words for what went wrong: "HTTP 404", "connection refused", "timed out"."""
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code}"
    if isinstance(e, urllib.error.URLError):  # the reason is an OSError, or sometimes a string
        if not isinstance(e.reason, BaseException):
            return str(e.reason)
        e = e.reason
    if isinstance(e, (TimeoutError, socket.timeout)):
        return Msg("timed out (no data for {seconds} s)", seconds=format(timeout, "g"))
    if isinstance(e, socket.gaierror):
        return Msg("host not found")
    if isinstance(e, OSError) and e.strerror:
        return e.strerror[:1].lower() + e.strerror[1:]
    return str(e) or type(e).__name__


def _download(
    url: str, name: str, tmp, progress: Progress | None, timeout: float, algorithm: str = "md5"
) -> tuple[int, str]:
    """Stream url into the open file tmp; (bytes, digest). Network problems raise _MirrorProblem."""
    h = _hasher(algorithm)
    done, total = 0, None
    try:
        request = urllib.request.Request(url, headers={"User-Agent": f"nbengine/{__version__}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if progress:
                progress(name, 0, total)
            while chunk := response.read(CHUNK):
                try:
                    tmp.write(chunk)
                except OSError as e:  # the disk, not the mirror: no other mirror can help
                    raise DataError(
                        tmp.name, Msg("cannot be written ({reason})", reason=e.strerror)
                    ) from None
                h.update(chunk)
                done += len(chunk)
                if progress:
                    progress(name, done, total)
    # the connection closed before Content-Length bytes came
    except http.client.IncompleteRead as e:
        done += len(e.partial)
        raise _MirrorProblem(
            Msg(
                "truncated: got {done} of {total} bytes",
                done=format(done, ","),
                total=format(total, ","),
            )
            if total is not None
            else Msg("the connection closed after {done} bytes", done=format(done, ","))
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        raise _MirrorProblem(_network_problem(e, timeout)) from None
    if total is not None and done != total:
        raise _MirrorProblem(
            Msg(
                "truncated: got {done} of {total} bytes",
                done=format(done, ","),
                total=format(total, ","),
            )
        )
    return done, h.hexdigest()


def fetch_file(
    folder: str | os.PathLike,
    name: str,
    digest: str,
    mirrors: Sequence[str],
    progress: Progress | None = None,
    timeout: float = TIMEOUT,
    algorithm: str = "md5",
) -> Fetched:
    """Make sure folder/name is there with the given digest, downloading it if needed.

    digest is the published hex digest by algorithm ("md5" or "sha256"). Each mirror
    is a base URL (a trailing / is added if missing); the file's URL is the base plus
    name. Raises FetchError when no mirror gives a verified copy.
    """
    folder = Path(folder)
    target = folder / name
    digest = digest.lower()
    label = HASH_NAMES.get(algorithm, algorithm)
    replaced = False
    if target.is_file():
        if digest_of(target, algorithm) == digest:
            return Fetched(
                name, os.fspath(target), target.stat().st_size, digest, None, algorithm=algorithm
            )
        replaced = True  # present but not the published file: download it again
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            folder, Msg("the cache folder cannot be created ({reason})", reason=e.strerror)
        ) from None

    problems = []
    try:
        for mirror in mirrors:
            base = mirror if mirror.endswith("/") else mirror + "/"
            try:
                # a failed or interrupted download leaves nothing behind
                with atomic_write(target, suffix=".part") as f:
                    size, got = _download(base + name, name, f, progress, timeout, algorithm)
                    if got != digest:
                        raise _MirrorProblem(
                            Msg(
                                "{hash} mismatch (got {got}, expected {expected})",
                                hash=label,
                                got=got,
                                expected=digest,
                            )
                        )
                return Fetched(name, os.fspath(target), size, digest, base, replaced, algorithm)
            except _MirrorProblem as p:
                problem = p.args[0] if len(p.args) == 1 and isinstance(p.args[0], Msg) else str(p)
                problems.append(Msg("{where}: {problem}", where=base, problem=problem))
            except OSError as e:
                raise DataError(
                    folder, Msg("cannot write in the cache folder ({reason})", reason=e.strerror)
                ) from None
        raise FetchError(name, problems)
    except BaseException:
        # nor the folders made for it, if they are still empty
        for folder_made in made:
            try:
                folder_made.rmdir()
            except OSError:
                break
        raise


# -- a whole data set ---------------------------------------------------------------------------


def _spec(name: str):
    spec = fetchable(name)
    if spec is None:
        raise DataError(
            name,
            Msg(
                "is not a data set that can be fetched ({names})",
                names=", ".join(fetchable_names()),
            ),
        )
    return spec


def fetch_iter(
    name: str,
    cache_dir: str | os.PathLike | None = None,
    extra_mirrors: Sequence[str] = (),
    progress: Progress | None = None,
    timeout: float = TIMEOUT,
    files: dict[str, str] | None = None,
    mirrors: Sequence[str] | None = None,
) -> Iterator[Fetched]:
    """Fetch a data set's files one by one, yielding what happened to each.

    name is a key of FETCHABLE ("mnist", "fashion-mnist") or FETCHABLE_TEXT ("ptb").
    extra_mirrors are tried before the published ones. files (name -> digest, by the
    data set's algorithm: MD5 for the image sets, SHA-256 for ptb) and mirrors default
    to the data set's published ones; tests pass small files and a local server instead.
    """
    spec = _spec(name)
    files = spec.files if files is None else files
    mirrors = list(extra_mirrors) + list(spec.mirrors if mirrors is None else mirrors)
    folder = dataset_folder(name, cache_dir)
    for file, digest in files.items():
        yield fetch_file(folder, file, digest, mirrors, progress, timeout, spec.algorithm)


def fetch(
    name: str,
    cache_dir: str | os.PathLike | None = None,
    extra_mirrors: Sequence[str] = (),
    progress: Progress | None = None,
    timeout: float = TIMEOUT,
    files: dict[str, str] | None = None,
    mirrors: Sequence[str] | None = None,
) -> list[Fetched]:
    """Fetch a whole data set (see fetch_iter); a list of what happened to each file."""
    return list(fetch_iter(name, cache_dir, extra_mirrors, progress, timeout, files, mirrors))
