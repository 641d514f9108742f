"""The CNN's layers and the lesson's model (nbengine.models.cnn.CNN).

The layers against the NumPy references and finite differences; the model's
shape and parameter count against the lesson's Keras summary, its forward and
backward against the independent NumPy network (tests/reference/cnn_numpy.py)
and against float64 finite differences for entries of every parameter, both
places of the dropout, training, saving, and bit-for-bit repeatable training
steps whatever the number of threads.
"""

from __future__ import annotations

import json

import numba
import numpy as np
import pytest
from helpers import f64

from nbengine import checkpoint
from nbengine.errors import CheckpointError
from nbengine.gradcheck import check_gradients, spot_check_gradients
from nbengine.layers.conv2d import Conv2D
from nbengine.layers.dense import Dense
from nbengine.layers.dropout import Dropout
from nbengine.layers.flatten import Flatten
from nbengine.layers.losses import CrossEntropy, SoftmaxCrossEntropy
from nbengine.layers.pooling import MaxPool2D
from nbengine.models.cnn import CNN
from nbengine.optim import SGD, Adam
from nbengine.testing import assert_close, assert_gradients_pass
from tests.reference import cnn_numpy as ref

LOG_EPS = -np.log(1e-7)  # 16.118..., the loss of a true class whose probability was dropped


def images(n, seed=0, dtype=np.float32):
    """n images of 28×28×1 pixels in [0, 1] and labels 0-9."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (n, 28, 28, 1)).astype(dtype)
    y = rng.integers(0, 10, n).astype(np.int64)
    return x, y


def build(layer, input_shape, dtype=np.float64, seed=0):
    layer.build(input_shape, dtype, np.random.default_rng(seed))
    return layer


def layer_gradcheck(layer, x, G, rtol=1e-6, atol=1e-9):
    """Check dL/dx and dL/d(every parameter) of L = sum(G * layer(x)) against finite differences."""
    layer.forward(x, training=True)
    dx = layer.backward(G, need_dx=True).copy()
    analytic = {"x": dx, **{k: g.copy() for k, g in layer.grads.items()}}
    params = {"x": x, **layer.params}
    return check_gradients(
        lambda: float(np.sum(G * layer.forward(x, training=True))),
        params,
        analytic,
        rtol=rtol,
        atol=atol,
    )


# == layers =============================================================================================


@pytest.mark.parametrize("activation", [None, "relu"], ids=["linear", "relu"])
@pytest.mark.parametrize(
    "kernel_size, strides, padding",
    [
        pytest.param((3, 3), (1, 1), "same", id="3x3-s1-same"),
        pytest.param((3, 3), (2, 2), "same", id="3x3-s2-same"),
        pytest.param((3, 2), (2, 1), "valid", id="3x2-s2x1-valid"),
    ],
)
def test_conv2d_layer_matches_reference(kernel_size, strides, padding, activation):
    rng = np.random.default_rng(1)
    layer = build(Conv2D("c", 4, kernel_size, strides, padding, activation), (7, 6, 3))
    layer.params["b"][...] = rng.uniform(-0.5, 0.5, 4)
    x = rng.uniform(-1, 1, (10, 7, 6, 3))  # 10 samples: 8 parts of the weight gradient
    pad = ref.padding_2d((7, 6), kernel_size, strides, padding)[1]
    w, b = layer.params["w"], layer.params["b"]
    z = ref.conv2d_ref(x, w, b, strides, pad)
    expected = ref.relu_ref(z) if activation == "relu" else z
    out = layer.forward(x, training=True)
    assert out.shape == (10,) + layer.output_shape
    assert_close("conv layer out", out, expected, atol=1e-12)
    G = rng.uniform(-1, 1, out.shape)
    dz = ref.relu_ref_backward(G, z) if activation == "relu" else G
    ref_dx, ref_dw, ref_db = ref.conv2d_ref_backward(dz, x, w, b, strides, pad)
    dx = layer.backward(G)
    assert_close("conv layer dx", dx, ref_dx, atol=1e-12)
    assert_close("conv layer dw", layer.grads["w"], ref_dw, atol=1e-12)
    assert_close("conv layer db", layer.grads["b"], ref_db, atol=1e-12)
    # a second backward pass replaces the gradients, it does not add to them
    layer.forward(x, training=True)
    layer.backward(G)
    assert_close("conv layer dw, second pass", layer.grads["w"], ref_dw, atol=1e-12)
    assert layer.backward(G, need_dx=False) is None
    assert_close("conv layer dw without dx", layer.grads["w"], ref_dw, atol=1e-12)


@pytest.mark.parametrize(
    "strides, padding",
    [
        pytest.param((1, 1), "same", id="s1-same"),
        pytest.param((2, 2), "same", id="s2-same"),
    ],
)
def test_conv2d_layer_gradients_match_finite_differences(strides, padding, one_thread):
    rng = np.random.default_rng(2)
    layer = build(Conv2D("c", 3, (3, 3), strides, padding, "relu"), (5, 5, 2))
    layer.params["b"][...] = rng.uniform(-0.3, 0.3, 3)
    x = rng.uniform(-1, 1, (2, 5, 5, 2))
    G = rng.uniform(-1, 1, (2,) + layer.output_shape)
    assert_gradients_pass(layer_gradcheck(layer, x, G, atol=1e-8))


@pytest.mark.parametrize(
    "activation, emit_logits",
    [
        pytest.param(None, False, id="linear"),
        pytest.param("relu", False, id="relu"),
        pytest.param("softmax", False, id="softmax"),
        pytest.param("softmax", True, id="softmax-emitting-logits"),
    ],
)
def test_dense_layer_matches_reference_and_finite_differences(activation, emit_logits, one_thread):
    rng = np.random.default_rng(3)
    layer = build(Dense("d", 6, activation), (9,))
    layer.emit_logits = emit_logits
    layer.params["b"][...] = rng.uniform(-0.5, 0.5, 6)
    x = rng.uniform(-1, 1, (5, 9))
    z = ref.dense_ref(x, layer.params["w"], layer.params["b"])
    expected = {None: z, "relu": ref.relu_ref(z), "softmax": ref.softmax_ref(z)}[
        None if emit_logits else activation
    ]
    assert_close("dense layer out", layer.forward(x, training=True), expected, atol=1e-12)
    G = rng.uniform(-1, 1, (5, 6))
    assert_gradients_pass(layer_gradcheck(layer, x, G))
    assert layer.backward(G, need_dx=False) is None


@pytest.mark.parametrize(
    "pool, strides, padding",
    [
        pytest.param((2, 2), (2, 2), "same", id="2x2-s2-same"),
        pytest.param((3, 3), (2, 2), "valid", id="3x3-s2-valid-overlap"),
    ],
)
def test_maxpool_layer_matches_reference(pool, strides, padding):
    rng = np.random.default_rng(4)
    layer = build(MaxPool2D("p", pool, strides, padding), (7, 7, 3))
    assert layer.n_params == 0
    x = rng.uniform(-1, 1, (2, 7, 7, 3))
    pad = ref.padding_2d((7, 7), pool, strides, padding)[1]
    out = layer.forward(x, training=True)
    assert out.shape == (2,) + layer.output_shape
    assert_close("pool layer out", out, ref.maxpool_ref(x, pool, strides, pad), atol=0, rtol=0)
    G = rng.uniform(-1, 1, out.shape)
    expected = ref.maxpool_ref_backward(G, x, pool, strides, pad)
    assert_close("pool layer dx", layer.backward(G), expected, atol=1e-15)
    # the gradient buffer is reused: a second pass must start again from zero
    assert_close("pool layer dx, second pass", layer.backward(G), expected, atol=1e-15)


def test_maxpool_layer_keras_default_stride_is_the_pool_size():
    layer = build(MaxPool2D("p", (2, 2)), (28, 28, 32))
    assert layer.strides == (2, 2) and layer.output_shape == (14, 14, 32)


def test_flatten_layer_order_and_gradient():
    layer = build(Flatten("f"), (2, 3, 4))
    assert layer.output_shape == (24,)
    x = np.arange(48.0).reshape(2, 2, 3, 4)
    out = layer.forward(x, training=True)
    assert np.array_equal(out, x.reshape(2, 24))  # (h, w, c) order
    G = np.arange(48.0).reshape(2, 24) * -1
    assert np.array_equal(layer.backward(G), G.reshape(2, 2, 3, 4))


def test_dropout_layer_drops_a_share_and_scales_the_rest():
    layer = build(Dropout("drop", 0.25, seed=5), (1000,))
    x = np.random.default_rng(6).uniform(0.5, 1.5, (4, 1000))
    out = layer.forward(x, training=True)
    kept = out != 0
    assert 0.72 < kept.mean() < 0.78  # 4,000 draws of keep-with-probability 0.75
    assert_close("kept values", out[kept], x[kept] / 0.75, atol=1e-15)
    G = np.ones_like(x)
    dx = layer.backward(G)
    assert np.array_equal(dx != 0, kept)  # the same mask on the way back
    assert_close("kept gradients", dx[kept], np.full(kept.sum(), 1 / 0.75), atol=1e-15)
    # a new mask for every batch
    assert not np.array_equal(layer.forward(x, training=True) != 0, kept)


def test_dropout_layer_masks_repeat_with_the_seed_and_vanish_at_inference():
    x = np.ones((3, 50))
    a = build(Dropout("a", 0.5, seed=7), (50,))
    b = build(Dropout("b", 0.5, seed=7), (50,))
    c = build(Dropout("c", 0.5, seed=8), (50,))
    out_a = a.forward(x, training=True).copy()
    assert np.array_equal(out_a, b.forward(x, training=True))
    assert not np.array_equal(out_a, c.forward(x, training=True))
    assert a.forward(x, training=False) is x
    assert a.backward(x) is x
    zero = build(Dropout("z", 0.0), (50,))
    assert zero.forward(x, training=True) is x  # rate 0: nothing to drop, even in training


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_layer_refuses_a_rate_outside_0_1(rate):
    with pytest.raises(ValueError):
        Dropout("d", rate)


def test_cross_entropy_layer_dropped_true_class_costs_16_118_and_gives_no_gradient():
    loss_fn = CrossEntropy()
    p = np.array(
        [
            [0.0, 0.5, 0.5],  # the true class's probability was dropped
            [0.2, 0.3, 0.5],
        ]
    )
    loss = loss_fn.forward(p, np.array([0, 2]))
    assert LOG_EPS == pytest.approx(16.118095650958319)
    assert loss == pytest.approx((LOG_EPS + np.log(2.0)) / 2, rel=1e-12)
    dp = loss_fn.backward()
    assert np.all(dp[0] == 0)
    assert_close("dp, second sample", dp[1], np.array([1.0, 1.0, 1.0 - 2.0]) / 2, atol=1e-15)
    # float32, as the model trains: the same clip at float32's 1e-7
    both_dropped = np.array([[0.0, 0.5, 0.5], [0.0, 0.3, 0.7]], np.float32)
    assert CrossEntropy().forward(both_dropped, np.array([0, 0])) == pytest.approx(
        LOG_EPS, rel=1e-6
    )


# == the model: shape, parameters, summary ==============================================================


def test_parameter_count_and_summary_default_order():
    model = CNN()
    assert model.n_params == 3_241_354
    rows = model.summary()
    assert [(r.name, r.kind, r.output_shape, r.params) for r in rows] == [
        ("conv1", "Conv2D", (28, 28, 32), 320),
        ("pool1", "MaxPooling2D", (14, 14, 32), 0),
        ("conv2", "Conv2D", (14, 14, 64), 18_496),
        ("pool2", "MaxPooling2D", (7, 7, 64), 0),
        ("flatten", "Flatten", (3136,), 0),
        ("dense1", "Dense", (1024,), 3_212_288),
        ("dropout", "Dropout", (1024,), 0),
        ("dense2", "Dense", (10,), 10_250),
    ]
    assert sum(r.params for r in rows) == 3_241_354
    assert {k: v.shape for k, v in model.params.items()} == ref.param_shapes()
    assert all(v.dtype == np.float32 for v in model.params.values())
    assert isinstance(model.loss_fn, SoftmaxCrossEntropy)


def test_parameter_count_and_summary_as_written():
    model = CNN(as_written=True)
    assert model.n_params == 3_241_354
    assert [(r.name, r.output_shape) for r in model.summary()][-3:] == [
        ("dense1", (1024,)),
        ("dense2", (10,)),
        ("dropout", (10,)),
    ]
    assert isinstance(model.loss_fn, CrossEntropy)


def test_both_orders_start_from_the_same_parameters():
    a, b = CNN(seed=3), CNN(seed=3, as_written=True)
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
    c = CNN(seed=4)
    assert not np.array_equal(a.params["conv1.w"], c.params["conv1.w"])
    # Keras starts biases at 0
    assert all(np.all(c.params[k] == 0) for k in c.params if k.endswith(".b"))


def test_model_refuses_images_of_the_wrong_shape():
    with pytest.raises(ValueError, match="28, 28, 1"):
        CNN().predict_proba(np.zeros((2, 28, 28)))


# == the model against the independent NumPy network ====================================================


@pytest.mark.parametrize(
    "dtype", [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
)
def test_model_matches_the_numpy_network(dtype):
    """Forward, loss and every gradient against NumpyCNN (im2col, NCHW inside, dense1's
    rows reordered), with dropout off so both compute the same function."""
    model = CNN(seed=1, dtype=dtype, dropout=0.0)
    numpy_net = ref.NumpyCNN({k: f64(v) for k, v in model.params.items()}, dropout=0.0)
    x, y = images(5, seed=1, dtype=dtype)
    atol, rtol = (1e-12, 1e-9) if dtype == np.float64 else (1e-5, 1e-3)
    assert_close(
        "probabilities",
        model.predict_proba(x),
        numpy_net.predict_proba(f64(x)),
        atol=atol,
        rtol=rtol,
    )
    loss = model.loss_and_backward(x, y)
    ref_loss = numpy_net.loss_and_backward(f64(x), y)
    assert loss == pytest.approx(ref_loss, rel=rtol)
    ref_grads = numpy_net.grads()
    for name, g in model.grads.items():
        assert g.dtype == dtype
        scale = float(np.abs(ref_grads[name]).max())
        assert_close(
            f"dL/d{name}", g, ref_grads[name], atol=atol * max(scale, 1e-3) * 10, rtol=rtol
        )


def test_sgd_steps_match_the_numpy_networks_training_steps():
    model = CNN(seed=2, dtype=np.float64, dropout=0.0)
    numpy_net = ref.NumpyCNN({k: v.copy() for k, v in model.params.items()}, lr=0.05, dropout=0.0)
    opt = SGD(model.params, model.grads, lr=0.05)
    x, y = images(4, seed=2, dtype=np.float64)
    for step in range(3):
        loss = model.loss_and_backward(x, y)
        opt.step()
        assert loss == pytest.approx(numpy_net.train_step(x, y), rel=1e-10), step
    for name, p in numpy_net.params().items():
        assert_close(f"{name} after 3 SGD steps", model.params[name], p, atol=1e-12, rtol=1e-9)


# == the model against finite differences ===============================================================


@pytest.mark.parametrize("as_written", [False, True], ids=["default-order", "as-written"])
def test_model_gradients_match_finite_differences_for_every_parameter(as_written, one_thread):
    """Entries of every parameter: the three with the largest gradient and three at random
    (often exactly 0, behind a ReLU that is off: the numeric gradient must agree)."""
    model = CNN(seed=5, dtype=np.float64, as_written=as_written, dropout=0.0)
    x, y = images(3, seed=5, dtype=np.float64)
    model.loss_and_backward(x, y)
    grads = {k: g.copy() for k, g in model.grads.items()}
    assert all(np.any(g != 0) for g in grads.values())

    def loss():
        return model.loss_fn.forward(model.forward(x, training=True), y)

    assert_gradients_pass(
        spot_check_gradients(
            loss,
            model.params,
            grads,
            np.random.default_rng(6),
            largest=3,
            random=3,
            rtol=1e-5,
            atol=1e-9,
        )
    )


# == dropout in training and inference, in both orders ==================================================


def test_as_written_dropped_true_class_gives_16_118_and_no_gradient():
    """As written, Dropout acts on the ten probabilities. Seeded: the first training
    forward pass of a model built with seed 0 drops at least one class of each of these
    four images; make each image's true class one that is dropped."""
    x, _ = images(4, seed=0)
    probe = CNN(seed=0, as_written=True)
    dropped = probe.forward(x, training=True) == 0
    assert dropped.any(axis=1).all()
    y = np.argmax(dropped, axis=1)  # the first dropped class of each image

    model = CNN(seed=0, as_written=True)  # the same seed: the same first mask
    loss = model.loss_and_backward(x, y)
    assert model.loss_fn.clipped.tolist() == [1, 1, 1, 1]
    assert loss == pytest.approx(LOG_EPS, rel=1e-6)  # -log(1e-7) ≈ 16.118 for every image
    for name, g in model.grads.items():
        assert np.all(g == 0), f"{name}: a clipped loss must send no gradient"


def test_as_written_loss_of_kept_classes_uses_normalised_probabilities():
    x, _ = images(4, seed=0)
    probe = CNN(seed=0, as_written=True)
    p = f64(probe.forward(x, training=True))
    y = np.argmax(p, axis=1)  # a kept class
    t = p[np.arange(4), y] / p.sum(axis=1)
    loss = CNN(seed=0, as_written=True).loss_and_backward(x, y)
    assert loss == pytest.approx(float(np.mean(-np.log(t))), rel=1e-5)


@pytest.mark.parametrize("as_written", [False, True], ids=["default-order", "as-written"])
def test_predict_proba_sums_to_one_and_dropout_is_off_at_inference(as_written):
    model = CNN(seed=7, as_written=as_written)
    x, _ = images(6, seed=7)
    p = model.predict_proba(x)
    assert p.shape == (6, 10) and p.dtype == np.float32
    assert np.all(p >= 0)
    assert_close("row sums", p.sum(axis=1, dtype=np.float64), np.ones(6), atol=1e-6)
    assert np.array_equal(model.predict_proba(x), p)  # no random mask at inference
    # the same weights without any dropout layer activity give the very same probabilities
    assert np.array_equal(CNN(seed=7, as_written=as_written, dropout=0.0).predict_proba(x), p)
    # in batches of 4 then 2 (work arrays resized between them)
    assert_close("in batches", model.predict_proba(x, batch_size=4), p, atol=1e-7, rtol=1e-6)
    assert np.array_equal(model.predict(x), np.argmax(p, axis=1))


def test_both_orders_predict_the_same_at_inference():
    x, _ = images(5, seed=8)
    a, b = CNN(seed=8), CNN(seed=8, as_written=True)
    assert_close(
        "default vs as written", a.predict_proba(x), b.predict_proba(x), atol=1e-7, rtol=1e-6
    )
    y = np.arange(5)
    assert a.loss(x, y) == pytest.approx(b.loss(x, y), rel=1e-5)


def test_dropout_is_on_in_training():
    x, y = images(4, seed=9)
    model = CNN(seed=9)
    first, second = model.loss_and_backward(x, y), model.loss_and_backward(x, y)
    assert first != second  # two masks
    assert model.loss(x, y) == model.loss(x, y)


# == training ===========================================================================================


def test_a_few_adam_steps_lower_the_loss_on_a_fixed_batch():
    x, y = images(8, seed=10)
    model = CNN(seed=10)
    opt = Adam(model.params, model.grads, lr=1e-3)
    before = model.loss(x, y)
    for _ in range(5):
        loss = model.loss_and_backward(x, y)
        assert np.isfinite(loss)
        opt.step()
    after = model.loss(x, y)
    assert after < before - 0.3, (before, after)
    assert all(p.dtype == np.float32 for p in model.params.values())


# == saving and loading =================================================================================


@pytest.mark.parametrize(
    "dtype, as_written",
    [
        pytest.param(np.float32, False, id="float32-default-order"),
        pytest.param(np.float64, True, id="float64-as-written"),
    ],
)
def test_save_and_load_round_trip(tmp_path, dtype, as_written):
    x, y = images(4, seed=11, dtype=dtype)
    model = CNN(seed=11, dtype=dtype, as_written=as_written, dropout=0.3)
    model.loss_and_backward(x, y)
    Adam(model.params, model.grads).step()  # no longer the seed's initial weights
    path = tmp_path / "cnn.npz"
    model.save(path)
    loaded = CNN.load(path)
    assert loaded.config() == model.config()
    assert loaded.as_written == as_written and loaded.dtype == dtype and loaded.dropout_rate == 0.3
    for name, p in model.params.items():
        assert loaded.params[name].dtype == dtype
        assert np.array_equal(loaded.params[name], p), name
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))


def write_checkpoint(path, config, arrays):
    """A checkpoint file written directly in the format nbengine reads (save itself refuses NaN)."""
    np.savez(
        path,
        __format__=np.array(checkpoint.FORMAT_VERSION),
        __model__=np.array("cnn"),
        __config__=np.array(json.dumps(config)),
        __arrays__=np.array(sorted(arrays), dtype=str),
        **arrays,
    )


def test_loading_a_nan_parameter_is_a_checkpoint_error(tmp_path):
    model = CNN(seed=12)
    arrays = {k: v.copy() for k, v in model.params.items()}
    arrays["conv2.w"][1, 2, 3, 4] = np.nan
    path = tmp_path / "nan.npz"
    write_checkpoint(path, model.config(), arrays)
    with pytest.raises(CheckpointError, match="conv2.w"):
        CNN.load(path)


def test_loading_a_wrong_shape_is_a_checkpoint_error(tmp_path):
    model = CNN(seed=12)
    arrays = dict(model.params)
    arrays["dense1.w"] = np.zeros((3136, 512), np.float32)
    path = tmp_path / "shape.npz"
    checkpoint.save(path, "cnn", model.config(), arrays)
    with pytest.raises(CheckpointError, match="dense1.w"):
        CNN.load(path)


def test_loading_a_checkpoint_missing_a_parameter_is_a_checkpoint_error(tmp_path):
    model = CNN(seed=12)
    arrays = {k: v for k, v in model.params.items() if k != "dense2.b"}
    path = tmp_path / "missing.npz"
    checkpoint.save(path, "cnn", model.config(), arrays)
    with pytest.raises(CheckpointError, match="dense2.b"):
        CNN.load(path)


# == the same bits whatever the number of threads =======================================================


def training_run(seed=13):
    """Two Adam steps of a float32 model with dropout on (default order): the losses,
    the gradients of the last step and the parameters after it."""
    x, y = images(10, seed=seed)  # 10 images: the conv layers cut them into 8 uneven parts
    model = CNN(seed=seed)
    opt = Adam(model.params, model.grads, lr=1e-3)
    losses = []
    for _ in range(2):
        losses.append(model.loss_and_backward(x, y))
        opt.step()
    return (
        losses,
        {k: g.copy() for k, g in model.grads.items()},
        {k: p.copy() for k, p in model.params.items()},
    )


def test_a_training_step_is_bit_identical_for_any_thread_count_and_run(thread_counts):
    runs = []
    for n in thread_counts:
        numba.set_num_threads(n)
        runs.append((f"{n} threads", training_run()))
        runs.append((f"{n} threads, second run", training_run()))
    (label0, (losses0, grads0, params0)), rest = runs[0], runs[1:]
    for label, (losses, grads, params) in rest:
        assert losses == losses0, (label, losses, losses0)
        for name in params0:
            for kind, a, b in (
                ("grad", grads[name], grads0[name]),
                ("param", params[name], params0[name]),
            ):
                if a.tobytes() != b.tobytes():
                    assert_close(f"{kind} {name}: {label} vs {label0}", a, b, atol=0, rtol=0)
                    raise AssertionError(f"{kind} {name}: {label} vs {label0}: different bits")
