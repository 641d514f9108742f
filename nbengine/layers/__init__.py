"""Layers: Python classes that own parameters and gradients and call the kernels."""

from nbengine.layers.logistic import Logistic

__all__ = ["Logistic"]
