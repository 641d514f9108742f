"""Language models on one long text: its batches for truncated backpropagation
through time, and measuring a split's perplexity.

The text is read in ``batch_size`` parallel streams, ``time_size`` tokens at a time
(:func:`nbengine.data.text.bptt_batches`). The model carries its hidden state from
one batch to the next, so each stream is read as one text, while the gradient of a
batch flows back only through that batch's ``time_size`` steps. Every epoch starts
from a fresh state (the training loop, nbengine.train, resets it), and so does every
measurement on another split.

The quality of a language model is its perplexity, exp(mean loss): the loss is
-log p(the token that really came next), averaged over every token, and its
exponential reads as "how many tokens the model is choosing between" (1 is perfect,
V, the vocabulary's size, is guessing uniformly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from nbengine.data.text import bptt_batches, window_batches
from nbengine.errors import DataError
from nbengine.train import perplexity


@dataclass
class Evaluation:
    """A split measured without a backward pass."""

    loss: float  # mean loss per token
    perplexity: float
    tokens: int  # tokens predicted
    batch_size: int  # the batch shape used (smaller than asked when the split is short)
    time_size: int
    # read in overlapping windows (a model without state), see window_batches
    overlapping: bool = False


def batch_shape(n: int, batch_size: int, time_size: int) -> tuple[int, int]:
    """The batch shape for reading n ids: (batch_size, time_size) when n is enough for
    one batch of them, else fewer streams, then fewer steps, so at least one batch fits."""
    if n < 1:
        raise ValueError("no tokens to read")
    if n >= batch_size * time_size:
        return batch_size, time_size
    b = max(1, min(batch_size, n // time_size))
    return b, max(1, min(time_size, n // b))


def evaluate(
    model, ids: np.ndarray, batch_size: int, time_size: int, name: str = "corpus"
) -> Evaluation:
    """The mean loss and perplexity of predicting every next token of ids.

    The ids are read in bptt batches with the state carried from batch to batch, and
    no backward pass; a split too short for one (batch_size × time_size) batch is read
    with a smaller one (see :func:`batch_shape`). The state is reset before and after.
    A model without state (``model.stateless``, a Transformer) reads them instead in
    windows of time_size overlapping by half (:func:`~nbengine.data.text.window_batches`),
    so each token is predicted once and from more than its window's first few tokens.
    """
    ids = np.asarray(ids, dtype=np.int64).ravel()
    if ids.size == 0:
        raise DataError(name, "has no tokens")
    overlapping = model.stateless
    if overlapping:
        b, t = batch_size, min(time_size, ids.size - 1)
        batches = window_batches(ids, b, t, name=name)
    else:
        b, t = batch_shape(ids.size, batch_size, time_size)
        batches = bptt_batches(ids, b, t, name=name)
    model.reset_state()
    total, count = 0.0, 0
    for xs, ts in batches:
        loss = model.loss(xs, ts)
        n = model.count
        total += loss * n
        count += n
    model.reset_state()
    mean = total / max(count, 1)
    return Evaluation(mean, perplexity(mean), count, b, t, overlapping)


def text_batches(
    ids: np.ndarray, batch_size: int, time_size: int, name: str = "corpus"
) -> tuple[Callable[[int], Iterator[tuple]], int]:
    """(the batches of an epoch, how many there are) for training on ids: the same
    bptt batches every epoch (nothing is shuffled, so the same initial weights give
    the same numbers). Ids too short for one batch raise DataError now."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    bptt_batches(ids, batch_size, time_size, name=name)  # too short: DataError, now
    return (lambda _: bptt_batches(ids, batch_size, time_size, name=name)), len(ids) // (
        batch_size * time_size
    )


def fit_corpus(
    model,
    optimizer,
    corpus,
    batch_size: int,
    time_size: int,
    *,
    epochs: int,
    clip: float | None = None,
) -> tuple[Callable, int, tuple]:
    """Training on a corpus's training text, as (start, steps per epoch, the first batch).

    ``start(should_stop)`` runs :func:`nbengine.train.fit` on the text's bptt batches
    (:func:`text_batches`), with the training perplexity of every step and epoch; after
    each epoch the validation split's loss and perplexity (None for a corpus without
    one), and at the end the test split's loss, perplexity and tokens ("n_test"). The
    first batch is for warming the kernels up. Too short a text raises DataError now.
    """
    from nbengine.train import fit

    batches, per_epoch = text_batches(
        corpus.train, batch_size, time_size, name=f"{corpus.name} (train)"
    )

    def measure(model) -> dict:
        if not len(corpus.valid):
            return {"valid_loss": None, "valid_perplexity": None}
        ev = evaluate(model, corpus.valid, batch_size, time_size, name=f"{corpus.name} (valid)")
        return {"valid_loss": ev.loss, "valid_perplexity": ev.perplexity}

    def finish(model) -> dict:
        test = evaluate(model, corpus.test, batch_size, time_size, name=f"{corpus.name} (test)")
        return {"test_loss": test.loss, "test_perplexity": test.perplexity, "n_test": test.tokens}

    def start(should_stop=None):
        return fit(
            model,
            optimizer,
            batches,
            epochs=epochs,
            steps_per_epoch=per_epoch,
            clip=clip,
            measure=measure,
            finish=finish,
            perplexities=True,
            should_stop=should_stop,
        )

    return start, per_epoch, next(iter(batches(0)))
