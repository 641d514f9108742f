"""The C twins of the naive kernels: finding a C compiler, building them, calling them.

Lesson material, so it ships with nbengine beside the C sources: lesson 8
(``tutorials/8-speed.toml``) times the naive convolution against its C twin, and
``nbengine bench kernels`` (the repository's benchmarks/kernels.py) times them all.

The C files in ``nbengine/csrc`` are the naive Numba kernels written again in
plain C99, loop for loop (``twins.h`` says how). ``build`` compiles them with
the machine's C compiler into one shared library, in nbengine's cache folder
(never into the package, which may be read-only), and ``load`` opens it with
ctypes; ``Twins.bind`` turns a C function and the Numba kernel's own arguments
into a call with nothing left to convert, for timing.

The compiler: $CC if it is set (and then only it), else the first of ``cc``,
``gcc``, ``clang`` found on the PATH.

The floating-point licence is the one Numba gives LLVM for a kernel without
fastmath, no more, so both compilers may make the same transformations:

- ``-fno-fast-math``: no reassociation, so a sum is added in the written order
  (which also keeps a sum from running in SIMD lanes, in C as in Numba);
- ``-ffp-contract=off``: a·b + c is never fused into one multiply-add (GCC
  fuses by default; LLVM, and so Numba, only under fastmath "contract");
- ``-fno-math-errno``, ``-fno-trapping-math``: LLVM's default, and so Numba's,
  keeps no errno for its math intrinsics and assumes no floating-point traps.

With OpenMP (``-fopenmp``, when the compiler takes it) the C twins run the
loops that the Numba kernels run with ``prange`` on several threads.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from nbengine import caches
from nbengine.errors import NBEngineError

SOURCES = ("threads.c", "conv2d.c", "maxpool.c", "dense.c", "lstm.c", "attention.c")
HEADERS = ("twins.h",)
CANDIDATES = ("cc", "gcc", "clang")
OPTIMISE = ("-O3", "-march=native")
FP_LICENCE = ("-fno-fast-math", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math")
OPENMP = "-fopenmp"
LIBRARY = "nbengine_twins.dll" if sys.platform == "win32" else "libnbengine_twins.so"


class NoCompiler(NBEngineError):
    """No C compiler was found (the message says where it looked)."""


class BuildError(NBEngineError):
    """The C compiler refused the twins' sources; the message has its first lines."""

    exit_code = 1


@dataclass(frozen=True)
class Compiler:
    command: tuple[str, ...]  # e.g. ("gcc",) or $CC split as a shell would ("ccache", "gcc")
    origin: str  # "$CC" or the name found on the PATH
    version: str  # the first line of ``--version``


@dataclass(frozen=True)
class Build:
    path: Path  # the shared library
    compiler: Compiler
    flags: tuple[str, ...]  # every flag given, sources and output left out
    openmp: bool
    cached: bool  # True: built by an earlier run with the same sources, compiler and flags


def source_folder() -> Path:
    return Path(str(resources.files("nbengine") / "csrc"))


def _version(command: tuple[str, ...]) -> str | None:
    try:
        done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if done.returncode == 0 and lines else None


def find_compiler() -> Compiler:
    """$CC if set, else cc, gcc or clang, whichever is found first; NoCompiler if none runs."""
    env = os.environ.get("CC", "").strip()
    if env:
        command = tuple(shlex.split(env))
        version = _version(command)
        if version is None:
            raise NoCompiler(f"no C compiler: $CC is {env!r}, which does not run")
        return Compiler(command, "$CC", version)
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            version = _version((path,))
            if version is not None:
                return Compiler((path,), name, version)
    raise NoCompiler(
        f"no C compiler: none of {', '.join(CANDIDATES)} on the PATH, and $CC is not set"
    )


def _cache_folder() -> Path | None:
    """A writable folder for the library in nbengine's cache, or None."""
    folder = caches.cache_root() / "c-twins"
    return folder if caches.writable(folder) else None


def _temporary_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="nbengine-c-twins-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _compile(
    compiler: Compiler, flags: tuple[str, ...], target: Path
) -> subprocess.CompletedProcess:
    src = source_folder()
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    command = [*compiler.command, *flags, *(str(src / s) for s in SOURCES), "-o", str(part), "-lm"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode == 0:
        os.replace(part, target)  # whole or not at all: another run never loads half a library
    else:
        part.unlink(missing_ok=True)
    return done


def build(compiler: Compiler | None = None) -> Build:
    """Compile the twins (or find them compiled by an earlier run) and say how.

    Tried with OpenMP first, then without it (some compilers, Apple's clang among
    them, have no OpenMP); BuildError if neither compiles.
    """
    compiler = compiler or find_compiler()
    src = source_folder()
    text = b"".join((src / name).read_bytes() for name in (*HEADERS, *SOURCES))
    folder = _cache_folder() or _temporary_folder()
    errors = []
    base = (*OPTIMISE, *FP_LICENCE, "-std=c99", "-fPIC", "-shared")
    for flags, openmp in ((base + (OPENMP,), True), (base + ("-Wno-unknown-pragmas",), False)):
        key = hashlib.sha256(
            repr((compiler.command, compiler.version, flags)).encode() + text
        ).hexdigest()[:16]
        target = folder / key / LIBRARY
        if target.exists():
            return Build(target, compiler, flags, openmp, cached=True)
        try:
            target.parent.mkdir(exist_ok=True)
        except OSError:
            target = _temporary_folder() / LIBRARY
        done = _compile(compiler, flags, target)
        if done.returncode == 0:
            return Build(target, compiler, flags, openmp, cached=False)
        errors.append(
            " ".join(done.stderr.strip().splitlines()[:3]) or f"exit code {done.returncode}"
        )
    raise BuildError(
        f"{compiler.origin} ({' '.join(compiler.command)}) could not compile the C twins: "
        + "; without OpenMP: ".join(errors)
    )


ARRAY_TYPES = (np.float32, np.int32)


def _c_arguments(args) -> list:
    """The Numba kernel's arguments as the C twin takes them (see twins.h): an array as
    its data and its shape, a whole number or flag as int64, a real number as double."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            if a.dtype.type not in ARRAY_TYPES or not a.flags.c_contiguous:
                raise TypeError(
                    f"the C twins take C-ordered float32 or int32 arrays, not {a.dtype} "
                    f"{'C' if a.flags.c_contiguous else 'strided'}"
                )
            shape = np.array(a.shape, dtype=np.int64)
            out += [ctypes.c_void_p(a.ctypes.data), shape.ctypes.data_as(ctypes.c_void_p), a, shape]
        elif isinstance(a, (bool, np.bool_, int, np.integer)):
            out.append(ctypes.c_int64(int(a)))
        elif isinstance(a, (float, np.floating)):
            out.append(ctypes.c_double(float(a)))
        else:
            raise TypeError(f"the C twins take arrays, numbers and flags, not {type(a).__name__}")
    return out


class Twins:
    """The loaded library: ``twins.bind("conv2d_forward_naive", out, x, w, b, 1, 1, 1, 1)()``."""

    def __init__(self, built: Build):
        self.build = built
        self.lib = ctypes.CDLL(str(built.path))
        self.lib.twins_set_threads.argtypes = [ctypes.c_int64]
        self.lib.twins_set_threads.restype = None
        self.lib.twins_openmp.restype = ctypes.c_int64
        self.openmp = bool(self.lib.twins_openmp())

    def set_threads(self, n: int) -> None:
        """Threads for the OpenMP loops (without OpenMP the twins run on one thread whatever n)."""
        self.lib.twins_set_threads(n)

    def bind(self, name: str, *args):
        """A function of no arguments that runs the C twin ``name`` on these arrays and numbers."""
        fn = getattr(self.lib, name)
        fn.restype = None
        converted = _c_arguments(args)
        c_args = tuple(a for a in converted if not isinstance(a, np.ndarray))

        return _Call(name, fn, c_args, [a for a in converted if isinstance(a, np.ndarray)])

    def __call__(self, name: str, *args) -> None:
        self.bind(name, *args)()


class _Call:
    """A C twin bound to its arguments: calling it runs the twin. It holds the arrays its
    pointers point into (``arrays``), so they live as long as it does."""

    def __init__(self, name: str, fn, c_args: tuple, arrays: list):
        self.__name__ = name
        self.fn, self.c_args, self.arrays = fn, c_args, arrays

    def __call__(self) -> None:
        self.fn(*self.c_args)


def load(built: Build | None = None) -> Twins:
    return Twins(built or build())
