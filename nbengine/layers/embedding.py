"""TimeEmbedding: token ids (N, T) → their vectors (N, T, D)."""

from __future__ import annotations

from nbengine.kernels.embedding import embedding_backward, embedding_forward
from nbengine.layers.base import Layer


class Embedding(Layer):
    kind = "Embedding"

    def __init__(self, name: str, vocab_size: int, size: int):
        super().__init__(name)
        self.vocab_size, self.size = vocab_size, size

    def _build(self, input_shape, rng):
        # small random vectors, as Deep Learning from Scratch 2 starts them
        self.params = {"W": (rng.standard_normal((self.vocab_size, self.size)) * 0.01).astype(self.dtype)}
        return tuple(input_shape) + (self.size,)

    def describe(self) -> str:
        return f"{self.vocab_size:,} tokens × {self.size}"

    def forward(self, ids, training):
        out = self.buffer("out", ids.shape + (self.size,))
        embedding_forward(out, self.params["W"], ids)
        self.cache = {"ids": ids}
        return out

    def backward(self, dy, need_dx=False):
        embedding_backward(self.grads["W"], dy, self.cache["ids"])
        return None  # token ids have no gradient
