"""The training loop, as a generator of events.

:func:`fit` does the work and yields what happened (:class:`Step`,
:class:`Traced`, :class:`Epoch`); the caller decides how to show it (a table, JSON
lines, a progress bar, nothing). A model only needs ``loss_and_backward(x, y)``
(filling its grads), ``loss(x, y)`` and ``predict(x)``; an optimizer only ``step()``.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

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
    seconds: float = 0.0  # time spent on the epoch's training steps (not on measuring accuracy)
    samples: int = 0  # training samples seen in the epoch
    test_loss: float | None = None  # when the model can measure it in the same pass (``evaluate``)


@dataclass
class Stopped:
    """Training stopped early when asked to (after a whole step, never inside one)."""

    step: int
    epoch: int


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(x) == y))


def batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def fit(model, optimizer, x_train, y_train, x_test=None, y_test=None, *, epochs: int, batch_size: int,
        seed: int, trace_every: int = 0, running_accuracy: bool = False,
        should_stop: Callable[[], bool] | None = None) -> Iterator[Step | Traced | Epoch | Stopped]:
    """Mini-batch gradient descent over shuffled training data.

    Each epoch visits the training samples in a new order drawn from a generator
    seeded with ``seed``; the same seed gives the same batches, so the same
    numbers. With ``trace_every`` = k > 0, steps 1, k+1, 2k+1, ... are traced.
    A non-finite loss stops training with :class:`DivergedError` before the
    optimizer applies it, and so does a non-finite test loss after an epoch: an
    :class:`Epoch` is only yielded for a model whose numbers are finite.

    The training accuracy of an epoch is measured on the whole training set after
    the epoch, or, with ``running_accuracy``, counted on each batch as it was
    trained (with dropout on; what Keras reports, and free): the model then sets
    ``last_correct`` in ``loss_and_backward``. ``should_stop`` is asked after
    every step; when it says yes, a :class:`Stopped` event ends the run.
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
        correct = 0
        started = time.perf_counter()
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
            if running_accuracy:
                correct += model.last_correct
            if tracer is not None:
                yield Traced(step, epoch, tracer.steps)
            yield Step(step, total, epoch, loss)
            if should_stop is not None and should_stop():
                yield Stopped(step, epoch)
                return
        seconds = time.perf_counter() - started
        train_acc = correct / N if running_accuracy else accuracy(model, x_train, y_train)
        test_acc = test_loss = None
        if x_test is not None and len(x_test):
            if hasattr(model, "evaluate"):
                test_loss, test_acc = model.evaluate(x_test, y_test)
                if not math.isfinite(test_loss):  # the training losses were finite, the weights are not
                    raise DivergedError(f"the test loss became {test_loss} after epoch {epoch}: the weights "
                                        "diverged; try a smaller learning rate")
            else:
                test_acc = accuracy(model, x_test, y_test)
        yield Epoch(epoch, loss_sum / N, train_acc, test_acc, seconds, N, test_loss)
