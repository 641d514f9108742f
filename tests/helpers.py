"""Helpers the kernel, model and command-line tests share (import: `from helpers import ...`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numba
import numpy as np

from nbengine.testing import assert_close

# the repository: benchmarks/ and tests/reference/ import from it
ROOT = Path(__file__).resolve().parents[1]


def tolerance(dtype, *refs, f32_atol: float = 1e-5) -> tuple[float, float]:
    """(atol, rtol) for comparing a kernel's output with a float64 reference.

    float32 keeps about 7 digits and a sum of many terms loses a few more, so the
    absolute tolerance grows with the size of the values compared."""
    scale = max([1.0] + [float(np.max(np.abs(r), initial=0.0)) for r in refs])
    if dtype == np.float64:
        return 1e-12 * scale, 1e-10
    return f32_atol * scale, 1e-4


def rand(rng, shape, dtype, low=-1.0, high=1.0):
    return rng.uniform(low, high, size=shape).astype(dtype)


def nans(shape, dtype):
    """An output array full of NaN: any value a kernel fails to write shows up."""
    return np.full(shape, np.nan, dtype)


def f64(a):
    return np.asarray(a, dtype=np.float64)


def assert_same_bits(name, ours, other):
    """Equal bit for bit (same dtype and shape); on failure, assert_close's message."""
    assert ours.dtype == other.dtype and ours.shape == other.shape, (name, ours.dtype, other.dtype)
    if ours.tobytes() != other.tobytes():
        assert_close(name, ours, other, atol=0.0, rtol=0.0)
        raise AssertionError(f"{name}: equal values but different bits (signed zeros?)")


def run_with_threads(counts, fn):
    """fn() under each thread count, twice each, as lists of arrays."""
    results = []
    for n in counts:
        numba.set_num_threads(n)
        results.append((f"{n} threads", fn()))
        results.append((f"{n} threads again", fn()))
    return results


def assert_all_same_bits(results, names):
    (first_label, first), rest = results[0], results[1:]
    for label, arrays in rest:
        assert len(arrays) == len(names)
        for name, a, b in zip(names, arrays, first):
            assert_same_bits(f"{name}: {label} vs {first_label}", a, b)


def run(*args: str, code: int = 0, env: dict | None = None):
    """`nbengine ARGS` in this process (Click's test runner, 120 columns); fails unless it exits with ``code``."""
    from click.testing import CliRunner

    from nbengine_cli.main import main

    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "120", **(env or {})})
    assert result.exit_code == code, (
        f"nbengine {' '.join(args)} exited {result.exit_code}, expected {code}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{result.exception!r}"
    )
    return result


def json_lines(result) -> list[dict]:
    """A --json run's stdout as objects; every line must be JSON (a ``run`` result, or its stdout as text)."""
    text = result if isinstance(result, str) else result.stdout
    lines = text.splitlines()
    assert lines, "no JSON output"
    return [json.loads(line) for line in lines]


def wait_for_json_line(proc, predicate, timeout):
    """Read a child process's JSON lines until one satisfies predicate; the lines read."""
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if predicate(json.loads(line)):
            return lines
    raise AssertionError(f"did not see the expected line; got {lines[-3:]}")
