"""ReLU, the rectified linear unit: negative values become 0, the rest pass.

E = number of elements; the arrays are flat views of any shape, indexed e.

Forward:   out[e] = max(x[e], 0)
Backward:  dx[e] = dout[e] where out[e] > 0, else 0
(the slope of max(x, 0) is 1 where x > 0 and 0 where x < 0; at x = 0 we use 0,
as the frameworks do).
"""

from numba import njit


@njit(cache=True)
def relu_forward(out, x):
    """x is (E,); out will be (E,) (it may be x itself, to work in place)."""
    zero = x.dtype.type(0)
    for e in range(x.shape[0]):
        out[e] = x[e] if x[e] > zero else zero


@njit(cache=True)
def relu_backward(dx, dout, out):
    """dout and out (the forward output) are (E,); dx will be (E,) (may be dout)."""
    zero = out.dtype.type(0)
    for e in range(out.shape[0]):
        dx[e] = dout[e] if out[e] > zero else zero
