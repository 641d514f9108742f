"""What every training command does through the one consumer of the training loop
(cli/run.py): JSON lines per step or per epoch, plain progress lines in a log, and a
diverged run saying which checkpoint it kept."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from test_cli import json_lines, run

from nbengine_cli import output

TRAINING = ["logreg", "cnn", "rnnlm", "lstmlm", "transformer", "pronoun"]


@pytest.mark.parametrize("model", TRAINING)
def test_json_help_says_what_it_writes_and_offers_the_other(model):
    text = " ".join(run("train", model, "--help").stdout.split())
    assert (
        "--json Write JSON lines to stdout instead of tables: the run's settings, then one line per step and "
        "one per epoch, then the result" in text
    )
    assert "--json-epochs As --json, without the per-step lines: one JSON line per epoch." in text


def test_json_writes_every_step_and_json_epochs_only_the_epochs():
    steps = json_lines(run("train", "logreg", "--epochs", "2", "--json"))
    epochs = json_lines(run("train", "logreg", "--epochs", "2", "--json-epochs"))
    kinds = [e["event"] for e in steps]
    assert kinds[0] == "start" and kinds[-1] == "result"
    assert (
        kinds.count("step")
        == 2 * math.ceil(456 / 32)
        == [e["step"] for e in steps if e["event"] == "step"][-1]
    )
    assert [e["event"] for e in epochs] == ["start", "epoch", "epoch", "result"]
    # the same lines, the steps left out
    assert [e for e in steps if e["event"] != "step"] == epochs
    first_epoch = [e["loss"] for e in steps if e["event"] == "step" and e["epoch"] == 1]
    weights = [32] * 14 + [456 - 14 * 32]
    assert epochs[1]["loss"] == pytest.approx(np.dot(first_epoch, weights) / 456, rel=1e-12)


def progress_lines(stderr: str) -> list[str]:
    return [
        ln
        for ln in stderr.splitlines()
        if re.fullmatch(r"(training|epoch \d+/\d+): [\d,]+/[\d,]+", ln)
    ]


def test_off_a_terminal_a_long_bar_writes_plain_progress_lines(monkeypatch):
    # a short run writes none: the lines start once a bar has run for PLAIN_AFTER seconds
    assert progress_lines(run("train", "logreg", "--epochs", "2").stderr) == []
    monkeypatch.setattr(output, "PLAIN_AFTER", 0.0)
    # 15 steps an epoch share one bar for the run: a line at each tenth of its 30 steps
    lines = progress_lines(run("train", "logreg", "--epochs", "2").stderr)
    assert lines == [f"training: {k}/30" for k in range(3, 31, 3)]
    # 29 steps an epoch get a bar each: each tenth (3 steps), and the end
    lines = progress_lines(run("train", "logreg", "--epochs", "2", "--batch-size", "16").stderr)
    assert lines == [f"epoch {e}/2: {k}/29" for e in (1, 2) for k in [*range(3, 28, 3), 29]]
    assert progress_lines(run("train", "logreg", "--epochs", "2", "-q").stderr) == []
    r = run("train", "logreg", "--epochs", "2", "--json")
    assert progress_lines(r.stderr) and all(line.startswith("{") for line in r.stdout.splitlines())


def test_a_diverged_cnn_run_says_which_checkpoint_it_kept(tmp_path, monkeypatch):
    from nbengine.models.base import Model
    from nbengine.models.cnn import CNN

    trained = CNN.loss_and_backward

    def goes_bad_after_a_checkpoint(self, *batch):
        loss = trained(self, *batch)
        # once epoch 1 was saved
        return float("nan") if self.extra_config.get("epochs", 0) >= 1 else loss

    monkeypatch.setattr(CNN, "loss_and_backward", goes_bad_after_a_checkpoint)
    ckpt = tmp_path / "cnn.npz"
    r = run("train", "cnn", "--limit", "64", "--epochs", "3", "--save", str(ckpt), "--json", code=1)
    assert f"stopped at step 3 (epoch 2); {ckpt} holds the model after epoch 1" in r.stderr
    assert "error: the training loss became nan at step 3 (epoch 2)" in r.stderr
    events = json_lines(r)
    assert events[-1] == {"event": "diverged", "step": 3, "epoch": 2, "checkpoint_epoch": 1}
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1]
    kept = CNN.load(ckpt)
    assert isinstance(kept, Model) and kept.extra_config["epochs"] == 1
