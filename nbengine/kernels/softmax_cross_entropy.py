"""Softmax and cross-entropy together, the usual last step of a classifier.

N = batch, M = classes; indexed n and m. y[n] is the true class of sample n.

Forward, per sample, computed stably (subtracting the row's largest logit z_max
changes nothing mathematically but keeps exp from overflowing):
    probs[n, m] = e^(z[n, m] - z_max) / sum over m' of e^(z[n, m'] - z_max)
    loss[n]     = -log probs[n, y[n]] = log(sum over m' of e^(z[n, m'] - z_max)) - (z[n, y[n]] - z_max)
The loss is taken from the log-sum-exp directly, never as log of a probability
that rounded to 0, so it is finite for any finite logits.

Backward of the mean L = (1/N') sum over n of loss[n]: softmax and
cross-entropy together have the famously simple gradient
    dz[n, m] = (probs[n, m] - [m == y[n]]) / N'
A row whose class is negative (the ignore label, -1, e.g. padding after the end
of a text) has loss 0 and gradient 0, and N' counts only the other rows.

A language model has many rows (batch × time steps) of many classes (the
vocabulary); rows then run in parallel, each thread writing its own rows.

softmax_cross_entropy_forward_naive takes each row's softmax as written, with
np.exp (softmax.py's softmax_row_naive); softmax_cross_entropy_forward uses the
fast row (softmax_row). The backward pass reads as its formula and serves both.
"""

from numba import njit, prange

from nbengine.kernels import PARALLEL_MIN
from nbengine.kernels.softmax import softmax_row, softmax_row_naive


@njit(cache=True, parallel=True, error_model="numpy")
def softmax_cross_entropy_forward_naive(probs, loss, z, y):
    """z is (N, M) logits, y is (N,) integer classes (negative: ignored);
    probs will be (N, M), loss (N,)."""
    N = z.shape[0]
    for n in prange(N):
        log_total, z_max = softmax_row_naive(probs, z, n)
        if y[n] >= 0:
            loss[n] = log_total - (z[n, y[n]] - z_max)
        else:
            loss[n] = z.dtype.type(0)


@njit(cache=True)
def counted(y):
    """How many rows count towards the mean (class not negative)."""
    c = 0
    for n in range(y.shape[0]):
        if y[n] >= 0:
            c += 1
    return c


@njit(cache=True)
def _row_grad(dz, probs, y, n, inv):
    M = probs.shape[1]
    if y[n] < 0:
        for m in range(M):
            dz[n, m] = probs.dtype.type(0)
        return
    for m in range(M):
        dz[n, m] = probs[n, m] * inv
    dz[n, y[n]] -= inv


@njit(cache=True, parallel=True)
def softmax_cross_entropy_backward(dz, probs, y):
    """probs is (N, M) from the forward pass, y is (N,); dz will be (N, M)."""
    N, M = probs.shape
    inv = probs.dtype.type(1) / probs.dtype.type(max(counted(y), 1))
    if N * M < PARALLEL_MIN:
        for n in range(N):
            _row_grad(dz, probs, y, n, inv)
    else:
        for n in prange(N):
            _row_grad(dz, probs, y, n, inv)


# The same sums, reordered for speed (each trick in one line): the row softmax
# is softmax.py's fast softmax_row, and small batches stay on one thread.


@njit(cache=True)
def _row_loss(probs, loss, z, y, n):
    log_total, z_max = softmax_row(probs, z, n)
    loss[n] = log_total - (z[n, y[n]] - z_max) if y[n] >= 0 else z.dtype.type(0)


@njit(cache=True, parallel=True, error_model="numpy")
def softmax_cross_entropy_forward(probs, loss, z, y):
    """z is (N, M) logits, y is (N,) integer classes (negative: ignored);
    probs will be (N, M), loss (N,)."""
    N, M = z.shape
    if N * M < PARALLEL_MIN:
        for n in range(N):
            _row_loss(probs, loss, z, y, n)
    else:
        for n in prange(N):
            _row_loss(probs, loss, z, y, n)
