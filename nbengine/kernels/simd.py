"""The vector unit the kernels are compiled for, read once at import: tile sizes come from here.

Numba compiles every kernel for the CPU it runs on (LLVM's name for it and its
feature list, or ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` when set, as Numba
itself reads them), so the fast kernels size their tiles from the same features:

- ``REGISTERS``: vector registers the compiler can use: 32 with AVX-512 (zmm0-31,
  and ymm16-31 too), 16 with AVX or SSE (x86-64), 32 on 64-bit Arm.
- ``VECTOR_BITS``: the widest vector the features allow (512, 256 or 128). Whether
  LLVM uses all of it is its own choice: on Intel's AVX-512 cores it prefers 256-bit
  vectors, on AMD Zen 4 it uses 512 (benchmarks/README.md, "The vector width").
- ``PIXELS``: outputs a fast kernel's tile holds (see conv2d_forward, dense_forward).
  Each output in the tile keeps four broadcast inputs and one running sum in
  registers, and four rows of weights are shared by all: 5·PIXELS + 4 registers.

A different machine gets different tiles, but the same machine always the same,
and the order of every sum in a tile is the written order, so results repeat bit
for bit on a given machine, seed and thread count.
"""

from __future__ import annotations

import platform


def features() -> frozenset[str]:
    """The CPU features Numba compiles for (``+avx512f`` → ``avx512f``)."""
    from numba.core import config

    text = getattr(config, "CPU_FEATURES", None)
    if text is None:
        import llvmlite.binding as llvm

        text = llvm.get_host_cpu_features().flatten()
    return frozenset(f[1:] for f in text.split(",") if f.startswith("+"))


def _registers_and_bits(found: frozenset[str], machine: str) -> tuple[int, int]:
    if machine.lower() in ("aarch64", "arm64"):
        return 32, 128
    if "avx512f" in found:
        return 32, 512
    if "avx" in found:
        return 16, 256
    return 16, 128


REGISTERS, VECTOR_BITS = _registers_and_bits(features(), platform.machine())
PIXELS = max(1, (REGISTERS - 4) // 5)
