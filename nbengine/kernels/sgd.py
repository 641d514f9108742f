"""Gradient descent updates: plain SGD and SGD with momentum, as Keras defines them.

E = number of parameters (a flat view of one parameter array), indexed e.

Plain SGD, a step downhill:
    p[e] = p[e] - lr * g[e]
With momentum, a velocity v remembers past steps (Keras's SGD(momentum=mu)):
    v[e] = mu * v[e] - lr * g[e]
    p[e] = p[e] + v[e]

Each element is updated on its own, so a large array is updated in parallel
(prange), with the same result on any number of threads; a small one by one thread
(see nbengine/kernels/__init__.py).
"""

from numba import njit, prange

from nbengine.kernels import PARALLEL_MIN


@njit(cache=True, parallel=True)
def sgd_update(p, g, lr):
    """p and g are (E,); p is updated in place. lr has p's dtype."""
    E = p.shape[0]
    if E < PARALLEL_MIN:
        for e in range(E):
            p[e] -= lr * g[e]
    else:
        for e in prange(E):
            p[e] -= lr * g[e]


@njit(cache=True, parallel=True)
def momentum_update(p, v, g, lr, mu):
    """p, v (the velocity, zero at first) and g are (E,); p and v are updated in place."""
    E = p.shape[0]
    if E < PARALLEL_MIN:
        for e in range(E):
            v[e] = mu * v[e] - lr * g[e]
            p[e] += v[e]
    else:
        for e in prange(E):
            v[e] = mu * v[e] - lr * g[e]
            p[e] += v[e]
