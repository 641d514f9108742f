"""Benchmarks: nbengine's kernels and models against reference implementations, as ratios.

Speed is compared inside one run, never against a stored number: this machine's
speed drifts by tens of percent within minutes, a ratio measured in alternating
rounds does not.

This package lives in the repository, not in the installed wheel: `nbengine bench`
finds it from a source checkout (cli/bench.py), and `python -m benchmarks` runs it from
the repository's root. The NumPy rows are the test suite's references
(tests/reference/); the PyTorch rows are the ``*_torch`` modules here.
"""

# Every benchmark runs under the process settings importing nbengine makes, as `nbengine`
# itself does (OMP_WAIT_POLICY=PASSIVE unless the user set it, the Numba cache folder):
# benchmarks/threads.py reads and sets them aside where the benchmark needs to.
import nbengine  # noqa: F401
