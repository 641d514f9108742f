"""The CNN's kernels checked three ways: against the independent im2col NumPy
reference (tests/reference/cnn_numpy.py) in float64 and float32, against float64
central differences, and on small examples worked out by hand. Then the
parallel kernels' promise: the same inputs give the same bits, whatever the
number of threads.

Every array passed to a kernel is C-contiguous, float32 or float64 (integer
labels int64, pool positions int32, dropout masks uint8), as the layers pass
them, so each kernel compiles at most two specialisations here.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_all_same_bits, f64, rand, run_with_threads, tolerance

from nbengine.gradcheck import check_gradients
from nbengine.kernels.conv2d import conv2d_backward, conv2d_forward, output_size, sum_parts
from nbengine.kernels.cross_entropy import cross_entropy_backward, cross_entropy_forward
from nbengine.kernels.dense import dense_backward, dense_forward
from nbengine.kernels.dropout import dropout_backward, dropout_forward
from nbengine.kernels.flatten import flatten_backward, flatten_forward
from nbengine.kernels.maxpool import maxpool_backward, maxpool_forward
from nbengine.kernels.relu import relu_backward, relu_forward
from nbengine.kernels.softmax import softmax_backward, softmax_forward
from nbengine.kernels.softmax_cross_entropy import (
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from nbengine.testing import assert_close, assert_gradients_pass
from tests.reference import cnn_numpy as ref


def tol(dtype, *refs):
    """The CNN kernels' sums are short enough for a tighter float32 tolerance."""
    return tolerance(dtype, *refs, f32_atol=2e-6)


DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
KERAS_EPSILON = 1e-7


@pytest.mark.parametrize(
    "size, k, stride, padding",
    [
        pytest.param(28, 3, 1, "same", id="28-k3-s1-same"),
        pytest.param(28, 2, 2, "same", id="28-k2-s2-same"),
        pytest.param(7, 2, 2, "same", id="7-k2-s2-same-odd"),
        pytest.param(8, 3, 2, "same", id="8-k3-s2-same-pad-after"),
        pytest.param(7, 3, 2, "same", id="7-k3-s2-same"),
        pytest.param(4, 4, 1, "same", id="4-k4-s1-same-even-kernel"),
        pytest.param(3, 1, 3, "same", id="3-k1-s3-same-no-pad"),
        pytest.param(5, 2, 1, "same", id="5-k2-s1-same"),
        pytest.param(28, 3, 1, "valid", id="28-k3-s1-valid"),
        pytest.param(7, 2, 2, "valid", id="7-k2-s2-valid-drops-last"),
        pytest.param(5, 5, 1, "valid", id="5-k5-s1-valid-one"),
        pytest.param(7, 3, 2, 1, id="7-k3-s2-pad1"),
        pytest.param(5, 3, 1, 2, id="5-k3-s1-pad2"),
        pytest.param(4, 2, 3, 0, id="4-k2-s3-pad0"),
    ],
)
def test_output_size_agrees_with_the_references_padding_arithmetic(size, k, stride, padding):
    if padding == "same":
        expected = ref.same_padding(size, k, stride)
    elif padding == "valid":
        expected = ref.valid_padding(size, k, stride)
    else:
        expected = ref.explicit_padding(size, k, stride, padding, padding)
    assert output_size(size, k, stride, padding) == expected


def test_output_size_worked_examples():
    assert output_size(28, 3, 1, "same") == (28, 1, 1)
    assert output_size(28, 2, 2, "same") == (14, 0, 0)
    assert output_size(7, 2, 2, "same") == (4, 0, 1)  # TensorFlow puts the odd padding after
    assert output_size(7, 2, 2, "valid") == (3, 0, 0)
    assert output_size(7, 3, 2, 1) == (4, 1, 1)
    assert output_size(7, 3, 2, np.int64(1)) == (4, 1, 1)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((2, 3, 1, "valid"), id="window-larger-than-input"),
        pytest.param((5, 3, 1, "full"), id="unknown-name"),
        pytest.param((5, 3, 1, -1), id="negative"),
        pytest.param((5, 3, 1, True), id="bool"),
        pytest.param((5, 3, 1, 1.0), id="float"),
        pytest.param((5, 0, 1, "same"), id="empty-window"),
        pytest.param((5, 3, 0, "same"), id="zero-stride"),
    ],
)
def test_output_size_refuses_bad_geometry(args):
    with pytest.raises(ValueError):
        output_size(*args)


# == conv2d =============================================================================================


def conv_geometry(H, W, R, S, stride, padding):
    """((OH, OW), pt, pl) from output_size, checked against the reference's own padding_2d."""
    OH, pt, pb = output_size(H, R, stride[0], padding)
    OW, pl, pr = output_size(W, S, stride[1], padding)
    assert ((OH, OW), (pt, pb, pl, pr)) == ref.padding_2d((H, W), (R, S), stride, padding)
    return (OH, OW), (pt, pb, pl, pr)


def conv_forward(x, w, b, stride, padding):
    N, H, W, _ = x.shape
    R, S, _, K = w.shape
    (OH, OW), (pt, _, pl, _) = conv_geometry(H, W, R, S, stride, padding)
    out = np.empty((N, OH, OW, K), x.dtype)
    conv2d_forward(out, x, w, b, stride[0], stride[1], pt, pl)
    return out


def conv_backward(dout, x, w, stride, padding, parts=None, need_dx=True):
    """(dx, dw, db, dw_parts) as the Conv2D layer gets them: parts, then sum_parts."""
    N, H, W, C = x.shape
    R, S, _, K = w.shape
    _, (pt, _, pl, _) = conv_geometry(H, W, R, S, stride, padding)
    P = N if parts is None else parts
    dx = np.zeros_like(x)
    dw_parts = np.zeros((P,) + w.shape, x.dtype)
    db_parts = np.zeros((P, K), x.dtype)
    conv2d_backward(dx, dw_parts, db_parts, dout, x, w, stride[0], stride[1], pt, pl, need_dx)
    dw = np.empty_like(w)
    db = np.empty(K, x.dtype)
    sum_parts(dw.reshape(-1), dw_parts.reshape(P, -1))
    sum_parts(db, db_parts)
    return dx, dw, db, dw_parts


# N, H, W, C, R, S, K, (sh, sw), padding
CONV_CASES = [
    pytest.param(2, 6, 6, 3, 3, 3, 4, (1, 1), "same", id="6x6x3-k3x3-s1-same"),
    pytest.param(2, 6, 5, 2, 3, 3, 3, (1, 1), "valid", id="6x5x2-k3x3-s1-valid"),
    pytest.param(2, 5, 5, 2, 3, 3, 2, (1, 1), 1, id="5x5x2-k3x3-s1-pad1"),
    pytest.param(2, 5, 6, 2, 3, 3, 3, (2, 2), 2, id="5x6x2-k3x3-s2-pad2"),
    pytest.param(3, 7, 8, 2, 3, 3, 4, (2, 2), "same", id="7x8x2-k3x3-s2-same"),
    pytest.param(2, 8, 8, 3, 3, 3, 5, (2, 2), "same", id="8x8x3-k3x3-s2-same-pad-after"),
    pytest.param(2, 7, 7, 2, 3, 3, 3, (2, 2), "valid", id="7x7x2-k3x3-s2-valid"),
    pytest.param(2, 7, 5, 3, 3, 2, 4, (1, 1), "valid", id="7x5x3-k3x2-s1-valid"),
    pytest.param(2, 7, 5, 3, 3, 2, 4, (1, 1), "same", id="7x5x3-k3x2-s1-same"),
    pytest.param(2, 7, 5, 2, 3, 2, 3, (2, 1), "same", id="7x5x2-k3x2-s2x1-same"),
    pytest.param(2, 7, 5, 2, 3, 2, 3, (1, 2), "valid", id="7x5x2-k3x2-s1x2-valid"),
    pytest.param(2, 7, 5, 2, 3, 2, 3, (2, 3), 1, id="7x5x2-k3x2-s2x3-pad1"),
    pytest.param(1, 5, 5, 1, 3, 3, 1, (1, 1), "same", id="batch1-C1-K1-same"),
    pytest.param(1, 6, 4, 1, 2, 2, 3, (2, 2), "valid", id="batch1-C1-k2x2-s2-valid"),
    pytest.param(2, 6, 6, 2, 4, 4, 2, (1, 1), "same", id="even-kernel-4x4-same"),
    pytest.param(2, 7, 7, 2, 1, 1, 3, (3, 3), "valid", id="k1x1-s3-skips-inputs"),
    pytest.param(2, 4, 4, 3, 3, 3, 17, (1, 1), "same", id="K17-odd-vector-tail"),
    pytest.param(2, 14, 14, 32, 3, 3, 64, (1, 1), "same", id="lesson-conv2-14x14x32-to-64"),
    pytest.param(3, 28, 28, 1, 3, 3, 32, (1, 1), "same", id="lesson-conv1-28x28x1-to-32"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, H, W, C, R, S, K, stride, padding", CONV_CASES)
def test_conv2d_matches_im2col_reference(N, H, W, C, R, S, K, stride, padding, dtype):
    rng = np.random.default_rng(N * 1000 + H * 100 + W * 10 + K)
    x = rand(rng, (N, H, W, C), dtype)
    w = rand(rng, (R, S, C, K), dtype)
    b = rand(rng, (K,), dtype)
    _, pad = conv_geometry(H, W, R, S, stride, padding)
    out = conv_forward(x, w, b, stride, padding)
    expected = ref.conv2d_ref(f64(x), f64(w), f64(b), stride, pad)
    assert out.dtype == dtype
    assert_close("conv2d out", out, expected, *tol(dtype, expected))

    dout = rand(rng, out.shape, dtype)
    dx, dw, db, _ = conv_backward(dout, x, w, stride, padding)
    ref_dx, ref_dw, ref_db = ref.conv2d_ref_backward(f64(dout), f64(x), f64(w), f64(b), stride, pad)
    assert dx.dtype == dw.dtype == db.dtype == dtype
    assert_close("conv2d dx", dx, ref_dx, *tol(dtype, ref_dx))
    assert_close("conv2d dw", dw, ref_dw, *tol(dtype, ref_dw))
    assert_close("conv2d db", db, ref_db, *tol(dtype, ref_db))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("parts", [1, 2, 3, 5, 7], ids=lambda p: f"P{p}")
def test_conv2d_weight_gradient_from_any_number_of_parts(parts, dtype):
    """Five samples cut into P contiguous parts (P = 7 leaves two parts empty):
    sum_parts of the parts is the whole batch's gradient, each part is its samples' own."""
    rng = np.random.default_rng(parts)
    N, stride, padding = 5, (2, 1), "same"
    x = rand(rng, (N, 6, 5, 2), dtype)
    w = rand(rng, (3, 2, 2, 3), dtype)
    b = np.zeros(3, dtype)
    dout = rand(rng, conv_forward(x, w, b, stride, padding).shape, dtype)
    _, pad = conv_geometry(6, 5, 3, 2, stride, padding)
    dx, dw, db, dw_parts = conv_backward(dout, x, w, stride, padding, parts=parts)
    ref_dx, ref_dw, ref_db = ref.conv2d_ref_backward(f64(dout), f64(x), f64(w), f64(b), stride, pad)
    assert_close("dx", dx, ref_dx, *tol(dtype, ref_dx))
    assert_close("dw", dw, ref_dw, *tol(dtype, ref_dw))
    assert_close("db", db, ref_db, *tol(dtype, ref_db))
    for g in range(parts):
        lo, hi = g * N // parts, (g + 1) * N // parts
        if lo == hi:
            assert np.all(dw_parts[g] == 0), f"part {g} holds no sample"
            continue
        _, part_dw, _ = ref.conv2d_ref_backward(
            f64(dout[lo:hi]), f64(x[lo:hi]), f64(w), f64(b), stride, pad
        )
        assert_close(f"dw part {g} (samples {lo}:{hi})", dw_parts[g], part_dw, *tol(dtype, part_dw))


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_backward_without_dx_leaves_dx_untouched(dtype):
    rng = np.random.default_rng(3)
    stride, padding = (2, 2), "same"
    x = rand(rng, (3, 7, 6, 2), dtype)
    w = rand(rng, (3, 3, 2, 4), dtype)
    dout = rand(rng, conv_forward(x, w, np.zeros(4, dtype), stride, padding).shape, dtype)
    _, (pt, _, pl, _) = conv_geometry(7, 6, 3, 3, stride, padding)
    _, dw_with, db_with, _ = conv_backward(dout, x, w, stride, padding, need_dx=True)

    dx = np.full_like(x, 7.0)  # a full-size array, so a stray write would land somewhere visible
    dw_parts = np.zeros((3,) + w.shape, dtype)
    db_parts = np.zeros((3, 4), dtype)
    conv2d_backward(dx, dw_parts, db_parts, dout, x, w, stride[0], stride[1], pt, pl, False)
    assert np.all(dx == 7.0)
    dw, db = np.empty_like(w), np.empty(4, dtype)
    sum_parts(dw.reshape(-1), dw_parts.reshape(3, -1))
    sum_parts(db, db_parts)
    assert_close("dw without dx", dw, dw_with, *tol(dtype, dw_with))
    assert_close("db without dx", db, db_with, *tol(dtype, db_with))

    # the Conv2D layer passes a one-element placeholder when dx is not needed
    placeholder = np.full((1, 1, 1, 1), 7.0, dtype)
    dw_parts[...] = 0
    db_parts[...] = 0
    conv2d_backward(
        placeholder, dw_parts, db_parts, dout, x, w, stride[0], stride[1], pt, pl, False
    )
    assert placeholder[0, 0, 0, 0] == 7.0
    sum_parts(dw.reshape(-1), dw_parts.reshape(3, -1))
    assert_close("dw with placeholder dx", dw, dw_with, *tol(dtype, dw_with))


def test_conv2d_worked_example_valid():
    # x = 1..9 in a 3×3 image; w = [[1, 0], [0, -1]]: out[i, j] = x[i, j] - x[i+1, j+1] + b = -4 + 0.5
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    w = np.array([[1.0, 0.0], [0.0, -1.0]]).reshape(2, 2, 1, 1)
    b = np.array([0.5])
    out = conv_forward(x, w, b, (1, 1), "valid")
    assert_close("out", out[0, :, :, 0], [[-3.5, -3.5], [-3.5, -3.5]], atol=0, rtol=0)
    dx, dw, db, _ = conv_backward(np.ones_like(out), x, w, (1, 1), "valid")
    # w[0,0] = +1 touches the top-left 2×2 block, w[1,1] = -1 the bottom-right one
    assert_close("dx", dx[0, :, :, 0], [[1, 1, 0], [1, 0, -1], [0, -1, -1]], atol=0, rtol=0)
    # dw[r, s] = sum of the 2×2 block of x starting at (r, s)
    assert_close(
        "dw",
        dw[:, :, 0, 0],
        [[1 + 2 + 4 + 5, 2 + 3 + 5 + 6], [4 + 5 + 7 + 8, 5 + 6 + 8 + 9]],
        atol=0,
        rtol=0,
    )
    assert_close("db", db, [4.0], atol=0, rtol=0)


def test_conv2d_worked_example_same_counts_the_real_neighbours():
    # an all-ones 3×3 filter over an all-ones image: each output counts the in-image positions
    out = conv_forward(np.ones((1, 3, 3, 1)), np.ones((3, 3, 1, 1)), np.zeros(1), (1, 1), "same")
    assert_close("out", out[0, :, :, 0], [[4, 6, 4], [6, 9, 6], [4, 6, 4]], atol=0, rtol=0)


def test_conv2d_worked_example_stride2_same_pads_after_as_tensorflow():
    # 4×4 image, 3×3 filter, stride 2, "same": 2×2 output, the one padding row/column goes after
    # (bottom/right), so the first window lies fully inside: 9, not 4 as symmetric padding would give
    out = conv_forward(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), np.zeros(1), (2, 2), "same")
    assert_close("out", out[0, :, :, 0], [[9, 6], [6, 4]], atol=0, rtol=0)


def test_conv2d_worked_example_channels_and_filters():
    # two channels, two filters of size 1×1: a per-pixel matrix product x[p, q, :] · w[0, 0]
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)  # pixels (1, 2) and (3, 4)
    w = np.array([[1.0, 10.0], [100.0, 1000.0]]).reshape(1, 1, 2, 2)  # w[c, k]
    out = conv_forward(x, w, np.array([0.0, 0.5]), (1, 1), "valid")
    assert_close(
        "out",
        out.reshape(2, 2),
        [[1 + 200, 10 + 2000 + 0.5], [3 + 400, 30 + 4000 + 0.5]],
        atol=0,
        rtol=0,
    )


# -- finite differences (float64) ----------------------------------------------------------------------

CONV_GRAD_CASES = [
    pytest.param(2, 5, 4, 2, 3, 3, 3, (1, 1), "same", id="s1-same"),
    pytest.param(2, 6, 5, 2, 3, 3, 2, (2, 2), "same", id="s2-same"),
    pytest.param(2, 7, 5, 2, 3, 2, 3, (2, 1), "same", id="7x5-k3x2-s2x1-same"),
    pytest.param(2, 6, 6, 1, 3, 3, 2, (2, 2), "valid", id="s2-valid"),
    pytest.param(1, 4, 5, 2, 2, 3, 2, (1, 2), 1, id="k2x3-s1x2-pad1"),
]


@pytest.mark.parametrize("N, H, W, C, R, S, K, stride, padding", CONV_GRAD_CASES)
def test_conv2d_gradients_match_finite_differences(N, H, W, C, R, S, K, stride, padding):
    rng = np.random.default_rng(H * W + K)
    x = rand(rng, (N, H, W, C), np.float64)
    w = rand(rng, (R, S, C, K), np.float64)
    b = rand(rng, (K,), np.float64)
    # L = sum(G * out), dL/dout = G
    G = rand(rng, conv_forward(x, w, b, stride, padding).shape, np.float64)

    def loss():
        return float(np.sum(G * conv_forward(x, w, b, stride, padding)))

    dx, dw, db, _ = conv_backward(G, x, w, stride, padding, parts=min(N, 2))
    assert_gradients_pass(
        check_gradients(loss, {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db})
    )


# == maxpool ============================================================================================


def pool_forward(x, pool, stride, padding):
    N, H, W, C = x.shape
    OH, pt, _ = output_size(H, pool[0], stride[0], padding)
    OW, pl, _ = output_size(W, pool[1], stride[1], padding)
    out = np.empty((N, OH, OW, C), x.dtype)
    arg = np.empty((N, OH, OW, C), np.int32)
    maxpool_forward(out, arg, x, pool[0], pool[1], stride[0], stride[1], pt, pl)
    return out, arg


def pool_backward(dout, arg, x_shape, dtype):
    dx = np.zeros(x_shape, dtype)
    maxpool_backward(dx, dout, arg)
    return dx


def pool_pad(H, W, pool, stride, padding):
    return ref.padding_2d((H, W), pool, stride, padding)[1]


# N, H, W, C, pool, stride, padding
POOL_CASES = [
    pytest.param(2, 8, 8, 3, (2, 2), (2, 2), "valid", id="8x8-2x2-s2-valid"),
    pytest.param(2, 8, 8, 3, (2, 2), (2, 2), "same", id="8x8-2x2-s2-same"),
    pytest.param(2, 7, 7, 3, (2, 2), (2, 2), "same", id="7x7-2x2-s2-same-odd"),
    pytest.param(2, 7, 7, 3, (2, 2), (2, 2), "valid", id="7x7-2x2-s2-valid-odd"),
    pytest.param(2, 7, 7, 2, (3, 3), (2, 2), "valid", id="7x7-3x3-s2-valid-overlap"),
    pytest.param(2, 8, 7, 2, (3, 3), (2, 2), "same", id="8x7-3x3-s2-same-overlap"),
    pytest.param(1, 5, 6, 1, (3, 3), (1, 1), "same", id="batch1-C1-3x3-s1-same"),
    pytest.param(2, 7, 5, 2, (3, 2), (2, 1), "same", id="7x5-3x2-s2x1-same"),
    pytest.param(2, 6, 6, 2, (2, 2), (2, 2), 1, id="6x6-2x2-s2-pad1"),
    pytest.param(3, 28, 28, 32, (2, 2), (2, 2), "same", id="lesson-pool1-28x28x32"),
    pytest.param(3, 14, 14, 64, (2, 2), (2, 2), "same", id="lesson-pool2-14x14x64"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, H, W, C, pool, stride, padding", POOL_CASES)
def test_maxpool_matches_im2col_reference(N, H, W, C, pool, stride, padding, dtype):
    rng = np.random.default_rng(H * 10 + W + C)
    x = rand(rng, (N, H, W, C), dtype)
    pad = pool_pad(H, W, pool, stride, padding)
    out, arg = pool_forward(x, pool, stride, padding)
    expected = ref.maxpool_ref(f64(x), pool, stride, pad)
    assert out.dtype == dtype
    assert_close("maxpool out", out, expected, atol=0, rtol=0)  # a maximum is exact
    # arg holds the winner's flat position p*W + q, and that is where the maximum sits
    n_, i_, j_, c_ = np.indices(out.shape)
    assert np.all((arg >= 0) & (arg < H * W))
    assert np.array_equal(x[n_, arg // W, arg % W, c_], out)

    dout = rand(rng, out.shape, dtype)
    dx = pool_backward(dout, arg, x.shape, dtype)
    ref_dx = ref.maxpool_ref_backward(f64(dout), f64(x), pool, stride, pad)
    assert_close("maxpool dx", dx, ref_dx, *tol(dtype, ref_dx))


@pytest.mark.parametrize(
    "pool, stride, padding",
    [
        pytest.param((2, 2), (2, 2), "valid", id="2x2-s2-valid"),
        pytest.param((2, 2), (2, 2), "same", id="2x2-s2-same"),
        pytest.param((3, 3), (2, 2), "same", id="3x3-s2-same-overlap"),
        pytest.param((3, 3), (1, 1), "valid", id="3x3-s1-valid-overlap"),
    ],
)
def test_maxpool_ties_go_to_the_first_maximum_in_row_major_order(pool, stride, padding):
    """Values drawn from {0, 1, 2}: most windows hold ties, which the reference breaks
    with np.argmax (the first maximum, reading row by row)."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, size=(2, 7, 8, 3)).astype(np.float64)
    pad = pool_pad(7, 8, pool, stride, padding)
    out, arg = pool_forward(x, pool, stride, padding)
    assert_close("out", out, ref.maxpool_ref(x, pool, stride, pad), atol=0, rtol=0)
    dout = rng.uniform(1, 2, size=out.shape)
    dx = pool_backward(dout, arg, x.shape, np.float64)
    assert_close(
        "dx", dx, ref.maxpool_ref_backward(dout, x, pool, stride, pad), atol=1e-15, rtol=1e-15
    )


def test_maxpool_worked_example_ties_and_windows():
    # 2×2 windows, stride 2, on a 4×4 image
    x = np.array([[5, 5, 1, 2], [5, 5, 3, 3], [0, 0, -1, -2], [0, 7, -3, -1]], np.float64).reshape(
        1, 4, 4, 1
    )
    out, arg = pool_forward(x, (2, 2), (2, 2), "valid")
    assert_close("out", out[0, :, :, 0], [[5, 3], [7, -1]], atol=0, rtol=0)
    # a tie of four 5s: the top-left one (flat position 0); a tie of two 3s: the left one (1*4 + 2)
    assert arg[0, :, :, 0].tolist() == [[0, 6], [13, 10]]
    dx = pool_backward(
        np.array([10.0, 20.0, 30.0, 40.0]).reshape(1, 2, 2, 1), arg, x.shape, np.float64
    )
    assert_close(
        "dx",
        dx[0, :, :, 0],
        [[10, 0, 0, 0], [0, 0, 20, 0], [0, 0, 40, 0], [0, 30, 0, 0]],
        atol=0,
        rtol=0,
    )


def test_maxpool_worked_example_overlapping_windows_add_up():
    # 3×3 windows, stride 2, on a 5×5 image whose maximum 9 sits in the centre: all four
    # windows share it, so its gradient is the sum of all four outputs' gradients
    x = np.zeros((1, 5, 5, 1))
    x[0, 2, 2, 0] = 9.0
    out, arg = pool_forward(x, (3, 3), (2, 2), "valid")
    assert_close("out", out[0, :, :, 0], [[9, 9], [9, 9]], atol=0, rtol=0)
    assert np.all(arg == 2 * 5 + 2)
    dx = pool_backward(np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1), arg, x.shape, np.float64)
    expected = np.zeros((5, 5))
    expected[2, 2] = 10.0
    assert_close("dx", dx[0, :, :, 0], expected, atol=0, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool_window_with_nan_gives_nan_as_pytorch_does(dtype):
    """The max of a window holding NaN is NaN, wherever the NaN sits (it used to win only as
    the window's first value: [1, NaN, 3, 0.5] gave 3), and the gradient goes to the NaN:
    the last one in row-major order when there are several, as PyTorch's kernel keeps it."""
    x = np.array(
        [[1, np.nan, 7, 7], [3, 0.5, np.nan, np.nan], [np.nan, 2, 4, 1], [5, 6, 1, 2]], dtype
    ).reshape(1, 4, 4, 1)
    out, arg = pool_forward(x, (2, 2), (2, 2), "valid")
    got = out[0, :, :, 0]
    assert np.isnan(got[0, 0]) and np.isnan(got[0, 1]) and np.isnan(got[1, 0]) and got[1, 1] == 4
    assert arg[0, :, :, 0].tolist() == [[1, 7], [8, 10]]
    np.testing.assert_array_equal(out, ref.maxpool_ref(x))  # NaN where the NumPy reference has NaN
    dx = pool_backward(
        np.array([10.0, 20.0, 30.0, 40.0], dtype).reshape(1, 2, 2, 1), arg, x.shape, dtype
    )
    assert dx[0, :, :, 0].tolist() == [[0, 10, 0, 0], [0, 0, 0, 20], [30, 0, 40, 0], [0, 0, 0, 0]]


def test_maxpool_same_padding_never_wins_over_negative_values():
    # "same" on a 3×3 image of negative values: the last row and column of windows reach into
    # the padding, which must not act as a 0 larger than every real value
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    out, arg = pool_forward(x, (2, 2), (2, 2), "same")
    assert_close("out", out[0, :, :, 0], [[-1, -3], [-7, -9]], atol=0, rtol=0)
    assert arg[0, :, :, 0].tolist() == [[0, 2], [6, 8]]


def test_maxpool_window_entirely_in_padding_sends_no_gradient():
    """A 2×2 pool with 2 zeros of explicit padding (MaxPool2D accepts an integer padding):
    the first row and column of windows lie entirely in the padding. Their output is -inf
    (padding acts as -inf, as documented) and their gradient must go nowhere; the reference
    drops it. Nothing may land on a real pixel that was not its window's maximum."""
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    out, arg = pool_forward(x, (2, 2), (2, 2), 2)
    pad = (2, 2, 2, 2)
    assert_close("out", out, ref.maxpool_ref(x, (2, 2), (2, 2), pad), atol=0, rtol=0)
    dout = np.ones_like(out)
    dx = pool_backward(dout, arg, x.shape, np.float64)
    assert_close("dx", dx, ref.maxpool_ref_backward(dout, x, (2, 2), (2, 2), pad), atol=0, rtol=0)


@pytest.mark.parametrize(
    "N, H, W, C, pool, stride, padding",
    [
        pytest.param(2, 6, 6, 2, (2, 2), (2, 2), "same", id="2x2-s2-same"),
        pytest.param(2, 7, 7, 2, (2, 2), (2, 2), "same", id="7x7-2x2-s2-same"),
        pytest.param(1, 7, 6, 2, (3, 3), (2, 2), "same", id="3x3-s2-same-overlap"),
        pytest.param(1, 5, 5, 1, (3, 2), (1, 2), "valid", id="3x2-s1x2-valid"),
    ],
)
def test_maxpool_gradient_matches_finite_differences(N, H, W, C, pool, stride, padding):
    # a random permutation of well-separated values: no perturbation of 1e-6 changes a winner
    rng = np.random.default_rng(H * W)
    x = (rng.permutation(N * H * W * C).astype(np.float64) * 0.01).reshape(N, H, W, C)
    out, arg = pool_forward(x, pool, stride, padding)
    G = rand(rng, out.shape, np.float64)

    def loss():
        return float(np.sum(G * pool_forward(x, pool, stride, padding)[0]))

    dx = pool_backward(G, arg, x.shape, np.float64)
    assert_gradients_pass(check_gradients(loss, {"x": x}, {"x": dx}))


# == dense ==============================================================================================


def dense(x, w, b):
    out = np.empty((x.shape[0], w.shape[1]), x.dtype)
    dense_forward(out, x, w, b)
    return out


def dense_grads(dout, x, w, need_dx=True):
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    db = np.zeros(w.shape[1], x.dtype)
    dense_backward(dx, dw, db, dout, x, w, need_dx)
    return dx, dw, db


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N", [1, 3, 4, 5, 8, 32, 35], ids=lambda n: f"batch{n}")
def test_dense_matches_reference(N, dtype):
    """The forward pass takes samples four at a time plus a remainder: batches below,
    at, between and at multiples of four."""
    rng = np.random.default_rng(N)
    D, M = 37, 19
    x = rand(rng, (N, D), dtype)
    w = rand(rng, (D, M), dtype)
    b = rand(rng, (M,), dtype)
    out = dense(x, w, b)
    expected = ref.dense_ref(f64(x), f64(w), f64(b))
    assert out.dtype == dtype
    assert_close("dense out", out, expected, *tol(dtype, expected))

    dout = rand(rng, (N, M), dtype)
    dx, dw, db = dense_grads(dout, x, w)
    ref_dx, ref_dw, ref_db = ref.dense_ref_backward(f64(dout), f64(x), f64(w))
    assert_close("dense dx", dx, ref_dx, *tol(dtype, ref_dx))
    assert_close("dense dw", dw, ref_dw, *tol(dtype, ref_dw))
    assert_close("dense db", db, ref_db, *tol(dtype, ref_db))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_backward_without_dx_leaves_dx_untouched(dtype):
    rng = np.random.default_rng(11)
    x, w, dout = rand(rng, (5, 9), dtype), rand(rng, (9, 6), dtype), rand(rng, (5, 6), dtype)
    _, dw_with, db_with = dense_grads(dout, x, w, need_dx=True)
    dx = np.full_like(x, 7.0)
    dw, db = np.zeros_like(w), np.zeros(6, dtype)
    dense_backward(dx, dw, db, dout, x, w, False)
    assert np.all(dx == 7.0)
    assert_close("dw without dx", dw, dw_with, *tol(dtype, dw_with))
    assert_close("db without dx", db, db_with, *tol(dtype, db_with))
    placeholder = np.full((1, 1), 7.0, dtype)  # what the Dense layer passes
    dw[...] = 0
    db[...] = 0
    dense_backward(placeholder, dw, db, dout, x, w, False)
    assert placeholder[0, 0] == 7.0
    assert_close("dw with placeholder dx", dw, dw_with, *tol(dtype, dw_with))


def test_backward_kernels_overwrite_what_the_caller_passes():
    # The kernels zero their outputs themselves: stale values from a previous batch
    # (here: NaN) must not leak into the gradients.
    rng = np.random.default_rng(12)
    x, w, dout = (
        rand(rng, (3, 4), np.float64),
        rand(rng, (4, 2), np.float64),
        rand(rng, (3, 2), np.float64),
    )
    ref_dx, ref_dw, ref_db = ref.dense_ref_backward(dout, x, w)
    dx, dw, db = np.full_like(x, np.nan), np.full_like(w, np.nan), np.full(2, np.nan)
    dense_backward(dx, dw, db, dout, x, w, True)
    assert_close("dense dx", dx, ref_dx, atol=1e-14)
    assert_close("dense dw", dw, ref_dw, atol=1e-14)
    assert_close("dense db", db, ref_db, atol=1e-14)

    x, w, b = rand(rng, (3, 5, 5, 2), np.float64), rand(rng, (3, 3, 2, 4), np.float64), np.zeros(4)
    dout = rand(rng, (3, 5, 5, 4), np.float64)
    ref_dx, ref_dw, ref_db = ref.conv2d_ref_backward(dout, x, w, b, (1, 1), (1, 1, 1, 1))
    dx, dw_parts, db_parts = (
        np.full_like(x, np.nan),
        np.full((2,) + w.shape, np.nan),
        np.full((2, 4), np.nan),
    )
    conv2d_backward(dx, dw_parts, db_parts, dout, x, w, 1, 1, 1, 1, True)
    assert_close("conv dx", dx, ref_dx, atol=1e-12)
    assert_close("conv dw", dw_parts.sum(axis=0), ref_dw, atol=1e-12)
    assert_close("conv db", db_parts.sum(axis=0), ref_db, atol=1e-12)

    x = rand(rng, (2, 4, 4, 3), np.float64)
    out, arg = np.empty((2, 2, 2, 3)), np.empty((2, 2, 2, 3), np.int32)
    maxpool_forward(out, arg, x, 2, 2, 2, 2, 0, 0)
    dout = rand(rng, (2, 2, 2, 3), np.float64)
    dx = np.full_like(x, np.nan)
    maxpool_backward(dx, dout, arg)
    assert_close(
        "pool dx", dx, ref.maxpool_ref_backward(dout, x, (2, 2), (2, 2), (0, 0, 0, 0)), atol=0
    )


def test_dense_worked_example():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [-1.0, 0.0]])  # 4 + 1 samples
    w = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])
    b = np.array([0.0, 10.0, 0.5])
    expected = [[1, 12, 0.5], [3, 14, 2.5], [5, 16, 4.5], [7, 18, 6.5], [-1, 10, -1.5]]
    assert_close("out", dense(x, w, b), expected, atol=0, rtol=0)
    dout = np.zeros((5, 3))
    dout[4, 2] = 1.0  # only out[4, 2] = x[4]·w[:, 2] + b[2] matters
    dx, dw, db = dense_grads(dout, x, w)
    assert_close("dx", dx, [[0, 0]] * 4 + [[2, -1]], atol=0, rtol=0)
    assert_close("dw", dw, [[0, 0, -1], [0, 0, 0]], atol=0, rtol=0)
    assert_close("db", db, [0, 0, 1], atol=0, rtol=0)


@pytest.mark.parametrize("N", [4, 5], ids=lambda n: f"batch{n}")
def test_dense_gradients_match_finite_differences(N):
    rng = np.random.default_rng(13 + N)
    x, w, b = (
        rand(rng, (N, 6), np.float64),
        rand(rng, (6, 5), np.float64),
        rand(rng, (5,), np.float64),
    )
    G = rand(rng, (N, 5), np.float64)
    dx, dw, db = dense_grads(G, x, w)
    results = check_gradients(
        lambda: float(np.sum(G * dense(x, w, b))),
        {"x": x, "w": w, "b": b},
        {"x": dx, "w": dw, "b": db},
    )
    assert_gradients_pass(results)


# == relu ===============================================================================================


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_matches_reference(dtype):
    rng = np.random.default_rng(14)
    x = rand(rng, (200,), dtype)
    x[::7] = 0  # exact zeros: the output is 0 and so is the slope
    out = np.empty_like(x)
    relu_forward(out, x)
    assert_close("relu", out, ref.relu_ref(x), atol=0, rtol=0)
    dout = rand(rng, (200,), dtype)
    dx = np.empty_like(x)
    relu_backward(dx, dout, out)
    assert_close("relu dx", dx, ref.relu_ref_backward(dout, x), atol=0, rtol=0)


def test_relu_worked_example_and_in_place():
    x = np.array([-2.0, -0.0, 0.0, 1e-300, 3.0])
    relu_forward(x, x)  # in place, as the kernel allows
    assert x.tolist() == [0.0, 0.0, 0.0, 1e-300, 3.0]
    dout = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    relu_backward(dout, dout, x)  # in place too
    assert dout.tolist() == [0.0, 0.0, 0.0, 4.0, 5.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_passes_nan_on_as_pytorch_does(dtype):
    """torch.relu(nan) is nan and its gradient there is the incoming one: a diverged layer
    must not hand a clean 0 to the next, or the loss stays finite and nobody notices."""
    x = np.array([np.nan, -1.0, 2.0, 0.0, -np.inf, np.inf], dtype)
    out = np.empty_like(x)
    relu_forward(out, x)
    assert np.isnan(out[0]) and out[1:].tolist() == [0.0, 2.0, 0.0, 0.0, np.inf]
    assert_close("relu", out, ref.relu_ref(x), atol=0, rtol=0)  # the NumPy reference keeps NaN too
    dout = np.arange(1, 7).astype(dtype)
    dx = np.empty_like(x)
    relu_backward(dx, dout, out)
    assert dx.tolist() == [1.0, 0.0, 3.0, 0.0, 0.0, 6.0]


def test_relu_gradient_matches_finite_differences():
    rng = np.random.default_rng(15)
    x = rng.choice([-1.0, 1.0], 30) * rng.uniform(0.01, 1.0, 30)  # away from the kink at 0
    G = rand(rng, (30,), np.float64)

    def forward():
        out = np.empty_like(x)
        relu_forward(out, x)
        return out

    dx = np.empty_like(x)
    relu_backward(dx, G, forward())
    assert_gradients_pass(
        check_gradients(lambda: float(np.sum(G * forward())), {"x": x}, {"x": dx})
    )


# == dropout ============================================================================================


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.25, 0.5, 0.9])
def test_dropout_matches_reference(rate, dtype):
    rng = np.random.default_rng(16)
    x = rand(rng, (300,), dtype)
    keep = (rng.random(300) >= rate).astype(np.uint8)
    scale = x.dtype.type(1.0 / (1.0 - rate))
    out = np.empty_like(x)
    dropout_forward(out, x, keep, scale)
    assert out.dtype == dtype
    assert_close("dropout", out, ref.dropout_ref(f64(x), keep.astype(bool), rate), *tol(dtype))
    dout = rand(rng, (300,), dtype)
    dx = np.empty_like(x)
    dropout_backward(dx, dout, keep, scale)
    assert_close(
        "dropout dx", dx, ref.dropout_ref_backward(f64(dout), keep.astype(bool), rate), *tol(dtype)
    )


def test_dropout_worked_example():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    keep = np.array([1, 0, 1, 0], np.uint8)
    out = np.empty(4)
    dropout_forward(out, x, keep, 2.0)  # rate 0.5: kept values doubled
    assert out.tolist() == [2.0, 0.0, 6.0, 0.0]
    dx = np.empty(4)
    dropout_backward(dx, np.array([1.0, 1.0, -1.0, 5.0]), keep, 2.0)
    assert dx.tolist() == [2.0, 0.0, -2.0, 0.0]


def test_dropout_gradient_matches_finite_differences():
    rng = np.random.default_rng(17)
    x = rand(rng, (20,), np.float64)
    keep = (rng.random(20) >= 0.3).astype(np.uint8)
    scale = 1.0 / 0.7
    G = rand(rng, (20,), np.float64)

    def loss():
        out = np.empty_like(x)
        dropout_forward(out, x, keep, scale)
        return float(np.sum(G * out))

    dx = np.empty_like(x)
    dropout_backward(dx, G, keep, scale)
    assert_gradients_pass(check_gradients(loss, {"x": x}, {"x": dx}))


# == flatten ============================================================================================


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_reads_rows_then_columns_then_channels(dtype):
    N, H, W, C = 2, 3, 4, 5
    x = np.arange(N * H * W * C, dtype=dtype).reshape(N, H, W, C)
    out = np.empty((N, H * W * C), dtype)
    flatten_forward(out, x)
    # out[n, (p*W + q)*C + c] = x[n, p, q, c], which is NumPy's C-order reshape of NHWC
    assert np.array_equal(out, x.reshape(N, -1))
    assert out[1, (2 * W + 1) * C + 3] == x[1, 2, 1, 3]
    # channels first vary fastest, then columns
    assert out[0, : C + 1].tolist() == [0, 1, 2, 3, 4, 5]
    # not the NCHW (c, h, w) order the textbook's Affine reads
    assert not np.array_equal(out, x.transpose(0, 3, 1, 2).reshape(N, -1))
    dout = np.random.default_rng(18).uniform(-1, 1, (N, H * W * C)).astype(dtype)
    dx = np.empty_like(x)
    flatten_backward(dx, dout)
    assert np.array_equal(dx, dout.reshape(N, H, W, C))


# == softmax ============================================================================================


def softmax(z):
    out = np.empty_like(z)
    softmax_forward(out, z)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_matches_reference(dtype):
    rng = np.random.default_rng(19)
    z = rand(rng, (6, 10), dtype, -5, 5)
    out = softmax(z)
    assert out.dtype == dtype
    assert_close("softmax", out, ref.softmax_ref(f64(z)), *tol(dtype))
    assert_close("row sums", out.sum(axis=1, dtype=np.float64), np.ones(6), *tol(dtype))
    # backward against the explicit Jacobian J[m2, m] = d out[m2] / d z[m] = out[m2] ([m == m2] - out[m])
    dout = rand(rng, (6, 10), dtype)
    dz = np.empty_like(z)
    softmax_backward(dz, dout, out)
    s = ref.softmax_ref(f64(z))
    expected = np.stack([(np.diag(s[n]) - np.outer(s[n], s[n])).T @ f64(dout[n]) for n in range(6)])
    assert_close("softmax dz", dz, expected, *tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_is_stable_for_huge_logits(dtype):
    z = np.array(
        [[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, 999.0]], dtype
    )
    out = softmax(z)
    assert np.all(np.isfinite(out))
    e = np.exp(-1.0)
    assert_close(
        "softmax",
        out,
        [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [1 / (2 + e), 1 / (2 + e), e / (2 + e)]],
        *tol(dtype),
    )


def test_softmax_gradient_matches_finite_differences():
    rng = np.random.default_rng(20)
    z = rand(rng, (3, 5), np.float64, -3, 3)
    G = rand(rng, (3, 5), np.float64)
    dz = np.empty_like(z)
    softmax_backward(dz, G, softmax(z))
    assert_gradients_pass(
        check_gradients(lambda: float(np.sum(G * softmax(z))), {"z": z}, {"z": dz})
    )


# == softmax cross-entropy ==============================================================================


def softmax_ce(z, y):
    probs = np.empty_like(z)
    loss = np.empty(z.shape[0], z.dtype)
    softmax_cross_entropy_forward(probs, loss, z, y)
    dz = np.empty_like(z)
    softmax_cross_entropy_backward(dz, probs, y)
    return probs, loss, dz


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_matches_reference(dtype):
    rng = np.random.default_rng(21)
    z = rand(rng, (7, 10), dtype, -4, 4)
    y = rng.integers(0, 10, 7)
    probs, loss, dz = softmax_ce(z, y)
    ref_loss, ref_dz = ref.softmax_cross_entropy_ref(f64(z), y)
    assert probs.dtype == loss.dtype == dz.dtype == dtype
    assert_close("probs", probs, ref.softmax_ref(f64(z)), *tol(dtype))
    assert_close(
        "per-sample loss", loss, -np.log(ref.softmax_ref(f64(z))[np.arange(7), y]), *tol(dtype)
    )
    assert_close("mean loss", loss.mean(dtype=np.float64), ref_loss, *tol(dtype))
    assert_close("dz", dz, ref_dz, *tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_is_finite_for_logits_of_plus_minus_1000(dtype):
    z = np.array([[1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]], dtype)
    y = np.array([0, 1, 0])
    probs, loss, dz = softmax_ce(z, y)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(dz))
    # sample 0 is certain and right (loss 0), sample 1 certain and wrong by 2000,
    # sample 2 gives class 0 e^-2000 against two equal classes: loss 2000 + log 2
    assert_close("loss", loss, [0.0, 2000.0, 2000.0 + np.log(2.0)], *tol(dtype, [2000.0]))
    assert_close("dz", dz, np.array([[0, 0, 0], [1, -1, 0], [-1, 0.5, 0.5]]) / 3, *tol(dtype))
    ref_loss, ref_dz = ref.softmax_cross_entropy_ref(f64(z), y)
    assert_close("mean loss", loss.mean(dtype=np.float64), ref_loss, *tol(dtype, [ref_loss]))
    assert_close("dz vs reference", dz, ref_dz, *tol(dtype))


def test_softmax_cross_entropy_worked_example():
    # z = (0, 0, log 2): e^z = (1, 1, 2), so p = (1/4, 1/4, 1/2)
    z = np.array([[0.0, 0.0, np.log(2.0)]])
    probs, loss, dz = softmax_ce(z, np.array([2]))
    assert_close("probs", probs, [[0.25, 0.25, 0.5]], atol=1e-15)
    assert_close("loss", loss, [np.log(2.0)], atol=1e-15)
    assert_close("dz", dz, [[0.25, 0.25, -0.5]], atol=1e-15)


def test_softmax_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(22)
    z = rand(rng, (4, 6), np.float64, -3, 3)
    y = rng.integers(0, 6, 4)
    _, _, dz = softmax_ce(z, y)
    assert_gradients_pass(
        check_gradients(lambda: float(np.mean(softmax_ce(z, y)[1])), {"z": z}, {"z": dz})
    )


# == cross-entropy of probabilities (Keras's, for the model as written) ================================


def cross_entropy(p, y):
    loss = np.empty(p.shape[0], p.dtype)
    clipped = np.empty(p.shape[0], np.uint8)
    cross_entropy_forward(loss, clipped, p, y, p.dtype.type(KERAS_EPSILON))
    dp = np.empty_like(p)
    cross_entropy_backward(dp, p, y, clipped)
    return loss, clipped, dp


def keras_cross_entropy(p, y, eps=KERAS_EPSILON):
    """Keras's categorical_crossentropy(from_logits=False) in float64: normalise each row,
    clip to [eps, 1 - eps], -log of the true class; and its gradient, 0 where clipped."""
    p = f64(p)
    N = p.shape[0]
    s = p.sum(axis=1)
    t = p[np.arange(N), y] / s
    active = (t >= eps) & (t <= 1 - eps)
    loss = -np.log(np.clip(t, eps, 1 - eps))
    with np.errstate(divide="ignore", invalid="ignore"):  # rows that are clipped give no gradient
        dp = np.repeat((1 / s)[:, None], p.shape[1], axis=1)
        dp[np.arange(N), y] -= 1 / p[np.arange(N), y]
    dp = np.where(active[:, None], dp / N, 0.0)
    return loss, ~active, dp


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_matches_keras_formula(dtype):
    rng = np.random.default_rng(23)
    p = rng.uniform(0.05, 1.0, (6, 10)).astype(dtype)  # not normalised: Keras divides by the sum
    p[1, 3] = 0.0
    p[4] = 0.0
    p[4, 7] = 0.5  # all the mass on one class
    y = np.array([0, 3, 9, 2, 7, 5])  # sample 1's true class is 0, sample 4's holds all
    loss, clipped, dp = cross_entropy(p, y)
    ref_loss, ref_clipped, ref_dp = keras_cross_entropy(p, y)
    assert loss.dtype == dp.dtype == dtype
    assert clipped.tolist() == ref_clipped.astype(int).tolist() == [0, 1, 0, 0, 1, 0]
    assert_close("loss", loss, ref_loss, *tol(dtype, ref_loss))
    assert_close("dp", dp, ref_dp, *tol(dtype, ref_dp))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_worked_examples_of_the_clip(dtype):
    p = np.array(
        [
            [0.0, 0.6, 0.4],  # true class dropped: p_true = 0
            [1.0, 0.0, 0.0],  # certain and right: t = 1, clipped to 1 - 1e-7
            [0.2, 0.2, 0.4],  # plain: t = 0.5
            [0.0, 0.0, 0.0],
        ],  # everything dropped: the sum is 0
        dtype,
    )
    y = np.array([0, 0, 2, 1])
    loss, clipped, dp = cross_entropy(p, y)
    eps = dtype(KERAS_EPSILON)
    assert -np.log(1e-7) == pytest.approx(16.118095650958319)
    assert_close(
        "loss",
        loss,
        [-np.log(eps), -np.log(dtype(1) - eps), np.log(2.0), -np.log(eps)],
        *tol(dtype, [16.2]),
    )
    assert clipped.tolist() == [1, 1, 0, 1]
    # no gradient through the clip; the plain row: (1/N)(1/s - [m == y]/p_y) with N = 4, s = 0.8
    expected = np.zeros((4, 3))
    expected[2] = np.array([1.25, 1.25, 1.25 - 2.5]) / 4
    assert_close("dp", dp, expected, *tol(dtype))


def test_cross_entropy_of_a_nan_probability_is_clipped_not_nan():
    p = np.array([[np.nan, 0.5, 0.5]])
    loss, clipped, dp = cross_entropy(p, np.array([0]))
    assert clipped.tolist() == [1]
    assert loss[0] == pytest.approx(-np.log(1e-7))
    assert np.all(dp == 0)


def test_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(24)
    p = rng.uniform(0.05, 1.0, (4, 5))  # inside the clip everywhere
    y = rng.integers(0, 5, 4)
    loss, clipped, dp = cross_entropy(p, y)
    assert not clipped.any()
    assert_gradients_pass(
        check_gradients(lambda: float(np.mean(cross_entropy(p, y)[0])), {"p": p}, {"p": dp})
    )


# == the same bits whatever the number of threads =======================================================


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_is_bit_identical_for_any_thread_count(thread_counts, dtype):
    rng = np.random.default_rng(25)
    x = rand(rng, (13, 10, 9, 4), dtype)  # 13 samples in 8 parts of 1 or 2 samples
    w = rand(rng, (3, 3, 4, 24), dtype)
    b = rand(rng, (24,), dtype)
    dout = rand(rng, conv_forward(x, w, b, (1, 1), "same").shape, dtype)

    def run():
        out = conv_forward(x, w, b, (1, 1), "same")
        dx, dw, db, dw_parts = conv_backward(dout, x, w, (1, 1), "same", parts=8)
        return out, dx, dw, db, dw_parts

    assert_all_same_bits(
        run_with_threads(thread_counts, run), ["out", "dx", "dw", "db", "dw_parts"]
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_is_bit_identical_for_any_thread_count(thread_counts, dtype):
    rng = np.random.default_rng(26)
    x, w, b = rand(rng, (11, 70), dtype), rand(rng, (70, 45), dtype), rand(rng, (45,), dtype)
    dout = rand(rng, (11, 45), dtype)

    def run():
        return (dense(x, w, b),) + dense_grads(dout, x, w)

    assert_all_same_bits(run_with_threads(thread_counts, run), ["out", "dx", "dw", "db"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool_is_bit_identical_for_any_thread_count(thread_counts, dtype):
    rng = np.random.default_rng(27)
    x = rng.integers(0, 4, (9, 9, 8, 5)).astype(dtype)  # many ties
    dout = rand(rng, (9, 5, 4, 5), dtype)

    def run():
        out, arg = pool_forward(x, (3, 3), (2, 2), "same")  # overlapping windows: dx sums
        return out, arg, pool_backward(dout, arg, x.shape, dtype)

    assert_all_same_bits(run_with_threads(thread_counts, run), ["out", "arg", "dx"])
