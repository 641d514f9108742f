"""Timing several implementations of the same work in alternating rounds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass
class Timing:
    name: str
    median: float  # seconds per call, median over rounds
    best: float  # seconds per call, fastest round
    calls: int  # calls per round
    rounds: int

    def fields(self) -> dict:
        """The timing as a benchmark's JSON line states it."""
        return {
            "median_s": self.median,
            "best_s": self.best,
            "calls_per_round": self.calls,
            "rounds": self.rounds,
        }


class Rates:
    """What a benchmark's result says of each implementation: its GFLOP/s, and how many
    times faster it ran than a reference. A result using it has ``case.flops`` and
    ``timings`` (name -> Timing)."""

    def gflops(self, name: str) -> float:
        return self.case.flops / self.timings[name].median / 1e9

    def reference_median(self, reference: str) -> float | None:
        """The reference's median seconds (None if it was not measured)."""
        return self.timings[reference].median if reference in self.timings else None

    def ratio(self, name: str, reference: str) -> float | None:
        """How many times faster than ``reference`` (None if it was not measured)."""
        ref = self.reference_median(reference)
        return None if ref is None else ref / self.timings[name].median


def _calls_per_round(fn: Callable[[], object], min_round: float) -> int:
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_round or n >= 1 << 20:
            return n
        n = max(n * 2, int(n * min_round / max(elapsed, 1e-9)))


def measure(
    fns: Mapping[str, Callable[[], object]], rounds: int = 7, min_round: float = 0.05
) -> dict[str, Timing]:
    """Seconds per call of each function.

    Each function runs once first (compiling what it needs), then the number of
    calls per round is chosen so a round takes at least ``min_round`` seconds.
    The rounds alternate between the functions, so a slow spell of the machine
    hits them all alike; the median round is reported.
    """
    for fn in fns.values():
        fn()
    calls = {name: _calls_per_round(fn, min_round) for name, fn in fns.items()}
    per_call: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            n = calls[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            per_call[name].append((time.perf_counter() - t0) / n)
    return {
        name: Timing(name, statistics.median(ts), min(ts), calls[name], rounds)
        for name, ts in per_call.items()
    }
