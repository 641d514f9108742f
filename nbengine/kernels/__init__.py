"""Numba kernels: explicit index loops, one operation per file, forward and backward
side by side. Kernels take arrays the caller allocated, fill them, and hold no state."""

# Below this many elements an elementwise or row-wise kernel runs on one thread:
# waking the other threads costs more than it saves (benchmarks/README.md, "Updates").
PARALLEL_MIN = 1 << 16
