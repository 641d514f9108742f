"""TimeAffine: the same dense layer applied at every time step, (N, T, H) → (N, T, V).

The N·T rows are independent, so they go through as one (N·T, H) matrix. For a
language model this is by far the largest product of a step (at the book's PTB
sizes 700 × 100 × 10,000 multiply-adds forward, twice that backward). It runs
through the explicit loops of kernels/dense.py, the same as a Dense layer.
``blas=True`` hands the same products to NumPy's BLAS instead, a library tuned
for exactly this; the tests check that the two agree.

Why the loops by default: at the PTB sizes, the products alone take about 9 ms
forward and 19 ms backward with BLAS against 12 ms and 21 ms with the loops, but
a step that mixes the two thread pools (Numba's for the recurrent kernels,
OpenBLAS's for the products) loses more than that when they wait on each other:
a whole LSTM LM training step took 57 ms with BLAS and 44 ms with the loops
(`nbengine bench lstmlm`, benchmarks/README.md).
"""

from __future__ import annotations

import numpy as np

from nbengine.kernels.dense import column_sums, dense_backward, dense_forward
from nbengine.kernels.registry import kernel
from nbengine.layers.base import Layer


class TimeAffine(Layer):
    kind = "TimeAffine"

    def __init__(self, name: str, input_size: int, output_size: int, blas: bool = False):
        super().__init__(name)
        self.D, self.M = input_size, output_size
        self.blas = blas

    def _build(self, input_shape, rng):
        self.params = {
            "W": (rng.standard_normal((self.D, self.M)) / np.sqrt(self.D)).astype(self.dtype),
            "b": np.zeros(self.M, self.dtype),
        }
        return tuple(input_shape[:-1]) + (self.M,)

    def describe(self) -> str:
        return f"{self.D} → {self.M:,} scores"

    def forward(self, xs, training):
        """out = x·W + b for every row x of xs."""
        N, T, D = xs.shape
        x = xs.reshape(N * T, D)
        out = self.buffer("out", (N * T, self.M))
        W, b = self.params["W"], self.params["b"]
        if self.blas:
            # a diverged run is reported by its loss
            with np.errstate(over="ignore", invalid="ignore"):
                np.matmul(x, W, out=out)
                out += b
        else:
            kernel(dense_forward)(out, x, W, b)
        self.cache = {"x": x, "shape": xs.shape}
        return out.reshape(N, T, self.M)

    def backward(self, dy, need_dx=True):
        """dW = xᵀ·dout, db = Σ dout over rows, dx = dout·Wᵀ."""
        x = self.cache["x"]
        dout = dy.reshape(x.shape[0], self.M)
        dx = self.buffer("dx", x.shape)
        W, dW, db = self.params["W"], self.grads["W"], self.grads["b"]
        if self.blas:
            with np.errstate(over="ignore", invalid="ignore"):
                np.matmul(x.T, dout, out=dW)
                if need_dx:
                    np.matmul(dout, W.T, out=dx)
            column_sums(db, dout)
        else:
            kernel(dense_backward)(dx, dW, db, dout, x, W, need_dx)
        return dx.reshape(self.cache["shape"]) if need_dx else None
