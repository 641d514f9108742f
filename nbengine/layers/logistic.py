"""The logistic unit as a layer: parameters, gradients, and the lesson's named steps.

N = batch, D = features. Forward computes z, a and the loss; backward fills
``grads`` in place (an optimizer holding references to them sees the new values).
When a tracer is active, every quantity of the lesson is recorded under the name
the lesson gives it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nbengine.i18n import Msg
from nbengine.kernels.logistic import logistic_backward, logistic_forward, logistic_loss
from nbengine.kernels.registry import kernel
from nbengine.trace import record, tracing


class Logistic:
    """z = x·w + b, a = sigmoid(z), L = binary cross-entropy; the gradient by the chain rule.

    params: {"w": (D,), "b": (1,)}; grads: the same shapes.
    """

    def __init__(
        self,
        n_features: int,
        rng: np.random.Generator,
        dtype=np.float32,
        feature_names: Sequence[str] | None = None,
        init_scale: float = 0.01,
    ):
        self.dtype = np.dtype(dtype)
        D = n_features
        self.params = {
            "w": (rng.standard_normal(D) * init_scale).astype(self.dtype),
            "b": np.zeros(1, dtype=self.dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.cache: dict = {}

    # -- tracing helpers -------------------------------------------------------------
    def _rec(self, name, per_sample, formula, note="", feature_axis=False):
        """Record a per-sample array; a batch of one is recorded as that one sample."""
        value = per_sample[0] if per_sample.shape[0] == 1 else per_sample
        labels = ()
        if feature_axis and self.feature_names is not None:
            labels = (self.feature_names,) if value.ndim == 1 else (None, self.feature_names)
        record(name, value, formula, note, labels)

    def _rec_param(self, name, value, formula, note="", per_feature=False):
        """Record a parameter-shaped array: w-like (D,) per feature, or b-like (1,) as a scalar."""
        labels = (self.feature_names,) if per_feature and self.feature_names is not None else ()
        record(name, value if value.shape != (1,) else value[0], formula, note, labels)

    # -- forward ---------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """a (N,): the probability of class 1 for each row of x (N, D)."""
        x = np.ascontiguousarray(x, dtype=self.dtype)
        N = x.shape[0]
        w, b = self.params["w"], self.params["b"]
        z = np.empty(N, self.dtype)
        a = np.empty(N, self.dtype)
        one_minus_a = np.empty(N, self.dtype)
        kernel(logistic_forward)(z, a, one_minus_a, x, w, b)
        self.cache = {"x": x, "z": z, "a": a, "one_minus_a": one_minus_a}
        if tracing():
            self._rec(
                "x",
                x,
                Msg("the input"),
                Msg("the features of each sample, standardised"),
                feature_axis=True,
            )
            self._rec_param(
                "w", w, Msg("the weights"), Msg("one weight per feature"), per_feature=True
            )
            self._rec_param("b", b, Msg("the bias"))
            self._rec("z", z, "z = Σᵢ wᵢxᵢ + b", Msg("the weighted sum"))
            self._rec(
                "a", a, "a = σ(z) = 1 / (1 + e⁻ᶻ)", Msg("the predicted probability of class 1")
            )
        return a

    def loss(self, y: np.ndarray) -> float:
        """Mean binary cross-entropy of the last forward pass against labels y (N,) in {0, 1}."""
        z = self.cache["z"]
        labels = np.asarray(y)
        y = np.ascontiguousarray(y, dtype=self.dtype)
        L = np.empty(z.shape[0], self.dtype)
        logistic_loss(L, z, y)
        self.cache["y"] = y
        mean = L.mean(dtype=np.float64)
        if tracing():
            self._rec("y", labels, Msg("the label"), Msg("1 for class 1, 0 for class 0"))
            self._rec("L", L, "L = −(y·log a + (1−y)·log(1−a))", Msg("binary cross-entropy"))
            if L.shape[0] > 1:
                record(
                    "mean L",
                    np.asarray(mean, self.dtype),
                    "(1/N) Σₙ Lₙ",
                    Msg("the loss of the batch"),
                )
        return float(mean)

    # -- backward --------------------------------------------------------------------
    def backward(self) -> None:
        """Fill grads["w"] and grads["b"] with the batch-mean dL/dw and dL/db."""
        c = self.cache
        x, a, one_minus_a, y = c["x"], c["a"], c["one_minus_a"], c["y"]
        N = x.shape[0]
        dL_da = np.empty(N, self.dtype)
        da_dz = np.empty(N, self.dtype)
        dL_dz = np.empty(N, self.dtype)
        dw, db = self.grads["w"], self.grads["b"]
        dw.fill(0)
        db.fill(0)
        logistic_backward(dw, db, dL_da, da_dz, dL_dz, x, a, one_minus_a, y)
        if tracing():
            self._rec(
                "dL/da", dL_da, "dL/da = −y/a + (1−y)/(1−a)", Msg("how the loss changes with a")
            )
            self._rec("da/dz", da_dz, "da/dz = a(1−a)", Msg("the slope of the sigmoid"))
            self._rec(
                "dL/dz", dL_dz, "dL/dz = dL/da · da/dz = a − y", Msg("the chain's first two links")
            )
            self._rec(
                "dz/dw",
                x,
                "dz/dw = x",
                Msg("the weighted sum's slope in each weight is its input"),
                feature_axis=True,
            )
            how = Msg("averaged over the batch") if N > 1 else ""
            self._rec_param(
                "dL/dw", dw, "dL/dw = dL/da · da/dz · dz/dw = −(y − a)·x", how, per_feature=True
            )
            self._rec_param("dL/db", db, "dL/db = dL/da · da/dz · dz/db = −(y − a)", how)
