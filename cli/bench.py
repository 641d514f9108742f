"""`nbengine bench ...`: speed against a reference implementation, as ratios in one run."""

from __future__ import annotations

import os

import click
from rich.table import Table

from nbengine_cli.output import Output, json_options


def fmt_seconds(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


@click.command("logreg", short_help="A logistic-regression training step against NumPy.")
@click.option("--rounds", type=click.IntRange(min=1), default=7, show_default=True,
              help="Timed rounds per implementation (alternating); the median is reported.")
@click.option("--min-round", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="Seconds a round lasts at least (calls are repeated to reach it).")
@json_options
def bench_logreg(rounds, min_round, json_mode, quiet):
    """Time one training step (forward, loss, backward, update) of logistic regression.

    Three implementations of the same step run in alternating rounds: NumPy's
    vectorised operations (the reference), nbengine's layer and optimizer as
    training uses them, and nbengine's kernels called directly. The ratio is the
    reference's median time divided by the implementation's: above 1 is faster.
    """
    import numba

    from nbengine.bench.logreg import REFERENCE, run, speedup

    out = Output(json_mode, quiet)
    out.status(f"Numba threads: {numba.get_num_threads()}; OMP_NUM_THREADS="
               f"{os.environ.get('OMP_NUM_THREADS', 'unset')}; {rounds} rounds of at least {min_round:g} s")
    table = Table(title="logistic regression, one training step (float32)", title_justify="left")
    for col, just in (("case", "left"), ("implementation", "left"), ("median", "right"), ("best", "right"),
                      ("steps/s", "right"), ("× NumPy", "right")):
        table.add_column(col, justify=just)
    for case, timings in run(rounds, min_round):
        for i, (name, t) in enumerate(timings.items()):
            ratio = speedup(timings, name)
            table.add_row(case.name if i == 0 else "", name, fmt_seconds(t.median), fmt_seconds(t.best),
                          f"{1 / t.median:,.0f}", f"{ratio:.2f}")
            out.emit("bench", case=case.name, N=case.N, D=case.D, implementation=name,
                     reference=name == REFERENCE, median_s=t.median, best_s=t.best, calls_per_round=t.calls,
                     rounds=t.rounds, speedup=ratio)
        table.add_section()
    out.show(table)
