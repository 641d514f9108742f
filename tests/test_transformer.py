"""The transformer's pieces and the Transformer language model.

Kernels (multi-head split/merge, residual add, token + position embeddings)
against NumPy's own reshapes and sums; layers (LayerNorm, MultiHeadAttention,
FeedForward, TransformerBlock) and the whole TransformerLM against the independent
NumPy formulation in tests/reference/transformer_numpy.py and against float64 finite
differences; the causal mask proven on the whole model (changing token t+1 never
changes any score at t); the loops and BLAS agreeing; training steps repeating bit
for bit whatever the thread count; saving, loading and generating.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from helpers import nans, tolerance

from nbengine import checkpoint
from nbengine.errors import CheckpointError
from nbengine.gradcheck import spot_check_gradients
from nbengine.kernels.heads import (
    merge_heads,
    merge_heads_backward,
    split_heads,
    split_heads_backward,
)
from nbengine.kernels.position_embedding import (
    position_embedding_backward,
    position_embedding_forward,
)
from nbengine.kernels.residual import residual_backward, residual_forward
from nbengine.layers.attention import MultiHeadAttention
from nbengine.layers.feedforward import FeedForward
from nbengine.layers.layernorm import LayerNorm
from nbengine.layers.transformer import TransformerBlock
from nbengine.models.transformer import TransformerLM
from nbengine.optim import Adam, clip_global_norm
from nbengine.testing import assert_close, assert_gradients_pass
from tests.reference.transformer_numpy import (
    multi_head_attention_ref,
    transformer_block_ref,
    transformer_lm_ref,
)

DTYPES = [np.float64, np.float32]


# == kernels ===========================================================================================


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_and_merge_heads_are_numpys_reshape_and_transpose_and_undo_each_other(dtype):
    rng = np.random.default_rng(0)
    N, T, H, E = 3, 5, 4, 2
    x = rng.standard_normal((N, T, H * E)).astype(dtype)
    heads = nans((N * H, T, E), dtype)
    split_heads(heads, x)
    expected = x.reshape(N, T, H, E).transpose(0, 2, 1, 3).reshape(N * H, T, E)
    assert heads.tobytes() == np.ascontiguousarray(expected).tobytes()
    back = nans((N, T, H * E), dtype)
    merge_heads(back, heads)
    assert back.tobytes() == x.tobytes()
    # a rearrangement's backward pass is the reverse rearrangement of the gradient
    d = rng.standard_normal((N * H, T, E)).astype(dtype)
    dx = nans((N, T, H * E), dtype)
    split_heads_backward(dx, d)
    assert np.sum(dx * x, dtype=np.float64) == pytest.approx(
        np.sum(d * heads, dtype=np.float64), rel=1e-6
    )
    dh = nans((N * H, T, E), dtype)
    merge_heads_backward(dh, dx)
    assert dh.tobytes() == d.tobytes()


def test_residual_adds_forward_and_sends_the_gradient_down_both_roads():
    rng = np.random.default_rng(1)
    x, fx, dout, dfx = (rng.standard_normal(50) for _ in range(4))
    out = nans(50, np.float64)
    residual_forward(out, x, fx)
    assert np.array_equal(out, x + fx)
    dx = nans(50, np.float64)
    residual_backward(dx, dout, dfx)
    assert np.array_equal(dx, dout + dfx)


@pytest.mark.parametrize("dtype", DTYPES)
def test_position_embedding_is_a_gather_plus_a_row_per_position_and_its_backward_a_scatter_add(
    dtype,
):
    rng = np.random.default_rng(2)
    V, L, D, N, T = 6, 7, 3, 4, 5
    Wt, Wp = rng.standard_normal((V, D)).astype(dtype), rng.standard_normal((L, D)).astype(dtype)
    ids = rng.integers(0, V, (N, T))
    ids[0, :3] = 2  # a token used three times in one sample
    out = nans((N, T, D), dtype)
    position_embedding_forward(out, Wt, Wp, ids)
    assert_close("out", out, Wt[ids] + Wp[:T], *tolerance(dtype))
    dout = rng.standard_normal((N, T, D)).astype(dtype)
    dWt, dWp = nans((V, D), dtype), nans((L, D), dtype)
    position_embedding_backward(dWt, dWp, dout, ids)
    expected = np.zeros((V, D))
    np.add.at(expected, ids, dout.astype(np.float64))
    assert_close("dWt", dWt, expected, *tolerance(dtype, expected))
    assert_close("dWp", dWp[:T], dout.astype(np.float64).sum(axis=0), *tolerance(dtype, dout))
    assert np.all(dWp[T:] == 0), "positions beyond T were not used"


# == layers against NumPy and finite differences =========================================================


def built(layer, D, dtype=np.float64, seed=0):
    """The layer built for vectors of size D, with every parameter (biases, gammas) away from its start."""
    rng = np.random.default_rng(seed)
    layer.build((None, None, D), dtype, rng)
    for p in layer.params.values():
        p[...] += rng.uniform(-0.6, 0.6, p.shape)  # gammas near 1, biases and betas near 0
    return layer


def finite_difference_check(layer, x, dy, names=None, picks=4, seed=0):
    """Backprop's gradients against central differences of sum(dy * layer(x)) for x and parameters."""

    def f():
        return float(np.sum(layer.forward(x, training=True) * dy))

    layer.forward(x, training=True)
    dx = layer.backward(dy).copy()
    grads = {k: g.copy() for k, g in layer.grads.items()}
    checked = {"x": x, **{k: layer.params[k] for k in (names or layer.params)}}
    analytic = {"x": dx, **{k: grads[k] for k in checked if k != "x"}}
    assert_gradients_pass(
        spot_check_gradients(
            f,
            checked,
            analytic,
            np.random.default_rng(seed),
            largest=2,
            random=picks,
            rtol=1e-6,
            atol=1e-8,
        )
    )


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("heads", [1, 3])
def test_multi_head_attention_matches_numpy_and_finite_differences(heads, causal, one_thread):
    D = 6
    layer = built(MultiHeadAttention("attn", D, heads, causal), D)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, D))
    out = layer.forward(x, training=True)
    ref, weights = multi_head_attention_ref(x, layer.params, heads, causal)
    assert_close("out", out, ref, *tolerance(np.float64, ref))
    assert_close(
        "weights", layer.cache["weights"].reshape(weights.shape), weights, *tolerance(np.float64)
    )
    if causal:
        assert np.all(weights[..., np.triu_indices(5, 1)[0], np.triu_indices(5, 1)[1]] == 0)
    finite_difference_check(layer, x, rng.standard_normal(out.shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_multi_head_attention_in_float32_stays_close_to_the_float64_reference(dtype):
    D, heads = 8, 2
    layer = built(MultiHeadAttention("attn", D, heads, True), D, dtype)
    x = np.random.default_rng(4).standard_normal((3, 6, D)).astype(dtype)
    out = layer.forward(x, training=True)
    p64 = {k: v.astype(np.float64) for k, v in layer.params.items()}
    ref, _ = multi_head_attention_ref(x.astype(np.float64), p64, heads, True)
    assert out.dtype == dtype
    assert_close("out", out, ref, *tolerance(dtype, ref))


def test_layer_norm_and_feed_forward_layers_pass_finite_differences(one_thread):
    rng = np.random.default_rng(5)
    ln = built(LayerNorm("ln", 5), 5)
    finite_difference_check(ln, rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 5)))
    ff = built(FeedForward("ff", 4, 7), 4)
    finite_difference_check(ff, rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4)))


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_transformer_block_matches_numpy_and_finite_differences(causal, one_thread):
    D = 6
    block = built(TransformerBlock("block", D, 2, 10, causal), D)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, D))
    y = block.forward(x, training=True)
    ref = transformer_block_ref(x, block.params, 2, causal)
    assert_close("y", y, ref, *tolerance(np.float64, ref))
    finite_difference_check(block, x, rng.standard_normal(y.shape), picks=3)


def test_the_loops_and_blas_give_the_same_block():
    rng = np.random.default_rng(7)
    a = built(TransformerBlock("block", 8, 2, 16, True, blas=True), 8, seed=1)
    b = built(TransformerBlock("block", 8, 2, 16, True, blas=False), 8, seed=1)
    x = rng.standard_normal((3, 5, 8))
    dy = rng.standard_normal((3, 5, 8))
    assert_close("y", b.forward(x, True), a.forward(x, True), 1e-12, 1e-10)
    assert_close("dx", b.backward(dy), a.backward(dy), 1e-12, 1e-10)
    for k in a.grads:
        assert_close(k, b.grads[k], a.grads[k], 1e-12, 1e-10)


# == the language model ==================================================================================


V = 11


def lm(dtype=np.float64, seed=0, **kw):
    settings = dict(size=8, heads=2, blocks=2, hidden=12, context=6)
    settings.update(kw)
    model = TransformerLM(V, seed=seed, dtype=dtype, **settings)
    rng = np.random.default_rng(seed + 50)
    for name, p in model.params.items():
        if p.ndim == 1:  # biases, gammas and betas away from 0 and 1
            p[...] += rng.uniform(-0.3, 0.3, p.shape)
        elif name.startswith("embed."):
            p[...] = rng.uniform(-1, 1, p.shape)  # 0.02-scale vectors would hardly reach the scores
    return model


def batch(N, T, seed, ignored=0):
    rng = np.random.default_rng(seed)
    xs = rng.integers(0, V, (N, T))
    ts = rng.integers(0, V, (N, T))
    if ignored:
        ts.reshape(-1)[rng.choice(N * T, ignored, replace=False)] = -1
    return xs, ts


@pytest.mark.parametrize("dtype", DTYPES)
def test_lm_scores_match_the_numpy_model(dtype):
    model = lm(dtype)
    xs, _ = batch(3, 6, seed=8)
    p64 = {k: v.astype(np.float64) for k, v in model.params.items()}
    ref = transformer_lm_ref(xs, p64, heads=2, blocks=2)
    assert_close("scores", model.scores(xs), ref, *tolerance(dtype, ref))


def test_lm_gradients_match_finite_differences_for_every_parameter(one_thread):
    model = lm()
    xs, ts = batch(2, 6, seed=9, ignored=2)
    model.loss_and_backward(xs, ts)
    grads = {k: g.copy() for k, g in model.grads.items()}
    assert_gradients_pass(
        spot_check_gradients(
            lambda: model.loss(xs, ts),
            model.params,
            grads,
            np.random.default_rng(10),
            largest=2,
            random=3,
            rtol=1e-5,
            atol=1e-9,
        )
    )


def test_the_causal_mask_hides_the_future_in_the_whole_model():
    """Changing token t+1 never changes any score at positions ≤ t, bit for bit."""
    model = lm(np.float32)
    xs, _ = batch(2, 6, seed=11)
    before = model.scores(xs).copy()
    for t in range(5):
        changed = xs.copy()
        changed[:, t + 1] = (changed[:, t + 1] + 1) % V
        after = model.scores(changed)
        assert after[:, : t + 1].tobytes() == before[:, : t + 1].tobytes(), t
        assert not np.array_equal(after[:, t + 1], before[:, t + 1])


def test_lm_refuses_more_tokens_than_its_context_and_reads_the_last_ones_when_predicting():
    model = lm(context=4)
    with pytest.raises(ValueError, match="at most 4 tokens"):
        model.scores(np.zeros((1, 5), np.int64))
    long = np.array([[1, 2, 3, 4, 5, 6, 7]])
    assert np.array_equal(model.next_probabilities(long), model.next_probabilities(long[:, -4:]))


def test_lm_learns_a_repeating_text_and_generates_it_back():
    ids = np.array([0, 1, 2, 3, 4, 1, 5, 6] * 4)  # "you say goodbye and i say hello ." as ids
    model = TransformerLM(7, size=16, heads=2, blocks=1, hidden=32, context=8, seed=0)
    opt = Adam(model.params, model.grads, lr=0.01)
    xs, ts = ids[None, :8], ids[None, 1:9]
    for _ in range(150):
        model.loss_and_backward(xs, ts)
        opt.step()
    assert np.exp(model.loss(xs, ts)) < 1.2
    out = model.generate(ids[:1], 7, np.random.default_rng(0), temperature=0.1)
    assert out == ids[1:8].tolist()


def test_lm_save_and_load_round_trip_and_bad_checkpoints(tmp_path):
    model = lm(np.float32)
    path = tmp_path / "t.npz"
    model.save(path)
    loaded = TransformerLM.load(path)
    assert loaded.config() == model.config()
    xs, _ = batch(2, 6, seed=12)
    assert loaded.scores(xs).tobytes() == model.scores(xs).tobytes()
    config, arrays = checkpoint.load(path, "transformer")
    arrays["block1.attn.q.W"] = arrays["block1.attn.q.W"][:, :3]
    checkpoint.save(tmp_path / "bad.npz", "transformer", config, arrays)
    with pytest.raises(CheckpointError, match="bad.npz"):
        TransformerLM.load(tmp_path / "bad.npz")


def training_run():
    model = TransformerLM(30, size=16, heads=4, blocks=2, hidden=24, context=10, seed=3)
    opt = Adam(model.params, model.grads, lr=0.003)
    rng = np.random.default_rng(13)
    losses = []
    for _ in range(3):
        xs = rng.integers(0, 30, (9, 10))
        ts = rng.integers(-1, 30, (9, 10))
        losses.append(model.loss_and_backward(xs, ts))
        losses.append(clip_global_norm(model.grads, 0.5))
        opt.step()
    return losses, {k: p.copy() for k, p in model.params.items()}


def test_a_training_step_is_bit_identical_for_any_thread_count_and_run(thread_counts):
    runs = []
    for n in thread_counts:
        numba.set_num_threads(n)
        runs.append((n, training_run()))
        runs.append((n, training_run()))
    (_, (losses0, params0)), rest = runs[0], runs[1:]
    for n, (losses, params) in rest:
        assert losses == losses0, n
        for k in params0:
            assert params[k].tobytes() == params0[k].tobytes(), (n, k)
