"""What every layer of a network has in common.

A layer knows the shape of one sample going in and coming out (without the
batch axis, as Keras's summary writes ``(None, 28, 28, 32)``), owns its
parameters and their gradients (dicts of arrays, updated in place so an
optimizer's references stay valid), keeps in ``cache`` what its backward pass
needs, and reuses its work arrays from one batch to the next.
"""

from __future__ import annotations

import numpy as np


class Layer:
    kind = "Layer"  # the Keras class name, for the model summary

    def __init__(self, name: str):
        self.name = name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.input_shape: tuple[int | None, ...] = ()
        self.output_shape: tuple[int | None, ...] = ()
        self.dtype = np.dtype(np.float32)
        self.cache: dict = {}
        self._buffers: dict[str, np.ndarray] = {}

    def build(
        self, input_shape: tuple[int | None, ...], dtype, rng: np.random.Generator
    ) -> tuple[int | None, ...]:
        """Create the parameters for inputs of ``input_shape`` (one sample); return the output shape."""
        self.input_shape = tuple(input_shape)
        self.dtype = np.dtype(dtype)
        self.output_shape = self._build(self.input_shape, rng)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return self.output_shape

    def _build(self, input_shape, rng) -> tuple[int, ...]:
        return input_shape

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.params.values())

    def describe(self) -> str:
        """A few words on the layer's settings, for the summary."""
        return ""

    def buffer(
        self, key: str, shape: tuple[int, ...], dtype=None, zero: bool = False
    ) -> np.ndarray:
        """A work array kept between calls (allocating megabytes per batch costs time)."""
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        buf = self._buffers.get(key)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
            buf = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
            self._buffers[key] = buf
        elif zero:
            buf.fill(0)
        return buf

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        raise NotImplementedError


def glorot_uniform(rng: np.random.Generator, shape, fan_in: int, fan_out: int, dtype) -> np.ndarray:
    """Keras's default initial weights: uniform in ±sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


class Composite(Layer):
    """A layer made of layers (``self.parts``, built in order by ``_build``): its
    parameters and gradients are its parts' own arrays, named ``part.key``, so an
    optimizer updating the composite's dicts updates the parts."""

    parts: list[Layer]

    def build(self, input_shape, dtype, rng):
        shape = super().build(input_shape, dtype, rng)
        self.params = {f"{p.name}.{k}": v for p in self.parts for k, v in p.params.items()}
        self.grads = {f"{p.name}.{k}": v for p in self.parts for k, v in p.grads.items()}
        return shape
