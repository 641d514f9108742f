"""The pronoun task (nbengine.data.pronoun) and its attention model (nbengine.models.pronoun)."""

from __future__ import annotations

import numpy as np
import pytest

from nbengine.data.pronoun import (
    ANIMAL_ADJECTIVES,
    ANIMALS,
    FOOD_ADJECTIVES,
    FOODS,
    LESSON_PAIR,
    LESSON_SENTENCE,
    LESSON_TASTY,
    batches,
    make_task,
    sentence,
    split_pairs,
    tokenize,
)
from nbengine.errors import CheckpointError
from nbengine.gradcheck import check_gradients
from nbengine.models.pronoun import PronounModel, accuracy, steps_per_epoch, train_batches
from nbengine.optim import Adam
from nbengine.testing import assert_gradients_pass
from nbengine.train import Epoch, fit

# == the task ==========================================================================================


def test_patterns_and_antecedents():
    assert (
        sentence("active", "cat", "fish", "hungry")
        == "the cat ate the fish because it was hungry".split()
    )
    assert (
        sentence("passive", "cat", "fish", "tasty", verb=2, articles=("a", "the"))
        == "a fish was gobbled up by the cat because it was tasty".split()
    )
    with pytest.raises(ValueError, match="no pattern"):
        sentence("sideways", "cat", "fish", "hungry")
    task = make_task(0)
    for e in task.train[:500] + task.held_out[:500]:
        animal, food = e.pair
        adjective = e.words[-1]
        assert e.words[e.pronoun] == "it" and e.words.count("it") == 1
        assert e.words[e.antecedent] == e.answer
        assert e.answer == (animal if adjective in ANIMAL_ADJECTIVES else food)
        assert adjective in ANIMAL_ADJECTIVES + FOOD_ADJECTIVES
        first_noun = animal if e.pattern == "active" else food
        assert e.words[1] == first_noun
    # position alone cannot answer: the animal is first in one pattern and second in the other,
    # and "it" stands at several places
    assert {e.pattern for e in task.train} == {"active", "passive"}
    assert len({e.antecedent for e in task.train if e.answer in ANIMALS}) > 1
    assert len({e.pronoun for e in task.train}) >= 3
    assert set(ANIMALS).isdisjoint(FOODS) and set(ANIMAL_ADJECTIVES).isdisjoint(FOOD_ADJECTIVES)
    # every answer class is balanced: half the sentences point at the animal
    assert sum(e.answer in ANIMALS for e in task.train) * 2 == len(task.train)


def test_the_lessons_sentences_are_expressible():
    task = make_task(0)
    for text in (LESSON_SENTENCE, LESSON_TASTY, LESSON_SENTENCE + "."):
        words = tokenize(text)
        assert words[:2] == ["a", "cat"]
        assert all(w in task.words for w in words)
    assert tokenize(LESSON_SENTENCE) in [e.words for e in task.held_out]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_held_out_pairs_are_disjoint_from_training(seed):
    task = make_task(seed)
    train_pairs, held_pairs = set(task.train_pairs), set(task.held_out_pairs)
    assert not train_pairs & held_pairs
    assert train_pairs | held_pairs == {(a, f) for a in ANIMALS for f in FOODS}
    assert LESSON_PAIR in held_pairs
    assert {e.pair for e in task.train} == train_pairs and {
        e.pair for e in task.held_out
    } == held_pairs
    # no held-out sentence, nor any held-out pair of nouns, occurs in training
    train_sentences = {tuple(e.words) for e in task.train}
    assert not any(tuple(e.words) in train_sentences for e in task.held_out)
    for e in task.train:  # the nouns a training sentence names are never a held-out pair
        nouns = [w for w in e.words if w in ANIMALS or w in FOODS]
        assert (
            len(nouns) == 2
            and (nouns[0], nouns[1]) not in held_pairs
            and (nouns[1], nouns[0]) not in held_pairs
        )
    # every word of the held-out sentences is seen in training
    seen = {w for e in task.train for w in e.words}
    assert {w for e in task.held_out for w in e.words} <= seen
    assert 0.15 < len(held_pairs) / (len(held_pairs) + len(train_pairs)) < 0.25


def test_seeds_reproduce_and_differ():
    assert split_pairs(3) == split_pairs(3)
    assert split_pairs(3) != split_pairs(4)
    a, b = make_task(5), make_task(5)
    assert [e.words for e in a.train] == [e.words for e in b.train]
    rng1, rng2 = np.random.default_rng(9), np.random.default_rng(9)
    for (i1, w1, y1, _), (i2, w2, y2, _) in zip(
        batches(a, a.train, 64, rng1), batches(b, b.train, 64, rng2)
    ):
        assert np.array_equal(i1, i2) and np.array_equal(w1, w2) and np.array_equal(y1, y2)


def test_batches_hold_one_length_and_cover_every_sentence_once():
    task = make_task(0)
    seen = 0
    for ids, where, answers, group in batches(task, task.held_out, 50, np.random.default_rng(0)):
        assert ids.shape == (len(group), len(group[0].words)) and len(group) <= 50
        assert np.all(ids[np.arange(len(group)), where] == task.words.index("it"))
        assert [task.words[a] for a in answers] == [e.answer for e in group]
        seen += len(group)
    assert seen == len(task.held_out)


# == the model =========================================================================================

WORDS = ["the", "cat", "ate", "fish", "because", "it", "was", "hungry", "tasty"]


def tiny(dtype=np.float64, seed=1):
    return PronounModel(WORDS, size=4, heads=2, hidden=6, context=9, seed=seed, dtype=dtype)


def tiny_batch(model):
    s1 = "the cat ate the fish because it was hungry".split()
    s2 = "the fish ate the cat because it was tasty".split()
    ids = np.array([model.encode(s1), model.encode(s2)])
    return ids, np.array([6, 6]), np.array([model.index["cat"], model.index["cat"]])


def test_gradients_match_finite_differences_for_every_parameter(one_thread):
    model = tiny()
    ids, where, answers = tiny_batch(model)
    model.loss_and_backward(ids, where, answers)
    grads = {k: g.copy() for k, g in model.grads.items()}
    for name in (
        "q.W",
        "k.W",
        "v.W",
        "out.W",
        "embed.tokens",
        "embed.positions",
        "block.attn.q.W",
        "block.ff.up.W",
    ):
        assert np.any(grads[name] != 0), name  # every road to the answer is checked, none is cut
    results = check_gradients(lambda: model.loss(ids, where, answers), model.params, grads)
    assert_gradients_pass(results)


def test_the_answer_is_read_from_the_attention_of_it():
    """Only z(it) = weights·V reaches the scores: changing the weights' source (a word's
    value) changes the answer by exactly that word's weight times its change."""
    model = tiny()
    ids, where, _ = tiny_batch(model)
    s = model.scores(ids, where).copy()
    w, v, z = model.cache["weights"], model.cache["v"], model.cache["z"]
    np.testing.assert_allclose(w.sum(axis=2), 1.0, rtol=1e-12)
    np.testing.assert_allclose(z, w @ v, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        s, z[:, 0] @ model.params["out.W"] + model.params["out.b"], rtol=1e-12, atol=1e-15
    )


def test_model_refuses_bad_input():
    model = tiny()
    with pytest.raises(ValueError, match="at most 9"):
        model.scores(np.zeros((1, 10), np.int64), [0])
    with pytest.raises(ValueError, match="word ids"):
        model.scores(np.full((1, 3), 99), [0])
    with pytest.raises(ValueError, match="positions of 'it'"):
        model.scores(np.zeros((1, 3), np.int64), [3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_and_load_round_trip(tmp_path, dtype):
    model = tiny(dtype, seed=4)
    model.extra_config["epochs"] = 3
    path = tmp_path / "p.npz"
    model.save(path)
    back = PronounModel.load(path)
    assert back.words == WORDS and back.dtype == dtype and back.extra_config == {"epochs": 3}
    assert back.params.keys() == model.params.keys()
    for k in model.params:
        assert np.array_equal(back.params[k], model.params[k]), k
    ids, where, _ = tiny_batch(model)
    assert np.array_equal(back.scores(ids, where), model.scores(ids, where))


def test_bad_checkpoints_are_clear_errors(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(CheckpointError, match="nope.npz: no such file"):
        PronounModel.load(missing)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.npz: is not an nbengine checkpoint"):
        PronounModel.load(junk)
    model = tiny()
    good = tmp_path / "good.npz"
    model.save(good)
    data = good.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.npz"):
        PronounModel.load(cut)
    from nbengine import checkpoint

    arrays = dict(model.params)
    arrays["q.W"] = arrays["q.W"][:2]
    checkpoint.save(tmp_path / "shape.npz", "pronoun", model.config(), arrays)
    with pytest.raises(
        CheckpointError, match=r"shape.npz: does not hold a valid pronoun model \(q.W has shape"
    ):
        PronounModel.load(tmp_path / "shape.npz")
    checkpoint.save(tmp_path / "other.npz", "rnnlm", model.config(), dict(model.params))
    with pytest.raises(CheckpointError, match="model 'rnnlm', not 'pronoun'"):
        PronounModel.load(tmp_path / "other.npz")


# == learning ==========================================================================================


@pytest.fixture(scope="module")
def trained():
    task = make_task(0)
    # one pass over the training sentences: a second or two
    model = PronounModel(task.words, size=16, seed=0, context=task.max_length)
    opt = Adam(model.params, model.grads, 0.01)
    events = fit(
        model,
        opt,
        train_batches(task, 32, seed=0),
        epochs=1,
        steps_per_epoch=steps_per_epoch(task, 32),
        clip=5.0,
        measure=lambda m: {"held_out_accuracy": accuracy(m, task, task.held_out)},
    )
    epochs = [ev for ev in events if isinstance(ev, Epoch)]
    return task, model, epochs


def test_short_training_reaches_high_held_out_accuracy(trained):
    task, model, epochs = trained
    assert epochs[-1].metrics["held_out_accuracy"] >= 0.95
    assert epochs[-1].metrics["held_out_accuracy"] == accuracy(model, task, task.held_out)
    # counted on the batches as they were trained
    assert 0.5 < epochs[-1].metrics["train_accuracy"] <= 1


@pytest.mark.parametrize(
    "text, antecedent, other", [(LESSON_SENTENCE, "cat", "fish"), (LESSON_TASTY, "fish", "cat")]
)
def test_it_attends_most_to_its_antecedent_in_the_lessons_sentence(
    trained, text, antecedent, other
):
    _, model, _ = trained
    words = tokenize(text)
    ids = model.encode(words)[None]
    answer = model.predict(ids, [words.index("it")])[0]
    assert model.words[answer] == antecedent
    weights = model.cache["weights"][0, 0]
    assert words[int(weights.argmax())] == antecedent
    assert weights[words.index(antecedent)] > 2 * weights[words.index(other)]


def test_untrained_model_does_not_already_know():
    """The trained model's answers come from training: with its initial weights it is near chance."""
    task = make_task(0)
    model = PronounModel(task.words, size=16, seed=0, context=task.max_length)
    assert accuracy(model, task, task.held_out) < 0.6


# == what the commands use ===============================================================================


def test_build_and_fit_task_train_as_the_loop_does():
    from nbengine.models.pronoun import CLIP, build, fit_task

    task, model, opt = build(0, 16, 0.01, 32)
    assert model.extra_config == {"task_seed": 0, "lr": 0.01, "batch_size": 32, "epochs": 0}
    start, per_epoch, sample = fit_task(model, opt, task, 32, 0, epochs=1)
    assert per_epoch == steps_per_epoch(task, 32) and len(sample[0]) == 2
    twin = PronounModel(task.words, size=16, seed=0, context=task.max_length)
    theirs = fit(
        twin,
        Adam(twin.params, twin.grads, 0.01),
        train_batches(task, 32, seed=0),
        epochs=1,
        clip=CLIP,
    )
    ours = start()
    for _ in range(4):  # the same seed, the same steps
        assert next(ours).loss == next(theirs).loss


def test_accuracy_by_pattern_and_examples(trained):
    from nbengine.data.pronoun import PATTERNS
    from nbengine.models.pronoun import accuracy_by_pattern, examples

    task, model, _ = trained
    total, right, by_pattern = accuracy_by_pattern(model, task)
    assert total == accuracy(model, task, task.held_out) and right == round(
        total * len(task.held_out)
    )
    counts = {p: sum(e.pattern == p for e in task.held_out) for p in PATTERNS}
    assert sum(by_pattern[p] * counts[p] for p in PATTERNS) == pytest.approx(right)
    shown = examples(model, task, 4, seed=1)
    assert [e["sentence"] for e in shown[:2]] == [
        " ".join(tokenize(LESSON_SENTENCE)),
        " ".join(tokenize(LESSON_TASTY)),
    ]
    assert [e["truth"] for e in shown[:2]] == ["cat", "fish"] and len(shown) == 4
    for e in shown:
        words = e["sentence"].split(" ")
        assert len(e["weights"]) == len(words) and sum(e["weights"]) == pytest.approx(1.0)
        assert e["attends_most_to"] == words[int(np.argmax(e["weights"]))]
    assert (
        shown == examples(model, task, 4, seed=1)
        and shown[2:] != examples(model, task, 4, seed=2)[2:]
    )
    assert examples(model, task, 1) == shown[:1]


def test_load_with_task_checks_the_task(trained, tmp_path, monkeypatch):
    from nbengine.models.pronoun import load_with_task

    task, model, _ = trained
    monkeypatch.setitem(model.extra_config, "task_seed", 0)
    model.save(tmp_path / "p.npz")
    back, back_task = load_with_task(tmp_path / "p.npz")
    assert back_task.words == task.words and back_task.held_out_pairs == task.held_out_pairs
    monkeypatch.setitem(model.extra_config, "task_seed", "x")
    model.save(tmp_path / "seed.npz")
    with pytest.raises(CheckpointError, match="bad task seed"):
        load_with_task(tmp_path / "seed.npz")
    tiny().save(tmp_path / "tiny.npz")
    with pytest.raises(CheckpointError, match="not the pronoun task's"):
        load_with_task(tmp_path / "tiny.npz")
