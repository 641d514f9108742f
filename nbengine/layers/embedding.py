"""Embeddings: token ids (N, T) → their vectors (N, T, D); with PositionEmbedding, plus a vector per position."""

from __future__ import annotations

from nbengine.kernels.embedding import embedding_backward, embedding_forward
from nbengine.kernels.position_embedding import (
    position_embedding_backward,
    position_embedding_forward,
)
from nbengine.layers.base import Layer


class Embedding(Layer):
    kind = "Embedding"

    def __init__(self, name: str, vocab_size: int, size: int):
        super().__init__(name)
        self.vocab_size, self.size = vocab_size, size

    def _build(self, input_shape, rng):
        # small random vectors, as Deep Learning from Scratch 2 starts them
        self.params = {
            "W": (rng.standard_normal((self.vocab_size, self.size)) * 0.01).astype(self.dtype)
        }
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


class PositionEmbedding(Layer):
    """Token ids (N, T) → token vector + position vector (N, T, D), for T up to
    ``length`` (see kernels/position_embedding.py)."""

    kind = "PositionEmbedding"

    def __init__(self, name: str, vocab_size: int, length: int, size: int):
        super().__init__(name)
        self.vocab_size, self.length, self.size = vocab_size, length, size

    def _build(self, input_shape, rng):
        # small random vectors (GPT-2 starts both tables with standard deviation 0.02)
        self.params = {
            "tokens": (rng.standard_normal((self.vocab_size, self.size)) * 0.02).astype(self.dtype),
            "positions": (rng.standard_normal((self.length, self.size)) * 0.02).astype(self.dtype),
        }
        return tuple(input_shape) + (self.size,)

    def describe(self) -> str:
        return f"{self.vocab_size:,} tokens + {self.length} positions, × {self.size}"

    def forward(self, ids, training):
        if ids.shape[1] > self.length:
            raise ValueError(
                f"{ids.shape[1]} positions is more than the {self.length} this model has vectors for"
            )
        out = self.buffer("out", ids.shape + (self.size,))
        position_embedding_forward(out, self.params["tokens"], self.params["positions"], ids)
        self.cache = {"ids": ids}
        return out

    def backward(self, dy, need_dx=False):
        position_embedding_backward(
            self.grads["tokens"], self.grads["positions"], dy, self.cache["ids"]
        )
        return None  # token ids have no gradient
