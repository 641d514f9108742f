"""Inverted dropout: during training, drop each value with probability `rate`.

E = number of elements (flat views of any shape), indexed e.

Forward (training):  out[e] = x[e] * keep[e] * scale,  scale = 1 / (1 - rate)
Backward:            dx[e] = dout[e] * keep[e] * scale
keep[e] is 1 for a kept value and 0 for a dropped one, drawn by the layer from a
seeded generator (so a seed gives the same mask every run). Scaling the kept
values by 1 / (1 - rate) keeps each value's expected size, so at inference time
dropout does nothing at all ("inverted" dropout, as Keras and PyTorch do it).
"""

from numba import njit


@njit(cache=True)
def dropout_forward(out, x, keep, scale):
    """x and keep (uint8, 0 or 1) are (E,); out will be (E,)."""
    zero = x.dtype.type(0)
    for e in range(x.shape[0]):
        out[e] = x[e] * scale if keep[e] else zero


@njit(cache=True)
def dropout_backward(dx, dout, keep, scale):
    """dout and keep are (E,); dx will be (E,)."""
    zero = dout.dtype.type(0)
    for e in range(dout.shape[0]):
        dx[e] = dout[e] * scale if keep[e] else zero
