"""Korean throughout: every message has a Korean entry, nothing shown is left unmarked, the
commands speak Korean under --lang ko, and JSON never changes with the language."""

from __future__ import annotations

import io
import json
import re

import pytest
from helpers import ROOT, run

from nbengine import i18n
from tests import catalog

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_every_message_has_a_korean_entry():
    missing = catalog.untranslated(catalog.read_catalog(), catalog.messages())
    assert missing == [], (
        f"{len(missing)} messages without Korean (python -m tests.catalog adds them): "
        f"{missing[:10]}"
    )


def test_the_installed_catalog_is_the_po_compiled():
    from babel.messages.mofile import write_mo

    compiled = io.BytesIO()
    write_mo(compiled, catalog.read_catalog())
    installed = i18n.LOCALE_DIR / "ko" / "LC_MESSAGES" / "nbengine.mo"
    assert installed.is_file(), (
        "the build did not compile the catalog (pip install -e . compiles it)"
    )
    assert installed.read_bytes() == compiled.getvalue(), (
        "nbengine.mo is older than nbengine.po: run python -m tests.catalog (or reinstall)"
    )


def test_nothing_shown_in_cli_is_left_unmarked():
    assert catalog.unmarked(sorted((ROOT / "cli").rglob("*.py"))) == []


def test_the_explanations_notes_are_marked():
    assert catalog.unmarked(sorted((ROOT / "nbengine" / "explain").rglob("*.py"))) == []


def test_the_unmarked_check_finds_a_phrase_and_skips_what_is_not_words(tmp_path):
    source = tmp_path / "shown.py"
    source.write_text(
        '"""A docstring."""\nfrom x import _\n'
        'out.status("the run stopped here")\n'
        'out.status(_("the run stopped there"))\n'
        'Text("x", style="bold cyan")\n'
        'steps.tensor("Q", q, "Q = X·Wq")\n'
        'out.fact("result", shown, note="a field for scripts")\n'
    )
    found = catalog.unmarked([source])
    assert len(found) == 1 and "the run stopped here" in found[0]


@pytest.mark.parametrize(
    "environment, expected",
    [
        ({"NBENGINE_LANG": "ko"}, "ko"),
        ({"NBENGINE_LANG": "en", "LANG": "ko_KR.UTF-8"}, "en"),
        ({"LC_ALL": "ko_KR.UTF-8", "LANG": "en_US.UTF-8"}, "ko"),
        ({"LC_MESSAGES": "ko_KR", "LANG": "en_US.UTF-8"}, "ko"),
        ({"LANG": "ko_KR.UTF-8"}, "ko"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_the_language_is_chosen_as_the_tutorials_choose_it(monkeypatch, environment, expected):
    for var in ("NBENGINE_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    for var, value in environment.items():
        monkeypatch.setenv(var, value)
    assert i18n.set_language(None) == expected


def test_lang_on_the_command_line_wins_over_the_environment():
    result = run("--lang", "en", "train", "--help", env={"NBENGINE_LANG": "ko"})
    assert not HANGUL.search(result.output)
    result = run("--lang", "ko", "train", "--help", env={"NBENGINE_LANG": "en"})
    assert HANGUL.search(result.output)
    i18n.set_language(None)


def test_a_message_made_now_is_shown_later_in_the_language_chosen_then():
    note = i18n.Msg("Train a model and print a table per epoch.")
    assert json.dumps(note) == json.dumps("Train a model and print a table per epoch.")
    i18n.set_language("ko")
    try:
        assert HANGUL.search(i18n.shown(note))
        # the value itself stays English
        assert note == "Train a model and print a table per epoch."
    finally:
        i18n.set_language(None)


def english_sentences(output: str) -> list[str]:
    """Messages of the catalog (sentences of four words or more) that appear in English."""
    found = []
    for message in catalog.messages():
        text = message[0] if isinstance(message, tuple) else message
        if "{" in text or len(text.split()) < 4:
            continue
        if text in output:
            found.append(text)
    return found


KOREAN_COMMANDS = [
    ("trace", "conv"),
    ("trace", "rnn"),
    ("trace", "attention", "I am good"),
    ("summary", "cnn"),
    ("data", "list"),
    ("train", "cnn", "--limit", "64", "--epochs", "1"),
    ("train", "logreg", "--epochs", "2"),
    ("trace", "pool"),
    ("trace", "bptt"),
]


@pytest.mark.parametrize("args", KOREAN_COMMANDS, ids=[" ".join(a) for a in KOREAN_COMMANDS])
def test_commands_speak_korean(args):
    result = run("--lang", "ko", *args)
    shown = result.stdout + result.stderr
    assert HANGUL.search(shown)
    assert english_sentences(shown) == []


def test_a_bad_input_error_is_korean():
    result = run("--lang", "ko", "train", "cnn", "--lr", "nan", code=2)
    line = result.stderr.strip().splitlines()[-1]
    assert HANGUL.search(line), line


JSON_COMMANDS = [
    ("trace", "conv", "--json"),
    ("trace", "attention", "I am good", "--json"),
    ("train", "logreg", "--epochs", "2", "--json"),
    ("data", "list", "--json"),
    ("summary", "cnn", "--json"),
]


@pytest.mark.parametrize("args", JSON_COMMANDS, ids=[" ".join(a) for a in JSON_COMMANDS])
def test_json_does_not_change_with_the_language(args):
    def untimed(value):  # times differ from run to run in any language
        if isinstance(value, dict):
            return {k: untimed(v) for k, v in value.items() if "second" not in k}
        return [untimed(v) for v in value] if isinstance(value, list) else value

    def lines(lang):
        out = run("--lang", lang, *args).stdout
        return [untimed(json.loads(line)) for line in out.splitlines() if line.strip()]

    english, korean = lines("en"), lines("ko")
    assert english == korean


BORDER = re.compile(r"[\u2502\u2503\u250f\u2517\u2514\u250c\u2521\u2547\u2548\u2501]")
RULE = re.compile(r"^\u2500+$")


@pytest.mark.parametrize("width", [80, 100])
def test_korean_tables_keep_their_alignment(width):
    """A bordered table's lines are equally wide and fit the width, and a table's header is
    no wider than the rule under it: a double-width Hangul character counted as one column
    would break both."""
    from rich.cells import cell_len

    for args in (
        ("summary", "cnn"),
        ("data", "list"),
        ("trace", "attention", "I am good"),
        ("train", "logreg", "--epochs", "2"),
    ):
        lines = run("--lang", "ko", *args, env={"COLUMNS": str(width)}).stdout.splitlines()
        checked = 0
        block: list[str] = []
        for line in lines + [""]:
            if BORDER.search(line):
                block.append(line.rstrip())
                continue
            if block:
                widths = {cell_len(b) for b in block}
                assert len(widths) == 1 and max(widths) <= width, (
                    f"{' '.join(args)} at {width}: {block[:4]}"
                )
                checked += 1
                block = []
        for above, line in zip(lines, lines[1:]):
            if RULE.match(line.strip()) and above.strip():
                assert cell_len(above.rstrip()) <= cell_len(line.rstrip()), (
                    f"{' '.join(args)}: {above!r}"
                )
                checked += 1
        assert checked, f"{' '.join(args)} drew no table"


def test_a_phrase_put_into_a_message_is_shown_in_the_language_too():
    from nbengine.explain.bptt import fate

    reading = i18n.Msg("{readings}.", readings=i18n.joined([fate(1e-9), fate(1e9)], "; "))
    assert reading == "it vanishes; it explodes."  # the value (and so JSON) stays English
    i18n.set_language("ko")
    try:
        korean = i18n.shown(reading)
    finally:
        i18n.set_language(None)
    assert (
        korean
        == f"{i18n.catalog('ko').gettext('it vanishes')}; {i18n.catalog('ko').gettext('it explodes')}."
    )
    assert HANGUL.search(korean) and "vanishes" not in korean


def test_the_renderer_translates_messages_among_labels_but_not_data():
    from rich.console import Console

    from nbengine.explain.steps import Steps
    from nbengine_cli.render import show

    steps = Steps()
    steps.tensor(
        "h",
        [[0.5, 0.25]],
        "h_t",
        i18n.Msg("the hidden state"),
        (["loss"], [i18n.Msg("unit {j}", j=0), "shape"]),
    )
    i18n.set_language("ko")
    try:
        console = Console(record=True, width=100, file=io.StringIO())
        show(steps, console=console)
        text = console.export_text()
    finally:
        i18n.set_language(None)
    assert i18n.catalog("ko").gettext("the hidden state") in text
    assert i18n.catalog("ko").gettext("unit {j}").format(j=0) in text
    # "shape" is a message of the catalog, but here it is data (a label), as is the token "loss"
    assert i18n.catalog("ko").gettext("shape") != "shape"
    assert "loss" in text and "shape" in text
