"""One training step of logistic regression: nbengine against NumPy.

The NumPy reference (tests/reference/logreg_numpy.py) is written the way a textbook
writes it, vectorised: z = x @ w + b, a = 1 / (1 + exp(-z)), dw = xᵀ(a − y) / N, w -= lr·dw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmarks.timing import Timing, measure
from nbengine.i18n import N_
from nbengine.kernels.logistic import logistic_backward, logistic_forward, logistic_loss
from nbengine.kernels.registry import kernel
from nbengine.models.logreg import LogisticRegression
from nbengine.optim import SGD
from tests.reference.logreg_numpy import numpy_step

LR = 0.1


@dataclass
class Case:
    name: str
    N: int
    D: int

    @property
    def flops(self) -> int:
        """The step's two products, x·w and xᵀ·dz: N·D multiply-adds each, 2 FLOPs per multiply-add."""
        return 2 * 2 * self.N * self.D


CASES = [
    Case(N_("N 32, D 30 (the default step)"), 32, 30),
    Case(N_("N 456, D 30 (full batch)"), 456, 30),
    Case("N 4096, D 256", 4096, 256),
]


def implementations(case: Case, seed: int = 0) -> dict[str, Callable[[], object]]:
    """The same step three ways, each on its own copy of the same data."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case.N, case.D)).astype(np.float32)
    y = (rng.random(case.N) < 0.5).astype(np.float32)

    model = LogisticRegression(case.D, seed)
    sgd = SGD(model.params, model.grads, LR)

    def nbengine_step():
        model.loss_and_backward(x, y)
        sgd.step()

    w = model.params["w"].copy()
    b = model.params["b"].copy()
    z, a, one_minus_a, loss = (np.empty(case.N, np.float32) for _ in range(4))
    dL_da, da_dz, dL_dz = (np.empty(case.N, np.float32) for _ in range(3))
    dw, db = np.zeros_like(w), np.zeros_like(b)
    forward = kernel(logistic_forward)  # the naive or the fast loops, as chosen

    def kernels_only():
        forward(z, a, one_minus_a, x, w, b)
        logistic_loss(loss, z, y)
        dw.fill(0)
        db.fill(0)
        logistic_backward(dw, db, dL_da, da_dz, dL_dz, x, a, one_minus_a, y)
        w[:] -= np.float32(LR) * dw
        b[:] -= np.float32(LR) * db

    w_ref, b_ref = model.params["w"].copy(), model.params["b"].copy()
    return {
        "NumPy, vectorised (reference)": lambda: numpy_step(w_ref, b_ref, x, y, LR),
        "nbengine, layer + SGD": nbengine_step,
        "nbengine, kernels only": kernels_only,
    }


REFERENCE = N_("NumPy, vectorised (reference)")  # a JSON value; the table shows it translated


def run(rounds: int = 7, min_round: float = 0.05, cases=CASES):
    """Yield (case, timings) for every case; timings in seconds per step."""
    for case in cases:
        yield case, measure(implementations(case), rounds, min_round)


def speedup(timings: dict[str, Timing], name: str) -> float:
    """How many times faster than the reference (above 1: faster)."""
    return timings[REFERENCE].median / timings[name].median
