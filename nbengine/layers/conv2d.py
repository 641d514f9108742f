"""Conv2D: a bank of K filters slid over the image, then an activation (Keras's Conv2D)."""

from __future__ import annotations

import numpy as np

from nbengine.i18n import Msg
from nbengine.kernels.conv2d import conv2d_backward, conv2d_forward, output_size, sum_parts
from nbengine.kernels.registry import kernel
from nbengine.layers.activation import ACTIVATIONS, activate, activation_backward
from nbengine.layers.base import Layer, glorot_uniform
from nbengine.trace import record, tracing

# The batch is cut into this many parts for the weight gradient (fewer for a
# smaller batch); each part is summed on its own and the parts are then added in
# order. Fixed, not the thread count, so any number of threads gives the same bits.
PARTS = 8


class Conv2D(Layer):
    """out = activation(conv(x, w) + b); x (N, H, W, C), w (R, S, C, K), out (N, OH, OW, K)."""

    kind = "Conv2D"

    def __init__(
        self,
        name: str,
        filters: int,
        kernel_size=(3, 3),
        strides=(1, 1),
        padding="same",
        activation: str | None = "relu",
    ):
        super().__init__(name)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, not {activation!r}")
        self.filters = filters
        self.kernel_size = tuple(kernel_size)
        self.strides = tuple(strides)
        self.padding = padding
        self.activation = activation

    def _build(self, input_shape, rng):
        H, W, C = input_shape
        (R, S), K = self.kernel_size, self.filters
        OH, self.pt, _ = output_size(H, R, self.strides[0], self.padding)
        OW, self.pl, _ = output_size(W, S, self.strides[1], self.padding)
        self.params = {
            "w": glorot_uniform(rng, (R, S, C, K), R * S * C, R * S * K, self.dtype),
            "b": np.zeros(K, self.dtype),
        }
        return (OH, OW, K)

    def describe(self) -> str:
        R, S = self.kernel_size
        act = f", {self.activation}" if self.activation else ""
        return Msg(
            "{n} filters {R}×{S}, stride {stride}, padding {padding}{act}",
            n=self.filters,
            R=R,
            S=S,
            stride=self.strides[0],
            padding=self.padding,
            act=act,
        )

    def forward(self, x, training):
        N = x.shape[0]
        z = self.buffer("z", (N,) + self.output_shape)
        sh, sw = self.strides
        kernel(conv2d_forward)(z, x, self.params["w"], self.params["b"], sh, sw, self.pt, self.pl)
        a = activate(self, self.activation, z)
        self.cache = {"x": x, "a": a}
        if tracing():
            R, S = self.kernel_size
            record(
                self.name,
                a,
                Msg(
                    "{act}(Σ x·w + b) over {R}×{S}×{C} windows",
                    act=self.activation or "",
                    R=R,
                    S=S,
                    C=x.shape[3],
                ),
                Msg(
                    "{n} feature maps of {h}×{w}",
                    n=self.filters,
                    h=self.output_shape[0],
                    w=self.output_shape[1],
                ),
            )
        return a

    def backward(self, dy, need_dx=True):
        x, a = self.cache["x"], self.cache["a"]
        N = x.shape[0]
        w = self.params["w"]
        dz = activation_backward(self, self.activation, dy, a)
        P = min(N, PARTS)
        dw_parts = self.buffer("dw_parts", (P,) + w.shape)
        db_parts = self.buffer("db_parts", (P, self.filters))
        dx = self.buffer("dx", x.shape) if need_dx else self.buffer("dx_unused", (1, 1, 1, 1))
        sh, sw = self.strides
        kernel(conv2d_backward)(dx, dw_parts, db_parts, dz, x, w, sh, sw, self.pt, self.pl, need_dx)
        sum_parts(self.grads["w"].reshape(-1), dw_parts.reshape(P, -1))
        sum_parts(self.grads["b"], db_parts)
        if tracing():
            record(f"dL/d{self.name}.w", self.grads["w"], Msg("Σ over n, i, j of x·dout"), "")
        return dx if need_dx else None
