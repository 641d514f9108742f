"""Two-dimensional convolution, as the CNN lesson slides a filter over an image.

N = batch, H, W = input height and width, C = input channels,
R, S = filter height and width, K = filters (output channels),
OH, OW = output height and width; i, j index output rows and columns,
p, q input rows and columns.

Layout: x is (N, H, W, C) ("NHWC", channels last, as Keras stores images) and
w is (R, S, C, K): k, the last index of w and of out, runs along memory.

Forward (a cross-correlation, as every framework computes it):
    out[n, i, j, k] = b[k] + sum over r, s, c of x[n, p, q, c] * w[r, s, c, k]
    where p = i*sh + r - pt and q = j*sw + s - pl
sh, sw are the strides; pt, pl the zero padding added above and to the left
(:func:`output_size` works them out). A position (p, q) outside the input reads
as 0, so it is simply skipped.

Backward, given dout = dL/dout, each product x*w above sends dout back to both
(the kernel zeroes dx, dw and db first, then adds):
    dx[n, p, q, c] += sum over k of dout[n, i, j, k] * w[r, s, c, k]
    dw[r, s, c, k] += x[n, p, q, c] * dout[n, i, j, k]   (summed over n, i, j)
    db[k]          += dout[n, i, j, k]                     (summed over n, i, j)

The naive kernels below are these formulas as loops; the fast kernels after them
compute the same sums in another order.
"""

import numpy as np
from numba import njit, prange

from nbengine.kernels.simd import PIXELS


@njit(cache=True, parallel=True)
def conv2d_forward_naive(out, x, w, b, sh, sw, pt, pl):
    """out = conv(x, w) + b, one output at a time.

    x is (N, H, W, C), w is (R, S, C, K), b is (K,); out will be (N, OH, OW, K).
    """
    N, H, W, C = x.shape
    R, S, _, K = w.shape
    _, OH, OW, _ = out.shape
    for n in prange(N):  # each sample's outputs are its own: threads never share one
        for i in range(OH):
            for j in range(OW):
                for k in range(K):
                    acc = b[k]
                    for r in range(R):
                        p = i * sh + r - pt
                        if p < 0 or p >= H:
                            continue  # a padding row: x reads as 0 there
                        for s in range(S):
                            q = j * sw + s - pl
                            if q < 0 or q >= W:
                                continue
                            for c in range(C):
                                acc += x[n, p, q, c] * w[r, s, c, k]
                    out[n, i, j, k] = acc


@njit(cache=True)
def conv2d_backward_naive(dx, dw, db, dout, x, w, sh, sw, pt, pl, need_dx):
    """dx (if need_dx), dw and db, the forward's loops run again.

    dout is (N, OH, OW, K), x is (N, H, W, C), w is (R, S, C, K).
    dx will be (N, H, W, C) (untouched if not need_dx), dw (R, S, C, K), db (K,);
    all three are overwritten. One thread, samples in order n = 0, 1, ...: the
    sums over the batch always add up in the same order.
    """
    N, H, W, C = x.shape
    R, S, _, K = w.shape
    _, OH, OW, _ = dout.shape
    zero = x.dtype.type(0)
    if need_dx:
        dx[...] = zero
    dw[...] = zero
    db[...] = zero
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                for k in range(K):
                    db[k] += dout[n, i, j, k]
                for r in range(R):
                    p = i * sh + r - pt
                    if p < 0 or p >= H:
                        continue  # a padding row: nothing to send back to
                    for s in range(S):
                        q = j * sw + s - pl
                        if q < 0 or q >= W:
                            continue
                        for c in range(C):
                            for k in range(K):
                                dw[r, s, c, k] += x[n, p, q, c] * dout[n, i, j, k]
                            if need_dx:
                                acc = zero
                                for k in range(K):
                                    acc += dout[n, i, j, k] * w[r, s, c, k]
                                dx[n, p, q, c] += acc


# The same sums, reordered for speed (each trick in one line).


# fastmath "contract": each x*w + out may become one fused multiply-add (one rounding, not two).
@njit(cache=True, parallel=True, fastmath={"contract"})
def conv2d_forward(out, x, w, b, sh, sw, pt, pl):
    """out = conv(x, w) + b.

    x is (N, H, W, C), w is (R, S, C, K) and C-contiguous, b is (K,); out will be (N, OH, OW, K).
    k runs innermost, along memory.
    Each sample is first copied into a zero-bordered buffer xp: no window position is padding any more, so no tests.
    The window's taps (r, s, c) are one run u = (r·S + s)·C + c, as w is (R·S·C, K) in memory; off[u] is where tap u sits in xp.
    A tile of PIXELS output columns j0 .. j0+PIXELS-1 (simd.py: from the CPU's register count) shares each w value read.
    Four taps per pass over k: each sum is loaded and stored once per four products, added in u order.
    The tile's sums stay in a small array (acc, rows K + 16 apart: not a power of two) while the taps pass, then go to out once.
    The tile's 4·PIXELS inputs sit in a small array read before the pass, so they stay in registers across it.
    """
    N, H, W, C = x.shape
    R, S, _, K = w.shape
    _, OH, OW, _ = out.shape
    Hp = max(pt + H, (OH - 1) * sh + R)  # xp's rows and columns: the input, its padding,
    Wp = max(pl + W, (OW - 1) * sw + S)  # and all that the windows reach
    U = R * S * C
    U4 = U - U % 4
    wu = w.reshape(U, K)
    off = np.empty(U, np.int64)
    for r in range(R):
        for s in range(S):
            for c in range(C):
                off[(r * S + s) * C + c] = (r * Wp + s) * C + c
    T = PIXELS  # columns per tile, a constant: the loops over t unroll
    wide = OW >= T  # else every column goes the one-tap way, in one tile as wide as the row
    tiles = -(-OW // T) if wide else 1
    for n in prange(N):
        xp = np.zeros(Hp * Wp * C, x.dtype)
        for p in range(H):
            for q in range(W):
                for c in range(C):
                    xp[((pt + p) * Wp + pl + q) * C + c] = x[n, p, q, c]
        xs = np.empty((T, 4), x.dtype)
        acc = np.empty((T, K + 16), x.dtype)
        for i in range(OH):
            for tile in range(tiles):
                # the last tile ends at the last column (it may redo a few)
                j0 = min(tile * T, OW - T) if wide else 0
                j1 = j0 + T if wide else OW
                at = (i * sh * Wp + j0 * sw) * C  # the tile's first window in xp
                if not wide:
                    for t in range(j1 - j0):
                        for k in range(K):
                            out[n, i, j0 + t, k] = b[k]
                        for u in range(U):
                            xv = xp[at + t * sw * C + off[u]]
                            for k in range(K):
                                out[n, i, j0 + t, k] += xv * wu[u, k]
                    continue
                for t in range(T):
                    for k in range(K):
                        acc[t, k] = b[k]
                for u in range(0, U4, 4):
                    for t in range(T):
                        for v in range(4):
                            xs[t, v] = xp[at + t * sw * C + off[u + v]]
                    for k in range(K):
                        w0, w1, w2, w3 = wu[u, k], wu[u + 1, k], wu[u + 2, k], wu[u + 3, k]
                        for t in range(T):
                            o = acc[t, k]
                            o += xs[t, 0] * w0
                            o += xs[t, 1] * w1
                            o += xs[t, 2] * w2
                            o += xs[t, 3] * w3
                            acc[t, k] = o
                for u in range(U4, U):  # the taps left over, one at a time
                    for t in range(T):
                        xv = xp[at + t * sw * C + off[u]]
                        for k in range(K):
                            acc[t, k] += xv * wu[u, k]
                for t in range(T):
                    for k in range(K):
                        out[n, i, j0 + t, k] = acc[t, k]


# fastmath "reassoc" lets each sum over k for dx run in SIMD lanes, in an order the compiled code fixes;
# "contract" lets each a*b + c become one fused multiply-add.
@njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
def conv2d_backward(dx, dw_parts, db_parts, dout, x, w, sh, sw, pt, pl, need_dx):
    """dx (if need_dx), and per-part weight and bias gradients.

    dout is (N, OH, OW, K), x is (N, H, W, C), w is (R, S, C, K).
    dx will be (N, H, W, C) (untouched if not need_dx); dw_parts will be
    (P, R, S, C, K) and db_parts (P, K), to be added up with :func:`sum_parts`.
    All three are overwritten: each thread first zeroes what it is about to sum
    into (its own parts and samples), so the caller need not.

    Threads. The batch is cut into P contiguous parts (P fixed by the caller, not
    by the number of threads). A thread works on whole parts: it alone writes dx
    for those samples, and it sums its parts' weight gradients into dw_parts[g].
    The parts are then added in the order g = 0, 1, ..., P-1, so the result does
    not depend on which thread ran which part: the same inputs give the same bits.

    Samples go in fours a0..a3 (the same window positions in all four): each w and dw
    value loaded serves four samples, and each dw value is loaded and stored once per four products.
    A part whose size is not a multiple of four ends with a short group: the missing
    samples repeat a0 with the weight e = 0, and only the real ones' dx is written.
    """
    N, H, W, C = x.shape
    R, S, _, K = w.shape
    _, OH, OW, _ = dout.shape
    P = dw_parts.shape[0]
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    for g in prange(P):
        n0, n1 = g * N // P, (g + 1) * N // P  # part g: a contiguous run of samples
        dw_parts[g] = zero
        db_parts[g] = zero
        if need_dx:
            for n in range(n0, n1):
                dx[n] = zero
        for a0 in range(n0, n1, 4):
            a1, e1 = (a0 + 1, one) if a0 + 1 < n1 else (a0, zero)
            a2, e2 = (a0 + 2, one) if a0 + 2 < n1 else (a0, zero)
            a3, e3 = (a0 + 3, one) if a0 + 3 < n1 else (a0, zero)
            for i in range(OH):
                for j in range(OW):
                    for k in range(K):
                        db_parts[g, k] += (
                            dout[a0, i, j, k]
                            + e1 * dout[a1, i, j, k]
                            + e2 * dout[a2, i, j, k]
                            + e3 * dout[a3, i, j, k]
                        )
                    for r in range(R):
                        p = i * sh + r - pt
                        if p < 0 or p >= H:
                            continue
                        for s in range(S):
                            q = j * sw + s - pl
                            if q < 0 or q >= W:
                                continue
                            for c in range(C):
                                x0, x1 = x[a0, p, q, c], e1 * x[a1, p, q, c]
                                x2, x3 = e2 * x[a2, p, q, c], e3 * x[a3, p, q, c]
                                acc0 = zero  # sums over k for dx[a0, p, q, c], ...
                                acc1 = zero
                                acc2 = zero
                                acc3 = zero
                                for k in range(K):
                                    g0, g1 = dout[a0, i, j, k], dout[a1, i, j, k]
                                    g2, g3 = dout[a2, i, j, k], dout[a3, i, j, k]
                                    dw_parts[g, r, s, c, k] += x0 * g0 + x1 * g1 + x2 * g2 + x3 * g3
                                    wv = w[r, s, c, k]
                                    acc0 += wv * g0
                                    acc1 += wv * g1
                                    acc2 += wv * g2
                                    acc3 += wv * g3
                                if need_dx:
                                    dx[a0, p, q, c] += acc0
                                    if a0 + 1 < n1:
                                        dx[a1, p, q, c] += acc1
                                    if a0 + 2 < n1:
                                        dx[a2, p, q, c] += acc2
                                    if a0 + 3 < n1:
                                        dx[a3, p, q, c] += acc3


@njit(cache=True)
def sum_parts(total, parts):
    """total = parts[0] + parts[1] + ... + parts[P-1], added in that order.

    parts is (P, E) and total is (E,) (flattened views of the gradients).
    """
    P, E = parts.shape
    for e in range(E):
        total[e] = parts[0, e]
    for g in range(1, P):
        for e in range(E):
            total[e] += parts[g, e]


# The geometry: each layer works out its output size and padding once, before calling the kernels.
def output_size(size: int, k: int, stride: int, padding) -> tuple[int, int, int]:
    """(output size, padding before, padding after) along one axis.

    padding "valid": no padding, the window stays inside the input.
    padding "same": as TensorFlow/Keras pads: out = ceil(size / stride), and the
    padding needed for that is split with the smaller half before.
    padding an integer p: p zeros on both sides.
    """
    if k < 1 or stride < 1:
        raise ValueError(f"filter size and stride must be at least 1, not {k} and {stride}")
    if padding == "valid":
        before = after = 0
    elif padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        before, after = total // 2, total - total // 2
    elif isinstance(padding, (int, np.integer)) and not isinstance(padding, bool) and padding >= 0:
        before = after = int(padding)
    else:
        raise ValueError(
            f"padding must be 'same', 'valid' or a non-negative integer, not {padding!r}"
        )
    out = (size + before + after - k) // stride + 1
    if out < 1:
        raise ValueError(f"a {k}-wide window does not fit in {size} (+{before + after} padding)")
    return out, before, after
