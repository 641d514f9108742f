"""Categorical cross-entropy of given probabilities, the way Keras computes it
when the model's last layer already applied softmax (``from_logits=False``).

N = batch, M = classes; indexed n, m. y[n] is the true class of sample n.

Forward, per sample:
    s[n]    = sum over m of p[n, m]                 (p may not sum to 1: Keras divides by s)
    t[n]    = clip(p[n, y[n]] / s[n], eps, 1 - eps)  (Keras clips with eps = 1e-7)
    loss[n] = -log t[n]
Backward of the batch mean L = (1/N) sum over n of loss[n], where the clip is
not active (inside it the slope of clip is 0, so no gradient flows):
    dp[n, m] = (1/N) * (1 / s[n] - [m == y[n]] / p[n, y[n]])
This is what the lesson's model as written trains with: Dropout after the softmax
can zero p[n, y[n]], and then the loss is -log(1e-7) ≈ 16.1 with no gradient to
learn from, whatever the network did.
"""

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def cross_entropy_forward(loss, clipped, p, y, eps):
    """p is (N, M) probabilities, y is (N,); loss will be (N,), clipped (N,) uint8
    (1 where the clip was active)."""
    N, M = p.shape
    one = p.dtype.type(1)
    for n in range(N):
        s = p.dtype.type(0)
        for m in range(M):
            s += p[n, m]
        t = p[n, y[n]] / s if s > 0 else p.dtype.type(0)
        clipped[n] = 0
        if not (t >= eps):  # also catches NaN
            t = eps
            clipped[n] = 1
        elif t > one - eps:
            t = one - eps
            clipped[n] = 1
        loss[n] = -np.log(t)


@njit(cache=True, error_model="numpy")
def cross_entropy_backward(dp, p, y, clipped):
    """p is (N, M), y is (N,), clipped from the forward pass; dp will be (N, M)."""
    N, M = p.shape
    zero = p.dtype.type(0)
    inv_n = p.dtype.type(1) / p.dtype.type(N)
    for n in range(N):
        if clipped[n]:
            for m in range(M):
                dp[n, m] = zero
            continue
        s = zero
        for m in range(M):
            s += p[n, m]
        for m in range(M):
            dp[n, m] = inv_n / s
        dp[n, y[n]] -= inv_n / p[n, y[n]]
