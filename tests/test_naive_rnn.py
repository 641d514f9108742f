"""The naive RNN and LSTM kernels (the lesson's loops) checked against the fast ones,
against the independent NumPy reference (tests/reference/rnn_numpy.py), against float64
central differences through time from a nonzero carried state, and for the same bits
on 1 and 2 threads.

Every output array is filled with NaN before a kernel runs, the weight gradients
included: a naive backward pass must overwrite them (zero, then add), so a value it
forgot to write, or added onto without zeroing, shows up as NaN.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_all_same_bits, f64, nans, rand, run_with_threads
from helpers import tolerance as tol

from nbengine.gradcheck import check_gradients
from nbengine.kernels.conv2d import sum_parts
from nbengine.kernels.lstm import (
    lstm_backward,
    lstm_backward_naive,
    lstm_forward,
    lstm_forward_naive,
)
from nbengine.kernels.rnn import rnn_backward, rnn_backward_naive, rnn_forward, rnn_forward_naive
from nbengine.testing import assert_close, assert_gradients_pass
from tests.reference import rnn_numpy as ref

DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]

# N, T, D, H: batch 1 and odd batches, one step and several, D != H, and one case
# long enough along j (or k = 4H) for the fast kernels' SIMD tails
CASES = [
    pytest.param(1, 1, 3, 4, id="N1-T1"),
    pytest.param(1, 6, 3, 4, id="N1-T6"),
    pytest.param(5, 1, 2, 3, id="N5-T1"),
    pytest.param(3, 7, 5, 2, id="N3-T7-D5-H2"),
    pytest.param(3, 6, 16, 9, id="N3-T6-D16-H9"),
]
PARTS = 2  # the fast backward's parts of the batch (the first one empty when N = 1)


def assert_agree(name, ours, fast):
    """Naive against fast: the same sums in another order, so float64 to 1e-12 of the
    values' size and float32 to a few ulps of it."""
    assert ours.dtype == fast.dtype and ours.shape == fast.shape, (name, ours.dtype, fast.dtype)
    assert np.all(np.isfinite(ours)), f"{name}: not every value was written"
    k = 1e-12 if ours.dtype == np.float64 else 8 * float(np.finfo(np.float32).eps)
    scale = float(np.max(np.abs(f64(fast)), initial=0.0))
    assert_close(name, ours, fast, atol=k * scale, rtol=k)


def summed(parts):
    """The fast backward's per-part weight gradient, added up in order as the layers do."""
    total = nans(parts.shape[1:], parts.dtype)
    sum_parts(total.reshape(-1), parts.reshape(parts.shape[0], -1))
    return total


# == RNN ================================================================================================


def rnn_problem(rng, N, T, D, H, dtype):
    xs = rand(rng, (N, T, D), dtype)
    h0 = rand(rng, (N, H), dtype, -0.9, 0.9)
    Wx = rand(rng, (D, H), dtype)
    Wh = rand(rng, (H, H), dtype, -0.6, 0.6)
    b = rand(rng, (H,), dtype, -0.5, 0.5)
    return xs, h0, Wx, Wh, b


def rnn_run(forward, xs, h0, Wx, Wh, b):
    N, T, _ = xs.shape
    hs = nans((N, T, Wh.shape[0]), xs.dtype)
    forward(hs, h0, xs, Wx, Wh, b)
    return hs


def rnn_naive_grads(dhs, hs, h0, xs, Wx, Wh):
    """(dxs, dWx, dWh, db, dh0, dh_total, dzs) of the naive backward pass."""
    N, T, D = xs.shape
    H = Wh.shape[0]
    dt = xs.dtype
    out = (
        nans((N, T, D), dt),
        nans((D, H), dt),
        nans((H, H), dt),
        nans((H,), dt),
        nans((N, H), dt),
        nans((N, T, H), dt),
        nans((N, T, H), dt),
    )
    rnn_backward_naive(*out, dhs, hs, h0, xs, Wx, Wh)
    return out


def rnn_fast_grads(dhs, hs, h0, xs, Wx, Wh):
    N, T, D = xs.shape
    H = Wh.shape[0]
    dt = xs.dtype
    dxs, dh0, dh_total, dzs = (
        nans((N, T, D), dt),
        nans((N, H), dt),
        nans((N, T, H), dt),
        nans((N, T, H), dt),
    )
    dWx_p, dWh_p, db_p = nans((PARTS, D, H), dt), nans((PARTS, H, H), dt), nans((PARTS, H), dt)
    rnn_backward(dxs, dWx_p, dWh_p, db_p, dh0, dh_total, dzs, dhs, hs, h0, xs, Wx, Wh)
    return dxs, summed(dWx_p), summed(dWh_p), summed(db_p), dh0, dh_total, dzs


RNN_GRADS = ("dxs", "dWx", "dWh", "db", "dh0", "dh_total", "dzs")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, T, D, H", CASES)
def test_rnn_naive_matches_fast(N, T, D, H, dtype):
    rng = np.random.default_rng(N * 1000 + T * 100 + D * 10 + H)
    xs, h0, Wx, Wh, b = rnn_problem(rng, N, T, D, H, dtype)
    hs = rnn_run(rnn_forward_naive, xs, h0, Wx, Wh, b)
    assert_agree("rnn hs", hs, rnn_run(rnn_forward, xs, h0, Wx, Wh, b))
    dhs = rand(rng, (N, T, H), dtype)
    naive = rnn_naive_grads(dhs, hs, h0, xs, Wx, Wh)
    fast = rnn_fast_grads(dhs, hs, h0, xs, Wx, Wh)
    for name, ours, theirs in zip(RNN_GRADS, naive, fast):
        assert_agree(f"rnn {name}", ours, theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, T, D, H", [CASES[1], CASES[3]])
def test_rnn_naive_matches_reference(N, T, D, H, dtype):
    rng = np.random.default_rng(N * 1000 + T * 100 + D * 10 + H + 1)
    xs, h0, Wx, Wh, b = rnn_problem(rng, N, T, D, H, dtype)
    hs = rnn_run(rnn_forward_naive, xs, h0, Wx, Wh, b)
    expected = ref.rnn_ref(f64(xs), f64(h0), f64(Wx), f64(Wh), f64(b))
    assert_close("rnn hs", hs, expected, *tol(dtype, expected))
    dhs = rand(rng, (N, T, H), dtype)
    grads = rnn_naive_grads(dhs, hs, h0, xs, Wx, Wh)
    expected = ref.rnn_ref_backward(f64(dhs), f64(xs), f64(h0), f64(Wx), f64(Wh), f64(b))
    for name, ours, e in zip(RNN_GRADS, grads, expected):  # dxs, dWx, dWh, db, dh0
        assert_close(f"rnn {name}", ours, e, *tol(dtype, e))
    # dL/dh_t in full: dhs[t] plus what h_t reaches through steps t+1.. (the reference run from h_t)
    d, x, h, wx, wh, bb = (f64(a) for a in (dhs, xs, hs, Wx, Wh, b))
    dh_total = grads[5]
    for t in range(T):
        e = (
            d[:, t]
            if t == T - 1
            else d[:, t]
            + ref.rnn_ref_backward(d[:, t + 1 :], x[:, t + 1 :], h[:, t], wx, wh, bb)[4]
        )
        assert_close(f"rnn dh_total[:, {t}]", dh_total[:, t], e, *tol(dtype, e))


@pytest.mark.parametrize(
    "last_step_only", [False, True], ids=["loss-at-every-step", "loss-at-last-step-only"]
)
def test_rnn_naive_gradients_match_finite_differences(last_step_only, one_thread):
    """L = sum(G * hs) over five steps from a nonzero h0, batch 3, D = 3, H = 2."""
    rng = np.random.default_rng(31)
    N, T, D, H = 3, 5, 3, 2
    xs, h0, Wx, Wh, b = rnn_problem(rng, N, T, D, H, np.float64)
    Wh *= 1.5  # so that the gradient still reaches step 0 from the last step clearly
    G = rand(rng, (N, T, H), np.float64)
    if last_step_only:
        G[:, :-1] = 0
    dxs, dWx, dWh, db, dh0, *_ = rnn_naive_grads(
        G, rnn_run(rnn_forward_naive, xs, h0, Wx, Wh, b), h0, xs, Wx, Wh
    )
    if last_step_only:
        assert np.abs(dxs[:, 0]).max() > 1e-3, "the gradient must reach the first step"

    def loss():
        return float(np.sum(G * rnn_run(rnn_forward_naive, xs, h0, Wx, Wh, b)))

    params = {"xs": xs, "h0": h0, "Wx": Wx, "Wh": Wh, "b": b}
    analytic = {"xs": dxs, "h0": dh0, "Wx": dWx, "Wh": dWh, "b": db}
    assert_gradients_pass(check_gradients(loss, params, analytic))


def test_rnn_naive_same_bits_on_1_and_2_threads(thread_counts):
    """Forward and backward, float32, each run twice into the same arrays (so the
    backward pass must overwrite its gradients, not add to the last call's)."""
    rng = np.random.default_rng(32)
    N, T, D, H = 5, 4, 6, 7
    xs, h0, Wx, Wh, b = rnn_problem(rng, N, T, D, H, np.float32)
    dhs = rand(rng, (N, T, H), np.float32)
    hs = nans((N, T, H), np.float32)
    grads = rnn_naive_grads(dhs, rnn_run(rnn_forward_naive, xs, h0, Wx, Wh, b), h0, xs, Wx, Wh)

    def run():
        rnn_forward_naive(hs, h0, xs, Wx, Wh, b)
        rnn_backward_naive(*grads, dhs, hs, h0, xs, Wx, Wh)
        return [hs.copy()] + [g.copy() for g in grads]

    assert_all_same_bits(run_with_threads(thread_counts, run), ("hs",) + RNN_GRADS)


# == LSTM ===============================================================================================


def lstm_problem(rng, N, T, D, H, dtype, scale=1.0):
    xs = rand(rng, (N, T, D), dtype)
    h0 = rand(rng, (N, H), dtype, -0.9, 0.9)
    c0 = rand(rng, (N, H), dtype, -1.5, 1.5)
    Wx = rand(rng, (D, 4 * H), dtype) * dtype(scale)
    Wh = rand(rng, (H, 4 * H), dtype, -0.8, 0.8) * dtype(scale)
    b = rand(rng, (4 * H,), dtype, -0.5, 0.5)
    return xs, h0, c0, Wx, Wh, b


def lstm_run(forward, xs, h0, c0, Wx, Wh, b):
    N, T, _ = xs.shape
    H = Wh.shape[0]
    hs, cs, gates = (
        nans((N, T, H), xs.dtype),
        nans((N, T, H), xs.dtype),
        nans((N, T, 4 * H), xs.dtype),
    )
    forward(hs, cs, gates, h0, c0, xs, Wx, Wh, b)
    return hs, cs, gates


def lstm_naive_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh):
    """(dxs, dWx, dWh, db, dh0, dc0, dh_total, dc_total, dgates) of the naive backward pass."""
    N, T, D = xs.shape
    H = Wh.shape[0]
    dt = xs.dtype
    out = (
        nans((N, T, D), dt),
        nans((D, 4 * H), dt),
        nans((H, 4 * H), dt),
        nans((4 * H,), dt),
        nans((N, H), dt),
        nans((N, H), dt),
        nans((N, T, H), dt),
        nans((N, T, H), dt),
        nans((N, T, 4 * H), dt),
    )
    lstm_backward_naive(*out, dhs, hs, cs, gates, h0, c0, xs, Wx, Wh)
    return out


def lstm_fast_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh):
    N, T, D = xs.shape
    H = Wh.shape[0]
    dt = xs.dtype
    dxs = nans((N, T, D), dt)
    dWx_p, dWh_p, db_p = (
        nans((PARTS, D, 4 * H), dt),
        nans((PARTS, H, 4 * H), dt),
        nans((PARTS, 4 * H), dt),
    )
    dh0, dc0, dh_total = nans((N, H), dt), nans((N, H), dt), nans((N, T, H), dt)
    dc_total, dgates = nans((N, T, H), dt), nans((N, T, 4 * H), dt)
    lstm_backward(
        dxs,
        dWx_p,
        dWh_p,
        db_p,
        dh0,
        dc0,
        dh_total,
        dc_total,
        dgates,
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
    return dxs, summed(dWx_p), summed(dWh_p), summed(db_p), dh0, dc0, dh_total, dc_total, dgates


LSTM_GRADS = ("dxs", "dWx", "dWh", "db", "dh0", "dc0", "dh_total", "dc_total", "dgates")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, T, D, H", CASES)
def test_lstm_naive_matches_fast(N, T, D, H, dtype):
    rng = np.random.default_rng(N * 1000 + T * 100 + D * 10 + H + 2)
    xs, h0, c0, Wx, Wh, b = lstm_problem(rng, N, T, D, H, dtype)
    hs, cs, gates = lstm_run(lstm_forward_naive, xs, h0, c0, Wx, Wh, b)
    for name, ours, fast in zip(
        ("hs", "cs", "gates"), (hs, cs, gates), lstm_run(lstm_forward, xs, h0, c0, Wx, Wh, b)
    ):
        assert_agree(f"lstm {name}", ours, fast)
    dhs = rand(rng, (N, T, H), dtype)
    naive = lstm_naive_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh)
    fast = lstm_fast_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh)
    for name, ours, theirs in zip(LSTM_GRADS, naive, fast):
        assert_agree(f"lstm {name}", ours, theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "N, T, D, H, scale",
    [
        pytest.param(*CASES[1].values, 1.0, id="N1-T6"),
        pytest.param(*CASES[3].values, 1.0, id="N3-T7-D5-H2"),
        # pre-activations up to ±200: gates 0 or 1, no overflow
        pytest.param(2, 5, 3, 2, 200.0, id="saturated-gates"),
    ],
)
def test_lstm_naive_matches_reference(N, T, D, H, scale, dtype):
    rng = np.random.default_rng(N * 1000 + T * 100 + D * 10 + H + 3)
    xs, h0, c0, Wx, Wh, b = lstm_problem(rng, N, T, D, H, dtype, scale)
    hs, cs, gates = lstm_run(lstm_forward_naive, xs, h0, c0, Wx, Wh, b)
    for name, ours, e in zip(
        ("hs", "cs", "gates (f, g, i, o)"),
        (hs, cs, gates),
        ref.lstm_ref(*(f64(a) for a in (xs, h0, c0, Wx, Wh, b))),
    ):
        assert_close(f"lstm {name}", ours, e, *tol(dtype, e))
    dhs = rand(rng, (N, T, H), dtype)
    grads = lstm_naive_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh)
    expected = ref.lstm_ref_backward(*(f64(a) for a in (dhs, xs, h0, c0, Wx, Wh, b)))
    for name, ours, e in zip(LSTM_GRADS, grads, expected):  # dxs, dWx, dWh, db, dh0, dc0
        assert np.all(np.isfinite(ours)), name
        assert_close(f"lstm {name}", ours, e, *tol(dtype, e))
    # dL/dh_t in full (c_t held as its own input): the reference run from h_t, c_t
    d, x, h, c, wx, wh, bb = (f64(a) for a in (dhs, xs, hs, cs, Wx, Wh, b))
    dh_total = grads[6]
    for t in range(T):
        e = (
            d[:, t]
            if t == T - 1
            else d[:, t]
            + ref.lstm_ref_backward(d[:, t + 1 :], x[:, t + 1 :], h[:, t], c[:, t], wx, wh, bb)[4]
        )
        assert_close(f"lstm dh_total[:, {t}]", dh_total[:, t], e, *tol(dtype, e))


@pytest.mark.parametrize(
    "last_step_only", [False, True], ids=["loss-at-every-step", "loss-at-last-step-only"]
)
def test_lstm_naive_gradients_match_finite_differences(last_step_only, one_thread):
    """L = sum(G * hs) over five steps from nonzero h0 and c0, batch 3, D = 3, H = 2:
    every input the backward pass differentiates, dc0 and dh0 included."""
    rng = np.random.default_rng(41)
    N, T, D, H = 3, 5, 3, 2
    xs, h0, c0, Wx, Wh, b = lstm_problem(rng, N, T, D, H, np.float64)
    G = rand(rng, (N, T, H), np.float64)
    if last_step_only:
        G[:, :-1] = 0
    hs, cs, gates = lstm_run(lstm_forward_naive, xs, h0, c0, Wx, Wh, b)
    dxs, dWx, dWh, db, dh0, dc0, *_ = lstm_naive_grads(G, hs, cs, gates, h0, c0, xs, Wx, Wh)
    if last_step_only:
        assert np.abs(dxs[:, 0]).max() > 1e-4, "the gradient must reach the first step"

    def loss():
        return float(np.sum(G * lstm_run(lstm_forward_naive, xs, h0, c0, Wx, Wh, b)[0]))

    params = {"xs": xs, "h0": h0, "c0": c0, "Wx": Wx, "Wh": Wh, "b": b}
    analytic = {"xs": dxs, "h0": dh0, "c0": dc0, "Wx": dWx, "Wh": dWh, "b": db}
    assert_gradients_pass(check_gradients(loss, params, analytic))


def test_lstm_naive_same_bits_on_1_and_2_threads(thread_counts):
    """Forward and backward, float32, each run twice into the same arrays."""
    rng = np.random.default_rng(42)
    N, T, D, H = 5, 4, 6, 7
    xs, h0, c0, Wx, Wh, b = lstm_problem(rng, N, T, D, H, np.float32)
    dhs = rand(rng, (N, T, H), np.float32)
    hs, cs, gates = lstm_run(lstm_forward_naive, xs, h0, c0, Wx, Wh, b)
    grads = lstm_naive_grads(dhs, hs, cs, gates, h0, c0, xs, Wx, Wh)

    def run():
        lstm_forward_naive(hs, cs, gates, h0, c0, xs, Wx, Wh, b)
        lstm_backward_naive(*grads, dhs, hs, cs, gates, h0, c0, xs, Wx, Wh)
        return [hs.copy(), cs.copy(), gates.copy()] + [g.copy() for g in grads]

    assert_all_same_bits(run_with_threads(thread_counts, run), ("hs", "cs", "gates") + LSTM_GRADS)
