"""Compiling the kernels before a run, a stage at a time, so the wait can be shown.

Numba compiles a kernel the first time it is called with a new kind of argument
and keeps the machine code in its cache (``cache=True``); later starts load it in
well under a second. On a first run the kernels of a training step take some
seconds to compile. :func:`warm_up` runs one training step of any model, through
the training loop's protocol (nbengine.train), on a twin of the model built from its
config (so the real model, its dropout generator and its optimizer are untouched),
and yields after each stage, saying whether the stage compiled anything (Numba's
cache did not hold its kernels yet).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Stage:
    what: str
    done: int
    total: int
    compiled: bool  # whether this stage compiled kernels (the cache did not hold them)


STAGES = 4


def _kernels():
    """Every Numba function of the engine's kernels, as loaded so far."""
    from numba.core.registry import CPUDispatcher

    for name, module in list(sys.modules.items()):
        if name.startswith("nbengine.kernels.") and module is not None:
            for value in vars(module).values():
                if isinstance(value, CPUDispatcher):
                    yield value


def compiled_so_far() -> int:
    """How many times the engine's kernels were compiled in this process (not loaded from the cache)."""
    total = 0
    for dispatcher in set(_kernels()):
        try:
            total += sum(dispatcher.stats.cache_misses.values())
        except AttributeError:  # a Numba without these statistics: say nothing was compiled
            return 0
    return total


def warm_up(model, optimizer, batch: tuple) -> Iterator[Stage]:
    """Run a training step of ``model`` on ``batch`` (a tuple of ``loss_and_backward``'s
    arguments) on a fresh twin of it, with an optimizer of ``optimizer``'s kind; yield
    a :class:`Stage` after the forward and backward pass, the gradients' norm, the
    update, and the loss in inference mode."""
    from nbengine.optim import global_norm

    twin = type(model).from_config(model.config())
    stages = [
        ("forward and backward", lambda: twin.loss_and_backward(*batch)),
        ("gradient norm", lambda: global_norm(twin.grads)),
        ("update", lambda: type(optimizer)(twin.params, twin.grads, optimizer.lr).step()),
        ("inference", lambda: twin.loss(*batch)),
    ]
    for done, (what, run) in enumerate(stages, start=1):
        before = compiled_so_far()
        run()
        yield Stage(what, done, len(stages), compiled_so_far() > before)
