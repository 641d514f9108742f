"""FeedForward: the same two-layer network applied at every position,
x (N, T, D) → GELU(x·W1 + b1) (N, T, F) → ·W2 + b2 (N, T, D), with F = 4·D as a rule.

Attention mixes information between positions; this block then works on each
position's vector alone.
"""

from __future__ import annotations

from nbengine.kernels.gelu import gelu_backward, gelu_forward
from nbengine.kernels.registry import kernel
from nbengine.layers.base import Composite
from nbengine.layers.time_affine import TimeAffine


class FeedForward(Composite):
    kind = "FeedForward"

    def __init__(self, name: str, size: int, hidden: int, blas: bool = False):
        super().__init__(name)
        self.D, self.F = size, hidden
        self.up = TimeAffine("up", size, hidden, blas)
        self.down = TimeAffine("down", hidden, size, blas)
        self.parts = [self.up, self.down]

    def _build(self, input_shape, rng):
        shape = self.up.build(input_shape, self.dtype, rng)
        return self.down.build(shape, self.dtype, rng)

    def describe(self) -> str:
        return f"{self.D} → {self.F} (GELU) → {self.D}"

    def forward(self, x, training):
        a = self.up.forward(x, training)
        g = self.buffer("g", a.shape)
        kernel(gelu_forward)(g.reshape(-1), a.reshape(-1))
        self.cache = {"a": a}
        return self.down.forward(g, training)

    def backward(self, dy, need_dx=True):
        dg = self.down.backward(dy)
        a = self.cache["a"]
        da = self.buffer("da", a.shape)
        kernel(gelu_backward)(da.reshape(-1), dg.reshape(-1), a.reshape(-1))
        return self.up.backward(da, need_dx)
