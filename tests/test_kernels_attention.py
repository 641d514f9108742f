"""Scaled dot-product attention checked against the independent NumPy einsum
reference (tests/reference/attention_numpy.py) in float64 and float32, against
float64 central differences with and without the causal mask, and on the
lesson's worked example. Then: the causal mask hides the future bit for bit,
large scores stay finite, and the bits do not depend on the number of threads.

Every output array is filled with NaN before a kernel runs: a kernel promises to
overwrite its outputs, so a value it forgot to write shows up as NaN.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from helpers import f64, nans
from helpers import tolerance as tol

from nbengine.gradcheck import check_gradients
from nbengine.kernels.attention import attention_backward, attention_forward
from nbengine.testing import assert_close, assert_gradients_pass
from tests.reference import attention_numpy as ref

DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
# (N, T, S, D, E, causal)
SHAPES = [
    pytest.param(2, 4, 4, 3, 3, False, id="square"),
    pytest.param(3, 5, 7, 4, 6, False, id="T<S-D<E"),
    pytest.param(2, 6, 3, 5, 2, False, id="T>S-D>E"),
    pytest.param(1, 1, 1, 2, 3, False, id="N=T=S=1"),
    pytest.param(1, 5, 5, 4, 2, True, id="causal-N=1"),
    pytest.param(3, 6, 6, 2, 5, True, id="causal-D<E"),
    pytest.param(2, 1, 1, 3, 3, True, id="causal-T=1"),
]


def problem(rng, N, T, S, D, E, dtype):
    q = rng.uniform(-1.5, 1.5, (N, T, D)).astype(dtype)
    k = rng.uniform(-1.5, 1.5, (N, S, D)).astype(dtype)
    v = rng.uniform(-1.0, 1.0, (N, S, E)).astype(dtype)
    return q, k, v


def forward(q, k, v, scale, causal):
    N, T, _ = q.shape
    S, E = v.shape[1], v.shape[2]
    out, weights = nans((N, T, E), q.dtype), nans((N, T, S), q.dtype)
    attention_forward(out, weights, q, k, v, scale, causal)
    return out, weights


def backward(dout, weights, q, k, v, scale):
    dq, dk, dv = nans(q.shape, q.dtype), nans(k.shape, k.dtype), nans(v.shape, v.dtype)
    attention_backward(dq, dk, dv, dout, weights, q, k, v, scale)
    return dq, dk, dv


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, T, S, D, E, causal", SHAPES)
def test_attention_matches_reference(N, T, S, D, E, causal, dtype):
    rng = np.random.default_rng(1)
    q, k, v = problem(rng, N, T, S, D, E, dtype)
    scale = 1.0 / np.sqrt(D)
    dout = rng.uniform(-1.0, 1.0, (N, T, E)).astype(dtype)
    out, weights = forward(q, k, v, scale, causal)
    r_out, r_w = ref.attention_ref(f64(q), f64(k), f64(v), scale, causal)
    assert out.dtype == dtype and weights.dtype == dtype
    assert_close("weights", weights, r_w, *tol(dtype, r_w))
    assert_close("out", out, r_out, *tol(dtype, r_out))
    grads = backward(dout, weights, q, k, v, scale)
    r_grads = ref.attention_ref_backward(f64(dout), f64(q), f64(k), f64(v), scale, causal)
    for name, g, r in zip(("dq", "dk", "dv"), grads, r_grads):
        assert g.dtype == dtype
        assert_close(name, g, r, *tol(dtype, r))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_rows_sum_to_one_and_masked_weights_are_exactly_zero(causal, dtype):
    rng = np.random.default_rng(2)
    q, k, v = problem(rng, 3, 6, 6, 4, 3, dtype)
    _, weights = forward(q, k, v, 0.5, causal)
    np.testing.assert_allclose(
        weights.sum(axis=-1), 1.0, rtol=0, atol=1e-12 if dtype == np.float64 else 1e-6
    )
    assert np.all(weights >= 0)
    future = ~ref.causal_mask(6, 6)
    if causal:
        assert np.all(weights[:, future] == 0.0)
        assert not np.any(np.signbit(weights[:, future]))
        assert np.all(weights[:, ~future] > 0)
    else:
        assert np.all(weights > 0)


# -- finite differences (float64) ------------------------------------------------------------------------


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_gradients_match_finite_differences(causal, one_thread):
    """L = sum(G * out); T ≠ S and D ≠ E where the mask allows it."""
    rng = np.random.default_rng(3)
    N, T, S, D, E = (2, 4, 4, 3, 5) if causal else (2, 3, 5, 4, 2)
    q, k, v = problem(rng, N, T, S, D, E, np.float64)
    scale = 1.0 / np.sqrt(D)
    G = rng.uniform(-1.0, 1.0, (N, T, E))
    _, weights = forward(q, k, v, scale, causal)
    dq, dk, dv = backward(G, weights, q, k, v, scale)

    def loss():
        return float(np.sum(G * forward(q, k, v, scale, causal)[0]))

    assert_gradients_pass(
        check_gradients(loss, {"q": q, "k": k, "v": v}, {"q": dq, "k": dk, "v": dv})
    )
    if causal:
        # the last key and value are seen by the last query only; the first query sees only the first key
        assert np.all(dq[:, 0] == 0.0)  # one key: its weight is 1 whatever q is
        assert np.abs(dk[:, -1]).max() > 1e-3 and np.abs(dv[:, -1]).max() > 1e-3


# -- the causal mask hides the future --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_causal_mask_hides_the_future_bit_for_bit(dtype):
    """Changing q, k or v at position p never changes out (or weights, or gradients
    reaching earlier positions) at positions < p."""
    rng = np.random.default_rng(4)
    N, T, D, E = 2, 6, 3, 4
    q, k, v = problem(rng, N, T, T, D, E, dtype)
    dout = rng.uniform(-1.0, 1.0, (N, T, E)).astype(dtype)
    out, weights = forward(q, k, v, 0.5, True)
    for p in range(1, T):
        for which in range(3):
            inputs = [q.copy(), k.copy(), v.copy()]
            inputs[which][:, p] += dtype(rng.uniform(0.5, 3.0))
            out2, weights2 = forward(*inputs, 0.5, True)
            assert out2[:, :p].tobytes() == out[:, :p].tobytes(), (p, which)
            assert weights2[:, :p].tobytes() == weights[:, :p].tobytes(), (p, which)
            # the change is seen from p on
            assert out2[:, p:].tobytes() != out[:, p:].tobytes(), (p, which)
    # a gradient arriving only at positions < p never reaches q, k or v at positions ≥ p
    for p in range(1, T):
        d = dout.copy()
        d[:, p:] = 0
        dq, dk, dv = backward(d, weights, q, k, v, 0.5)
        for g in (dq, dk, dv):
            assert np.all(g[:, p:] == 0.0), p


# -- worked example, large scores, threads ---------------------------------------------------------------


def test_lesson_worked_example():
    """Scores 110, 90, 80 with d_k = 64: ÷ √64 = 8 gives 13.75, 11.25, 10, and the
    softmax [0.9045, 0.0742, 0.0213] to four places (the lesson's 0.90 and 0.07).
    (Beware a rounded [0.9179, 0.0753, 0.0068]: that is not what these scores give;
    it would need a third score near 71.)"""
    d_k = 64
    # q·kᵀ = 110, 90, 80: q = (1, 0, ...), the keys' first entries are the scores
    q = np.zeros((1, 1, d_k))
    q[0, 0, 0] = 1.0
    k = np.zeros((1, 3, d_k))
    k[0, :, 0] = [110.0, 90.0, 80.0]
    v = np.eye(3)[None]  # out = the weights themselves
    scaled = np.array([110.0, 90.0, 80.0]) / np.sqrt(d_k)
    np.testing.assert_allclose(scaled, [13.75, 11.25, 10.0])
    expected = np.exp(scaled) / np.exp(scaled).sum()
    np.testing.assert_array_equal(np.round(expected, 4), [0.9045, 0.0742, 0.0213])
    np.testing.assert_array_equal(np.round(expected[:2], 2), [0.90, 0.07])
    for dtype in (np.float64, np.float32):
        out, weights = forward(
            q.astype(dtype), k.astype(dtype), v.astype(dtype), 1.0 / np.sqrt(d_k), False
        )
        atol = 1e-15 if dtype == np.float64 else 1e-7
        np.testing.assert_allclose(weights[0, 0], expected, rtol=0, atol=atol)
        np.testing.assert_allclose(out[0, 0], expected, rtol=0, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_large_scores_stay_finite(causal, dtype):
    rng = np.random.default_rng(5)
    N, T, D, E = 2, 5, 4, 3
    q = (rng.choice([-1.0, 1.0], (N, T, D)) * 1e2).astype(dtype)
    k = (rng.choice([-1.0, 1.0], (N, T, D)) * 1e2).astype(dtype)  # scores ±1e4 · scale
    v = rng.uniform(-1.0, 1.0, (N, T, E)).astype(dtype)
    out, weights = forward(q, k, v, 0.5, causal)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(weights))
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-6)
    dout = rng.uniform(-1.0, 1.0, (N, T, E)).astype(dtype)
    for g in backward(dout, weights, q, k, v, 0.5):
        assert np.all(np.isfinite(g))
    r_out, r_w = ref.attention_ref(f64(q), f64(k), f64(v), 0.5, causal)
    assert_close("weights", weights, r_w, *tol(dtype, r_w))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_same_bits_on_every_thread_count(causal, dtype, thread_counts):
    rng = np.random.default_rng(6)
    N, T, S, D, E = 5, 7, 7 if causal else 9, 6, 5
    q, k, v = problem(rng, N, T, S, D, E, dtype)
    dout = rng.uniform(-1.0, 1.0, (N, T, E)).astype(dtype)
    results = []
    for threads in thread_counts:
        numba.set_num_threads(threads)
        out, weights = forward(q, k, v, 0.4, causal)
        results.append(
            [a.tobytes() for a in (out, weights, *backward(dout, weights, q, k, v, 0.4))]
        )
    assert all(r == results[0] for r in results[1:])


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_gradients_where_weights_underflow_to_zero(causal):
    """Scores far apart: most weights are exactly 0, some rows' first or last keys among
    them, so the backward pass's bounds (the last key a pair of rows gives a weight, the
    first query giving a key one) cut inside rows and columns. The gradients still match
    the reference, and odd T and S leave a single row and a single key at the end.
    float64 only: float32's e^x stops at e^-87.3 (exp.py), so its weights never underflow."""
    dtype = np.float64
    rng = np.random.default_rng(7)
    N, T, D, E = 3, 7, 4, 5
    q = (rng.choice([-1.0, 1.0], (N, T, D)) * 30).astype(dtype)
    k = (rng.choice([-1.0, 1.0], (N, T, D)) * 30).astype(dtype)
    v = rng.uniform(-1.0, 1.0, (N, T, E)).astype(dtype)
    dout = rng.uniform(-1.0, 1.0, (N, T, E)).astype(dtype)
    _, weights = forward(q, k, v, 0.5, causal)
    assert np.mean(weights == 0) > 0.3
    assert np.any(weights[:, :, 0] == 0) and np.any(weights[:, :, -1] == 0)
    r_grads = ref.attention_ref_backward(f64(dout), f64(q), f64(k), f64(v), 0.5, causal)
    for name, g, r in zip(("dq", "dk", "dv"), backward(dout, weights, q, k, v, 0.5), r_grads):
        assert_close(name, g, r, *tol(dtype, r))
