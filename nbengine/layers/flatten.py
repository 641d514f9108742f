"""Flatten: (N, H, W, C) feature maps → (N, H·W·C) rows for a dense layer."""

from __future__ import annotations

from nbengine.kernels.flatten import flatten_backward, flatten_forward
from nbengine.layers.base import Layer


class Flatten(Layer):
    kind = "Flatten"

    def _build(self, input_shape, rng):
        size = 1
        for d in input_shape:
            size *= d
        return (size,)

    def forward(self, x, training):
        out = self.buffer("out", (x.shape[0],) + self.output_shape)
        flatten_forward(out, x)
        self.cache = {"x_shape": x.shape}
        return out

    def backward(self, dy, need_dx=True):
        dx = self.buffer("dx", self.cache["x_shape"])
        flatten_backward(dx, dy)
        return dx
