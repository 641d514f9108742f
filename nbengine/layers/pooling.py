"""MaxPooling2D: keep the largest value of each window (Keras's MaxPooling2D)."""

from __future__ import annotations

import numpy as np

from nbengine.i18n import Msg
from nbengine.kernels.conv2d import output_size
from nbengine.kernels.maxpool import maxpool_backward, maxpool_forward
from nbengine.layers.base import Layer
from nbengine.trace import record, tracing


class MaxPool2D(Layer):
    """out = max over each window; x (N, H, W, C), out (N, OH, OW, C). No parameters."""

    kind = "MaxPooling2D"

    def __init__(self, name: str, pool_size=(2, 2), strides=None, padding="valid"):
        super().__init__(name)
        self.pool_size = tuple(pool_size)
        self.strides = tuple(strides) if strides is not None else self.pool_size  # Keras's default
        self.padding = padding

    def _build(self, input_shape, rng):
        H, W, C = input_shape
        OH, self.pt, _ = output_size(H, self.pool_size[0], self.strides[0], self.padding)
        OW, self.pl, _ = output_size(W, self.pool_size[1], self.strides[1], self.padding)
        return (OH, OW, C)

    def describe(self) -> str:
        ph, pw = self.pool_size
        return Msg(
            "{ph}×{pw}, stride {stride}, padding {padding}",
            ph=ph,
            pw=pw,
            stride=self.strides[0],
            padding=self.padding,
        )

    def forward(self, x, training):
        N = x.shape[0]
        out = self.buffer("out", (N,) + self.output_shape)
        arg = self.buffer("arg", (N,) + self.output_shape, np.int32)
        maxpool_forward(
            out,
            arg,
            x,
            self.pool_size[0],
            self.pool_size[1],
            self.strides[0],
            self.strides[1],
            self.pt,
            self.pl,
        )
        self.cache = {"x_shape": x.shape, "arg": arg}
        if tracing():
            record(
                self.name,
                out,
                Msg("max over each window"),
                Msg("{h}×{w} maps", h=self.output_shape[0], w=self.output_shape[1]),
            )
        return out

    def backward(self, dy, need_dx=True):
        dx = self.buffer("dx", self.cache["x_shape"])
        maxpool_backward(dx, dy, self.cache["arg"])
        return dx
