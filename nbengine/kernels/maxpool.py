"""Max pooling: each window of the input is replaced by its largest value.

N = batch, H, W = input height and width, C = channels (pooled separately),
PH, PW = window height and width, OH, OW = output height and width;
i, j index output rows and columns, p, q input rows and columns.

Forward, for every window (the same geometry as a convolution, see conv2d.py):
    out[n, i, j, c] = max over r < PH, s < PW of x[n, p, q, c]
    where p = i*sh + r - pt and q = j*sw + s - pl
Padding positions (p or q outside the input) never take part, as if they held -inf;
a window wholly in the padding (possible with a large explicit padding) gives -inf
and arg -1.
The first largest value in the window, reading row by row, wins a tie; its
position is kept as the flat index p*W + q in ``arg``. A NaN in the window wins
over any number (the last NaN, if there are several), as in PyTorch: the max of a
window holding NaN is NaN, so a diverged layer's NaN is passed on, not hidden.

Backward: only the winner of a window affected the output, so the whole gradient
of that output goes back to it, and every other position of the window gets 0:
    dx[n, p, q, c] += dout[n, i, j, c]   where p*W + q = arg[n, i, j, c]
(+= because windows can overlap when the stride is smaller than the window).

Threads own samples (prange over n): no two threads write the same element.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def maxpool_forward(out, arg, x, ph, pw, sh, sw, pt, pl):
    """out = the max of each window, arg = where it was.

    x is (N, H, W, C); out will be (N, OH, OW, C) and arg (N, OH, OW, C) int32.
    """
    N, H, W, C = x.shape
    _, OH, OW, _ = out.shape
    for n in prange(N):
        for i in range(OH):
            for j in range(OW):
                for c in range(C):
                    out[n, i, j, c] = -np.inf
                    arg[n, i, j, c] = -1
                for r in range(ph):
                    p = i * sh + r - pt
                    if p < 0 or p >= H:
                        continue
                    for s in range(pw):
                        q = j * sw + s - pl
                        if q < 0 or q >= W:
                            continue
                        for c in range(C):
                            v = x[n, p, q, c]
                            # the first value seen always wins, then a larger one or a NaN
                            # (v != v only for NaN)
                            if v > out[n, i, j, c] or v != v or arg[n, i, j, c] < 0:
                                out[n, i, j, c] = v
                                arg[n, i, j, c] = p * W + q


@njit(cache=True, parallel=True)
def maxpool_backward(dx, dout, arg):
    """Route each output's gradient to its window's arg-max.

    dout and arg are (N, OH, OW, C); dx will be (N, H, W, C) (overwritten: each
    thread zeroes its samples first).
    """
    N, H, W, C = dx.shape
    _, OH, OW, _ = dout.shape
    for n in prange(N):
        dx[n] = dx.dtype.type(0)
        for i in range(OH):
            for j in range(OW):
                for c in range(C):
                    a = arg[n, i, j, c]
                    if a >= 0:  # -1: a window that lies wholly in the padding has no input to blame
                        dx[n, a // W, a % W, c] += dout[n, i, j, c]
