"""TimeAffine: the same dense layer applied at every time step, (N, T, H) → (N, T, V).

The N·T rows are independent, so they go through the dense kernels as one
(N·T, H) matrix.
"""

from __future__ import annotations

import numpy as np

from nbengine.kernels.dense import dense_backward, dense_forward
from nbengine.layers.base import Layer


class TimeAffine(Layer):
    kind = "TimeAffine"

    def __init__(self, name: str, input_size: int, output_size: int):
        super().__init__(name)
        self.D, self.M = input_size, output_size

    def _build(self, input_shape, rng):
        self.params = {"W": (rng.standard_normal((self.D, self.M)) / np.sqrt(self.D)).astype(self.dtype),
                       "b": np.zeros(self.M, self.dtype)}
        return tuple(input_shape[:-1]) + (self.M,)

    def describe(self) -> str:
        return f"{self.D} → {self.M:,} scores"

    def forward(self, xs, training):
        N, T, D = xs.shape
        x = xs.reshape(N * T, D)
        out = self.buffer("out", (N * T, self.M))
        dense_forward(out, x, self.params["W"], self.params["b"])
        self.cache = {"x": x, "shape": xs.shape}
        return out.reshape(N, T, self.M)

    def backward(self, dy, need_dx=True):
        x = self.cache["x"]
        dx = self.buffer("dx", x.shape)
        dense_backward(dx, self.grads["W"], self.grads["b"], dy.reshape(x.shape[0], self.M), x, self.params["W"],
                       need_dx)
        return dx.reshape(self.cache["shape"])
