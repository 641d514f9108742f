"""nbengine: a deep-learning engine for learners.

Every operation is an explicit index-level loop compiled with Numba, and every
intermediate tensor can be recorded with a tracer (see ``nbengine.trace``).
The package never prints: it returns arrays, raises ``nbengine.errors`` types and
yields events; the command line (``nbengine_cli``) decides how to show them.
"""

__version__ = "0.1.0"

import os as _os

# Numba's OpenMP threads spin for a while after each parallel loop, waiting for the
# next one. On a machine with few cores that is busy with anything else (another
# training run, NumPy's BLAS threads, a test suite), spinning threads take turns
# with the threads doing the work, and a CNN training step became 2-3× slower
# here (about 200 against 400-700 images/s with 2 cores under load). Waiting
# passively costs nothing measurable on an idle machine. A value the user set wins;
# OpenMP reads it when Numba first starts its threads, so it is set on import.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# OpenBLAS's threads (NumPy's matrix products) also spin after each product, for
# up to about 100 ms here, and on 2 cores that took a core from the Numba kernels
# that ran next: an LSTM language-model step took 63 ms with the default and 45 ms
# with the shortest spin. Like the setting above it is read once, when NumPy loads
# OpenBLAS, so it works when nbengine is imported before NumPy (as the command line
# does); a value the user set wins.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

# Numba caches compiled kernels beside their source; a read-only install (a system-wide
# one, a container, a shared lab machine) with a read-only home made every command that
# compiles a kernel fail. Numba reads NUMBA_CACHE_DIR when it is imported, so a folder
# that can be written is chosen here, first (see nbengine.caches). The command line
# prints the note, if there is one.
from nbengine.caches import choose_numba_cache as _choose_numba_cache  # noqa: E402

NUMBA_CACHE_NOTE: str | None = _choose_numba_cache()
