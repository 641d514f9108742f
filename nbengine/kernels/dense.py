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

from numba import njit, prange


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

G = 4  # samples that share each read of w in the forward pass


@njit(cache=True, parallel=True)
def dense_forward(out, x, w, b):
    """out = x·w + b.

    x is (N, D), w is (D, M), b is (M,); out will be (N, M).
    Four samples and two rows of w at a time, m innermost (along memory): each
    w[d, m] read serves four outputs, and each out[n, m] is loaded and stored once
    for two products.
    """
    N, D = x.shape
    M = w.shape[1]
    for g in prange((N + G - 1) // G):
        n0 = g * G
        n1 = min(N, n0 + G)
        for n in range(n0, n1):
            for m in range(M):
                out[n, m] = b[m]
        if n1 - n0 == G:
            # four samples and two rows of w at once:
            # out[n0 + t, m] += x[n0 + t, d] * w[d, m] + x[n0 + t, d + 1] * w[d + 1, m]
            D2 = D - D % 2
            for d in range(0, D2, 2):
                a0, a1, a2, a3 = x[n0, d], x[n0 + 1, d], x[n0 + 2, d], x[n0 + 3, d]
                b0, b1, b2, b3 = x[n0, d + 1], x[n0 + 1, d + 1], x[n0 + 2, d + 1], x[n0 + 3, d + 1]
                for m in range(M):
                    wd, we = w[d, m], w[d + 1, m]
                    out[n0, m] += a0 * wd + b0 * we
                    out[n0 + 1, m] += a1 * wd + b1 * we
                    out[n0 + 2, m] += a2 * wd + b2 * we
                    out[n0 + 3, m] += a3 * wd + b3 * we
            for d in range(D2, D):  # an odd last row of w
                for n in range(n0, n1):
                    xv = x[n, d]
                    for m in range(M):
                        out[n, m] += xv * w[d, m]
        else:
            # the last few samples of a batch that is not a multiple of four
            for n in range(n0, n1):
                for d in range(D):
                    xv = x[n, d]
                    for m in range(M):
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
