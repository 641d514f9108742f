"""The recurrent language models (nbengine.models.rnnlm.RNNLM and LSTMLM).

Their loss and every gradient against the independent NumPy models in the
textbook's style (tests/reference/rnn_numpy.py) with copied weights, and against
float64 finite differences for entries of every parameter from a nonzero carried
state; the state carried from one batch to the next while the gradient stops at
the batch's first step (truncated backpropagation through time); the lesson's
sentence learnt and generated back; next-token probabilities; saving and loading;
and bit-for-bit repeatable training steps whatever the number of threads.
"""

from __future__ import annotations

import json

import numba
import numpy as np
import pytest
from helpers import f64

from nbengine import checkpoint
from nbengine.errors import CheckpointError
from nbengine.gradcheck import spot_check_gradients
from nbengine.models.rnnlm import LSTMLM, RNNLM
from nbengine.optim import SGD, Adam, clip_global_norm
from nbengine.testing import assert_close, assert_gradients_pass
from tests.reference import rnn_numpy as ref

MODELS = [pytest.param(RNNLM, id="rnnlm"), pytest.param(LSTMLM, id="lstmlm")]
REFERENCES = {RNNLM: ref.NumpyRNNLM, LSTMLM: ref.NumpyLSTMLM}
V, D, H = 7, 5, 6  # small vocabulary and sizes

SENTENCE = "you say goodbye and i say hello ."


def sentence_ids():
    words = SENTENCE.split()
    vocab = list(dict.fromkeys(words))  # in order of first appearance
    return vocab, np.array([vocab.index(w) for w in words], np.int64)


def batch(N, T, seed, ignored=0):
    """Token ids xs (N, T) and next-token targets ts, ``ignored`` of them -1."""
    rng = np.random.default_rng(seed)
    xs = rng.integers(0, V, (N, T)).astype(np.int64)
    ts = rng.integers(0, V, (N, T)).astype(np.int64)
    if ignored:
        ts.reshape(-1)[rng.choice(N * T, ignored, replace=False)] = -1
    return xs, ts


def make(cls, dtype=np.float64, seed=0):
    """A small model whose biases are not 0 (so their gradients are tested at a general point)."""
    model = cls(V, D, H, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    for name, p in model.params.items():
        if name.endswith(".b"):
            p[...] = rng.uniform(-0.5, 0.5, p.shape)
        if name == "embed.W":
            p[...] = rng.uniform(-1, 1, p.shape)  # 0.01-scale vectors would hardly move the state
    return model


def state(model):
    r = model.recurrent
    return (r.h.copy(), None if r.c is None else r.c.copy())


def set_state(model, saved):
    model.recurrent.h = saved[0].copy()
    model.recurrent.c = None if saved[1] is None else saved[1].copy()


@pytest.mark.parametrize("cls", MODELS)
def test_parameter_names_and_shapes_match_the_reference(cls):
    model = cls(V, D, H)
    kind = "lstm" if cls is LSTMLM else "rnn"
    assert {k: v.shape for k, v in model.params.items()} == ref.param_shapes(kind, V, D, H)
    assert all(v.dtype == np.float32 for v in model.params.values())
    assert all(np.all(model.params[k] == 0) for k in model.params if k.endswith(".b"))
    assert model.n_params == sum(v.size for v in model.params.values())
    assert set(model.grads) == set(model.params)


# == the model against the NumPy reference ==============================================================


@pytest.mark.parametrize(
    "dtype", [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
)
@pytest.mark.parametrize("cls", MODELS)
def test_loss_and_gradients_match_the_numpy_model_over_carried_batches(cls, dtype):
    """Three batches in a row, the state carried through both models, then a reset and
    one more: the same loss and every gradient each time (ignored targets included)."""
    model = make(cls, dtype, seed=1)
    numpy_lm = REFERENCES[cls]({k: f64(v) for k, v in model.params.items()})
    atol, rtol = (1e-12, 1e-9) if dtype == np.float64 else (1e-5, 1e-3)
    for step in range(4):
        if step == 3:
            model.reset_state()
            numpy_lm.reset_state()
        xs, ts = batch(3, 5, seed=step, ignored=2)
        loss = model.loss_and_backward(xs, ts)
        ref_loss = numpy_lm.loss_and_backward(xs, ts)
        assert loss == pytest.approx(ref_loss, rel=rtol), f"batch {step}"
        ref_grads = numpy_lm.grads()
        for name, g in model.grads.items():
            assert g.dtype == dtype
            scale = max(float(np.abs(ref_grads[name]).max()), 1e-3)
            assert_close(
                f"batch {step} dL/d{name}", g, ref_grads[name], atol=atol * scale * 10, rtol=rtol
            )
        assert_close(
            f"batch {step} carried h",
            model.recurrent.h,
            numpy_lm.recurrent.h,
            atol=atol * 10,
            rtol=rtol,
        )
        if cls is LSTMLM:
            assert_close(
                f"batch {step} carried c",
                model.recurrent.c,
                numpy_lm.recurrent.c,
                atol=atol * 10,
                rtol=rtol,
            )


@pytest.mark.parametrize("cls", MODELS)
def test_training_steps_match_the_numpy_models_training_steps(cls):
    """SGD with the global norm clipped to 0.25, as the textbook trains: the same
    parameters after four steps over carried batches."""
    model = make(cls, np.float64, seed=2)
    numpy_lm = REFERENCES[cls](
        {k: v.copy() for k, v in model.params.items()}, lr=0.5, max_norm=0.25
    )
    opt = SGD(model.params, model.grads, lr=0.5)
    for step in range(4):
        xs, ts = batch(2, 6, seed=10 + step)
        loss = model.loss_and_backward(xs, ts)
        norm = clip_global_norm(model.grads, 0.25)
        assert norm > 0.25, "the clip is active in this test"
        opt.step()
        assert loss == pytest.approx(numpy_lm.train_step(xs, ts), rel=1e-10), step
    for name, p in numpy_lm.params().items():
        assert_close(
            f"{name} after 4 clipped SGD steps", model.params[name], p, atol=1e-12, rtol=1e-9
        )


# == the model against finite differences ===============================================================


@pytest.mark.parametrize("cls", MODELS)
def test_gradients_match_finite_differences_for_every_parameter(cls, one_thread):
    """From a nonzero carried state (a first batch read before), with two ignored
    targets: entries of every parameter, the three with the largest gradient and three
    at random. The loss is a function of the parameters with the carried state held
    fixed, which is what truncated BPTT differentiates."""
    model = make(cls, np.float64, seed=3)
    model.loss(*batch(2, 4, seed=30))  # the first batch: only its final state matters
    carried = state(model)
    assert np.abs(carried[0]).max() > 0.05
    xs, ts = batch(2, 6, seed=31, ignored=2)
    model.loss_and_backward(xs, ts)
    grads = {k: g.copy() for k, g in model.grads.items()}

    def loss():
        set_state(model, carried)
        return model.loss(xs, ts)

    assert all(np.any(g != 0) for g in grads.values())
    assert_gradients_pass(
        spot_check_gradients(
            loss,
            model.params,
            grads,
            np.random.default_rng(32),
            largest=3,
            random=3,
            rtol=1e-6,
            atol=1e-9,
        )
    )


# == the state carried between batches, and truncated BPTT ==============================================


@pytest.mark.parametrize("cls", MODELS)
def test_state_is_carried_to_the_next_batch_and_reset_state_forgets_it(cls):
    xs1, ts1 = batch(2, 5, seed=40)
    xs2, ts2 = batch(2, 5, seed=41)
    fresh = make(cls, seed=4).loss(xs2, ts2)
    model = make(cls, seed=4)
    model.loss_and_backward(xs1, ts1)
    h = model.recurrent.h.copy()
    second = model.loss_and_backward(xs2, ts2)
    assert abs(second - fresh) > 1e-6, "the second batch must start from the first batch's state"
    # the carried state is the last step's: a reference run from zeros over batch 1
    numpy_lm = REFERENCES[cls]({k: v.copy() for k, v in make(cls, seed=4).params.items()})
    numpy_lm.loss_and_backward(xs1, ts1)
    assert_close("carried h", h, numpy_lm.recurrent.h, atol=1e-12)
    model.reset_state()
    assert model.loss(xs2, ts2) == fresh
    # a batch of another size starts from zeros too
    model.loss(*batch(3, 5, seed=42))
    assert model.recurrent.h.shape == (3, H)
    model2 = make(cls, seed=4)
    model2.loss(*batch(3, 5, seed=42))
    assert model.loss(xs2, ts2) == fresh


@pytest.mark.parametrize("cls", MODELS)
def test_gradient_does_not_flow_into_the_previous_batch(cls):
    """Two models read different first batches, then get the same carried state values
    (the second copied from the first): their gradients on the same second batch are
    equal bit for bit, so nothing of the first batch reaches them but the state."""
    xs2, ts2 = batch(2, 5, seed=51)
    a, b = make(cls, seed=5), make(cls, seed=5)
    a.loss_and_backward(*batch(2, 5, seed=52))
    b.loss_and_backward(*batch(2, 7, seed=53))  # other tokens, and more of them
    carried = state(a)
    assert not np.array_equal(carried[0], b.recurrent.h)
    set_state(b, carried)
    loss_a = a.loss_and_backward(xs2, ts2)
    loss_b = b.loss_and_backward(xs2, ts2)
    assert loss_a == loss_b
    for name in a.grads:
        assert np.array_equal(a.grads[name], b.grads[name]), name
    # and the gradient is the one of a model started afresh from that state
    c = make(cls, seed=5)
    set_state(c, carried)
    c.loss_and_backward(xs2, ts2)
    for name in a.grads:
        assert np.array_equal(a.grads[name], c.grads[name]), name
    # the recurrent layer's dL/dh0 exists but goes nowhere: the previous batch's
    # gradients were replaced, not added to
    assert np.abs(a.recurrent.dh0).max() > 0


# == the lesson's sentence ==============================================================================


@pytest.mark.parametrize("cls", MODELS)
def test_learns_and_generates_the_lessons_sentence(cls):
    """ "you say goodbye and i say hello ." (7 words, ids in order of first appearance):
    Adam 0.01, gradients clipped to 5, 200 steps, each step reading the sentence from the
    start. Perplexity below 1.2, and sampling after "you" gives the rest back (after
    "say" the state alone tells "goodbye" from "hello")."""
    vocab, ids = sentence_ids()
    assert vocab == ["you", "say", "goodbye", "and", "i", "hello", "."]
    xs, ts = ids[None, :-1], ids[None, 1:]
    model = cls(len(vocab), 16, 16, seed=0)
    opt = Adam(model.params, model.grads, lr=0.01)
    for _ in range(200):
        model.reset_state()
        model.loss_and_backward(xs, ts)
        clip_global_norm(model.grads, 5.0)
        opt.step()
    model.reset_state()
    perplexity = float(np.exp(model.loss(xs, ts)))
    assert perplexity < 1.2
    generated = model.generate([vocab.index("you")], 7, np.random.default_rng(0))
    assert " ".join(vocab[i] for i in [vocab.index("you")] + generated) == SENTENCE


# == next-token probabilities ===========================================================================


@pytest.mark.parametrize("cls", MODELS)
def test_next_probabilities_sum_to_one_and_temperature_sharpens(cls):
    model = make(cls, np.float32, seed=6)
    ids = batch(3, 4, seed=60)[0]
    scores = model.scores(ids)[:, -1].astype(np.float64)
    p = {}
    for temperature in (0.5, 1.0, 2.0):
        model.reset_state()
        p[temperature] = model.next_probabilities(ids, temperature)
        assert p[temperature].shape == (3, V) and p[temperature].dtype == np.float64
        assert_close(
            f"row sums at temperature {temperature}",
            p[temperature].sum(axis=1),
            np.ones(3),
            atol=1e-12,
        )
        assert np.all(p[temperature] > 0)
    assert_close(
        "temperature 1 is the softmax of the scores", p[1.0], ref.softmax(scores), atol=1e-12
    )
    assert_close(
        "temperature 1/2 squares and renormalises",
        p[0.5],
        p[1.0] ** 2 / np.sum(p[1.0] ** 2, axis=1, keepdims=True),
        atol=1e-9,
    )
    top = np.argmax(p[1.0], axis=1)
    rows = np.arange(3)
    assert np.all(p[0.5][rows, top] > p[1.0][rows, top]) and np.all(
        p[1.0][rows, top] > p[2.0][rows, top]
    )
    assert np.array_equal(np.argmax(p[0.5], axis=1), top)  # sharper, same favourite

    def entropy(q):
        return -np.sum(q * np.log(q), axis=1)

    assert np.all(entropy(p[0.5]) < entropy(p[1.0])) and np.all(entropy(p[1.0]) < entropy(p[2.0]))


@pytest.mark.parametrize("cls", MODELS)
def test_generate_never_draws_skipped_tokens_and_repeats_with_the_seed(cls):
    model = make(cls, np.float32, seed=7)
    a = model.generate([1, 2], 30, np.random.default_rng(70), skip=(0, 3))
    assert len(a) == 30 and not {0, 3} & set(a)
    assert model.generate([1, 2], 30, np.random.default_rng(70), skip=(0, 3)) == a


@pytest.mark.parametrize("cls", MODELS)
def test_model_refuses_token_ids_out_of_range_or_of_the_wrong_shape(cls):
    model = make(cls, np.float32)
    with pytest.raises(ValueError, match="0..6"):
        model.loss(np.array([[0, 7]]), np.array([[0, 0]]))
    with pytest.raises(ValueError, match="0..6"):
        model.scores(np.array([[-1, 2]]))
    with pytest.raises(ValueError, match="shape"):
        model.scores(np.array([0, 1, 2]))


# == saving and loading =================================================================================


@pytest.mark.parametrize(
    "dtype", [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]
)
@pytest.mark.parametrize("cls", MODELS)
def test_save_and_load_round_trip(tmp_path, cls, dtype):
    xs, ts = batch(2, 5, seed=80)
    model = cls(V, D, H, seed=8, dtype=dtype, extra_config={"corpus": "ptb"})
    model.loss_and_backward(xs, ts)
    Adam(model.params, model.grads).step()  # no longer the seed's initial weights
    path = tmp_path / f"{cls.name}.npz"
    model.save(path)
    loaded = cls.load(path)
    assert type(loaded) is cls
    assert loaded.config() == model.config() and loaded.extra_config == {"corpus": "ptb"}
    assert loaded.dtype == dtype
    for name, p in model.params.items():
        assert loaded.params[name].dtype == dtype
        assert np.array_equal(loaded.params[name], p), name
    model.reset_state()
    assert loaded.loss(xs, ts) == model.loss(xs, ts)


def write_checkpoint(path, name, config, arrays):
    """A checkpoint file written directly in the format nbengine reads (save itself refuses NaN)."""
    np.savez(
        path,
        __format__=np.array(checkpoint.FORMAT_VERSION),
        __model__=np.array(name),
        __config__=np.array(json.dumps(config)),
        __arrays__=np.array(sorted(arrays), dtype=str),
        **arrays,
    )


@pytest.mark.parametrize("cls", MODELS)
def test_loading_a_nan_parameter_is_a_checkpoint_error(tmp_path, cls):
    model = cls(V, D, H, seed=9)
    arrays = {k: v.copy() for k, v in model.params.items()}
    key = "lstm.Wh" if cls is LSTMLM else "rnn.Wh"
    arrays[key][1, 2] = np.nan
    path = tmp_path / "nan.npz"
    write_checkpoint(path, cls.name, model.config(), arrays)
    with pytest.raises(CheckpointError, match=key.replace(".", r"\.")):
        cls.load(path)


@pytest.mark.parametrize("cls", MODELS)
def test_loading_a_wrong_shape_is_a_checkpoint_error(tmp_path, cls):
    model = cls(V, D, H, seed=9)
    arrays = dict(model.params)
    arrays["embed.W"] = np.zeros((V + 1, D), np.float32)
    path = tmp_path / "shape.npz"
    checkpoint.save(path, cls.name, model.config(), arrays)
    with pytest.raises(CheckpointError, match=r"embed\.W"):
        cls.load(path)


@pytest.mark.parametrize("cls", MODELS)
def test_loading_a_missing_parameter_or_the_other_model_is_a_checkpoint_error(tmp_path, cls):
    model = cls(V, D, H, seed=9)
    path = tmp_path / "missing.npz"
    checkpoint.save(
        path, cls.name, model.config(), {k: v for k, v in model.params.items() if k != "affine.b"}
    )
    with pytest.raises(CheckpointError, match=r"affine\.b"):
        cls.load(path)
    other = LSTMLM if cls is RNNLM else RNNLM
    path = tmp_path / "other.npz"
    model.save(path)
    with pytest.raises(CheckpointError):
        other.load(path)


# == the same bits whatever the number of threads =======================================================


def training_run(cls, seed=13):
    """Three Adam steps of a float32 model on carried batches of 13 sequences (the
    recurrent layer cuts them into 8 uneven parts), gradients clipped: the losses and
    norms, the gradients of the last step and the parameters after it."""
    model = cls(50, 16, 24, seed=seed)
    opt = Adam(model.params, model.grads, lr=1e-2)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(3):
        xs = rng.integers(0, 50, (13, 8))
        ts = rng.integers(-1, 50, (13, 8))
        losses.append(model.loss_and_backward(xs, ts))
        losses.append(clip_global_norm(model.grads, 0.05))
        opt.step()
    return (
        losses,
        {k: g.copy() for k, g in model.grads.items()},
        {k: p.copy() for k, p in model.params.items()},
    )


@pytest.mark.parametrize("cls", MODELS)
def test_a_training_step_is_bit_identical_for_any_thread_count_and_run(cls, thread_counts):
    runs = []
    for n in thread_counts:
        numba.set_num_threads(n)
        runs.append((f"{n} threads", training_run(cls)))
        runs.append((f"{n} threads, second run", training_run(cls)))
    (label0, (losses0, grads0, params0)), rest = runs[0], runs[1:]
    assert losses0[1] > 0.05, "the clip is active"
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
