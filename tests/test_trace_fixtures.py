"""Every trace prints the numbers it printed before its computation moved into the engine:
the same JSON lines, and the same numbers, in the same order, in the terminal view.
The recorded output is in tests/fixtures/traces/ (see trace_cases.py).

The RNN and LSTM step traces used to work step t out again in NumPy and print how far that
was from the kernels (the JSON fields forward_difference and backward_difference, and the
terminal lines "... agree with ...: largest difference ..."). They now show what the
kernels wrote, so those checks are gone, and a number NumPy and the kernel round
differently in the last bit may differ there: for these traces floats must agree to
1e-12 relative, and the terminal (4 decimals) must be the same.
"""

from __future__ import annotations

import json
import math

import pytest
from trace_cases import CASES, numbers, read, run_case

RECOMPUTED_BEFORE = {case for case in CASES if case.split("-")[0] in ("rnn", "lstm")}
DROPPED = {"forward_difference", "backward_difference"}  # fields of their "result" line

# The float32 traces (logistic regression, the CNN): their fast kernels sum in SIMD lanes
# as wide as the CPU's vectors and fuse multiply-adds, so another CPU, or a faster kernel,
# rounds the last bits differently. They are held to float32 rounding, and their terminal
# numbers to one unit in the last digit shown; the float64 traces to 1e-12.
FLOAT32 = {"logreg", "cnn", "cnn-naive"}


def same(a, b, rel: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        # float32: 1e-6 near 0, where values are ~0.1
        return math.isclose(a, b, rel_tol=rel, abs_tol=rel / 10)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], rel) for k in a)
    return type(a) is type(b) and a == b


def same_shown(a: str, b: str) -> bool:
    """Two numbers as printed, equal or one unit apart in the last digit shown."""
    if a == b:
        return True
    if a.count(".") != 1 or b.count(".") != 1 or "e" in a + b:
        return False
    digits = len(a.split(".")[1])
    return len(b.split(".")[1]) == digits and abs(float(a) - float(b)) <= 1.01 * 10.0**-digits


@pytest.mark.parametrize("case", list(CASES))
def test_json_lines_are_the_recorded_ones(case):
    rel = 1e-5 if case in FLOAT32 else 1e-12
    close = case in RECOMPUTED_BEFORE
    before = [json.loads(line) for line in read(case, ".jsonl").splitlines()]
    if close:
        before = [
            {k: v for k, v in b.items() if not (b["event"] == "result" and k in DROPPED)}
            for b in before
        ]
    after = [json.loads(line) for line in run_case(case, True).splitlines()]
    assert len(after) == len(before), f"{len(after)} JSON lines, recorded {len(before)}"
    for k, (a, b) in enumerate(zip(after, before)):
        assert same(a, b, rel), (
            f"line {k + 1} differs:\nnow      {json.dumps(a)[:400]}\nrecorded {json.dumps(b)[:400]}"
        )


@pytest.mark.parametrize("case", list(CASES))
def test_terminal_numbers_are_the_recorded_ones(case):
    recorded = read(case, ".txt")
    if case in RECOMPUTED_BEFORE:
        recorded = "\n".join(
            line for line in recorded.splitlines() if "largest difference" not in line
        )
    before = numbers(recorded)
    after = numbers(run_case(case, False))
    equal = same_shown if case in FLOAT32 else str.__eq__
    first = next(
        (k for k, (a, b) in enumerate(zip(after, before)) if not equal(a, b)),
        min(len(after), len(before)),
    )
    assert len(after) == len(before) and first == len(after), (
        f"{len(after)} numbers, recorded {len(before)}; first difference at number {first}: "
        f"now {after[first : first + 8]}, recorded {before[first : first + 8]}"
    )
