"""What limits a benchmark: the CPU, its vector unit, and its measured sgemm rate.

Every ``nbengine bench`` table states, before its rows, the CPU model, the
vector extensions it reports, the vector width and register count the kernels
were compiled for (``nbengine/kernels/simd.py``, read from the CPU features
Numba compiles for), and the rate of a float32 matrix product on the same
number of threads, measured in the same run just before the cases. A case's
GFLOP/s over that rate says how close it comes to what this machine's BLAS
reaches on the densest work there is.

The sgemm: NumPy's ``a @ b`` on (n, n) float32 matrices, 2·n³ FLOPs a call,
OpenBLAS given the thread count the benchmark runs on. At n = 2048 OpenBLAS is
at its peak on the 2-core machine measured (n 512 / 1024 / 2048 on 1 thread:
64 / 79 / 99 GFLOP/s, benchmarks/README.md), and one call takes 0.1-0.3 s, so
the measurement costs about two seconds. The rate is the best round's,
as a peak should be; the cases report their median.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.kernels import cores, cpu_name, vector_features
from benchmarks.threads import blas_threads
from benchmarks.timing import measure

SGEMM_N = 2048
SGEMM_MIN_ROUND = 0.2  # seconds a timed round lasts at least


@dataclass(frozen=True)
class Machine:
    cpu: str  # model name (LLVM's name for it)
    cores: int
    vector_features: str  # the CPU's SIMD extensions, as /proc/cpuinfo lists them
    vector_bits: int  # the widest vector the kernels' target features allow
    registers: int  # vector registers the compiler can use
    threads: int  # threads the benchmark runs on (Numba's)
    sgemm_n: int
    sgemm_gflops: float  # best round, float32, on ``threads`` threads
    sgemm_by_threads: dict  # {thread count: GFLOP/s} for every count measured

    def share(self, gflops: float | None, threads: int | None = None) -> float | None:
        """gflops as a fraction of the sgemm rate on ``threads`` (default: the benchmark's); None for None."""
        if gflops is None:
            return None
        return gflops / self.sgemm_by_threads[threads or self.threads]

    def fields(self) -> dict:
        return dict(self.__dict__)


def sgemm_gflops(threads: int, n: int = SGEMM_N, rounds: int = 3, min_round: float = 0.2) -> float:
    """GFLOP/s of NumPy's float32 (n, n) @ (n, n) on ``threads`` BLAS threads, best of ``rounds``."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    c = np.empty((n, n), np.float32)
    with blas_threads(threads):
        t = measure({"sgemm": lambda: np.matmul(a, b, out=c)}, rounds, min_round)["sgemm"]
    return 2 * n**3 / t.best / 1e9


def machine(
    thread_counts=None, n: int | None = None, rounds: int = 3, min_round: float | None = None
) -> Machine:
    """The machine's facts and its sgemm rate on each of ``thread_counts`` (default: Numba's thread
    count; the largest is the benchmark's)."""
    import numba

    from nbengine.kernels import simd

    counts = sorted(set(thread_counts or (numba.get_num_threads(),)))
    n, min_round = n or SGEMM_N, SGEMM_MIN_ROUND if min_round is None else min_round
    rates = {c: sgemm_gflops(c, n, rounds, min_round) for c in counts}
    return Machine(
        cpu_name(),
        cores(),
        vector_features(),
        simd.VECTOR_BITS,
        simd.REGISTERS,
        counts[-1],
        n,
        rates[counts[-1]],
        rates,
    )
