"""The independent references the tests judge nbengine against: the same networks and
layers written with whole-array NumPy, the way the textbooks write them, apart from
nbengine's kernels (nothing here imports nbengine).

They are test oracles, so they live with the tests and are not part of the installed
package; the benchmarks in benchmarks/ time the same formulations as their NumPy rows.
Imported as ``tests.reference`` with the repository's root on the path: pytest's
``pythonpath`` setting puts it there for the tests; `nbengine bench` (cli/bench.py) and
`python -m benchmarks` have it there already, to import ``benchmarks``.
"""
