"""A dense (fully connected) layer: every output is a weighted sum of every input.

N = batch, D = inputs, M = outputs; indexed n, d, m. Arrays are row-major: x is
(N, D), w is (D, M), b is (M,), out is (N, M), so m runs along memory in w and out.

Forward:   out[n, m] = b[m] + sum over d of x[n, d] * w[d, m]
Backward, given dout = dL/dout (forward was out = x·w + b):
    dx[n, d] = sum over m of dout[n, m] * w[d, m]        dx = dout · wᵀ
    dw[d, m] = sum over n of x[n, d] * dout[n, m]         dw = xᵀ · dout
    db[m]    = sum over n of dout[n, m]

Threads write disjoint memory (rows of out and dx, rows of dw), and every sum runs
in a fixed order, so the result does not depend on the number of threads.
"""

import numpy as np
from numba import njit, prange

from nbengine.kernels.simd import PIXELS


@njit(cache=True, parallel=True)
def dense_forward_naive(out, x, w, b):
    """out = x·w + b, one output element at a time.

    x is (N, D), w is (D, M), b is (M,); out will be (N, M).
    """
    N, D = x.shape
    M = w.shape[1]
    for n in prange(N):
        for m in range(M):
            acc = b[m]
            for d in range(D):
                acc += x[n, d] * w[d, m]
            out[n, m] = acc


@njit(cache=True, parallel=True)
def dense_backward_naive(dx, dw, db, dout, x, w, need_dx):
    """dx (if need_dx), dw and db from dout, one output element at a time.

    dout is (N, M), x is (N, D), w is (D, M); dx will be (N, D), dw (D, M) and
    db (M,), all overwritten (dx untouched if not need_dx).
    """
    N, D = x.shape
    M = w.shape[1]
    zero = x.dtype.type(0)
    if need_dx:
        for n in prange(N):
            for d in range(D):
                acc = zero
                for m in range(M):
                    acc += dout[n, m] * w[d, m]
                dx[n, d] = acc
    for d in prange(D):
        for m in range(M):
            acc = zero
            for n in range(N):  # the batch sum, in sample order
                acc += x[n, d] * dout[n, m]
            dw[d, m] = acc
    for m in range(M):
        acc = zero
        for n in range(N):
            acc += dout[n, m]
        db[m] = acc


# The same sums, reordered for speed (each trick in one line).

# A panel of w, PANEL × PANEL values (256 KB in float32), stays in the core's own cache
# (L2, 512 KB or more on current x86 cores) while every sample passes over it.
PANEL = 256
# A tile's rows of sums lie PANEL + PAD values apart, not a power of two: rows of out
# that are 4 KB apart (M = 1024) make each load wait on the store before it (4K aliasing).
PAD = 16


# fastmath "contract": each x*w + out may become one fused multiply-add (one rounding, not two).
@njit(cache=True, parallel=True, fastmath={"contract"})
def dense_forward(out, x, w, b):
    """out = x·w + b.

    x is (N, D), w is (D, M), b is (M,); out will be (N, M).
    m runs innermost, along memory; threads take blocks of PANEL columns of out.
    w is read one panel of PANEL rows × PANEL columns at a time, while all the samples pass over it.
    A tile of PIXELS samples (simd.py: from the CPU's register count) shares each w value read.
    The tile's sums stay in a small array (acc, rows PANEL + PAD apart) while a panel passes, then go to out.
    Four rows of w per pass over m: each sum is loaded and stored once per four products, added in d order.
    The tile's 4·PIXELS inputs sit in a small array read before the pass, so they stay in registers across it.
    The last tile may be short: its missing samples read as 0 and are not written.
    m counts in unsigned integers (u0 to u1): no negative-index wraparound, which kept the loop out of SIMD lanes.
    """
    N, D = x.shape
    M = w.shape[1]
    T = PIXELS  # samples per tile, a constant: the loops over t unroll
    zero = x.dtype.type(0)
    for block in prange((M + PANEL - 1) // PANEL):
        m0 = block * PANEL
        m1 = min(M, m0 + PANEL)
        u0, u1 = np.uint64(m0), np.uint64(m1)
        xs = np.empty((T, 4), x.dtype)
        acc = np.empty((T, PANEL + PAD), x.dtype)
        for d0 in range(0, D, PANEL):
            d1 = min(D, d0 + PANEL)
            D4 = d1 - (d1 - d0) % 4
            for n0 in range(0, N, T):
                nt = min(T, N - n0)  # samples in this tile
                for t in range(nt):
                    for m in range(u0, u1):
                        acc[t, m - u0] = b[m] if d0 == 0 else out[n0 + t, m]
                for d in range(d0, D4, 4):
                    for t in range(T):
                        for v in range(4):
                            xs[t, v] = x[n0 + t, d + v] if t < nt else zero
                    for m in range(u0, u1):
                        w0, w1, w2, w3 = w[d, m], w[d + 1, m], w[d + 2, m], w[d + 3, m]
                        for t in range(T):
                            o = acc[t, m - u0]
                            o += xs[t, 0] * w0
                            o += xs[t, 1] * w1
                            o += xs[t, 2] * w2
                            o += xs[t, 3] * w3
                            acc[t, m - u0] = o
                for d in range(D4, d1):  # the rows of the panel left over
                    for t in range(nt):
                        xv = x[n0 + t, d]
                        for m in range(u0, u1):
                            acc[t, m - u0] += xv * w[d, m]
                for t in range(nt):
                    for m in range(u0, u1):
                        out[n0 + t, m] = acc[t, m - u0]


# fastmath "reassoc": the sum over m for dx runs in SIMD lanes; its order is fixed
# by the compiled code, so runs repeat bit for bit.
@njit(cache=True, parallel=True, fastmath={"reassoc"})
def dense_backward(dx, dw, db, dout, x, w, need_dx):
    """dx (if need_dx), dw and db from dout.

    dout is (N, M), x is (N, D), w is (D, M); dx will be (N, D), dw (D, M) and
    db (M,), all overwritten (dx untouched if not need_dx).
    Each thread takes rows d, so w[d, :] and dw[d, :] stay in cache while the samples pass.
    Samples go in fours a0..a3: each w and dw value read serves four samples, each dw value loaded and stored once per four products.
    A batch that is not a multiple of four ends with a short group: the missing samples repeat a0 with the weight e = 0.
    """
    N, D = x.shape
    M = w.shape[1]
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    for d in prange(D):
        for m in range(M):
            dw[d, m] = zero
        for a0 in range(0, N, 4):
            a1, e1 = (a0 + 1, one) if a0 + 1 < N else (a0, zero)
            a2, e2 = (a0 + 2, one) if a0 + 2 < N else (a0, zero)
            a3, e3 = (a0 + 3, one) if a0 + 3 < N else (a0, zero)
            x0, x1, x2, x3 = x[a0, d], e1 * x[a1, d], e2 * x[a2, d], e3 * x[a3, d]
            acc0 = zero  # sums over m for dx[a0, d], ...
            acc1 = zero
            acc2 = zero
            acc3 = zero
            for m in range(M):
                g0, g1, g2, g3 = dout[a0, m], dout[a1, m], dout[a2, m], dout[a3, m]
                dw[d, m] += x0 * g0 + x1 * g1 + x2 * g2 + x3 * g3
                wv = w[d, m]
                acc0 += wv * g0
                acc1 += wv * g1
                acc2 += wv * g2
                acc3 += wv * g3
            if need_dx:
                dx[a0, d] = acc0
                if a0 + 1 < N:
                    dx[a1, d] = acc1
                if a0 + 2 < N:
                    dx[a2, d] = acc2
                if a0 + 3 < N:
                    dx[a3, d] = acc3
    for m in range(M):
        db[m] = zero
    for n in range(N):
        for m in range(M):
            db[m] += dout[n, m]
