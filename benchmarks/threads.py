"""The benchmarks' thread pools: finding them, sizing them, and keeping them out of each other's way.

Up to three thread pools live in a benchmark's process: Numba's (nbengine's
``prange`` loops, on the ``omp`` threading layer), OpenBLAS's (NumPy's matrix
products) and PyTorch's (OpenMP). What they do to one another on a 2-core
machine, as measured, is written out in the docstring of ``benchmarks/cnn.py``.
In short: an idle pool keeps spinning for a while after its work (OpenBLAS about
100 ms, libgomp's default about 10 ms), slowing whatever runs next; Numba and
PyTorch share one libgomp, which reads OMP_WAIT_POLICY once, when it loads.

This module has what every benchmark uses against that:

- ``start_thread_pools``: start Numba's threads (and import PyTorch) with
  libgomp's default wait policy, unless the user chose one;
- ``blas_threads``: give OpenBLAS the same number of threads as Numba;
- ``with_idle_rounds`` and ``settle``: an untimed idle round between timed ones,
  so no round starts while the previous one's threads still spin;
- ``thread_setup``: what is in force, for the report;
- ``spin_tail`` and ``cross_penalty``: measure the fight itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import sys
import time
from collections.abc import Callable, Mapping

import numpy as np

from nbengine.i18n import N_, Msg

IDLE = N_("(idle between rounds)")


def import_torch():
    """Import torch (about 3 s the first time) and return it."""
    return importlib.import_module("torch")


def torch_thread_info() -> dict[str, object]:
    """PyTorch's version and thread settings (imports torch)."""
    torch = import_torch()
    return {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_parallel": torch.__config__.parallel_info().splitlines()[-1].strip(),
    }


class _OpenBLAS:
    """OpenBLAS's thread controls through ctypes, found among the process's loaded libraries.

    NumPy's wheels bundle OpenBLAS under a prefixed name (``scipy_openblas_…64_``),
    so the symbol is tried with and without those affixes. Linux only (it reads
    /proc/self/maps); elsewhere ``found`` is False and nothing is changed.
    """

    def __init__(self):
        self.lib = self.get = self.set = self.config = None
        try:
            with open("/proc/self/maps") as f:
                paths = {
                    line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line
                }
        except OSError:
            return
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            for prefix in ("", "scipy_"):
                for suffix in ("", "64_"):
                    get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
                    if get is not None:
                        self.lib, self.get = lib, get
                        self.set = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}")
                        self.config = getattr(lib, f"{prefix}openblas_get_config{suffix}", None)
                        self.get.restype = ctypes.c_int
                        self.set.argtypes = [ctypes.c_int]
                        if self.config is not None:
                            self.config.restype = ctypes.c_char_p
                        return

    @property
    def found(self) -> bool:
        return self.get is not None

    def threads(self) -> int | None:
        return self.get() if self.found else None

    def describe(self) -> str | None:
        return self.config().decode() if self.found and self.config is not None else None


@contextlib.contextmanager
def blas_threads(n: int):
    """OpenBLAS uses n threads inside the block (if it can be found), as before afterwards."""
    blas = _OpenBLAS()
    old = blas.threads()
    if old is not None:
        blas.set(n)
    try:
        yield
    finally:
        if old is not None:
            blas.set(old)


def cpu_use(seconds: float) -> float:
    """Cores the whole process keeps busy while the calling thread sleeps for ``seconds``."""
    c0, t0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    return (time.process_time() - c0) / (time.perf_counter() - t0)


def settle(max_wait: float = 1.0, slice_s: float = 0.005, threshold: float = 0.05) -> float:
    """Sleep until the process uses less than ``threshold`` of a core (idle pools parked).

    Returns the seconds waited (at most about ``max_wait``).
    """
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_wait and cpu_use(slice_s) >= threshold:
        pass
    return time.perf_counter() - t0


def spin_tail(fn: Callable[[], object], slices: int = 20, slice_s: float = 0.01) -> list[float]:
    """Run fn once, then the cores the process burns in each following slice while idle."""
    settle()
    fn()
    return [cpu_use(slice_s) for _ in range(slices)]


def cross_penalty(
    fns: Mapping[str, Callable[[], object]], repeats: int = 7
) -> dict[tuple[str, str], float]:
    """Median seconds of one call of a, alone (key (a, a)) and right after a call of b (key (a, b)).

    "Alone" calls follow a settle(), so no other pool is spinning.
    """
    out = {}
    for a, fa in fns.items():
        for b, fb in fns.items():
            times = []
            for _ in range(repeats):
                if a == b:
                    settle()
                else:
                    fb()
                t0 = time.perf_counter()
                fa()
                times.append(time.perf_counter() - t0)
            out[(a, b)] = float(np.median(times))
    return out


WAIT_POLICY = "OMP_WAIT_POLICY"
NOT_STARTED = N_("not started by the benchmark")
_omp_policy = {"note": NOT_STARTED}


def initial_environ() -> dict[str, str] | None:
    """The environment this process started with (Linux: /proc/self/environ), or None if unknown.

    Unlike os.environ it does not show what was set after the start, such as the
    OMP_WAIT_POLICY that importing nbengine sets.
    """
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def openmp_libraries() -> list[str] | None:
    """The OpenMP runtimes (libgomp files) mapped into this process; None where that cannot be read."""
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split()[-1] for line in f if "libgomp" in line})
    except OSError:
        return None


def start_thread_pools(use_torch: bool, libgomp_default: bool = True) -> str:
    """Start Numba's threads and import PyTorch, deciding first which OpenMP wait policy they get.

    Numba's and PyTorch's OpenMP calls go to one libgomp in this process, the
    first one loaded, and it reads OMP_WAIT_POLICY once, when it loads. With
    ``libgomp_default`` and no policy chosen by the user (importing nbengine sets
    PASSIVE), both load with the variable unset: libgomp's own default, spin
    briefly then sleep. Afterwards os.environ is as before. Returns a note saying
    which policy is in force; ``thread_setup`` reports it.
    """
    import numba
    from numba.np.ufunc import parallel

    def launch():
        parallel._launch_threads()  # loads the threading layer (and with omp, libgomp)
        if use_torch:
            import_torch()

    loaded, started = openmp_libraries(), initial_environ()
    current = os.environ.get(WAIT_POLICY)
    if loaded:
        note = Msg(
            "{policy} as found (OpenMP was running before the benchmark started)",
            policy=current or Msg("unset"),
        )
        launch()
    elif started is not None and WAIT_POLICY in started:
        note = Msg("{policy} (set by the user)", policy=current)
        launch()
    elif not libgomp_default or started is None or current is None:
        note = Msg("{policy} as found", policy=current or Msg("unset"))
        launch()
    else:
        os.environ.pop(WAIT_POLICY)
        try:
            launch()
        finally:
            os.environ[WAIT_POLICY] = current
        note = Msg(
            "unset for the benchmark: libgomp's default, spin briefly then sleep (nbengine sets {policy})",
            policy=current,
        )
    if numba.threading_layer() != "omp" and not use_torch:
        note = Msg(
            "{policy}; Numba's {layer} layer does not use it",
            policy=note,
            layer=numba.threading_layer(),
        )
    if _omp_policy["note"] == NOT_STARTED:  # the first start decided it for the whole process
        _omp_policy["note"] = note
    return _omp_policy["note"]


def thread_setup(torch_used: bool = False) -> dict[str, object]:
    """How the process's thread pools are set up, as found (nothing is changed here)."""
    import numba

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = Msg("not started ({layer} requested)", layer=numba.config.THREADING_LAYER)
    blas_info = {}
    with contextlib.suppress(Exception):
        blas_info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    blas = _OpenBLAS()
    setup = {
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "numba": numba.__version__,
        "numba_threading_layer": layer,
        "numba_threads": numba.get_num_threads(),
        "blas": f"{blas_info.get('name', 'unknown')} {blas_info.get('version', '')}".strip(),
        "blas_threads": blas.threads(),
        "blas_config": blas.describe(),
        "omp_wait_policy": _omp_policy["note"],
        "openmp_libraries": openmp_libraries(),
        "env": {
            k: os.environ.get(k)
            for k in (
                "OMP_WAIT_POLICY",
                "OMP_NUM_THREADS",
                "NUMBA_NUM_THREADS",
                "NUMBA_THREADING_LAYER",
                "OPENBLAS_NUM_THREADS",
                "OPENBLAS_THREAD_TIMEOUT",
                "MKL_NUM_THREADS",
            )
        },
    }
    if torch_used and "torch" in sys.modules:
        setup.update(torch_thread_info())
    return setup


def with_idle_rounds(fns: Mapping[str, Callable[[], object]]) -> dict[str, Callable[[], object]]:
    """The same functions with an idle function after each, so alternating rounds are
    separated by a pause in which the previous pool's spinning threads park."""
    out = {}
    for i, (name, fn) in enumerate(fns.items()):
        out[name] = fn
        out[f"{IDLE} {i}"] = settle
    return out
