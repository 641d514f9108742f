"""GELU activation, tanh approximation (as GPT-2 uses), elementwise.

E = number of values (a flat view of any shape), indexed e.

Forward, with k = √(2/π) and a = 0.044715:
    u[e]   = k (x[e] + a x[e]³)
    out[e] = 0.5 x[e] (1 + tanh(u[e]))
Backward, with t = tanh(u[e]) and d tanh(u)/du = 1 - t²:
    dx[e]  = dout[e] · (0.5 (1 + t) + 0.5 x[e] (1 - t²) k (1 + 3a x[e]²))
tanh saturates to ±1 for large |u|, so very large or very negative x stay finite
(out → x or → 0, the derivative → 1 or → 0).

Threads: values in parallel; each thread writes only its own values.
"""

import numpy as np
from numba import njit, prange

from nbengine.kernels.exp import POW2, tanh32

SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))  # k
COEF = 0.044715  # a


@njit(cache=True, parallel=True, error_model="numpy")
def gelu_forward_naive(out, x):
    """x is (E,); out will be (E,)."""
    k = x.dtype.type(SQRT_2_OVER_PI)
    a = x.dtype.type(COEF)
    half = x.dtype.type(0.5)
    one = x.dtype.type(1)
    for e in prange(x.shape[0]):
        u = k * (x[e] + a * x[e] * x[e] * x[e])
        out[e] = half * x[e] * (one + np.tanh(u))


@njit(cache=True, parallel=True, error_model="numpy")
def gelu_backward_naive(dx, dout, x):
    """dout and x (the forward input) are (E,); dx will be (E,)."""
    k = x.dtype.type(SQRT_2_OVER_PI)
    a = x.dtype.type(COEF)
    half = x.dtype.type(0.5)
    one = x.dtype.type(1)
    three = x.dtype.type(3)
    for e in prange(x.shape[0]):
        u = k * (x[e] + a * x[e] * x[e] * x[e])
        t = np.tanh(u)
        dx[e] = dout[e] * (
            half * (one + t) + half * x[e] * (one - t * t) * k * (one + three * a * x[e] * x[e])
        )


# The same values, computed faster (each trick in one line):
# - float32 takes tanh from exp32 (exp.tanh32), which vectorises, where np.tanh calls the C library one value at a time.
@njit(cache=True, parallel=True, error_model="numpy")
def gelu_forward(out, x):
    """gelu_forward_naive with tanh32 for float32. x is (E,); out will be (E,)."""
    k = x.dtype.type(SQRT_2_OVER_PI)
    a = x.dtype.type(COEF)
    half = x.dtype.type(0.5)
    one = x.dtype.type(1)
    if x.itemsize == 4:
        for e in prange(x.shape[0]):
            xe = x[e]
            out[e] = half * xe * (one + tanh32(k * (xe + a * xe * xe * xe), POW2))
    else:
        for e in prange(x.shape[0]):
            xe = x[e]
            out[e] = half * xe * (one + np.tanh(k * (xe + a * xe * xe * xe)))


@njit(cache=True, parallel=True, error_model="numpy")
def gelu_backward(dx, dout, x):
    """gelu_backward_naive with tanh32 for float32.
    dout and x (the forward input) are (E,); dx will be (E,)."""
    k = x.dtype.type(SQRT_2_OVER_PI)
    a = x.dtype.type(COEF)
    a3 = x.dtype.type(3 * COEF)
    half = x.dtype.type(0.5)
    one = x.dtype.type(1)
    if x.itemsize == 4:
        for e in prange(x.shape[0]):
            xe = x[e]
            x2 = xe * xe
            t = tanh32(k * (xe + a * x2 * xe), POW2)
            dx[e] = dout[e] * (half * (one + t) + half * xe * (one - t * t) * k * (one + a3 * x2))
    else:
        for e in prange(x.shape[0]):
            xe = x[e]
            x2 = xe * xe
            t = np.tanh(k * (xe + a * x2 * xe))
            dx[e] = dout[e] * (half * (one + t) + half * xe * (one - t * t) * k * (one + a3 * x2))
