"""Logistic regression as a one-layer network (the first lesson).

One Logistic layer behind a standardiser: features are scaled with the training
set's mean and standard deviation, which are part of the model and its checkpoint,
so new data is scaled the way the training data was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nbengine import checkpoint
from nbengine.data.split import Standardizer
from nbengine.data.tabular import SplitTable, load_binary_table
from nbengine.errors import CheckpointError, DataError
from nbengine.layers.logistic import Logistic
from nbengine.models.base import Model, check_dtype, read_config

DEFAULT_DATA = "breast_cancer"  # the lesson's table


@dataclass
class LogisticRegressionConfig:
    n_features: int
    seed: int = 0
    feature_names: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=lambda: ["0", "1"])
    dtype: str = "float32"


class LogisticRegression(Model):
    name = "logreg"
    Config = LogisticRegressionConfig

    def __init__(
        self,
        n_features: int,
        seed: int = 0,
        dtype=np.float32,
        feature_names: Sequence[str] | None = None,
        class_names: Sequence[str] = ("0", "1"),
        scaler: Standardizer | None = None,
        init_scale: float = 0.01,
        extra_config: dict | None = None,
    ):
        self.n_features = n_features
        self.seed = seed
        self.feature_names = (
            list(feature_names)
            if feature_names is not None
            else [f"x{i + 1}" for i in range(n_features)]
        )
        self.class_names = list(class_names)
        self.scaler = scaler
        self.dtype = check_dtype(dtype)
        self.layer = Logistic(
            n_features, np.random.default_rng(seed), self.dtype, self.feature_names, init_scale
        )
        self.params = self.layer.params
        self.grads = self.layer.grads
        self.param_labels = {"w": (self.feature_names,)}
        self.extra_config = dict(extra_config or {})
        self._last = (np.zeros(0), np.zeros(0))
        self.settings = LogisticRegressionConfig(
            n_features, seed, self.feature_names, self.class_names, self.dtype.name
        )

    # -- computing -------------------------------------------------------------------
    def prepare(self, x_raw: np.ndarray) -> np.ndarray:
        """Scale raw features the way the training data was scaled."""
        if x_raw.ndim != 2 or x_raw.shape[1] != self.n_features:
            raise ValueError(
                f"expected samples × {self.n_features} features, got shape {x_raw.shape}"
            )
        if self.scaler is None:
            return np.ascontiguousarray(x_raw, dtype=self.layer.dtype)
        return self.scaler.transform(x_raw, self.layer.dtype)

    def loss_and_backward(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward, loss and backward on one batch; grads then hold dL/dw and dL/db."""
        self._last = (self.layer.forward(x), y)
        loss = self.layer.loss(y)
        self.layer.backward()
        return loss

    @property
    def count(self) -> int:  # type: ignore[override]  # the base's plain attribute, computed here
        """Samples in the last batch."""
        return len(self._last[1])

    @property
    def correct(self) -> int:  # type: ignore[override]
        """Right predictions in the last batch (counted when asked: a step does not pay for it)."""
        a, y = self._last
        return int(np.sum((a >= 0.5) == (np.asarray(y) == 1)))

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        self.layer.forward(x)
        return self.layer.loss(y)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.layer.forward(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class 1 where the probability is at least 0.5."""
        return (self.predict_proba(x) >= 0.5).astype(np.int64)

    # -- saving ----------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """The parameters, and the standardiser's mean and deviation when it has one."""
        arrays = dict(self.params)
        if self.scaler is not None:
            arrays["scaler_mean"] = self.scaler.mean
            arrays["scaler_std"] = self.scaler.std
        return arrays

    @classmethod
    def load(cls, path) -> LogisticRegression:
        config, arrays = checkpoint.load(path, cls.name)
        try:
            n = int(config["n_features"])
            shapes = list(cls.param_shapes(config))
            if "scaler_mean" in arrays:
                shapes += [("scaler_mean", (n,)), ("scaler_std", (n,))]
            # before building: n goes straight into allocations
            checkpoint.check_shapes(arrays, shapes)
            settings, extra = read_config(cls.Config, {"dtype": "float32", **config})
            model = cls(**vars(settings), extra_config=extra)
            if "scaler_mean" in arrays:
                model.scaler = Standardizer(arrays["scaler_mean"], arrays["scaler_std"])
            checkpoint.fill_params(model.params, arrays)
        except KeyError as e:
            raise CheckpointError(
                path, f"does not hold a valid logreg model (missing {e})"
            ) from None
        except (ValueError, TypeError, OverflowError) as e:
            raise CheckpointError(path, f"does not hold a valid logreg model ({e})") from None
        return model

    @classmethod
    def param_shapes(cls, config: dict):
        """(name, shape) of every parameter of the model a config describes, without building it."""
        n = int(config["n_features"])
        yield "w", (n,)
        yield "b", (1,)


def for_table(
    table: SplitTable,
    seed: int = 0,
    extra_config: dict | None = None,
    dtype=np.float32,
    init_scale: float = 0.01,
) -> LogisticRegression:
    """A model for a split table: its features' and classes' names, and a standardiser
    fitted on its training rows."""
    return LogisticRegression(
        table.data.n_features,
        seed,
        dtype,
        table.data.feature_names,
        table.data.class_names,
        Standardizer.fit(table.x_train),
        init_scale,
        extra_config,
    )


def checkpoint_table(model: LogisticRegression, data: str | None = None) -> SplitTable:
    """The split table a checkpoint's model is used on: ``data`` if given, else the data
    it was trained on, split as it was (its config remembers how); the table's width must
    match the model."""
    cfg = model.extra_config
    table = load_binary_table(
        data or cfg.get("data", DEFAULT_DATA),
        cfg.get("test_fraction", 0.2),
        cfg.get("split_seed", 0),
    )
    if table.data.n_features != model.n_features:
        raise DataError(
            table.path,
            f"has {table.data.n_features} features; the model was trained on {model.n_features}",
        )
    return table
