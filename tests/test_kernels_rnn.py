"""The recurrent language models' kernels checked three ways: against the
independent NumPy reference in the textbook's style (tests/reference/rnn_numpy.py)
in float64 and float32, against float64 central differences (backpropagation
through time over six steps from a nonzero carried state, and each of the LSTM's
four gate blocks on its own), and on small cases built by hand. Then the same
bits whatever the number of threads.

Every output array is filled with NaN before a kernel runs: a kernel promises to
overwrite its outputs, so a value it forgot to write shows up as NaN.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_all_same_bits, assert_same_bits, f64, nans, rand, run_with_threads
from helpers import tolerance as tol

from nbengine.gradcheck import check_gradients, compare, numerical_gradient
from nbengine.kernels.conv2d import sum_parts
from nbengine.kernels.embedding import embedding_backward, embedding_forward
from nbengine.kernels.lstm import lstm_backward, lstm_forward
from nbengine.kernels.norm import sum_of_squares, sum_of_squares_naive
from nbengine.kernels.rnn import rnn_backward, rnn_forward
from nbengine.kernels.softmax_cross_entropy import (
    counted,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from nbengine.layers.losses import SoftmaxCrossEntropy
from nbengine.layers.time_affine import TimeAffine
from nbengine.optim import NORM_PARTS, clip_global_norm, global_norm
from nbengine.testing import assert_close, assert_gradients_pass
from tests.reference import rnn_numpy as ref

DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
GATES = ["f", "g", "i", "o"]  # the order of the LSTM's 4H columns


def embed(W, ids):
    out = nans(ids.shape + (W.shape[1],), W.dtype)
    embedding_forward(out, W, ids)
    return out


def embed_grad(dout, ids, V):
    dW = nans((V, dout.shape[-1]), dout.dtype)  # overwritten, rows of unused ids included
    embedding_backward(dW, dout, ids)
    return dW


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "N, T, V, D",
    [
        pytest.param(1, 1, 3, 2, id="N1-T1"),
        pytest.param(3, 5, 7, 4, id="N3-T5"),
        pytest.param(4, 9, 5, 6, id="N4-T9-every-id-repeated"),
        pytest.param(2, 3, 50, 3, id="N2-T3-most-ids-unused"),
    ],
)
def test_embedding_matches_reference(N, T, V, D, dtype):
    rng = np.random.default_rng(N * 100 + T * 10 + V)
    W = rand(rng, (V, D), dtype)
    ids = rng.integers(0, V, (N, T)).astype(np.int64)
    out = embed(W, ids)
    assert out.dtype == dtype
    # a copy is exact
    assert_close("embedding out", out, ref.embedding_ref(ids, f64(W)), atol=0, rtol=0)
    dout = rand(rng, (N, T, D), dtype)
    dW = embed_grad(dout, ids, V)
    expected = ref.embedding_ref_backward(f64(dout), ids, V)
    assert dW.dtype == dtype
    assert_close("embedding dW", dW, expected, *tol(dtype, expected))
    unused = np.setdiff1d(np.arange(V), ids)
    assert np.all(dW[unused] == 0), "rows of ids not in the batch must be 0"


def test_embedding_worked_example_repeated_ids_add_up():
    W = np.arange(12.0).reshape(4, 3)  # row v holds 3v, 3v+1, 3v+2
    ids = np.array([[2, 0, 2], [2, 3, 0]], np.int64)
    out = embed(W, ids)
    assert_close("out", out, W[ids], atol=0, rtol=0)
    dout = np.zeros((2, 3, 3))
    dout[0, 0] = [1, 2, 3]  # id 2
    dout[0, 2] = [10, 20, 30]  # id 2 again
    dout[1, 0] = [100, 200, 300]  # id 2 a third time
    dout[0, 1] = [-1, -1, -1]  # id 0
    dout[1, 2] = [0.5, 0.5, 0.5]  # id 0 again
    dout[1, 1] = [7, 8, 9]  # id 3
    dW = embed_grad(dout, ids, 4)
    assert_close(
        "dW", dW, [[-0.5, -0.5, -0.5], [0, 0, 0], [111, 222, 333], [7, 8, 9]], atol=0, rtol=0
    )
    # a second call overwrites, it does not add
    embedding_backward(dW, dout, ids)
    assert_close("dW, second call", dW[2], [111, 222, 333], atol=0, rtol=0)


def test_embedding_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    W = rand(rng, (6, 3), np.float64)
    ids = np.array([[1, 4, 1, 1], [0, 4, 2, 1]], np.int64)  # 3 and 5 unused
    G = rand(rng, (2, 4, 3), np.float64)
    dW = embed_grad(G, ids, 6)
    assert_gradients_pass(
        check_gradients(lambda: float(np.sum(G * embed(W, ids))), {"W": W}, {"W": dW})
    )


# == RNN ================================================================================================


def rnn(xs, h0, Wx, Wh, b):
    N, T, _ = xs.shape
    hs = nans((N, T, Wh.shape[0]), xs.dtype)
    rnn_forward(hs, h0, xs, Wx, Wh, b)
    return hs


def rnn_grads(dhs, hs, h0, xs, Wx, Wh, parts):
    """The backward pass as the TimeRNN layer runs it: per-part weight gradients, then sum_parts."""
    N, T, D = xs.shape
    H = Wh.shape[0]
    dt = xs.dtype
    g = {
        "dxs": nans((N, T, D), dt),
        "dWx_parts": nans((parts, D, H), dt),
        "dWh_parts": nans((parts, H, H), dt),
        "db_parts": nans((parts, H), dt),
        "dh0": nans((N, H), dt),
        "dh_total": nans((N, T, H), dt),
        "dzs": nans((N, T, H), dt),
    }
    rnn_backward(
        g["dxs"],
        g["dWx_parts"],
        g["dWh_parts"],
        g["db_parts"],
        g["dh0"],
        g["dh_total"],
        g["dzs"],
        dhs,
        hs,
        h0,
        xs,
        Wx,
        Wh,
    )
    for name in ("Wx", "Wh", "b"):
        p = g[f"d{name}_parts"]
        total = nans(p.shape[1:], dt)
        sum_parts(total.reshape(-1), p.reshape(parts, -1))
        g[f"d{name}"] = total
    return g


def rnn_problem(rng, N, T, D, H, dtype, h0_zero=False):
    xs = rand(rng, (N, T, D), dtype)
    h0 = np.zeros((N, H), dtype) if h0_zero else rand(rng, (N, H), dtype, -0.9, 0.9)
    Wx = rand(rng, (D, H), dtype)
    Wh = rand(rng, (H, H), dtype, -0.6, 0.6)
    b = rand(rng, (H,), dtype, -0.5, 0.5)
    return xs, h0, Wx, Wh, b


# N, T, D, H, parts
RNN_CASES = [
    pytest.param(1, 1, 3, 4, 1, id="N1-T1-P1"),
    pytest.param(1, 6, 3, 4, 1, id="N1-T6-P1"),
    pytest.param(5, 1, 2, 3, 2, id="N5-T1-P2"),
    pytest.param(5, 6, 3, 4, 2, id="N5-T6-P2-uneven-parts"),
    pytest.param(11, 7, 4, 5, 8, id="N11-T7-P8"),
    pytest.param(2, 5, 3, 3, 4, id="N2-T5-P4-two-empty-parts"),
    pytest.param(3, 8, 16, 33, 3, id="N3-T8-H33-odd-vector-tail"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, T, D, H, parts", RNN_CASES)
def test_rnn_matches_reference(N, T, D, H, parts, dtype):
    rng = np.random.default_rng(N * 1000 + T * 100 + H)
    xs, h0, Wx, Wh, b = rnn_problem(rng, N, T, D, H, dtype)
    hs = rnn(xs, h0, Wx, Wh, b)
    expected = ref.rnn_ref(f64(xs), f64(h0), f64(Wx), f64(Wh), f64(b))
    assert hs.dtype == dtype
    assert_close("rnn hs", hs, expected, *tol(dtype, expected))

    dhs = rand(rng, (N, T, H), dtype)
    g = rnn_grads(dhs, hs, h0, xs, Wx, Wh, parts)
    r_dxs, r_dWx, r_dWh, r_db, r_dh0 = ref.rnn_ref_backward(
        f64(dhs), f64(xs), f64(h0), f64(Wx), f64(Wh), f64(b)
    )
    for name, expected in (
        ("dxs", r_dxs),
        ("dWx", r_dWx),
        ("dWh", r_dWh),
        ("db", r_db),
        ("dh0", r_dh0),
    ):
        assert g[name].dtype == dtype
        assert_close(f"rnn {name}", g[name], expected, *tol(dtype, expected))
    for g_ in range(parts):  # each part holds its own samples' gradient, an empty part 0
        lo, hi = g_ * N // parts, (g_ + 1) * N // parts
        if lo == hi:
            assert all(np.all(g[k][g_] == 0) for k in ("dWx_parts", "dWh_parts", "db_parts"))
            continue
        _, p_dWx, p_dWh, p_db, _ = ref.rnn_ref_backward(
            f64(dhs[lo:hi]), f64(xs[lo:hi]), f64(h0[lo:hi]), f64(Wx), f64(Wh), f64(b)
        )
        assert_close(f"rnn dWx part {g_}", g["dWx_parts"][g_], p_dWx, *tol(dtype, p_dWx))
        assert_close(f"rnn dWh part {g_}", g["dWh_parts"][g_], p_dWh, *tol(dtype, p_dWh))


def full_dh_reference_rnn(t, dhs, xs, hs, Wx, Wh, b):
    """dL/dh_t in full: what h_t sends up at step t, plus everything it reaches through
    the later steps (the reference run from h_t over steps t+1..T-1)."""
    if t == xs.shape[1] - 1:
        return dhs[:, t]
    *_, dh = ref.rnn_ref_backward(dhs[:, t + 1 :], xs[:, t + 1 :], hs[:, t], Wx, Wh, b)
    return dhs[:, t] + dh


@pytest.mark.parametrize("dtype", DTYPES)
def test_rnn_dh_total_is_the_full_gradient_at_every_step(dtype):
    rng = np.random.default_rng(7)
    N, T, D, H = 3, 6, 3, 4
    xs, h0, Wx, Wh, b = rnn_problem(rng, N, T, D, H, dtype)
    hs = rnn(xs, h0, Wx, Wh, b)
    dhs = rand(rng, (N, T, H), dtype)
    g = rnn_grads(dhs, hs, h0, xs, Wx, Wh, 2)
    refs = [f64(a) for a in (dhs, xs, hs, Wx, Wh, b)]
    for t in range(T):
        expected = full_dh_reference_rnn(t, *refs)
        assert_close(f"rnn dh_total[:, {t}]", g["dh_total"][:, t], expected, *tol(dtype, expected))
    # and dL/dh0 is dh_total[:, 0] sent back through step 0
    *_, r_dh0 = ref.rnn_ref_backward(*(f64(a) for a in (dhs, xs, h0, Wx, Wh, b)))
    assert_close("rnn dh0", g["dh0"], r_dh0, *tol(dtype, r_dh0))


def test_rnn_worked_example_one_unit():
    # D = H = 1, Wx = 1, Wh = 0.5, b = 0.1: h_t = tanh(x_t + 0.5 h_{t-1} + 0.1) from h0 = 0.2
    xs = np.array([[[0.3], [-0.4]]])
    h0 = np.array([[0.2]])
    Wx, Wh, b = np.array([[1.0]]), np.array([[0.5]]), np.array([0.1])
    h1 = np.tanh(0.3 + 0.5 * 0.2 + 0.1)
    h2 = np.tanh(-0.4 + 0.5 * h1 + 0.1)
    hs = rnn(xs, h0, Wx, Wh, b)
    assert_close("hs", hs.reshape(-1), [h1, h2], atol=1e-15, rtol=0)
    # L = h2: dz2 = 1 - h2²; dh1 = 0.5 dz2; dz1 = dh1 (1 - h1²); dh0 = 0.5 dz1
    g = rnn_grads(np.array([[[0.0], [1.0]]]), hs, h0, xs, Wx, Wh, 1)
    dz2 = 1 - h2**2
    dz1 = 0.5 * dz2 * (1 - h1**2)
    assert_close("dh_total", g["dh_total"].reshape(-1), [0.5 * dz2, 1.0], atol=1e-15, rtol=0)
    assert_close("dxs", g["dxs"].reshape(-1), [dz1, dz2], atol=1e-15, rtol=0)
    assert_close("dWx", g["dWx"], [[0.3 * dz1 - 0.4 * dz2]], atol=1e-15, rtol=0)
    assert_close("dWh", g["dWh"], [[0.2 * dz1 + h1 * dz2]], atol=1e-15, rtol=0)
    assert_close("db", g["db"], [dz1 + dz2], atol=1e-15, rtol=0)
    assert_close("dh0", g["dh0"], [[0.5 * dz1]], atol=1e-15, rtol=0)


# -- finite differences (float64) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "last_step_only", [False, True], ids=["loss-at-every-step", "loss-at-last-step-only"]
)
def test_rnn_bptt_gradients_match_finite_differences(last_step_only, one_thread):
    """L = sum(G * hs) over six steps from a nonzero h0. With G nonzero only at the last
    step, every gradient of an earlier step's input got there through time alone."""
    rng = np.random.default_rng(8)
    N, T, D, H = 2, 6, 3, 4
    xs, h0, Wx, Wh, b = rnn_problem(rng, N, T, D, H, np.float64)
    Wh *= 1.5  # so that the gradient still reaches step 0 from step 5 clearly
    G = rand(rng, (N, T, H), np.float64)
    if last_step_only:
        G[:, :-1] = 0
    g = rnn_grads(G, rnn(xs, h0, Wx, Wh, b), h0, xs, Wx, Wh, 2)
    if last_step_only:
        assert np.abs(g["dxs"][:, 0]).max() > 1e-3, "the gradient must reach the first step"

    def loss():
        return float(np.sum(G * rnn(xs, h0, Wx, Wh, b)))

    params = {"xs": xs, "h0": h0, "Wx": Wx, "Wh": Wh, "b": b}
    analytic = {"xs": g["dxs"], "h0": g["dh0"], "Wx": g["dWx"], "Wh": g["dWh"], "b": g["db"]}
    assert_gradients_pass(check_gradients(loss, params, analytic))


# == LSTM ===============================================================================================


def lstm(xs, h0, c0, Wx, Wh, b):
    N, T, _ = xs.shape
    H = Wh.shape[0]
    hs, cs, gates = (
        nans((N, T, H), xs.dtype),
        nans((N, T, H), xs.dtype),
        nans((N, T, 4 * H), xs.dtype),
    )
    lstm_forward(hs, cs, gates, h0, c0, xs, Wx, Wh, b)
    return hs, cs, gates


def lstm_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh, parts):
    N, T, D = xs.shape
    H = Wh.shape[0]
    dt = xs.dtype
    g = {
        "dxs": nans((N, T, D), dt),
        "dWx_parts": nans((parts, D, 4 * H), dt),
        "dWh_parts": nans((parts, H, 4 * H), dt),
        "db_parts": nans((parts, 4 * H), dt),
        "dh0": nans((N, H), dt),
        "dc0": nans((N, H), dt),
        "dh_total": nans((N, T, H), dt),
        "dc_total": nans((N, T, H), dt),
        "dgates": nans((N, T, 4 * H), dt),
    }
    lstm_backward(
        g["dxs"],
        g["dWx_parts"],
        g["dWh_parts"],
        g["db_parts"],
        g["dh0"],
        g["dc0"],
        g["dh_total"],
        g["dc_total"],
        g["dgates"],
        dhs,
        hs,
        cs,
        gates,
        h0,
        c0,
        xs,
        Wx,
        Wh,
    )
    for name in ("Wx", "Wh", "b"):
        p = g[f"d{name}_parts"]
        total = nans(p.shape[1:], dt)
        sum_parts(total.reshape(-1), p.reshape(parts, -1))
        g[f"d{name}"] = total
    return g


def lstm_problem(rng, N, T, D, H, dtype):
    xs = rand(rng, (N, T, D), dtype)
    h0 = rand(rng, (N, H), dtype, -0.9, 0.9)
    c0 = rand(rng, (N, H), dtype, -1.5, 1.5)
    Wx = rand(rng, (D, 4 * H), dtype)
    Wh = rand(rng, (H, 4 * H), dtype, -0.8, 0.8)
    b = rand(rng, (4 * H,), dtype, -0.5, 0.5)
    return xs, h0, c0, Wx, Wh, b


LSTM_CASES = [
    pytest.param(1, 1, 3, 4, 1, id="N1-T1-P1"),
    pytest.param(1, 6, 3, 4, 1, id="N1-T6-P1"),
    pytest.param(5, 1, 2, 3, 2, id="N5-T1-P2"),
    pytest.param(5, 6, 3, 4, 2, id="N5-T6-P2-uneven-parts"),
    pytest.param(11, 7, 4, 5, 8, id="N11-T7-P8"),
    pytest.param(2, 5, 3, 3, 4, id="N2-T5-P4-two-empty-parts"),
    pytest.param(3, 6, 16, 9, 3, id="N3-T6-4H36-odd-vector-tail"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, T, D, H, parts", LSTM_CASES)
def test_lstm_matches_reference(N, T, D, H, parts, dtype):
    rng = np.random.default_rng(N * 1000 + T * 100 + H + 1)
    xs, h0, c0, Wx, Wh, b = lstm_problem(rng, N, T, D, H, dtype)
    hs, cs, gates = lstm(xs, h0, c0, Wx, Wh, b)
    r_hs, r_cs, r_gates = ref.lstm_ref(*(f64(a) for a in (xs, h0, c0, Wx, Wh, b)))
    assert hs.dtype == cs.dtype == gates.dtype == dtype
    assert_close("lstm hs", hs, r_hs, *tol(dtype, r_hs))
    assert_close("lstm cs", cs, r_cs, *tol(dtype, r_cs))
    assert_close("lstm gates (f, g, i, o)", gates, r_gates, *tol(dtype, r_gates))

    dhs = rand(rng, (N, T, H), dtype)
    g = lstm_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh, parts)
    expected = dict(
        zip(
            ("dxs", "dWx", "dWh", "db", "dh0", "dc0"),
            ref.lstm_ref_backward(*(f64(a) for a in (dhs, xs, h0, c0, Wx, Wh, b))),
        )
    )
    for name, e in expected.items():
        assert g[name].dtype == dtype
        assert_close(f"lstm {name}", g[name], e, *tol(dtype, e))
    for g_ in range(parts):
        lo, hi = g_ * N // parts, (g_ + 1) * N // parts
        if lo == hi:
            assert all(np.all(g[k][g_] == 0) for k in ("dWx_parts", "dWh_parts", "db_parts"))
            continue
        _, p_dWx, p_dWh, p_db, _, _ = ref.lstm_ref_backward(
            *(f64(a[lo:hi]) for a in (dhs, xs, h0, c0)), f64(Wx), f64(Wh), f64(b)
        )
        assert_close(f"lstm dWx part {g_}", g["dWx_parts"][g_], p_dWx, *tol(dtype, p_dWx))
        assert_close(f"lstm db part {g_}", g["db_parts"][g_], p_db, *tol(dtype, p_db))


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_dh_total_is_the_full_gradient_at_every_step(dtype):
    """dL/dh_t in full (c_t held as its own input): dhs[t] plus what h_t reaches through
    steps t+1.. (the reference run from h_t, c_t)."""
    rng = np.random.default_rng(9)
    N, T, D, H = 3, 6, 3, 4
    xs, h0, c0, Wx, Wh, b = lstm_problem(rng, N, T, D, H, dtype)
    hs, cs, gates = lstm(xs, h0, c0, Wx, Wh, b)
    dhs = rand(rng, (N, T, H), dtype)
    g = lstm_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh, 2)
    d, x, h, c, wx, wh, bb = (f64(a) for a in (dhs, xs, hs, cs, Wx, Wh, b))
    for t in range(T):
        if t == T - 1:
            expected = d[:, t]
        else:
            _, _, _, _, dh, _ = ref.lstm_ref_backward(
                d[:, t + 1 :], x[:, t + 1 :], h[:, t], c[:, t], wx, wh, bb
            )
            expected = d[:, t] + dh
        assert_close(f"lstm dh_total[:, {t}]", g["dh_total"][:, t], expected, *tol(dtype, expected))


def test_rnn_dzs_are_every_steps_gradient_before_tanh():
    """dzs[t] = dL/dz_t: the reference run from the state entering step t, minus the run
    from step t+1, leaves step t's share of db (one sample: dz_t itself); and dzs[0]·Whᵀ
    is what reaches h0."""
    rng = np.random.default_rng(11)
    N, T, D, H = 1, 5, 3, 4
    xs, h0, Wx, Wh, b = rnn_problem(rng, N, T, D, H, np.float64)
    hs = rnn(xs, h0, Wx, Wh, b)
    dhs = rand(rng, (N, T, H), np.float64)
    g = rnn_grads(dhs, hs, h0, xs, Wx, Wh, 1)

    def db_from(t):
        if t == T:
            return np.zeros(H)
        h = h0 if t == 0 else hs[:, t - 1]
        return ref.rnn_ref_backward(dhs[:, t:], xs[:, t:], h, Wx, Wh, b)[3]

    for t in range(T):
        assert_close(f"rnn dzs[0, {t}]", g["dzs"][0, t], db_from(t) - db_from(t + 1), 1e-12, 1e-12)
    assert_close("rnn dh0 = dz_0·Whᵀ", g["dh0"], g["dzs"][:, 0] @ Wh.T, 1e-12, 1e-12)


def test_lstm_dc_total_and_dgates_are_every_steps_gradients():
    """dc_total[t] is ds = dL/dc_t in full and dgates[t] is dA of step t: the reference run
    from the state entering step t gives dL/dc_{t-1} = ds ⊙ f, and its db minus the db of
    the run from step t+1 is step t's dA (one sample, so db holds nothing else)."""
    rng = np.random.default_rng(10)
    N, T, D, H = 1, 5, 3, 4
    xs, h0, c0, Wx, Wh, b = lstm_problem(rng, N, T, D, H, np.float64)
    hs, cs, gates = lstm(xs, h0, c0, Wx, Wh, b)
    dhs = rand(rng, (N, T, H), np.float64)
    g = lstm_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh, 1)

    def from_step(t):
        """(db, dL/dc of the state entering step t) of the reference over steps t.."""
        if t == T:
            return np.zeros(4 * H), np.zeros((N, H))
        h, c = (h0, c0) if t == 0 else (hs[:, t - 1], cs[:, t - 1])
        _, _, _, db, _, dc = ref.lstm_ref_backward(dhs[:, t:], xs[:, t:], h, c, Wx, Wh, b)
        return db, dc

    for t in range(T):
        db_t, dc_prev = from_step(t)
        db_next, _ = from_step(t + 1)
        f = gates[:, t, :H]
        assert_close(f"lstm dc_total[:, {t}] ⊙ f", g["dc_total"][:, t] * f, dc_prev, 1e-12, 1e-12)
        assert_close(f"lstm dgates[0, {t}]", g["dgates"][0, t], db_t - db_next, 1e-12, 1e-12)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


# With D = H = 1, x = 1, h0 = 0.5, c0 = 0.8 and the g gate's bias beta (so g is not 0
# and the input gate has something to let in), only one gate's column of Wx or Wh
# holds a = 2. The baseline gates are f = i = o = σ(0) = 1/2 and g = tanh(beta); the
# one gate with weight a moves exactly as its role says:
A_, BETA, X, H0, C0 = 2.0, 0.7, 1.0, 0.5, 0.8


def expected_one_gate(gate, pre):
    """(f, g, i, o, c, h) when the gate ``gate`` alone gets the extra pre-activation ``pre``."""
    f = sigmoid(pre) if gate == "f" else 0.5
    g = np.tanh(BETA + (pre if gate == "g" else 0.0))
    i = sigmoid(pre) if gate == "i" else 0.5
    o = sigmoid(pre) if gate == "o" else 0.5
    c = f * C0 + g * i
    return f, g, i, o, c, o * np.tanh(c)


@pytest.mark.parametrize("weights", ["Wx", "Wh"])
@pytest.mark.parametrize("gate", GATES)
def test_lstm_gate_order_f_g_i_o_one_gate_at_a_time(gate, weights):
    k = GATES.index(gate)
    Wx, Wh = np.zeros((1, 4)), np.zeros((1, 4))
    b = np.array([0.0, BETA, 0.0, 0.0])
    (Wx if weights == "Wx" else Wh)[0, k] = A_
    pre = A_ * (X if weights == "Wx" else H0)
    xs, h0, c0 = np.full((1, 1, 1), X), np.full((1, 1), H0), np.full((1, 1), C0)
    hs, cs, gates = lstm(xs, h0, c0, Wx, Wh, b)
    f, g, i, o, c, h = expected_one_gate(gate, pre)
    assert_close(
        f"gates with only {gate}'s {weights} column set",
        gates.reshape(-1),
        [f, g, i, o],
        atol=1e-15,
        rtol=0,
    )
    assert_close("c", cs.reshape(-1), [c], atol=1e-15, rtol=0)
    assert_close("h", hs.reshape(-1), [h], atol=1e-15, rtol=0)
    # the four cases really differ: a kernel that read the slices in another order fails
    others = {expected_one_gate(other, pre)[4:] for other in GATES if other != gate}
    assert all(abs(c - oc) > 1e-3 or abs(h - oh) > 1e-3 for oc, oh in others)
    # the backward pass puts the gate's gradient in the same column: dL/dA_k via the reference
    dhs = np.ones((1, 1, 1))
    grads = lstm_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh, 1)
    _, r_dWx, r_dWh, r_db, r_dh0, r_dc0 = ref.lstm_ref_backward(dhs, xs, h0, c0, Wx, Wh, b)
    assert_close("db", grads["db"], r_db, atol=1e-15, rtol=1e-12)
    assert_close("dWx", grads["dWx"], r_dWx, atol=1e-15, rtol=1e-12)
    assert_close("dWh", grads["dWh"], r_dWh, atol=1e-15, rtol=1e-12)
    assert_close("dc0", grads["dc0"], r_dc0, atol=1e-15, rtol=1e-12)
    # by hand: dL/dh = 1; ds = o (1 - tanh(c)^2); dA = [ds c0 f(1-f), ds i (1-g^2), ds g i(1-i), tanh(c) o(1-o)]
    ds = o * (1 - np.tanh(c) ** 2)
    by_hand = [
        ds * C0 * f * (1 - f),
        ds * i * (1 - g * g),
        ds * g * i * (1 - i),
        np.tanh(c) * o * (1 - o),
    ]
    assert_close("db by hand", grads["db"], by_hand, atol=1e-15, rtol=1e-12)
    assert_close("dc0 by hand", grads["dc0"].reshape(-1), [ds * f], atol=1e-15, rtol=1e-12)


def test_lstm_carries_c0_and_h0():
    """The same step from a different c0, or a different h0, gives a different cell; a
    zero forget gate (f = σ(-40)) forgets c0 completely."""
    rng = np.random.default_rng(10)
    xs, h0, c0, Wx, Wh, b = lstm_problem(rng, 2, 3, 2, 3, np.float64)
    hs, cs, _ = lstm(xs, h0, c0, Wx, Wh, b)
    _, cs_c, _ = lstm(xs, h0, c0 + 0.5, Wx, Wh, b)
    hs_h, _, _ = lstm(xs, h0 + 0.5, c0, Wx, Wh, b)
    assert np.abs(cs_c[:, 0] - cs[:, 0]).min() > 1e-3
    assert np.abs(hs_h[:, 0] - hs[:, 0]).max() > 1e-3
    b_forget = b.copy()
    b_forget[:3] = -40.0
    Wx_f, Wh_f = Wx.copy(), Wh.copy()
    Wx_f[:, :3] = 0
    Wh_f[:, :3] = 0
    _, cs1, _ = lstm(xs, h0, c0, Wx_f, Wh_f, b_forget)
    _, cs2, _ = lstm(xs, h0, c0 + 0.5, Wx_f, Wh_f, b_forget)
    assert_close("cell with f = 0 forgets c0", cs1, cs2, atol=1e-15, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_saturated_gates_stay_finite(dtype):
    """Pre-activations of ±200: σ(-200) would overflow e^200 if computed as 1 / (1 + e^-a);
    the gates must come out 0 or 1, and the backward pass finite and equal to the reference."""
    rng = np.random.default_rng(22)
    xs = rand(rng, (2, 5, 3), dtype)
    h0, c0 = rand(rng, (2, 2), dtype), rand(rng, (2, 2), dtype)
    Wx = rand(rng, (3, 8), dtype) * dtype(200)
    Wh = rand(rng, (2, 8), dtype) * dtype(200)
    b = np.zeros(8, dtype)
    hs, cs, gates = lstm(xs, h0, c0, Wx, Wh, b)
    assert np.all(np.isfinite(hs)) and np.all(np.isfinite(cs)) and np.all(np.isfinite(gates))
    r_hs, r_cs, r_gates = ref.lstm_ref(*(f64(a) for a in (xs, h0, c0, Wx, Wh, b)))
    assert_close("saturated gates", gates, r_gates, *tol(dtype, r_gates))
    dhs = rand(rng, hs.shape, dtype)
    g = lstm_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh, 2)
    for name in ("dxs", "dWx", "dWh", "db", "dh0", "dc0"):
        assert np.all(np.isfinite(g[name])), name


# -- finite differences (float64) ----------------------------------------------------------------------


def lstm_loss_problem(seed, last_step_only=False):
    rng = np.random.default_rng(seed)
    N, T, D, H = 2, 6, 3, 3
    xs, h0, c0, Wx, Wh, b = lstm_problem(rng, N, T, D, H, np.float64)
    Gh = rand(rng, (N, T, H), np.float64)
    if last_step_only:
        Gh[:, :-1] = 0
    return xs, h0, c0, Wx, Wh, b, Gh


@pytest.mark.parametrize(
    "last_step_only", [False, True], ids=["loss-at-every-step", "loss-at-last-step-only"]
)
def test_lstm_bptt_gradients_match_finite_differences(last_step_only, one_thread):
    """L = sum(G * hs) over six steps from nonzero h0 and c0: every input the backward
    pass differentiates, dc0 and dh0 included."""
    xs, h0, c0, Wx, Wh, b, G = lstm_loss_problem(11, last_step_only)
    hs, cs, gates = lstm(xs, h0, c0, Wx, Wh, b)
    g = lstm_grads(G, hs, cs, gates, h0, c0, xs, Wx, Wh, 2)
    if last_step_only:
        assert np.abs(g["dxs"][:, 0]).max() > 1e-4, "the gradient must reach the first step"

    def loss():
        return float(np.sum(G * lstm(xs, h0, c0, Wx, Wh, b)[0]))

    params = {"xs": xs, "h0": h0, "c0": c0, "Wx": Wx, "Wh": Wh, "b": b}
    analytic = {
        "xs": g["dxs"],
        "h0": g["dh0"],
        "c0": g["dc0"],
        "Wx": g["dWx"],
        "Wh": g["dWh"],
        "b": g["db"],
    }
    assert_gradients_pass(check_gradients(loss, params, analytic))


@pytest.mark.parametrize("gate", GATES)
def test_lstm_each_gate_block_matches_finite_differences(gate, one_thread):
    """Wx[:, kH:(k+1)H], Wh[:, kH:(k+1)H] and b[kH:(k+1)H] of one gate, every entry,
    through six steps with the loss on the last one only (the gradient of every
    earlier step's gate came through time)."""
    xs, h0, c0, Wx, Wh, b, G = lstm_loss_problem(12, last_step_only=True)
    H = Wh.shape[0]
    k = GATES.index(gate)
    hs, cs, gates = lstm(xs, h0, c0, Wx, Wh, b)
    g = lstm_grads(G, hs, cs, gates, h0, c0, xs, Wx, Wh, 2)

    def loss():
        return float(np.sum(G * lstm(xs, h0, c0, Wx, Wh, b)[0]))

    results = []
    for name, p, dp in (("Wx", Wx, g["dWx"]), ("Wh", Wh, g["dWh"]), ("b", b, g["db"])):
        # the gate's columns
        entries = np.arange(p.size).reshape(p.shape)[..., k * H : (k + 1) * H].reshape(-1)
        analytic = dp.reshape(-1)[entries]
        assert np.any(analytic != 0)
        results.append(
            compare(
                f"{gate} gate {name}[:, {k * H}:{(k + 1) * H}]",
                analytic,
                numerical_gradient(loss, p, entries=entries),
            )
        )
    assert_gradients_pass(results)


# == softmax cross-entropy with the ignore label ========================================================


def sce(z, y):
    probs, loss = nans(z.shape, z.dtype), nans(z.shape[0], z.dtype)
    softmax_cross_entropy_forward(probs, loss, z, y)
    dz = nans(z.shape, z.dtype)
    softmax_cross_entropy_backward(dz, probs, y)
    return probs, loss, dz


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ignored", [0, 1, 5], ids=lambda k: f"{k}-of-12-ignored")
def test_softmax_cross_entropy_with_ignore_label_matches_reference(ignored, dtype):
    rng = np.random.default_rng(13 + ignored)
    N, T, V = 3, 4, 7
    scores = rand(rng, (N, T, V), dtype, -3, 3)
    ts = rng.integers(0, V, (N, T)).astype(np.int64)
    ts.reshape(-1)[rng.choice(N * T, ignored, replace=False)] = -1
    z, y = scores.reshape(N * T, V), ts.reshape(-1)
    probs, loss, dz = sce(z, y)
    r_loss, r_dscores = ref.softmax_ce_ref(f64(scores), ts)
    mask = y >= 0
    assert counted(y) == N * T - ignored
    assert np.all(loss[~mask] == 0), "an ignored row has loss 0"
    assert np.all(dz[~mask] == 0), "an ignored row sends no gradient"
    # the mean over counted rows only
    mean = float(np.sum(loss, dtype=np.float64)) / (N * T - ignored)
    assert mean == pytest.approx(r_loss, rel=1e-12 if dtype == np.float64 else 1e-5)
    assert_close("probs", probs, ref.softmax(f64(z)), *tol(dtype))
    assert_close("dz", dz, r_dscores.reshape(N * T, V), *tol(dtype))
    # the layer: the same mean and gradient
    layer = SoftmaxCrossEntropy()
    assert layer.forward(z, y) == pytest.approx(r_loss, rel=1e-12 if dtype == np.float64 else 1e-5)
    assert_close("layer dz", layer.backward(), r_dscores.reshape(N * T, V), *tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_all_rows_ignored_gives_zero_not_nan(dtype):
    z = rand(np.random.default_rng(14), (5, 4), dtype)
    y = np.full(5, -1, np.int64)
    probs, loss, dz = sce(z, y)
    assert np.all(loss == 0) and np.all(dz == 0)
    assert np.all(np.isfinite(probs))
    layer = SoftmaxCrossEntropy()
    assert layer.forward(z, y) == 0.0
    assert np.all(layer.backward() == 0)
    r_loss, r_d = ref.softmax_ce_ref(f64(z)[None], y[None])
    assert r_loss == 0.0 and np.all(r_d == 0)


def test_softmax_cross_entropy_worked_example():
    # two equal logits of three: p = (1/2, 1/2, 0) up to e^-100; loss log 2 on the counted row
    z = np.array([[0.0, 0.0, -100.0], [5.0, 1.0, 2.0]])
    y = np.array([1, -1], np.int64)
    probs, loss, dz = sce(z, y)
    assert_close("loss", loss, [np.log(2.0), 0.0], atol=1e-15, rtol=1e-14)
    # the mean is over one counted row: (p - onehot) / 1
    assert_close("dz", dz, [[0.5, -0.5, np.exp(-100.0) / 2], [0, 0, 0]], atol=1e-15, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_is_finite_for_large_logits(dtype):
    """Logits of ±10,000: e^10000 overflows, the shifted log-sum-exp does not."""
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype)
    y = np.array([1, 2], np.int64)
    probs, loss, dz = sce(z, y)
    assert np.all(np.isfinite(probs)) and np.all(np.isfinite(dz))
    assert_close("loss", loss, [2e4, np.log(3.0)], atol=1e-6, rtol=1e-6)
    assert_close("dz", dz, [[0.5, -0.5, 0.0], [1 / 6, 1 / 6, -1 / 3]], atol=1e-7, rtol=1e-6)


def test_softmax_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(15)
    z = rand(rng, (6, 5), np.float64, -2, 2)
    y = np.array([0, -1, 4, 2, -1, 2], np.int64)

    def loss():
        return float(np.sum(sce(z, y)[1])) / counted(y)

    assert_gradients_pass(check_gradients(loss, {"z": z}, {"z": sce(z, y)[2]}))


# == the global norm and clipping =======================================================================


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "E, P",
    [
        pytest.param(1, 1, id="E1-P1"),
        pytest.param(5, 8, id="E5-P8-empty-parts"),
        pytest.param(1000, 8, id="E1000-P8"),
        pytest.param(1001, 3, id="E1001-P3-uneven"),
    ],
)
def test_sum_of_squares_matches_numpy_in_float64(E, P, dtype):
    x = rand(np.random.default_rng(E + P), (E,), dtype, -3, 3)
    expected = float(np.sum(np.square(f64(x))))  # float32 values squared and summed in float64
    for kernel in (sum_of_squares, sum_of_squares_naive):
        total = kernel(x, P)
        assert isinstance(total, float)
        assert total == pytest.approx(expected, rel=1e-13)


def grads_dict(rng, dtype, scale):
    return {
        "a": rand(rng, (3, 4), dtype) * dtype(scale),
        "b": rand(rng, (7,), dtype) * dtype(scale),
        "c": rand(rng, (2, 3, 5), dtype) * dtype(scale),
    }


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_global_norm_above_the_threshold_scales_all_by_one_factor(dtype):
    rng = np.random.default_rng(16)
    grads = grads_dict(rng, dtype, 10.0)
    before = {k: np.array(g, dtype=np.float64) for k, g in grads.items()}  # copies
    expected_norm = float(np.sqrt(sum(np.sum(g * g) for g in before.values())))
    assert global_norm(grads) == pytest.approx(expected_norm, rel=1e-12)
    ids = {k: id(g) for k, g in grads.items()}
    norm = clip_global_norm(grads, 5.0)
    assert norm == pytest.approx(expected_norm, rel=1e-12)  # the norm before clipping
    assert norm > 5.0
    assert {k: id(g) for k, g in grads.items()} == ids, "gradients are scaled in place"
    assert global_norm(grads) == pytest.approx(5.0, rel=1e-5)
    factor = 5.0 / (norm + 1e-6)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    for k, g in grads.items():  # the same factor for all: the direction is unchanged
        assert g.dtype == dtype
        assert_close(f"clipped {k}", g, before[k] * factor, atol=0, rtol=rtol)
    # the reference's clip_grads does the same
    ref_grads = {k: v.copy() for k, v in before.items()}
    assert ref.clip_grads(ref_grads.values(), 5.0) == pytest.approx(norm, rel=1e-12)
    for k in grads:
        assert_close(f"clipped {k} vs reference", grads[k], ref_grads[k], atol=0, rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_global_norm_below_or_at_the_threshold_changes_nothing(dtype):
    rng = np.random.default_rng(17)
    grads = grads_dict(rng, dtype, 0.1)
    before = {k: g.copy() for k, g in grads.items()}
    norm = clip_global_norm(grads, 5.0)
    assert 0 < norm < 5.0
    for k in grads:
        assert_same_bits(f"{k} below the threshold", grads[k], before[k])
    # exactly at the threshold: not above it, so not scaled
    assert clip_global_norm(grads, norm) == norm
    for k in grads:
        assert_same_bits(f"{k} at the threshold", grads[k], before[k])


def test_clip_global_norm_worked_example():
    grads = {"w": np.array([3.0, 0.0]), "b": np.array([4.0])}  # norm 5
    assert clip_global_norm(grads, 1.0) == 5.0
    assert_close("w", grads["w"], [0.6, 0.0], atol=1e-6, rtol=0)
    assert_close("b", grads["b"], [0.8], atol=1e-6, rtol=0)


# == TimeAffine =========================================================================================


def time_affine(D, M, dtype, seed=0, blas=True):
    layer = TimeAffine("affine", D, M, blas=blas)
    layer.build((None, D), dtype, np.random.default_rng(seed))
    layer.params["b"][...] = rand(np.random.default_rng(seed + 1), (M,), dtype)
    return layer


@pytest.mark.parametrize("blas", [True, False], ids=["blas", "loops"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "N, T, D, M",
    [
        pytest.param(1, 1, 3, 4, id="N1-T1"),
        pytest.param(3, 5, 4, 7, id="N3-T5"),
        pytest.param(2, 9, 6, 33, id="N2-T9-M33"),
    ],
)
def test_time_affine_matches_reference(N, T, D, M, dtype, blas):
    # BLAS by default; the explicit dense loops are the same products and must agree
    rng = np.random.default_rng(N + T + M)
    layer = time_affine(D, M, dtype, blas=blas)
    assert layer.output_shape == (None, M)
    W, b = layer.params["W"], layer.params["b"]
    hs = rand(rng, (N, T, D), dtype)
    out = layer.forward(hs, training=True)
    expected = ref.affine_ref(f64(hs), f64(W), f64(b))
    assert out.shape == (N, T, M) and out.dtype == dtype
    assert_close("time affine out", out, expected, *tol(dtype, expected))
    dout = rand(rng, (N, T, M), dtype)
    r_dhs, r_dW, r_db = ref.affine_ref_backward(f64(dout), f64(hs), f64(W))
    layer.grads["W"][...] = np.nan  # overwritten, not added to
    layer.grads["b"][...] = np.nan
    dhs = layer.backward(dout)
    assert_close("time affine dhs", dhs, r_dhs, *tol(dtype, r_dhs))
    assert_close("time affine dW", layer.grads["W"], r_dW, *tol(dtype, r_dW))
    assert_close("time affine db", layer.grads["b"], r_db, *tol(dtype, r_db))


def test_time_affine_gradients_match_finite_differences():
    rng = np.random.default_rng(18)
    layer = time_affine(4, 5, np.float64)
    hs = rand(rng, (2, 3, 4), np.float64)
    G = rand(rng, (2, 3, 5), np.float64)
    layer.forward(hs, training=True)
    analytic = {"hs": layer.backward(G).copy(), **{k: g.copy() for k, g in layer.grads.items()}}
    assert_gradients_pass(
        check_gradients(
            lambda: float(np.sum(G * layer.forward(hs, training=True))),
            {"hs": hs, **layer.params},
            analytic,
        )
    )


# == the same bits whatever the number of threads =======================================================


RNN_OUTPUTS = ["hs", "dxs", "dWx", "dWh", "db", "dh0", "dh_total", "dWx_parts"]
LSTM_OUTPUTS = [
    "hs",
    "cs",
    "gates",
    "dxs",
    "dWx",
    "dWh",
    "db",
    "dh0",
    "dc0",
    "dh_total",
    "dWx_parts",
]


@pytest.mark.parametrize("dtype", DTYPES)
def test_rnn_is_bit_identical_for_any_thread_count(thread_counts, dtype):
    rng = np.random.default_rng(19)
    xs, h0, Wx, Wh, b = rnn_problem(rng, 13, 6, 10, 24, dtype)  # 13 samples in 8 parts of 1 or 2
    dhs = rand(rng, (13, 6, 24), dtype)

    def run():
        hs = rnn(xs, h0, Wx, Wh, b)
        g = rnn_grads(dhs, hs, h0, xs, Wx, Wh, 8)
        return [hs] + [g[k] for k in RNN_OUTPUTS[1:]]

    assert_all_same_bits(run_with_threads(thread_counts, run), RNN_OUTPUTS)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_is_bit_identical_for_any_thread_count(thread_counts, dtype):
    rng = np.random.default_rng(20)
    xs, h0, c0, Wx, Wh, b = lstm_problem(rng, 13, 6, 10, 12, dtype)
    dhs = rand(rng, (13, 6, 12), dtype)

    def run():
        hs, cs, gates = lstm(xs, h0, c0, Wx, Wh, b)
        g = lstm_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh, 8)
        return [hs, cs, gates] + [g[k] for k in LSTM_OUTPUTS[3:]]

    assert_all_same_bits(run_with_threads(thread_counts, run), LSTM_OUTPUTS)


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_softmax_ce_and_norm_are_bit_identical_for_any_thread_count(thread_counts, dtype):
    rng = np.random.default_rng(21)
    W = rand(rng, (40, 16), dtype)
    ids = rng.integers(0, 40, (13, 7)).astype(np.int64)
    dout = rand(rng, (13, 7, 16), dtype)
    z = rand(rng, (300, 250), dtype, -4, 4)  # 75,000 values: the rows run in parallel
    y = rng.integers(-1, 250, 300).astype(np.int64)
    x = rand(rng, (100_003,), dtype)

    def run():
        probs, loss, dz = sce(z, y)
        return [
            embed(W, ids),
            embed_grad(dout, ids, 40),
            probs,
            loss,
            dz,
            np.array(sum_of_squares(x, NORM_PARTS)),
        ]

    assert_all_same_bits(
        run_with_threads(thread_counts, run),
        ["embed out", "embed dW", "probs", "loss", "dz", "sum of squares"],
    )
