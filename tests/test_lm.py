"""The language models' lessons in the engine (nbengine.lm, nbengine.lm_train.fit_corpus):
settings, building, checkpoints, measuring, sampling, and the text a trace reads."""

from __future__ import annotations

import numpy as np
import pytest

from nbengine import lm
from nbengine.data.text import Vocabulary, load_corpus
from nbengine.errors import CheckpointError, DataError
from nbengine.lm_train import evaluate, fit_corpus
from nbengine.train import Epoch, Result

RECURRENT = (
    "batch_size",
    "time_size",
    "embed_size",
    "hidden_size",
    "vocab_size",
    "optimizer",
    "lr",
    "clip",
    "epochs",
)
TRANSFORMER = (
    "epochs",
    "batch_size",
    "time_size",
    "size",
    "heads",
    "blocks",
    "hidden",
    "vocab_size",
    "lr",
    "clip",
)


def nothing(keys, **given):
    return {k: given.get(k) for k in keys}


@pytest.fixture(scope="module")
def toy():
    return load_corpus("toy")


# -- settings -------------------------------------------------------------------------------------


def test_recurrent_defaults_toy_and_book():
    s = lm.settings("lstmlm", "toy", "word", nothing(RECURRENT))
    assert {k: s[k] for k in lm.TOY} == lm.TOY and s["level"] == "word"
    book = lm.settings("lstmlm", "shakespeare", "word", nothing(RECURRENT))
    assert {k: book[k] for k in lm.BOOK} == lm.BOOK
    # the book's η = 20 wrecks the plain RNN: 5 unless the book's settings are asked for
    assert lm.settings("rnnlm", "shakespeare", "word", nothing(RECURRENT))["lr"] == lm.RNN_LR
    assert (
        lm.settings("rnnlm", "shakespeare", "word", nothing(RECURRENT), ptb_settings=True)["lr"]
        == 20.0
    )
    assert (
        lm.settings("rnnlm", "toy", "word", nothing(RECURRENT), ptb_settings=True)["batch_size"]
        == 20
    )


def test_recurrent_given_settings_win_and_the_rate_follows_the_optimizer():
    s = lm.settings("lstmlm", "toy", "word", nothing(RECURRENT, batch_size=3, clip=0.5))
    assert (s["batch_size"], s["clip"], s["hidden_size"]) == (3, 0.5, lm.TOY["hidden_size"])
    assert (
        lm.settings("lstmlm", "toy", "word", nothing(RECURRENT, optimizer="momentum"))["lr"]
        == lm.TOY_LR["momentum"]
    )
    assert (
        lm.settings("lstmlm", "ptb", "word", nothing(RECURRENT, optimizer="adam"))["lr"]
        == lm.BOOK_LR["adam"]
    )
    rnn = lm.settings("rnnlm", "ptb", "word", nothing(RECURRENT, optimizer="momentum"))["lr"]
    assert rnn == pytest.approx(lm.BOOK_LR["momentum"] * lm.RNN_LR / lm.BOOK["lr"])
    assert (
        lm.settings("lstmlm", "toy", "word", nothing(RECURRENT, optimizer="sgd", lr=0.3))["lr"]
        == 0.3
    )
    # characters: every one is kept unless a limit is given
    assert lm.settings("lstmlm", "ptb", "char", nothing(RECURRENT))["vocab_size"] is None
    assert (
        lm.settings("lstmlm", "ptb", "char", nothing(RECURRENT, vocab_size=50))["vocab_size"] == 50
    )


def test_transformer_settings():
    toy = lm.settings("transformer", "toy", None, nothing(TRANSFORMER))
    assert (toy["level"], toy["vocab_size"], toy["optimizer"], toy["size"]) == (
        "word",
        10_000,
        "adam",
        16,
    )
    text = lm.settings("transformer", "shakespeare", None, nothing(TRANSFORMER, hidden=7))
    assert (text["level"], text["vocab_size"], text["time_size"], text["hidden"]) == (
        "char",
        None,
        64,
        7,
    )
    with pytest.raises(lm.SettingError, match="does not split into 3 equal heads") as e:
        lm.settings("transformer", "toy", None, nothing(TRANSFORMER, heads=3))
    assert e.value.setting == "heads"


# -- building and checkpoints ---------------------------------------------------------------------


def test_build_fills_the_toy_length_and_the_checkpoint_config(toy):
    s = lm.settings("rnnlm", "toy", "word", nothing(RECURRENT))
    model, opt = lm.build("rnnlm", s, toy, "toy", seed=1)
    assert s["time_size"] == len(toy.train) - 1 and model.vocab_size == len(toy.vocab)
    cfg = model.extra_config
    assert (cfg["start"], cfg["time_size"], cfg["optimizer"], cfg["train_tokens"]) == (
        "you",
        s["time_size"],
        "adam",
        len(toy.train),
    )
    assert type(opt).__name__ == "Adam" and model.sizes == {"embed_size": 16, "hidden_size": 32}
    t = lm.settings("transformer", "toy", None, nothing(TRANSFORMER))
    transformer, _ = lm.build("transformer", t, toy, "toy", seed=1)
    assert transformer.context == len(toy.train) - 1
    assert transformer.extra_config["start"] == toy.vocab.tokens[int(toy.train[0])]
    assert (
        transformer.description
        == f"1 block of 2 heads, size 16, feed-forward 64, context {transformer.context}"
    )


def test_load_round_trip_and_refusals(toy, tmp_path):
    s = lm.settings("lstmlm", "toy", "word", nothing(RECURRENT))
    model, _ = lm.build("lstmlm", s, toy, "toy", seed=0)
    model.save(tmp_path / "m.npz")
    loaded, vocab = lm.load("lstmlm", str(tmp_path / "m.npz"))
    assert vocab == toy.vocab and all(
        np.array_equal(loaded.params[k], model.params[k]) for k in model.params
    )
    model.extra_config.pop("vocab")
    model.save(tmp_path / "bare.npz")
    with pytest.raises(CheckpointError, match="holds no vocabulary"):
        lm.load("lstmlm", str(tmp_path / "bare.npz"))
    model.extra_config["vocab"] = toy.vocab.tokens[:3]
    model.save(tmp_path / "short.npz")
    with pytest.raises(CheckpointError, match="vocabulary of 3 tokens for a model of 7"):
        lm.load("lstmlm", str(tmp_path / "short.npz"))


def test_reencode(toy):
    assert lm.reencode(toy.test, toy, toy.vocab, "toy") == (toy.test, 0)
    with_unk = Vocabulary(["say", "you", "<unk>"])
    ids, unknown = lm.reencode(toy.test, toy, with_unk, "toy")
    tokens = toy.vocab.decode(toy.test)
    assert unknown == sum(t not in with_unk for t in tokens) > 0
    assert with_unk.decode(ids) == [t if t in with_unk else "<unk>" for t in tokens]
    with pytest.raises(DataError, match="does not hold"):
        lm.reencode(toy.test, toy, Vocabulary(["say", "you"]), "toy")


# -- measuring and sampling -----------------------------------------------------------------------


def test_measure_reads_the_split_as_training_did(toy):
    s = lm.settings("lstmlm", "toy", "word", nothing(RECURRENT))
    model, _ = lm.build("lstmlm", s, toy, "toy", seed=0)
    corpus, ev, unknown = lm.measure(model, toy.vocab, "toy", "valid")
    direct = evaluate(model, toy.valid, 1, s["time_size"])
    assert (corpus.name, unknown, ev.loss, ev.time_size) == ("toy", 0, direct.loss, s["time_size"])
    assert lm.measure(model, toy.vocab, "toy", "valid", time_size=2)[1].time_size == 2
    t = lm.settings("transformer", "toy", None, nothing(TRANSFORMER))
    transformer, _ = lm.build("transformer", t, toy, "toy", seed=0)
    with pytest.raises(lm.SettingError, match="more than the 7 tokens") as e:
        lm.measure(transformer, toy.vocab, "toy", "test", time_size=8)
    assert e.value.setting == "time_size"


def test_read_start_generate_length_and_sample(toy):
    tokens, unknown = lm.read_start(toy.vocab, "You say", "word")
    assert (tokens, unknown) == (["you", "say"], [])
    with pytest.raises(lm.SettingError, match="'zzz' is not in the model's vocabulary of 7 tokens"):
        lm.read_start(toy.vocab, "you zzz", "word")
    with pytest.raises(lm.SettingError, match="has no tokens"):
        lm.read_start(toy.vocab, "   ", "word")
    with_unk = Vocabulary(["say", "you", "<unk>"])
    assert lm.read_start(with_unk, "you zzz", "word") == (["you", "<unk>"], ["zzz"])
    assert lm.generate_length({"level": "word", "train_tokens": 8}, 2) == 6
    assert lm.generate_length({"level": "char"}, 2) == 300
    assert lm.generate_length({"level": "word", "train_tokens": 3}, 5) == 1
    s = lm.settings("rnnlm", "toy", "word", nothing(RECURRENT))
    model, _ = lm.build("rnnlm", s, toy, "toy", seed=0)
    drawn = list(lm.sample(model, toy.vocab, ["you"], 30, seed=4))
    assert (
        drawn
        == list(lm.sample(model, toy.vocab, ["you"], 30, seed=4))
        != list(lm.sample(model, toy.vocab, ["you"], 30, seed=5))
    )
    assert len(drawn) == 30 and all(0 <= i < len(toy.vocab) for i in drawn)


def test_sample_never_draws_unk():
    vocab = Vocabulary(["a", "b", "<unk>"])
    from nbengine.models.rnnlm import RNNLM

    model = RNNLM(3, 4, 4, seed=0)
    drawn = list(lm.sample(model, vocab, ["a"], 200, seed=0, temperature=5.0))
    assert set(drawn) == {0, 1}


# -- training on a corpus -------------------------------------------------------------------------


def test_fit_corpus_measures_validation_and_test(toy):
    s = lm.settings("lstmlm", "toy", "word", nothing(RECURRENT, epochs=3))
    model, opt = lm.build("lstmlm", s, toy, "toy", seed=0)
    start, per_epoch, sample = fit_corpus(
        model, opt, toy, 1, s["time_size"], epochs=3, clip=s["clip"]
    )
    assert per_epoch == len(toy.train) // s["time_size"] and sample[0].shape == (1, s["time_size"])
    events = list(start())
    epochs = [e for e in events if isinstance(e, Epoch)]
    result = events[-1]
    assert [e.epoch for e in epochs] == [1, 2, 3] and isinstance(result, Result)
    assert epochs[-1].metrics["valid_perplexity"] == pytest.approx(
        np.exp(epochs[-1].metrics["valid_loss"])
    )
    test = evaluate(model, toy.test, 1, s["time_size"])
    assert (result.metrics["test_loss"], result.metrics["n_test"]) == (test.loss, test.tokens)
    with pytest.raises(DataError):
        fit_corpus(model, opt, toy, 4, 100, epochs=1)


# -- traces ---------------------------------------------------------------------------------------


def test_trace_model_and_tokens(toy, tmp_path):
    model, vocab, about, level = lm.trace_model(
        "lstm", None, "toy", "word", hidden=3, embed=2, seed=1
    )
    assert (model.name, model.dtype, model.hidden_size, level) == ("lstmlm", np.float64, 3, "word")
    assert about == "untrained weights (random, seed 1)" and vocab == toy.vocab
    s = lm.settings("rnnlm", "toy", "word", nothing(RECURRENT))
    trained, _ = lm.build("rnnlm", s, toy, "toy", seed=0)
    trained.extra_config["epochs"] = 2
    trained.save(tmp_path / "r.npz")
    model, _, about, _ = lm.trace_model("rnn", str(tmp_path / "r.npz"), "toy", "char", 4, 4, 0)
    assert model.dtype == np.float64 and about.endswith("(trained for 2 epochs)")
    assert lm.trace_tokens(vocab, None, "word", 1) == toy.vocab.decode(toy.train)[:8]
    for text, step, setting in (("you", 0, "text"), ("you zzz", 0, "text"), ("you say", 1, "step")):
        with pytest.raises(lm.SettingError) as e:
            lm.trace_tokens(vocab, text, "word", step)
        assert e.value.setting == setting
