"""Finite-difference gradient checks, in float64.

The numeric gradient of a scalar function f with respect to one entry p of a
parameter is the central difference

    dL/dp ≈ (f(p + ε) - f(p - ε)) / 2ε

whose error shrinks like ε² (truncation) plus about 1e-16·|f|/ε (rounding); with
ε = 1e-6 in float64 both are far below the 1e-6 relative error a correct backward
pass reaches. Every kernel's tests use :func:`check_gradients` (every entry) or, for a
whole model, :func:`spot_check_gradients` (a few entries of each parameter); the command
line's ``gradcheck`` prints the results. The tests write no central differences of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

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


def numerical_gradient(
    f: Callable[[], float],
    p: np.ndarray,
    eps: float = 1e-6,
    entries: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Central differences of f() with respect to the entries of p (perturbed in place
    and restored, so f must read p, not a copy of it): every entry, as an array shaped
    like p, or only ``entries`` (indices into p flattened in C order), as a 1-D array in
    their order. A large parameter is checked at a few entries (:func:`spot_entries`)."""
    if p.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 parameters, not {p.dtype}")
    flat = p.reshape(-1)
    if not np.shares_memory(flat, p):
        raise ValueError("the parameter must be contiguous so it can be perturbed in place")
    picks = [
        int(k)
        for k in (
            range(flat.size) if entries is None else np.asarray(entries, np.int64).reshape(-1)
        )
    ]
    numeric = np.zeros(len(picks), dtype=np.float64)
    for i, k in enumerate(picks):
        old = flat[k]
        flat[k] = old + eps
        f_plus = float(f())
        flat[k] = old - eps
        f_minus = float(f())
        flat[k] = old
        numeric[i] = (f_plus - f_minus) / (2 * eps)
    return numeric.reshape(p.shape) if entries is None else numeric


def spot_entries(
    grad: np.ndarray, rng: np.random.Generator, largest: int = 2, random: int = 3
) -> np.ndarray:
    """Where to check a parameter too large to check whole: the flat indices of its
    ``largest`` entries by |grad| (where a wrong formula shows most), then ``random``
    others drawn by rng without replacement (or every entry, if it has fewer)."""
    g = np.asarray(grad).reshape(-1)
    top = np.argsort(-np.abs(g), kind="stable")[:largest]
    return np.concatenate([top, rng.choice(g.size, min(random, g.size), replace=False)]).astype(
        np.int64
    )


def compare(
    name: str, analytic: np.ndarray, numeric: np.ndarray, rtol: float = 1e-6, atol: float = 1e-9
) -> GradCheck:
    """Max absolute and relative error; passes where every entry has
    |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).

    The relative error of an entry is |analytic - numeric| / max(|analytic|, |numeric|)
    (0 where both are 0)."""
    # copies: the result must not change with the caller's arrays
    a = np.array(analytic, dtype=np.float64)
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
    return [
        compare(name, analytic[name], numerical_gradient(f, p, eps), rtol, atol)
        for name, p in params.items()
    ]


def spot_check_gradients(
    f: Callable[[], float],
    params: Mapping[str, np.ndarray],
    analytic: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    largest: int = 2,
    random: int = 3,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> list[GradCheck]:
    """As :func:`check_gradients`, at a few entries of each parameter (:func:`spot_entries`):
    for a whole model, where one central difference costs two forward passes. Each result
    is named with the entries checked, "W[12, 3, 40]"."""
    results = []
    for name, p in params.items():
        picks = spot_entries(analytic[name], rng, largest, random)
        numeric = numerical_gradient(f, p, eps, picks)
        results.append(
            compare(
                f"{name}{picks.tolist()}",
                np.asarray(analytic[name]).reshape(-1)[picks],
                numeric,
                rtol,
                atol,
            )
        )
    return results
