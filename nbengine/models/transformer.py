"""A small Transformer language model (GPT-style, decoder only): it reads up to
``context`` tokens and gives, after each one, a probability for every token that
could come next, using only the tokens up to it (causal attention).

    token ids (N, T) → token + position vectors (N, T, D)
                     → blocks × [ h = x + Attention(LayerNorm(x));  y = h + FeedForward(LayerNorm(h)) ]
                     → LayerNorm → TimeAffine (N, T, V) scores → softmax cross-entropy with the next token

Unlike the recurrent models it carries no state from one batch to the next: each
batch of T ≤ context tokens is read on its own, and every position looks back at
every earlier one in the batch directly, through attention, instead of through a
chain of hidden states. It trains with the same loop, loss and perplexity as the
recurrent models (nbengine.lm_train), and saves and loads the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nbengine.i18n import Msg
from nbengine.layers.embedding import PositionEmbedding
from nbengine.layers.layernorm import LayerNorm
from nbengine.layers.time_affine import TimeAffine
from nbengine.layers.transformer import TransformerBlock
from nbengine.models.base import check_dtype
from nbengine.models.rnnlm import LanguageModel


@dataclass
class TransformerConfig:
    vocab_size: int
    size: int = 64
    heads: int = 4
    blocks: int = 2
    hidden: int = 256
    context: int = 64
    seed: int = 0
    dtype: str = "float32"


class TransformerLM(LanguageModel):
    """Embeddings → causal transformer blocks → layer norm → affine → softmax."""

    name = "transformer"
    Config = TransformerConfig
    stateless = True  # each batch is read on its own: evaluation reads overlapping windows
    context: int  # the most tokens it reads at once

    def __init__(
        self,
        vocab_size: int,
        size: int = 64,
        heads: int = 4,
        blocks: int = 2,
        hidden: int | None = None,
        context: int = 64,
        seed: int = 0,
        dtype=np.float32,
        extra_config: dict | None = None,
    ):
        self.vocab_size, self.size, self.heads, self.blocks = vocab_size, size, heads, blocks
        self.hidden = 4 * size if hidden is None else hidden
        self.context = context
        self.seed = seed
        self.dtype = check_dtype(dtype)
        for what, v in (
            ("vocab_size", vocab_size),
            ("size", size),
            ("heads", heads),
            ("blocks", blocks),
            ("hidden", self.hidden),
            ("context", context),
        ):
            if v < 1:
                raise ValueError(f"{what} must be at least 1, not {v}")
        self.extra_config = dict(extra_config or {})
        self.settings = TransformerConfig(
            vocab_size, size, heads, blocks, self.hidden, context, seed, self.dtype.name
        )
        self.embed = PositionEmbedding("embed", vocab_size, context, size)
        stack = [
            TransformerBlock(f"block{b}", size, heads, self.hidden, causal=True)
            for b in range(blocks)
        ]
        self.ln = LayerNorm("ln", size)
        self.affine = TimeAffine("affine", size, vocab_size)
        self._assemble([self.embed, *stack, self.ln, self.affine])

    @property
    def sizes(self) -> dict[str, int]:
        """The sizes a training run chose, by setting name (the context is the run's time_size)."""
        return {
            "size": self.size,
            "heads": self.heads,
            "blocks": self.blocks,
            "hidden": self.hidden,
        }

    @property
    def description(self) -> str:
        """The sizes in a few words, for a status line."""
        b, h = self.blocks, self.heads
        return Msg(
            "{blocks} of {heads}, size {size}, feed-forward {hidden}, context {context}",
            blocks=Msg("{n} block", n=b) if b == 1 else Msg("{n} blocks", n=b),
            heads=Msg("{n} head", n=h) if h == 1 else Msg("{n} heads", n=h),
            size=self.size,
            hidden=self.hidden,
            context=self.context,
        )

    def _check(self, ids):
        ids = super()._check(ids)
        if ids.shape[1] > self.context:
            raise ValueError(
                f"this model reads at most {self.context} tokens at a time, not {ids.shape[1]}"
            )
        return ids

    def next_probabilities(self, ids: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """p(next token) (N, V) after the last of ids (N, T); only the last ``context`` ids are read."""
        ids = np.asarray(ids, np.int64)
        return super().next_probabilities(ids[:, -self.context :], temperature)

    def sample(
        self,
        start: np.ndarray,
        length: int,
        rng: np.random.Generator,
        temperature: float = 1.0,
        skip: tuple[int, ...] = (),
    ) -> Iterator[int]:
        """Yield ``length`` tokens after the start ids, each one appended to the text
        the next is predicted from (its last ``context`` tokens; the model has no state).

        Tokens in ``skip`` (e.g. "<unk>") are never drawn.
        """
        text = [int(i) for i in np.asarray(start, np.int64).ravel()]
        for _ in range(length):
            p = self.next_probabilities(np.array([text[-self.context :]], np.int64), temperature)[0]
            if skip:
                p[list(skip)] = 0
                p /= p.sum()
            token = int(rng.choice(self.vocab_size, p=p))
            yield token
            text.append(token)

    @classmethod
    def param_shapes(cls, config: dict):
        """(name, shape) of every parameter of the model a config describes, without building it."""
        V, D, F, T = (int(config[k]) for k in ("vocab_size", "size", "hidden", "context"))
        yield "embed.tokens", (V, D)
        yield "embed.positions", (T, D)
        for b in range(int(config["blocks"])):
            yield from block_shapes(f"block{b}", D, F)
        yield "ln.gamma", (D,)
        yield "ln.beta", (D,)
        yield "affine.W", (D, V)
        yield "affine.b", (V,)


def block_shapes(name: str, D: int, F: int):
    """(name, shape) of a TransformerBlock's parameters: two layer norms, the attention's
    four D × D projections, the feed-forward network's D × F and F × D."""
    for norm in ("ln1", "ln2"):
        yield f"{name}.{norm}.gamma", (D,)
        yield f"{name}.{norm}.beta", (D,)
    for w in "qkvo":
        yield f"{name}.attn.{w}.W", (D, D)
        yield f"{name}.attn.{w}.b", (D,)
    yield f"{name}.ff.up.W", (D, F)
    yield f"{name}.ff.up.b", (F,)
    yield f"{name}.ff.down.W", (F, D)
    yield f"{name}.ff.down.b", (D,)
