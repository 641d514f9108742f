"""The logistic kernels against an independent NumPy formulation, at ordinary and
extreme z, in float64 and float32, and the layer's gradient against finite differences."""

import re
import types

import numba
import numpy as np
import pytest

import nbengine.kernels.logistic as K
from nbengine.data.split import Standardizer
from nbengine.data.tabular import load_binary_table
from nbengine.gradcheck import check_gradients
from nbengine.kernels.logistic import logistic_backward, logistic_forward, logistic_loss
from nbengine.layers.logistic import Logistic
from nbengine.models.logreg import LogisticRegression
from nbengine.testing import assert_close, assert_gradients_pass

# (atol, rtol) for comparing with the float64 reference
TOL = {np.float64: (1e-12, 1e-10), np.float32: (1e-5, 1e-4)}


def reference(x, w, b, y):
    """Vectorised float64 NumPy version of forward, loss and backward."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    b = np.asarray(b, np.float64)
    y = np.asarray(y, np.float64)
    N = x.shape[0]
    z = x @ w + b[0]
    # sigmoid(z) = exp(-softplus(-z)) and 1 - sigmoid(z) = exp(-softplus(z)): no overflow
    a = np.exp(-np.logaddexp(0.0, -z))
    one_minus_a = np.exp(-np.logaddexp(0.0, z))
    loss = y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        dL_da = -y / a + (1 - y) / one_minus_a
    da_dz = a * one_minus_a
    dL_dz = a - y
    dw = x.T @ dL_dz / N
    db = np.array([dL_dz.sum() / N])
    return dict(
        z=z,
        a=a,
        one_minus_a=one_minus_a,
        loss=loss,
        dL_da=dL_da,
        da_dz=da_dz,
        dL_dz=dL_dz,
        dw=dw,
        db=db,
    )


def run_kernels(x, w, b, y):
    """Allocate like the layer does, call the three kernels, return every output."""
    dt = x.dtype
    N, D = x.shape
    out = {k: np.empty(N, dt) for k in ("z", "a", "one_minus_a", "loss", "dL_da", "da_dz", "dL_dz")}
    out["dw"] = np.zeros(D, dt)
    out["db"] = np.zeros(1, dt)
    logistic_forward(out["z"], out["a"], out["one_minus_a"], x, w, b)
    logistic_loss(out["loss"], out["z"], y)
    logistic_backward(
        out["dw"],
        out["db"],
        out["dL_da"],
        out["da_dz"],
        out["dL_dz"],
        x,
        out["a"],
        out["one_minus_a"],
        y,
    )
    return out


def random_batch(dtype, N=37, D=5, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D)).astype(dtype)
    w = (rng.standard_normal(D) * scale).astype(dtype)
    b = np.array([0.3], dtype)
    y = rng.integers(0, 2, N).astype(dtype)
    return x, w, b, y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed,scale", [(0, 1.0), (1, 3.0), (2, 0.01)])
def test_forward_and_backward_match_numpy_reference(dtype, seed, scale):
    x, w, b, y = random_batch(dtype, seed=seed, scale=scale)
    ours = run_kernels(x, w, b, y)
    ref = reference(x, w, b, y)
    atol, rtol = TOL[dtype]
    for name in ref:
        assert ours[name].dtype == dtype, name
        assert_close(name, ours[name], ref[name], atol=atol, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_of_one_and_one_feature(dtype):
    x = np.array([[2.0]], dtype)
    w = np.array([-1.5], dtype)
    b = np.array([0.5], dtype)
    y = np.array([1.0], dtype)
    ours = run_kernels(x, w, b, y)
    atol, rtol = TOL[dtype]
    # z = -2.5, a = sigmoid(-2.5)
    a = 1 / (1 + np.exp(2.5))
    assert_close("z", ours["z"], [-2.5], atol=atol, rtol=rtol)
    assert_close("a", ours["a"], [a], atol=atol, rtol=rtol)
    assert_close("loss", ours["loss"], [-np.log(a)], atol=atol, rtol=rtol)
    assert_close("dL_da", ours["dL_da"], [-1 / a], atol=atol, rtol=rtol)
    assert_close("dw", ours["dw"], [(a - 1) * 2.0], atol=atol, rtol=rtol)
    assert_close("db", ours["db"], [a - 1], atol=atol, rtol=rtol)


def test_one_minus_a_keeps_relative_precision_when_a_is_near_one():
    # 1 - a computed as 1 - sigmoid(z) would keep only a digit or two at z = 30
    # and be exactly 0 at z = 40; sigmoid(-z) keeps full relative precision.
    z = np.array([20.0, 30.0, 35.0, 40.0, 60.0])
    x = z.reshape(-1, 1).copy()
    w, b = np.ones(1), np.zeros(1)
    zz, a, oma = np.empty(5), np.empty(5), np.empty(5)
    logistic_forward(zz, a, oma, x, w, b)
    exact = np.exp(-z) / (1 + np.exp(-z))
    assert np.all(oma > 0)
    assert_close("1-a", oma, exact, atol=0.0, rtol=1e-13)


def test_backward_accumulates_into_the_callers_buffers():
    x, w, b, y = random_batch(np.float64, N=8, D=3)
    ref = reference(x, w, b, y)
    N, D = x.shape
    z, a, oma = np.empty(N), np.empty(N), np.empty(N)
    logistic_forward(z, a, oma, x, w, b)
    dw, db = np.full(D, 1.0), np.full(1, -2.0)
    logistic_backward(dw, db, np.empty(N), np.empty(N), np.empty(N), x, a, oma, y)
    assert_close("dw", dw, 1.0 + ref["dw"], atol=1e-12)
    assert_close("db", db, -2.0 + ref["db"], atol=1e-12)


# -- extreme z ---------------------------------------------------------------------------


def saturating_batch(dtype):
    """Rows giving z = 300, -300, 800, -800, each once with y = 1 and once with y = 0."""
    z_values = [300.0, -300.0, 800.0, -800.0]
    x = np.zeros((8, 2), dtype)
    y = np.zeros(8, dtype)
    for k, zv in enumerate(z_values):
        col = 0 if abs(zv) == 300 else 1
        for j, label in enumerate((1.0, 0.0)):
            x[2 * k + j, col] = np.sign(zv)
            y[2 * k + j] = label
    w = np.array([300.0, 800.0], dtype)
    b = np.zeros(1, dtype)
    z = np.repeat(z_values, 2)
    return x, w, b, y, z


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_z_gives_finite_loss_and_gradients(dtype):
    x, w, b, y, z = saturating_batch(dtype)
    out = run_kernels(x, w, b, y)
    assert_close("z", out["z"], z, atol=0, rtol=0)
    for name in ("loss", "a", "one_minus_a", "da_dz", "dL_dz", "dw", "db"):
        assert np.all(np.isfinite(out[name])), (name, out[name])
    wrong = (y == 1) & (z < 0) | (y == 0) & (z > 0)
    assert wrong.sum() == 4
    # the loss of a confident wrong answer is about |z|; of a confident right one about 0
    assert_close("loss (wrong)", out["loss"][wrong], np.abs(z[wrong]), atol=0, rtol=1e-6)
    assert np.all(out["loss"][~wrong] >= 0)
    assert np.all(out["loss"][~wrong] < 1e-30)
    assert_close("a", out["a"], (z > 0).astype(np.float64), atol=1e-30, rtol=0)
    assert_close("1-a", out["one_minus_a"], (z < 0).astype(np.float64), atol=1e-30, rtol=0)
    # dL/dz = a - y is +-1 where wrong, 0 where right
    assert_close("dL/dz", out["dL_dz"], np.where(wrong, np.sign(z), 0.0), atol=1e-30, rtol=0)
    ref = reference(x, w, b, y)
    assert_close("dw", out["dw"], ref["dw"], atol=1e-7, rtol=1e-6)
    assert_close("db", out["db"], ref["db"], atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_z_dL_da_is_inf_only_where_a_saturates_and_consistent(dtype):
    x, w, b, y, z = saturating_batch(dtype)
    out = run_kernels(x, w, b, y)
    dL_da, da_dz, a, oma = out["dL_da"], out["da_dz"], out["a"], out["one_minus_a"]
    assert not np.any(np.isnan(dL_da))
    saturated = (a == 0) | (oma == 0)
    assert np.all(np.isfinite(dL_da) | saturated)
    # where a is saturated but the label agrees, the numerator is 0 and dL/da stays finite
    right = ~((y == 1) & (z < 0) | (y == 0) & (z > 0))
    assert np.all(np.isfinite(dL_da[right]))
    both = np.isfinite(dL_da) & np.isfinite(da_dz)
    assert both.sum() >= 4
    prod = dL_da[both].astype(np.float64) * da_dz[both].astype(np.float64)
    assert_close("dL/da * da/dz", prod, (a - y)[both], atol=1e-6, rtol=1e-5)


def test_consistency_of_chain_factors_at_moderate_z():
    x, w, b, y = random_batch(np.float64, N=50, D=4, scale=4.0)
    out = run_kernels(x, w, b, y)
    assert_close("dL/da * da/dz", out["dL_da"] * out["da_dz"], out["dL_dz"], atol=1e-12, rtol=1e-9)


# -- dtypes ----------------------------------------------------------------------------------


def test_float32_inputs_compile_a_float32_specialisation():
    x, w, b, y = random_batch(np.float32, N=6, D=3)
    out = run_kernels(x, w, b, y)
    for name, arr in out.items():
        assert arr.dtype == np.float32, name
    for kernel in (logistic_forward, logistic_loss, logistic_backward):
        f32 = [
            sig
            for sig in kernel.nopython_signatures
            if all(isinstance(t, numba.types.Array) and t.dtype == numba.float32 for t in sig.args)
        ]
        assert f32, (kernel.__name__, kernel.nopython_signatures)
    ref64 = run_kernels(*(v.astype(np.float64) for v in (x, w, b, y)))
    for name in out:
        assert_close(name, out[name], ref64[name], atol=1e-5, rtol=1e-4)


def _fresh_kernels():
    """Uncached copies of every compiled function of the kernel module, each with its
    own options (fastmath, error model), so that their LLVM IR can be read."""
    g = dict(K.__dict__)
    fresh = {}
    for name, obj in vars(K).items():
        if isinstance(obj, numba.core.registry.CPUDispatcher):
            py = obj.py_func
            fn = types.FunctionType(py.__code__, g, name, py.__defaults__, py.__closure__)
            options = {k: v for k, v in obj.targetoptions.items() if k not in ("cache", "nopython")}
            fresh[name] = numba.njit(**options)(fn)
            g[name] = fresh[name]
    assert {"logistic_forward", "logistic_loss", "logistic_backward"} <= set(fresh)
    return fresh


def _float64_instructions(dispatcher):
    """LLVM instructions of the (single) compiled specialisation that widen to or
    compute in double precision."""
    (sig,) = dispatcher.signatures
    ir = dispatcher.inspect_llvm(sig)
    return [
        ln.strip()
        for ln in ir.splitlines()
        if re.search(
            r"\bfpext\b|\bsitofp\b.*\bto double\b|= (fadd|fsub|fmul|fdiv|fcmp|call)\b[^;]*\bdouble\b",
            ln,
        )
    ]


def test_float32_kernels_do_not_compute_in_float64():
    fresh = _fresh_kernels()
    x, w, b, y = random_batch(np.float32, N=6, D=3)
    N, D = x.shape
    z, a, oma, loss = (np.empty(N, np.float32) for _ in range(4))
    fresh["logistic_forward"](z, a, oma, x, w, b)
    fresh["logistic_loss"](loss, z, y)
    fresh["logistic_backward"](
        np.zeros(D, np.float32),
        np.zeros(1, np.float32),
        np.empty(N, np.float32),
        np.empty(N, np.float32),
        np.empty(N, np.float32),
        x,
        a,
        oma,
        y,
    )
    for name in ("logistic_forward", "logistic_loss", "logistic_backward"):
        assert _float64_instructions(fresh[name]) == [], (
            f"{name}: float32 specialisation uses float64"
        )


def test_float64_leak_detector_detects_a_leak():
    # The check above must be able to fail: a sigmoid with float64 literals,
    # given float32, promotes to double.
    @numba.njit
    def leaky(out, t):
        for n in range(t.shape[0]):
            out[n] = 1.0 / (1.0 + np.exp(-t[n]))

    t = np.linspace(-3, 3, 5).astype(np.float32)
    leaky(np.empty(5, np.float32), t)
    assert _float64_instructions(leaky)


# -- finite differences on real data --------------------------------------------------------


@pytest.fixture(scope="module")
def breast_cancer():
    table = load_binary_table("breast_cancer")
    scaler = Standardizer.fit(table.x_train)
    return table, scaler


@pytest.mark.parametrize("init_scale", [0.01, 0.5, 1.5])
def test_layer_gradient_matches_finite_differences(breast_cancer, init_scale):
    table, scaler = breast_cancer
    x = scaler.transform(table.x_train, np.float64)
    y = table.y_train.astype(np.float64)
    layer = Logistic(x.shape[1], np.random.default_rng(3), dtype=np.float64, init_scale=init_scale)
    layer.params["b"][0] = 0.25

    def f():
        layer.forward(x)
        return layer.loss(y)

    f()
    layer.backward()
    analytic = {k: g.copy() for k, g in layer.grads.items()}
    results = check_gradients(f, layer.params, analytic)
    assert [r.name for r in results] == ["w", "b"]
    assert results[0].numeric.shape == (30,) and results[1].numeric.shape == (1,)
    assert_gradients_pass(results)
    for r in results:
        assert r.max_rel < 1e-6, (r.name, r.max_rel)
        assert np.all(np.abs(r.analytic) > 0)


def test_model_gradient_matches_finite_differences_on_a_small_batch(breast_cancer):
    table, scaler = breast_cancer
    model = LogisticRegression(30, seed=7, dtype=np.float64, scaler=scaler, init_scale=0.5)
    idx = np.arange(0, 40, 3)
    x, y = model.prepare(table.x_train[idx]), table.y_train[idx]
    assert x.dtype == np.float64
    model.loss_and_backward(x, y)
    analytic = {k: g.copy() for k, g in model.grads.items()}
    results = check_gradients(lambda: model.loss(x, y), model.params, analytic)
    assert_gradients_pass(results)
    assert max(r.max_rel for r in results) < 1e-6


def test_gradient_check_catches_a_wrong_gradient(breast_cancer):
    table, scaler = breast_cancer
    x = scaler.transform(table.x_train[:64], np.float64)
    y = table.y_train[:64].astype(np.float64)
    layer = Logistic(30, np.random.default_rng(0), dtype=np.float64, init_scale=0.5)

    def f():
        layer.forward(x)
        return layer.loss(y)

    f()
    layer.backward()
    good = {k: g.copy() for k, g in layer.grads.items()}

    scaled = {k: g * 1.01 for k, g in good.items()}
    results = check_gradients(f, layer.params, scaled)
    assert not any(r.passed for r in results)
    for r in results:
        assert 0.009 < r.max_rel < 0.011
    with pytest.raises(AssertionError, match="gradient check failed"):
        assert_gradients_pass(results)

    # one wrong entry is enough
    one_off = {k: g.copy() for k, g in good.items()}
    one_off["w"][17] += 1e-4
    results = check_gradients(f, layer.params, one_off)
    assert [r.passed for r in results] == [False, True]
    with pytest.raises(AssertionError, match=r"\bw: "):
        assert_gradients_pass(results)

    # forgetting the 1/N of the batch mean
    summed = {k: g * x.shape[0] for k, g in good.items()}
    assert not any(r.passed for r in check_gradients(f, layer.params, summed))


def test_gradient_check_refuses_a_float32_layer():
    layer = Logistic(3, np.random.default_rng(0), dtype=np.float32)
    x = np.ones((2, 3), np.float32)
    y = np.array([0.0, 1.0])

    def f():
        layer.forward(x)
        return layer.loss(y)

    with pytest.raises(TypeError, match="float64"):
        check_gradients(f, layer.params, layer.grads)
