"""What every benchmark states about the machine: the CPU, the vector width the kernels were
compiled for, the sgemm rate of the same run, and each row's share of it; and the tables fit
80 columns with each case's name on one line. Nothing here asserts a time."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from benchmarks import machine
from nbengine.kernels import simd
from nbengine_cli.main import main

pytestmark = pytest.mark.usefixtures("small_sgemm")


def test_sgemm_rate_and_shares():
    m = machine.machine((1, 2))
    assert m.sgemm_n == 64 and m.threads == 2 and set(m.sgemm_by_threads) == {1, 2}
    assert all(g > 0 for g in m.sgemm_by_threads.values())
    assert m.sgemm_gflops == m.sgemm_by_threads[2]
    assert m.share(m.sgemm_gflops) == pytest.approx(1.0)
    assert m.share(3.0, 1) == pytest.approx(3.0 / m.sgemm_by_threads[1])
    assert m.share(None) is None
    assert (m.vector_bits, m.registers) == (simd.VECTOR_BITS, simd.REGISTERS)


def bench(*args: str, columns: int | None = None):
    env = {"COLUMNS": str(columns)} if columns else {}
    return CliRunner(env=env).invoke(main, ["bench", *args])


def test_logreg_states_the_machine_and_each_rows_share():
    r = bench("logreg", "--rounds", "1", "--min-round", "0", "--json")
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.stdout.splitlines()]
    (m,) = [e for e in events if e["event"] == "machine"]
    assert m["vector_bits"] == simd.VECTOR_BITS and m["registers"] == simd.REGISTERS and m["cpu"]
    assert m["sgemm_n"] == 64 and m["sgemm_gflops"] > 0
    rows = [e for e in events if e["event"] == "bench"]
    assert rows and all(
        e["sgemm_share"] == pytest.approx(e["gflops"] / m["sgemm_gflops"]) for e in rows
    )


@pytest.mark.parametrize(
    "command",
    [["logreg"], ["attention", "--sizes", "toy", "--keep-wait-policy"]],
    ids=["logreg", "attention"],
)
def test_tables_fit_80_columns_with_case_names_on_one_line(command):
    r = bench(*command, "--rounds", "1", "--min-round", "0", "-q", columns=80)
    assert r.exit_code == 0, r.output
    table = [line for line in r.stdout.splitlines() if line[:1] in "┏┃┡│├└"]
    # whole: no line longer than 80, and none cut at 80 (every row ends with the table's right edge)
    assert table and all(len(line) <= 80 and line.rstrip()[-1] in "┓┃┩│┤┘" for line in table)
    assert "implementation" in r.stdout and "sgemm" in r.stdout
    assert f"{simd.VECTOR_BITS}-bit vectors" in r.stdout
    names = (
        ["N 32, D 30 (the default step)", "N 4096, D 256"]
        if command[0] == "logreg"
        else ["toy (1, 3, 64)", "toy (1, 3, 64) causal"]
    )
    lines = [line.strip() for line in r.stdout.splitlines()]
    for name in names:
        assert name in lines, name  # a table's title, on a line of its own
