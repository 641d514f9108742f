"""Which loops run: the naive ones (the lessons' code) or the fast ones.

Every kernel file that has a fast version holds two compiled versions of the same
sums: ``foo_naive``, the formula written as loops in the formula's own index order,
and ``foo``, the same sums reordered for speed. Layers and models never choose
between them themselves: they ask ``kernel(foo)`` and call what it hands back, so
the choice is made here, once, for the whole engine.

The choice, first found wins:
    use_kernels("naive")              from Python (``using_kernels`` for a block)
    --kernels naive                   on the command line (it calls use_kernels)
    NBENGINE_KERNELS=naive            in the environment, for scripts and tests
    fast                              otherwise

Some fast backward kernels sum each part of the batch into a buffer of its own
(``dw_parts``, shape (P, ...)), so that the threads never write the same number;
the caller then adds the parts in order. Their naive twins sum the whole batch in
one loop into the gradient itself. ``kernel`` hands the naive twin part 0 of each
such buffer and zeroes the other parts, so the caller's sum of the parts is the
naive gradient, unchanged (adding zeros changes no bit).
"""

from __future__ import annotations

import importlib
import os
from contextlib import contextmanager

from nbengine.errors import NBEngineError
from nbengine.i18n import Msg

KINDS = ("fast", "naive")
ENV = "NBENGINE_KERNELS"

# Fast backward kernels whose gradients come in parts: the positions of those
# arguments (their naive twins take the whole gradient in the same positions).
PARTS_ARGS = {
    "conv2d_backward": (1, 2),
    "rnn_backward": (1, 2, 3),
    "lstm_backward": (1, 2, 3),
    "layernorm_backward": (1, 2),
}

_chosen: str | None = None  # set by use_kernels; None: the environment decides
_naive_of: dict = {}  # fast kernel -> (naive dispatcher, what to call)


class KernelChoiceError(NBEngineError):
    """An unknown kind of kernels was asked for."""


def _checked(kind: str, where: str) -> str:
    k = kind.strip().lower()
    if k not in KINDS:
        raise KernelChoiceError(f"{where}: {kind!r} is not a kind of kernels; use fast or naive")
    return k


def current() -> str:
    """'fast' or 'naive': the kernels that run now."""
    if _chosen is not None:
        return _chosen
    return _checked(os.environ.get(ENV) or "fast", ENV)


def use_kernels(kind: str | None) -> None:
    """Run the naive or the fast kernels from now on (None: as the environment says)."""
    global _chosen
    _chosen = None if kind is None else _checked(kind, "kernels")


@contextmanager
def using_kernels(kind: str):
    """``with using_kernels("naive"): ...`` runs the block on those kernels, then restores the choice."""
    global _chosen
    before = _chosen
    use_kernels(kind)
    try:
        yield
    finally:
        _chosen = before


def _naive(fast):
    """(the naive twin's dispatcher, the callable with the fast kernel's arguments)."""
    found = _naive_of.get(fast)
    if found is None:
        name = fast.py_func.__name__
        module = importlib.import_module(fast.py_func.__module__)
        twin = getattr(module, f"{name}_naive", None)
        if twin is None:  # a kernel that already reads as its formula has no twin
            found = (fast, fast)
        elif name in PARTS_ARGS:
            found = (twin, _whole_gradient_in_part_0(twin, PARTS_ARGS[name]))
        else:
            found = (twin, twin)
        _naive_of[fast] = found
    return found


def _whole_gradient_in_part_0(twin, positions):
    def call(*args):
        args = list(args)
        for i in positions:
            parts = args[i]
            parts[1:] = 0
            args[i] = parts[0]
        return twin(*args)

    call.__name__ = twin.py_func.__name__
    return call


def kernel(fast):
    """What to call for the fast kernel ``fast``: itself, or its naive twin with the same arguments."""
    if current() == "fast":
        return fast
    return _naive(fast)[1]


def compiled(fast):
    """The Numba function that ``kernel(fast)`` runs (to ask whether it is cached, or its name)."""
    if current() == "fast":
        return fast
    return _naive(fast)[0]


def describe() -> str:
    """A few words for a run's header: which loops run."""
    return Msg("naive kernels") if current() == "naive" else Msg("fast kernels")


def name_of(fast) -> str:
    """The name of the kernel that ``kernel(fast)`` runs, e.g. ``conv2d_forward_naive``."""
    return compiled(fast).py_func.__name__


def _listed(names: list[str]) -> str:
    """Kernel names as a sentence lists them: "a", "a and b", "a, b and c"."""
    if len(names) == 1:
        return names[0]
    return Msg("{first} and {last}", first=", ".join(names[:-1]), last=names[-1])


def reordered_note(*fast) -> str | None:
    """For an explanation whose notes name the kernels that ran: when the fast version of these
    kernels ran, one line saying they compute the naive loops' sums in another order,
    and where that is shown; None when the naive loops ran (or a kernel has no twin)."""
    ran = [name_of(f) for f in fast]
    with using_kernels("naive"):
        naive = [name_of(f) for f in fast]
    pairs = [(r, n) for r, n in zip(ran, naive) if r != n]
    if not pairs:
        return None
    fast_names = _listed([r for r, _ in pairs])
    naive_names = _listed([n for _, n in pairs])
    if len(pairs) > 1:
        return Msg(
            "{fast}: the same sums as the naive loops {naive}, reordered for speed (lesson 8: "
            "`nbengine tutorial run speed`); `--kernels naive` runs the naive loops.",
            fast=fast_names,
            naive=naive_names,
        )
    return Msg(
        "{fast}: the same sums as the naive loop {naive}, reordered for speed (lesson 8: "
        "`nbengine tutorial run speed`); `--kernels naive` runs the naive loop.",
        fast=fast_names,
        naive=naive_names,
    )
