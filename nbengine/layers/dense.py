"""Dense: every output a weighted sum of every input, then an activation (Keras's Dense)."""

from __future__ import annotations

import numpy as np

from nbengine.i18n import Msg
from nbengine.kernels.dense import dense_backward, dense_forward
from nbengine.kernels.registry import kernel
from nbengine.layers.activation import ACTIVATIONS, activate, activation_backward
from nbengine.layers.base import Layer, glorot_uniform
from nbengine.trace import record, tracing


class Dense(Layer):
    """out = activation(x·w + b); x (N, D), w (D, M), out (N, M).

    With ``emit_logits`` set (by a model whose loss applies the softmax itself, as
    Keras does for a softmax output layer), forward returns z and leaves the
    softmax to the loss.
    """

    kind = "Dense"

    def __init__(self, name: str, units: int, activation: str | None = None):
        super().__init__(name)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, not {activation!r}")
        self.units = units
        self.activation = activation
        self.emit_logits = False

    def _build(self, input_shape, rng):
        (D,), M = input_shape, self.units
        self.params = {
            "w": glorot_uniform(rng, (D, M), D, M, self.dtype),
            "b": np.zeros(M, self.dtype),
        }
        return (M,)

    def describe(self) -> str:
        act = ", " + self.activation if self.activation else ""
        return Msg("{n} units{act}", n=self.units, act=act)

    def forward(self, x, training):
        z = self.buffer("z", (x.shape[0], self.units))
        kernel(dense_forward)(z, x, self.params["w"], self.params["b"])
        act = None if self.emit_logits else self.activation
        a = activate(self, act, z)
        self.cache = {"x": x, "a": a, "act": act}
        if tracing():
            record(
                self.name,
                a,
                f"{act}(x·w + b)" if act else "z = x·w + b",
                Msg("logits: the softmax is applied by the loss") if self.emit_logits else "",
            )
        return a

    def backward(self, dy, need_dx=True):
        x, a = self.cache["x"], self.cache["a"]
        dz = activation_backward(self, self.cache["act"], dy, a)
        dx = self.buffer("dx", x.shape) if need_dx else self.buffer("dx_unused", (1, 1))
        kernel(dense_backward)(
            dx, self.grads["w"], self.grads["b"], dz, x, self.params["w"], need_dx
        )
        return dx if need_dx else None
