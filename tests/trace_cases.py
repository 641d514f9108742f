"""The traces whose output was recorded before they moved into the engine, and how to run them.

`python tests/trace_cases.py` writes, for each case, the JSON lines (`NAME.jsonl`) and the
terminal text (`NAME.txt`) to tests/fixtures/traces/; test_trace_fixtures.py runs each case
again and checks the same numbers come out. Record again only when a change of numbers is
meant, and say why in the commit.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from click.testing import CliRunner

from nbengine_cli.main import main

FIXTURES = Path(__file__).parent / "fixtures" / "traces"

CASES = {
    "logreg": ["logreg"],
    "conv": ["conv"],
    "conv-naive": ["conv", "--kernels", "naive"],
    "pool": ["pool"],
    "cnn": ["cnn"],
    "cnn-naive": ["cnn", "--kernels", "naive"],
    "attention": ["attention"],
    "attention-naive": ["attention", "--kernels", "naive"],
    "attention-example": ["attention", "--example"],
    "attention-example-naive": ["attention", "--example", "--kernels", "naive"],
    "bptt": ["bptt"],
    "rnn": ["rnn"],
    "rnn-naive": ["rnn", "--kernels", "naive"],
    "lstm": ["lstm"],
    "lstm-naive": ["lstm", "--kernels", "naive"],
    "lstm-step3": ["lstm", "--step", "3"],
}
LARGE = {"cnn", "cnn-naive"}  # stored gzipped

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def run_case(name: str, json_mode: bool) -> str:
    args = ["trace", *CASES[name], *(["--json"] if json_mode else [])]
    result = CliRunner().invoke(main, args, env={"COLUMNS": "120", "NO_COLOR": "1"})
    assert result.exit_code == 0, (args, result.stderr, result.exception)
    return result.stdout


def path(name: str, suffix: str) -> Path:
    return FIXTURES / (name + suffix + (".gz" if name in LARGE else ""))


def read(name: str, suffix: str) -> str:
    p = path(name, suffix)
    return gzip.decompress(p.read_bytes()).decode() if p.suffix == ".gz" else p.read_text()


def write(name: str, suffix: str, text: str) -> None:
    p = path(name, suffix)
    p.write_bytes(gzip.compress(text.encode(), mtime=0) if p.suffix == ".gz" else text.encode())


def numbers(text: str) -> list[str]:
    """Every number written in a text, in order (what the terminal view must keep)."""
    return NUMBER.findall(text)


if __name__ == "__main__":
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        write(case, ".jsonl", run_case(case, True))
        write(case, ".txt", run_case(case, False))
        print("recorded", case)
