"""Logistic regression as a one-layer network: one weighted sum, one sigmoid, one loss.

N = batch (samples), D = features (inputs), indexed n and i.

Forward, for each sample n:
    z[n] = sum_i w[i] * x[n, i] + b          the weighted sum
    a[n] = sigmoid(z[n]) = 1 / (1 + e^-z)    the probability of class 1
    L[n] = -(y log a + (1 - y) log(1 - a))   binary cross-entropy

Backward, the lesson's chain rule, dL/dw = dL/da * da/dz * dz/dw:
    dL/da = -y / a + (1 - y) / (1 - a)
    da/dz = a (1 - a)
    dz/dw = x,  dz/db = 1
so dL/dz = dL/da * da/dz = a - y, dL/dw = -(y - a) x and dL/db = -(y - a),
averaged over the batch.

Numerics. a and 1 - a are both computed from z directly (1 - a = sigmoid(-z)), so
neither is lost to rounding when a is close to 1. The loss uses
log a = -softplus(-z) and log(1 - a) = -softplus(z), which stay finite for any
finite z; |z| in the hundreds gives a loss of about |z|, never inf or NaN.
Both need only e^-|z|, which never overflows.

The caller allocates every array; kernels only fill them. All arrays of one call
share a dtype: float32 for training, float64 for gradient checks. Constants are
made in that dtype (``one = x.dtype.type(1)``): a bare ``1 + t`` would turn a
float32 loop into a float64 one.

logistic_forward_naive adds the sum over i left to right, as written;
logistic_forward is the same sum with its additions reordered for speed. The loss
and the backward pass read as their formulas and serve both.
"""

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def _sigmoid_pair(t, one):
    """(sigmoid(t), sigmoid(-t)) = (1 / (1 + e^-t), 1 / (1 + e^t)), from one exp.

    Written with e = e^-|t| <= 1 so that exp never overflows.
    """
    e = np.exp(-abs(t))
    if t >= 0:
        return one / (one + e), e / (one + e)
    return e / (one + e), one / (one + e)


@njit(cache=True)
def logistic_forward_naive(z, a, one_minus_a, x, w, b):
    """z = x·w + b, a = sigmoid(z), and 1 - a, for every sample.

    x is (N, D), w is (D,), b is (1,); z, a and one_minus_a will be (N,).
    """
    N, D = x.shape
    one = x.dtype.type(1)
    for n in range(N):
        s = b[0]
        for i in range(D):
            s += w[i] * x[n, i]
        z[n] = s
        a[n], one_minus_a[n] = _sigmoid_pair(s, one)


@njit(cache=True)
def logistic_loss(loss, z, y):
    """Binary cross-entropy of each sample, from z so that it cannot overflow.

    z and y are (N,); loss will be (N,).
    L = -(y log a + (1 - y) log(1 - a)) = y softplus(-z) + (1 - y) softplus(z),
    where softplus(t) = log(1 + e^t) = max(t, 0) + log(1 + e^-|t|). The two
    softplus terms share log(1 + e^-|z|), and y + (1 - y) = 1, so
    L = y max(-z, 0) + (1 - y) max(z, 0) + log(1 + e^-|z|).
    """
    N = z.shape[0]
    zero = z.dtype.type(0)
    one = z.dtype.type(1)
    for n in range(N):
        shared = np.log1p(np.exp(-abs(z[n])))
        loss[n] = y[n] * max(-z[n], zero) + (one - y[n]) * max(z[n], zero) + shared


@njit(cache=True, error_model="numpy")
def logistic_backward(dw, db, dL_da, da_dz, dL_dz, x, a, one_minus_a, y):
    """The chain rule of the lesson, averaged over the batch.

    x is (N, D); a, one_minus_a, y are (N,).
    Fills the per-sample factors dL_da, da_dz, dL_dz (N,) and accumulates the
    batch-mean gradients into dw (D,) and db (1,), which the caller zeroed.
    """
    N, D = x.shape
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    for n in range(N):
        # dL/da = -y/a + (1-y)/(1-a); a term whose numerator is 0 is 0, so a
        # saturated a (0 or 1 in floating point) gives inf only where it should.
        t1 = y[n] / a[n] if y[n] != 0 else zero
        t2 = (one - y[n]) / one_minus_a[n] if y[n] != 1 else zero
        dL_da[n] = -t1 + t2
        # da/dz = a(1-a)
        da_dz[n] = a[n] * one_minus_a[n]
        # dL/dz = dL/da * da/dz. The product is a - y exactly (a(1-a) cancels the
        # denominators), and that form stays finite when a saturates, so it is
        # the one carried on.
        dL_dz[n] = a[n] - y[n]
    inv_n = one / x.dtype.type(N)
    for n in range(N):
        # dz/dw_i = x[n, i], dz/db = 1
        g = dL_dz[n] * inv_n
        for i in range(D):
            dw[i] += g * x[n, i]
        db[0] += g


# The same sum, reordered for speed (each trick in one line).


# fastmath "reassoc" lets the compiler split the sum over i into SIMD lanes, which a
# strict left-to-right sum forbids; the order of the additions is then fixed by the
# compiled code, so runs still repeat bit for bit. No other fast-math flag is used:
# inf and NaN keep their meaning.
@njit(cache=True, fastmath={"reassoc"})
def logistic_forward(z, a, one_minus_a, x, w, b):
    """z = x·w + b, a = sigmoid(z), and 1 - a, for every sample.

    x is (N, D), w is (D,), b is (1,); z, a and one_minus_a will be (N,).
    """
    N, D = x.shape
    one = x.dtype.type(1)
    for n in range(N):
        s = b[0]
        for i in range(D):
            s += w[i] * x[n, i]
        z[n] = s
        a[n], one_minus_a[n] = _sigmoid_pair(s, one)
