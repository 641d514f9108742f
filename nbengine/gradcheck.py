"""Finite-difference gradient checks, in float64.

The numeric gradient of a scalar function f with respect to one entry p of a
parameter is the central difference

    dL/dp ≈ (f(p + ε) - f(p - ε)) / 2ε

whose error shrinks like ε² (truncation) plus about 1e-16·|f|/ε (rounding); with
ε = 1e-6 in float64 both are far below the 1e-6 relative error a correct backward
pass reaches. Every kernel's tests use :func:`check_gradients`, and the command line's
``gradcheck`` prints its results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np


@dataclass
class GradCheck:
    """One parameter's comparison of backprop (analytic) with finite differences."""

    name: str
    analytic: np.ndarray
    numeric: np.ndarray
    max_abs: float
    max_rel: float
    passed: bool


def numerical_gradient(f: Callable[[], float], p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of f() with respect to every entry of p (perturbed in place
    and restored, so f must read p, not a copy of it)."""
    if p.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 parameters, not {p.dtype}")
    grad = np.zeros_like(p)
    flat, gflat = p.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, p):
        raise ValueError("the parameter must be contiguous so it can be perturbed in place")
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        f_plus = float(f())
        flat[k] = old - eps
        f_minus = float(f())
        flat[k] = old
        gflat[k] = (f_plus - f_minus) / (2 * eps)
    return grad


def compare(name: str, analytic: np.ndarray, numeric: np.ndarray, rtol: float = 1e-6, atol: float = 1e-9) -> GradCheck:
    """Max absolute and relative error; passes where every entry has
    |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).

    The relative error of an entry is |analytic - numeric| / max(|analytic|, |numeric|)
    (0 where both are 0)."""
    a = np.array(analytic, dtype=np.float64)  # copies: the result must not change with the caller's arrays
    n = np.array(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"{name}: analytic gradient has shape {a.shape}, numeric {n.shape}")
    diff = np.abs(a - n)
    scale = np.maximum(np.abs(a), np.abs(n))
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    passed = bool(np.all(diff <= atol + rtol * scale))
    return GradCheck(name, a, n, float(diff.max(initial=0.0)), float(rel.max(initial=0.0)), passed)


def check_gradients(
    f: Callable[[], float],
    params: Mapping[str, np.ndarray],
    analytic: Mapping[str, np.ndarray],
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> list[GradCheck]:
    """Compare analytic gradients with central differences for every named parameter.

    f() computes the scalar loss from the current contents of params (float64);
    analytic[name] is backprop's dL/d(name) at those same values.
    """
    return [compare(name, analytic[name], numerical_gradient(f, p, eps), rtol, atol) for name, p in params.items()]
