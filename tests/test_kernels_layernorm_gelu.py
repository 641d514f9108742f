"""Layer normalisation and GELU checked against the independent NumPy reference
(tests/reference/transformer_numpy.py) in float64 and float32, and against float64
central differences. Then: a row of equal values (variance 0) and very large
inputs stay finite, and the bits do not depend on the number of threads.

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
from nbengine.kernels.conv2d import sum_parts
from nbengine.kernels.gelu import gelu_backward, gelu_forward
from nbengine.kernels.layernorm import layernorm_backward, layernorm_forward
from nbengine.testing import assert_close, assert_gradients_pass
from tests.reference import transformer_numpy as ref

DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
# (R, C, P)
LN_SHAPES = [
    pytest.param(6, 8, 2, id="R6-C8-P2"),
    pytest.param(7, 5, 3, id="R7-C5-P3-uneven"),
    pytest.param(1, 16, 1, id="R1"),
    pytest.param(3, 1, 2, id="C1"),
    pytest.param(2, 33, 4, id="P>R"),
]
EPS = 1e-5


def ln_problem(rng, R, C, dtype):
    x = rng.uniform(-2.0, 2.0, (R, C)).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, C).astype(dtype)
    beta = rng.uniform(-0.5, 0.5, C).astype(dtype)
    return x, gamma, beta


def ln_forward(x, gamma, beta, eps=EPS):
    R, C = x.shape
    out, mean, rstd = nans((R, C), x.dtype), nans(R, x.dtype), nans(R, x.dtype)
    layernorm_forward(out, mean, rstd, x, gamma, beta, eps)
    return out, mean, rstd


def ln_backward(dout, x, mean, rstd, gamma, P):
    R, C = x.shape
    dx, dg_parts, db_parts = nans((R, C), x.dtype), nans((P, C), x.dtype), nans((P, C), x.dtype)
    layernorm_backward(dx, dg_parts, db_parts, dout, x, mean, rstd, gamma)
    dgamma, dbeta = nans(C, x.dtype), nans(C, x.dtype)
    sum_parts(dgamma, dg_parts)
    sum_parts(dbeta, db_parts)
    return dx, dgamma, dbeta


def gelu(x):
    out = nans(x.shape, x.dtype)
    gelu_forward(out, x)
    return out


def gelu_grad(dout, x):
    dx = nans(x.shape, x.dtype)
    gelu_backward(dx, dout, x)
    return dx


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("R, C, P", LN_SHAPES)
def test_layernorm_matches_reference(R, C, P, dtype):
    rng = np.random.default_rng(1)
    x, gamma, beta = ln_problem(rng, R, C, dtype)
    dout = rng.uniform(-1.0, 1.0, (R, C)).astype(dtype)
    out, mean, rstd = ln_forward(x, gamma, beta)
    r_out, r_mean, r_rstd = ref.layernorm_ref(f64(x), f64(gamma), f64(beta), EPS)
    for name, a, r in (("out", out, r_out), ("mean", mean, r_mean), ("rstd", rstd, r_rstd)):
        assert a.dtype == dtype
        assert_close(name, a, r, *tol(dtype, r))
    grads = ln_backward(dout, x, mean, rstd, gamma, P)
    r_grads = ref.layernorm_ref_backward(f64(dout), f64(x), f64(gamma), EPS)
    for name, g, r in zip(("dx", "dgamma", "dbeta"), grads, r_grads):
        assert g.dtype == dtype
        assert_close(name, g, r, *tol(dtype, r, f64(rstd)))


def test_layernorm_rows_have_mean_0_and_variance_1_before_gamma_and_beta():
    rng = np.random.default_rng(2)
    x = rng.normal(3.0, 5.0, (4, 64))
    out, _, _ = ln_forward(x, np.ones(64), np.zeros(64), eps=0.0)
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-14)
    np.testing.assert_allclose(out.var(axis=1), 1.0, rtol=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_matches_reference(dtype):
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-4.0, 4.0, 97), [0.0, -1.0, 1.0, 10.0, -10.0]]).astype(dtype)
    dout = rng.uniform(-1.0, 1.0, x.shape).astype(dtype)
    out = gelu(x)
    r_out = ref.gelu_ref(f64(x))
    assert out.dtype == dtype
    assert_close("out", out, r_out, *tol(dtype, r_out))
    dx = gelu_grad(dout, x)
    r_dx = ref.gelu_ref_backward(f64(dout), f64(x))
    assert dx.dtype == dtype
    assert_close("dx", dx, r_dx, *tol(dtype, r_dx))


def test_gelu_known_values():
    """gelu(0) = 0, gelu(x) - gelu(-x) = x (the tanh is odd), and the tanh
    approximation is within 1e-3 of x·Φ(x) at x = 1 (0.841192 against 0.841345)."""
    x = np.array([0.0, 1.0, -1.0, 2.5, -2.5])
    out = gelu(x)
    assert out[0] == 0.0
    np.testing.assert_allclose(out[1::2] - out[2::2], x[1::2], rtol=1e-15)
    np.testing.assert_allclose(out[1], 0.8411919906, atol=1e-9)
    assert abs(out[1] - 0.8413447461) < 1e-3


# -- finite differences (float64) ------------------------------------------------------------------------


def test_layernorm_gradients_match_finite_differences(one_thread):
    """L = sum(G * out) for x, gamma and beta."""
    rng = np.random.default_rng(4)
    R, C, P = 5, 6, 2
    x, gamma, beta = ln_problem(rng, R, C, np.float64)
    G = rng.uniform(-1.0, 1.0, (R, C))
    _, mean, rstd = ln_forward(x, gamma, beta)
    dx, dgamma, dbeta = ln_backward(G, x, mean, rstd, gamma, P)

    def loss():
        return float(np.sum(G * ln_forward(x, gamma, beta)[0]))

    assert_gradients_pass(
        check_gradients(
            loss, {"x": x, "gamma": gamma, "beta": beta}, {"x": dx, "gamma": dgamma, "beta": dbeta}
        )
    )
    # a shift of a whole row changes nothing: each row of dx sums to 0
    np.testing.assert_allclose(dx.sum(axis=1), 0.0, atol=1e-12)


def test_gelu_gradient_matches_finite_differences(one_thread):
    rng = np.random.default_rng(5)
    x = rng.uniform(-4.0, 4.0, 40)
    G = rng.uniform(-1.0, 1.0, 40)
    dx = gelu_grad(G, x)

    def loss():
        return float(np.sum(G * gelu(x)))

    assert_gradients_pass(check_gradients(loss, {"x": x}, {"x": dx}))


# -- variance 0, large inputs, threads -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_layernorm_constant_row_stays_finite(dtype):
    rng = np.random.default_rng(6)
    x, gamma, beta = ln_problem(rng, 3, 7, dtype)
    x[1] = dtype(0.3)  # not a power of two: its mean may round
    x[2] = dtype(-1e4)
    out, mean, rstd = ln_forward(x, gamma, beta)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(mean)) and np.all(np.isfinite(rstd))
    assert_close("out[1]", out[1], f64(beta), *tol(dtype, beta))
    dout = rng.uniform(-1.0, 1.0, x.shape).astype(dtype)
    for g in ln_backward(dout, x, mean, rstd, gamma, 2):
        assert np.all(np.isfinite(g))
    r_out, _, _ = ref.layernorm_ref(f64(x), f64(gamma), f64(beta), EPS)
    assert_close("out", out, r_out, *tol(dtype, r_out))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_large_inputs_stay_finite(dtype):
    x = np.array([-1e4, -100.0, -30.0, 30.0, 100.0, 1e4], dtype)
    out = gelu(x)
    dx = gelu_grad(np.ones_like(x), x)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
    np.testing.assert_array_equal(out[3:], x[3:])  # tanh is 1: out = x exactly
    assert np.all(np.abs(out[:3]) <= 1e-30)
    np.testing.assert_array_equal(dx[3:], 1.0)
    np.testing.assert_array_equal(dx[:3], 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_bits_on_every_thread_count(dtype, thread_counts):
    rng = np.random.default_rng(7)
    R, C, P = 37, 24, 4
    x, gamma, beta = ln_problem(rng, R, C, dtype)
    dout = rng.uniform(-1.0, 1.0, (R, C)).astype(dtype)
    flat = rng.uniform(-4.0, 4.0, 1001).astype(dtype)
    dflat = rng.uniform(-1.0, 1.0, 1001).astype(dtype)
    results = []
    for threads in thread_counts:
        numba.set_num_threads(threads)
        out, mean, rstd = ln_forward(x, gamma, beta)
        grads = ln_backward(dout, x, mean, rstd, gamma, P)
        results.append(
            [a.tobytes() for a in (out, mean, rstd, *grads, gelu(flat), gelu_grad(dflat, flat))]
        )
    assert all(r == results[0] for r in results[1:])
