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


# fastmath "contract": each x*w + out may become one fused multiply-add (one rounding, not two).
@njit(cache=True, parallel=True, fastmath={"contract"})
def dense_forward(out, x, w, b):
    """out = x·w + b.

    x is (N, D), w is (D, M), b is (M,); out will be (N, M).
    m runs innermost, along memory, adding into out; threads take blocks of PANEL columns of out.
    w is read one panel of PANEL rows × PANEL columns at a time, while all the samples pass over it.
    A tile of PIXELS samples (simd.py: from the CPU's register count) shares each w value read.
    Four rows of w per pass over m: each out value is loaded and stored once per four products, added in d order.
    The tile's 4·PIXELS inputs sit in a small array read before the pass, so they stay in registers across it.
    m counts in unsigned integers (u0 to u1): no negative-index wraparound, which kept the loop out of SIMD lanes.
    """
    N, D = x.shape
    M = w.shape[1]
    T = PIXELS  # samples per tile, a constant: the loops over t unroll
    NT = N - N % T  # samples in whole tiles; the rest go one at a time
    for block in prange((M + PANEL - 1) // PANEL):
        m0 = block * PANEL
        m1 = min(M, m0 + PANEL)
        u0, u1 = np.uint64(m0), np.uint64(m1)
        xs = np.empty((T, 4), x.dtype)
        for n in range(N):
            for m in range(u0, u1):
                out[n, m] = b[m]
        for d0 in range(0, D, PANEL):
            d1 = min(D, d0 + PANEL)
            D4 = d1 - (d1 - d0) % 4
            for n0 in range(0, NT, T):
                for d in range(d0, D4, 4):
                    for t in range(T):
                        for u in range(4):
                            xs[t, u] = x[n0 + t, d + u]
                    for m in range(u0, u1):
                        w0, w1, w2, w3 = w[d, m], w[d + 1, m], w[d + 2, m], w[d + 3, m]
                        for t in range(T):
                            o = out[n0 + t, m]
                            o += xs[t, 0] * w0
                            o += xs[t, 1] * w1
                            o += xs[t, 2] * w2
                            o += xs[t, 3] * w3
                            out[n0 + t, m] = o
                for d in range(D4, d1):  # the rows of the panel left over
                    for t in range(T):
                        xv = x[n0 + t, d]
                        for m in range(u0, u1):
                            out[n0 + t, m] += xv * w[d, m]
            for n in range(NT, N):  # the samples left over, one at a time
                for d in range(d0, D4, 4):
                    x0, x1, x2, x3 = x[n, d], x[n, d + 1], x[n, d + 2], x[n, d + 3]
                    for m in range(u0, u1):
                        o = out[n, m]
                        o += x0 * w[d, m]
                        o += x1 * w[d + 1, m]
                        o += x2 * w[d + 2, m]
                        o += x3 * w[d + 3, m]
                        out[n, m] = o
                for d in range(D4, d1):
                    xv = x[n, d]
                    for m in range(u0, u1):
                        out[n, m] += xv * w[d, m]


# fastmath "reassoc": the sum over m for dx runs in SIMD lanes; its order is fixed
# by the compiled code, so runs repeat bit for bit.
@njit(cache=True, parallel=True, fastmath={"reassoc"})
def dense_backward(dx, dw, db, dout, x, w, need_dx):
    """dx (if need_dx), dw and db from dout.

    dout is (N, M), x is (N, D), w is (D, M); dx will be (N, D), dw (D, M) and
    db (M,), all overwritten (dx untouched if not need_dx).
    Each thread takes rows d, so w[d, :] and dw[d, :] stay in cache while the
    samples pass, two at a time: each w and dw value read serves two samples.
    """
    N, D = x.shape
    M = w.shape[1]
    zero = x.dtype.type(0)
    for d in prange(D):
        for m in range(M):
            dw[d, m] = zero
        # samples in pairs a, b (b = a with weight 0 for an odd last one), so each
        # w[d, m] and dw[d, m] read serves two samples
        for a in range(0, N, 2):
            pair = a + 1 < N
            b = a + 1 if pair else a
            both = x.dtype.type(1) if pair else zero
            xa, xb = x[a, d], both * x[b, d]
            acc_a = zero  # sums over m for dx[a, d] and dx[b, d]
            acc_b = zero
            for m in range(M):
                ga, gb = dout[a, m], dout[b, m]
                dw[d, m] += xa * ga + xb * gb
                acc_a += w[d, m] * ga
                acc_b += w[d, m] * gb
            if need_dx:
                dx[a, d] = acc_a
                if pair:
                    dx[b, d] = acc_b
    for m in range(M):
        db[m] = zero
    for n in range(N):
        for m in range(M):
            db[m] += dout[n, m]
