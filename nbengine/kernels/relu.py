"""ReLU, the rectified linear unit: negative values become 0, the rest pass.

E = number of elements; the arrays are flat views of any shape, indexed e.

Forward:   out[e] = max(x[e], 0)
Backward:  dx[e] = dout[e] where out[e] > 0, else 0
(the slope of max(x, 0) is 1 where x > 0 and 0 where x < 0; at x = 0 we use 0,
as the frameworks do).

NaN passes through, as in PyTorch (torch.relu(nan) is nan, and its backward passes the
gradient wherever the output is not ≤ 0): a layer that has diverged must not hand a
clean 0 on, or the loss stays finite and the divergence goes unnoticed. So the tests
are written "x ≤ 0 gives 0", which is false for NaN, not "x > 0 keeps x".
"""

from numba import njit


@njit(cache=True)
def relu_forward(out, x):
    """x is (E,); out will be (E,) (it may be x itself, to work in place)."""
    zero = x.dtype.type(0)
    for e in range(x.shape[0]):
        out[e] = zero if x[e] <= zero else x[e]


@njit(cache=True)
def relu_backward(dx, dout, out):
    """dout and out (the forward output) are (E,); dx will be (E,) (may be dout)."""
    zero = out.dtype.type(0)
    for e in range(out.shape[0]):
        dx[e] = zero if out[e] <= zero else dout[e]
