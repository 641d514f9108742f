"""Where nbengine keeps files from one run to the next: downloaded data sets and the
kernels Numba compiled. Only the standard library is imported here: the package's
``__init__`` calls :func:`choose_numba_cache` before anything imports Numba.

The cache folder (the first that is set wins):

1. a ``cache_dir`` argument (``--cache-dir`` on the command line),
2. the environment variable ``NBENGINE_CACHE_DIR``,
3. the platform's cache folder: ``$XDG_CACHE_HOME/nbengine`` or ``~/.cache/nbengine`` on
   Linux, ``~/Library/Caches/nbengine`` on macOS, ``%LOCALAPPDATA%\\nbengine\\Cache`` on
   Windows.
"""

from __future__ import annotations

import os
import stat
import sys
from functools import reduce
from pathlib import Path

from nbengine.i18n import Msg

# every @njit(cache=True) is here
KERNELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels")


def default_cache_root() -> Path:
    """The platform's cache folder for nbengine (without NBENGINE_CACHE_DIR)."""
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return (Path(base) if base else home / "AppData" / "Local") / "nbengine" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "nbengine"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG specification says a relative path there is invalid and must be ignored.
    return (Path(xdg) if os.path.isabs(xdg) else home / ".cache") / "nbengine"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """cache_dir if given, else $NBENGINE_CACHE_DIR if set, else the platform's cache folder."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get("NBENGINE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return default_cache_root()


# -- Numba's cache of compiled kernels -------------------------------------------------------------


def writable(folder: str | os.PathLike) -> bool:
    """Whether a file can be made in folder (created if missing): tried, as Numba tries it,
    since permission bits do not tell (a read-only file system, a superuser)."""
    probe = os.path.join(folder, f".nbengine-probe-{os.getpid()}")
    try:
        os.makedirs(folder, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        os.unlink(probe)
    except (OSError, ValueError):
        return False
    return True


def _private_temporary_folder() -> str | None:
    """A folder under the system's temporary folder that only this user can write, kept
    between runs: ``/tmp/nbengine-<uid>/numba``. Numba's cache files are pickles, which
    run code when loaded, so a folder someone else made or can write is never used."""
    # here, not on every start: importing it takes longer than the rest of this module
    import tempfile

    try:
        base = os.path.join(
            tempfile.gettempdir(), f"nbengine-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
        )
        os.makedirs(base, mode=0o700, exist_ok=True)
        st = os.lstat(base)
        if (
            not stat.S_ISDIR(st.st_mode)
            or (hasattr(os, "getuid") and st.st_uid != os.getuid())
            or st.st_mode & 0o022
        ):
            return None
        folder = os.path.join(base, "numba")
        return folder if writable(folder) else None
    except OSError:
        return None


def _nor(a: str, b: str) -> Msg:
    return Msg("{a} nor {b}", a=a, b=b)


def choose_numba_cache() -> str | None:
    """Make sure Numba has a folder to cache the compiled kernels in, before it is imported.

    Numba keeps them in ``__pycache__`` beside the kernels' source, else in its own
    folder in the user's cache; with both read-only (a system-wide install, a container,
    a shared lab machine) compiling a kernel with ``cache=True`` fails with "no locator
    available". So when the kernels' folder cannot be written, NUMBA_CACHE_DIR is set
    to the first folder that can: nbengine's cache folder (see :func:`cache_root`), then
    a private folder under the system's temporary folder; when none can, kernels are
    compiled on every run and not cached. A NUMBA_CACHE_DIR the user set that can be
    written is left as it is.

    Returns None, or one line that says what was done when it is not the usual.
    """
    own = os.environ.get("NUMBA_CACHE_DIR")
    if own and writable(own):
        return None
    if writable(os.path.join(KERNELS, "__pycache__")):
        return None
    tried = ([own] if own else []) + [KERNELS]
    try:
        folder = os.fspath(cache_root() / "numba")
    except (RuntimeError, KeyError):  # no home folder to be found
        folder = None
    if folder is not None:
        if writable(folder):
            _use(folder)
            return (
                Msg(
                    "note: NUMBA_CACHE_DIR={own} cannot be written; compiled kernels are cached in {folder}",
                    own=own,
                    folder=folder,
                )
                if own
                else None
            )
        tried.append(folder)
    if len(tried) == 1:
        cannot = Msg("{path} cannot be written", path=tried[0])
    else:
        cannot = Msg("neither {paths} can be written", paths=reduce(_nor, tried))
    folder = _private_temporary_folder()
    if folder is not None:
        _use(folder)
        return Msg(
            "note: {cannot}; compiled kernels are cached in the temporary folder {folder} (set "
            "NBENGINE_CACHE_DIR to a folder you can write, to keep them)",
            cannot=cannot,
            folder=folder,
        )
    _compile_uncached()
    return Msg(
        "note: {cannot}, nor a temporary folder: kernels are compiled on every run, not cached (set "
        "NBENGINE_CACHE_DIR to a folder you can write)",
        cannot=cannot,
    )


def _use(folder: str) -> None:
    os.environ["NUMBA_CACHE_DIR"] = folder
    config = sys.modules.get("numba.core.config")
    if config is not None:  # Numba was imported first: it read its settings already
        config.CACHE_DIR = folder  # type: ignore[attr-defined]


def _compile_uncached() -> None:
    """Have every @njit(cache=True) compile without a cache: Numba has no setting for
    that, so a dispatcher's enable_caching (what cache=True calls) keeps its NullCache."""
    from numba.core.dispatcher import Dispatcher

    Dispatcher.enable_caching = lambda self: None  # type: ignore[method-assign]
