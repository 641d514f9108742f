"""What every model shares: its settings as a config dataclass, its parameters and
gradients gathered from its layers, and saving and loading a checkpoint.

A model names its settings once, as a dataclass (``Config``) whose fields are the
model's constructor arguments and the keys of its checkpoint's config; the rest of
a checkpoint's config (``extra_config``: the data it was trained on, the training
settings) travels with the model untouched. Loading checks every array's shape
against what the config implies (``param_shapes``) before building anything, then
builds the model from the config and fills its parameters (nbengine.checkpoint,
which never unpickles).

What the training loop (nbengine.train) asks of a model:

- ``loss_and_backward(*batch) -> float``: forward, mean loss and backward on one
  batch; ``grads`` then hold dL/dθ. ``loss(*batch)`` is the same loss without
  backward (inference mode).
- ``count``: how many predictions the last batch made (samples, or tokens), the
  weight of its mean loss; ``correct``: how many of them were right, or None for a
  model that does not classify (a language model).
- ``reset_state()``: forget what was carried from batch to batch (a recurrent
  model's hidden state); nothing for the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from nbengine import checkpoint

DTYPES = (np.float32, np.float64)

_READ = {"int": int, "float": float, "bool": bool, "str": str}


def check_dtype(dtype) -> np.dtype:
    """The dtype as np.dtype; ValueError unless float32 or float64."""
    dtype = np.dtype(dtype)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, not {dtype}")
    return dtype


def read_config(config_class, config: dict):
    """(settings, extra): a checkpoint's config dict split into the model's settings, each
    read as its field's type (a missing one is a KeyError), and everything else."""
    values = {}
    for f in dataclasses.fields(config_class):
        v = config[f.name]
        kind = str(f.type).split("|")[0].strip()
        if kind in _READ:
            v = _READ[kind](v)
        elif kind.startswith("list"):
            if not isinstance(v, list):
                raise ValueError(f"its {f.name} is not a list")
        values[f.name] = v
    extra = {k: v for k, v in config.items() if k not in values}
    return config_class(**values), extra


class Model:
    """The base of every model: see the module's docstring."""

    name: ClassVar[str] = "model"
    Config: ClassVar[type]  # the settings, a dataclass; its fields are the constructor's arguments

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    settings: Any  # an instance of Config (a dataclass)
    extra_config: dict
    count: int = 0
    correct: int | None = None

    def _assemble(self, layers) -> None:
        """The model's params and grads are its layers', named "layer.key"."""
        self.layers = list(layers)
        self.params = {f"{l.name}.{k}": v for l in self.layers for k, v in l.params.items()}
        self.grads = {f"{l.name}.{k}": v for l in self.layers for k, v in l.grads.items()}

    def reset_state(self) -> None:
        """Forget any state carried from one batch to the next (none here)."""

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.params.values())

    # -- saving ----------------------------------------------------------------------
    def config(self) -> dict:
        """The settings and the extra config, as a checkpoint stores them (JSON)."""
        return {**dataclasses.asdict(self.settings), **self.extra_config}

    def arrays(self) -> dict[str, np.ndarray]:
        """What a checkpoint stores besides the config: the parameters."""
        return dict(self.params)

    def save(self, path) -> None:
        checkpoint.save(path, self.name, self.config(), self.arrays())

    @classmethod
    def from_config(cls, config: dict):
        """The model a checkpoint's config describes, with fresh weights."""
        settings, extra = read_config(cls.Config, config)
        build: Any = cls  # a subclass, whose constructor takes its Config's fields and extra_config
        return build(**dataclasses.asdict(settings), extra_config=extra)

    @classmethod
    def param_shapes(cls, config: dict) -> Iterator[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every parameter of the model a config describes, without building it."""
        raise NotImplementedError

    @classmethod
    def load(cls, path):
        return checkpoint.load_model(path, cls.name, cls.from_config, cls.param_shapes)
