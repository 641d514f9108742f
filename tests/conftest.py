"""Shared test settings and fixtures."""

import os

import numba
import pytest
from hypothesis import settings

# In CI, property tests draw the same examples every run, so a red build is reproducible.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def thread_counts():
    """Thread counts to compare (1 and 2, and every thread available); restores the count."""
    before = numba.get_num_threads()
    most = numba.config.NUMBA_NUM_THREADS
    yield sorted({1, min(2, most), most})
    numba.set_num_threads(before)


@pytest.fixture
def one_thread():
    """Run on one thread: finite differences call the parallel kernels hundreds of
    times with tiny inputs, and one thread skips waking the others (the determinism
    tests show that other thread counts give the same bits)."""
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


@pytest.fixture
def small_sgemm(monkeypatch):
    """The benchmarks' sgemm rate measured on small matrices in short rounds: the figure is
    then no peak, but the tests check what is done with it, not its value."""
    from benchmarks import machine

    monkeypatch.setattr(machine, "SGEMM_N", 64)
    monkeypatch.setattr(machine, "SGEMM_MIN_ROUND", 0.0)
