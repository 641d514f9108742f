"""Every trace prints the numbers it printed before its computation moved into the engine:
the same JSON lines, and the same numbers, in the same order, in the terminal view.
The recorded output is in tests/fixtures/traces/ (see trace_cases.py)."""

from __future__ import annotations

import json

import pytest

from trace_cases import CASES, numbers, read, run_case


@pytest.mark.parametrize("case", list(CASES))
def test_json_lines_are_the_recorded_ones(case):
    before = [json.loads(line) for line in read(case, ".jsonl").splitlines()]
    after = [json.loads(line) for line in run_case(case, True).splitlines()]
    assert len(after) == len(before), f"{len(after)} JSON lines, recorded {len(before)}"
    for k, (a, b) in enumerate(zip(after, before)):
        assert a == b, f"line {k + 1} differs:\nnow      {json.dumps(a)[:400]}\nrecorded {json.dumps(b)[:400]}"


@pytest.mark.parametrize("case", list(CASES))
def test_terminal_numbers_are_the_recorded_ones(case):
    before = numbers(read(case, ".txt"))
    after = numbers(run_case(case, False))
    first = next((k for k, (a, b) in enumerate(zip(after, before)) if a != b), min(len(after), len(before)))
    assert after == before, (f"{len(after)} numbers, recorded {len(before)}; first difference at number {first}: "
                             f"now {after[first:first + 8]}, recorded {before[first:first + 8]}")
