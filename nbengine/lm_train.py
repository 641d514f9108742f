"""Training a language model on one long text: truncated backpropagation through
time, as a generator of events.

The text is read in ``batch_size`` parallel streams, ``time_size`` tokens at a time
(:func:`nbengine.data.text.bptt_batches`). The model carries its hidden state from
one batch to the next, so each stream is read as one text, while the gradient of a
batch flows back only through that batch's ``time_size`` steps. Every epoch starts
from a fresh state, and so does every measurement on another split.

The quality of a language model is its perplexity, exp(mean loss): the loss is
-log p(the token that really came next), averaged over every token, and its
exponential reads as "how many tokens the model is choosing between" (1 is perfect,
V, the vocabulary's size, is guessing uniformly).

:func:`fit_lm` does the work and yields what happened (:class:`LMStep` after every
optimizer step, :class:`LMEpoch` after every epoch, :class:`~nbengine.train.Stopped`
when asked to stop); the caller decides how to show it.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from nbengine.data.text import bptt_batches, window_batches
from nbengine.errors import DataError, DivergedError
from nbengine.optim import clip_global_norm, global_norm
from nbengine.train import Stopped

# exp(loss) is the perplexity; past this loss it is larger than any float (infinite).
MAX_LOSS = math.log(sys.float_info.max)


@dataclass
class LMStep:
    """One optimizer step was taken on one batch."""

    step: int
    total_steps: int
    epoch: int
    loss: float  # the batch's mean loss per token
    grad_norm: float  # the global norm of the gradients, before clipping
    tokens: int  # tokens the batch predicted


@dataclass
class LMEpoch:
    """The end of an epoch: the training loss over its batches, and the validation split's."""

    epoch: int
    loss: float  # mean training loss per token, over the epoch's batches
    perplexity: float
    valid_loss: float | None
    valid_perplexity: float | None
    seconds: float  # time spent on the training steps (not on the validation pass)
    tokens: int  # training tokens predicted in the epoch


@dataclass
class Evaluation:
    """A split measured without a backward pass."""

    loss: float  # mean loss per token
    perplexity: float
    tokens: int  # tokens predicted
    batch_size: int  # the batch shape used (smaller than asked when the split is short)
    time_size: int
    overlapping: bool = False  # read in overlapping windows (a model without state), see window_batches


def perplexity(loss: float) -> float:
    """exp(loss); infinite once that is larger than any float."""
    return math.exp(loss) if loss <= MAX_LOSS else math.inf


def batch_shape(n: int, batch_size: int, time_size: int) -> tuple[int, int]:
    """The batch shape for reading n ids: (batch_size, time_size) when n is enough for
    one batch of them, else fewer streams, then fewer steps, so at least one batch fits."""
    if n < 1:
        raise ValueError("no tokens to read")
    if n >= batch_size * time_size:
        return batch_size, time_size
    b = max(1, min(batch_size, n // time_size))
    return b, max(1, min(time_size, n // b))


def evaluate(model, ids: np.ndarray, batch_size: int, time_size: int, name: str = "corpus") -> Evaluation:
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
        n = model.loss_fn.count
        total += loss * n
        count += n
    model.reset_state()
    mean = total / max(count, 1)
    return Evaluation(mean, perplexity(mean), count, b, t, overlapping)


def _diverged(what: str, loss: float) -> DivergedError:
    if math.isfinite(loss):
        how = f"became {loss:.4g}, so the perplexity e^loss is larger than any number"
    else:
        how = f"became {loss}"
    return DivergedError(f"the {what} {how}: the run diverged; try a smaller learning rate (--lr) "
                         "or clipping the gradients (--clip)")


def fit_lm(model, optimizer, train_ids: np.ndarray, valid_ids: np.ndarray | None = None, *, epochs: int,
           batch_size: int, time_size: int, clip: float | None = None,
           should_stop: Callable[[], bool] | None = None,
           name: str = "corpus") -> Iterator[LMStep | LMEpoch | Stopped]:
    """Truncated BPTT over train_ids for ``epochs`` epochs.

    Each epoch starts from a fresh state and reads the training ids once in bptt
    batches (the same batches every epoch: nothing is shuffled, so the same initial
    weights give the same numbers). Each step: forward and backward over the batch,
    the gradients scaled down to a global norm of ``clip`` when they are larger
    (``clip`` None: never), then the optimizer's step. After the epoch the
    validation ids, if given, are measured with :func:`evaluate`.

    A loss that is not finite, or so large that its perplexity is (above about 709
    nats), stops the run with :class:`DivergedError` before the optimizer applies
    that step, and so does a non-finite gradient or validation loss: an
    :class:`LMEpoch` is only ever yielded for a model whose numbers are finite.
    ``should_stop`` is asked after every step; when it says yes, a Stopped event
    ends the run.
    """
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    train_ids = np.asarray(train_ids, dtype=np.int64).ravel()
    per_epoch = len(train_ids) // (batch_size * time_size)
    bptt_batches(train_ids, batch_size, time_size, name=f"{name} (train)")  # too short: DataError, now
    total = epochs * per_epoch
    step = 0
    for epoch in range(1, epochs + 1):
        model.reset_state()
        loss_sum, tokens = 0.0, 0
        started = time.perf_counter()
        for xs, ts in bptt_batches(train_ids, batch_size, time_size, name=f"{name} (train)"):
            step += 1
            loss = model.loss_and_backward(xs, ts)
            if not loss <= MAX_LOSS:  # also NaN
                raise _diverged(f"training loss at step {step} (epoch {epoch})", loss)
            norm = clip_global_norm(model.grads, clip) if clip is not None else global_norm(model.grads)
            if not math.isfinite(norm):
                raise _diverged(f"gradients' norm at step {step} (epoch {epoch})", norm)
            optimizer.step()
            n = model.loss_fn.count
            loss_sum += loss * n
            tokens += n
            yield LMStep(step, total, epoch, loss, norm, n)
            if should_stop is not None and should_stop():
                yield Stopped(step, epoch)
                return
        seconds = time.perf_counter() - started
        mean = loss_sum / max(tokens, 1)
        valid_loss = valid_ppl = None
        if valid_ids is not None and len(valid_ids):
            ev = evaluate(model, valid_ids, batch_size, time_size, name=f"{name} (valid)")
            if not ev.loss <= MAX_LOSS:
                raise _diverged(f"validation loss after epoch {epoch}", ev.loss)
            valid_loss, valid_ppl = ev.loss, ev.perplexity
        model.reset_state()
        yield LMEpoch(epoch, mean, perplexity(mean), valid_loss, valid_ppl, seconds, tokens)
