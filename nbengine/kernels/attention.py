"""Scaled dot-product attention: Q, K, V; QKᵀ; ÷√d_k; softmax per row; ×V.

N = batch, T = query positions, S = key positions, D = d_k (query and key size),
E = value size; indexed n, t, s, d, e. q is (N, T, D), k (N, S, D), v (N, S, E),
weights (N, T, S), out (N, T, E), all C order. scale is 1/√D as a rule (the caller picks).

Forward, for every sample n and query position t:
    scores[s]        = scale · Σ_d q[n, t, d] k[n, s, d]
    weights[n, t, s] = softmax(scores)[s]  (stably: the row max is subtracted first)
    out[n, t, e]     = Σ_s weights[n, t, s] v[n, s, e]
With causal = True (T == S), position t attends only to s ≤ t: the other scores
are never exponentiated and their weights are exactly 0.

Backward, given dout (N, T, E):
    dv[n, s, e]  = Σ_t weights[n, t, s] dout[n, t, e]
    dW[t, s]     = Σ_e dout[n, t, e] v[n, s, e]
    dscores[t,s] = W[t, s] (dW[t, s] - Σ_s2 W[t, s2] dW[t, s2])    softmax backward, per row
    dq[n, t, d]  = scale · Σ_s dscores[t, s] k[n, s, d]
    dk[n, s, d]  = scale · Σ_t dscores[t, s] q[n, t, d]
Entries with weight exactly 0 (the causal mask, or an e^x that underflowed) add
nothing to any sum, so the backward pass needs no mask argument.

Threads: samples in parallel; each thread writes only its own sample's outputs,
in an order that does not depend on the thread count.
"""

import numpy as np
from numba import njit, prange

from nbengine.kernels.exp import POW2, exp32
from nbengine.kernels.softmax import lanes_max


@njit(cache=True, parallel=True, error_model="numpy")
def attention_forward_naive(out, weights, q, k, v, scale, causal):
    """q is (N, T, D), k (N, S, D), v (N, S, E); scale a number, causal a bool
    (then T == S). Written: weights (N, T, S), each row summing to 1, and out (N, T, E)."""
    N, T, D = q.shape
    S = k.shape[1]
    E = v.shape[2]
    sc = q.dtype.type(scale)
    zero = q.dtype.type(0)
    for n in prange(N):
        scores = np.empty(S, q.dtype)
        for t in range(T):
            seen = t + 1 if causal else S  # query t sees the keys s < seen
            # scores[s] = scale · Σ_d q[n, t, d] k[n, s, d]
            for s in range(seen):
                acc = zero
                for d in range(D):
                    acc += q[n, t, d] * k[n, s, d]
                scores[s] = sc * acc
            # weights[n, t, s] = e^(scores[s] - max) / Σ_s2 e^(scores[s2] - max); 0 past the mask
            top = scores[0]
            for s in range(1, seen):
                if scores[s] > top:
                    top = scores[s]
            total = zero
            for s in range(seen):
                weights[n, t, s] = np.exp(scores[s] - top)
                total += weights[n, t, s]
            for s in range(seen):
                weights[n, t, s] /= total
            for s in range(seen, S):
                weights[n, t, s] = zero
            # out[n, t, e] = Σ_s weights[n, t, s] v[n, s, e] (the masked weights are 0)
            for e in range(E):
                acc = zero
                for s in range(seen):
                    acc += weights[n, t, s] * v[n, s, e]
                out[n, t, e] = acc


@njit(cache=True, parallel=True, error_model="numpy")
def attention_backward_naive(dq, dk, dv, dout, weights, q, k, v, scale):
    """dout is (N, T, E); weights (N, T, S) from the forward pass; q, k, v as there.
    Written (overwritten): dq (N, T, D), dk (N, S, D), dv (N, S, E)."""
    # Every sum runs over all of s or t, as the formulas write it: a weight the
    # forward pass set to exactly 0 (the causal mask, or an e^x that underflowed)
    # makes its dv term and its dscores entry exactly 0, so those add nothing and
    # the mask need not be known here (the fast kernel skips them for speed).
    N, T, D = q.shape
    S = k.shape[1]
    E = v.shape[2]
    sc = q.dtype.type(scale)
    zero = q.dtype.type(0)
    for n in prange(N):
        dW = np.empty((T, S), q.dtype)
        dscores = np.empty((T, S), q.dtype)
        # dv[n, s, e] = Σ_t weights[n, t, s] dout[n, t, e]
        for s in range(S):
            for e in range(E):
                acc = zero
                for t in range(T):
                    acc += weights[n, t, s] * dout[n, t, e]
                dv[n, s, e] = acc
        # dW[t, s] = Σ_e dout[n, t, e] v[n, s, e]
        for t in range(T):
            for s in range(S):
                acc = zero
                for e in range(E):
                    acc += dout[n, t, e] * v[n, s, e]
                dW[t, s] = acc
        # dscores[t, s] = W[t, s] (dW[t, s] - Σ_s2 W[t, s2] dW[t, s2])
        for t in range(T):
            dot = zero
            for s2 in range(S):
                dot += weights[n, t, s2] * dW[t, s2]
            for s in range(S):
                dscores[t, s] = weights[n, t, s] * (dW[t, s] - dot)
        # dq[n, t, d] = scale · Σ_s dscores[t, s] k[n, s, d]
        for t in range(T):
            for d in range(D):
                acc = zero
                for s in range(S):
                    acc += dscores[t, s] * k[n, s, d]
                dq[n, t, d] = sc * acc
        # dk[n, s, d] = scale · Σ_t dscores[t, s] q[n, t, d]
        for s in range(S):
            for d in range(D):
                acc = zero
                for t in range(T):
                    acc += dscores[t, s] * q[n, t, d]
                dk[n, s, d] = sc * acc


# The same sums, reordered for speed (each trick in one line):
# - every product as c[i, :] += Σ_x a[i, x] b[x, :] (_add_rows): the inner loop runs along rows of b and c, in SIMD lanes;
# - three rows of c at once: each b[x, :] loaded serves three rows (two were slower; four spill registers on AVX2);
# - four x at a time: each c[i, :] is loaded and stored once per four x, not once per x;
# - the scores read kᵀ (copied per sample, scale folded in) and dW reads vᵀ, so both products get that shape;
# - dk and dv read columns of dscores and of the weights (a_transposed) instead of copying them;
# - with the causal mask, a block of rows stops at its last key, a block of keys starts at its first query;
# - float32 uses exp32 (exp.py), which vectorises, where np.exp calls the C library one value at a time;
# - a row's maximum is taken in SIMD lanes (softmax.lanes_max);
# - fastmath "reassoc" lets sums run in SIMD lanes and "contract" fuse a·b + c (order fixed by the compiled code).
FASTMATH = {"reassoc", "contract"}
ROWS = 3  # rows of an output computed together


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
    w_max = lanes_max(w, smax)
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
    """attention_forward_naive's sums, reordered as listed above; the same arguments.
    q is (N, T, D), k (N, S, D), v (N, S, E); scale a number, causal a bool
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
    """attention_backward_naive's sums, reordered as listed above; the same arguments.
    dout is (N, T, E); weights (N, T, S) from the forward pass; q, k, v as there.
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
                _add_rows(
                    ds[t0, :hi], ds[t0 + 1, :hi], ds[t0 + 2, :hi], dout[n], t0, vT, 0, E, False
                )
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
