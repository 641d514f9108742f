"""The naive dense, logistic and softmax kernels: against the fast kernels (the same sums
in another order), against the NumPy references, against finite differences, and the
same bits on any thread count."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_all_same_bits, f64, nans, rand, run_with_threads, tolerance

from nbengine.gradcheck import check_gradients
from nbengine.kernels.dense import (
    dense_backward,
    dense_backward_naive,
    dense_forward,
    dense_forward_naive,
)
from nbengine.kernels.logistic import (
    logistic_backward,
    logistic_forward,
    logistic_forward_naive,
    logistic_loss,
)
from nbengine.kernels.softmax import (
    softmax_backward,
    softmax_backward_naive,
    softmax_forward,
    softmax_forward_naive,
)
from nbengine.kernels.softmax_cross_entropy import (
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    softmax_cross_entropy_forward_naive,
)
from nbengine.testing import assert_close, assert_gradients_pass
from tests.reference import cnn_numpy as ref
from tests.reference.logreg_numpy import numpy_step

DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
# naive against fast: float64 to 1e-12 relative, float32 to a few units in the last place,
# both of the size of the terms summed (|ref| + scale, scale = the sum of the terms' sizes)
REL = {np.float64: 1e-12, np.float32: 4 * float(np.finfo(np.float32).eps)}


def assert_agree(name, ours, other, scale):
    """|ours - other| <= REL * (|other| + scale), elementwise; the dtypes must match."""
    assert ours.dtype == other.dtype, (name, ours.dtype, other.dtype)
    a, b = f64(ours), f64(other)
    bound = REL[ours.dtype.type] * (np.abs(b) + scale)
    bad = ~(np.abs(a - b) <= bound)
    if bad.any():
        worst = np.unravel_index(int(np.argmax(np.abs(a - b) - bound)), a.shape)
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {a.size} values differ; at {worst}: "
            f"{a[worst]!r} vs {b[worst]!r}, bound {bound[worst]:.3e}"
        )


# == dense ==============================================================================================


def dense(kernel, x, w, b):
    out = nans((x.shape[0], w.shape[1]), x.dtype)
    kernel(out, x, w, b)
    return out


def dense_grads(kernel, dout, x, w, need_dx=True):
    dx, dw, db = nans(x.shape, x.dtype), nans(w.shape, x.dtype), nans(w.shape[1], x.dtype)
    kernel(dx, dw, db, dout, x, w, need_dx)
    return dx, dw, db


def dense_case(N, D, M, dtype, seed):
    rng = np.random.default_rng(seed)
    return (
        rand(rng, (N, D), dtype),
        rand(rng, (D, M), dtype),
        rand(rng, (M,), dtype),
        rand(rng, (N, M), dtype),
    )


# the fast forward takes four samples and two rows of w at a time: batches below, at,
# between and above multiples of four, and an odd number of inputs D
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N", [1, 3, 4, 5, 9], ids=lambda n: f"batch{n}")
def test_dense_naive_matches_fast_and_reference(N, dtype):
    D, M = 7, 6
    x, w, b, dout = dense_case(N, D, M, dtype, seed=N)
    ax, aw, adout = np.abs(f64(x)), np.abs(f64(w)), np.abs(f64(dout))
    out = dense(dense_forward_naive, x, w, b)
    assert_agree("out", out, dense(dense_forward, x, w, b), ax @ aw + np.abs(f64(b)))
    expected = ref.dense_ref(f64(x), f64(w), f64(b))
    assert_close("out vs reference", out, expected, *tolerance(dtype, expected))

    dx, dw, db = dense_grads(dense_backward_naive, dout, x, w)
    fast = dense_grads(dense_backward, dout, x, w)
    scales = (adout @ aw.T, ax.T @ adout, adout.sum(axis=0))
    for name, ours, theirs, scale in zip(("dx", "dw", "db"), (dx, dw, db), fast, scales):
        assert_agree(name, ours, theirs, scale)
    refs = ref.dense_ref_backward(f64(dout), f64(x), f64(w))
    for name, ours, expected in zip(("dx", "dw", "db"), (dx, dw, db), refs):
        assert_close(f"{name} vs reference", ours, expected, *tolerance(dtype, expected))


# sizes past every block of the fast kernels, and not multiples of their tiles: N over
# PANEL (dw's panels of samples), M over PANEL and DX_COLS, and D both ways: up to
# DX_WHOLE (w one block for dx, the samples in groups) and over it (blocks of DX_ROWS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("whole", [True, False], ids=["w-whole", "w-in-blocks"])
def test_dense_fast_matches_naive_across_blocks(dtype, whole):
    from nbengine.kernels.dense import DX_COLS, DX_ROWS, DX_WHOLE, PANEL

    N, D, M = PANEL + 5, (DX_ROWS * 2 + 3) if whole else (DX_WHOLE + 3), DX_COLS + 6
    x, w, b, dout = dense_case(N, D, M, dtype, seed=21)
    ax, aw, adout = np.abs(f64(x)), np.abs(f64(w)), np.abs(f64(dout))
    out = dense(dense_forward_naive, x, w, b)
    assert_agree("out", out, dense(dense_forward, x, w, b), ax @ aw + np.abs(f64(b)))
    naive = dense_grads(dense_backward_naive, dout, x, w)
    fast = dense_grads(dense_backward, dout, x, w)
    scales = (adout @ aw.T, ax.T @ adout, adout.sum(axis=0))
    for name, ours, theirs, scale in zip(("dx", "dw", "db"), naive, fast, scales):
        assert_agree(name, ours, theirs, scale)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_naive_backward_without_dx_leaves_dx_untouched(dtype):
    x, w, _, dout = dense_case(5, 7, 6, dtype, seed=11)
    _, dw_with, db_with = dense_grads(dense_backward_naive, dout, x, w, need_dx=True)
    dx, dw, db = dense_grads(dense_backward_naive, dout, x, w, need_dx=False)
    assert np.isnan(dx).all()
    assert dw.tobytes() == dw_with.tobytes() and db.tobytes() == db_with.tobytes()
    placeholder = np.full((1, 1), 7.0, dtype)  # what the Dense layer passes
    dense_backward_naive(placeholder, dw, db, dout, x, w, False)
    assert placeholder[0, 0] == 7.0


def test_dense_naive_worked_example():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [-1.0, 0.0]])
    w = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])
    b = np.array([0.0, 10.0, 0.5])
    expected = [[1, 12, 0.5], [3, 14, 2.5], [5, 16, 4.5], [7, 18, 6.5], [-1, 10, -1.5]]
    assert_close("out", dense(dense_forward_naive, x, w, b), expected, atol=0, rtol=0)
    dout = np.zeros((5, 3))
    dout[4, 2] = 1.0  # only out[4, 2] = x[4]·w[:, 2] + b[2] matters
    dx, dw, db = dense_grads(dense_backward_naive, dout, x, w)
    assert_close("dx", dx, [[0, 0]] * 4 + [[2, -1]], atol=0, rtol=0)
    assert_close("dw", dw, [[0, 0, -1], [0, 0, 0]], atol=0, rtol=0)
    assert_close("db", db, [0, 0, 1], atol=0, rtol=0)


def test_dense_naive_gradients_match_finite_differences(one_thread):
    x, w, b, G = dense_case(3, 5, 4, np.float64, seed=13)
    dx, dw, db = dense_grads(dense_backward_naive, G, x, w)
    results = check_gradients(
        lambda: float(np.sum(G * dense(dense_forward_naive, x, w, b))),
        {"x": x, "w": w, "b": b},
        {"x": dx, "w": dw, "b": db},
    )
    assert_gradients_pass(results)


# == logistic ===========================================================================================


def logistic(kernel, x, w, b):
    N = x.shape[0]
    z, a, oma = nans(N, x.dtype), nans(N, x.dtype), nans(N, x.dtype)
    kernel(z, a, oma, x, w, b)
    return z, a, oma


def logistic_case(dtype, N=9, D=7, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D)).astype(dtype)
    w = (rng.standard_normal(D) * scale).astype(dtype)
    return x, w, np.array([0.3], dtype), rng.integers(0, 2, N).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_logistic_naive_matches_fast_and_numpy(dtype):
    x, w, b, y = logistic_case(dtype, seed=1, scale=2.0)
    z, a, oma = logistic(logistic_forward_naive, x, w, b)
    fz, fa, foma = logistic(logistic_forward, x, w, b)
    zscale = np.abs(f64(x)) @ np.abs(f64(w)) + abs(float(b[0]))
    assert_agree("z", z, fz, zscale)
    # sigmoid's slope is at most 1/4, and a, 1 - a are at most 1
    assert_agree("a", a, fa, zscale)
    assert_agree("1 - a", oma, foma, zscale)

    # the textbook NumPy step: z, a, the mean loss, and dw, db (from an update with lr = 1)
    z64 = f64(x) @ f64(w) + float(b[0])
    assert_close("z vs NumPy", z, z64, *tolerance(dtype, z64))
    assert_close("a vs NumPy", a, 1 / (1 + np.exp(-z64)), *tolerance(dtype))
    assert_close("1 - a vs NumPy", oma, 1 / (1 + np.exp(z64)), *tolerance(dtype))
    loss = nans(x.shape[0], dtype)
    logistic_loss(loss, z, y)
    dw, db = np.zeros_like(w), np.zeros_like(b)
    N = x.shape[0]
    logistic_backward(dw, db, nans(N, dtype), nans(N, dtype), nans(N, dtype), x, a, oma, y)
    w_step, b_step = f64(w).copy(), f64(b).copy()
    ref_loss = numpy_step(w_step, b_step, f64(x), f64(y), 1.0)
    assert_close(
        "mean loss vs NumPy", loss.mean(dtype=np.float64), ref_loss, *tolerance(dtype, ref_loss)
    )
    assert_close("dw vs NumPy", dw, f64(w) - w_step, *tolerance(dtype))
    assert_close("db vs NumPy", db, f64(b) - b_step, *tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_logistic_naive_is_finite_for_large_z(dtype):
    # z = ±300 and ±800: a and 1 - a saturate without NaN, and the loss stays about |z|
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], dtype)
    w, b, y = (
        np.array([300.0, 800.0], dtype),
        np.zeros(1, dtype),
        np.array([0.0, 0.0, 1.0, 1.0], dtype),
    )
    z, a, oma = logistic(logistic_forward_naive, x, w, b)
    assert_close("z", z, [300.0, -300.0, 800.0, -800.0], atol=0, rtol=0)
    assert_close("a", a, [1, 0, 1, 0], atol=1e-30, rtol=0)
    assert_close("1 - a", oma, [0, 1, 0, 1], atol=1e-30, rtol=0)
    loss = nans(4, dtype)
    logistic_loss(loss, z, y)
    assert_close("loss", loss, [300.0, 0.0, 0.0, 800.0], atol=1e-30, rtol=1e-6)


def test_logistic_naive_gradient_matches_finite_differences(one_thread):
    x, w, b, y = logistic_case(np.float64, N=6, D=4, seed=2, scale=1.5)
    N = x.shape[0]

    def mean_loss():
        z, _, _ = logistic(logistic_forward_naive, x, w, b)
        loss = np.empty(N)
        logistic_loss(loss, z, y)
        return float(loss.mean())

    _, a, oma = logistic(logistic_forward_naive, x, w, b)
    dw, db = np.zeros_like(w), np.zeros_like(b)
    logistic_backward(dw, db, np.empty(N), np.empty(N), np.empty(N), x, a, oma, y)
    assert_gradients_pass(check_gradients(mean_loss, {"w": w, "b": b}, {"w": dw, "b": db}))


# == softmax ============================================================================================


def softmax(kernel, z):
    out = nans(z.shape, z.dtype)
    kernel(out, z)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_naive_matches_fast_and_reference(dtype):
    rng = np.random.default_rng(19)
    z = rand(rng, (5, 11), dtype, -5, 5)
    out = softmax(softmax_forward_naive, z)
    # probabilities: every sum is of terms at most 1, divided by a total at least 1
    assert_agree("softmax", out, softmax(softmax_forward, z), 1.0)
    s = ref.softmax_ref(f64(z))
    assert_close("softmax vs reference", out, s, *tolerance(dtype))

    dout = rand(rng, z.shape, dtype)
    dz = nans(z.shape, dtype)
    softmax_backward_naive(dz, dout, out)
    fast = nans(z.shape, dtype)
    softmax_backward(fast, dout, out)
    assert dz.tobytes() == fast.tobytes()  # the same loop under both names
    # against the explicit Jacobian J[m2, m] = d out[m2] / d z[m] = out[m2] ([m == m2] - out[m])
    expected = np.stack([(np.diag(s[n]) - np.outer(s[n], s[n])).T @ f64(dout[n]) for n in range(5)])
    assert_close("softmax dz vs Jacobian", dz, expected, *tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_naive_is_stable_for_huge_logits(dtype):
    z = np.array(
        [[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, 999.0]], dtype
    )
    out = softmax(softmax_forward_naive, z)
    e = np.exp(-1.0)
    assert_close(
        "softmax",
        out,
        [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [1 / (2 + e), 1 / (2 + e), e / (2 + e)]],
        *tolerance(dtype),
    )


def test_softmax_naive_gradient_matches_finite_differences(one_thread):
    rng = np.random.default_rng(20)
    z = rand(rng, (3, 5), np.float64, -3, 3)
    G = rand(rng, (3, 5), np.float64)
    dz = np.empty_like(z)
    softmax_backward_naive(dz, G, softmax(softmax_forward_naive, z))
    assert_gradients_pass(
        check_gradients(
            lambda: float(np.sum(G * softmax(softmax_forward_naive, z))), {"z": z}, {"z": dz}
        )
    )


# == softmax cross-entropy ==============================================================================


def softmax_ce(kernel, z, y):
    probs, loss = nans(z.shape, z.dtype), nans(z.shape[0], z.dtype)
    kernel(probs, loss, z, y)
    return probs, loss


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_naive_matches_fast_and_reference(dtype):
    rng = np.random.default_rng(21)
    z = rand(rng, (9, 10), dtype, -4, 4)
    y = rng.integers(0, 10, 9)
    y[[2, 7]] = -1  # ignored rows: loss 0 and no gradient, probabilities as usual
    probs, loss = softmax_ce(softmax_cross_entropy_forward_naive, z, y)
    fast_probs, fast_loss = softmax_ce(softmax_cross_entropy_forward, z, y)
    assert_agree("probs", probs, fast_probs, 1.0)
    # the loss is log Σ e^(z - z_max) - (z_y - z_max): terms of the size of the logits
    assert_agree("loss", loss, fast_loss, np.abs(f64(z)).max(axis=1) * 2 + np.log(10))
    assert loss[2] == loss[7] == 0

    kept = y >= 0
    ref_loss, ref_dz = ref.softmax_cross_entropy_ref(f64(z[kept]), y[kept])
    assert_close("probs vs reference", probs, ref.softmax_ref(f64(z)), *tolerance(dtype))
    mean = loss[kept].mean(dtype=np.float64)
    assert_close("mean loss vs reference", mean, ref_loss, *tolerance(dtype, ref_loss))
    dz = nans(z.shape, dtype)
    softmax_cross_entropy_backward(dz, probs, y)
    assert_close("dz vs reference", dz[kept], ref_dz, *tolerance(dtype))
    assert np.all(dz[~kept] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_naive_is_finite_for_logits_of_plus_minus_1000(dtype):
    z = np.array(
        [
            [1000.0, -1000.0, 0.0],
            [1000.0, -1000.0, 0.0],
            [-1000.0, 1000.0, 1000.0],
            [1000.0, -1000.0, 0.0],
        ],
        dtype,
    )
    y = np.array([0, 1, 0, -1])
    probs, loss = softmax_ce(softmax_cross_entropy_forward_naive, z, y)
    assert np.all(np.isfinite(probs))
    # sample 0 is certain and right (loss 0), sample 1 certain and wrong by 2000,
    # sample 2 gives class 0 e^-2000 against two equal classes: loss 2000 + log 2;
    # sample 3 is ignored
    assert_close(
        "loss", loss, [0.0, 2000.0, 2000.0 + np.log(2.0), 0.0], *tolerance(dtype, [2000.0])
    )
    assert_close(
        "probs", probs, [[1, 0, 0], [1, 0, 0], [0, 0.5, 0.5], [1, 0, 0]], *tolerance(dtype)
    )


def test_softmax_cross_entropy_naive_gradient_matches_finite_differences(one_thread):
    rng = np.random.default_rng(22)
    z = rand(rng, (4, 6), np.float64, -3, 3)
    y = np.array([3, -1, 0, 5])

    def mean_loss():
        _, loss = softmax_ce(softmax_cross_entropy_forward_naive, z, y)
        return float(loss.sum() / 3)  # three rows count

    probs, _ = softmax_ce(softmax_cross_entropy_forward_naive, z, y)
    dz = np.empty_like(z)
    softmax_cross_entropy_backward(dz, probs, y)
    assert_gradients_pass(check_gradients(mean_loss, {"z": z}, {"z": dz}))


# == threads ============================================================================================


def test_naive_kernels_give_the_same_bits_on_any_thread_count(thread_counts):
    x, w, b, dout = dense_case(9, 7, 6, np.float32, seed=30)
    rng = np.random.default_rng(31)
    z = rand(rng, (9, 10), np.float32, -4, 4)
    y = rng.integers(-1, 10, 9)

    def run():
        return [
            dense(dense_forward_naive, x, w, b),
            *dense_grads(dense_backward_naive, dout, x, w),
            *softmax_ce(softmax_cross_entropy_forward_naive, z, y),
        ]

    results = run_with_threads(thread_counts, run)
    assert_all_same_bits(results, ["out", "dx", "dw", "db", "probs", "loss"])


# The fast forward works on panels of PANEL rows × PANEL columns of w and tiles of PIXELS samples
# (nbengine/kernels/simd.py, from this CPU's registers): two column blocks, a second panel of rows
# whose length is not a multiple of four, and samples left over after the tiles.
@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_forward_panels_and_tiles_agree_with_the_naive_loops(dtype):
    from nbengine.kernels.dense import PANEL
    from nbengine.kernels.simd import PIXELS

    N, D, M = 2 * PIXELS + 1, PANEL + 7, PANEL + 19
    x, w, b, _ = dense_case(N, D, M, dtype, seed=41)
    scale = np.abs(f64(x)) @ np.abs(f64(w)) + np.abs(f64(b))
    assert_agree("out", dense(dense_forward, x, w, b), dense(dense_forward_naive, x, w, b), scale)


def test_dense_forward_panels_are_bit_identical_for_any_thread_count(thread_counts):
    from nbengine.kernels.dense import PANEL
    from nbengine.kernels.simd import PIXELS

    x, w, b, _ = dense_case(PIXELS + 2, PANEL + 5, 2 * PANEL + 3, np.float32, seed=42)
    assert_all_same_bits(
        run_with_threads(thread_counts, lambda: [dense(dense_forward, x, w, b)]), ["out"]
    )
