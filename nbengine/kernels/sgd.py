"""Gradient descent updates: plain SGD and SGD with momentum, as Keras defines them.

E = number of parameters (a flat view of one parameter array), indexed e.

Plain SGD, a step downhill:
    p[e] = p[e] - lr * g[e]
With momentum, a velocity v remembers past steps (Keras's SGD(momentum=mu)):
    v[e] = mu * v[e] - lr * g[e]
    p[e] = p[e] + v[e]
"""

from numba import njit


@njit(cache=True)
def sgd_update(p, g, lr):
    """p and g are (E,); p is updated in place. lr has p's dtype."""
    for e in range(p.shape[0]):
        p[e] -= lr * g[e]


@njit(cache=True)
def momentum_update(p, v, g, lr, mu):
    """p, v (the velocity, zero at first) and g are (E,); p and v are updated in place."""
    for e in range(p.shape[0]):
        v[e] = mu * v[e] - lr * g[e]
        p[e] += v[e]
