"""Flatten: each sample's (H, W, C) feature maps become one row of H*W*C values.

N = batch, H, W = height and width, C = channels; indexed n, p, q, c.

Forward:   out[n, (p*W + q)*C + c] = x[n, p, q, c]
Backward:  dx[n, p, q, c] = dout[n, (p*W + q)*C + c]
Nothing is computed, values only move, so the gradient moves back the same way.
The order (row, column, channel) is Keras's for channels-last images; it decides
which row of the next dense layer's weights meets which feature.
(NumPy's reshape gives the same result without copying; the loop shows the index.)
"""

from numba import njit


@njit(cache=True)
def flatten_forward(out, x):
    """x is (N, H, W, C); out will be (N, H*W*C)."""
    N, H, W, C = x.shape
    for n in range(N):
        for p in range(H):
            for q in range(W):
                for c in range(C):
                    out[n, (p * W + q) * C + c] = x[n, p, q, c]


@njit(cache=True)
def flatten_backward(dx, dout):
    """dout is (N, H*W*C); dx will be (N, H, W, C)."""
    N, H, W, C = dx.shape
    for n in range(N):
        for p in range(H):
            for q in range(W):
                for c in range(C):
                    dx[n, p, q, c] = dout[n, (p * W + q) * C + c]
