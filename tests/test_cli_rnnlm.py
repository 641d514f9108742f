"""`train`, `eval` and `generate` for the language models (rnnlm, lstmlm) through the
command line.

The runs here are on the lesson's sentence and on tiny texts written by the tests,
each a second or less: they test that the toy sentence is learnt, the plumbing, the
reproducibility and the error paths. Runs on Shakespeare or the Penn Treebank are
too long for a test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
from helpers import json_lines, run
from helpers import wait_for_json_line as _wait_for

SENTENCE = "you say goodbye and i say hello ."
MODELS = ["rnnlm", "lstmlm"]

# A small text with a line of Korean; its last line (the test split) has "Z", which
# the training lines never use, so the vocabulary holds <unk>.
TEXT = (
    "\n".join(
        ["the cat sat on the mat", "안녕하세요 세계", "the dog sat on the log"] * 6
        + ["a cat and a dog", "the end", "Zebra"]
    )
    + "\n"
)


def without_timing(events):
    events = [dict(e) for e in events if e["event"] in ("step", "epoch", "result")]
    for e in events:
        for key in ("tokens_per_second", "seconds"):
            e.pop(key, None)
    return events


@pytest.mark.parametrize("model", MODELS)
def test_toy_sentence_is_learnt_and_generated_back(model, tmp_path):
    ckpt = tmp_path / f"{model}.npz"
    events = json_lines(run("train", model, "--save", str(ckpt), "--json"))
    start = events[0]
    assert start["event"] == "start" and start["data"] == "toy" and start["vocab_size"] == 7
    assert (start["batch_size"], start["time_size"], start["optimizer"]) == (1, 7, "adam")
    epochs = [e for e in events if e["event"] == "epoch"]
    assert len(epochs) == 200
    assert epochs[0]["perplexity"] > 5  # about 7 untrained: a uniform guess over 7 words
    assert epochs[-1]["perplexity"] < 1.2 and epochs[-1]["valid_perplexity"] < 1.2
    assert events[-1]["event"] == "result" and events[-1]["test_perplexity"] < 1.2
    assert events[-1]["checkpoint"] == str(ckpt)

    gen = json_lines(run("generate", model, "--checkpoint", str(ckpt), "--start", "you", "--json"))[
        -1
    ]
    assert gen["text"] == SENTENCE
    assert gen["start_tokens"] == ["you"] and len(gen["tokens"]) == 7
    human = run("generate", model, "--checkpoint", str(ckpt)).stdout  # "you" is the default start
    assert human.strip() == SENTENCE


def test_table_rows_status_and_result_line():
    r = run("train", "rnnlm", "--epochs", "30", "--every", "10")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["epoch", "train", "ppl", "valid", "ppl", "tokens/s", "time"]
    rows = [ln.split() for ln in lines if ln.strip()[:1].isdigit()]
    assert [int(row[0]) for row in rows] == [10, 20, 30]
    assert (
        lines[-1].startswith("test perplexity") and "uniform guess over the 7 tokens" in lines[-1]
    )
    assert "RNN language model" in r.stderr and "seed 0" in r.stderr and "batch 1 × 7" in r.stderr


def test_same_seed_same_numbers_other_seed_other_numbers():
    args = ("train", "lstmlm", "--epochs", "5", "--json")
    one = json_lines(run(*args, "--seed", "3"))
    two = json_lines(run(*args, "--seed", "3", "--threads", "1"))
    assert without_timing(one) == without_timing(two)
    assert [e["event"] for e in one].count("step") == 5  # one batch per epoch
    steps = [e for e in one if e["event"] == "step"]
    assert steps[0]["loss"] == pytest.approx(np.log(7), abs=0.1)  # untrained: about a uniform guess
    assert steps[0]["perplexity"] == pytest.approx(np.exp(steps[0]["loss"]))
    assert all(e["grad_norm"] > 0 for e in steps)
    other = json_lines(run(*args, "--seed", "4"))
    assert without_timing(other) != without_timing(one)


def test_save_eval_generate_round_trip(tmp_path):
    ckpt = tmp_path / "lm.npz"
    trained = json_lines(run("train", "rnnlm", "--epochs", "40", "--save", str(ckpt), "--json"))
    result = trained[-1]
    ev = json_lines(run("eval", "rnnlm", "--checkpoint", str(ckpt), "--json"))[-1]
    assert ev["split"] == "test" and ev["tokens"] == 7 and ev["vocab_size"] == 7
    assert ev["perplexity"] == pytest.approx(result["test_perplexity"], rel=1e-6)
    valid = json_lines(
        run("eval", "rnnlm", "--checkpoint", str(ckpt), "--split", "valid", "--json")
    )[-1]
    # toy: every split is the sentence
    assert valid["perplexity"] == pytest.approx(ev["perplexity"], rel=1e-6)
    human = run("eval", "rnnlm", "--checkpoint", str(ckpt)).stdout
    assert human.startswith("test perplexity")

    first = run(
        "generate", "rnnlm", "--checkpoint", str(ckpt), "--seed", "5", "--length", "20", "--json"
    )
    again = run(
        "generate", "rnnlm", "--checkpoint", str(ckpt), "--seed", "5", "--length", "20", "--json"
    )
    assert first.stdout == again.stdout
    gen = json_lines(first)[-1]
    assert len(gen["tokens"]) == 20 and gen["seed"] == 5
    # on a terminal the start text is bold, and only it
    shown = run(
        "generate",
        "rnnlm",
        "--checkpoint",
        str(ckpt),
        "--start",
        "you say",
        "--length",
        "3",
        env={"FORCE_COLOR": "1"},
    ).stdout
    assert shown.startswith("\x1b[1myou say\x1b[0m ") and shown.count("\x1b[") == 2

    # a checkpoint of the other model is refused
    r = run("eval", "lstmlm", "--checkpoint", str(ckpt), code=2)
    assert "rnnlm" in r.stderr


def test_char_level_text_file_with_korean(tmp_path):
    text = tmp_path / "small.txt"
    text.write_text(TEXT, encoding="utf-8")
    ckpt = tmp_path / "char.npz"
    args = (
        "--data",
        str(text),
        "--level",
        "char",
        "--batch-size",
        "2",
        "--time-size",
        "8",
        "--epochs",
        "3",
        "--embed-size",
        "8",
        "--hidden-size",
        "8",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
    )
    events = json_lines(run("train", "lstmlm", *args, "--save", str(ckpt), "--json"))
    start = events[0]
    assert start["level"] == "char" and start["n_train"] > 0
    # the defaults of a text file: the book's clip
    assert start["lr"] == 0.01 and start["clip"] == 0.25
    assert events[-1]["event"] == "result" and np.isfinite(events[-1]["test_perplexity"])

    gen = run(
        "generate",
        "lstmlm",
        "--checkpoint",
        str(ckpt),
        "--start",
        "안녕",
        "--length",
        "30",
        "--json",
    )
    result = json_lines(gen)[-1]
    assert result["text"].startswith("안녕") and len(result["tokens"]) == 30
    assert "<unk>" not in result["tokens"]  # never drawn
    human = run(
        "generate", "lstmlm", "--checkpoint", str(ckpt), "--start", "안녕", "--length", "30"
    ).stdout
    assert human.rstrip("\n") == result["text"]

    # an unknown character reads as <unk>, with a note
    r = run(
        "generate", "lstmlm", "--checkpoint", str(ckpt), "--start", "Q", "--length", "5", "--json"
    )
    result = json_lines(r)[-1]
    assert result["start_tokens"] == ["<unk>"] and result["unknown"] == ["Q"]
    assert "'Q' is not in the model's vocabulary" in r.stderr

    ev = json_lines(run("eval", "lstmlm", "--checkpoint", str(ckpt), "--json"))[-1]
    assert ev["perplexity"] == pytest.approx(events[-1]["test_perplexity"], rel=1e-6)


def test_ptb_settings_are_one_flag_away(tmp_path):
    text = tmp_path / "words.txt"
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran"]
    text.write_text("\n".join(" ".join(rng.choice(words, 7)) for _ in range(200)) + "\n")
    start = json_lines(
        run("train", "lstmlm", "--data", str(text), "--ptb-settings", "--epochs", "1", "--json")
    )[0]
    assert (start["batch_size"], start["time_size"], start["embed_size"], start["hidden_size"]) == (
        20,
        35,
        100,
        100,
    )
    assert (start["optimizer"], start["lr"], start["clip"], start["epochs"]) == (
        "sgd",
        20.0,
        0.25,
        1,
    )
    # without the flag a text file gets the same, but the RNN a smaller step (η = 20 wrecks it)
    start = json_lines(run("train", "rnnlm", "--data", str(text), "--epochs", "1", "--json"))[0]
    assert (start["batch_size"], start["optimizer"], start["lr"]) == (20, "sgd", 5.0)


def test_bad_inputs_exit_2(tmp_path):
    r = run("train", "rnnlm", "--data", str(tmp_path / "missing.txt"), code=2)
    assert "missing.txt" in r.stderr and "Traceback" not in r.stderr
    r = run("train", "rnnlm", "--batch-size", "20", code=2)  # 8 tokens are too few
    assert "too few for one batch" in r.stderr
    r = run("train", "rnnlm", "--save", str(tmp_path / "nowhere" / "lm.npz"), code=2)
    assert "folder does not exist" in r.stderr

    bad = tmp_path / "bad.npz"
    bad.write_text("not a checkpoint")
    for cmd in ("eval", "generate"):
        r = run(cmd, "rnnlm", "--checkpoint", str(bad), code=2)
        assert str(bad) in r.stderr
    r = run("generate", "rnnlm", "--checkpoint", str(tmp_path / "none.npz"), code=2)
    assert "no such file" in r.stderr

    ckpt = tmp_path / "lm.npz"
    run("train", "rnnlm", "--epochs", "2", "--save", str(ckpt), "-q")
    r = run("generate", "rnnlm", "--checkpoint", str(ckpt), "--temperature", "0", code=2)
    assert "--temperature" in r.stderr
    r = run("generate", "rnnlm", "--checkpoint", str(ckpt), "--start", "hi there", code=2)
    assert "'hi' is not in the model's vocabulary" in r.stderr  # the toy sentence has no <unk>


def test_a_diverging_run_exits_1_and_keeps_the_last_good_checkpoint(tmp_path):
    ckpt = tmp_path / "lm.npz"
    run("train", "rnnlm", "--epochs", "3", "--save", str(ckpt), "-q")
    before = ckpt.read_bytes()
    r = run("train", "rnnlm", "--lr", "1e6", "--save", str(ckpt), "--json", code=1)
    assert "diverged" in r.stderr and "larger than any number" in r.stderr
    assert json_lines(r)[-1]["event"] == "diverged"
    assert ckpt.read_bytes() == before


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is a POSIX feature")
def test_ctrl_c_stops_after_the_batch_and_keeps_the_checkpoint(tmp_path):
    ckpt = tmp_path / "lm.npz"
    cmd = [
        sys.executable,
        "-m",
        "nbengine_cli.main",
        "train",
        "lstmlm",
        "--epochs",
        "1000000",
        "--every",
        "1",
        "--save",
        str(ckpt),
        "--json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(proc, lambda e: e["event"] == "epoch" and e["epoch"] >= 3, 120)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    events = [json.loads(line) for line in rest.splitlines()]
    assert events[-1]["event"] == "stopped"
    from nbengine.models.rnnlm import LSTMLM

    model = LSTMLM.load(ckpt)
    assert model.extra_config["epochs"] == events[-1]["checkpoint_epoch"] >= 3
    assert "stopped after step" in err
