"""Softmax and cross-entropy together, the usual last step of a classifier.

N = batch, M = classes; indexed n and m. y[n] is the true class of sample n.

Forward, per sample, computed stably (subtracting the row's largest logit z_max
changes nothing mathematically but keeps exp from overflowing):
    probs[n, m] = e^(z[n, m] - z_max) / sum over m' of e^(z[n, m'] - z_max)
    loss[n]     = -log probs[n, y[n]] = log(sum over m' of e^(z[n, m'] - z_max)) - (z[n, y[n]] - z_max)
The loss is taken from the log-sum-exp directly, never as log of a probability
that rounded to 0, so it is finite for any finite logits.

Backward of the batch mean L = (1/N) sum over n of loss[n]: softmax and
cross-entropy together have the famously simple gradient
    dz[n, m] = (probs[n, m] - [m == y[n]]) / N
"""

from numba import njit

from nbengine.kernels.softmax import softmax_row


@njit(cache=True, error_model="numpy")
def softmax_cross_entropy_forward(probs, loss, z, y):
    """z is (N, M) logits, y is (N,) integer classes; probs will be (N, M), loss (N,)."""
    for n in range(z.shape[0]):
        log_total, z_max = softmax_row(probs, z, n)
        loss[n] = log_total - (z[n, y[n]] - z_max)


@njit(cache=True)
def softmax_cross_entropy_backward(dz, probs, y):
    """probs is (N, M) from the forward pass, y is (N,); dz will be (N, M)."""
    N, M = probs.shape
    inv_n = probs.dtype.type(1) / probs.dtype.type(N)
    for n in range(N):
        for m in range(M):
            dz[n, m] = probs[n, m] * inv_n
        dz[n, y[n]] -= inv_n
