"""The optimizers (nbengine.optim) against Keras's update rules written out in NumPy,
over several steps with a new gradient each step, in float64 and float32, plus
small examples worked out by hand.

Keras's rules, for a parameter p with gradient g at step t = 1, 2, ...:
    SGD            p ← p − lr·g
    SGD(momentum)  v ← μ·v − lr·g;  p ← p + v                       (v starts at 0)
    Adam           α = lr·√(1 − β2^t) / (1 − β1^t)
                   m ← m + (1 − β1)(g − m);  v ← v + (1 − β2)(g² − v)  (m, v start at 0)
                   p ← p − α·m / (√v + ε),  ε = 1e-7
"""

from __future__ import annotations

import numpy as np
import pytest

from nbengine.kernels.adam import adam_update
from nbengine.kernels.sgd import momentum_update, sgd_update
from nbengine.optim import OPTIMIZERS, SGD, Adam, Momentum
from nbengine.testing import assert_close

DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
# several shapes, updated through flat views
SHAPES = {"conv.w": (3, 3, 2, 4), "conv.b": (4,), "dense.w": (6, 5)}
STEPS = 6


def tol(dtype):
    """(atol, rtol) against the float64 formulas: exact to rounding in float64, about
    seven digits a step in float32."""
    return (1e-13, 1e-12) if dtype == np.float64 else (2e-6, 1e-5)


def problem(dtype, seed=0):
    """Starting parameters, the gradient of every step (different each step), and the
    dicts an optimizer holds: layers write each new gradient into the same arrays."""
    rng = np.random.default_rng(seed)
    params = {k: rng.uniform(-1, 1, s).astype(dtype) for k, s in SHAPES.items()}
    steps = [
        {k: rng.uniform(-2, 2, s).astype(dtype) for k, s in SHAPES.items()} for _ in range(STEPS)
    ]
    grads = {k: np.zeros(s, dtype) for k, s in SHAPES.items()}
    return params, grads, steps


def run(optimizer, params, grads, steps):
    """Take one step per gradient, writing each into the optimizer's gradient arrays in place;
    check the parameters stay the same arrays, in their dtype; return copies after each step."""
    ids = {k: id(p) for k, p in params.items()}
    history = []
    for g in steps:
        for k in grads:
            grads[k][...] = g[k]
        optimizer.step()
        history.append({k: p.copy() for k, p in params.items()})
    for k, p in params.items():
        assert id(p) == ids[k], f"{k} was replaced, not updated in place"
    return history


def start(params):
    return {k: p.astype(np.float64) for k, p in params.items()}


# == the rules over several steps ======================================================================


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_follows_the_rule(dtype):
    params, grads, steps = problem(dtype, seed=1)
    lr = 0.05
    p = start(params)
    history = run(SGD(params, grads, lr=lr), params, grads, steps)
    for t, g in enumerate(steps):
        for k in p:
            p[k] = p[k] - lr * g[k].astype(np.float64)
            assert history[t][k].dtype == dtype
            assert_close(f"{k} after step {t + 1}", history[t][k], p[k], *tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mu", [0.0, 0.5, 0.9], ids=lambda m: f"mu{m}")
def test_momentum_follows_the_rule(mu, dtype):
    params, grads, steps = problem(dtype, seed=2)
    lr = 0.05
    opt = Momentum(params, grads, lr=lr, momentum=mu)
    p = start(params)
    v = {k: np.zeros_like(a) for k, a in p.items()}
    history = run(opt, params, grads, steps)
    for t, g in enumerate(steps):
        for k in p:
            v[k] = mu * v[k] - lr * g[k].astype(np.float64)
            p[k] = p[k] + v[k]
            assert history[t][k].dtype == dtype
            assert_close(f"{k} after step {t + 1}", history[t][k], p[k], *tol(dtype))
    for k in p:
        assert opt.velocity[k].dtype == dtype
        assert_close(f"velocity of {k}", opt.velocity[k], v[k], *tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "lr, beta1, beta2",
    [
        pytest.param(0.001, 0.9, 0.999, id="keras-defaults"),
        pytest.param(0.01, 0.8, 0.99, id="lr0.01-b0.8-b0.99"),
    ],
)
def test_adam_follows_the_rule(lr, beta1, beta2, dtype):
    params, grads, steps = problem(dtype, seed=3)
    eps = 1e-7
    opt = Adam(params, grads, lr=lr, beta1=beta1, beta2=beta2)
    assert opt.eps == eps  # Keras's epsilon
    p = start(params)
    m = {k: np.zeros_like(a) for k, a in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    history = run(opt, params, grads, steps)
    assert opt.t == STEPS
    for t, g in enumerate(steps, start=1):
        alpha = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
        for k in p:
            gk = g[k].astype(np.float64)
            m[k] = m[k] + (1 - beta1) * (gk - m[k])
            v[k] = v[k] + (1 - beta2) * (gk * gk - v[k])
            p[k] = p[k] - alpha * m[k] / (np.sqrt(v[k]) + eps)
            assert history[t - 1][k].dtype == dtype
            assert_close(f"{k} after step {t}", history[t - 1][k], p[k], *tol(dtype))
    for k in p:
        assert opt.m[k].dtype == opt.v[k].dtype == dtype
        assert_close(f"m of {k}", opt.m[k], m[k], *tol(dtype))
        assert_close(f"v of {k}", opt.v[k], v[k], *tol(dtype))


# == worked examples ===================================================================================


def one_param(value, dtype=np.float64):
    return {"p": np.array([value], dtype)}, {"p": np.zeros(1, dtype)}


def test_sgd_worked_example():
    params, grads = one_param(1.0)
    opt = SGD(params, grads, lr=0.1)
    for g, expected in [(2.0, 0.8), (-1.0, 0.9), (0.0, 0.9)]:
        grads["p"][0] = g
        opt.step()
        assert params["p"][0] == pytest.approx(expected, abs=1e-15)


def test_momentum_worked_example_gathers_speed():
    # a constant gradient 1, lr 0.1, μ 0.5: v = -0.1, -0.15, -0.175 (towards -0.2), p = the running sum
    params, grads = one_param(0.0)
    grads["p"][0] = 1.0
    opt = Momentum(params, grads, lr=0.1, momentum=0.5)
    for v, p in [(-0.1, -0.1), (-0.15, -0.25), (-0.175, -0.425)]:
        opt.step()
        assert opt.velocity["p"][0] == pytest.approx(v, abs=1e-15)
        assert params["p"][0] == pytest.approx(p, abs=1e-15)


@pytest.mark.parametrize("g", [2.0, -0.5, 1e-3], ids=lambda g: f"g{g}")
def test_adam_first_step_moves_by_about_lr_whatever_the_gradient_size(g):
    # step 1: m = 0.1 g, v = 0.001 g², α = lr·√0.001 / 0.1, so the step is
    # lr·g / (|g| + ε/√0.001): lr in the direction of -g, slightly less for a tiny |g|
    params, grads = one_param(1.0)
    grads["p"][0] = g
    lr, eps = 0.01, 1e-7
    Adam(params, grads, lr=lr).step()
    expected = 1.0 - lr * g / (abs(g) + eps / np.sqrt(0.001))
    assert params["p"][0] == pytest.approx(expected, rel=1e-14)
    assert abs(params["p"][0] - (1.0 - lr * np.sign(g))) < lr * 1e-2  # within 1% of lr


def test_adam_does_not_move_a_parameter_whose_gradient_was_always_zero():
    params, grads = one_param(0.25)
    opt = Adam(params, grads, lr=0.1)
    for _ in range(3):
        opt.step()
    assert params["p"][0] == 0.25
    assert opt.m["p"][0] == 0.0 and opt.v["p"][0] == 0.0


# == float32 stays float32 =============================================================================


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_float32_parameters_and_state_stay_float32(name):
    params, grads, steps = problem(np.float32, seed=4)
    opt = OPTIMIZERS[name](params, grads, lr=0.01)
    run(opt, params, grads, steps[:2])
    assert all(p.dtype == np.float32 for p in params.values())
    for state in ("velocity", "m", "v"):
        for k, a in getattr(opt, state, {}).items():
            assert a.dtype == np.float32, f"{name}.{state}[{k}] is {a.dtype}"


def test_kernels_called_as_the_optimizers_call_them_keep_float32():
    p = np.array([1.0, -2.0, 3.0], np.float32)
    g = np.array([0.5, 0.5, -1.0], np.float32)
    sgd_update(p, g, np.float32(0.1))
    assert p.dtype == np.float32
    assert_close("sgd", p, [0.95, -2.05, 3.1], atol=1e-7)
    v = np.zeros(3, np.float32)
    momentum_update(p, v, g, np.float32(0.1), np.float32(0.9))
    assert_close("momentum p", p, [0.90, -2.10, 3.2], atol=1e-6)
    assert_close("momentum v", v, [-0.05, -0.05, 0.1], atol=1e-7)
    m, s = np.zeros(3, np.float32), np.zeros(3, np.float32)
    f = np.float32
    # step 1's α for lr 0.01, computed by the caller
    alpha = f(0.01 * np.sqrt(1 - 0.999) / (1 - 0.9))
    adam_update(p, m, s, g, alpha, f(0.9), f(0.999), f(1e-7))
    assert p.dtype == m.dtype == s.dtype == np.float32
    assert_close("adam m", m, [0.05, 0.05, -0.1], atol=1e-7)
    # 1 - 0.999 in float32 is 0.00099998713 (0.999 itself rounds), as in any float32 Adam
    assert_close("adam v", s, [0.00025, 0.00025, 0.001], atol=1e-9, rtol=2e-5)
    # step 1: about lr
    assert_close("adam p", p, [0.90 - 0.01, -2.10 - 0.01, 3.2 + 0.01], atol=1e-6)


# == the optimizers' names and checks ==================================================================


def test_optimizers_by_name():
    assert OPTIMIZERS == {"sgd": SGD, "momentum": Momentum, "adam": Adam}
    assert [OPTIMIZERS[n].name for n in ("sgd", "momentum", "adam")] == ["sgd", "momentum", "adam"]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p, g: SGD(p, g, lr=0.0), id="sgd-lr-0"),
        pytest.param(lambda p, g: SGD(p, g, lr=-0.1), id="sgd-lr-negative"),
        pytest.param(lambda p, g: SGD(p, g, lr=float("nan")), id="sgd-lr-nan"),
        pytest.param(lambda p, g: Momentum(p, g, lr=0.1, momentum=1.0), id="momentum-1"),
        pytest.param(lambda p, g: Momentum(p, g, lr=0.1, momentum=-0.1), id="momentum-negative"),
        pytest.param(lambda p, g: Adam(p, g, lr=0.0), id="adam-lr-0"),
    ],
)
def test_bad_settings_are_refused(make):
    params, grads = one_param(1.0)
    with pytest.raises(ValueError):
        make(params, grads)
