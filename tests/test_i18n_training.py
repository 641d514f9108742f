"""Korean in the training commands: the status lines, the table's headers and the engine's
descriptions of data and models, made in English and shown in the language chosen."""

from __future__ import annotations

import re

import pytest
from helpers import run
from rich.cells import cell_len

from nbengine import i18n

HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(autouse=True)
def language_from_the_environment():
    yield
    i18n.set_language(None)


def test_a_description_made_of_clauses_is_shown_whole_in_the_language_chosen():
    from nbengine.data.text import load_corpus

    corpus = load_corpus("toy", level="word")
    english = str(corpus.description)
    clause = i18n.Msg("; the lesson's sentence, the same in every split")
    assert english.endswith(clause)  # the value is the English, clauses and all
    i18n.set_language("ko")
    korean, korean_clause = i18n.shown(corpus.description), i18n.shown(clause)
    assert korean_clause != clause and korean.endswith(korean_clause)
    assert HANGUL.search(korean.removesuffix(korean_clause))  # the sentence around it too
    assert corpus.description == english


@pytest.mark.parametrize(
    "args",
    [
        ("train", "logreg", "--epochs", "1"),
        ("train", "rnnlm", "--epochs", "2"),
        ("train", "pronoun", "--epochs", "1"),
    ],
    ids=lambda a: " ".join(a),
)
def test_a_korean_training_run_states_everything_in_korean(args):
    result = run("--lang", "ko", *args, env={"COLUMNS": "80"})
    status = [line for line in result.stderr.splitlines() if line.strip()]
    assert status and all(HANGUL.search(line) for line in status), status
    header = result.stdout.splitlines()[0]
    assert HANGUL.search(header) and "…" not in header  # the Korean titles whole, not cut
    *table, outcome = result.stdout.splitlines()
    # (the result is a line of text the terminal wraps)
    assert all(cell_len(line) <= 80 for line in table)
    assert HANGUL.search(outcome)
