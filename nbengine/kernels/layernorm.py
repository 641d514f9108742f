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
The rows are cut into P contiguous parts; part g sums its own rows into
dgamma_parts[g] and dbeta_parts[g], which the caller adds up in order with
nbengine.kernels.conv2d.sum_parts, so the result does not depend on the thread count.

A row of equal values has var 0: rstd = 1/√eps stays finite (eps > 0), xhat is
(close to) 0 and out is beta.

Threads: rows (forward) or parts of rows (backward) in parallel; each thread
writes only its own rows and its own part.
"""

import numpy as np
from numba import njit, prange


# fastmath "reassoc" lets the sums over c run in SIMD lanes; their order is fixed
# by the compiled code, so runs repeat bit for bit.
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
