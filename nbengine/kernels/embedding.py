"""Embedding: a word's id picks one row of a weight matrix, its vector.

N = batch, T = time steps, V = vocabulary size, D = vector size;
indexed n, t, v and d.

Forward (a gather):    out[n, t, d] = W[ids[n, t], d]
Backward (a scatter-add): every place a word was used sends its gradient back
to that word's row, so a word used three times gets three gradients added:
    dW[v, d] = sum over the (n, t) with ids[n, t] = v of dout[n, t, d]
The additions run in one fixed order (n, then t), so the sum is the same on
every run; rows of words not in the batch are 0.
"""

from numba import njit, prange


@njit(cache=True, parallel=True)
def embedding_forward(out, W, ids):
    """ids is (N, T) int64, W is (V, D); out will be (N, T, D)."""
    N, T = ids.shape
    D = W.shape[1]
    for n in prange(N):
        for t in range(T):
            v = ids[n, t]
            for d in range(D):
                out[n, t, d] = W[v, d]


@njit(cache=True)
def embedding_backward(dW, dout, ids):
    """dout is (N, T, D), ids is (N, T); dW will be (V, D) (overwritten)."""
    N, T = ids.shape
    V, D = dW.shape
    zero = dW.dtype.type(0)
    for v in range(V):
        for d in range(D):
            dW[v, d] = zero
    for n in range(N):
        for t in range(T):
            v = ids[n, t]
            for d in range(D):
                dW[v, d] += dout[n, t, d]
