"""`train`, `eval` and `generate transformer` through the command line: the lesson's
sentence learnt and generated back, a small character-level text, reproducibility,
the checks on the model's settings and the error paths. Runs on Shakespeare are
too long for a test (their numbers are in the README)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import json_lines, run
from test_cli_rnnlm import SENTENCE, TEXT, without_timing


def test_toy_sentence_is_learnt_and_generated_back(tmp_path):
    ckpt = tmp_path / "t.npz"
    events = json_lines(run("train", "transformer", "--data", "toy", "--save", str(ckpt), "--json"))
    start = events[0]
    assert (
        start["event"] == "start" and start["model"] == "transformer" and start["vocab_size"] == 7
    )
    assert (start["batch_size"], start["time_size"], start["heads"], start["blocks"]) == (
        1,
        7,
        2,
        1,
    )
    epochs = [e for e in events if e["event"] == "epoch"]
    assert len(epochs) == 200 and epochs[0]["perplexity"] > 3
    assert events[-1]["event"] == "result" and events[-1]["test_perplexity"] < 1.2
    gen = json_lines(
        run("generate", "transformer", "--checkpoint", str(ckpt), "--start", "you", "--json")
    )[-1]
    assert gen["text"] == SENTENCE
    ev = json_lines(run("eval", "transformer", "--checkpoint", str(ckpt), "--json"))[-1]
    assert ev["perplexity"] == pytest.approx(events[-1]["test_perplexity"], rel=1e-6)
    assert ev["model"] == "transformer"


def test_char_level_text_same_seed_same_numbers_any_thread_count(tmp_path):
    text = tmp_path / "small.txt"
    text.write_text(TEXT, encoding="utf-8")
    args = (
        "train",
        "transformer",
        "--data",
        str(text),
        "--batch-size",
        "2",
        "--context",
        "8",
        "--size",
        "8",
        "--heads",
        "2",
        "--epochs",
        "3",
        "--lr",
        "0.01",
        "--json",
    )
    one = json_lines(run(*args, "--threads", "1"))
    two = json_lines(run(*args, "--threads", "2"))
    assert without_timing(one) == without_timing(two)
    start = one[0]
    assert start["level"] == "char" and (start["size"], start["hidden"], start["time_size"]) == (
        8,
        32,
        8,
    )
    assert np.isfinite(one[-1]["test_perplexity"])
    steps = [e["loss"] for e in one if e["event"] == "step"]
    assert steps[-1] < steps[0]  # it learns something in 3 short epochs

    ckpt = tmp_path / "char.npz"
    run(*args[:-1], "--save", str(ckpt), "-q")
    r = run(
        "generate",
        "transformer",
        "--checkpoint",
        str(ckpt),
        "--start",
        "안녕",
        "--length",
        "30",
        "--json",
    )
    result = json_lines(r)[-1]
    # longer than the context of 8
    assert result["text"].startswith("안녕") and len(result["tokens"]) == 30


def test_bad_settings_and_inputs_exit_2(tmp_path):
    r = run("train", "transformer", "--data", "toy", "--size", "10", "--heads", "4", code=2)
    assert "does not split into 4 equal heads" in r.stderr
    r = run("train", "transformer", "--data", str(tmp_path / "missing.txt"), code=2)
    assert "missing.txt" in r.stderr and "Traceback" not in r.stderr
    ckpt = tmp_path / "t.npz"
    run("train", "transformer", "--data", "toy", "--epochs", "2", "--save", str(ckpt), "-q")
    r = run("eval", "transformer", "--checkpoint", str(ckpt), "--time-size", "9", code=2)
    assert "more than the 7 tokens this model reads at once" in r.stderr
    # a Transformer checkpoint is not an LSTM's
    r = run("eval", "lstmlm", "--checkpoint", str(ckpt), code=2)
    assert "transformer" in r.stderr
    bad = tmp_path / "bad.npz"
    bad.write_bytes(ckpt.read_bytes()[:200])
    r = run("generate", "transformer", "--checkpoint", str(bad), code=2)
    assert str(bad) in r.stderr and "Traceback" not in r.stderr


def test_a_diverging_run_exits_1_and_keeps_the_last_good_checkpoint(tmp_path):
    ckpt = tmp_path / "t.npz"
    run("train", "transformer", "--data", "toy", "--epochs", "3", "--save", str(ckpt), "-q")
    before = ckpt.read_bytes()
    r = run(
        "train",
        "transformer",
        "--data",
        "toy",
        "--lr",
        "1e30",
        "--clip",
        "1e30",
        "--save",
        str(ckpt),
        "--json",
        code=1,
    )
    assert "diverged" in r.stderr and "Warning" not in r.stderr  # one clear line, no NumPy warnings
    assert ckpt.read_bytes() == before
