"""Scaled dot-product attention: Q, K, V; QKᵀ; ÷√d_k; softmax per row; ×V.

N = batch, T = query positions, S = key positions, D = d_k (query and key size),
E = value size; indexed n, t, s, d, e. scale is 1/√D as a rule (the caller picks).

Forward, for every sample n and query position t:
    scores[s]     = scale · Σ_d q[n, t, d] k[n, s, d]
    weights[n, t] = softmax(scores) (stably: the row max is subtracted first)
    out[n, t, e]  = Σ_s weights[n, t, s] v[n, s, e]
With causal = True (T == S), position t attends only to s ≤ t: the other scores
are never computed, never exponentiated, and their weights are exactly 0.

Backward, given dout (N, T, E):
    dv[n, s, e]  = Σ_t weights[n, t, s] dout[n, t, e]
    dW[t, s]     = Σ_e dout[n, t, e] v[n, s, e]
    dscores[t,s] = W[t, s] (dW[t, s] - Σ_s2 W[t, s2] dW[t, s2])    softmax backward, per row
    dq[n, t, d]  = scale · Σ_s dscores[t, s] k[n, s, d]
    dk[n, s, d]  = scale · Σ_t dscores[t, s] q[n, t, d]
Entries with weight exactly 0 (the causal mask, or an e^x that underflowed) add
nothing to any sum, so the backward pass skips them and needs no mask argument.

Threads: samples in parallel; each thread writes only its own sample's outputs.
"""

import numpy as np
from numba import njit, prange

from nbengine.kernels.exp import POW2, exp32


# fastmath "reassoc" lets the sums over d and over s run in SIMD lanes; their
# order is fixed by the compiled code, so runs repeat bit for bit.
@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _attention_row(w, q, k, sc, smax):
    """w[s] = softmax over s < smax of sc · q·k[s]; w[s] = 0 for s ≥ smax.

    q is one query (D,), k the sample's keys (S, D), w (S,) the row of weights."""
    S, D = k.shape
    zero = q.dtype.type(0)
    for s in range(smax):
        acc = zero
        for d in range(D):
            acc += q[d] * k[s, d]
        w[s] = acc * sc
    w_max = w[0]
    for s in range(1, smax):
        if w[s] > w_max:
            w_max = w[s]
    if q.itemsize == 4:  # float32: the vectorising exp (see exp.py); float64 keeps np.exp
        for s in range(smax):
            w[s] = exp32(w[s] - w_max, POW2)
    else:
        for s in range(smax):
            w[s] = np.exp(w[s] - w_max)
    total = zero
    for s in range(smax):
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
    E = v.shape[2]
    sc = q.dtype.type(scale)
    zero = q.dtype.type(0)
    for n in prange(N):
        for t in range(T):
            smax = t + 1 if causal else S
            w = weights[n, t]
            _attention_row(w, q[n, t], k[n], sc, smax)
            o = out[n, t]
            for e in range(E):
                o[e] = zero
            for s in range(smax):
                ws = w[s]
                for e in range(E):
                    o[e] += ws * v[n, s, e]


# fastmath "reassoc" for the dot products over e and the softmax's sum over s.
@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _row_dweights(dW, w, dout_t, v):
    """dW[s] = dout_t·v[s] where w[s] != 0; returns Σ_s w[s] dW[s] over those s."""
    S, E = v.shape
    zero = w.dtype.type(0)
    for s in range(S):
        if w[s] != zero:
            acc = zero
            for e in range(E):
                acc += dout_t[e] * v[s, e]
            dW[s] = acc
    dot = zero
    for s in range(S):
        if w[s] != zero:
            dot += w[s] * dW[s]
    return dot


@njit(cache=True, parallel=True, error_model="numpy")
def attention_backward(dq, dk, dv, dout, weights, q, k, v, scale):
    """dout is (N, T, E); weights (N, T, S) from the forward pass; q, k, v as there.
    Written (overwritten): dq (N, T, D), dk (N, S, D), dv (N, S, E)."""
    N, T, D = q.shape
    S = k.shape[1]
    E = v.shape[2]
    sc = q.dtype.type(scale)
    zero = q.dtype.type(0)
    for n in prange(N):
        dq[n] = zero
        dk[n] = zero
        dv[n] = zero
        dW = np.empty(S, q.dtype)
        for t in range(T):
            w = weights[n, t]
            dot = _row_dweights(dW, w, dout[n, t], v[n])
            for s in range(S):
                ws = w[s]
                if ws == zero:
                    continue
                for e in range(E):
                    dv[n, s, e] += ws * dout[n, t, e]
                ds = ws * (dW[s] - dot) * sc
                for d in range(D):
                    dq[n, t, d] += ds * k[n, s, d]
                    dk[n, s, d] += ds * q[n, t, d]
