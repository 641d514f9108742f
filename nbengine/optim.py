"""Optimizers: they update parameters from gradients and know nothing about layers.

Both dicts map a name to an array; the optimizer keeps references, so layers must
write gradients in place (they do) and parameters are updated in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nbengine.i18n import Msg
from nbengine.kernels.adam import adam_update
from nbengine.kernels.norm import sum_of_squares
from nbengine.kernels.registry import kernel
from nbengine.kernels.sgd import momentum_update, sgd_update
from nbengine.trace import record, tracing


class SGD:
    """Plain gradient descent: p ← p − η·dL/dp for every parameter p."""

    name = "sgd"

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        grads: Mapping[str, np.ndarray],
        lr: float,
        labels: Mapping[str, Sequence] | None = None,
    ):
        if not lr > 0:
            raise ValueError(f"the learning rate must be positive, not {lr}")
        self.params = params
        self.grads = grads
        self.lr = lr
        self.labels = labels or {}

    def step(self) -> None:
        for name, p in self.params.items():
            # the learning rate in the parameter's own dtype, so float32 stays float32
            sgd_update(p.reshape(-1), self.grads[name].reshape(-1), p.dtype.type(self.lr))
            if tracing():
                value = p[0] if p.shape == (1,) else p
                record(
                    f"new {name}",
                    value,
                    f"{name} ← {name} − η·dL/d{name}  (η = {self.lr:g})",
                    Msg("the parameter after one step downhill"),
                    self.labels.get(name, ()),
                )


class Momentum(SGD):
    """SGD with momentum, as Keras's SGD(momentum=μ): v ← μ·v − η·g, p ← p + v.

    The velocity v keeps a running sum of past steps, so a direction the
    gradients agree on gathers speed and a zig-zag across a valley cancels.
    """

    name = "momentum"

    def __init__(self, params, grads, lr: float, momentum: float = 0.9, labels=None):
        super().__init__(params, grads, lr, labels)
        if not 0 <= momentum < 1:
            raise ValueError(f"the momentum must be in [0, 1), not {momentum}")
        self.momentum = momentum
        self.velocity = {name: np.zeros_like(p) for name, p in params.items()}

    def step(self) -> None:
        for name, p in self.params.items():
            t = p.dtype.type
            momentum_update(
                p.reshape(-1),
                self.velocity[name].reshape(-1),
                self.grads[name].reshape(-1),
                t(self.lr),
                t(self.momentum),
            )


class Adam(SGD):
    """Adam (Kingma and Ba), as Keras computes it (ε = 1e-7 added to √v).

    m and v are running means of the gradient and of its square; each parameter
    moves by about η in the direction of m, scaled down where the gradient has
    been noisy (large v).
    """

    name = "adam"

    def __init__(
        self,
        params,
        grads,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-7,
        labels=None,
    ):
        super().__init__(params, grads, lr, labels)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = {name: np.zeros_like(p) for name, p in params.items()}
        self.v = {name: np.zeros_like(p) for name, p in params.items()}
        self.t = 0

    def step(self) -> None:
        self.t += 1
        alpha = self.lr * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        for name, p in self.params.items():
            t = p.dtype.type
            adam_update(
                p.reshape(-1),
                self.m[name].reshape(-1),
                self.v[name].reshape(-1),
                self.grads[name].reshape(-1),
                t(alpha),
                t(self.beta1),
                t(self.beta2),
                t(self.eps),
            )


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


NORM_PARTS = 8  # the sum of squares is taken in this many parts, added in order


def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    """The L2 norm of all gradients together, as if they were one long vector."""
    squares = kernel(sum_of_squares)
    return float(np.sqrt(sum(squares(g.reshape(-1), NORM_PARTS) for g in grads.values())))


def clip_global_norm(grads: Mapping[str, np.ndarray], max_norm: float) -> float:
    """Scale every gradient by max_norm / norm when their global norm exceeds max_norm.

    Exploding gradients (an RNN's problem) then still point the same way but take
    a bounded step. Returns the norm before clipping. Gradients change in place; not
    when the norm is infinite (nothing can scale them to a finite norm: the run diverged).
    """
    norm = global_norm(grads)
    if max_norm < norm < float("inf"):
        for g in grads.values():
            g *= g.dtype.type(max_norm / (norm + 1e-6))
    return norm
