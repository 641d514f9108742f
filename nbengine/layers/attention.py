"""Multi-head self-attention: the lesson's four steps, run by H heads side by side.

    x (N, T, D) → Q = x·Wq + bq, K = x·Wk + bk, V = x·Wv + bv     (each (N, T, D))
      → split into H heads of size E = D / H                       (each (N·H, T, E))
      → per head: softmax(Q·Kᵀ / √E) · V, optionally causal        (kernels/attention.py)
      → merge the heads side by side (N, T, D) → out = Z·Wo + bo

Each head has its own slice of Wq, Wk and Wv, so it can learn to look for
something else (one the previous word, one the subject ...); Wo mixes what the
heads found. With ``causal=True`` position t sees only positions ≤ t, as a
language model must. After a forward pass ``cache["weights"]`` holds every
head's attention weights, (N·H, T, T), for traces.
"""

from __future__ import annotations

import math

from nbengine.i18n import Msg
from nbengine.kernels.attention import attention_backward, attention_forward
from nbengine.kernels.heads import (
    merge_heads,
    merge_heads_backward,
    split_heads,
    split_heads_backward,
)
from nbengine.kernels.registry import kernel
from nbengine.layers.base import Composite
from nbengine.layers.time_affine import TimeAffine
from nbengine.trace import record, tracing


def attend(z, weights, q, k, v, scale: float, causal: bool = False) -> None:
    """The lesson's steps 2 to 4 for a batch of sequences, by the attention kernel that
    --kernels picks: weights = softmax(q·kᵀ·scale) row by row, z = weights·v.
    q (N, T, E), k and v (N, S, E); writes weights (N, T, S) and z (N, T, E)."""
    kernel(attention_forward)(z, weights, q, k, v, scale, causal)


class MultiHeadAttention(Composite):
    kind = "MultiHeadAttention"

    def __init__(
        self, name: str, size: int, heads: int = 1, causal: bool = False, blas: bool = False
    ):
        super().__init__(name)
        if heads < 1 or size % heads:
            raise ValueError(f"the size {size} must split into {heads} heads of equal size")
        self.D, self.H, self.causal = size, heads, causal
        self.E = size // heads
        self.q = TimeAffine("q", size, size, blas)
        self.k = TimeAffine("k", size, size, blas)
        self.v = TimeAffine("v", size, size, blas)
        self.o = TimeAffine("o", size, size, blas)
        self.parts = [self.q, self.k, self.v, self.o]

    def _build(self, input_shape, rng):
        if input_shape[-1] != self.D:
            raise ValueError(
                f"{self.name}: expected vectors of size {self.D}, got {input_shape[-1]}"
            )
        for p in self.parts:
            p.build(input_shape, self.dtype, rng)
        return input_shape

    def describe(self) -> str:
        return f"{self.H} head{'s' if self.H > 1 else ''} of {self.E}" + (
            ", causal" if self.causal else ""
        )

    @property
    def scale(self) -> float:
        return 1.0 / math.sqrt(self.E)

    def forward(self, x, training):
        N, T, D = x.shape
        NH, E = N * self.H, self.E
        heads = {}
        for key, proj in (("q", self.q), ("k", self.k), ("v", self.v)):
            h = self.buffer(key + "h", (NH, T, E))
            split_heads(h, proj.forward(x, training))
            heads[key] = h
        weights = self.buffer("weights", (NH, T, T))
        z = self.buffer("z", (NH, T, E))
        attend(z, weights, heads["q"], heads["k"], heads["v"], self.scale, self.causal)
        zm = self.buffer("zm", (N, T, D))
        merge_heads(zm, z)
        out = self.o.forward(zm, training)
        self.cache = {"x": x, "weights": weights, **heads}
        if tracing():
            shape = (N, self.H, T, E)
            record(
                f"{self.name} Q", heads["q"].reshape(shape), Msg("Q = x·Wq + bq, split into heads")
            )
            record(
                f"{self.name} K", heads["k"].reshape(shape), Msg("K = x·Wk + bk, split into heads")
            )
            record(
                f"{self.name} V", heads["v"].reshape(shape), Msg("V = x·Wv + bv, split into heads")
            )
            record(
                f"{self.name} weights",
                weights.reshape(N, self.H, T, T),
                "softmax(Q·Kᵀ / √d_k)",
                Msg("row t: how much position t draws on each position"),
            )
            record(f"{self.name} Z", zm, Msg("Z = weights·V, heads side by side"))
        return out

    def backward(self, dy, need_dx=True):
        c = self.cache
        N, T, D = c["x"].shape
        NH, E = N * self.H, self.E
        dzm = self.o.backward(dy)
        dz = self.buffer("dz", (NH, T, E))
        merge_heads_backward(dz, dzm)
        dqh, dkh, dvh = (self.buffer(key, (NH, T, E)) for key in ("dqh", "dkh", "dvh"))
        kernel(attention_backward)(
            dqh, dkh, dvh, dz, c["weights"], c["q"], c["k"], c["v"], self.scale
        )
        dx = self.buffer("dx", (N, T, D))
        d_proj = self.buffer("d_proj", (N, T, D))
        for i, (proj, dh) in enumerate(((self.q, dqh), (self.k, dkh), (self.v, dvh))):
            split_heads_backward(d_proj, dh)
            dxi = proj.backward(d_proj, need_dx)
            if need_dx:  # x reaches the output by three roads, Q, K and V: their gradients add
                if i == 0:
                    dx[...] = dxi
                else:
                    dx += dxi
        return dx if need_dx else None
