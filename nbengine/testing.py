"""Helpers for tests that compare a kernel with an independent reference."""

from __future__ import annotations

import numpy as np

from nbengine.gradcheck import GradCheck


def assert_close(name: str, ours, reference, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Fail with the first values of both sides and the largest difference, like llm.c."""
    ours = np.asarray(ours)
    reference = np.asarray(reference)
    if ours.shape != reference.shape:
        raise AssertionError(f"{name}: shape {ours.shape}, reference {reference.shape}")
    a = ours.astype(np.float64)
    b = reference.astype(np.float64)
    ok = np.isclose(a, b, atol=atol, rtol=rtol, equal_nan=True)
    if not ok.all():
        diff = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b))
        worst = np.unravel_index(int(np.nanargmax(diff)), diff.shape) if diff.ndim else ()
        raise AssertionError(
            f"{name}: {int((~ok).sum())} of {ok.size} values differ (atol {atol}, rtol {rtol})\n"
            f"  ours:      {a.reshape(-1)[:5]}\n"
            f"  reference: {b.reshape(-1)[:5]}\n"
            f"  largest difference {diff[worst]:.3e} at index {tuple(int(i) for i in worst)}: "
            f"{a[worst]!r} vs {b[worst]!r}"
        )


def assert_gradients_pass(results: list[GradCheck]) -> None:
    """Fail naming every parameter whose gradient check failed, with its errors."""
    bad = [r for r in results if not r.passed]
    if bad:
        lines = [
            f"  {r.name}: max abs {r.max_abs:.3e}, max rel {r.max_rel:.3e}; "
            f"analytic {r.analytic.reshape(-1)[:4]}, numeric {r.numeric.reshape(-1)[:4]}"
            for r in bad
        ]
        raise AssertionError("gradient check failed:\n" + "\n".join(lines))
