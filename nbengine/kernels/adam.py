"""Adam: a step scaled per parameter by running averages of the gradient and of
its square, as Keras computes it.

E = number of parameters (a flat view of one parameter array), indexed e.
t = the step number, counted from 1.

    m[e] = m[e] + (1 - beta1) * (g[e] - m[e])          the mean of recent gradients
    v[e] = v[e] + (1 - beta2) * (g[e]^2 - v[e])        the mean of their squares
    p[e] = p[e] - alpha * m[e] / (sqrt(v[e]) + eps)
with alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t), which undoes the pull of
m and v towards their starting value 0 in the first steps (bias correction).
The caller computes alpha once per step.

Each element is updated on its own, so a large array is updated in parallel
(prange), with the same result on any number of threads; a small one by one thread
(see nbengine/kernels/__init__.py).
"""

import numpy as np
from numba import njit, prange

from nbengine.kernels import PARALLEL_MIN


@njit(cache=True)
def _adam_element(p, m, v, g, e, alpha, beta1, beta2, eps, one):
    m[e] += (one - beta1) * (g[e] - m[e])
    v[e] += (one - beta2) * (g[e] * g[e] - v[e])
    p[e] -= alpha * m[e] / (np.sqrt(v[e]) + eps)


@njit(cache=True, parallel=True)
def adam_update(p, m, v, g, alpha, beta1, beta2, eps):
    """p, m, v (zero at first) and g are (E,); p, m and v are updated in place.
    The scalars have p's dtype."""
    one = p.dtype.type(1)
    E = p.shape[0]
    if E < PARALLEL_MIN:
        for e in range(E):
            _adam_element(p, m, v, g, e, alpha, beta1, beta2, eps, one)
    else:
        for e in prange(E):
            _adam_element(p, m, v, g, e, alpha, beta1, beta2, eps, one)
