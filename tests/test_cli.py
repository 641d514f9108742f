"""Every command through click's test runner: tables, JSON lines, exit codes, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from helpers import json_lines, run

from nbengine_cli.main import main

LESSON_STEPS = [
    "x",
    "w",
    "b",
    "z",
    "a",
    "y",
    "L",
    "dL/da",
    "da/dz",
    "dL/dz",
    "dz/dw",
    "dL/dw",
    "dL/db",
    "new w",
    "new b",
    "new a",
]


def all_commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,)
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, prefix + (name,))


# -- help and version -----------------------------------------------------------------------


def test_version():
    assert run("--version").stdout.strip() == "nbengine, version 0.1.0"
    assert run("-V").stdout.strip() == "nbengine, version 0.1.0"


@pytest.mark.parametrize(
    "path", [()] + list(all_commands(main)), ids=lambda p: " ".join(p) or "nbengine"
)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_everywhere(path, flag):
    out = run(*path, flag).stdout
    assert out.startswith("Usage: nbengine")


# -- train ----------------------------------------------------------------------------------


def test_train_table_reaches_95_percent():
    r = run("train", "logreg")
    assert "train acc" in r.stdout and "test acc" in r.stdout
    rows = [ln.split() for ln in r.stdout.splitlines() if ln.strip()[:1].isdigit()]
    assert [int(row[0]) for row in rows] == list(range(1, 21))  # one row per epoch
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("test accuracy")
    assert float(last.split()[2]) >= 0.95
    assert "seed 0" in r.stderr  # the seed is echoed, on stderr


def test_train_json_is_reproducible_and_accurate():
    first = run("train", "logreg", "--seed", "0", "--json")
    second = run("train", "logreg", "--seed", "0", "--json")
    assert first.stdout == second.stdout
    events = json_lines(first)
    assert events[0]["event"] == "start" and events[0]["seed"] == 0
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == list(range(1, 21))
    assert epochs[-1]["loss"] < epochs[0]["loss"]
    result = events[-1]
    assert result["event"] == "result" and result["test_accuracy"] >= 0.95
    other = json_lines(run("train", "logreg", "--seed", "1", "--json"))
    assert other[1] != events[1]  # another seed, other numbers


def test_train_trace_every_prints_the_step_tensors():
    events = json_lines(run("train", "logreg", "--epochs", "1", "--trace-every", "5", "--json"))
    traces = [e for e in events if e["event"] == "trace"]
    assert sorted({e["step"] for e in traces}) == [1, 6, 11]  # 15 steps of 32 in one epoch
    names = [e["name"] for e in traces if e["step"] == 1]
    for name in ["x", "w", "z", "a", "dL/dw", "dL/db", "new w", "new b"]:
        assert name in names
    by_name = {e["name"]: e for e in traces if e["step"] == 6}
    assert by_name["x"]["shape"] == [32, 30]
    assert by_name["x"]["labels"][1][0] == "mean radius"
    w = np.array(by_name["w"]["data"], np.float32)
    dw = np.array(by_name["dL/dw"]["data"], np.float32)
    new_w = np.array(by_name["new w"]["data"], np.float32)
    np.testing.assert_array_equal(new_w, w - np.float32(0.1) * dw)  # the update, to the bit

    table = run("train", "logreg", "--epochs", "1", "--trace-every", "100")
    assert "step 1 (epoch 1)" in table.stdout and "dL/dw = dL/da · da/dz · dz/dw" in table.stdout


def test_divergence_stops_with_exit_1_and_keeps_the_good_checkpoint(tmp_path):
    ckpt = tmp_path / "model.npz"
    run("train", "logreg", "--epochs", "2", "--save", str(ckpt), "-q")
    good = ckpt.read_bytes()
    r = run("train", "logreg", "--lr", "1e38", "--save", str(ckpt), code=1)
    assert "error: the training loss became nan" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert ckpt.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary file left behind


# -- checkpoints and eval -------------------------------------------------------------------


def test_save_then_eval_gives_the_same_test_accuracy(tmp_path):
    ckpt = tmp_path / "logreg.npz"
    result = json_lines(run("train", "logreg", "--save", str(ckpt), "--json"))[-1]
    assert result["checkpoint"] == str(ckpt)
    with np.load(ckpt, allow_pickle=False) as z:
        assert int(z["__format__"]) == 1 and str(z["__model__"]) == "logreg"
    ev = json_lines(run("eval", "logreg", "--checkpoint", str(ckpt), "--json"))[-1]
    assert ev["accuracy"] == result["test_accuracy"]
    assert ev["loss"] == pytest.approx(result["test_loss"], rel=1e-12)
    assert sum(map(sum, ev["confusion"])) == result["n_test"]
    table = run("eval", "logreg", "--checkpoint", str(ckpt)).stdout
    assert "malignant" in table and "benign" in table and "accuracy" in table
    all_rows = json_lines(
        run("eval", "logreg", "--checkpoint", str(ckpt), "--split", "all", "--json")
    )[-1]
    assert all_rows["n"] == 569


def test_eval_refuses_bad_checkpoints(tmp_path):
    from nbengine import checkpoint

    other = tmp_path / "cnn.npz"
    checkpoint.save(other, "cnn", {}, {"w": np.zeros(3, np.float32)})
    r = run("eval", "logreg", "--checkpoint", str(other), code=2)
    assert r.stderr.strip() == f"error: {other}: is a checkpoint of model 'cnn', not 'logreg'"

    text = tmp_path / "notes.npz"
    text.write_text("not a checkpoint")
    r = run("eval", "logreg", "--checkpoint", str(text), code=2)
    assert "not a .npz archive" in r.stderr and len(r.stderr.strip().splitlines()) == 1

    run("eval", "logreg", "--checkpoint", str(tmp_path / "missing.npz"), code=2)
    run("eval", "logreg", code=2)  # --checkpoint is required


# -- trace ----------------------------------------------------------------------------------


def test_trace_shows_every_step_of_the_lesson():
    r = run("trace", "logreg", "--index", "7")
    for formula in [
        "z = Σᵢ wᵢxᵢ + b",
        "a = σ(z)",
        "L = −(y·log a + (1−y)·log(1−a))",
        "da/dz = a(1−a)",
        "dz/dw = x",
        "w ← w − η·dL/dw",
    ]:
        assert formula in r.stdout
    assert "Sample 7 of breast_cancer" in r.stdout and "label 0 = malignant" in r.stdout
    assert "The chain for the weight of 'mean fractal dimension'" in r.stdout
    assert "dL/dw = dL/da · da/dz · dz/dw = 1.9602 × 0.2499 × 1.7693 = 0.8667" in r.stdout
    assert "…" in r.stdout  # 30 features are summarised
    assert "…" not in run("trace", "logreg", "--index", "7", "--full").stdout


def test_trace_json_numbers_follow_the_chain_rule():
    events = json_lines(run("trace", "logreg", "--index", "7", "--lr", "0.5", "--json"))
    assert events[0]["event"] == "sample" and events[0]["label"] == 0
    steps = {e["name"]: e for e in events if e["event"] == "trace"}
    assert list(steps) == LESSON_STEPS
    v = {k: np.array(e["data"], dtype=np.float64) for k, e in steps.items()}
    assert v["z"].shape == () and v["x"].shape == (30,)
    assert v["z"] == pytest.approx(float(v["w"] @ v["x"] + v["b"]), abs=1e-5)
    assert v["a"] == pytest.approx(1 / (1 + np.exp(-v["z"])), rel=1e-6)
    assert v["dL/da"] * v["da/dz"] == pytest.approx(v["dL/dz"], rel=1e-5)
    assert v["dL/dz"] == pytest.approx(v["a"] - v["y"], rel=1e-6)
    np.testing.assert_allclose(v["dL/dw"], v["dL/dz"] * v["x"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(v["new w"], v["w"] - 0.5 * v["dL/dw"], rtol=1e-5, atol=1e-7)
    assert abs(v["new a"] - v["y"]) < abs(v["a"] - v["y"])  # one step made the prediction better
    (chain,) = [e for e in events if e["event"] == "chain"]
    assert chain["index"] == int(np.argmax(np.abs(v["dL/dw"])))
    assert chain["dz_dw"] == v["x"][chain["index"]]
    assert chain["dL_da"] * chain["da_dz"] * chain["dz_dw"] == pytest.approx(
        chain["dL_dw"], rel=1e-5
    )


def test_trace_from_a_checkpoint_uses_its_weights(tmp_path):
    ckpt = tmp_path / "m.npz"
    run("train", "logreg", "--save", str(ckpt), "-q")
    trained = {
        e["name"]: e
        for e in json_lines(run("trace", "logreg", "--checkpoint", str(ckpt), "--json"))
        if e["event"] == "trace"
    }
    with np.load(ckpt, allow_pickle=False) as z:
        np.testing.assert_array_equal(np.array(trained["w"]["data"], np.float32), z["w"])


def test_trace_index_out_of_range():
    r = run("trace", "logreg", "--index", "569", code=2)
    assert "569 samples" in r.stderr


# -- gradcheck ------------------------------------------------------------------------------


def test_gradcheck_passes():
    r = run("gradcheck", "logreg")
    assert "dL/dw" in r.stdout and "pass" in r.stdout and "FAIL" not in r.stdout
    rows = [
        e for e in json_lines(run("gradcheck", "logreg", "--json")) if e["event"] == "gradcheck"
    ]
    assert [e["parameter"] for e in rows] == ["w", "b"]
    assert all(e["passed"] and e["max_rel_error"] < 1e-6 for e in rows)


def test_gradcheck_failure_exits_1():
    # Finite differences cannot reach a relative error of 1e-15; the check must say so.
    r = run("gradcheck", "logreg", "--tolerance", "1e-15", code=1)
    assert "FAIL" in r.stdout


# -- bad data files -------------------------------------------------------------------------

BAD_FILES = {
    "empty.csv": ("", ": the file is empty"),
    "columns.csv": (
        "1,2,0\n3,4,1\n5,1\n",
        ":3: has 2 columns, expected 3 (2 features and a label)",
    ),
    "text.csv": ("1,2,0\n3,abc,1\n", ":2: column 2 is 'abc', not a number"),
    "label.csv": ("1,2,0\n3,4,1\n5,6,2\n", ":3: label '2' is not one of 0, 1"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
@pytest.mark.parametrize(
    "command", [("train", "logreg"), ("trace", "logreg"), ("gradcheck", "logreg")]
)
def test_bad_data_file_is_one_line_exit_2(tmp_path, name, command):
    content, problem = BAD_FILES[name]
    path = tmp_path / name
    path.write_text(content)
    r = run(*command, "--data", str(path), code=2)
    assert r.stderr.splitlines()[-1] == f"error: {path}{problem}"
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_missing_data_file():
    r = run("train", "logreg", "--data", "no/such/file.csv", code=2)
    assert (
        r.stderr.strip()
        == "error: no/such/file.csv: no such file, and not a shipped data set (breast_cancer)"
    )


def test_data_list():
    assert "breast_cancer" in run("data", "list").stdout
    entries = {e["name"]: e for e in json_lines(run("data", "list", "--json"))}
    assert Path(entries["breast_cancer"]["path"]).is_file()
    assert Path(entries["mnist_5k"]["path"]).is_file()


# -- the installed console script -----------------------------------------------------------


def test_console_script_runs_outside_the_repository(tmp_path):
    script = Path(sys.executable).parent / "nbengine"
    assert script.exists(), f"the console script is not installed next to {sys.executable}"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [str(script), "train", "logreg", "--epochs", "3", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["event"] == "result" and result["test_accuracy"] > 0.9
    version = subprocess.run(
        [str(script), "--version"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert version.stdout.strip() == "nbengine, version 0.1.0"


def test_save_into_a_missing_folder_fails_before_training(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "m.npz"
    r = run("train", "logreg", "--save", str(target), code=2)
    assert r.stderr.strip() == f"error: {target}: cannot be saved: the folder does not exist"
    assert "epoch" not in r.stdout  # nothing was trained


def test_trace_of_a_checkpoint_on_data_with_other_features(tmp_path):
    ckpt = tmp_path / "m.npz"
    run("train", "logreg", "--epochs", "1", "--save", str(ckpt), "-q")
    other = tmp_path / "small.csv"
    other.write_text("".join(f"{i},{i % 3},{i % 2}\n" for i in range(10)))
    r = run("trace", "logreg", "--checkpoint", str(ckpt), "--data", str(other), code=2)
    assert r.stderr.strip() == f"error: {other}: has 2 features; the model was trained on 30"


def test_bench_reports_ratios_against_numpy(small_sgemm):
    events = json_lines(run("bench", "logreg", "--rounds", "1", "--min-round", "0", "--json"))
    (machine,) = [e for e in events if e["event"] == "machine"]
    rows = [e for e in events if e["event"] == "bench"]
    assert len(rows) == 9  # three cases, three implementations each
    for case in {r["case"] for r in rows}:
        these = [r for r in rows if r["case"] == case]
        (ref,) = [r for r in these if r["reference"]]
        assert ref["speedup"] == 1.0
        for r in these:
            assert r["median_s"] > 0 and r["speedup"] == pytest.approx(
                ref["median_s"] / r["median_s"]
            )
            assert r["gflops"] == pytest.approx(r["flops"] / r["median_s"] / 1e9)
            assert r["sgemm_share"] == pytest.approx(r["gflops"] / machine["sgemm_gflops"])


def test_a_long_run_s_time_fits_the_table_s_column():
    """A naive-kernel run lasts minutes: its time column said 1220.… (cut at six characters)."""
    from nbengine_cli.render.tensor import duration

    cases = {
        0.04: "0.0s",
        41.23: "41.2s",
        59.96: "1m00s",
        1462.7: "24m23s",
        3599: "59m59s",
        7500: "2h05m",
    }
    for seconds, text in cases.items():
        assert duration(seconds) == text
        assert len(text) <= 6
