"""Dropout: during training, zero a random share of the values (Keras's Dropout)."""

from __future__ import annotations

import numpy as np

from nbengine.i18n import Msg
from nbengine.kernels.dropout import dropout_backward, dropout_forward
from nbengine.layers.base import Layer
from nbengine.trace import record, tracing


class Dropout(Layer):
    """Inverted dropout with its own seeded generator; the identity at inference."""

    kind = "Dropout"

    def __init__(self, name: str, rate: float, seed: int = 0):
        super().__init__(name)
        if not 0 <= rate < 1:
            raise ValueError(f"the dropout rate must be in [0, 1), not {rate}")
        self.rate = rate
        self.rng = np.random.default_rng(seed)

    def describe(self) -> str:
        return Msg("rate {rate:g} (training only)", rate=self.rate)

    def forward(self, x, training):
        if not training or self.rate == 0:
            self.cache = {"keep": None}
            return x
        keep = (self.rng.random(x.shape, dtype=np.float32) >= self.rate).astype(np.uint8)
        scale = x.dtype.type(1.0 / (1.0 - self.rate))
        out = self.buffer("out", x.shape)
        dropout_forward(out.reshape(-1), x.reshape(-1), keep.reshape(-1), scale)
        self.cache = {"keep": keep, "scale": scale}
        if tracing():
            record(
                f"{self.name} mask",
                keep,
                Msg("1 with probability {p:g}", p=1 - self.rate),
                Msg("which values survive"),
            )
        return out

    def backward(self, dy, need_dx=True):
        keep = self.cache["keep"]
        if keep is None:
            return dy
        dx = self.buffer("dx", dy.shape)
        dropout_backward(dx.reshape(-1), dy.reshape(-1), keep.reshape(-1), self.cache["scale"])
        return dx
