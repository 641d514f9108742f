"""Scaled dot-product attention: Q, K, V; QKᵀ; ÷√d_k; softmax per row; ×V.

N = batch, T = query positions, S = key positions, D = d_k (query and key size),
E = value size; indexed n, t, s, d, e. scale is 1/√D as a rule (the caller picks).

Forward, for every sample n and query position t:
    scores[s]     = Σ_d q[n, t, d] (scale · k[n, s, d])
    weights[n, t] = softmax(scores) (stably: the row max is subtracted first)
    out[n, t, e]  = Σ_s weights[n, t, s] v[n, s, e]
With causal = True (T == S), position t attends only to s ≤ t: the other scores
are never exponentiated and their weights are exactly 0 (rows go in blocks of
three: the first rows of a block compute the scores up to the block's last key,
then set those weights to 0).

Backward, given dout (N, T, E):
    dv[n, s, e]  = Σ_t weights[n, t, s] dout[n, t, e]
    dW[t, s]     = Σ_e dout[n, t, e] v[n, s, e]
    dscores[t,s] = W[t, s] (dW[t, s] - Σ_s2 W[t, s2] dW[t, s2])    softmax backward, per row
    dq[n, t, d]  = scale · Σ_s dscores[t, s] k[n, s, d]
    dk[n, s, d]  = scale · Σ_t dscores[t, s] q[n, t, d]
Entries with weight exactly 0 (the causal mask, or an e^x that underflowed) add
nothing to any sum, so the backward pass needs no mask argument: it stops each
block of rows after the last key any of them gives a weight, and starts each
block of keys at the first query giving any of them a weight.

Threads: samples in parallel; each thread writes only its own sample's outputs,
in an order that does not depend on the thread count.

How the loops run. Every product here has the shape c[i, :] += Σ_x a[i, x] b[x, :]
with the innermost loop along a contiguous row of b and c (``_add_rows``): three
rows of c at once, four x at a time, so each b[x, :] read serves three rows and
each c[i, :] is loaded and stored once per four x (12 multiply-adds from 7 loads
and 3 stores; two rows ran 16 % slower, four spill registers on AVX2). The score product Σ_d q[t, d] k[s, d]
gets that shape from kᵀ (copied per sample, with the scale folded in), the
backward's dW from vᵀ; dk and dv read a column of dscores and of the weights
(``a`` transposed). With the causal mask, rows t0 to t0 + 2 stop at key t0 + 2,
and dk, dv rows s0 to s0 + 2 start at query s0; the few masked entries inside such
a block have weight exactly 0 and add nothing.

Measured at N 32, T = S 128, D = E 64, float32, forward + backward, the earlier
kernel (one dot product per score and per dW entry, rows of v, k, q and dout
accumulated one s at a time) against this one, in alternating rounds in one
process, medians, on one thread (the other core was busy with other work):
17.8 → 10.5 ms and 14.2 → 8.3 ms in two runs (forward 6.4 → 3.7 and
4.8 → 2.7, backward 11.5 → 6.9 and 9.3 → 5.6); causal 8.7 → 6.3 and 9.7 → 6.9.
On two idle threads the earlier kernel took 6.6 ms (forward 1.8, backward 4.7)
against PyTorch's 2.9 ms; ``nbengine bench attention`` compares them in one run.
Three rows at a time instead of two (one thread, two runs): 6.4 → 5.4 and
7.0 → 5.7 ms; causal 4.2 → 3.9 and 4.5 → 3.9 ms. On two threads with the machine
idle, the earlier kernel against this one: 6.0 → 2.95 ms and 5.9 → 2.96 ms
(forward 2.0 → 1.1, backward 4.0 → 1.8); causal 3.2 → 2.0 ms. In the same
minutes ``nbengine bench attention`` had PyTorch at 3.0–3.1 ms: 1.08–1.12× its speed.
"""

import numpy as np
from numba import njit, prange

from nbengine.kernels.exp import POW2, exp32

# fastmath "reassoc" lets sums run in SIMD lanes and "contract" fuse a·b + c; the
# order is fixed by the compiled code, so runs repeat bit for bit.
FASTMATH = {"reassoc", "contract"}
ROWS = 3  # rows of an output computed together (see "How the loops run")


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _add_rows(c0, c1, c2, a, i, b, lo, hi, a_transposed):
    """c0[:] += Σ_x A[i, x] b[x, :], c1[:] += Σ_x A[i + 1, x] b[x, :], c2[:] += Σ_x A[i + 2, x] b[x, :],
    x from lo to hi, where A is a, or aᵀ if a_transposed. c0, c1, c2 are rows of length J;
    b is (X, J2) with J2 ≥ J (its first J columns are used)."""
    J = c0.shape[0]
    x = lo
    while x + 4 <= hi:  # four x at a time: each c[j] loaded and stored once per four
        if a_transposed:
            p0, p1, p2, p3 = a[x, i], a[x + 1, i], a[x + 2, i], a[x + 3, i]
            q0, q1, q2, q3 = a[x, i + 1], a[x + 1, i + 1], a[x + 2, i + 1], a[x + 3, i + 1]
            r0, r1, r2, r3 = a[x, i + 2], a[x + 1, i + 2], a[x + 2, i + 2], a[x + 3, i + 2]
        else:
            p0, p1, p2, p3 = a[i, x], a[i, x + 1], a[i, x + 2], a[i, x + 3]
            q0, q1, q2, q3 = a[i + 1, x], a[i + 1, x + 1], a[i + 1, x + 2], a[i + 1, x + 3]
            r0, r1, r2, r3 = a[i + 2, x], a[i + 2, x + 1], a[i + 2, x + 2], a[i + 2, x + 3]
        for j in range(J):
            b0, b1, b2, b3 = b[x, j], b[x + 1, j], b[x + 2, j], b[x + 3, j]
            c0[j] += p0 * b0 + p1 * b1 + p2 * b2 + p3 * b3
            c1[j] += q0 * b0 + q1 * b1 + q2 * b2 + q3 * b3
            c2[j] += r0 * b0 + r1 * b1 + r2 * b2 + r3 * b3
        x += 4
    while x < hi:
        if a_transposed:
            p0, q0, r0 = a[x, i], a[x, i + 1], a[x, i + 2]
        else:
            p0, q0, r0 = a[i, x], a[i + 1, x], a[i + 2, x]
        for j in range(J):
            c0[j] += p0 * b[x, j]
            c1[j] += q0 * b[x, j]
            c2[j] += r0 * b[x, j]
        x += 1


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _add_row(c, a, i, b, lo, hi, a_transposed):
    """c[:] += Σ_x A[i, x] b[x, :], x from lo to hi: ``_add_rows`` for one row."""
    J = c.shape[0]
    x = lo
    while x + 4 <= hi:
        if a_transposed:
            p0, p1, p2, p3 = a[x, i], a[x + 1, i], a[x + 2, i], a[x + 3, i]
        else:
            p0, p1, p2, p3 = a[i, x], a[i, x + 1], a[i, x + 2], a[i, x + 3]
        for j in range(J):
            c[j] += p0 * b[x, j] + p1 * b[x + 1, j] + p2 * b[x + 2, j] + p3 * b[x + 3, j]
        x += 4
    while x < hi:
        p0 = a[x, i] if a_transposed else a[i, x]
        for j in range(J):
            c[j] += p0 * b[x, j]
        x += 1


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _softmax_row(w, smax):
    """w[s] = softmax of the scores w[s] over s < smax, in place; w[s] = 0 for s ≥ smax."""
    S = w.shape[0]
    zero = w.dtype.type(0)
    w_max = w[0]
    for s in range(1, smax):
        if w[s] > w_max:
            w_max = w[s]
    total = zero
    if w.itemsize == 4:  # float32: the vectorising exp (see exp.py); float64 keeps np.exp
        for s in range(smax):
            w[s] = exp32(w[s] - w_max, POW2)
            total += w[s]
    else:
        for s in range(smax):
            w[s] = np.exp(w[s] - w_max)
            total += w[s]
    for s in range(smax):
        w[s] /= total
    for s in range(smax, S):
        w[s] = zero


@njit(cache=True, parallel=True, error_model="numpy")
def attention_forward(out, weights, q, k, v, scale, causal):
    """q is (N, T, D), k (N, S, D), v (N, S, E); scale a number, causal a bool
    (then T == S). Written: weights (N, T, S), each row summing to 1, and out (N, T, E)."""
    N, T, D = q.shape
    S = k.shape[1]
    sc = q.dtype.type(scale)
    zero = q.dtype.type(0)
    for n in prange(N):
        kT = np.empty((D, S), q.dtype)  # kT[d, s] = scale · k[n, s, d]
        for s in range(S):
            for d in range(D):
                kT[d, s] = sc * k[n, s, d]
        w = weights[n]
        for t0 in range(0, T, ROWS):  # rows t0 ≤ t < t1
            t1 = min(t0 + ROWS, T)
            hi = min(t1, S) if causal else S  # keys any of these rows may see
            # scores[t, s] = Σ_d q[n, t, d] · scale · k[n, s, d], for s < hi
            for t in range(t0, t1):
                w[t, :hi] = zero
            if t1 - t0 == ROWS:
                _add_rows(w[t0, :hi], w[t0 + 1, :hi], w[t0 + 2, :hi], q[n], t0, kT, 0, D, False)
            else:
                for t in range(t0, t1):
                    _add_row(w[t, :hi], q[n], t, kT, 0, D, False)
            # weights = softmax(scores) row by row; out[n, t, e] = Σ_s weights[t, s] v[n, s, e]
            for t in range(t0, t1):
                _softmax_row(w[t], t + 1 if causal else S)
                out[n, t] = zero
            if t1 - t0 == ROWS:
                _add_rows(out[n, t0], out[n, t0 + 1], out[n, t0 + 2], w, t0, v[n], 0, hi, False)
            else:
                for t in range(t0, t1):
                    _add_row(out[n, t], w, t, v[n], 0, hi, False)


@njit(cache=True, parallel=True, error_model="numpy", fastmath={"reassoc"})
def attention_backward(dq, dk, dv, dout, weights, q, k, v, scale):
    """dout is (N, T, E); weights (N, T, S) from the forward pass; q, k, v as there.
    Written (overwritten): dq (N, T, D), dk (N, S, D), dv (N, S, E)."""
    N, T, D = q.shape
    S = k.shape[1]
    E = v.shape[2]
    sc = q.dtype.type(scale)
    zero = q.dtype.type(0)
    for n in prange(N):
        w = weights[n]
        vT = np.empty((E, S), q.dtype)  # vT[e, s] = v[n, s, e]
        for s in range(S):
            for e in range(E):
                vT[e, s] = v[n, s, e]
        ds = np.empty((T, S), q.dtype)  # dW, then dscores, of sample n
        for t0 in range(0, T, ROWS):  # rows t0 ≤ t < t1
            t1 = min(t0 + ROWS, T)
            # the keys any of these rows gives a weight: past them every weight is 0
            hi = 0
            for t in range(t0, t1):
                for s in range(S - 1, hi - 1, -1):
                    if w[t, s] != zero:
                        hi = s + 1
                        break
            # dW[t, s] = Σ_e dout[n, t, e] v[n, s, e]
            for t in range(t0, t1):
                ds[t] = zero
            if t1 - t0 == ROWS:
                _add_rows(ds[t0, :hi], ds[t0 + 1, :hi], ds[t0 + 2, :hi], dout[n], t0, vT, 0, E, False)
            else:
                for t in range(t0, t1):
                    _add_row(ds[t, :hi], dout[n], t, vT, 0, E, False)
            # dscores[t, s] = W[t, s] (dW[t, s] - Σ_s2 W[t, s2] dW[t, s2]) · scale, 0 where W is 0
            for t in range(t0, t1):
                dot = zero
                for s in range(hi):
                    if w[t, s] != zero:
                        dot += w[t, s] * ds[t, s]
                for s in range(hi):
                    ds[t, s] = w[t, s] * (ds[t, s] - dot) * sc if w[t, s] != zero else zero
                dq[n, t] = zero
            # dq[n, t, d] = Σ_s dscores[t, s] k[n, s, d]
            if t1 - t0 == ROWS:
                _add_rows(dq[n, t0], dq[n, t0 + 1], dq[n, t0 + 2], ds, t0, k[n], 0, hi, False)
            else:
                for t in range(t0, t1):
                    _add_row(dq[n, t], ds, t, k[n], 0, hi, False)
        # dk[n, s, d] = Σ_t dscores[t, s] q[n, t, d] and dv[n, s, e] = Σ_t W[t, s] dout[n, t, e]:
        # columns of dscores and W, from the first query giving any of these keys a weight
        # (with the causal mask, query s0: the earlier ones do not see these keys)
        for s0 in range(0, S, ROWS):  # keys s0 ≤ s < s1
            s1 = min(s0 + ROWS, S)
            lo = T
            for s in range(s0, s1):
                for t in range(lo):
                    if w[t, s] != zero:
                        lo = t
                        break
            for s in range(s0, s1):
                dk[n, s] = zero
                dv[n, s] = zero
            if s1 - s0 == ROWS:
                _add_rows(dk[n, s0], dk[n, s0 + 1], dk[n, s0 + 2], ds, s0, q[n], lo, T, True)
                _add_rows(dv[n, s0], dv[n, s0 + 1], dv[n, s0 + 2], w, s0, dout[n], lo, T, True)
            else:
                for s in range(s0, s1):
                    _add_row(dk[n, s], ds, s, q[n], lo, T, True)
                    _add_row(dv[n, s], w, s, dout[n], lo, T, True)
