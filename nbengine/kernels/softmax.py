"""Softmax on its own, for a network that applies it as a layer before other
layers (the lesson's model as written: Dense(10, softmax) and then Dropout).

N = batch, M = classes; indexed n, m (and m2 for a second class index).

Forward, per row, computed stably (subtracting the row's largest logit z_max
changes nothing mathematically but keeps exp from overflowing):
    out[n, m] = e^(z[n, m] - z_max) / sum over m2 of e^(z[n, m2] - z_max)
Backward, from the Jacobian d out[n, m2] / d z[n, m] = out[n, m2] ([m == m2] - out[n, m]):
    dz[n, m] = out[n, m] * (dout[n, m] - sum over m2 of dout[n, m2] * out[n, m2])
The sum over m2 is the same for every m of a row: it is computed once per row.

softmax_cross_entropy.py uses the row softmax (softmax_row_naive, softmax_row) too.
"""

import numpy as np
from numba import njit

from nbengine.kernels.exp import POW2, exp32


@njit(cache=True, error_model="numpy")
def softmax_row_naive(out, z, n):
    """out[n] = softmax(z[n]) for one row n; returns (log of the sum, z_max).

    log(sum over m of e^(z[n, m] - z_max)) + z_max is log Σ e^z, the log-sum-exp
    that the cross-entropy needs (see softmax_cross_entropy.py).
    """
    M = z.shape[1]
    z_max = z[n, 0]
    for m in range(1, M):
        if z[n, m] > z_max:
            z_max = z[n, m]
    total = z.dtype.type(0)
    for m in range(M):
        out[n, m] = np.exp(z[n, m] - z_max)
        total += out[n, m]
    for m in range(M):
        out[n, m] /= total
    return np.log(total), z_max


@njit(cache=True, error_model="numpy")
def softmax_forward_naive(out, z):
    """z is (N, M); out will be (N, M), each row summing to 1."""
    for n in range(z.shape[0]):
        softmax_row_naive(out, z, n)


@njit(cache=True)
def softmax_backward_naive(dz, dout, out):
    """dout and out (the forward output) are (N, M); dz will be (N, M)."""
    N, M = out.shape
    zero = out.dtype.type(0)
    for n in range(N):
        dot = zero  # sum over m2 of dout[n, m2] * out[n, m2]
        for m2 in range(M):
            dot += dout[n, m2] * out[n, m2]
        for m in range(M):
            dz[n, m] = out[n, m] * (dout[n, m] - dot)


# The same sums, reordered for speed (each trick in one line).


LANES = 16  # running maxima of a row, one per SIMD lane (16 float32 in 512 bits)


@njit(cache=True)
def lanes_max(v, end):
    """The largest of v[0], ..., v[end - 1] (end ≥ 1): LANES running maxima, one over
    m = l, l + LANES, ..., then the largest of them.

    A single running maximum is a chain, each comparison waiting for the last; LANES of
    them are independent, and the compiler runs them in SIMD lanes. The maximum does not
    depend on the order in which it is taken.
    """
    ML = end - end % LANES
    lanes = np.empty(LANES, v.dtype)
    for lane in range(LANES):
        lanes[lane] = v[0]
    for m0 in range(0, ML, LANES):
        for lane in range(LANES):
            x = v[m0 + lane]
            lanes[lane] = x if x > lanes[lane] else lanes[lane]
    v_max = lanes[0]
    for lane in range(1, LANES):
        if lanes[lane] > v_max:
            v_max = lanes[lane]
    for m in range(ML, end):  # the few left over
        if v[m] > v_max:
            v_max = v[m]
    return v_max


# fastmath "reassoc" lets the sum over m run in SIMD lanes instead of one addition
# waiting for the last; its order is fixed by the compiled code, so runs repeat bit
# for bit. A float32 row uses exp32, an e^x the compiler can run in SIMD lanes.
# The row's maximum is taken in lanes too (lanes_max).
@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def softmax_row(out, z, n):
    """out[n] = softmax(z[n]) for one row n; returns (log of the sum, z_max).

    log(sum over m of e^(z[n, m] - z_max)) + z_max is log Σ e^z, the log-sum-exp
    that the cross-entropy needs (see softmax_cross_entropy.py).
    """
    M = z.shape[1]
    z_max = lanes_max(z[n], M)
    if z.itemsize == 4:  # float32: the vectorising exp (see exp.py); float64 keeps np.exp
        for m in range(M):
            out[n, m] = exp32(z[n, m] - z_max, POW2)
    else:
        for m in range(M):
            out[n, m] = np.exp(z[n, m] - z_max)
    total = z.dtype.type(0)
    for m in range(M):
        total += out[n, m]
    for m in range(M):
        out[n, m] /= total
    return np.log(total), z_max


@njit(cache=True, error_model="numpy")
def softmax_forward(out, z):
    """z is (N, M); out will be (N, M), each row summing to 1."""
    for n in range(z.shape[0]):
        softmax_row(out, z, n)


# The backward pass has nothing to reorder: the fast name runs the same loop.
softmax_backward = softmax_backward_naive
