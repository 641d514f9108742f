"""Residual connection: a block's output is its input plus what the block adds.

E = number of values (flat views of two arrays of the same shape), indexed e.

Forward:   out[e] = x[e] + f(x)[e]
Backward:  y = x + f(x) reaches x by two roads, straight and through f, and the
           chain rule adds them:
           dx[e] = dout[e] + (dout pushed back through f)[e]
The straight road copies dout unchanged, however deep the network: that is why
residual networks train when they are deep.

Threads: values in parallel; each thread writes only its own values.
"""

from numba import njit, prange


@njit(cache=True, parallel=True)
def residual_forward(out, x, fx):
    """x and fx are (E,); out will be (E,) (it may be fx itself)."""
    for e in prange(x.shape[0]):
        out[e] = x[e] + fx[e]


@njit(cache=True, parallel=True)
def residual_backward(dx, dout, dx_through_f):
    """dout and dx_through_f are (E,); dx will be (E,) (it may be dx_through_f itself)."""
    for e in prange(dout.shape[0]):
        dx[e] = dout[e] + dx_through_f[e]
