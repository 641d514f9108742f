"""Losses: the last step of a classifier, from its outputs and the true classes."""

from __future__ import annotations

import numpy as np

from nbengine.i18n import Msg
from nbengine.kernels.cross_entropy import cross_entropy_backward, cross_entropy_forward
from nbengine.kernels.registry import kernel
from nbengine.kernels.softmax import softmax_forward
from nbengine.kernels.softmax_cross_entropy import (
    counted,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from nbengine.trace import record, tracing

KERAS_EPSILON = 1e-7


class SoftmaxCrossEntropy:
    """Softmax of the logits z (rows, classes) and the mean cross-entropy, computed
    together (stable). Rows whose class is -1 are ignored."""

    def forward(self, z: np.ndarray, y: np.ndarray) -> float:
        N = z.shape[0]
        self.probs = np.empty_like(z)
        losses = np.empty(N, z.dtype)
        kernel(softmax_cross_entropy_forward)(self.probs, losses, z, y)
        self.y = y
        self.count = counted(y)  # rows that count: the ignore label -1 does not
        if tracing():
            record(
                "probabilities",
                self.probs,
                "softmax(z) = e^z / Σ e^z",
                Msg("the network's belief in each class"),
            )
            record("loss", losses, Msg("-log p[true class]"), Msg("cross-entropy per sample"))
        return float(np.sum(losses, dtype=np.float64)) / max(self.count, 1)

    def backward(self) -> np.ndarray:
        dz = np.empty_like(self.probs)
        softmax_cross_entropy_backward(dz, self.probs, self.y)
        if tracing():
            record(
                "dL/dz",
                dz,
                "(p - onehot(y)) / N",
                Msg("the gradient of the mean loss at the logits"),
            )
        return dz

    @staticmethod
    def probabilities(z: np.ndarray) -> np.ndarray:
        p = np.empty_like(z)
        kernel(softmax_forward)(p, z)
        return p


class CrossEntropy:
    """Cross-entropy of outputs that are already probabilities, as Keras computes it
    (normalised to sum 1, clipped to [1e-7, 1 - 1e-7])."""

    def forward(self, p: np.ndarray, y: np.ndarray) -> float:
        N = p.shape[0]
        losses = np.empty(N, p.dtype)
        self.clipped = np.empty(N, np.uint8)
        cross_entropy_forward(losses, self.clipped, p, y, p.dtype.type(KERAS_EPSILON))
        self.p, self.y = p, y
        if tracing():
            record(
                "loss",
                losses,
                Msg("-log clip(p[true class] / Σ p)"),
                Msg("cross-entropy per sample"),
            )
        return float(np.mean(losses, dtype=np.float64))

    def backward(self) -> np.ndarray:
        dp = np.empty_like(self.p)
        cross_entropy_backward(dp, self.p, self.y, self.clipped)
        if tracing():
            record(
                "dL/dp", dp, "(1/N)(1/Σp - [true class]/p)", Msg("zero where the clip was active")
            )
        return dp
