"""Benchmarks: nbengine's kernels against reference implementations, as ratios.

Speed is compared inside one run, never against a stored number: this machine's
speed drifts by tens of percent within minutes, a ratio measured in alternating
rounds does not.
"""
