"""The NumPy references of the recurrent language models, checked on their own so they can judge the kernels.

Each op reference is compared with a second, direct formulation (one einsum per
time step) and its backward pass with float64 central differences; the LSTM's
gate order with a case worked by hand; the whole model with the op references
chained, with finite differences, and with PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest

from nbengine.gradcheck import numerical_gradient
from tests.reference import rnn_numpy as ref


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def rnn_direct(xs, h0, Wx, Wh, b):
    h, hs = h0, []
    for t in range(xs.shape[1]):
        h = np.tanh(np.einsum("nd,dh->nh", xs[:, t], Wx) + np.einsum("nk,kh->nh", h, Wh) + b)
        hs.append(h)
    return np.stack(hs, axis=1)


def lstm_direct(xs, h0, c0, Wx, Wh, b):
    """The LSTM written from its equations, each gate with its own slice of the weights."""
    H = h0.shape[1]
    h, c, hs, cs = h0, c0, [], []
    block = {
        "f": slice(0, H),
        "g": slice(H, 2 * H),
        "i": slice(2 * H, 3 * H),
        "o": slice(3 * H, 4 * H),
    }

    def a(gate, x, h):
        s = block[gate]
        return x @ Wx[:, s] + h @ Wh[:, s] + b[s]

    for t in range(xs.shape[1]):
        x = xs[:, t]
        f, g, i, o = (
            sigmoid(a("f", x, h)),
            np.tanh(a("g", x, h)),
            sigmoid(a("i", x, h)),
            sigmoid(a("o", x, h)),
        )
        c = f * c + g * i
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.stack(hs, axis=1), np.stack(cs, axis=1)


def rnn_case(N=2, T=4, D=3, H=5, seed=0, gates=1):
    rng = np.random.default_rng(seed)
    G = gates * H
    return (
        rng.standard_normal((N, T, D)),
        rng.standard_normal((N, H)) * 0.5,
        rng.standard_normal((D, G)) * 0.6,
        rng.standard_normal((H, G)) * 0.6,
        rng.standard_normal(G) * 0.3,
    )


# -- RNN ------------------------------------------------------------------------------------


def test_rnn_ref_matches_the_direct_formulation():
    xs, h0, Wx, Wh, b = rnn_case()
    np.testing.assert_allclose(
        ref.rnn_ref(xs, h0, Wx, Wh, b), rnn_direct(xs, h0, Wx, Wh, b), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("with_dhT", [False, True])
def test_rnn_ref_backward_matches_finite_differences(with_dhT):
    xs, h0, Wx, Wh, b = rnn_case(seed=1)
    rng = np.random.default_rng(2)
    # L = Σ G · hs (+ Σ gT · h_T), so dL/dhs = G
    G = rng.standard_normal(ref.rnn_ref(xs, h0, Wx, Wh, b).shape)
    gT = rng.standard_normal(h0.shape) if with_dhT else np.zeros_like(h0)

    def loss():
        hs = ref.rnn_ref(xs, h0, Wx, Wh, b)
        return float(np.sum(G * hs) + np.sum(gT * hs[:, -1]))

    dxs, dWx, dWh, db, dh0 = ref.rnn_ref_backward(G, xs, h0, Wx, Wh, b, gT if with_dhT else None)
    for analytic, param in ((dxs, xs), (dWx, Wx), (dWh, Wh), (db, b), (dh0, h0)):
        assert analytic.shape == param.shape
        np.testing.assert_allclose(analytic, numerical_gradient(loss, param), rtol=1e-6, atol=1e-8)


# -- LSTM ------------------------------------------------------------------------------------


def test_lstm_ref_matches_the_direct_formulation():
    xs, h0, Wx, Wh, b = rnn_case(gates=4, seed=3)
    c0 = np.random.default_rng(4).standard_normal(h0.shape)
    hs, cs, gates = ref.lstm_ref(xs, h0, c0, Wx, Wh, b)
    hs_d, cs_d = lstm_direct(xs, h0, c0, Wx, Wh, b)
    np.testing.assert_allclose(hs, hs_d, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cs, cs_d, rtol=1e-12, atol=1e-14)
    N, T, H = hs.shape
    assert gates.shape == (N, T, 4 * H)
    f, g, i, o = (gates[..., k * H : (k + 1) * H] for k in range(4))
    c_prev = np.concatenate([c0[:, None], cs[:, :-1]], axis=1)
    # the gates returned are the ones used
    np.testing.assert_allclose(cs, f * c_prev + g * i, rtol=1e-12)
    np.testing.assert_allclose(hs, o * np.tanh(cs), rtol=1e-12)


def test_lstm_gate_order_is_f_g_i_o():
    """One unit, one step, no input: the gates come from the bias alone, A = b = (a_f, a_g, a_i, a_o)."""
    Wx, Wh = np.zeros((1, 4)), np.zeros((1, 4))
    xs, h0, c0 = np.zeros((1, 1, 1)), np.zeros((1, 1)), np.full((1, 1), 0.7)
    # distinct values: any other order of the four blocks gives another c and h
    b = np.array([0.5, -1.0, 2.0, -0.3])
    hs, cs, gates = ref.lstm_ref(xs, h0, c0, Wx, Wh, b)
    f, g, i, o = sigmoid(0.5), np.tanh(-1.0), sigmoid(2.0), sigmoid(-0.3)
    np.testing.assert_allclose(gates[0, 0], [f, g, i, o], rtol=1e-14)
    assert cs[0, 0, 0] == pytest.approx(f * 0.7 + g * i, rel=1e-14)
    assert hs[0, 0, 0] == pytest.approx(o * np.tanh(f * 0.7 + g * i), rel=1e-14)
    # saturated gates, read as words: forget open, input shut, output open → h = tanh(c0)
    hs, cs, _ = ref.lstm_ref(xs, h0, c0, Wx, Wh, np.array([50.0, 3.0, -50.0, 50.0]))
    assert cs[0, 0, 0] == pytest.approx(0.7) and hs[0, 0, 0] == pytest.approx(np.tanh(0.7))
    # forget shut, input open with g = tanh(50) = 1, output shut → c = 1, h = 0
    hs, cs, _ = ref.lstm_ref(xs, h0, c0, Wx, Wh, np.array([-50.0, 50.0, 50.0, -50.0]))
    assert cs[0, 0, 0] == pytest.approx(1.0) and hs[0, 0, 0] == pytest.approx(0.0, abs=1e-20)


@pytest.mark.parametrize("with_last", [False, True])
def test_lstm_ref_backward_matches_finite_differences(with_last):
    xs, h0, Wx, Wh, b = rnn_case(N=2, T=3, D=3, H=2, gates=4, seed=5)
    rng = np.random.default_rng(6)
    c0 = rng.standard_normal(h0.shape)
    G = rng.standard_normal((2, 3, 2))
    gh = rng.standard_normal(h0.shape) if with_last else np.zeros_like(h0)
    gc = rng.standard_normal(h0.shape) if with_last else np.zeros_like(h0)

    def loss():
        hs, cs, _ = ref.lstm_ref(xs, h0, c0, Wx, Wh, b)
        return float(np.sum(G * hs) + np.sum(gh * hs[:, -1]) + np.sum(gc * cs[:, -1]))

    last = (gh, gc) if with_last else (None, None)
    dxs, dWx, dWh, db, dh0, dc0 = ref.lstm_ref_backward(G, xs, h0, c0, Wx, Wh, b, *last)
    for analytic, param in ((dxs, xs), (dWx, Wx), (dWh, Wh), (db, b), (dh0, h0), (dc0, c0)):
        assert analytic.shape == param.shape
        np.testing.assert_allclose(analytic, numerical_gradient(loss, param), rtol=1e-6, atol=1e-8)


def test_lstm_sigmoid_saturates_without_nan():
    x = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype=np.float32)
    s = ref.sigmoid(x)
    assert s.dtype == np.float32 and np.all(np.isfinite(s))
    np.testing.assert_array_equal(s[[0, 2, 4]], [0, 0.5, 1])


# -- embedding, affine, softmax cross-entropy, clipping ----------------------------------------


def test_embedding_ref_and_backward_collect_repeated_words():
    rng = np.random.default_rng(7)
    W = rng.standard_normal((5, 3))
    ids = np.array([[0, 2, 2], [4, 2, 0]])
    xs = ref.embedding_ref(ids, W)
    np.testing.assert_array_equal(xs, W[ids])
    G = rng.standard_normal(xs.shape)
    dW = ref.embedding_ref_backward(G, ids, 5)
    np.testing.assert_allclose(
        dW,
        numerical_gradient(lambda: float(np.sum(G * ref.embedding_ref(ids, W))), W),
        rtol=1e-6,
        atol=1e-9,
    )
    np.testing.assert_allclose(dW[2], G[0, 1] + G[0, 2] + G[1, 1], rtol=1e-14)  # three occurrences
    np.testing.assert_array_equal(dW[[1, 3]], 0)  # words that did not occur


def test_affine_ref_and_backward():
    rng = np.random.default_rng(8)
    hs, W, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 6)), rng.standard_normal(6)
    out = ref.affine_ref(hs, W, b)
    np.testing.assert_allclose(out, np.einsum("nth,hv->ntv", hs, W) + b, rtol=1e-12)
    G = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(G * ref.affine_ref(hs, W, b)))

    dhs, dW, db = ref.affine_ref_backward(G, hs, W)
    for analytic, param in ((dhs, hs), (dW, W), (db, b)):
        np.testing.assert_allclose(analytic, numerical_gradient(loss, param), rtol=1e-6, atol=1e-8)


def test_softmax_ce_ref_averages_over_the_counted_tokens():
    rng = np.random.default_rng(9)
    scores = rng.standard_normal((2, 3, 5))
    ts = np.array([[1, -1, 4], [0, 2, -1]])
    loss, d = ref.softmax_ce_ref(scores, ts)
    p = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    counted = [(n, t) for n in range(2) for t in range(3) if ts[n, t] != -1]
    assert loss == pytest.approx(
        -np.mean([np.log(p[n, t, ts[n, t]]) for n, t in counted]), rel=1e-12
    )
    np.testing.assert_array_equal(d[0, 1], 0)  # ignored tokens send nothing back
    np.testing.assert_array_equal(d[1, 2], 0)
    np.testing.assert_allclose(
        d,
        numerical_gradient(lambda: ref.softmax_ce_ref(scores, ts)[0], scores),
        rtol=1e-6,
        atol=1e-10,
    )
    np.testing.assert_allclose(d[0, 0].sum(), 0, atol=1e-15)  # (p − onehot) / 4 sums to 0 per token
    assert d[0, 0, 1] == pytest.approx((p[0, 0, 1] - 1) / 4, rel=1e-12)


def test_softmax_ce_ref_edge_cases():
    scores = np.array([[[1000.0, 0.0, -1000.0], [0.0, 1000.0, 1000.0]]], dtype=np.float32)
    loss, d = ref.softmax_ce_ref(scores, np.array([[2, 1]]))
    assert np.isfinite(loss) and np.all(np.isfinite(d)) and d.dtype == np.float32
    assert loss == pytest.approx((2000 + np.log(2)) / 2, rel=1e-5)
    loss, d = ref.softmax_ce_ref(scores, np.full((1, 2), -1))  # nothing counted
    assert loss == 0 and not d.any()
    loss, _ = ref.softmax_ce_ref(scores, np.full((1, 2), 7), ignore=7)  # another ignore label
    assert loss == 0


def test_clip_grads_scales_only_above_the_norm():
    a, b = np.array([3.0, 0.0]), np.array([[4.0]])
    assert ref.clip_grads([a, b], 10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(a, [3, 0])  # below the norm: untouched
    assert ref.clip_grads({"a": a, "b": b}.values(), 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose([a[0], b[0, 0]], [0.6, 0.8], rtol=1e-6)  # the same direction, norm 1
    g32 = np.full(4, 2.0, dtype=np.float32)
    ref.clip_grads([g32], 1.0)
    assert g32.dtype == np.float32 and np.linalg.norm(g32) == pytest.approx(1.0, rel=1e-6)


# -- the language models -----------------------------------------------------------------------

KINDS = {"rnn": ref.NumpyRNNLM, "lstm": ref.NumpyLSTMLM}


def lm_params(kind, V=7, D=4, H=3, seed=0, dtype=np.float64):
    p = ref.init_params(kind, V, D, H, seed, dtype)
    rng = np.random.default_rng(seed + 100)
    for name in p:  # non-zero biases and a larger embedding, so every gradient is exercised
        p[name] += (rng.standard_normal(p[name].shape) * 0.3).astype(dtype)
    return p


def ids(shape, V=7, seed=0, ignore_some=False):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, V, shape)
    if ignore_some:
        a[0, 1] = -1
    return a


@pytest.mark.parametrize("kind", KINDS)
def test_lm_parameters_have_nbengines_names_and_shapes(kind):
    p = ref.init_params(kind, 10, 6, 5)
    G = 4 * 5 if kind == "lstm" else 5
    assert {k: v.shape for k, v in p.items()} == {
        "embed.W": (10, 6),
        f"{kind}.Wx": (6, G),
        f"{kind}.Wh": (5, G),
        f"{kind}.b": (G,),
        "affine.W": (5, 10),
        "affine.b": (10,),
    }
    model = KINDS[kind](p)
    assert model.n_params() == sum(v.size for v in p.values())
    for name, value in model.params().items():
        np.testing.assert_array_equal(value, p[name])
    assert (
        KINDS[kind](vocab_size=10, embed_size=6, hidden_size=5).params()["embed.W"].dtype
        == np.float32
    )
    with pytest.raises(ValueError, match="do not fit"):
        KINDS[kind]({**p, "affine.W": np.zeros((4, 10))})


@pytest.mark.parametrize("kind", KINDS)
def test_lm_is_the_composition_of_the_op_references(kind):
    p = lm_params(kind)
    xs, ts = ids((2, 4), seed=1), ids((2, 4), seed=2, ignore_some=True)
    emb = ref.embedding_ref(xs, p["embed.W"])
    zeros = np.zeros((2, 3))
    if kind == "lstm":
        hs = ref.lstm_ref(emb, zeros, zeros, p["lstm.Wx"], p["lstm.Wh"], p["lstm.b"])[0]
    else:
        hs = ref.rnn_ref(emb, zeros, p["rnn.Wx"], p["rnn.Wh"], p["rnn.b"])
    loss, _ = ref.softmax_ce_ref(ref.affine_ref(hs, p["affine.W"], p["affine.b"]), ts)
    assert KINDS[kind](p).loss_and_backward(xs, ts) == pytest.approx(loss, rel=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_lm_gradients_match_finite_differences(kind):
    p = lm_params(kind, seed=3)
    xs, ts = ids((2, 3), seed=4), ids((2, 3), seed=5, ignore_some=True)
    model = KINDS[kind](p)
    model.loss_and_backward(xs, ts)
    grads = model.grads()
    for name, value in p.items():

        def loss():
            return KINDS[kind](p).loss_and_backward(xs, ts)  # a new model: the state starts at zero

        np.testing.assert_allclose(
            grads[name], numerical_gradient(loss, value), rtol=1e-5, atol=1e-8, err_msg=name
        )


@pytest.mark.parametrize("kind", KINDS)
def test_lm_carries_its_state_until_reset(kind):
    p = lm_params(kind, seed=6)
    xs = ids((2, 6), seed=7)
    whole = KINDS[kind](p).scores(xs)
    model = KINDS[kind](p)
    halves = np.concatenate([model.scores(xs[:, :4]), model.scores(xs[:, 4:])], axis=1)
    np.testing.assert_allclose(halves, whole, rtol=1e-12)  # the second call continues the first
    model.reset_state()
    np.testing.assert_allclose(
        model.scores(xs[:, 4:]), KINDS[kind](p).scores(xs[:, 4:]), rtol=1e-12
    )


@pytest.mark.parametrize("kind", KINDS)
def test_lm_train_step_clips_then_descends(kind):
    p = lm_params(kind, seed=8)
    xs, ts = ids((2, 4), seed=9), ids((2, 4), seed=10)
    plain = KINDS[kind](p)
    plain.loss_and_backward(xs, ts)
    g = plain.grads()
    norm = np.sqrt(sum(np.sum(v**2) for v in g.values()))
    max_norm = norm / 3  # so the step clips
    model = KINDS[kind](p, lr=0.5, max_norm=max_norm)
    model.train_step(xs, ts)
    for name, value in model.params().items():
        np.testing.assert_allclose(
            value,
            p[name] - 0.5 * g[name] * max_norm / (norm + 1e-6),
            rtol=1e-12,
            atol=1e-15,
            err_msg=name,
        )
    model = KINDS[kind](p, lr=0.5, max_norm=None)
    losses = []
    for _ in range(5):
        model.reset_state()
        losses.append(model.train_step(xs, ts))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("kind", KINDS)
def test_lm_keeps_float32(kind):
    p = {k: v.astype(np.float32) for k, v in lm_params(kind).items()}
    model = KINDS[kind](p)
    model.train_step(ids((2, 3)), ids((2, 3), seed=1))
    assert {v.dtype for v in (*model.params().values(), *model.grads().values())} == {
        np.dtype(np.float32)
    }


# -- PyTorch, the same models -----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "dtype, rtol, atol", [(np.float64, 1e-10, 1e-13), (np.float32, 1e-4, 1e-6)]
)
def test_torch_lm_matches_numpy_lm(kind, dtype, rtol, atol):
    pytest.importorskip("torch")
    from benchmarks import rnn_torch

    p = lm_params(kind, V=9, D=5, H=4, seed=11, dtype=dtype)
    mine = KINDS[kind](p, lr=0.3, max_norm=0.5)
    theirs = {"rnn": rnn_torch.TorchRNNLM, "lstm": rnn_torch.TorchLSTMLM}[kind](
        p, lr=0.3, max_norm=0.5, threads=1
    )
    for name, value in theirs.params().items():  # the layout conversions invert each other
        np.testing.assert_array_equal(value, p[name], err_msg=name)
    for step in range(3):  # consecutive batches: the carried state must agree too
        xs, ts = (
            ids((3, 4), V=9, seed=20 + step),
            ids((3, 4), V=9, seed=30 + step, ignore_some=True),
        )
        assert theirs.loss_and_backward(xs, ts) == pytest.approx(
            mine.loss_and_backward(xs, ts), rel=rtol
        )
        g = theirs.grads()
        for name, value in mine.grads().items():
            np.testing.assert_allclose(
                g[name], value, rtol=rtol, atol=atol, err_msg=f"step {step} {name}"
            )
    for _ in range(2):  # training steps: clipping and the update agree
        assert theirs.train_step(xs, ts) == pytest.approx(mine.train_step(xs, ts), rel=rtol)
    for name, value in mine.params().items():
        np.testing.assert_allclose(theirs.params()[name], value, rtol=rtol, atol=atol, err_msg=name)
    theirs.reset_state()
    mine.reset_state()
    assert theirs.loss_and_backward(xs, ts) == pytest.approx(
        mine.loss_and_backward(xs, ts), rel=rtol
    )


def test_torch_lstm_gate_blocks_are_reordered():
    """nbengine's columns f, g, i, o become PyTorch's rows i, f, g, o, and back."""
    from benchmarks import rnn_torch

    H = 2
    b = np.repeat(np.array([10.0, 20.0, 30.0, 40.0]), H)  # f f g g i i o o
    np.testing.assert_array_equal(
        rnn_torch.reorder_gates(b, rnn_torch.TORCH_FROM_NBENGINE, 0),
        np.repeat([30.0, 10.0, 20.0, 40.0], H),
    )  # i f g o
    np.testing.assert_array_equal(
        rnn_torch.reorder_gates(
            rnn_torch.reorder_gates(b, rnn_torch.TORCH_FROM_NBENGINE, 0),
            rnn_torch.NBENGINE_FROM_TORCH,
            0,
        ),
        b,
    )
    assert rnn_torch.available() in (True, False)  # answered without importing torch
