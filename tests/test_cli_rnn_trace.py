"""`trace bptt`, `trace rnn` and `trace lstm` through the command line: the numbers
they print are the ones the lessons promise: the kernels' numbers follow the lessons'
formulas, worked out here again in NumPy from the untrained model's weights."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import json_lines, run


def traces(events, scope="step"):
    return {e["name"]: e for e in events if e["event"] == "trace" and e["scope"] == scope}


def untrained_weights(kind: str):
    """Wx and Wh of the model `trace rnn` and `trace lstm` read by default (toy vocabulary,
    embedding 4, hidden 4, seed 0)."""
    from nbengine.data.text import load_corpus
    from nbengine.models.rnnlm import MODELS

    vocab = load_corpus("toy", level="word").vocab
    model = MODELS[f"{kind}lm"](len(vocab), 4, 4, 0, np.float64)
    return model.recurrent.params["Wx"], model.recurrent.params["Wh"]


def array(step, name):
    return np.array(step[name]["data"])


# -- trace bptt ---------------------------------------------------------------------------------


def test_bptt_vanishing_exploding_and_the_lstm():
    events = json_lines(run("trace", "bptt", "--json"))
    setup = events[0]
    assert setup["event"] == "setup" and setup["steps"] == 20
    assert setup["singular_values"] == pytest.approx([0.5, 2.0])
    rows = [e for e in events if e["event"] == "norm"]
    assert [e["t"] for e in rows] == list(range(20))
    small = np.array([e["rnn_small"] for e in rows])
    large = np.array([e["rnn_large"] for e in rows])
    lstm = np.array([e["lstm"] for e in rows])
    for norms in (small, large, lstm):
        # the loss's gradient arrives at the last step, norm 1
        assert norms[-1] == pytest.approx(1.0)
    # σ < 1: smaller at every step back; about σ times a step (tanh near its linear part)
    assert np.all(np.diff(small) > 0)
    assert small[0] / small[-1] == pytest.approx(0.5**19, rel=0.05)
    # σ > 1: larger at every step back, by about σ
    assert np.all(np.diff(large) < 0)
    assert large[0] > 1e4
    # the LSTM keeps far more of it than the σ < 1 RNN
    assert lstm[0] > 1e3 * small[0]

    result = events[-1]
    assert result["event"] == "result"
    assert result["factor_per_step"]["rnn_small"] == pytest.approx(0.5, rel=0.01)
    assert result["norms"]["rnn_large"] == pytest.approx(list(large))
    assert "vanishes" in result["reading"] and "explodes" in result["reading"]
    # with ordinary inputs tanh saturates, and the σ > 1 gradient no longer grows so fast
    assert result["saturated_mean_slope"] < 0.9
    assert result["saturated_ratio"] < result["ratio_first_to_last"]["rnn_large"]


def test_bptt_human_output_and_options():
    out = run("trace", "bptt", "--steps", "8", "--hidden", "4").stdout
    assert "RNN σ = 0.5" in out and "RNN σ = 2" in out and "LSTM" in out
    assert "log scale" in out and "█" in out
    assert "the gradient at t = 0 is" in out
    # a forget gate near 0.5 lets the LSTM's gradient fade as well
    closed = json_lines(run("trace", "bptt", "--forget-bias", "0", "--json"))[-1]
    opened = json_lines(run("trace", "bptt", "--json"))[-1]
    assert closed["mean_f"] == pytest.approx(0.5, abs=0.05)
    assert closed["ratio_first_to_last"]["lstm"] < opened["ratio_first_to_last"]["lstm"] / 100
    assert (
        run("trace", "bptt", "--seed", "3", "--json").stdout
        == run("trace", "bptt", "--seed", "3", "--json").stdout
    )


# -- trace rnn and lstm -------------------------------------------------------------------------


def test_lstm_one_step_gates_cell_and_hidden():
    events = json_lines(run("trace", "lstm", "--json"))
    setup = events[0]
    assert setup["tokens"] == ["you", "say", "goodbye", "and", "i", "say", "hello", "."]
    assert setup["step"] == 1 and setup["token"] == "say" and setup["target"] == "goodbye"
    step = traces(events)
    H = 4
    for name in (
        "f",
        "g",
        "i",
        "o",
        "c",
        "h",
        "h_prev",
        "c_prev",
        "dh",
        "ds",
        "dh_prev",
        "dc_prev",
    ):
        assert step[name]["shape"] == [H], name
        assert step[name]["labels"] == [[f"unit {j}" for j in range(H)]]
    assert step["A"]["shape"] == [4 * H] and step["dA"]["shape"] == [4 * H]
    f, g, i, o = (np.array(step[k]["data"]) for k in ("f", "g", "i", "o"))
    for gate in (f, i, o):
        assert np.all((gate > 0) & (gate < 1))
    assert np.all(np.abs(g) < 1)
    # the step's numbers follow the lesson's formulas
    A = np.array(step["A"]["data"])
    np.testing.assert_allclose(f, 1 / (1 + np.exp(-A[:H])), rtol=1e-12)
    np.testing.assert_allclose(g, np.tanh(A[H : 2 * H]), rtol=1e-12)
    c_prev, c, h = (np.array(step[k]["data"]) for k in ("c_prev", "c", "h"))
    np.testing.assert_allclose(c, f * c_prev + g * i, rtol=1e-12)
    np.testing.assert_allclose(h, o * np.tanh(c), rtol=1e-12)
    np.testing.assert_allclose(
        np.array(step["dc_prev"]["data"]), np.array(step["ds"]["data"]) * f, rtol=1e-12
    )
    # every step of the sentence, a row per token
    sentence = traces(events, "sentence")
    for name in ("x", "f", "g", "i", "o", "c", "h"):
        assert sentence[name]["shape"][0] == 7
        assert sentence[name]["labels"][0][1] == "1 say"
    np.testing.assert_allclose(np.array(sentence["h"]["data"])[1], h)
    # and so do the gradients the kernel handed back
    Wx, Wh = untrained_weights("lstm")
    dh, ds, dA = (array(step, k) for k in ("dh", "ds", "dA"))
    np.testing.assert_allclose(
        ds, array(step, "dc_next") + dh * o * (1 - np.tanh(c) ** 2), rtol=1e-12
    )
    np.testing.assert_allclose(
        dA,
        np.concatenate(
            [
                ds * c_prev * f * (1 - f),
                ds * i * (1 - g**2),
                ds * g * i * (1 - i),
                dh * np.tanh(c) * o * (1 - o),
            ]
        ),
        rtol=1e-12,
    )
    np.testing.assert_allclose(array(step, "dh_prev"), dA @ Wh.T, rtol=1e-12)
    np.testing.assert_allclose(array(step, "dx"), dA @ Wx.T, rtol=1e-12)
    assert events[-1]["event"] == "result" and events[-1]["loss"] > 0


def test_rnn_one_step_and_backward_agree_with_the_kernel():
    events = json_lines(run("trace", "rnn", "--step", "0", "--json"))
    step = traces(events)
    assert step["h_prev"]["data"] == [0.0] * 4  # the first step starts from h = 0
    A, h = np.array(step["A"]["data"]), np.array(step["h"]["data"])
    np.testing.assert_allclose(h, np.tanh(A), rtol=1e-12)
    dA, dh = np.array(step["dA"]["data"]), np.array(step["dh"]["data"])
    np.testing.assert_allclose(dA, dh * (1 - h**2), rtol=1e-12)
    Wx, Wh = untrained_weights("rnn")
    np.testing.assert_allclose(np.array(step["dh_prev"]["data"]), dA @ Wh.T, rtol=1e-12)
    np.testing.assert_allclose(np.array(step["dx"]["data"]), dA @ Wx.T, rtol=1e-12)
    out = run("trace", "rnn").stdout
    assert "A = x_t·Wx + h_{t-1}·Wh + b" in out and "1 say" in out and "unit 0" in out


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_the_notes_name_the_kernels_that_ran(kind):
    naive = json_lines(run("trace", kind, "--kernels", "naive", "--json"))
    fast = json_lines(run("trace", kind, "--json"))
    assert naive[0]["kernels"] == [f"{kind}_forward_naive", f"{kind}_backward_naive"]
    assert fast[0]["kernels"] == [f"{kind}_forward", f"{kind}_backward"]
    assert traces(naive)["dh"]["note"] == f"{kind}_backward_naive's dh_total[t]"
    np.testing.assert_allclose(
        traces(naive)["dh_prev"]["data"], traces(fast)["dh_prev"]["data"], rtol=1e-12
    )
    out = " ".join(run("trace", kind).stdout.split())
    assert (
        f"{kind}_forward and {kind}_backward: the same sums as the naive loops {kind}_forward_naive and "
        f"{kind}_backward_naive, reordered for speed (lesson 8: `nbengine tutorial run speed`)"
    ) in out
    assert "reordered" not in run("trace", kind, "--kernels", "naive").stdout


def test_trace_a_trained_checkpoint_and_the_last_step(tmp_path):
    ckpt = tmp_path / "lstm.npz"
    run("train", "lstmlm", "--save", str(ckpt), "-q")
    events = json_lines(run("trace", "lstm", "--checkpoint", str(ckpt), "--step", "6", "--json"))
    step = traces(events)
    assert step["f"]["shape"] == [32]  # the checkpoint's hidden size
    assert step["dc_next"]["data"] == [0.0] * 32  # nothing comes back from beyond the last step
    prediction = next(e for e in events if e["event"] == "prediction")
    assert prediction["top"][0] == "." and prediction["target_probability"] > 0.9
    r = run("trace", "lstm", "--step", "7", code=2)  # 8 tokens: 7 steps, 0 to 6
    assert "--step" in r.stderr
    r = run("trace", "lstm", "--text", "hi", code=2)
    assert "vocabulary" in r.stderr
