"""Korean for the data, tutorial, exercise and bench commands and for the errors a learner
meets on bad input: the line after "error:" is Korean under --lang ko, while the error's str
and every JSON line stay English."""

from __future__ import annotations

import json
import re

import pytest
from helpers import run

from nbengine import i18n
from nbengine.errors import CheckpointError, DataError, TutorialError
from nbengine.i18n import Msg

HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture
def korean():
    i18n.set_language("ko")
    yield
    i18n.set_language(None)


def test_an_errors_str_is_english_and_its_shown_line_korean(korean):
    e = DataError("bad.csv", Msg("column {j} is {cell}, not a number", j=2, cell="'x'"), 3)
    assert str(e) == "bad.csv:3: column 2 is 'x', not a number"
    shown = e.shown()
    assert shown.startswith("bad.csv:3: ") and "'x'" in shown and HANGUL.search(shown)
    assert "not a number" not in shown


def test_a_msg_inside_a_msg_is_shown_translated_too(korean):
    e = CheckpointError(
        "m.npz",
        Msg(
            "does not hold a valid {name} model ({reason})",
            name="lstmlm",
            reason=Msg("{name} holds NaN or infinite values", name="Wx"),
        ),
    )
    assert str(e) == "m.npz: does not hold a valid lstmlm model (Wx holds NaN or infinite values)"
    assert "NaN" in e.shown() and "holds" not in e.shown() and HANGUL.search(e.shown())
    step = TutorialError("t.toml", Msg("no output"), 2, "Sum")
    assert str(step) == "t.toml, step 2 (Sum): no output"
    assert "Sum" in step.shown() and "step 2" not in step.shown()


def test_a_problem_not_yet_marked_is_shown_as_it_was(korean):
    assert DataError("f", "an English problem").shown() == "f: an English problem"


@pytest.fixture
def bad_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,0\n1,x,1\n")
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("train", "logreg", "--data", "{bad}"),
        ("train", "cnn", "--data", "/nonexistent"),
        ("data", "show", "mnist"),
        ("eval", "logreg", "--checkpoint", "{bad}"),
    ],
)
def test_bad_input_errors_are_korean_and_english_as_before(bad_csv, args):
    args = [a.format(bad=bad_csv) for a in args]
    english = run(*args, code=2).stderr.strip().splitlines()[-1]
    korean = run("--lang", "ko", *args, code=2).stderr.strip().splitlines()[-1]
    assert english.startswith("error: ") and not HANGUL.search(english)
    assert korean.startswith("오류: ") and HANGUL.search(korean[4:]), korean
    path = args[-1] if args[0] != "data" else "mnist"
    assert path in english and path in korean


def test_the_benchmarks_lines_are_korean(korean):
    from benchmarks.report import setup_lines

    setup = {
        "cores": 2,
        "numba": "0.61",
        "numba_threading_layer": "omp",
        "numba_threads": 2,
        "blas": "openblas",
        "blas_threads": 2,
        "kernels": "fast",
        "omp_wait_policy": "PASSIVE",
        "env": {"OMP_NUM_THREADS": None},
    }
    lines = setup_lines(setup)
    assert len(lines) == 4 and all(HANGUL.search(line) for line in lines)
    assert "PASSIVE" in lines[2] and "OMP_NUM_THREADS=" in lines[3]


def korean_and_english(*args, env=None):
    return run("--lang", "ko", *args, env=env).stdout, run("--lang", "en", *args, env=env).stdout


@pytest.mark.parametrize(
    "args",
    [
        ("data", "show", "--index", "3"),
        ("data", "show", "toy"),
        ("tutorial", "list"),
        ("exercise", "list"),
    ],
    ids=" ".join,
)
def test_the_commands_speak_korean_and_their_json_does_not_change(args, tmp_path):
    env = {"NBENGINE_DATA_DIR": str(tmp_path)}
    korean, english = korean_and_english(*args, env=env)
    assert HANGUL.search(korean) and korean != english
    korean, english = korean_and_english(*args, "--json", env=env)
    korean, english = ([json.loads(line) for line in out.splitlines()] for out in (korean, english))
    if args[0] in ("tutorial", "exercise"):
        # a tutorial's or an exercise's own title is written in both languages in its file, and
        # --lang chooses which one (as `tutorial run --json` gives the narration chosen)
        for event in korean + english:
            event.pop("title", None)
    assert korean == english and korean
