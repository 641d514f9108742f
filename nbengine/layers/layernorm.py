"""LayerNorm: each position's vector scaled to mean 0 and variance 1, then
stretched and shifted by learnt gamma and beta (see kernels/layernorm.py).

(..., C) → (..., C): every leading axis is a row.
"""

from __future__ import annotations

import numpy as np

from nbengine.kernels.conv2d import sum_parts
from nbengine.kernels.layernorm import layernorm_backward, layernorm_forward
from nbengine.kernels.registry import kernel
from nbengine.layers.base import Layer

PARTS = 8  # row parts for gamma's and beta's gradients, added in order


class LayerNorm(Layer):
    kind = "LayerNormalization"

    def __init__(self, name: str, size: int, eps: float = 1e-5):
        super().__init__(name)
        self.C, self.eps = size, eps

    def _build(self, input_shape, rng):
        self.params = {"gamma": np.ones(self.C, self.dtype), "beta": np.zeros(self.C, self.dtype)}
        return input_shape

    def describe(self) -> str:
        return f"over {self.C} features"

    def forward(self, x, training):
        shape = x.shape
        x2 = np.ascontiguousarray(x).reshape(-1, self.C)
        R = x2.shape[0]
        out = self.buffer("out", (R, self.C))
        mean, rstd = self.buffer("mean", (R,)), self.buffer("rstd", (R,))
        kernel(layernorm_forward)(
            out, mean, rstd, x2, self.params["gamma"], self.params["beta"], self.eps
        )
        self.cache = {"x": x2, "mean": mean, "rstd": rstd, "shape": shape}
        return out.reshape(shape)

    def backward(self, dy, need_dx=True):
        c = self.cache
        R = c["x"].shape[0]
        P = max(1, min(R, PARTS))
        dx = self.buffer("dx", (R, self.C))
        dgamma_parts, dbeta_parts = (
            self.buffer("dgamma_parts", (P, self.C)),
            self.buffer("dbeta_parts", (P, self.C)),
        )
        kernel(layernorm_backward)(
            dx,
            dgamma_parts,
            dbeta_parts,
            np.ascontiguousarray(dy).reshape(R, self.C),
            c["x"],
            c["mean"],
            c["rstd"],
            self.params["gamma"],
        )
        sum_parts(self.grads["gamma"], dgamma_parts)
        sum_parts(self.grads["beta"], dbeta_parts)
        return dx.reshape(c["shape"])
