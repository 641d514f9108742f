"""Logistic regression's training step in NumPy, the way a textbook writes it, vectorised:
z = x @ w + b, a = 1 / (1 + exp(-z)), dw = xᵀ(a − y) / N, w -= lr·dw.

Written apart from nbengine's kernels, so it can judge them; the logistic-regression
benchmark (benchmarks/logreg.py) times it as its reference.
"""

from __future__ import annotations

import numpy as np


def numpy_step(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray, lr: float) -> float:
    """Forward, loss, backward and update with NumPy's vectorised operations."""
    N = x.shape[0]
    z = x @ w + b[0]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        a = 1 / (1 + np.exp(-z))
        loss = -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a))
    dz = (a - y) / N
    w -= lr * (x.T @ dz)
    b -= lr * dz.sum()
    return float(loss)
