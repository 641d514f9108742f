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

Each element is computed on its own, so a large array is split between the threads
(prange), with the same result on any number of threads; a small one is done by one
thread (see nbengine/kernels/__init__.py).
"""

from numba import njit, prange

from nbengine.kernels import PARALLEL_MIN


@njit(cache=True, parallel=True)
def relu_forward(out, x):
    """x is (E,); out will be (E,) (it may be x itself, to work in place)."""
    zero = x.dtype.type(0)
    E = x.shape[0]
    if E < PARALLEL_MIN:
        for e in range(E):
            out[e] = zero if x[e] <= zero else x[e]
    else:
        for e in prange(E):
            out[e] = zero if x[e] <= zero else x[e]


@njit(cache=True, parallel=True)
def relu_backward(dx, dout, out):
    """dout and out (the forward output) are (E,); dx will be (E,) (may be dout)."""
    zero = out.dtype.type(0)
    E = out.shape[0]
    if E < PARALLEL_MIN:
        for e in range(E):
            dx[e] = zero if out[e] <= zero else dout[e]
    else:
        for e in prange(E):
            dx[e] = zero if out[e] <= zero else dout[e]
