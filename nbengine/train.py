"""The training loop, one for every model, as a generator of events.

:func:`fit` does the work and yields what happened: a :class:`Step` after every
optimizer step, an :class:`Epoch` after every epoch, a :class:`Result` at the end,
:class:`Stopped` when asked to stop, :class:`Diverged` just before it raises
:class:`~nbengine.errors.DivergedError`. The caller decides how to show them (a
table, JSON lines, a progress bar, nothing).

What differs from one model to another is passed in: the batches of an epoch
(:func:`shuffled` for samples, ``nbengine.lm_train.text_batches`` for a long text),
whether the gradients are clipped, what is measured after each epoch and at the end.
The model is a :class:`nbengine.models.base.Model` (``loss_and_backward(*batch)``,
``count``, ``correct``, ``reset_state()``, ``grads``); the optimizer only needs ``step()``.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from nbengine.errors import DivergedError
from nbengine.optim import clip_global_norm
from nbengine.trace import Step as TraceStep
from nbengine.trace import Tracer

# exp(loss) is the perplexity; past this loss it is larger than any float (infinite).
MAX_LOSS = math.log(sys.float_info.max)


@dataclass
class Step:
    """One optimizer step was taken."""

    step: int
    total_steps: int | None  # None when the caller did not say how many steps an epoch has
    epoch: int
    loss: float  # the batch's mean loss
    count: int  # predictions the batch made (samples, or tokens)
    grad_norm: float | None = None  # the gradients' global norm before clipping (when clipping)
    perplexity: float | None = None  # exp(loss), for a model that reports perplexities
    trace: list[TraceStep] | None = None  # the named tensors of the step, when it was traced


@dataclass
class Epoch:
    """The end of an epoch: the mean training loss over its predictions, and what was measured."""

    epoch: int
    loss: float
    seconds: float  # time spent on the epoch's training steps (not on measuring)
    count: int  # predictions made in the epoch (samples, or tokens)
    metrics: dict = field(default_factory=dict)  # e.g. train_accuracy, test_accuracy, perplexity


@dataclass
class Result:
    """The end of training: what was measured on the trained model."""

    epochs: int
    metrics: dict


@dataclass
class Stopped:
    """Training stopped early when asked to (after a whole step, never inside one)."""

    step: int
    epoch: int


@dataclass
class Diverged:
    """The numbers stopped being finite; DivergedError follows. The optimizer did not apply the step."""

    step: int
    epoch: int
    reason: str


Event = Step | Epoch | Result | Stopped | Diverged


def perplexity(loss: float) -> float:
    """exp(loss); infinite once that is larger than any float."""
    return math.exp(loss) if loss <= MAX_LOSS else math.inf


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(x) == y))


def confusion_matrix(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """How many samples of each true class (row) were predicted as each class (column)."""
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    return confusion


def batches(n: int, batch_size: int) -> int:
    """How many batches of batch_size n samples make (the last one may be smaller)."""
    return -(-n // batch_size)


def shuffled(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int
) -> Callable[[int], Iterator[tuple]]:
    """The batches of an epoch of samples: each epoch visits them in a new order drawn
    from a generator seeded with ``seed`` (so the same seed gives the same batches)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rng = np.random.default_rng(seed)

    def epoch(_: int) -> Iterator[tuple]:
        order = rng.permutation(x.shape[0])
        for start in range(0, x.shape[0], batch_size):
            idx = order[start : start + batch_size]
            yield x[idx], y[idx]

    return epoch


def _how(loss: float) -> str:
    if math.isfinite(loss):
        return f"became {loss:.4g}, so its perplexity e^loss is larger than any number"
    return f"became {loss}"


def fit(
    model,
    optimizer,
    batches: Callable[[int], Iterable[tuple]],
    *,
    epochs: int,
    steps_per_epoch: int | None = None,
    clip: float | None = None,
    measure: Callable[[object], dict] | None = None,
    finish: Callable[[object], dict] | None = None,
    perplexities: bool = False,
    trace_every: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[Event]:
    """Train ``model`` for ``epochs`` epochs on ``batches(epoch)`` (epoch counted from 1;
    each batch a tuple of ``model.loss_and_backward``'s arguments; ``steps_per_epoch``,
    if given, is how many there are, for :attr:`Step.total_steps`).

    Each step: forward and backward, the gradients scaled down to a global norm of
    ``clip`` when they are larger (None: never; the norm is then not computed), the
    optimizer's step. Every epoch starts from a fresh state (``model.reset_state()``).
    After it, ``measure(model)`` (e.g. accuracies on a test split) gives the epoch's
    metrics, beside the running training accuracy when the model counts right
    predictions (a measured ``train_accuracy`` takes its place) and the training
    perplexity with ``perplexities``. After the last epoch, :class:`Result` carries
    ``finish(model)`` (default: the last epoch's metrics).

    The run diverges, with a :class:`Diverged` event and then DivergedError, and before
    the optimizer applies that step, when a loss is not finite (or, with
    ``perplexities``, so large that its perplexity is not), when the gradients' norm is
    not finite, or when a measured metric is not: an :class:`Epoch` is only yielded for
    a model whose numbers are finite. With ``trace_every`` = k > 0, steps 1, k+1, 2k+1,
    ... are traced (:attr:`Step.trace`). ``should_stop`` is asked after every step;
    when it says yes, a :class:`Stopped` event ends the run.
    """
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    limit = MAX_LOSS if perplexities else math.inf
    total = epochs * steps_per_epoch if steps_per_epoch is not None else None
    step = 0
    metrics: dict = {}
    for epoch in range(1, epochs + 1):
        model.reset_state()
        loss_sum, count, correct = 0.0, 0, 0
        started = time.perf_counter()
        for batch in batches(epoch):
            step += 1
            traced = trace_every > 0 and (step - 1) % trace_every == 0
            norm = None
            why = None
            with Tracer() if traced else contextlib.nullcontext() as tracer:
                loss = model.loss_and_backward(*batch)
                if not (math.isfinite(loss) and loss <= limit):
                    why = f"the training loss {_how(loss)} at step {step} (epoch {epoch})"
                elif clip is not None:
                    norm = clip_global_norm(model.grads, clip)
                    if not math.isfinite(norm):
                        why = f"the gradients' norm became {norm} at step {step} (epoch {epoch})"
                if why is None:
                    optimizer.step()
            if why is not None:
                yield from _diverge(step, epoch, why)
            n = model.count
            loss_sum += loss * n
            count += n
            if model.correct is not None:
                correct += model.correct
            yield Step(
                step,
                total,
                epoch,
                loss,
                n,
                norm,
                perplexity(loss) if perplexities else None,
                tracer.steps if tracer is not None else None,
            )
            if should_stop is not None and should_stop():
                yield Stopped(step, epoch)
                return
        seconds = time.perf_counter() - started
        mean = loss_sum / max(count, 1)
        metrics = {}
        if perplexities:
            metrics["perplexity"] = perplexity(mean)
        if model.correct is not None:
            metrics["train_accuracy"] = correct / max(count, 1)
        if measure is not None:
            metrics.update(measure(model))
            model.reset_state()
        for name, value in metrics.items():  # a measured loss is held to a training loss's limit
            if isinstance(value, float) and not (
                math.isfinite(value) and (value <= limit or "loss" not in name)
            ):
                yield from _diverge(
                    step, epoch, f"the {name.replace('_', ' ')} {_how(value)} after epoch {epoch}"
                )
        yield Epoch(epoch, mean, seconds, count, metrics)
    yield Result(epochs, finish(model) if finish is not None else dict(metrics))


def _diverge(step: int, epoch: int, why: str) -> Iterator[Diverged]:
    reason = f"{why}: the run diverged; try a smaller learning rate, or clipping the gradients"
    yield Diverged(step, epoch, reason)
    raise DivergedError(reason)
