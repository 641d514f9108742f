"""A simple (Elman) RNN over a whole sequence, and backpropagation through time.

N = batch, T = time steps, D = input size, H = hidden size;
indexed n, t, d, and i, j for hidden units (i for the previous step's h, j for this one's).
Layout: xs (N, T, D), hs (N, T, H), h0 (N, H), Wx (D, H), Wh (H, H), b (H,).

Forward, for t = 0, 1, ..., T-1 (h_{-1} = h0, the state carried in):
    z[j]       = b[j] + sum over d of x_t[d] * Wx[d, j] + sum over i of h_{t-1}[i] * Wh[i, j]
    h_t[j]     = tanh(z[j])
In matrix form h_t = tanh(x_t·Wx + h_{t-1}·Wh + b), the lesson's formula.

Backward through time. dhs[n, t] is what the layers above send to h_t. Going
backwards, h_t also gets dh_next, what step t+1 sent back through Wh:
    for t in reversed(range(T)):
        dh      = dhs[t] + dh_next                (dL/dh_t, in full)
        dz      = dh * (1 - h_t^2)                (tanh' = 1 - tanh^2)
        db     += dz;  dWx += x_tᵀ dz;  dWh += h_{t-1}ᵀ dz
        dx_t    = dz · Wxᵀ
        dh_next = dz · Whᵀ                        (what flows on to step t-1)
dh_next after t = 0 is dL/dh0. Each step multiplies the gradient by Whᵀ and by
tanh' ≤ 1: when Wh's largest singular value is below 1 the gradient shrinks step
after step (it vanishes), above 1 it can grow (explode). ``dh_total`` keeps dL/dh_t
for every t so that can be watched (`nbengine trace bptt`), and ``dzs`` each step's dz.

Threads: samples are independent in time, so both forward passes run them in
parallel (prange over n). The naive backward pass sums the weight gradients over
the samples one after another; the fast one cuts the batch into P parts like
conv2d.py (a thread owns whole parts, sums its parts' weight gradients into
dWx_parts[g] ..., and the parts are added in order). Either way the results do not
depend on the thread count.
"""

import numpy as np
from numba import njit, prange

from nbengine.kernels.exp import POW2, tanh32


@njit(cache=True, parallel=True)
def rnn_forward_naive(hs, h0, xs, Wx, Wh, b):
    """hs = the hidden state after every step, one h_t[j] at a time.

    xs is (N, T, D), h0 is (N, H), Wx is (D, H), Wh is (H, H), b is (H,);
    hs will be (N, T, H).
    """
    N, T, D = xs.shape
    H = Wh.shape[0]
    for n in prange(N):
        for t in range(T):
            h_prev = h0[n] if t == 0 else hs[n, t - 1]
            for j in range(H):
                z = b[j]
                for d in range(D):
                    z += xs[n, t, d] * Wx[d, j]
                for i in range(H):
                    z += h_prev[i] * Wh[i, j]
                hs[n, t, j] = np.tanh(z)


@njit(cache=True)
def rnn_backward_naive(dxs, dWx, dWh, db, dh0, dh_total, dzs, dhs, hs, h0, xs, Wx, Wh):
    """Backpropagation through time over the whole sequence, line by line as above.

    dhs is (N, T, H) (dL/dh_t from above), hs (N, T, H) from the forward pass,
    h0 (N, H), xs (N, T, D). Written (overwritten): dxs (N, T, D), dh0 (N, H),
    dh_total (N, T, H) = dL/dh_t in full, dzs (N, T, H) = dz of every step, and the
    weight gradients dWx (D, H), dWh (H, H), db (H,), summed over the samples in
    order n = 0, 1, ...
    """
    N, T, D = xs.shape
    H = Wh.shape[0]
    zero = xs.dtype.type(0)
    one = xs.dtype.type(1)
    dWx[:] = zero
    dWh[:] = zero
    db[:] = zero
    dh_next = np.empty(H, xs.dtype)
    for n in range(N):
        dh_next[:] = zero  # nothing flows back from beyond the last step
        for t in range(T - 1, -1, -1):  # for t in reversed(range(T))
            h_prev = h0[n] if t == 0 else hs[n, t - 1]
            dz = dzs[n, t]  # kept for every step
            for j in range(H):
                dh = dhs[n, t, j] + dh_next[j]
                dh_total[n, t, j] = dh
                dz[j] = dh * (one - hs[n, t, j] * hs[n, t, j])
            for j in range(H):
                db[j] += dz[j]
            for d in range(D):
                for j in range(H):
                    dWx[d, j] += xs[n, t, d] * dz[j]
            for i in range(H):
                for j in range(H):
                    dWh[i, j] += h_prev[i] * dz[j]
            for d in range(D):
                acc = zero
                for j in range(H):
                    acc += dz[j] * Wx[d, j]
                dxs[n, t, d] = acc
            for i in range(H):
                acc = zero
                for j in range(H):
                    acc += dz[j] * Wh[i, j]
                dh_next[i] = acc
        for i in range(H):
            dh0[n, i] = dh_next[i]


# The same sums, reordered for speed (each trick in one line).


@njit(cache=True, parallel=True)
def rnn_forward(hs, h0, xs, Wx, Wh, b):
    """hs = the hidden state after every step.

    xs is (N, T, D), h0 is (N, H), Wx is (D, H), Wh is (H, H), b is (H,);
    hs will be (N, T, H).

    Loop order: one x_t[d] (or h_{t-1}[i]) is loaded once and added into every z[j]
    along a row of Wx (or Wh), so the inner loop runs along memory, where the compiler
    can use SIMD lanes; each z[j] still adds its terms in the naive kernel's order.
    float32 takes tanh from exp32 (exp.tanh32), which vectorises, where np.tanh calls the
    C library one value at a time; float64 keeps np.tanh.
    """
    N, T, D = xs.shape
    H = Wh.shape[0]
    f32 = xs.itemsize == 4
    for n in prange(N):
        for t in range(T):
            h_prev = h0[n] if t == 0 else hs[n, t - 1]
            z = hs[n, t]  # z is written in place, then replaced by tanh(z)
            for j in range(H):
                z[j] = b[j]
            for d in range(D):
                xv = xs[n, t, d]
                for j in range(H):
                    z[j] += xv * Wx[d, j]
            for i in range(H):
                hv = h_prev[i]
                for j in range(H):
                    z[j] += hv * Wh[i, j]
            for j in range(H):
                z[j] = tanh32(z[j], POW2) if f32 else np.tanh(z[j])


@njit(cache=True, parallel=True, fastmath={"reassoc"})
def rnn_backward(dxs, dWx_parts, dWh_parts, db_parts, dh0, dh_total, dzs, dhs, hs, h0, xs, Wx, Wh):
    """Backpropagation through time over the whole sequence.

    dhs is (N, T, H) (dL/dh_t from above), hs (N, T, H) from the forward pass,
    h0 (N, H), xs (N, T, D). Written (overwritten): dxs (N, T, D), dh0 (N, H),
    dh_total (N, T, H) = dL/dh_t in full, dzs (N, T, H) = dz of every step, and
    per-part weight gradients
    dWx_parts (P, D, H), dWh_parts (P, H, H), db_parts (P, H) (add them up with
    conv2d.sum_parts).

    One pass over a row of Wx (or Wh) both adds x_t[d] dz into dWx's row and sums
    dx_t[d]: each row and dz[j] are loaded once for the two.
    fastmath "reassoc": the sums over j for dx and dh_next run in SIMD lanes; their
    order is fixed by the compiled code, so runs repeat bit for bit.
    Per-part weight gradients: threads take whole parts of the batch and never write
    the same element, and the parts are added in a fixed order.
    """
    N, T, D = xs.shape
    H = Wh.shape[0]
    P = dWx_parts.shape[0]
    zero = xs.dtype.type(0)
    one = xs.dtype.type(1)
    for g in prange(P):
        dWx_parts[g] = zero
        dWh_parts[g] = zero
        db_parts[g] = zero
        dh_next = np.empty(H, xs.dtype)
        for n in range(g * N // P, (g + 1) * N // P):
            dh_next[:] = zero  # nothing flows back from beyond the last step
            for t in range(T - 1, -1, -1):  # for t in reversed(range(T))
                h_prev = h0[n] if t == 0 else hs[n, t - 1]
                dz = dzs[n, t]
                for j in range(H):
                    dh = dhs[n, t, j] + dh_next[j]
                    dh_total[n, t, j] = dh
                    dz[j] = dh * (one - hs[n, t, j] * hs[n, t, j])
                    db_parts[g, j] += dz[j]
                for d in range(D):
                    xv = xs[n, t, d]
                    acc = zero
                    for j in range(H):
                        dWx_parts[g, d, j] += xv * dz[j]
                        acc += dz[j] * Wx[d, j]
                    dxs[n, t, d] = acc
                for i in range(H):
                    hv = h_prev[i]
                    acc = zero
                    for j in range(H):
                        dWh_parts[g, i, j] += hv * dz[j]
                        acc += dz[j] * Wh[i, j]
                    dh_next[i] = acc
            for i in range(H):
                dh0[n, i] = dh_next[i]
