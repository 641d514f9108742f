"""TransformerBlock: attention, then a feed-forward network, each on a layer-
normalised copy of the stream and each added back to it (pre-norm, as GPT-2):

    h = x + MultiHeadAttention(LayerNorm(x))
    y = h + FeedForward(LayerNorm(h))

(N, T, D) → (N, T, D). The residual adds (kernels/residual.py) give the gradient
a straight road from the output back to the input of every block.
"""

from __future__ import annotations

from nbengine.kernels.residual import residual_backward, residual_forward
from nbengine.layers.attention import MultiHeadAttention
from nbengine.layers.base import Composite
from nbengine.layers.feedforward import FeedForward
from nbengine.layers.layernorm import LayerNorm


class TransformerBlock(Composite):
    kind = "TransformerBlock"

    def __init__(
        self, name: str, size: int, heads: int, hidden: int, causal: bool = True, blas: bool = False
    ):
        super().__init__(name)
        self.D = size
        self.ln1 = LayerNorm("ln1", size)
        self.attn = MultiHeadAttention("attn", size, heads, causal, blas)
        self.ln2 = LayerNorm("ln2", size)
        self.ff = FeedForward("ff", size, hidden, blas)
        self.parts = [self.ln1, self.attn, self.ln2, self.ff]

    def _build(self, input_shape, rng):
        for p in self.parts:
            p.build(input_shape, self.dtype, rng)
        return input_shape

    def describe(self) -> str:
        return f"{self.attn.describe()}; feed-forward {self.ff.describe()}"

    def forward(self, x, training):
        h = self.buffer("h", x.shape)
        residual_forward(
            h.reshape(-1),
            x.reshape(-1),
            self.attn.forward(self.ln1.forward(x, training), training).reshape(-1),
        )
        y = self.buffer("y", x.shape)
        residual_forward(
            y.reshape(-1),
            h.reshape(-1),
            self.ff.forward(self.ln2.forward(h, training), training).reshape(-1),
        )
        return y

    def backward(self, dy, need_dx=True):
        dh = self.buffer("dh", dy.shape)
        residual_backward(
            dh.reshape(-1), dy.reshape(-1), self.ln2.backward(self.ff.backward(dy)).reshape(-1)
        )
        dx = self.buffer("dx", dy.shape)
        residual_backward(
            dx.reshape(-1), dh.reshape(-1), self.ln1.backward(self.attn.backward(dh)).reshape(-1)
        )
        return dx
