"""The sum of squares of many values, for the global gradient norm.

E = number of values (a flat view), indexed e; P = parts, indexed g.

    total = sum over e of x[e]^2        (in float64, whatever x's dtype)

The naive kernel is this sum as a loop; the fast kernel after it takes the same sum
in another order.
"""

import numpy as np
from numba import njit, prange

from nbengine.kernels import PARALLEL_MIN


@njit(cache=True)
def sum_of_squares_naive(x, P):
    """x is (E,); returns sum of x[e]^2 as a float64, e = 0, 1, ... (P is unused: the
    same arguments as sum_of_squares)."""
    total = 0.0
    for e in range(x.shape[0]):
        v = np.float64(x[e])
        total += v * v
    return total


# The same sum, reordered for speed (each trick in one line):
# - P contiguous parts (P fixed by the caller, not by the thread count), each summed on its own, added in order;
# - fastmath "reassoc" lets a part's sum run in SIMD lanes (its order fixed by the compiled code, so bit for bit);
# - a small x is summed on one thread (the same parts, the same sums): waking the others costs more.


@njit(cache=True, fastmath={"reassoc"})
def _part(x, e0, e1):
    """sum of x[e]^2 for e0 <= e < e1, in float64."""
    s = 0.0
    for e in range(e0, e1):
        v = np.float64(x[e])
        s += v * v
    return s


@njit(cache=True, parallel=True)
def sum_of_squares(x, P):
    """x is (E,); returns sum of x[e]^2 as a float64."""
    E = x.shape[0]
    parts = np.empty(P, np.float64)  # (np.zeros would be a parallel loop of its own)
    if E < PARALLEL_MIN:
        for g in range(P):
            parts[g] = _part(x, g * E // P, (g + 1) * E // P)
    else:
        for g in prange(P):
            parts[g] = _part(x, g * E // P, (g + 1) * E // P)
    total = 0.0
    for g in range(P):
        total += parts[g]
    return total
