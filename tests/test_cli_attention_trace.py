"""`trace attention` through the command line: the lesson's four steps of self-attention,
with the weights and Z from the attention kernel."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from helpers import json_lines, run


def traces(events):
    return {e["name"]: e for e in events if e["event"] == "trace"}


def result(events):
    assert events[-1]["event"] == "result"
    return events[-1]


def test_default_sentence_shapes_and_labels():
    events = json_lines(run("trace", "attention", "--json"))
    assert events[0]["event"] == "setup" and events[0]["tokens"] == ["I", "am", "good"]
    step = traces(events)
    tokens = ["I", "am", "good"]
    assert step["X"]["shape"] == [3, 4] and step["X"]["labels"] == [
        tokens,
        ["e1", "e2", "e3", "e4"],
    ]
    for name in ("Wq", "Wk", "Wv"):
        assert step[name]["shape"] == [4, 3]
    for name, p in (("Q", "q"), ("K", "k"), ("V", "v")):
        assert step[name]["shape"] == [3, 3]
        assert step[name]["labels"] == [tokens, [f"{p}1", f"{p}2", f"{p}3"]]
    for name in ("QK^T", "QK^T/sqrt(d_k)", "weights"):
        assert step[name]["shape"] == [3, 3] and step[name]["labels"] == [tokens, tokens]
    X, Wq, Wk, Wv = (np.array(step[k]["data"]) for k in ("X", "Wq", "Wk", "Wv"))
    Q, K, V = (np.array(step[k]["data"]) for k in ("Q", "K", "V"))
    np.testing.assert_allclose(Q, X @ Wq, rtol=1e-12)
    np.testing.assert_allclose(K, X @ Wk, rtol=1e-12)
    np.testing.assert_allclose(V, X @ Wv, rtol=1e-12)
    np.testing.assert_allclose(np.array(step["QK^T"]["data"]), Q @ K.T, rtol=1e-12)
    np.testing.assert_allclose(
        np.array(step["QK^T/sqrt(d_k)"]["data"]), Q @ K.T / math.sqrt(3), rtol=1e-12
    )
    out = run("trace", "attention").stdout
    for text in (
        "Step 1",
        "Step 2",
        "Step 3",
        "Step 4",
        "Q = X·Wq",
        "QKᵀ / √d_k",
        "good",
        "q1",
        "k1",
        "v1",
    ):
        assert text in out, text


def test_weights_rows_sum_to_one_and_z_is_weights_times_v():
    events = json_lines(run("trace", "attention", "--json"))
    step = traces(events)
    weights = np.array(step["weights"]["data"])
    assert np.all(weights > 0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.array(result(events)["weights"]), weights)
    # the kernel's softmax agrees with NumPy's on the scaled scores
    scaled = np.array(step["QK^T/sqrt(d_k)"]["data"])
    e = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    np.testing.assert_allclose(weights, e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    V, Z = np.array(step["V"]["data"]), np.array(step["Z"]["data"])
    np.testing.assert_allclose(Z, weights @ V, rtol=1e-12, atol=1e-15)


def test_weighted_sum_lines_use_the_json_weights():
    weights = np.array(result(json_lines(run("trace", "attention", "--json")))["weights"])
    out = run("trace", "attention").stdout
    tokens = ["I", "am", "good"]
    for i in range(3):
        expected = f"z{i + 1} = " + " + ".join(
            f"{w:.2f}·v({t})" for w, t in zip(weights[i], tokens)
        )
        assert expected in out
    most = [tokens[int(j)] for j in weights.argmax(axis=1)]
    assert (
        "Each token draws most on: "
        + ", ".join(
            f"{t} → {m} ({weights[i].max():.2f})" for i, (t, m) in enumerate(zip(tokens, most))
        )
        in out
    )
    assert "the attention weights" in out


def test_lesson_example():
    events = json_lines(run("trace", "attention", "--example", "--json"))
    step = traces(events)
    assert step["QK^T"]["data"] == [[110.0, 90.0, 80.0]]
    assert step["QK^T/sqrt(d_k)"]["data"] == [[13.75, 11.25, 10.0]]
    weights = np.array(result(events)["weights"])[0]
    e = np.exp(np.array([13.75, 11.25, 10.0]))
    np.testing.assert_allclose(weights, e / e.sum(), rtol=1e-12)
    np.testing.assert_allclose(weights, [0.9045, 0.0742, 0.0213], atol=5e-5)
    out = run("trace", "attention", "--example").stdout
    assert "13.7500" in out and "11.2500" in out and "10.0000" in out
    assert "z1 = 0.90·v(I) + 0.07·v(am) + 0.02·v(good)" in out
    assert "sharp" in out
    run("trace", "attention", "I am good", "--example")
    run("trace", "attention", "a cat", "--example", code=2)


def test_the_notes_name_the_kernel_that_ran():
    naive = json_lines(run("trace", "attention", "--kernels", "naive", "--json"))
    fast = json_lines(run("trace", "attention", "--json"))
    assert (
        naive[0]["kernel"] == "attention_forward_naive" and fast[0]["kernel"] == "attention_forward"
    )
    assert traces(naive)["weights"]["note"].endswith("(attention_forward_naive)")
    np.testing.assert_allclose(
        traces(naive)["weights"]["data"], traces(fast)["weights"]["data"], rtol=1e-12
    )
    out = " ".join(run("trace", "attention", "--example", "--kernels", "naive").stdout.split())
    assert "computed by attention_forward_naive" in out and "reordered" not in out
    out = " ".join(run("trace", "attention", "--example").stdout.split())
    assert "computed by attention_forward " in out
    assert (
        "attention_forward: the same sums as the naive loop attention_forward_naive, reordered for speed"
        in out
    )


@pytest.mark.parametrize("sentence", ["A cat ate the fish because it was hungry", "Hello"])
def test_any_sentence(sentence):
    tokens = sentence.split()
    T = len(tokens)
    events = json_lines(
        run("trace", "attention", sentence, "--d-k", "2", "--d-model", "5", "--json")
    )
    step = traces(events)
    assert step["X"]["shape"] == [T, 5] and step["Q"]["shape"] == [T, 2]
    assert step["weights"]["labels"] == [tokens, tokens]
    weights = np.array(step["weights"]["data"])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)
    out = run("trace", "attention", sentence, "--d-k", "2", "--d-model", "5").stdout
    assert len(re.findall(r"^z\d+ = ", out, flags=re.M)) == T
    for i in range(T):  # each weighted sum whole on its line, with the JSON's weights
        line = f"z{i + 1} = " + " + ".join(f"{w:.2f}·v({t})" for w, t in zip(weights[i], tokens))
        assert line in out.splitlines()
    if T == 1:
        assert weights.tolist() == [[1.0]]
        assert "z1 = 1.00·v(Hello)" in out


def test_bad_input():
    r = run("trace", "attention", "", code=2)
    assert "no words" in r.stderr
    run("trace", "attention", "   ", code=2)
    r = run("trace", "attention", "--d-k", "0", code=2)
    assert "--d-k" in r.stderr
    run("trace", "attention", "--d-model", "0", code=2)
    assert (
        run("trace", "attention", "--seed", "3", "--json").stdout
        == run("trace", "attention", "--seed", "3", "--json").stdout
    )


# -- --checkpoint: the trained pronoun model's own attention -------------------------------------


@pytest.fixture(scope="module")
def pronoun_checkpoint(tmp_path_factory):
    """A pronoun model trained for one epoch (a second or two) and saved."""
    from nbengine.data.pronoun import make_task
    from nbengine.models.pronoun import PronounModel, train_batches
    from nbengine.optim import Adam
    from nbengine.train import fit

    task = make_task(0)
    model = PronounModel(
        task.words, size=16, seed=0, context=task.max_length, extra_config={"task_seed": 0}
    )
    for _ in fit(
        model,
        Adam(model.params, model.grads, 0.01),
        train_batches(task, 32, seed=0),
        epochs=1,
        clip=5.0,
    ):
        pass
    path = tmp_path_factory.mktemp("pronoun") / "pronoun.npz"
    model.save(path)
    return str(path)


@pytest.mark.parametrize(
    "sentence, antecedent, other",
    [
        (None, "cat", "fish"),  # the default: the lesson's sentence
        ("A cat ate the fish because it was tasty", "fish", "cat"),
        ("the fish was eaten by a dog because it was hungry.", "dog", "fish"),
    ],
)
def test_checkpoint_trace_shows_the_trained_steps_and_the_antecedent(
    pronoun_checkpoint, sentence, antecedent, other
):
    args = ["trace", "attention", "--checkpoint", pronoun_checkpoint] + (
        [sentence] if sentence else []
    )
    events = json_lines(run(*args, "--json"))
    setup = events[0]
    tokens = setup["tokens"]
    assert setup["event"] == "setup" and setup["checkpoint"] == pronoun_checkpoint
    if sentence is None:
        assert tokens == "a cat ate the fish because it was hungry".split()
    assert tokens[setup["pronoun"]] == "it"
    step = traces(events)
    D = setup["d_k"]
    assert step["X"]["shape"] == [len(tokens), D] and step["X"]["labels"][0] == tokens
    assert step["h(it)"]["shape"] == [1, D]
    # the one query's scores and weights come as a column, a word per row
    assert step["weights"]["labels"] == [tokens, ["it"]] and step["weights"]["shape"] == [
        len(tokens),
        1,
    ]
    X, h = np.array(step["X"]["data"]), np.array(step["h(it)"]["data"])
    W = {k: np.array(step[k]["data"]) for k in ("Wq", "Wk", "Wv", "bq", "bk", "bv")}
    Q, K, V = (np.array(step[k]["data"]) for k in ("Q", "K", "V"))
    np.testing.assert_allclose(Q, h @ W["Wq"] + W["bq"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(K, X @ W["Wk"] + W["bk"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(V, X @ W["Wv"] + W["bv"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.array(step["QK^T"]["data"]).T, Q @ K.T, rtol=1e-12, atol=1e-12)
    scaled = np.array(step["QK^T/sqrt(d_k)"]["data"]).T
    np.testing.assert_allclose(scaled, Q @ K.T / math.sqrt(D), rtol=1e-12, atol=1e-12)
    weights = np.array(step["weights"]["data"]).T
    e = np.exp(scaled - scaled.max())
    np.testing.assert_allclose(weights, e / e.sum(), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(np.array(step["Z"]["data"]), weights @ V, rtol=1e-10, atol=1e-12)
    res = result(events)
    assert res["answer"] == antecedent and res["answer_from_z"] == antecedent
    assert res["attends_most_to"] == antecedent
    w = weights[0]
    assert w[tokens.index(antecedent)] > 2 * w[tokens.index(other)]
    assert res["model_difference"] < 1e-5  # the float64 recomputation is the model's own attention
    # the human output: the weighted sum and the reading, with the JSON's numbers
    out = run(*args).stdout
    assert "z(it) = " + " + ".join(f"{x:.2f}·v({t})" for x, t in zip(w, tokens)) in out.splitlines()
    j = int(w.argmax())
    assert f"it attends most to {antecedent} ({w[j]:.2f})" in out
    assert "answer, from z(it)·Wout + b over its" in out and f": {antecedent} (p = " in out
    for text in ("Step 1", "Step 2", "Step 3", "Step 4", "q(it) = h(it)·Wq + bq", "K = X·Wk + bk"):
        assert text in out, text


def test_checkpoint_trace_bad_input_is_one_line_and_exit_2(pronoun_checkpoint, tmp_path):
    def error(*args):
        r = run("trace", "attention", *args, code=2)
        assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
        return r.stderr

    assert "'dragon'" in error(
        "--checkpoint", pronoun_checkpoint, "the dragon ate the fish because it was hungry"
    )
    assert "'it'" in error(
        "--checkpoint", pronoun_checkpoint, "the cat ate the fish because the cat was hungry"
    )
    missing = str(tmp_path / "missing.npz")
    assert missing in error("--checkpoint", missing) and "no such file" in error(
        "--checkpoint", missing
    )
    corrupt = tmp_path / "corrupt.npz"
    data = open(pronoun_checkpoint, "rb").read()
    corrupt.write_bytes(data[: len(data) // 3])
    assert str(corrupt) in error("--checkpoint", str(corrupt))
    from nbengine import checkpoint

    other = tmp_path / "other.npz"
    checkpoint.save(other, "rnnlm", {}, {"w": np.zeros(2)})
    assert "not 'pronoun'" in error("--checkpoint", str(other))
    r = run("trace", "attention", "--checkpoint", pronoun_checkpoint, "--d-k", "3", code=2)
    assert "--d-k" in r.stderr
    run("trace", "attention", "--checkpoint", pronoun_checkpoint, "--example", code=2)
