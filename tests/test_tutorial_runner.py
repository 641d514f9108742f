"""The tutorial format and `nbengine tutorial list|run`: the README's own example run
from a path in both languages, JSON lines, straight-through runs off a terminal, the
language from the locale, and one clear line (file, step, problem) for a broken file."""

from __future__ import annotations

import os
import re
import select
import sys
import time
from pathlib import Path

import pytest
from helpers import json_lines, run

from nbengine.i18n import set_language
from nbengine.tutorial import find, load, shipped

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_tutorial() -> str:
    """The complete user-written tutorial the README shows (the ```toml block after its heading)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Write your own tutorial") :]
    return re.search(r"```toml\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def own(tmp_path):
    path = tmp_path / "softmax.toml"
    path.write_text(readme_tutorial(), encoding="utf-8")
    return path


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_readmes_tutorial_runs_from_a_path_with_its_numbers(own, lang):
    events = json_lines(run("tutorial", "run", str(own), "--lang", lang, "--json"))
    start, *steps, end = events
    assert start["event"] == "start" and start["lang"] == lang and start["steps"] == len(steps) == 3
    assert end["event"] == "end"
    assert steps[0]["values"]["scores"] == [13.75, 11.25, 10.0]
    weights = steps[1]["values"]["weights"]
    assert weights["labels"] == [["I", "am", "good"]]
    assert [round(w, 4) for w in weights["data"]] == [0.9045, 0.0742, 0.0213] and abs(
        sum(weights["data"]) - 1
    ) < 1e-12
    assert "0.9045" in steps[2]["output"] and steps[2]["run"] == "trace attention --example"
    korean = any("\uac00" <= ch <= "\ud7a3" for ch in steps[0]["say"])
    assert korean == (lang == "ko")
    human = run("tutorial", "run", str(own), "--lang", lang).stdout
    assert (
        "Step 3/3" if lang == "en" else "3/3단계"
    ) in human and "0.9045   0.0742   0.0213" in human


def test_a_language_the_file_lacks_falls_back_to_english_and_the_locale_picks_the_default(
    tmp_path, monkeypatch
):
    path = tmp_path / "en_only.toml"
    path.write_text(
        'title = "Only English"\n[[steps]]\ntitle = "One"\nsay = "Hello."\ncode = "x = 1 + 1"\n'
        'show = ["x"]\nexpect = { x = 2 }\n'
    )
    events = json_lines(run("tutorial", "run", str(path), "--lang", "ko", "--json"))
    assert events[1]["say"] == "Hello." and events[1]["values"] == {"x": 2}
    for env, lang in (
        ({"LANG": "ko_KR.UTF-8"}, "ko"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LC_ALL": "ko_KR.UTF-8", "LANG": "C"}, "ko"),
        ({}, "en"),
    ):
        for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
            monkeypatch.delenv(var, raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert set_language(None) == lang, env


def test_step_mode_off_a_terminal_runs_straight_through(own):
    r = run("tutorial", "run", str(own), "--step", "--lang", "en")
    assert "Step 3/3" in r.stdout and "Enter" not in r.stdout + r.stderr


def test_steps_share_one_namespace_and_tmp_folder(tmp_path):
    path = tmp_path / "shared.toml"
    path.write_text(
        'title = "Shared"\n'
        '[[steps]]\ntitle = "Train"\nsay = "Save a model."\n'
        'run = "train logreg --epochs 1 --save {tmp}/m.npz -q"\n'
        '[[steps]]\ntitle = "Use it"\nsay = "Load it."\n'
        'code = """\nimport os\nfound = os.path.exists(os.path.join(\'{tmp}\', \'m.npz\'))\nlosses = [3, 2, 1.5, 1.2]\n"""\n'
        'curve = "losses"\n'
        '[[steps]]\ntitle = "Again"\nsay = "The namespace is shared."\ncode = "total = sum(losses)"\n'
        'show = ["total"]\nexpect = { total = 7.7 }\n'
    )
    events = json_lines(run("tutorial", "run", str(path), "--json"))
    assert events[2]["values"]["losses"] == [3, 2, 1.5, 1.2]
    assert events[3]["values"]["total"] == pytest.approx(7.7)
    human = run("tutorial", "run", str(path)).stdout
    assert "losses" in human and "•" in human


BROKEN = [
    ('title = "T"\n[[steps]\n', "is not valid TOML", None),
    (
        'title = "T"\n[[steps]]\ntitle = "One"\nsay = "s"\nexpcet = { x = 1 }\n',
        "unknown key 'expcet'",
        1,
    ),
    (
        'title = "T"\n[[steps]]\ntitle = "One"\nsay = "s"\n[[steps]]\ntitle = "Two"\n',
        "has no say",
        2,
    ),
    ('title = "T"\n[[steps]]\ntitle = "One"\nsay = "s"\ncode = "x = (1"\n', "syntax error", 1),
    (
        'title = "T"\n[[steps]]\ntitle = "One"\nsay = "s"\ncode = "x = 1 / 0"\n',
        "ZeroDivisionError",
        1,
    ),
    ('title = "T"\n[[steps]]\ntitle = "One"\nsay = "s"\ncode = "x = 1"\nshow = ["y"]\n', "'y'", 1),
    ('title = "T"\n[[steps]]\ntitle = "One"\nsay = "s"\nrun = "trace nothing"\n', "exited 2", 1),
    (
        'title = "T"\n[[steps]]\ntitle = "One"\nsay = "s"\nrun = "nbengine trace conv"\n',
        "without the word",
        1,
    ),
    ('title = "T"\n[[steps]]\ntitle = "One"\nsay = "s"\nshow = ["x"]\n', "needs a code step", 1),
    ('title = "T"\n', "has no steps", None),
    (
        'title = "T"\n[[steps]]\ntitle = "One"\nsay = "s"\nrun = "trace pool"\n'
        'expect_output = { en = ["max = 5"] }\n',
        "expect_output has no 'ko' list",
        1,
    ),
    (
        'title = "T"\n[[steps]]\ntitle = "One"\nsay = "s"\nrun = "trace pool"\n'
        'expect_output = { en = ["a"], ko = ["b"], fr = ["c"] }\n',
        "expect_output has the language 'fr'",
        1,
    ),
]


@pytest.mark.parametrize("text, problem, step", BROKEN)
def test_a_broken_tutorial_is_one_line_naming_the_file_and_the_step_exit_2(
    tmp_path, text, problem, step
):
    path = tmp_path / "broken.toml"
    path.write_text(text)
    r = run("tutorial", "run", str(path), code=2)
    lines = r.stderr.strip().splitlines()
    # a file that loads, not one of the shipped ones, runs after a line saying so
    if lines[0].startswith("note:"):
        assert lines[0].startswith(
            f"note: {path} is not one of nbengine's tutorials; its code steps run as Python"
        )
        lines = lines[1:]
    assert len(lines) == 1 and "Traceback" not in lines[0]
    line = lines[0]
    assert line.startswith(f"error: {path}") and problem in line
    if step is not None:
        assert f"step {step} (" in line


def test_a_number_the_tutorial_expects_and_does_not_get_exits_1(tmp_path):
    path = tmp_path / "wrong.toml"
    path.write_text(
        'title = "T"\n[[steps]]\ntitle = "Sum"\nsay = "s"\ncode = "x = 2 + 2"\nexpect = { x = 5 }\n'
        '[[steps]]\ntitle = "Trace"\nsay = "s"\nrun = "trace attention --example"\n'
    )
    r = run("tutorial", "run", str(path), code=1)
    assert "step 1 (Sum): expected x = 5, but the code computed 4" in r.stderr
    path.write_text(
        'title = "T"\n[[steps]]\ntitle = "Trace"\nsay = "s"\nrun = "trace attention --example"\n'
        'expect_output = ["0.5000"]\n'
    )
    r = run("tutorial", "run", str(path), code=1)
    assert "step 1 (Trace)" in r.stderr and "'0.5000'" in r.stderr


def test_expect_output_by_language_checks_each_language_with_its_own_list(tmp_path):
    path = tmp_path / "by_language.toml"
    head = 'title = "T"\n[[steps]]\ntitle = "Trace"\nsay = "s"\nrun = "trace attention --example"\n'
    for good, bad in (("en", "ko"), ("ko", "en")):
        path.write_text(head + f'expect_output = {{ {good} = ["0.9045"], {bad} = ["0.5000"] }}\n')
        assert "0.9045" in run("tutorial", "run", str(path), "--lang", good).stdout
        r = run("tutorial", "run", str(path), "--lang", bad, code=1)
        where = "step 1 (Trace)" if bad == "en" else "1단계 (Trace)"
        assert where in r.stderr and "'0.5000'" in r.stderr
    assert load(path).steps[0].expect_output == {"ko": ["0.9045"], "en": ["0.5000"]}
    path.write_text(head + 'expect_output = ["0.9045"]\n')  # one list: the same in every language
    assert load(path).steps[0].expect_output == {"en": ["0.9045"], "ko": ["0.9045"]}


def test_missing_tutorial_names_the_choices(tmp_path):
    r = run("tutorial", "run", "no-such-lesson", code=2)
    assert "no-such-lesson" in r.stderr and "neither a shipped tutorial" in r.stderr
    r = run("tutorial", "run", str(tmp_path / "gone.toml"), code=2)
    assert "gone.toml: no such file" in r.stderr


def test_list_shows_every_shipped_tutorial_in_both_languages():
    tutorials = shipped()
    for lang in ("en", "ko"):
        listed = json_lines(run("tutorial", "list", "--lang", lang, "--json"))
        assert [e["name"] for e in listed] == [t.name for t in tutorials]
        assert all(e["steps"] >= 1 and e["minutes"] > 0 for e in listed)
    for t in tutorials:
        assert find(t.name).path == t.path and load(t.path).title == t.title
        assert set(t.title) == {"en", "ko"}, t.path  # shipped ones speak both languages
        for step in t.steps:
            assert set(step.title) == {"en", "ko"} and set(step.say) == {"en", "ko"}, (
                t.path,
                step.index,
            )


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is a POSIX feature")
def test_step_mode_on_a_terminal_waits_for_enter_and_q_quits(own):
    """A real terminal (a pseudo-terminal): Enter goes on to step 2, q stops there, exit 0."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: nbengine on the terminal
        os.environ["COLUMNS"] = "100"
        os.execv(
            sys.executable,
            [
                sys.executable,
                "-m",
                "nbengine_cli.main",
                "tutorial",
                "run",
                str(own),
                "--step",
                "--lang",
                "en",
            ],
        )
    seen = b""

    def read_until(marker: bytes, count: int):
        nonlocal seen
        deadline = time.monotonic() + 120
        while seen.count(marker) < count and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
        assert seen.count(marker) >= count, seen.decode(errors="replace")[-500:]

    read_until(b"Enter: next step", 1)
    assert b"Step 1/3" in seen and b"Step 2/3" not in seen  # it waits
    os.write(fd, b"\r")
    read_until(b"Enter: next step", 2)
    assert b"Step 2/3" in seen
    os.write(fd, b"q\r")
    _, status = os.waitpid(pid, 0)
    try:
        seen += os.read(fd, 4096)
    except OSError:
        pass
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"Step 3/3" not in seen and b"stopped after step 2 of 3" in seen


def test_code_is_shown_labels_keep_their_brackets_and_whole_numbers_print_whole(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text(
        'title = "Show"\n[[steps]]\ntitle = "One"\nsay = "s"\n'
        'code = """\nprobs = tensor([0.25, 0.75], cols=["p[false]", "p[true]"])\n'
        'counts = np.arange(20.0)\n"""\nshow = ["probs", "counts"]\n'
    )
    out = run("tutorial", "run", str(path)).stdout
    # the code, before its results
    assert 'probs = tensor([0.25, 0.75], cols=["p[false]", "p[true]"])' in out
    assert "p[false]" in out and "p[true]" in out  # labels are text, not markup
    # small: whole, and whole numbers as such
    assert " 19" in out and "19.0000" not in out and "…" not in out
    quiet = run("tutorial", "run", str(path), "--no-code").stdout
    assert "tensor(" not in quiet and "p[true]" in quiet


def test_a_text_of_several_lines_prints_as_a_block_under_its_name(tmp_path):
    path = tmp_path / "block.toml"
    path.write_text(r"""title = "Block"
[[steps]]
title = "One"
say = "s"
code = '''
source = "def f(x):\n    return x + 1\n"
word = "one line"
'''
show = ["source", "word"]
""")
    out = run("tutorial", "run", str(path), "--no-code").stdout
    assert "source:\ndef f(x):\n    return x + 1\n" in out  # the text as it is, on its own lines
    assert "source =" not in out and "word = one line" in out
