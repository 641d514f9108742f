"""`train cnn`, `eval cnn` and `predict cnn` through the command line.

Training runs here are short (a few hundred images, one epoch): they test the
plumbing, the reproducibility and the error paths; the accuracy of a full run is
reported in the README from a real run, not asserted in a test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from helpers import json_lines, run
from helpers import wait_for_json_line as _wait_for

QUICK = ("--limit", "256", "--epochs", "1", "--batch-size", "32")


def epochs_without_timing(result):
    """The epoch events with the fields that depend on the machine's speed removed."""
    events = [e for e in json_lines(result) if e["event"] == "epoch"]
    for e in events:
        e.pop("images_per_second")
        e.pop("seconds")
    return events


def test_train_quick_run_table_and_json():
    r = run("train", "cnn", *QUICK)
    header = r.stdout.splitlines()[0].split()
    assert header[:2] == ["epoch", "loss"] and "images/s" in header
    assert "3,241,354 parameters" in r.stderr and "Dropout before the last Dense" in r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("test accuracy")

    events = json_lines(run("train", "cnn", *QUICK, "--json"))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "result"
    assert kinds.count("step") == 8  # 256 images / 32 per step
    assert kinds.count("epoch") == 1
    start = events[0]
    assert (
        start["parameters"] == 3_241_354 and start["optimizer"] == "adam" and start["lr"] == 0.001
    )
    assert start["n_train"] == 256 and start["n_test"] == 1000
    steps = [e["loss"] for e in events if e["event"] == "step"]
    # ten classes, untrained: about -log(1/10)
    assert steps[0] == pytest.approx(np.log(10), abs=0.3)
    assert events[-1]["test_accuracy"] > 0.3  # far above chance after 8 Adam steps


def test_same_seed_same_numbers_and_thread_count_does_not_matter():
    one = epochs_without_timing(
        run("train", "cnn", *QUICK, "--json", "--seed", "3", "--threads", "1")
    )
    two = epochs_without_timing(
        run("train", "cnn", *QUICK, "--json", "--seed", "3", "--threads", "2")
    )
    again = epochs_without_timing(
        run("train", "cnn", *QUICK, "--json", "--seed", "3", "--threads", "2")
    )
    assert one == two == again
    other = epochs_without_timing(run("train", "cnn", *QUICK, "--json", "--seed", "4"))
    assert other != two


def test_lesson_settings_are_one_flag_away():
    start = json_lines(run("train", "cnn", "--lesson", "--limit", "64", "--json"))[0]
    assert (start["optimizer"], start["lr"], start["epochs"], start["batch_size"]) == (
        "sgd",
        0.01,
        5,
        32,
    )
    start = json_lines(run("train", "cnn", "--lesson", "--limit", "64", "--epochs", "1", "--json"))[
        0
    ]
    assert (start["optimizer"], start["epochs"]) == ("sgd", 1)  # an explicit option wins


def test_as_written_puts_dropout_after_the_softmax():
    r = run("train", "cnn", *QUICK, "--as-written")
    assert "Dropout after the softmax" in r.stderr
    assert "Dropout after the softmax" in run("train", "cnn", "--help").stdout.replace("\n", " ")


def test_save_eval_predict(tmp_path):
    ckpt = tmp_path / "cnn.npz"
    trained = json_lines(run("train", "cnn", *QUICK, "--save", str(ckpt), "--json"))[-1]
    assert ckpt.exists()

    ev = json_lines(run("eval", "cnn", "--checkpoint", str(ckpt), "--json"))[-1]
    assert ev["n"] == 1000 and ev["accuracy"] == pytest.approx(trained["test_accuracy"])
    assert np.sum(ev["confusion"]) == 1000
    human = run("eval", "cnn", "--checkpoint", str(ckpt)).stdout
    assert "confusion matrix" in human and "recall" in human

    # a Kaggle test.csv: a header of pixel names, 784 values per line, no label
    from nbengine.data.images import load_split

    test = load_split("mnist_5k").test
    kaggle = tmp_path / "test.csv"
    with open(kaggle, "w") as f:
        f.write(",".join(f"pixel{i}" for i in range(784)) + "\n")
        for img in test.pixels[:50]:
            f.write(",".join(map(str, img.reshape(-1))) + "\n")
    sub = tmp_path / "submission.csv"
    res = json_lines(
        run(
            "predict",
            "cnn",
            "--checkpoint",
            str(ckpt),
            "--data",
            str(kaggle),
            "--out",
            str(sub),
            "--json",
        )
    )[-1]
    lines = sub.read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 51
    ids, labels = zip(*(map(int, ln.split(",")) for ln in lines[1:]))
    assert list(ids) == list(range(1, 51))
    assert all(0 <= v <= 9 for v in labels) and res["n"] == 50
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary file left


def test_bad_inputs_exit_2(tmp_path):
    bad = tmp_path / "short.csv"
    bad.write_text(",".join(["0"] * 783) + ",5\n")
    r = run("train", "cnn", "--data", str(bad), code=2)
    assert str(bad) in r.stderr and "Traceback" not in r.stderr
    r = run("train", "cnn", *QUICK, "--save", str(tmp_path / "nowhere" / "c.npz"), code=2)
    assert "folder does not exist" in r.stderr
    r = run("eval", "cnn", "--checkpoint", str(bad), code=2)
    assert str(bad) in r.stderr
    r = run(
        "predict",
        "cnn",
        "--checkpoint",
        str(bad),
        "--data",
        "mnist_5k",
        "--out",
        str(tmp_path / "nowhere" / "s.csv"),
        code=2,
    )
    assert "folder does not exist" in r.stderr


def test_logreg_checkpoint_is_not_a_cnn(tmp_path):
    ckpt = tmp_path / "logreg.npz"
    run("train", "logreg", "--epochs", "1", "--save", str(ckpt), "-q")
    r = run("eval", "cnn", "--checkpoint", str(ckpt), code=2)
    assert "logreg" in r.stderr


def test_diverging_run_stops_with_exit_1_and_keeps_the_last_good_checkpoint(tmp_path):
    ckpt = tmp_path / "cnn.npz"
    run("train", "cnn", *QUICK, "--save", str(ckpt), "-q")
    before = ckpt.read_bytes()
    r = run(
        "train", "cnn", *QUICK, "--optimizer", "sgd", "--lr", "1e9", "--save", str(ckpt), code=1
    )
    assert "loss became" in r.stderr
    assert ckpt.read_bytes() == before


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is a POSIX feature")
def test_ctrl_c_stops_after_the_batch_and_keeps_the_epoch_checkpoint(tmp_path):
    ckpt = tmp_path / "cnn.npz"
    cmd = [
        sys.executable,
        "-m",
        "nbengine_cli.main",
        "train",
        "cnn",
        "--limit",
        "256",
        "--epochs",
        "50",
        "--save",
        str(ckpt),
        "--json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(proc, lambda e: e["event"] == "epoch", 300)
        saved = ckpt.read_bytes()
        _wait_for(proc, lambda e: e["event"] == "step", 60)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    events = [json.loads(line) for line in rest.splitlines()]
    assert events[-1]["event"] == "stopped"
    # the checkpoint is the one written at the end of an epoch, never a half-trained step
    from nbengine.models.cnn import CNN

    model = CNN.load(ckpt)
    assert model.extra_config["epochs"] == events[-1]["checkpoint_epoch"] >= 1
    assert "stopped after step" in err
    if events[-1]["checkpoint_epoch"] == 1:
        assert ckpt.read_bytes() == saved
