"""Token and position embeddings: a token's vector plus its position's vector.

N = batch, T = positions, V = vocabulary size, L = longest sequence (T ≤ L),
D = vector size; indexed n, t, v, l and d.

Attention itself has no notion of order (shuffling the tokens shuffles its
outputs the same way), so each position t gets a learnt vector of its own:
    out[n, t, d] = Wt[ids[n, t], d] + Wp[t, d]
Backward: every use of a token sends its gradient to that token's row
(a scatter-add, as in embedding.py), and every sample adds to its position's row:
    dWt[v, d] = Σ over (n, t) with ids[n, t] = v of dout[n, t, d]
    dWp[t, d] = Σ_n dout[n, t, d]          (rows t ≥ T are 0)
Both sums run in one fixed order (n, then t), so they repeat bit for bit.

Threads: the forward pass runs samples in parallel; the backward pass is one
thread, as its sums land on shared rows.
"""

from numba import njit, prange


@njit(cache=True, parallel=True)
def position_embedding_forward(out, Wt, Wp, ids):
    """ids is (N, T) int64, Wt (V, D), Wp (L, D) with T ≤ L; out will be (N, T, D)."""
    N, T = ids.shape
    D = Wt.shape[1]
    for n in prange(N):
        for t in range(T):
            v = ids[n, t]
            for d in range(D):
                out[n, t, d] = Wt[v, d] + Wp[t, d]


@njit(cache=True)
def position_embedding_backward(dWt, dWp, dout, ids):
    """dout is (N, T, D), ids (N, T); dWt (V, D) and dWp (L, D) are overwritten."""
    N, T = ids.shape
    zero = dWt.dtype.type(0)
    dWt[:, :] = zero
    dWp[:, :] = zero
    D = dWt.shape[1]
    for n in range(N):
        for t in range(T):
            v = ids[n, t]
            for d in range(D):
                dWt[v, d] += dout[n, t, d]
                dWp[t, d] += dout[n, t, d]
