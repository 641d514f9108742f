"""nbengine: a deep-learning engine for learners.

Every operation is an explicit index-level loop compiled with Numba, and every
intermediate tensor can be recorded with a tracer (see ``nbengine.trace``).
The package never prints: it returns arrays, raises ``nbengine.errors`` types and
yields events; the command line (``nbengine_cli``) decides how to show them.
"""

__version__ = "0.1.0"
