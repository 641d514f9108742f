"""The training loop, as a generator of events.

:func:`fit` does the work and yields what happened (:class:`Step`,
:class:`Traced`, :class:`Epoch`); the caller decides how to show it (a table, JSON
lines, a progress bar, nothing). A model only needs ``loss_and_backward(x, y)``
(filling its grads), ``loss(x, y)`` and ``predict(x)``; an optimizer only ``step()``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from nbengine.errors import DivergedError
from nbengine.trace import Step as TraceStep
from nbengine.trace import Tracer


@dataclass
class Step:
    """One optimizer step was taken."""

    step: int
    total_steps: int
    epoch: int
    loss: float


@dataclass
class Traced:
    """The named tensors of one training step (forward, backward, update)."""

    step: int
    epoch: int
    steps: list[TraceStep]


@dataclass
class Epoch:
    """The end of an epoch: the mean training loss over its batches, and accuracies."""

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float | None


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(x) == y))


def batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def fit(model, optimizer, x_train, y_train, x_test=None, y_test=None, *, epochs: int, batch_size: int,
        seed: int, trace_every: int = 0) -> Iterator[Step | Traced | Epoch]:
    """Mini-batch gradient descent over shuffled training data.

    Each epoch visits the training samples in a new order drawn from a generator
    seeded with ``seed``; the same seed gives the same batches, so the same
    numbers. With ``trace_every`` = k > 0, steps 1, k+1, 2k+1, ... are traced.
    A non-finite loss stops training with :class:`DivergedError` before the
    optimizer applies it.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be at least 1")
    N = x_train.shape[0]
    rng = np.random.default_rng(seed)
    per_epoch = batches(N, batch_size)
    total = epochs * per_epoch
    step = 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(N)
        loss_sum = 0.0
        for start in range(0, N, batch_size):
            idx = order[start:start + batch_size]
            step += 1
            traced = trace_every > 0 and (step - 1) % trace_every == 0
            with Tracer() if traced else contextlib.nullcontext() as tracer:
                loss = model.loss_and_backward(x_train[idx], y_train[idx])
                if not math.isfinite(loss):
                    raise DivergedError(
                        f"the loss became {loss} at step {step} (epoch {epoch}); "
                        "try a smaller learning rate"
                    )
                optimizer.step()
            loss_sum += loss * idx.size
            if tracer is not None:
                yield Traced(step, epoch, tracer.steps)
            yield Step(step, total, epoch, loss)
        test_acc = accuracy(model, x_test, y_test) if x_test is not None and len(x_test) else None
        yield Epoch(epoch, loss_sum / N, accuracy(model, x_train, y_train), test_acc)
