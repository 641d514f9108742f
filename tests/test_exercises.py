"""Exercises: the engine's own naive kernels pass their exercises, seeded mistakes fail with the
message and hint meant for them, broken submissions end as one line, and `start` never
overwrites a learner's work.

Most tests grade in this process (nbengine.exercises.grading.grade), so the engine's kernels
compile once for all of them; the command-line tests run the worker processes for real."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nbengine.exercises import EXERCISES, ORDER
from nbengine.exercises.core import reference_source
from nbengine.exercises.grading import grade
from nbengine.exercises.skeleton import BEGIN, END, is_skeleton, skeleton
from nbengine_cli.main import main

FIXTURES = Path(__file__).parent / "fixtures" / "exercises"
BROKEN = FIXTURES / "broken"
SEEDED = sorted(FIXTURES.glob("*__*.py"))
HANGUL = re.compile("[\uac00-\ud7a3]")


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Progress goes to a folder of the test's own."""
    monkeypatch.setenv("NBENGINE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_every_exercise_the_issue_asks_for_is_there():
    wanted = {
        "logistic_forward",
        "logistic_backward",
        "conv2d_forward",
        "conv2d_backward",
        "maxpool_forward",
        "maxpool_backward",
        "dense_backward",
        "softmax_cross_entropy_backward",
        "rnn_forward",
        "rnn_backward",
        "lstm_forward",
        "lstm_backward",
        "attention_forward",
        "attention_backward",
        "adam_update",
    }
    assert wanted <= set(EXERCISES)


@pytest.mark.parametrize("ex", ORDER, ids=lambda ex: ex.name)
def test_skeleton_in_both_languages(ex):
    for lang in ("en", "ko"):
        text = skeleton(ex, lang)
        assert text.startswith(f"# nbengine exercise: {ex.name}\n")
        assert f"@njit(cache=True)\ndef {ex.name}({', '.join(ex.params)}):" in text
        assert BEGIN[lang] in text and END[lang] in text
        assert is_skeleton(ex, text)
        compile(text, ex.name, "exec")  # the skeleton itself is valid Python
    assert HANGUL.search(skeleton(ex, "ko")) and not HANGUL.search(skeleton(ex, "en"))
    assert len(ex.mistakes) >= 3


@pytest.mark.parametrize("ex", ORDER, ids=lambda ex: ex.name)
def test_the_engines_naive_kernel_in_the_skeleton_passes(ex, tmp_path, one_thread):
    path = tmp_path / f"{ex.name}.py"
    path.write_text(reference_source(ex), encoding="utf-8")
    results = list(grade(str(path), ex, speed=False))
    assert [r["check"] for r in results] == ["compile", "worked", "cases"] + (
        ["gradients"] if ex.gradient else []
    )
    assert all(r["passed"] for r in results), results[-1]["message"]


def _worked_output(name, output):
    ex = EXERCISES[name]
    return ex.expected(ex.worked.case()).args[output]


def test_worked_examples_are_the_lessons():
    assert _worked_output("conv2d_forward", "out")[0, :, :, 0].tolist() == [[7, 6], [10, 7]]
    assert _worked_output("maxpool_forward", "out")[0, :, :, 0].tolist() == [[5, 8], [5, 4]]
    dx = _worked_output("maxpool_backward", "dx")[0, :, :, 0]
    assert sorted(dx[dx != 0].tolist()) == [1, 2, 3, 4]
    weights = _worked_output("attention_forward", "weights")[0, 0]
    assert np.round(weights, 4).tolist() == [0.9045, 0.0742, 0.0213]


@pytest.mark.parametrize("path", SEEDED, ids=lambda p: p.stem)
def test_a_seeded_mistake_fails_with_its_message_and_hint(path):
    name, key = path.stem.split("__")
    ex = EXERCISES[name]
    mistake = next(m for m in ex.mistakes if m.key == key)
    last = list(grade(str(path), ex, "en", hint=1, speed=False))[-1]
    assert last["passed"] is False
    assert last["check"] in ("worked", "cases")
    assert last["mistake"] == key
    assert last["hint"] == mistake.hint[0]
    # the first wrong element, both values
    assert re.search(r"\w+\[[\d, ]+\] is \S+, expected \S+", last["message"])
    assert last["term"].startswith(last["output"] + "[")
    korean = list(grade(str(path), ex, "ko", hint=1, speed=False))[-1]
    assert korean["hint"] == mistake.hint[1] and HANGUL.search(korean["message"])


def test_hints_are_graded():
    path = FIXTURES / "rnn_backward__transpose-forgotten.py"
    ex = EXERCISES["rnn_backward"]
    mistake = next(m for m in ex.mistakes if m.key == "transpose-forgotten")
    levels = [list(grade(str(path), ex, "en", hint=h, speed=False))[-1] for h in (0, 1, 2)]
    assert all(r["mistake"] == "transpose-forgotten" for r in levels)
    assert "--hint" in levels[0]["hint"] and mistake.hint[0] not in levels[0]["hint"]
    assert levels[1]["hint"] == mistake.hint[0]
    assert levels[2]["hint"].startswith(mistake.hint[0]) and ex.hints[0][0] in levels[2]["hint"]


def _check(*args, timeout="60"):
    return CliRunner().invoke(
        main, ["exercise", "check", *map(str, args), "--timeout", timeout, "--lang", "en"]
    )


@pytest.mark.parametrize(
    "file, says",
    [
        ("syntax_error.py", r"syntax_error\.py:35: syntax error"),
        (
            "typing_error.py",
            r"typing_error\.py:38: Numba cannot compile conv2d_forward: .*add\(float64",
        ),
        (
            "wrong_signature.py",
            r"wrong signature: conv2d_forward\(out, x, w, b, stride, pad\) takes 6 arguments",
        ),
        ("crash_segfault.py", r"the process ended during the worked check \(a segmentation fault"),
        ("crash_exit.py", r"the process ended during the compile check \(exit code 3\)"),
    ],
)
def test_a_broken_submission_is_one_line_and_fails(file, says):
    result = _check(BROKEN / file, "--json")
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    failed = [c for c in lines if c["event"] == "check" and c["passed"] is False]
    assert (
        len(failed) == 1
        and "\n" not in failed[0]["message"]
        and "Traceback" not in failed[0]["message"]
    )
    assert re.search(says, failed[0]["message"]), failed[0]["message"]
    assert lines[-1]["event"] == "result" and lines[-1]["passed"] is False


def test_an_endless_loop_is_stopped_by_the_time_limit():
    result = _check(BROKEN / "endless_loop.py", timeout="4")
    assert result.exit_code == 1
    assert re.search(r"check did not finish in 4 s \(an endless loop\?\)", result.output)


def test_all_grades_a_mixed_folder(tmp_path, monkeypatch):
    # no C twins to build: the time limit is for the submissions' checks
    monkeypatch.setenv("CC", "false")
    folder = tmp_path / "class"
    folder.mkdir()
    for f in BROKEN.glob("*.py"):
        shutil.copy(f, folder / f.name)
    shutil.copy(FIXTURES / "conv2d_forward__stride-ignored.py", folder / "ann.py")
    (folder / "bo.py").write_text(reference_source(EXERCISES["maxpool_backward"]), encoding="utf-8")
    (folder / "notes.py").write_text("print('not an exercise')\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["exercise", "check", "--all", str(folder), "--json", "--timeout", "10"]
    )
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    graded = {os.path.basename(x["file"]): x for x in lines if x["event"] == "submission"}
    assert set(graded) == {f.name for f in folder.glob("*.py")}
    assert graded["bo.py"]["passed"] is True, graded["bo.py"]["message"]
    assert graded["ann.py"]["mistake"] == "stride-ignored"
    assert (
        graded["endless_loop.py"]["failed"] == "worked"
        and "did not finish" in graded["endless_loop.py"]["message"]
    )
    assert graded["crash_segfault.py"]["failed"] == "worked"
    assert "cannot tell which exercise" in graded["notes.py"]["message"]
    for name in ("syntax_error.py", "typing_error.py", "wrong_signature.py", "crash_exit.py"):
        assert graded[name]["passed"] is False and graded[name]["failed"] == "compile"
    assert lines[-1] == {"event": "summary", "passed": 1, "failed": len(graded) - 1}


def test_start_never_overwrites_an_edited_file(tmp_path):
    runner = CliRunner()
    first = runner.invoke(
        main, ["exercise", "start", "conv2d_forward", "--dir", str(tmp_path), "--lang", "ko"]
    )
    assert first.exit_code == 0
    path = tmp_path / "conv2d_forward.py"
    assert path.read_text(encoding="utf-8") == skeleton(EXERCISES["conv2d_forward"], "ko")
    again = runner.invoke(main, ["exercise", "start", "conv2d_forward", "--dir", str(tmp_path)])
    assert again.exit_code == 0 and "already there" in again.output
    edited = path.read_text(encoding="utf-8").replace("pass  #", "acc = 0  #")
    path.write_text(edited, encoding="utf-8")
    refused = runner.invoke(main, ["exercise", "start", "conv2d_forward", "--dir", str(tmp_path)])
    assert refused.exit_code == 2
    assert "not overwritten" in refused.output and len(refused.output.strip().splitlines()) == 1
    assert path.read_text(encoding="utf-8") == edited
    unknown = runner.invoke(main, ["exercise", "start", "conv3d", "--dir", str(tmp_path)])
    assert unknown.exit_code == 2 and "no exercise 'conv3d'" in unknown.output


def test_check_of_a_correct_convolution_passes_and_is_kept_in_the_progress(tmp_path, data_dir):
    runner = CliRunner()
    listed = runner.invoke(main, ["exercise", "list", "--json"])
    status = {x["name"]: x["status"] for x in map(json.loads, listed.stdout.splitlines())}
    assert set(status.values()) == {"not started"} and set(status) == set(EXERCISES)

    wrong = _check(FIXTURES / "conv2d_forward__filter-flipped.py", "--hint")
    assert wrong.exit_code == 1
    assert (
        "recognised mistake: filter flipped" in wrong.output and "cross-correlation" in wrong.output
    )
    listed = runner.invoke(main, ["exercise", "list", "--json"])
    assert {x["name"]: x["status"] for x in map(json.loads, listed.stdout.splitlines())}[
        "conv2d_forward"
    ] == "failing"

    path = tmp_path / "conv2d_forward.py"
    path.write_text(reference_source(EXERCISES["conv2d_forward"]), encoding="utf-8")
    right = _check(path, "--json")
    assert right.exit_code == 0, right.output
    checks = [json.loads(line) for line in right.stdout.splitlines()]
    assert [c.get("check") for c in checks] == ["compile", "worked", "cases", "speed", None]
    speed = checks[3]
    assert speed["passed"] is None and [r["kernel"] for r in speed["rows"][:3]] == [
        "yours",
        "conv2d_forward_naive",
        "conv2d_forward",
    ]
    assert all(r["seconds"] > 0 for r in speed["rows"])
    assert checks[-1]["passed"] is True
    saved = json.loads((data_dir / "exercises.json").read_text(encoding="utf-8"))
    assert saved["conv2d_forward"]["status"] == "passed"
