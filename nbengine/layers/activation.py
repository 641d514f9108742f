"""Activations applied after a layer's weighted sums: ReLU and softmax."""

from __future__ import annotations

import numpy as np

from nbengine.kernels.registry import kernel
from nbengine.kernels.relu import relu_backward, relu_forward
from nbengine.kernels.softmax import softmax_backward, softmax_forward

ACTIVATIONS = (None, "relu", "softmax")


def activate(layer, kind: str | None, z: np.ndarray) -> np.ndarray:
    """The activation's output for pre-activations z (work arrays from ``layer``)."""
    if kind is None:
        return z
    if kind == "relu":
        a = layer.buffer("a", z.shape)
        relu_forward(a.reshape(-1), z.reshape(-1))
        return a
    if kind == "softmax":
        a = layer.buffer("a", z.shape)
        kernel(softmax_forward)(a, z)
        return a
    raise ValueError(f"unknown activation {kind!r}")


def activation_backward(layer, kind: str | None, da: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/dz from dL/da, given the activation's output a."""
    if kind is None:
        return da
    dz = layer.buffer("dz", a.shape)
    if kind == "relu":
        relu_backward(dz.reshape(-1), da.reshape(-1), a.reshape(-1))
    else:
        kernel(softmax_backward)(dz, da, a)
    return dz
