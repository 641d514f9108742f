"""Numba kernels: explicit index loops, one operation per file, forward and backward
side by side. Kernels take arrays the caller allocated, fill them, and hold no state."""
