"""Layer normalisation over the last axis, as in a transformer block.

R = rows (batch × positions, flattened by the caller), C = features; indexed
r, c. P = parts for the parameter gradients, indexed g (fixed by the caller).

Forward, for every row r:
    mean[r]    = (1/C) Σ_c x[r, c]
    var[r]     = (1/C) Σ_c (x[r, c] - mean[r])²      (two passes: no cancellation)
    rstd[r]    = 1 / √(var[r] + eps)
    xhat[r, c] = (x[r, c] - mean[r]) · rstd[r]
    out[r, c]  = gamma[c] · xhat[r, c] + beta[c]
mean and rstd are saved for the backward pass (xhat is recomputed from them).

Backward, given dout (R, C):
    dxhat[r, c] = dout[r, c] · gamma[c]
    dx[r, c]    = rstd[r] · (dxhat[r, c] - (1/C) Σ_c2 dxhat[r, c2]
                             - xhat[r, c] · (1/C) Σ_c2 dxhat[r, c2] xhat[r, c2])
    dgamma[c]   = Σ_r dout[r, c] xhat[r, c]
    dbeta[c]    = Σ_r dout[r, c]
layernorm_backward_naive writes dgamma and dbeta (C,) whole, summed over r in
order. layernorm_backward cuts the rows into P contiguous parts; part g sums its own
rows into dgamma_parts[g] and dbeta_parts[g] (P, C), which the caller adds up in
order with nbengine.kernels.conv2d.sum_parts, so the result does not depend on the
thread count.

A row of equal values has var 0: rstd = 1/√eps stays finite (eps > 0), xhat is
(close to) 0 and out is beta.

Threads: rows (forward, and dx) or parts of rows (the fast backward) in parallel;
each thread writes only its own rows and its own part.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, error_model="numpy")
def layernorm_forward_naive(out, mean, rstd, x, gamma, beta, eps):
    """x is (R, C), gamma and beta (C,), eps a small positive number.
    Written: out (R, C), mean (R,), rstd (R,)."""
    R, C = x.shape
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    ep = x.dtype.type(eps)
    for r in prange(R):
        # mean[r] = (1/C) Σ_c x[r, c]
        acc = zero
        for c in range(C):
            acc += x[r, c]
        m = acc / x.dtype.type(C)
        # var[r] = (1/C) Σ_c (x[r, c] - mean[r])²
        acc = zero
        for c in range(C):
            acc += (x[r, c] - m) * (x[r, c] - m)
        var = acc / x.dtype.type(C)
        # rstd[r] = 1 / √(var[r] + eps)
        s = one / np.sqrt(var + ep)
        mean[r] = m
        rstd[r] = s
        # out[r, c] = gamma[c] · xhat[r, c] + beta[c], xhat[r, c] = (x[r, c] - mean[r]) · rstd[r]
        for c in range(C):
            out[r, c] = gamma[c] * ((x[r, c] - m) * s) + beta[c]


@njit(cache=True, parallel=True, error_model="numpy")
def layernorm_backward_naive(dx, dgamma, dbeta, dout, x, mean, rstd, gamma):
    """dout and x are (R, C); mean, rstd (R,) from the forward pass; gamma (C,).
    Written (overwritten): dx (R, C), dgamma and dbeta (C,)."""
    R, C = x.shape
    zero = x.dtype.type(0)
    inv_c = x.dtype.type(1) / x.dtype.type(C)
    for r in prange(R):
        m = mean[r]
        s = rstd[r]
        # the row's (1/C) Σ_c2 dxhat[r, c2] and (1/C) Σ_c2 dxhat[r, c2] xhat[r, c2],
        # with dxhat[r, c] = dout[r, c] · gamma[c]
        sum1 = zero
        sum2 = zero
        for c in range(C):
            dxhat = dout[r, c] * gamma[c]
            xhat = (x[r, c] - m) * s
            sum1 += dxhat
            sum2 += dxhat * xhat
        mean1 = sum1 * inv_c
        mean2 = sum2 * inv_c
        # dx[r, c] = rstd[r] · (dxhat[r, c] - mean1 - xhat[r, c] · mean2)
        for c in range(C):
            dxhat = dout[r, c] * gamma[c]
            xhat = (x[r, c] - m) * s
            dx[r, c] = s * (dxhat - mean1 - xhat * mean2)
    # dgamma[c] = Σ_r dout[r, c] xhat[r, c] and dbeta[c] = Σ_r dout[r, c]: sums over
    # every row, so one thread adds them in r order (the same bits on any thread count)
    for c in range(C):
        dg = zero
        db = zero
        for r in range(R):
            xhat = (x[r, c] - mean[r]) * rstd[r]
            dg += dout[r, c] * xhat
            db += dout[r, c]
        dgamma[c] = dg
        dbeta[c] = db


# The same sums, reordered for speed (each trick in one line):
# - the backward's rows go in P parts on P threads, each summing dgamma and dbeta into its own row of *_parts;
# - fastmath "reassoc" lets the sums over c run in SIMD lanes (order fixed by the compiled code).
@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _row_mean_rstd(xr, eps):
    """(mean, rstd) of one row xr (C,), in its own dtype."""
    C = xr.shape[0]
    zero = xr.dtype.type(0)
    total = zero
    for c in range(C):
        total += xr[c]
    mean = total / xr.dtype.type(C)
    sq = zero
    for c in range(C):
        d = xr[c] - mean
        sq += d * d
    var = sq / xr.dtype.type(C)
    return mean, xr.dtype.type(1) / np.sqrt(var + eps)


@njit(cache=True, parallel=True, error_model="numpy")
def layernorm_forward(out, mean, rstd, x, gamma, beta, eps):
    """x is (R, C), gamma and beta (C,), eps a small positive number.
    Written: out (R, C), mean (R,), rstd (R,)."""
    R, C = x.shape
    ep = x.dtype.type(eps)
    for r in prange(R):
        m, s = _row_mean_rstd(x[r], ep)
        mean[r] = m
        rstd[r] = s
        for c in range(C):
            out[r, c] = gamma[c] * ((x[r, c] - m) * s) + beta[c]


# fastmath "reassoc" for the two sums over c.
@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _row_dxhat_sums(doutr, xr, m, s, gamma):
    """(Σ_c dxhat[c], Σ_c dxhat[c] xhat[c]) for one row."""
    C = xr.shape[0]
    zero = xr.dtype.type(0)
    s1 = zero
    s2 = zero
    for c in range(C):
        dxh = doutr[c] * gamma[c]
        s1 += dxh
        s2 += dxh * ((xr[c] - m) * s)
    return s1, s2


@njit(cache=True, parallel=True, error_model="numpy")
def layernorm_backward(dx, dgamma_parts, dbeta_parts, dout, x, mean, rstd, gamma):
    """dout and x are (R, C); mean, rstd (R,) from the forward pass; gamma (C,).
    Written (overwritten): dx (R, C), dgamma_parts and dbeta_parts (P, C), to be
    added up over g with sum_parts."""
    R, C = x.shape
    P = dgamma_parts.shape[0]
    zero = x.dtype.type(0)
    inv_c = x.dtype.type(1) / x.dtype.type(C)
    for g in prange(P):
        dgamma_parts[g] = zero
        dbeta_parts[g] = zero
        for r in range(g * R // P, (g + 1) * R // P):  # part g: a contiguous run of rows
            m = mean[r]
            s = rstd[r]
            s1, s2 = _row_dxhat_sums(dout[r], x[r], m, s, gamma)
            mean1 = s1 * inv_c
            mean2 = s2 * inv_c
            for c in range(C):
                xh = (x[r, c] - m) * s
                dy = dout[r, c]
                dx[r, c] = s * (dy * gamma[c] - mean1 - xh * mean2)
                dgamma_parts[g, c] += dy * xh
                dbeta_parts[g, c] += dy
