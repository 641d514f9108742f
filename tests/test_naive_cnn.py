"""The convolution's naive kernels (the lesson's formula as loops) checked against the
fast kernels, against the independent im2col NumPy reference
(tests/reference/cnn_numpy.py), against float64 central differences, and for the same
bits on any number of threads.

Every output array starts full of NaN, so a value a kernel fails to overwrite shows up.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import (
    assert_all_same_bits,
    assert_same_bits,
    f64,
    nans,
    rand,
    run_with_threads,
    tolerance,
)

from nbengine.gradcheck import check_gradients
from nbengine.kernels.conv2d import (
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
    output_size,
    sum_parts,
)
from nbengine.testing import assert_close, assert_gradients_pass
from tests.reference import cnn_numpy as ref

DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]


def geometry(x_shape, w_shape, stride, padding):
    """(OH, OW), (pt, pb, pl, pr) for the kernels and the reference."""
    _, H, W, _ = x_shape
    R, S, _, _ = w_shape
    OH, pt, pb = output_size(H, R, stride[0], padding)
    OW, pl, pr = output_size(W, S, stride[1], padding)
    return (OH, OW), (pt, pb, pl, pr)


def forward(kernel, x, w, b, stride, padding):
    (OH, OW), (pt, _, pl, _) = geometry(x.shape, w.shape, stride, padding)
    out = nans((x.shape[0], OH, OW, w.shape[3]), x.dtype)
    kernel(out, x, w, b, stride[0], stride[1], pt, pl)
    return out


def backward_naive(dout, x, w, stride, padding, need_dx=True):
    _, (pt, _, pl, _) = geometry(x.shape, w.shape, stride, padding)
    dx, dw, db = nans(x.shape, x.dtype), nans(w.shape, x.dtype), nans(w.shape[3], x.dtype)
    conv2d_backward_naive(dx, dw, db, dout, x, w, stride[0], stride[1], pt, pl, need_dx)
    return dx, dw, db


def backward_fast(dout, x, w, stride, padding, parts=2):
    """As the Conv2D layer calls it: per-part gradients, then sum_parts."""
    _, (pt, _, pl, _) = geometry(x.shape, w.shape, stride, padding)
    K = w.shape[3]
    dx = nans(x.shape, x.dtype)
    dw_parts, db_parts = nans((parts,) + w.shape, x.dtype), nans((parts, K), x.dtype)
    conv2d_backward(dx, dw_parts, db_parts, dout, x, w, stride[0], stride[1], pt, pl, True)
    dw, db = nans(w.shape, x.dtype), nans(K, x.dtype)
    sum_parts(dw.reshape(-1), dw_parts.reshape(parts, -1))
    sum_parts(db, db_parts)
    return dx, dw, db


def assert_agree(name, ours, other, magnitude):
    """float64 to 1e-12 relative, float32 to a few units of rounding, both measured against
    `magnitude`, the same sum taken over the terms' absolute values (float64): two orders of
    adding the same terms differ by rounding of that size, a missing term by far more."""
    if ours.dtype == np.float64:
        bound = 1e-12 * (np.abs(other) + np.max(magnitude, initial=1.0))
    else:
        bound = 8 * np.finfo(np.float32).eps * magnitude  # seen up to 1.7 on these cases
    diff = np.abs(f64(ours) - f64(other))
    if not np.all(diff <= bound):
        # fails with the first values and the worst one
        assert_close(name, ours, other, atol=0, rtol=0)


def magnitudes(dout, x, w, b, stride, pad):
    """out, dx, dw, db of the reference taken on |inputs|: the size of each sum's terms."""
    a = [np.abs(f64(v)) for v in (dout, x, w, b)]
    return (ref.conv2d_ref(a[1], a[2], a[3], stride, pad),) + ref.conv2d_ref_backward(
        *a, stride, pad
    )


# N, H, W, C, R, S, K, (sh, sw), padding
CASES = [
    pytest.param(2, 6, 6, 3, 3, 3, 4, (1, 1), "same", id="6x6x3-k3x3-same-C3"),
    pytest.param(3, 7, 5, 5, 3, 2, 4, (1, 1), "valid", id="7x5x5-k3x2-valid-C5-batch3"),
    pytest.param(1, 7, 5, 8, 3, 2, 3, (2, 2), "same", id="7x5x8-k3x2-s2-same-C8-batch1"),
    pytest.param(3, 8, 7, 6, 3, 3, 5, (2, 1), 1, id="8x7x6-k3x3-s2x1-pad1-C6"),
    pytest.param(2, 7, 7, 4, 3, 3, 3, (2, 2), "valid", id="7x7x4-k3x3-s2-valid-C4"),
    pytest.param(1, 5, 6, 1, 2, 2, 17, (1, 2), 2, id="5x6x1-k2x2-s1x2-pad2-C1-K17"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, H, W, C, R, S, K, stride, padding", CASES)
def test_conv2d_naive_agrees_with_fast_and_with_the_im2col_reference(
    N, H, W, C, R, S, K, stride, padding, dtype
):
    rng = np.random.default_rng(N * 1000 + H * 100 + W * 10 + C)
    x, w, b = rand(rng, (N, H, W, C), dtype), rand(rng, (R, S, C, K), dtype), rand(rng, (K,), dtype)
    _, pad = geometry(x.shape, w.shape, stride, padding)

    out = forward(conv2d_forward_naive, x, w, b, stride, padding)
    dout = rand(rng, out.shape, dtype)
    dx, dw, db = backward_naive(dout, x, w, stride, padding)
    assert out.dtype == dx.dtype == dw.dtype == db.dtype == dtype

    fast = (forward(conv2d_forward, x, w, b, stride, padding),) + backward_fast(
        dout, x, w, stride, padding
    )
    sizes = magnitudes(dout, x, w, b, stride, pad)
    for name, ours, other, size in zip(["out", "dx", "dw", "db"], (out, dx, dw, db), fast, sizes):
        assert_agree(f"naive vs fast {name}", ours, other, size)

    expected = (ref.conv2d_ref(f64(x), f64(w), f64(b), stride, pad),) + ref.conv2d_ref_backward(
        f64(dout), f64(x), f64(w), f64(b), stride, pad
    )
    for name, ours, e in zip(["out", "dx", "dw", "db"], (out, dx, dw, db), expected):
        assert_close(f"naive {name} vs im2col", ours, e, *tolerance(dtype, e, f32_atol=2e-6))


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_backward_naive_without_dx_leaves_dx_alone(dtype):
    rng = np.random.default_rng(3)
    stride, padding = (2, 2), "same"
    x, w = rand(rng, (3, 7, 6, 5), dtype), rand(rng, (3, 3, 5, 4), dtype)
    dout = rand(
        rng, forward(conv2d_forward_naive, x, w, np.zeros(4, dtype), stride, padding).shape, dtype
    )
    _, dw_with, db_with = backward_naive(dout, x, w, stride, padding, need_dx=True)
    _, (pt, _, pl, _) = geometry(x.shape, w.shape, stride, padding)

    # a full-size dx, so a stray write would land somewhere visible, and the Conv2D
    # layer's one-element placeholder
    for dx in (np.full_like(x, 7.0), np.full((1, 1, 1, 1), 7.0, dtype)):
        dw, db = nans(w.shape, dtype), nans(4, dtype)
        conv2d_backward_naive(dx, dw, db, dout, x, w, stride[0], stride[1], pt, pl, False)
        assert np.all(dx == 7.0)
        assert_same_bits("dw without dx", dw, dw_with)  # the same loops, with or without dx
        assert_same_bits("db without dx", db, db_with)


@pytest.mark.parametrize(
    "N, H, W, C, R, S, K, stride, padding",
    [
        pytest.param(2, 5, 4, 2, 3, 3, 3, (1, 1), "same", id="s1-same"),
        pytest.param(1, 7, 5, 5, 3, 2, 2, (2, 1), 1, id="7x5x5-k3x2-s2x1-pad1-batch1"),
        pytest.param(3, 6, 5, 3, 3, 2, 2, (2, 2), "valid", id="s2-valid-batch3"),
    ],
)
def test_conv2d_naive_gradients_match_finite_differences(
    N, H, W, C, R, S, K, stride, padding, one_thread
):
    rng = np.random.default_rng(H * W + K)
    x = rand(rng, (N, H, W, C), np.float64)
    w = rand(rng, (R, S, C, K), np.float64)
    b = rand(rng, (K,), np.float64)
    G = rand(rng, forward(conv2d_forward_naive, x, w, b, stride, padding).shape, np.float64)

    def loss():  # L = sum(G * out), so dL/dout = G
        return float(np.sum(G * forward(conv2d_forward_naive, x, w, b, stride, padding)))

    dx, dw, db = backward_naive(G, x, w, stride, padding)
    assert_gradients_pass(
        check_gradients(loss, {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db})
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_naive_is_bit_identical_for_any_thread_count(thread_counts, dtype):
    rng = np.random.default_rng(25)
    x, w, b = (
        rand(rng, (5, 9, 8, 6), dtype),
        rand(rng, (3, 3, 6, 10), dtype),
        rand(rng, (10,), dtype),
    )
    dout = rand(rng, forward(conv2d_forward_naive, x, w, b, (1, 1), "same").shape, dtype)

    def run():
        return (forward(conv2d_forward_naive, x, w, b, (1, 1), "same"),) + backward_naive(
            dout, x, w, (1, 1), "same"
        )

    assert_all_same_bits(run_with_threads(thread_counts, run), ["out", "dx", "dw", "db"])


# The fast forward kernel works in tiles of PIXELS output columns (nbengine/kernels/simd.py, from
# this CPU's registers): widths of one tile, a tile and a bit (the last tile shifted back over the
# one before), and narrower than a tile (no tile at all); stride 2, padding columns inside a tile,
# and channels that are not a multiple of four.
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "extra, C, stride, padding",
    [
        pytest.param(0, 8, (1, 1), "valid", id="one-tile-valid-C8"),
        pytest.param(3, 9, (1, 1), "same", id="tile-and-3-same-C9"),
        pytest.param(1, 6, (2, 2), "same", id="tile-and-1-s2-same-C6"),
        pytest.param(-1, 5, (1, 2), 1, id="narrower-than-a-tile-pad1-C5"),
    ],
)
def test_conv2d_forward_tiles_agree_with_the_naive_loops(extra, C, stride, padding, dtype):
    from nbengine.kernels.simd import PIXELS

    R, S, K = 3, 3, 37
    OW = max(1, PIXELS + extra)
    W = (OW - 1) * stride[1] + (S if padding == "valid" else 1)  # this many output columns
    rng = np.random.default_rng(OW * 100 + C)
    x, w, b = rand(rng, (2, 5, W, C), dtype), rand(rng, (R, S, C, K), dtype), rand(rng, (K,), dtype)
    _, pad = geometry(x.shape, w.shape, stride, padding)
    out = forward(conv2d_forward_naive, x, w, b, stride, padding)
    assert out.shape[2] == OW
    size = ref.conv2d_ref(np.abs(f64(x)), np.abs(f64(w)), np.abs(f64(b)), stride, pad)
    assert_agree("naive vs fast out", out, forward(conv2d_forward, x, w, b, stride, padding), size)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_forward_tiles_are_bit_identical_for_any_thread_count(thread_counts, dtype):
    from nbengine.kernels.simd import PIXELS

    rng = np.random.default_rng(26)
    x, w, b = (
        rand(rng, (5, 6, 2 * PIXELS + 1, 7), dtype),
        rand(rng, (3, 3, 7, 33), dtype),
        rand(rng, (33,), dtype),
    )
    results = run_with_threads(
        thread_counts, lambda: [forward(conv2d_forward, x, w, b, (1, 1), "same")]
    )
    assert_all_same_bits(results, ["out"])
