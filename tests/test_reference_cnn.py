"""The NumPy references of the CNN lesson, checked on their own so they can judge the kernels.

Each reference is compared with a second, direct formulation (slices and einsum,
or plain loops) and its backward pass with float64 central differences.
"""

from __future__ import annotations

import numpy as np
import pytest

from nbengine.gradcheck import compare, numerical_gradient
from nbengine.testing import assert_gradients_pass
from tests.reference import cnn_numpy as ref

# -- padding arithmetic ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, k, stride, expected",
    [
        (28, 3, 1, (28, 1, 1)),
        (28, 2, 2, (14, 0, 0)),
        (14, 2, 2, (7, 0, 0)),
        (7, 2, 2, (4, 0, 1)),  # odd size: the extra padding goes after
        (8, 3, 2, (4, 0, 1)),  # stride 2 on an even input: (0, 1) as TensorFlow pads
        (7, 3, 2, (4, 1, 1)),
        (5, 5, 1, (5, 2, 2)),
        (4, 4, 1, (4, 1, 2)),  # even kernel: the larger half after
        (1, 3, 1, (1, 1, 1)),
        (3, 1, 3, (1, 0, 0)),  # never negative
    ],
)
def test_same_padding(size, k, stride, expected):
    assert ref.same_padding(size, k, stride) == expected


def test_valid_and_explicit_padding():
    assert ref.valid_padding(28, 3, 1) == (26, 0, 0)
    assert ref.valid_padding(7, 2, 2) == (3, 0, 0)
    assert ref.explicit_padding(28, 3, 1, 1, 1) == (28, 1, 1)
    assert ref.explicit_padding(5, 3, 2, 0, 2) == (3, 0, 2)
    with pytest.raises(ValueError):
        ref.explicit_padding(2, 3, 1, 0, 0)
    assert ref.padding_2d((7, 8), (3, 3), (2, 2), "same") == ((4, 4), (1, 1, 0, 1))
    assert ref.padding_2d((7, 8), (3, 2), (1, 2), "valid") == ((5, 4), (0, 0, 0, 0))
    assert ref.padding_2d((7, 8), (3, 3), (1, 1), 2) == ((9, 10), (2, 2, 2, 2))
    assert ref.padding_2d((7, 8), (3, 3), (1, 1), (0, 1, 2, 0)) == ((6, 8), (0, 1, 2, 0))


# -- direct formulations to compare with ------------------------------------------------------


def conv_direct(x, w, b, stride, pad):
    """Sum over the kernel's (r, s) of a strided slice of the padded input times w[r, s]."""
    t, bo, l, r = pad
    sh, sw = stride
    R, S, _, K = w.shape
    xp = np.pad(x, [(0, 0), (t, bo), (l, r), (0, 0)])
    oh = (xp.shape[1] - R) // sh + 1
    ow = (xp.shape[2] - S) // sw + 1
    out = np.zeros((x.shape[0], oh, ow, K)) + b
    for i in range(R):
        for j in range(S):
            patch = xp[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw, :]
            out += np.einsum("nhwc,ck->nhwk", patch, w[i, j])
    return out


def maxpool_direct(x, pool, stride, pad):
    """A loop over every window, ignoring positions outside the input."""
    N, H, W, C = x.shape
    t, b, l, r = pad
    oh = (H + t + b - pool[0]) // stride[0] + 1
    ow = (W + l + r - pool[1]) // stride[1] + 1
    out = np.empty((N, oh, ow, C))
    for i in range(oh):
        for j in range(ow):
            p0, q0 = i * stride[0] - t, j * stride[1] - l
            window = x[:, max(p0, 0) : p0 + pool[0], max(q0, 0) : q0 + pool[1], :]
            out[:, i, j, :] = window.max(axis=(1, 2))
    return out


CONV_CASES = [
    # (N, H, W, C, R, S, K, stride, padding)
    (2, 5, 5, 3, 3, 3, 4, (1, 1), "same"),
    (2, 5, 5, 3, 3, 3, 4, (1, 1), "valid"),
    (1, 7, 6, 2, 3, 3, 3, (2, 2), "same"),
    (2, 8, 8, 1, 3, 3, 2, (2, 2), "same"),  # even input, stride 2: pad (0, 1, 0, 1)
    (1, 6, 7, 2, 2, 3, 5, (2, 1), "valid"),
    (3, 5, 4, 2, 3, 2, 2, (1, 2), (1, 0, 2, 1)),  # explicit and lopsided
    (1, 4, 4, 3, 1, 1, 2, (1, 1), 0),
    (2, 9, 9, 1, 5, 5, 3, (3, 3), 2),
]


def conv_case(case, rng):
    N, H, W, C, R, S, K, stride, padding = case
    (_, _), pad = ref.padding_2d((H, W), (R, S), stride, padding)
    x = rng.standard_normal((N, H, W, C))
    w = rng.standard_normal((R, S, C, K))
    b = rng.standard_normal(K)
    return x, w, b, stride, pad


# -- convolution -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_ref_matches_direct_formulation(case):
    x, w, b, stride, pad = conv_case(case, np.random.default_rng(0))
    out = ref.conv2d_ref(x, w, b, stride, pad)
    expected = conv_direct(x, w, b, stride, pad)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_conv2d_ref_keeps_float32():
    rng = np.random.default_rng(1)
    x, w, b, stride, pad = conv_case(CONV_CASES[0], rng)
    x, w, b = (a.astype(np.float32) for a in (x, w, b))
    out = ref.conv2d_ref(x, w, b, stride, pad)
    dx, dw, db = ref.conv2d_ref_backward(np.ones_like(out), x, w, b, stride, pad)
    assert {a.dtype for a in (out, dx, dw, db)} == {np.dtype(np.float32)}
    np.testing.assert_allclose(out, conv_direct(x, w, b, stride, pad), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_ref_backward_matches_finite_differences(case):
    rng = np.random.default_rng(2)
    x, w, b, stride, pad = conv_case(case, rng)
    out = ref.conv2d_ref(x, w, b, stride, pad)
    G = rng.standard_normal(out.shape)  # L = Σ G · out, so dL/dout = G

    def loss():
        return float(np.sum(G * ref.conv2d_ref(x, w, b, stride, pad)))

    dx, dw, db = ref.conv2d_ref_backward(G, x, w, b, stride, pad)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    for analytic, param in ((dx, x), (dw, w), (db, b)):
        np.testing.assert_allclose(analytic, numerical_gradient(loss, param), rtol=1e-6, atol=1e-7)


# -- max pooling -----------------------------------------------------------------------------

POOL_CASES = [
    # (N, H, W, C, pool, stride, padding)
    (2, 4, 4, 3, (2, 2), (2, 2), "same"),
    (1, 7, 7, 2, (2, 2), (2, 2), "same"),  # odd: one padding row and column after
    (2, 5, 6, 1, (3, 3), (2, 2), "same"),  # overlapping windows
    (1, 6, 5, 2, (2, 3), (1, 2), "valid"),
    (2, 5, 5, 2, (2, 2), (2, 2), (1, 0, 1, 0)),
]


def pool_case(case, rng):
    N, H, W, C, pool, stride, padding = case
    _, pad = ref.padding_2d((H, W), pool, stride, padding)
    return rng.standard_normal((N, H, W, C)), pool, stride, pad


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_maxpool_ref_matches_loops(case):
    x, pool, stride, pad = pool_case(case, np.random.default_rng(3))
    np.testing.assert_array_equal(
        ref.maxpool_ref(x, pool, stride, pad), maxpool_direct(x, pool, stride, pad)
    )


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_maxpool_ref_backward_matches_finite_differences(case):
    rng = np.random.default_rng(4)
    # continuous values: no ties, the max is differentiable
    x, pool, stride, pad = pool_case(case, rng)
    G = rng.standard_normal(ref.maxpool_ref(x, pool, stride, pad).shape)

    def loss():
        return float(np.sum(G * ref.maxpool_ref(x, pool, stride, pad)))

    dx = ref.maxpool_ref_backward(G, x, pool, stride, pad)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-6, atol=1e-7)


def test_maxpool_padding_never_wins():
    # all negative, so a zero pad would win
    x = -np.ones((1, 3, 3, 1)) - np.arange(9.0).reshape(1, 3, 3, 1)
    out = ref.maxpool_ref(x, (2, 2), (2, 2), (0, 1, 0, 1))
    np.testing.assert_array_equal(out[0, :, :, 0], [[-1, -3], [-7, -9]])


def test_maxpool_ties_go_to_the_first_maximum_in_row_major_order():
    x = np.zeros((1, 2, 2, 1))  # one window, four equal values
    dx = ref.maxpool_ref_backward(np.ones((1, 1, 1, 1)), x)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0], [0, 0]])
    x = np.array([[0.0, 1.0], [1.0, 0.0]]).reshape(1, 2, 2, 1)  # tie between (0, 1) and (1, 0)
    dx = ref.maxpool_ref_backward(np.full((1, 1, 1, 1), 5.0), x)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 5], [0, 0]])


# -- dense, relu, dropout, softmax cross-entropy -----------------------------------------------


def test_dense_ref_and_backward():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 3)), rng.standard_normal(3)
    out = ref.dense_ref(x, w, b)
    np.testing.assert_allclose(out, np.einsum("nd,dm->nm", x, w) + b, rtol=1e-12)
    G = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(G * ref.dense_ref(x, w, b)))

    dx, dw, db = ref.dense_ref_backward(G, x, w)
    for analytic, param in ((dx, x), (dw, w), (db, b)):
        np.testing.assert_allclose(analytic, numerical_gradient(loss, param), rtol=1e-6, atol=1e-8)


def test_relu_and_dropout():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(ref.relu_ref(x), [[0, 0, 3]])
    np.testing.assert_array_equal(ref.relu_ref_backward(np.ones_like(x), x), [[0, 0, 1]])
    keep = np.array([[True, False, True]])
    np.testing.assert_allclose(ref.dropout_ref(x, keep, 0.25), [[-2 / 0.75, 0, 4]])
    np.testing.assert_allclose(
        ref.dropout_ref_backward(np.ones_like(x), keep, 0.25), [[1 / 0.75, 0, 1 / 0.75]]
    )


def test_softmax_cross_entropy_ref():
    rng = np.random.default_rng(6)
    logits, y = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    loss, dlogits = ref.softmax_cross_entropy_ref(logits, y)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(5), y])), rel=1e-12)

    def f():
        return ref.softmax_cross_entropy_ref(logits, y)[0]

    np.testing.assert_allclose(dlogits, numerical_gradient(f, logits), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ref.softmax_ref(logits).sum(axis=1), 1, rtol=1e-12)


def test_softmax_cross_entropy_is_stable_for_large_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 1000.0]], dtype=np.float32)
    loss, d = ref.softmax_cross_entropy_ref(logits, np.array([2, 1]))
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    assert loss == pytest.approx((2000 + np.log(2)) / 2, rel=1e-5)


# -- the whole network ----------------------------------------------------------------------


def small_batch(n, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28, 1)).astype(dtype), rng.integers(0, 10, n)


def test_numpy_cnn_has_the_lessons_parameter_count_and_layouts():
    params = ref.init_params(0)
    assert {k: v.shape for k, v in params.items()} == ref.param_shapes()
    assert sum(v.size for v in params.values()) == 3_241_354
    model = ref.NumpyCNN(params)
    assert model.n_params() == 3_241_354
    for name, value in model.params().items():  # the layout conversions invert each other
        np.testing.assert_array_equal(value, params[name], err_msg=name)


def test_numpy_cnn_is_the_composition_of_the_nhwc_references():
    """The model (NCHW inside, dense1's rows reordered) against the op references chained in
    nbengine's layouts, where flatten reads (h, w, c): this checks the flatten permutation."""
    params = ref.init_params(1, np.float64)
    x, y = small_batch(3, dtype=np.float64)
    p = params
    h = ref.relu_ref(ref.conv2d_ref(x, p["conv1.w"], p["conv1.b"], (1, 1), (1, 1, 1, 1)))
    h = ref.maxpool_ref(h, (2, 2), (2, 2), (0, 0, 0, 0))
    h = ref.relu_ref(ref.conv2d_ref(h, p["conv2.w"], p["conv2.b"], (1, 1), (1, 1, 1, 1)))
    h = ref.maxpool_ref(h, (2, 2), (2, 2), (0, 0, 0, 0))
    h = ref.relu_ref(ref.dense_ref(h.reshape(3, -1), p["dense1.w"], p["dense1.b"]))
    logits = ref.dense_ref(h, p["dense2.w"], p["dense2.b"])
    model = ref.NumpyCNN(params, dropout=0.0)
    np.testing.assert_allclose(
        model.predict_proba(x), ref.softmax_ref(logits), rtol=1e-12, atol=1e-15
    )
    assert model.loss(x, y) == pytest.approx(ref.softmax_cross_entropy_ref(logits, y)[0], rel=1e-12)


def test_numpy_cnn_gradients_match_finite_differences():
    params = ref.init_params(2, np.float64)
    x, y = small_batch(2, seed=1, dtype=np.float64)
    model = ref.NumpyCNN(params, dropout=0.0)
    model.loss_and_backward(x, y)
    grads = model.grads()

    def loss():
        # a new network from the perturbed parameters
        return ref.NumpyCNN(params, dropout=0.0).loss(x, y)

    rng = np.random.default_rng(7)
    results = []
    # three entries of each; a ReLU or a max pool's kink within eps would blur one
    for name, p in params.items():
        entries = [
            np.ravel_multi_index(tuple(rng.integers(0, n) for n in p.shape), p.shape)
            for _ in range(3)
        ]
        results.append(
            compare(
                f"{name}{entries}",
                grads[name].reshape(-1)[entries],
                numerical_gradient(loss, p, entries=entries),
                rtol=1e-5,
                atol=1e-8,
            )
        )
    assert_gradients_pass(results)


def test_numpy_cnn_sgd_lowers_the_loss():
    x, y = small_batch(4)
    model = ref.NumpyCNN(ref.init_params(0), lr=0.05, dropout=0.0)
    before = model.loss(x, y)
    losses = [model.train_step(x, y) for _ in range(3)]
    assert losses[0] == pytest.approx(before, rel=1e-6)
    assert losses[2] < losses[1] < losses[0]
    assert model.loss(x, y) < losses[2]


def test_numpy_cnn_dropout_is_on_in_training_only():
    x, y = small_batch(4)
    model = ref.NumpyCNN(ref.init_params(0))
    assert model.loss(x, y) == model.loss(x, y)  # inference: deterministic
    a, b = ref.NumpyCNN(ref.init_params(0), seed=1), ref.NumpyCNN(ref.init_params(0), seed=2)
    assert a.loss_and_backward(x, y) != b.loss_and_backward(x, y)  # different dropout masks


# -- PyTorch, the same network ------------------------------------------------------------------


def test_torch_cnn_matches_numpy_cnn():
    pytest.importorskip("torch")
    from benchmarks.cnn_torch import TorchCNN

    params = ref.init_params(3)
    x, y = small_batch(8)
    mine, theirs = ref.NumpyCNN(params, dropout=0.0), TorchCNN(params, dropout=0.0, threads=1)
    np.testing.assert_allclose(theirs.predict_proba(x), mine.predict_proba(x), rtol=1e-4, atol=1e-6)
    assert theirs.loss(x, y) == pytest.approx(mine.loss(x, y), rel=1e-5)
    mine.loss_and_backward(x, y)
    theirs.loss_and_backward(x, y)
    for name, g in mine.grads().items():
        np.testing.assert_allclose(theirs.grads()[name], g, rtol=1e-3, atol=1e-6, err_msg=name)
    for name, p in theirs.params().items():  # the layout conversions invert each other
        np.testing.assert_array_equal(p, params[name], err_msg=name)


def test_torch_cnn_pads_like_tensorflow():
    """Keras's "same" for stride 2 on an even input is (0, 1) per axis, which PyTorch's own
    padding argument cannot express; the explicit F.pad must give the reference's output."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    rng = np.random.default_rng(8)
    x, w, b = (
        rng.standard_normal((2, 8, 8, 2)),
        rng.standard_normal((3, 3, 2, 4)),
        rng.standard_normal(4),
    )
    (_, _), (t, bo, l, r) = ref.padding_2d((8, 8), (3, 3), (2, 2), "same")
    assert (t, bo, l, r) == (0, 1, 0, 1)
    xt = F.pad(torch.from_numpy(x).permute(0, 3, 1, 2), (l, r, t, bo))
    out = F.conv2d(
        xt, torch.from_numpy(w.transpose(3, 2, 0, 1).copy()), torch.from_numpy(b), stride=2
    )
    np.testing.assert_allclose(
        out.permute(0, 2, 3, 1).numpy(),
        ref.conv2d_ref(x, w, b, (2, 2), (t, bo, l, r)),
        rtol=1e-10,
        atol=1e-10,
    )
