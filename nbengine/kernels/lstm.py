"""The LSTM over a whole sequence: four gates from one affine, cut by a slice.

N = batch, T = time steps, D = input size, H = hidden size; indexed n, t, d,
i (the previous step's hidden units), j (this step's), and k over the 4H
columns of the fused affine.
Layout: xs (N, T, D), hs and cs (N, T, H), gates (N, T, 4H), h0 and c0 (N, H),
Wx (D, 4H), Wh (H, 4H), b (4H,).

Forward, for t = 0, 1, ..., T-1 (h_{-1} = h0 and c_{-1} = c0, the state carried in):
    A = x_t·Wx + h_{t-1}·Wh + b              one affine, 4H columns
    f = sigmoid(A[:, 0:H])                    forget gate: how much of c to keep
    g = tanh(A[:, H:2H])                      the new candidate memory
    i = sigmoid(A[:, 2H:3H])                  input gate: how much of g to write
    o = sigmoid(A[:, 3H:4H])                  output gate: how much of c to show
    c_t = f * c_{t-1} + g * i
    h_t = o * tanh(c_t)
(* is element by element.) The gates after their activations are kept in
``gates`` (N, T, 4H), in the same order f, g, i, o, for the backward pass.

Backward through time, given dhs[t] from above and, from step t+1, dh_next and
dc_next:
    dh   = dhs[t] + dh_next
    ds   = dc_next + dh * o * (1 - tanh(c_t)^2)       dL/dc_t in full
    df   = ds * c_{t-1} * f(1 - f)     dg = ds * i * (1 - g^2)
    di   = ds * g * i(1 - i)           do = dh * tanh(c_t) * o(1 - o)
    dA   = [df, dg, di, do]            the slice, undone
    db  += dA;  dWx += x_tᵀ dA;  dWh += h_{t-1}ᵀ dA
    dx_t = dA · Wxᵀ;  dh_next = dA · Whᵀ;  dc_next = ds * f
dh, ds and dA of every step are handed back (dh_total, dc_total, dgates), so a
trace shows the numbers the loops computed.
The cell path c_{t-1} → c_t multiplies the gradient only by f, not by a weight
matrix and a tanh', which is why it fades far less over many steps than an RNN's.

Threads: as rnn.py, samples in parallel forward; the naive backward pass sums the
weight gradients over the samples in order, the fast one per part (P parts, fixed
by the caller) and the parts are added in order.
"""

import numpy as np
from numba import njit, prange

from nbengine.kernels.exp import POW2, sigmoid32, tanh32


@njit(cache=True)
def _sigmoid(a, one):
    """1 / (1 + e^-a), without overflow for large negative a."""
    if a >= 0:
        return one / (one + np.exp(-a))
    e = np.exp(a)
    return e / (one + e)


@njit(cache=True, parallel=True)
def lstm_forward_naive(hs, cs, gates, h0, c0, xs, Wx, Wh, b):
    """hs, cs = hidden and cell states after every step; gates = f, g, i, o.

    xs is (N, T, D), h0 and c0 are (N, H), Wx is (D, 4H), Wh is (H, 4H), b is (4H,);
    hs and cs will be (N, T, H), gates (N, T, 4H).
    """
    N, T, D = xs.shape
    H = Wh.shape[0]
    one = xs.dtype.type(1)
    for n in prange(N):
        for t in range(T):
            h_prev = h0[n] if t == 0 else hs[n, t - 1]
            c_prev = c0[n] if t == 0 else cs[n, t - 1]
            A = gates[n, t]  # the affine is written here, then each slice is activated in place
            for k in range(4 * H):
                a = b[k]
                for d in range(D):
                    a += xs[n, t, d] * Wx[d, k]
                for i in range(H):
                    a += h_prev[i] * Wh[i, k]
                A[k] = a
            f, g, i_gate, o = A[0:H], A[H : 2 * H], A[2 * H : 3 * H], A[3 * H : 4 * H]  # the slice
            for j in range(H):
                f[j] = _sigmoid(f[j], one)
                g[j] = np.tanh(g[j])
                i_gate[j] = _sigmoid(i_gate[j], one)
                o[j] = _sigmoid(o[j], one)
            for j in range(H):
                cs[n, t, j] = f[j] * c_prev[j] + g[j] * i_gate[j]
            for j in range(H):
                hs[n, t, j] = o[j] * np.tanh(cs[n, t, j])


@njit(cache=True)
def lstm_backward_naive(
    dxs, dWx, dWh, db, dh0, dc0, dh_total, dc_total, dgates, dhs, hs, cs, gates, h0, c0, xs, Wx, Wh
):
    """Backpropagation through time over the whole sequence, line by line as above.

    dhs is (N, T, H) (dL/dh_t from above); hs, cs (N, T, H) and gates (N, T, 4H)
    from the forward pass; h0, c0 (N, H); xs (N, T, D). Written (overwritten):
    dxs (N, T, D), dh0 and dc0 (N, H), dh_total (N, T, H) = dL/dh_t in full,
    dc_total (N, T, H) = ds = dL/dc_t in full, dgates (N, T, 4H) = dA of every step,
    and the weight gradients dWx (D, 4H), dWh (H, 4H), db (4H,), summed over the
    samples in order n = 0, 1, ...
    """
    N, T, D = xs.shape
    H = Wh.shape[0]
    zero = xs.dtype.type(0)
    one = xs.dtype.type(1)
    dWx[:] = zero
    dWh[:] = zero
    db[:] = zero
    dh_next = np.empty(H, xs.dtype)
    dc_next = np.empty(H, xs.dtype)
    for n in range(N):
        dh_next[:] = zero  # nothing flows back from beyond the last step
        dc_next[:] = zero
        for t in range(T - 1, -1, -1):  # for t in reversed(range(T))
            h_prev = h0[n] if t == 0 else hs[n, t - 1]
            c_prev = c0[n] if t == 0 else cs[n, t - 1]
            A = gates[n, t]
            f, g, i_gate, o = A[0:H], A[H : 2 * H], A[2 * H : 3 * H], A[3 * H : 4 * H]
            ds = dc_total[n, t]  # dL/dc_t in full, and dA, are kept for every step
            dA = dgates[n, t]
            # dA = [df, dg, di, do]
            df, dg, di, do = dA[0:H], dA[H : 2 * H], dA[2 * H : 3 * H], dA[3 * H : 4 * H]
            for j in range(H):
                dh = dhs[n, t, j] + dh_next[j]
                dh_total[n, t, j] = dh
                tanh_c = np.tanh(cs[n, t, j])
                ds[j] = dc_next[j] + dh * o[j] * (one - tanh_c * tanh_c)
                df[j] = ds[j] * c_prev[j] * f[j] * (one - f[j])
                dg[j] = ds[j] * i_gate[j] * (one - g[j] * g[j])
                di[j] = ds[j] * g[j] * i_gate[j] * (one - i_gate[j])
                do[j] = dh * tanh_c * o[j] * (one - o[j])
            for k in range(4 * H):
                db[k] += dA[k]
            for d in range(D):
                for k in range(4 * H):
                    dWx[d, k] += xs[n, t, d] * dA[k]
            for i in range(H):
                for k in range(4 * H):
                    dWh[i, k] += h_prev[i] * dA[k]
            for d in range(D):
                acc = zero
                for k in range(4 * H):
                    acc += dA[k] * Wx[d, k]
                dxs[n, t, d] = acc
            for i in range(H):
                acc = zero
                for k in range(4 * H):
                    acc += dA[k] * Wh[i, k]
                dh_next[i] = acc
            for j in range(H):
                dc_next[j] = ds[j] * f[j]
        for i in range(H):
            dh0[n, i] = dh_next[i]
            dc0[n, i] = dc_next[i]


# The same sums, reordered for speed (each trick in one line).


@njit(cache=True, parallel=True)
def lstm_forward(hs, cs, gates, h0, c0, xs, Wx, Wh, b):
    """hs, cs = hidden and cell states after every step; gates = f, g, i, o.

    xs is (N, T, D), h0 and c0 are (N, H), Wx is (D, 4H), Wh is (H, 4H), b is (4H,);
    hs and cs will be (N, T, H), gates (N, T, 4H).

    Loop order: one x_t[d] (or h_{t-1}[i]) is loaded once and added into every A[k]
    along a row of Wx (or Wh), so the inner loop runs along memory, where the compiler
    can use SIMD lanes; each A[k] still adds its terms in the naive kernel's order.
    float32 takes the sigmoid and tanh from exp32 (exp.py), which vectorise, where np.exp and
    np.tanh call the C library one value at a time; float64 keeps them.
    """
    N, T, D = xs.shape
    H = Wh.shape[0]
    one = xs.dtype.type(1)
    f32 = xs.itemsize == 4
    for n in prange(N):
        for t in range(T):
            h_prev = h0[n] if t == 0 else hs[n, t - 1]
            c_prev = c0[n] if t == 0 else cs[n, t - 1]
            A = gates[n, t]  # the affine is written here, then each slice is activated in place
            for k in range(4 * H):
                A[k] = b[k]
            for d in range(D):
                xv = xs[n, t, d]
                for k in range(4 * H):
                    A[k] += xv * Wx[d, k]
            for i in range(H):
                hv = h_prev[i]
                for k in range(4 * H):
                    A[k] += hv * Wh[i, k]
            f, g, i_gate, o = A[0:H], A[H : 2 * H], A[2 * H : 3 * H], A[3 * H : 4 * H]  # the slice
            for j in range(H):
                f[j] = sigmoid32(f[j], POW2) if f32 else _sigmoid(f[j], one)
                g[j] = tanh32(g[j], POW2) if f32 else np.tanh(g[j])
                i_gate[j] = sigmoid32(i_gate[j], POW2) if f32 else _sigmoid(i_gate[j], one)
                o[j] = sigmoid32(o[j], POW2) if f32 else _sigmoid(o[j], one)
                cs[n, t, j] = f[j] * c_prev[j] + g[j] * i_gate[j]
                hs[n, t, j] = o[j] * (tanh32(cs[n, t, j], POW2) if f32 else np.tanh(cs[n, t, j]))


@njit(cache=True, parallel=True, fastmath={"reassoc"})
def lstm_backward(
    dxs,
    dWx_parts,
    dWh_parts,
    db_parts,
    dh0,
    dc0,
    dh_total,
    dc_total,
    dgates,
    dhs,
    hs,
    cs,
    gates,
    h0,
    c0,
    xs,
    Wx,
    Wh,
):
    """Backpropagation through time over the whole sequence.

    dhs is (N, T, H) (dL/dh_t from above); hs, cs (N, T, H) and gates (N, T, 4H)
    from the forward pass; h0, c0 (N, H); xs (N, T, D). Written (overwritten):
    dxs (N, T, D), dh0 and dc0 (N, H), dh_total (N, T, H) = dL/dh_t in full,
    dc_total (N, T, H) = ds = dL/dc_t in full, dgates (N, T, 4H) = dA of every step, and
    per-part weight gradients dWx_parts (P, D, 4H), dWh_parts (P, H, 4H),
    db_parts (P, 4H) (add them up with conv2d.sum_parts).

    dc_next = ds * f is written as soon as ds is known: no second pass over j.
    One pass over a row of Wx (or Wh) both adds x_t[d] dA into dWx's row and sums
    dx_t[d]: each row and dA[k] are loaded once for the two.
    fastmath "reassoc": the sums over k for dx and dh_next run in SIMD lanes; their
    order is fixed by the compiled code, so runs repeat bit for bit.
    Per-part weight gradients: threads take whole parts of the batch and never write
    the same element, and the parts are added in a fixed order.
    float32 takes tanh(c) from exp32 (exp.tanh32), as the forward pass does.
    """
    N, T, D = xs.shape
    H = Wh.shape[0]
    P = dWx_parts.shape[0]
    zero = xs.dtype.type(0)
    one = xs.dtype.type(1)
    f32 = xs.itemsize == 4
    for g in prange(P):
        dWx_parts[g] = zero
        dWh_parts[g] = zero
        db_parts[g] = zero
        dh_next = np.empty(H, xs.dtype)
        dc_next = np.empty(H, xs.dtype)
        for n in range(g * N // P, (g + 1) * N // P):
            dh_next[:] = zero
            dc_next[:] = zero
            for t in range(T - 1, -1, -1):  # for t in reversed(range(T))
                h_prev = h0[n] if t == 0 else hs[n, t - 1]
                c_prev = c0[n] if t == 0 else cs[n, t - 1]
                A = gates[n, t]
                f, gg, i_gate, o = A[0:H], A[H : 2 * H], A[2 * H : 3 * H], A[3 * H : 4 * H]
                dA = dgates[n, t]
                df, dg, di, do = dA[0:H], dA[H : 2 * H], dA[2 * H : 3 * H], dA[3 * H : 4 * H]
                for j in range(H):
                    dh = dhs[n, t, j] + dh_next[j]
                    dh_total[n, t, j] = dh
                    tanh_c = tanh32(cs[n, t, j], POW2) if f32 else np.tanh(cs[n, t, j])
                    ds = dc_next[j] + dh * o[j] * (one - tanh_c * tanh_c)
                    dc_total[n, t, j] = ds
                    df[j] = ds * c_prev[j] * f[j] * (one - f[j])
                    dg[j] = ds * i_gate[j] * (one - gg[j] * gg[j])
                    di[j] = ds * gg[j] * i_gate[j] * (one - i_gate[j])
                    do[j] = dh * tanh_c * o[j] * (one - o[j])
                    dc_next[j] = ds * f[j]
                for k in range(4 * H):
                    db_parts[g, k] += dA[k]
                for d in range(D):
                    xv = xs[n, t, d]
                    acc = zero
                    for k in range(4 * H):
                        dWx_parts[g, d, k] += xv * dA[k]
                        acc += dA[k] * Wx[d, k]
                    dxs[n, t, d] = acc
                for i in range(H):
                    hv = h_prev[i]
                    acc = zero
                    for k in range(4 * H):
                        dWh_parts[g, i, k] += hv * dA[k]
                        acc += dA[k] * Wh[i, k]
                    dh_next[i] = acc
            for i in range(H):
                dh0[n, i] = dh_next[i]
                dc0[n, i] = dc_next[i]
