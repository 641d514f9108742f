"""The sum of squares of many values, for the global gradient norm.

E = number of values (a flat view), indexed e; P = parts, indexed g.

    total = sum over e of x[e]^2
The values are cut into P contiguous parts (P fixed by the caller, not by the
number of threads); each part is summed in float64 on its own, and the parts
are added in order, so the total is the same on any number of threads.
fastmath "reassoc" lets a part's sum run in SIMD lanes instead of one addition waiting
for the last; its order is fixed by the compiled code, so runs repeat bit for bit.
"""

import numpy as np
from numba import njit, prange

from nbengine.kernels import PARALLEL_MIN


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
    if E < PARALLEL_MIN:  # a small one on one thread (the same parts, the same sums)
        for g in range(P):
            parts[g] = _part(x, g * E // P, (g + 1) * E // P)
    else:
        for g in prange(P):
            parts[g] = _part(x, g * E // P, (g + 1) * E // P)
    total = 0.0
    for g in range(P):
        total += parts[g]
    return total
