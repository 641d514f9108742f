"""Optimizers: they update parameters from gradients and know nothing about layers.

Both dicts map a name to an array; the optimizer keeps references, so layers must
write gradients in place (they do) and parameters are updated in place.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from nbengine.trace import record, tracing


class SGD:
    """Plain gradient descent: p ← p − η·dL/dp for every parameter p."""

    name = "sgd"

    def __init__(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], lr: float,
                 labels: Mapping[str, Sequence] | None = None):
        if not lr > 0:
            raise ValueError(f"the learning rate must be positive, not {lr}")
        self.params = params
        self.grads = grads
        self.lr = lr
        self.labels = labels or {}

    def step(self) -> None:
        for name, p in self.params.items():
            g = self.grads[name]
            # in the parameter's own dtype, so float32 stays float32
            p -= p.dtype.type(self.lr) * g
            if tracing():
                value = p[0] if p.shape == (1,) else p
                record(f"new {name}", value, f"{name} ← {name} − η·dL/d{name}  (η = {self.lr:g})",
                       "the parameter after one step downhill", self.labels.get(name, ()))
