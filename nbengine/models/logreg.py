"""Logistic regression as a one-layer network (the first lesson).

One Logistic layer behind a standardiser: features are scaled with the training
set's mean and standard deviation, which are part of the model and its checkpoint,
so new data is scaled the way the training data was.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from nbengine import checkpoint
from nbengine.data.split import Standardizer
from nbengine.errors import CheckpointError
from nbengine.layers.logistic import Logistic


class LogisticRegression:
    name = "logreg"

    def __init__(self, n_features: int, seed: int = 0, dtype=np.float32,
                 feature_names: Sequence[str] | None = None, class_names: Sequence[str] = ("0", "1"),
                 scaler: Standardizer | None = None, init_scale: float = 0.01, extra_config: dict | None = None):
        self.n_features = n_features
        self.seed = seed
        self.feature_names = list(feature_names) if feature_names is not None else [f"x{i + 1}" for i in range(n_features)]
        self.class_names = list(class_names)
        self.scaler = scaler
        self.layer = Logistic(n_features, np.random.default_rng(seed), dtype, self.feature_names, init_scale)
        self.params = self.layer.params
        self.grads = self.layer.grads
        self.param_labels = {"w": (self.feature_names,)}
        self.extra_config = dict(extra_config or {})

    # -- computing -------------------------------------------------------------------
    def prepare(self, x_raw: np.ndarray) -> np.ndarray:
        """Scale raw features the way the training data was scaled."""
        if x_raw.ndim != 2 or x_raw.shape[1] != self.n_features:
            raise ValueError(f"expected samples × {self.n_features} features, got shape {x_raw.shape}")
        if self.scaler is None:
            return np.ascontiguousarray(x_raw, dtype=self.layer.dtype)
        return self.scaler.transform(x_raw, self.layer.dtype)

    def loss_and_backward(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward, loss and backward on one batch; grads then hold dL/dw and dL/db."""
        self.layer.forward(x)
        loss = self.layer.loss(y)
        self.layer.backward()
        return loss

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        self.layer.forward(x)
        return self.layer.loss(y)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.layer.forward(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class 1 where the probability is at least 0.5."""
        return (self.predict_proba(x) >= 0.5).astype(np.int64)

    # -- saving ----------------------------------------------------------------------
    def config(self) -> dict:
        return {
            "n_features": self.n_features,
            "seed": self.seed,
            "feature_names": self.feature_names,
            "class_names": self.class_names,
            "dtype": self.layer.dtype.name,
            **self.extra_config,
        }

    def save(self, path) -> None:
        arrays = {k: v for k, v in self.params.items()}
        if self.scaler is not None:
            arrays["scaler_mean"] = self.scaler.mean
            arrays["scaler_std"] = self.scaler.std
        checkpoint.save(path, self.name, self.config(), arrays)

    @classmethod
    def load(cls, path) -> "LogisticRegression":
        config, arrays = checkpoint.load(path, cls.name)
        try:
            n = int(config["n_features"])
            shapes = list(cls.param_shapes(config))
            if "scaler_mean" in arrays:
                shapes += [("scaler_mean", (n,)), ("scaler_std", (n,))]
            checkpoint.check_shapes(arrays, shapes)  # before building: n goes straight into allocations
            scaler = None
            if "scaler_mean" in arrays:
                scaler = Standardizer(arrays["scaler_mean"], arrays["scaler_std"])
            extra = {k: v for k, v in config.items()
                     if k not in ("n_features", "seed", "feature_names", "class_names", "dtype")}
            dtype = np.dtype(config.get("dtype", "float32"))
            if dtype not in (np.float32, np.float64):
                raise ValueError(f"dtype {dtype} is not float32 or float64")
            model = cls(n, int(config["seed"]), dtype, feature_names=config["feature_names"],
                        class_names=config["class_names"], scaler=scaler, extra_config=extra)
            for k in ("w", "b"):
                model.params[k][...] = arrays[k]
        except KeyError as e:
            raise CheckpointError(path, f"does not hold a valid logreg model (missing {e})") from None
        except (ValueError, TypeError, OverflowError) as e:
            raise CheckpointError(path, f"does not hold a valid logreg model ({e})") from None
        return model

    @classmethod
    def param_shapes(cls, config: dict):
        """(name, shape) of every parameter of the model a config describes, without building it."""
        n = int(config["n_features"])
        yield "w", (n,)
        yield "b", (1,)
