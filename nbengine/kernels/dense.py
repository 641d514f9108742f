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

from nbengine.kernels import PARALLEL_MIN
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
# Enough jobs for the threads of a small machine even when out has one block of columns.
JOBS = 4


# fastmath "contract": each x*w + out may become one fused multiply-add (one rounding, not two).
@njit(cache=True, parallel=True, fastmath={"contract"})
def dense_forward(out, x, w, b):
    """out = x·w + b.

    x is (N, D), w is (D, M), b is (M,); out will be (N, M).
    m runs innermost, along memory; threads take blocks of PANEL columns of out
    (and, when there are fewer than JOBS blocks, groups of the samples' tiles too).
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
    blocks, tiles = (M + PANEL - 1) // PANEL, (N + T - 1) // T
    groups = max(1, min(tiles, JOBS // blocks))  # the samples' tiles cut in groups when M is narrow
    for job in prange(blocks * groups):
        block, group = job // groups, job % groups
        n_first, n_end = group * tiles // groups * T, min(N, (group + 1) * tiles // groups * T)
        m0 = block * PANEL
        m1 = min(M, m0 + PANEL)
        u0, u1 = np.uint64(m0), np.uint64(m1)
        xs = np.empty((T, 4), x.dtype)
        acc = np.empty((T, PANEL + PAD), x.dtype)
        for d0 in range(0, D, PANEL):
            d1 = min(D, d0 + PANEL)
            D4 = d1 - (d1 - d0) % 4
            for n0 in range(n_first, n_end, T):
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


# dx's blocks: DX_ROWS rows × DX_COLS columns of w (32 × 1024 floats, 128 KB) stay in L2
# while every sample passes over them.
DX_ROWS = 32
DX_COLS = 1024

# A w of at most DX_WHOLE rows (DX_WHOLE × DX_COLS floats, 512 KB, still in L2) is one block,
# so dout is read once, not once per block: a language model's projection has 100 rows and
# a dout of 700 × 10,000 (28 MB, from memory). The samples are then cut in groups, enough
# for DX_JOBS jobs, to keep the threads busy.
DX_WHOLE = 128
DX_JOBS = 16


@njit(cache=True, parallel=True)
def transpose(out, a):
    """out = aᵀ: a is (R, C), out will be (C, R)."""
    R, C = a.shape
    for c in prange(C):
        for r in range(R):
            out[c, r] = a[r, c]


# fastmath "reassoc": each sum over m runs in SIMD lanes; its order is fixed by the
# compiled code, so runs repeat bit for bit. "contract": each a*b + c may be one fused multiply-add.
@njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
def dense_dx(dx, dout, w):
    """dx = dout · wᵀ: dx[n, d] = sum over m of dout[n, m] * w[d, m].

    dout is (N, M), w is (D, M); dx will be (N, D). Threads take blocks of DX_ROWS rows of w
    (all of w when D ≤ DX_WHOLE), and groups of the samples when there are fewer than DX_JOBS blocks.
    A tile of 4 samples × 4 rows of w: 16 sums held in registers across the block's m, from 8 loads per 16 products.
    m is cut in blocks of DX_COLS (each block's rows of w stay in L2); a block's sums are added to dx in block order.
    A tile past the last sample or row repeats the last one, and writes only the real ones.
    m counts in unsigned integers: no negative-index wraparound, which kept the loop out of SIMD lanes.
    """
    N, M = dout.shape
    D = w.shape[0]
    zero = w.dtype.type(0)
    rows = D if D <= DX_WHOLE else DX_ROWS  # a w of few rows is one block
    blocks, quads = (D + rows - 1) // rows, (N + 3) // 4
    # the samples cut in groups when w has few blocks
    groups = max(1, min(quads, DX_JOBS // blocks))
    for job in prange(blocks * groups):
        blk, group = job // groups, job % groups
        e0, e1 = blk * rows, min(D, (blk + 1) * rows)
        n_first, n_end = group * quads // groups * 4, min(N, (group + 1) * quads // groups * 4)
        tile = np.empty((4, 4), dx.dtype)
        for m0 in range(0, M, DX_COLS):
            m1 = min(M, m0 + DX_COLS)
            for a0 in range(n_first, n_end, 4):
                a1, a2, a3 = min(a0 + 1, N - 1), min(a0 + 2, N - 1), min(a0 + 3, N - 1)
                for d0 in range(e0, e1, 4):
                    d1, d2, d3 = min(d0 + 1, e1 - 1), min(d0 + 2, e1 - 1), min(d0 + 3, e1 - 1)
                    s00 = s01 = s02 = s03 = zero
                    s10 = s11 = s12 = s13 = zero
                    s20 = s21 = s22 = s23 = zero
                    s30 = s31 = s32 = s33 = zero
                    for m in range(np.uint64(m0), np.uint64(m1)):
                        g0, g1, g2, g3 = dout[a0, m], dout[a1, m], dout[a2, m], dout[a3, m]
                        v0, v1, v2, v3 = w[d0, m], w[d1, m], w[d2, m], w[d3, m]
                        s00 += g0 * v0
                        s01 += g0 * v1
                        s02 += g0 * v2
                        s03 += g0 * v3
                        s10 += g1 * v0
                        s11 += g1 * v1
                        s12 += g1 * v2
                        s13 += g1 * v3
                        s20 += g2 * v0
                        s21 += g2 * v1
                        s22 += g2 * v2
                        s23 += g2 * v3
                        s30 += g3 * v0
                        s31 += g3 * v1
                        s32 += g3 * v2
                        s33 += g3 * v3
                    tile[0, 0], tile[0, 1], tile[0, 2], tile[0, 3] = s00, s01, s02, s03
                    tile[1, 0], tile[1, 1], tile[1, 2], tile[1, 3] = s10, s11, s12, s13
                    tile[2, 0], tile[2, 1], tile[2, 2], tile[2, 3] = s20, s21, s22, s23
                    tile[3, 0], tile[3, 1], tile[3, 2], tile[3, 3] = s30, s31, s32, s33
                    for u in range(min(4, N - a0)):
                        for v in range(min(4, e1 - d0)):
                            if m0 == 0:
                                dx[a0 + u, d0 + v] = tile[u, v]
                            else:
                                dx[a0 + u, d0 + v] += tile[u, v]


# fastmath "reassoc": the sum over m for dx runs in SIMD lanes; its order is fixed
# by the compiled code, so runs repeat bit for bit.
@njit(cache=True, parallel=True, fastmath={"reassoc"})
def dense_backward_rows(dx, dw, dout, x, w, need_dx):
    """dx (if need_dx) and dw in one loop, for a small or narrow layer (see dense_backward).

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


# Where dense_backward takes the one-loop way (dense_backward_rows).
ROWS_MAX = 1 << 22
NARROW = 64


@njit(cache=True)
def dense_backward(dx, dw, db, dout, x, w, need_dx):
    """dx (if need_dx), dw and db from dout.

    dout is (N, M), x is (N, D), w is (D, M); dx will be (N, D), dw (D, M) and
    db (M,), all overwritten (dx untouched if not need_dx).
    dw = xᵀ · dout is a dense layer's forward pass, with xᵀ as its input and dout as its weights: dense_forward's tiles.
    dx = dout · wᵀ has the sums along rows of w: dense_dx's tiles.
    A small or narrow layer (fewer than ROWS_MAX multiply-adds, or M < NARROW) takes dense_backward_rows:
    one parallel loop instead of three, no transposed copy, and no tiles along an m too short to fill them.
    """
    N, D = x.shape
    M = w.shape[1]
    if N * D * M < ROWS_MAX or M < NARROW:
        dense_backward_rows(dx, dw, dout, x, w, need_dx)
    else:
        xt = np.empty((D, N), x.dtype)
        transpose(xt, x)
        dense_forward(dw, xt, dout, np.zeros(M, x.dtype))
        if need_dx:
            dense_dx(dx, dout, w)
    column_sums(db, dout)


@njit(cache=True, parallel=True)
def column_sums(out, a):
    """out[m] = sum over n of a[n, m], the rows added in order n = 0, 1, ...

    a is (N, M), out (M,). Threads take blocks of PANEL columns; each adds the rows of its block.
    A small a is summed on one thread, in the same order.
    """
    N, M = a.shape
    zero = a.dtype.type(0)
    if N * M < PARALLEL_MIN:  # a small one on one thread: waking the others costs more
        for m in range(M):
            out[m] = zero
        for n in range(N):
            for m in range(M):
                out[m] += a[n, m]
        return
    for block in prange((M + PANEL - 1) // PANEL):
        u0, u1 = np.uint64(block * PANEL), np.uint64(min(M, (block + 1) * PANEL))
        for m in range(u0, u1):
            out[m] = zero
        for n in range(N):
            for m in range(u0, u1):
                out[m] += a[n, m]
