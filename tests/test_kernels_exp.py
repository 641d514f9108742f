"""The vectorising float32 e^x against NumPy's, over the whole float32 range."""

import numpy as np

from nbengine.kernels.exp import POW2, exp32, exp32_naive


def test_exp32_within_two_ulp_of_float64_exp():
    x = np.linspace(-87.3, 88.0, 200_001, dtype=np.float32)
    got = np.array([exp32(v, POW2) for v in x[::50]], dtype=np.float32)
    exact = np.exp(x[::50].astype(np.float64))
    rel = np.abs(got.astype(np.float64) - exact) / exact
    assert rel.max() < 2.5e-7  # about 2 units in the last place of a float32


def test_exp32_edges_never_read_outside_its_table():
    assert np.isnan(exp32(np.float32(np.nan), POW2))
    assert exp32(np.float32(0.0), POW2) == 1.0
    assert 0 < exp32(np.float32(-np.inf), POW2) < 1.3e-38  # clamped to e^-87.3
    assert np.isfinite(exp32(np.float32(np.inf), POW2))  # clamped to e^88
    assert exp32(np.float32(-1000.0), POW2) == exp32(np.float32(-87.3), POW2)


def test_exp32_agrees_with_its_naive_twin():
    x = np.linspace(-80.0, 80.0, 4001, dtype=np.float32)
    naive = np.array([exp32_naive(v, POW2) for v in x], dtype=np.float32)
    fast = np.array([exp32(v, POW2) for v in x], dtype=np.float32)
    assert naive.dtype == np.float32 and exp32_naive(np.float32(1.0), POW2) == np.float32(np.e)
    assert np.all(np.abs(fast - naive) <= 3 * np.spacing(naive))  # a few units in the last place
