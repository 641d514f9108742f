"""The naive attention, layer-norm and GELU kernels (the formulas as plain loops)
against the fast ones they explain: float64 to 1e-12 relative, float32 to a few
units in the last place of the values' size. Then against the independent NumPy
references (tests/reference/attention_numpy.py, transformer_numpy.py), against
float64 central differences, and the same bits on 1 and 2 threads.

Every output array is filled with NaN before a kernel runs, and every result is
checked finite: a value a kernel forgot to write shows up.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_all_same_bits, f64, nans, run_with_threads
from helpers import tolerance as tol
from test_kernels_layernorm_gelu import ln_backward as ln_backward_fast

from nbengine.gradcheck import check_gradients
from nbengine.kernels.attention import (
    attention_backward,
    attention_backward_naive,
    attention_forward,
    attention_forward_naive,
)
from nbengine.kernels.gelu import (
    gelu_backward,
    gelu_backward_naive,
    gelu_forward,
    gelu_forward_naive,
)
from nbengine.kernels.layernorm import (
    layernorm_backward_naive,
    layernorm_forward,
    layernorm_forward_naive,
)
from nbengine.testing import assert_close, assert_gradients_pass
from tests.reference import attention_numpy as attn_ref
from tests.reference import transformer_numpy as ref

DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
# float32: naive and fast differ by up to about 3 units in the last place of the values' size
F32_ULPS = 8


def assert_agree(name, naive, fast, f32_ulps=F32_ULPS):
    """|naive - fast| <= u (|fast| + max|fast|), u = 1e-12 in float64, f32_ulps ulps in float32."""
    assert naive.dtype == fast.dtype and naive.shape == fast.shape, name
    assert np.all(np.isfinite(naive)), f"{name}: not every value written or finite"
    u = 1e-12 if naive.dtype == np.float64 else f32_ulps * float(np.finfo(np.float32).eps)
    scale = float(np.max(np.abs(fast), initial=0.0))
    assert_close(f"{name}: naive vs fast", naive, fast, atol=u * scale, rtol=u)


# -- attention ---------------------------------------------------------------------------------------------

# (N, T, S, D, E, causal); the fast kernel works in blocks of three rows, so T and S
# are mostly not multiples of 3
ATTN_SHAPES = [
    pytest.param(2, 4, 4, 3, 3, False, id="square"),
    pytest.param(3, 5, 7, 4, 6, False, id="T<S-D<E"),
    pytest.param(2, 7, 4, 5, 2, False, id="T>S-D>E"),
    pytest.param(1, 5, 5, 4, 2, True, id="causal-N=1"),
    pytest.param(2, 7, 7, 2, 5, True, id="causal-T=7-D<E"),
    pytest.param(2, 6, 6, 3, 3, True, id="causal-T=6"),
]


def attn_problem(rng, N, T, S, D, E, dtype, size=1.5):
    q = rng.uniform(-size, size, (N, T, D)).astype(dtype)
    k = rng.uniform(-size, size, (N, S, D)).astype(dtype)
    v = rng.uniform(-1.0, 1.0, (N, S, E)).astype(dtype)
    dout = rng.uniform(-1.0, 1.0, (N, T, E)).astype(dtype)
    return q, k, v, dout


def attn_forward(kernel, q, k, v, scale, causal):
    N, T, _ = q.shape
    S, E = v.shape[1], v.shape[2]
    out, weights = nans((N, T, E), q.dtype), nans((N, T, S), q.dtype)
    kernel(out, weights, q, k, v, scale, causal)
    return out, weights


def attn_backward(kernel, dout, weights, q, k, v, scale):
    dq, dk, dv = nans(q.shape, q.dtype), nans(k.shape, k.dtype), nans(v.shape, v.dtype)
    kernel(dq, dk, dv, dout, weights, q, k, v, scale)
    return dq, dk, dv


def attn_naive(q, k, v, dout, scale, causal):
    """[out, weights, dq, dk, dv] from the naive kernels."""
    out, weights = attn_forward(attention_forward_naive, q, k, v, scale, causal)
    return [out, weights, *attn_backward(attention_backward_naive, dout, weights, q, k, v, scale)]


ATTN_NAMES = ("out", "weights", "dq", "dk", "dv")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, T, S, D, E, causal", ATTN_SHAPES)
def test_attention_naive_matches_fast_and_reference(N, T, S, D, E, causal, dtype):
    rng = np.random.default_rng(11)
    q, k, v, dout = attn_problem(rng, N, T, S, D, E, dtype)
    scale = 1.0 / np.sqrt(D)
    naive = attn_naive(q, k, v, dout, scale, causal)
    out, weights = attn_forward(attention_forward, q, k, v, scale, causal)
    # the fast backward from the naive weights, so both backward passes see the same input
    fast = [out, weights, *attn_backward(attention_backward, dout, naive[1], q, k, v, scale)]
    for name, a, b in zip(ATTN_NAMES, naive, fast):
        assert_agree(name, a, b)
    r_out, r_w = attn_ref.attention_ref(f64(q), f64(k), f64(v), scale, causal)
    r_grads = attn_ref.attention_ref_backward(f64(dout), f64(q), f64(k), f64(v), scale, causal)
    for name, a, r in zip(ATTN_NAMES, naive, (r_out, r_w, *r_grads)):
        assert_close(f"{name}: naive vs NumPy", a, r, *tol(dtype, r))
    w = naive[1]
    np.testing.assert_allclose(
        w.sum(axis=-1), 1.0, rtol=0, atol=1e-12 if dtype == np.float64 else 1e-6
    )
    if causal:  # the masked weights are exactly +0, the others positive
        future = ~attn_ref.causal_mask(T, S)
        assert np.all(w[:, future] == 0.0) and not np.any(np.signbit(w[:, future]))
        assert np.all(w[:, ~future] > 0)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_attention_naive_where_weights_underflow_to_zero(causal):
    """Scores far apart: many weights are exactly 0, also outside the mask, and the
    naive backward (full sums, no mask) still agrees with the fast one (which skips
    the zero weights) and with the reference. float64: float32's exp stops at e^-87.3."""
    rng = np.random.default_rng(12)
    N, T, D, E = 3, 7, 4, 5
    q = rng.choice([-1.0, 1.0], (N, T, D)) * 30
    k = rng.choice([-1.0, 1.0], (N, T, D)) * 30
    v = rng.uniform(-1.0, 1.0, (N, T, E))
    dout = rng.uniform(-1.0, 1.0, (N, T, E))
    naive = attn_naive(q, k, v, dout, 0.5, causal)
    assert np.mean(naive[1] == 0) > 0.3
    assert np.any(naive[1][:, :, 0] == 0) and np.any(naive[1][:, :, -1] == 0)
    out, weights = attn_forward(attention_forward, q, k, v, 0.5, causal)
    fast = [out, weights, *attn_backward(attention_backward, dout, naive[1], q, k, v, 0.5)]
    for name, a, b in zip(ATTN_NAMES, naive, fast):
        assert_agree(name, a, b)
    r_grads = attn_ref.attention_ref_backward(dout, q, k, v, 0.5, causal)
    for name, a, r in zip(ATTN_NAMES[2:], naive[2:], r_grads):
        assert_close(f"{name}: naive vs NumPy", a, r, *tol(np.float64, r))


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_attention_naive_gradients_match_finite_differences(causal, one_thread):
    """L = sum(G * out); T ≠ S and D ≠ E where the mask allows it."""
    rng = np.random.default_rng(13)
    N, T, S, D, E = (2, 4, 4, 3, 5) if causal else (2, 4, 5, 3, 2)
    q, k, v, G = attn_problem(rng, N, T, S, D, E, np.float64)
    scale = 1.0 / np.sqrt(D)
    _, _, dq, dk, dv = attn_naive(q, k, v, G, scale, causal)

    def loss():
        return float(np.sum(G * attn_forward(attention_forward_naive, q, k, v, scale, causal)[0]))

    assert_gradients_pass(
        check_gradients(loss, {"q": q, "k": k, "v": v}, {"q": dq, "k": dk, "v": dv})
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_attention_naive_same_bits_on_1_and_2_threads(causal, dtype, thread_counts):
    rng = np.random.default_rng(14)
    N, T, S, D, E = 5, 7, 7 if causal else 8, 6, 5
    q, k, v, dout = attn_problem(rng, N, T, S, D, E, dtype)
    results = run_with_threads(thread_counts, lambda: attn_naive(q, k, v, dout, 0.4, causal))
    assert_all_same_bits(results, ATTN_NAMES)


# -- layer normalisation -----------------------------------------------------------------------------------

EPS = 1e-5
# (R, C, P): P is the fast backward's number of parts
LN_SHAPES = [
    pytest.param(6, 8, 2, id="R6-C8"),
    pytest.param(7, 5, 3, id="R7-C5-uneven-parts"),
    pytest.param(1, 16, 1, id="R1"),
    pytest.param(3, 1, 2, id="C1"),
]


def ln_problem(rng, R, C, dtype):
    x = rng.uniform(-2.0, 2.0, (R, C)).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, C).astype(dtype)
    beta = rng.uniform(-0.5, 0.5, C).astype(dtype)
    dout = rng.uniform(-1.0, 1.0, (R, C)).astype(dtype)
    return x, gamma, beta, dout


def ln_forward(kernel, x, gamma, beta):
    R, C = x.shape
    out, mean, rstd = nans((R, C), x.dtype), nans(R, x.dtype), nans(R, x.dtype)
    kernel(out, mean, rstd, x, gamma, beta, EPS)
    return out, mean, rstd


def ln_backward_naive(dout, x, mean, rstd, gamma):
    R, C = x.shape
    dx, dgamma, dbeta = nans((R, C), x.dtype), nans(C, x.dtype), nans(C, x.dtype)
    layernorm_backward_naive(dx, dgamma, dbeta, dout, x, mean, rstd, gamma)
    return dx, dgamma, dbeta


def ln_naive(x, gamma, beta, dout):
    """[out, mean, rstd, dx, dgamma, dbeta] from the naive kernels."""
    out, mean, rstd = ln_forward(layernorm_forward_naive, x, gamma, beta)
    return [out, mean, rstd, *ln_backward_naive(dout, x, mean, rstd, gamma)]


LN_NAMES = ("out", "mean", "rstd", "dx", "dgamma", "dbeta")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("R, C, P", LN_SHAPES)
def test_layernorm_naive_matches_fast_and_reference(R, C, P, dtype):
    rng = np.random.default_rng(21)
    x, gamma, beta, dout = ln_problem(rng, R, C, dtype)
    naive = ln_naive(x, gamma, beta, dout)
    fast = [*ln_forward(layernorm_forward, x, gamma, beta)]
    fast += ln_backward_fast(dout, x, naive[1], naive[2], gamma, P)
    for name, a, b in zip(LN_NAMES, naive, fast):
        assert_agree(name, a, b)
    r_fwd = ref.layernorm_ref(f64(x), f64(gamma), f64(beta), EPS)
    r_bwd = ref.layernorm_ref_backward(f64(dout), f64(x), f64(gamma), EPS)
    for name, a, r in zip(LN_NAMES, naive, (*r_fwd, *r_bwd)):
        assert_close(f"{name}: naive vs NumPy", a, r, *tol(dtype, r, f64(naive[2])))


@pytest.mark.parametrize("dtype", DTYPES)
def test_layernorm_naive_rows_of_equal_values(dtype):
    """Variance 0: rstd = 1/√eps stays finite, xhat is (close to) 0 and out is beta.
    Row 1's mean of 0.3s may round, and rstd ≈ 316 magnifies that rounding in xhat, so
    in float32 the naive and fast kernels are compared on that row's mean and rstd only
    (not its out and dx, nor dgamma, which sums its xhat)."""
    rng = np.random.default_rng(23)
    x, gamma, beta, dout = ln_problem(rng, 5, 8, dtype)
    x[1] = dtype(0.3)  # not a power of two: its mean may round
    x[2] = dtype(-1e4)
    naive = ln_naive(x, gamma, beta, dout)
    for name, a in zip(LN_NAMES, naive):
        assert np.all(np.isfinite(a)), name
    for r in (1, 2):
        assert_close(f"out[{r}]", naive[0][r], f64(beta), *tol(dtype, beta))
    fast = [*ln_forward(layernorm_forward, x, gamma, beta)]
    fast += ln_backward_fast(dout, x, naive[1], naive[2], gamma, 2)
    if dtype == np.float64:
        for name, a, b in zip(LN_NAMES, naive, fast):
            assert_agree(name, a, b)
    else:
        rows = [0, 2, 3, 4]
        for name, i in (("mean", 1), ("rstd", 2), ("dbeta", 5)):
            assert_agree(name, naive[i], fast[i])
        for name, i in (("out", 0), ("dx", 3)):
            assert_agree(name, naive[i][rows], fast[i][rows])
    r_fwd = ref.layernorm_ref(f64(x), f64(gamma), f64(beta), EPS)
    assert_close("out: naive vs NumPy", naive[0], r_fwd[0], *tol(dtype, r_fwd[0]))


def test_layernorm_naive_gradients_match_finite_differences(one_thread):
    """L = sum(G * out) for x, gamma and beta; each row of dx sums to 0 (a shift of a row changes nothing)."""
    rng = np.random.default_rng(22)
    x = rng.uniform(-2.0, 2.0, (5, 6))
    gamma = rng.uniform(0.5, 1.5, 6)
    beta = rng.uniform(-0.5, 0.5, 6)
    G = rng.uniform(-1.0, 1.0, (5, 6))
    _, _, _, dx, dgamma, dbeta = ln_naive(x, gamma, beta, G)

    def loss():
        return float(np.sum(G * ln_forward(layernorm_forward_naive, x, gamma, beta)[0]))

    assert_gradients_pass(
        check_gradients(
            loss, {"x": x, "gamma": gamma, "beta": beta}, {"x": dx, "gamma": dgamma, "beta": dbeta}
        )
    )
    np.testing.assert_allclose(dx.sum(axis=1), 0.0, atol=1e-12)


# -- GELU --------------------------------------------------------------------------------------------------

LARGE = [-1e4, -100.0, -30.0, 30.0, 100.0, 1e4]


def gelu_naive(x, dout):
    out, dx = nans(x.shape, x.dtype), nans(x.shape, x.dtype)
    gelu_forward_naive(out, x)
    gelu_backward_naive(dx, dout, x)
    return [out, dx]


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_naive_matches_fast_and_reference(dtype):
    rng = np.random.default_rng(31)
    x = np.concatenate([rng.uniform(-4.0, 4.0, 97), [0.0, -1.0, 1.0, 10.0, -10.0]]).astype(dtype)
    dout = rng.uniform(-1.0, 1.0, x.shape).astype(dtype)
    out, dx = gelu_naive(x, dout)
    f_out, f_dx = nans(x.shape, dtype), nans(x.shape, dtype)
    gelu_forward(f_out, x)
    gelu_backward(f_dx, dout, x)
    # the fast float32 tanh's absolute error (about 1e-7) reaches dx through 1 - t²: up to about 10 ulps
    assert_agree("out", out, f_out)
    assert_agree("dx", dx, f_dx, f32_ulps=16)
    r_out, r_dx = ref.gelu_ref(f64(x)), ref.gelu_ref_backward(f64(dout), f64(x))
    assert_close("out: naive vs NumPy", out, r_out, *tol(dtype, r_out))
    assert_close("dx: naive vs NumPy", dx, r_dx, *tol(dtype, r_dx))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_naive_at_large_inputs(dtype):
    """tanh is exactly ±1: out = x or 0, the derivative 1 or 0, as the fast kernels give."""
    x = np.array(LARGE, dtype)
    out, dx = gelu_naive(x, np.ones_like(x))
    f_out, f_dx = nans(x.shape, dtype), nans(x.shape, dtype)
    gelu_forward(f_out, x)
    gelu_backward(f_dx, np.ones_like(x), x)
    np.testing.assert_array_equal(out, f_out)
    np.testing.assert_array_equal(dx, f_dx)
    np.testing.assert_array_equal(out[3:], x[3:])
    assert np.all(np.abs(out[:3]) <= 1e-30)
    np.testing.assert_array_equal(dx[3:], 1.0)
    np.testing.assert_array_equal(dx[:3], 0.0)


def test_gelu_naive_gradient_matches_finite_differences(one_thread):
    rng = np.random.default_rng(32)
    x = rng.uniform(-4.0, 4.0, 40)
    G = rng.uniform(-1.0, 1.0, 40)
    _, dx = gelu_naive(x, G)

    def loss():
        return float(np.sum(G * gelu_naive(x, G)[0]))

    assert_gradients_pass(check_gradients(loss, {"x": x}, {"x": dx}))


@pytest.mark.parametrize("dtype", DTYPES)
def test_layernorm_and_gelu_naive_same_bits_on_1_and_2_threads(dtype, thread_counts):
    rng = np.random.default_rng(33)
    x, gamma, beta, dout = ln_problem(rng, 37, 24, dtype)
    flat = rng.uniform(-4.0, 4.0, 1001).astype(dtype)
    dflat = rng.uniform(-1.0, 1.0, 1001).astype(dtype)
    results = run_with_threads(
        thread_counts, lambda: ln_naive(x, gamma, beta, dout) + gelu_naive(flat, dflat)
    )
    assert_all_same_bits(results, LN_NAMES + ("gelu out", "gelu dx"))
