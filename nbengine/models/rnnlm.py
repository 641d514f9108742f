"""Language models with a recurrent layer: they read a text one token at a time
and give, after each token, a probability for every token that could come next.

    token ids (N, T) → Embedding (N, T, D) → RNN or LSTM (N, T, H)
                     → TimeAffine (N, T, V) scores → softmax cross-entropy with the next token

The loss is the mean of -log p(the token that really came next); its exponential
is the perplexity, "how many tokens the model is choosing between" (1 is perfect,
V is guessing uniformly). The recurrent layer carries its state from one batch to
the next, so with batches cut from one long text (data.text.bptt_batches) it reads
the text as one stream while the gradient flows back only through the current
batch (truncated backpropagation through time).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from nbengine.i18n import Msg
from nbengine.layers.base import Layer
from nbengine.layers.embedding import Embedding
from nbengine.layers.losses import SoftmaxCrossEntropy
from nbengine.layers.recurrent import TimeLSTM, TimeRNN
from nbengine.layers.time_affine import TimeAffine
from nbengine.models.base import Model, check_dtype

IGNORE = -1  # a target of -1 does not count in the loss


@dataclass
class LanguageModelConfig:
    vocab_size: int
    embed_size: int = 100
    hidden_size: int = 100
    seed: int = 0
    dtype: str = "float32"


class LanguageModel(Model):
    name = "lm"
    Config: ClassVar[type] = LanguageModelConfig
    cell: ClassVar[type[TimeRNN] | type[TimeLSTM]] = TimeRNN
    stateless = False  # it carries a state from batch to batch (see lm_train.evaluate)
    context: int | None = None  # the most tokens it reads at once: no limit

    def __init__(
        self,
        vocab_size: int,
        embed_size: int = 100,
        hidden_size: int = 100,
        seed: int = 0,
        dtype=np.float32,
        extra_config: dict | None = None,
    ):
        self.vocab_size, self.embed_size, self.hidden_size = vocab_size, embed_size, hidden_size
        self.seed = seed
        self.dtype = check_dtype(dtype)
        self.extra_config = dict(extra_config or {})
        self.settings = LanguageModelConfig(
            vocab_size, embed_size, hidden_size, seed, self.dtype.name
        )
        cell_name = "lstm" if self.cell is TimeLSTM else "rnn"
        self.embed: Layer = Embedding("embed", vocab_size, embed_size)
        self.recurrent = self.cell(cell_name, embed_size, hidden_size)
        self.affine = TimeAffine("affine", hidden_size, vocab_size)
        self._assemble([self.embed, self.recurrent, self.affine])

    def _assemble(self, layers) -> None:
        """Build the layers in order from seeded weights (the model's params and grads are
        theirs); the loss is softmax cross-entropy."""
        rng = np.random.default_rng(self.seed)
        shape = (None,)
        for layer in layers:
            shape = layer.build(shape, self.dtype, rng)
        self.loss_fn = SoftmaxCrossEntropy()
        super()._assemble(layers)

    @property
    def sizes(self) -> dict[str, int]:
        """The sizes a training run chose, by setting name."""
        return {"embed_size": self.embed_size, "hidden_size": self.hidden_size}

    @property
    def description(self) -> str:
        """The sizes in a few words, for a status line."""
        return Msg(
            "embedding {embed}, hidden {hidden}", embed=self.embed_size, hidden=self.hidden_size
        )

    # -- computing -------------------------------------------------------------------
    def reset_state(self) -> None:
        """Forget the carried hidden (and cell) state: the next batch starts a new text."""
        for layer in self.layers:
            if hasattr(layer, "reset_state"):
                layer.reset_state()

    def _check(self, ids: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if ids.ndim != 2:
            raise ValueError(f"expected token ids of shape (N, T), got {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"token ids must be in 0..{self.vocab_size - 1}")
        return ids

    def scores(self, xs: np.ndarray) -> np.ndarray:
        """The next-token scores (N, T, V) after each token of xs (N, T); the state moves on."""
        h = self._check(xs)
        for layer in self.layers:
            h = layer.forward(h, training=False)
        return h

    def loss(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """Mean cross-entropy of predicting ts (N, T) after xs, without a backward pass."""
        s = self.scores(xs)
        N, T, V = s.shape
        loss = self.loss_fn.forward(
            s.reshape(N * T, V), np.ascontiguousarray(ts, np.int64).reshape(-1)
        )
        self.count = self.loss_fn.count  # the targets that count (not IGNORE)
        return loss

    def loss_and_backward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """Forward, loss and backpropagation through time; grads then hold dL/dθ."""
        s = self.scores(xs)
        N, T, V = s.shape
        loss = self.loss_fn.forward(
            s.reshape(N * T, V), np.ascontiguousarray(ts, np.int64).reshape(-1)
        )
        self.count = self.loss_fn.count
        d = self.loss_fn.backward().reshape(N, T, V)
        for layer in reversed(self.layers):  # the embedding, first, needs no gradient for its ids
            d = layer.backward(d, need_dx=layer is not self.layers[0])
        return loss

    def next_probabilities(self, ids: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """Feed ids (N, T) and return p(next token) (N, V) after the last one,
        sharpened (temperature < 1) or flattened (> 1) as exp(score / temperature)."""
        s = self.scores(ids)[:, -1].astype(np.float64) / temperature
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        return p / p.sum(axis=1, keepdims=True)

    def generate(
        self,
        start: np.ndarray,
        length: int,
        rng: np.random.Generator,
        temperature: float = 1.0,
        skip: tuple[int, ...] = (),
    ) -> list[int]:
        """Sample ``length`` tokens after the start ids (see :meth:`sample`)."""
        return list(self.sample(start, length, rng, temperature, skip))

    def sample(
        self,
        start: np.ndarray,
        length: int,
        rng: np.random.Generator,
        temperature: float = 1.0,
        skip: tuple[int, ...] = (),
    ) -> Iterator[int]:
        """Yield ``length`` tokens after the start ids, one at a time, each fed back in.

        Tokens in ``skip`` (e.g. "<unk>") are never drawn.
        """
        self.reset_state()
        p = self.next_probabilities(np.asarray(start, np.int64).reshape(1, -1), temperature)[0]
        for i in range(length):
            if skip:
                p[list(skip)] = 0
                p /= p.sum()
            token = int(rng.choice(self.vocab_size, p=p))
            yield token
            if i + 1 < length:
                p = self.next_probabilities(np.array([[token]], np.int64), temperature)[0]

    @classmethod
    def param_shapes(cls, config: dict):
        """(name, shape) of every parameter of the model a config describes, without building it."""
        V, E, H = int(config["vocab_size"]), int(config["embed_size"]), int(config["hidden_size"])
        # the LSTM's four gates side by side
        cell, G = ("lstm", 4 * H) if cls.cell is TimeLSTM else ("rnn", H)
        yield "embed.W", (V, E)
        yield f"{cell}.Wx", (E, G)
        yield f"{cell}.Wh", (H, G)
        yield f"{cell}.b", (G,)
        yield "affine.W", (H, V)
        yield "affine.b", (V,)


class RNNLM(LanguageModel):
    """Embedding → RNN (tanh) → affine → softmax."""

    name = "rnnlm"
    cell = TimeRNN


class LSTMLM(LanguageModel):
    """Embedding → LSTM (gates f, g, i, o from one fused affine) → affine → softmax."""

    name = "lstmlm"
    cell = TimeLSTM


MODELS = {"rnnlm": RNNLM, "lstmlm": LSTMLM}
