"""What an exercise is: the kernel a learner writes, the lesson it belongs to, its skeleton,
its worked example and random cases, the engine's naive kernel that grades it, and the
mistakes it recognises.

A mistake is recognised by computing: the reference is run again with the mistake made
(a flipped filter, padding on one side, ``=`` where ``+=`` belongs, ...) and its outputs
are compared with the learner's. The learner's code is never read for it.

Two languages: every text a learner reads is a pair ``(english, korean)``; :func:`say`
picks one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LANGS = ("en", "ko")
Text = tuple  # (english, korean)


def say(text, lang: str) -> str:
    """The text in lang: a pair (english, korean), or a str used for both."""
    if isinstance(text, str):
        return text
    return text[1] if lang == "ko" and len(text) > 1 and text[1] else text[0]


@dataclass(frozen=True)
class Out:
    """One output argument of the kernel: how the grader fills it before the kernel runs,
    and the formula of one of its elements (shown when an element is wrong)."""

    name: str
    letters: str  # the element's index letters, "n i j k"
    formula: str  # what that element is, in those letters
    # "nan": the kernel must write every element; "zero": it adds into zeros; "keep": updated in place
    fill: str = "nan"
    # for a gradient output, the name of what it is the gradient of (dL/d...)
    gradient_of: str | None = None
    # the two axes of the slice shown beside the expected one (rows, columns)
    axes: tuple = (-2, -1)


@dataclass
class Case:
    """The kernel's arguments, in the signature's order, and what the case is."""

    label: Text
    args: dict
    # what the case was made from, not passed (weights of a forward pass)
    extra: dict = field(default_factory=dict)

    def copy(self) -> Case:
        return Case(
            self.label,
            {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in self.args.items()},
            {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in self.extra.items()},
        )


@dataclass(frozen=True)
class Mistake:
    """A common mistake: a short name, a hint (both in two languages), and the kernel's
    outputs as they come out when the mistake is made (``compute`` writes them into the
    case's output arrays, prepared as for the learner)."""

    key: str
    name: Text
    hint: Text
    compute: Callable[[dict], None]
    compares: tuple = ()  # the outputs the mistake is recognised by (all, if empty)


def kernel(module: str, name: str) -> Callable[[], Any]:
    """The kernel ``name`` of nbengine/kernels/MODULE.py, imported when asked for."""

    def get():
        import importlib

        return getattr(importlib.import_module(f"nbengine.kernels.{module}"), name)

    return get


def again(reference: Callable[[], Any], **change) -> Callable[[dict], None]:
    """A mistake made by running the reference with some arguments changed (each a value,
    or a function of the case's arguments)."""

    def compute(a):
        args = dict(a)
        for k, v in change.items():
            args[k] = v(a) if callable(v) else v
        reference()(*args.values())

    return compute


def in_parts(module: str, name: str, positions: tuple, batch: int, parts: int = 8):
    """A fast backward kernel that sums its weight gradients in parts (``dw_parts``, shape
    (P, ...), see nbengine/kernels/registry.py), called with the naive kernel's arguments:
    the parts are made for it (once per shape) and added up after it."""

    def get():
        fast = kernel(module, name)()
        made: dict = {}

        def call(*args):
            args = list(args)
            P = min(args[batch].shape[0], parts)
            whole = {}
            for i in positions:
                key = (i, args[i].shape, args[i].dtype)
                if key not in made:
                    made[key] = np.zeros((P,) + args[i].shape, args[i].dtype)
                whole[i] = args[i]
                args[i] = made[key]
            fast(*args)
            for i, total in whole.items():
                total[...] = args[i].sum(axis=0)

        call.__name__ = name
        return call

    return get


def after(reference: Callable[[], Any], change: Callable[[dict], None]) -> Callable[[dict], None]:
    """A mistake made by running the reference, then changing its outputs (``change(args)``)."""

    def compute(a):
        reference()(*a.values())
        change(a)

    return compute


@dataclass(frozen=True)
class Worked:
    """The lesson's worked example: the case, what the lesson arrives at, and which
    2-D view of each output to show beside the learner's."""

    case: Callable[[], Case]
    view: Callable[[str, np.ndarray], np.ndarray] = lambda name, a: np.atleast_2d(np.squeeze(a))
    shown: tuple = ()  # the outputs shown side by side (all, if empty)


@dataclass(frozen=True)
class Exercise:
    name: str  # also the name of the function the learner writes
    lesson: str  # the tutorial it belongs to (`nbengine tutorial run LESSON`)
    title: Text
    params: tuple[str, ...]
    outputs: tuple[Out, ...]
    reference: Callable[[], Any]  # the engine's naive kernel (imported when called)
    doc: Text  # the docstring: shapes in the loop letters, and the formula
    narration: Text  # what to do, as a teacher says it
    worked: Worked
    cases: Callable[[np.random.Generator], list]
    speed_case: Callable[[np.random.Generator], Case]  # float32, large enough to time
    mistakes: tuple[Mistake, ...] = ()
    hints: tuple = ()  # graded hints when no mistake is recognised: ((en, ko), ...), gentlest first
    body: Text = ("", "")  # commented lines inside the body to fill: the shapes unpacked, a start
    helpers: str = ""  # given code above the kernel (a sigmoid the kernel may call)
    # case -> (loss(), {output name: parameter array})
    gradient: Callable[[Case], tuple] | None = None
    # the engine's fast kernel, called with the same arguments
    fast: Callable[[], Any] | None = None
    c_twin: str | None = None  # the C twin's name in nbengine/csrc
    tolerance: float = 1e-9

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outputs)

    def out(self, name: str) -> Out:
        return next(o for o in self.outputs if o.name == name)

    def prepared(self, case: Case) -> Case:
        """A copy of the case with the outputs filled as the grader fills them."""
        c = case.copy()
        for o in self.outputs:
            a = c.args[o.name]
            if o.fill == "nan" and a.dtype.kind == "f":
                a[...] = np.nan
            elif o.fill == "nan":
                a[...] = -7  # an integer output: a value no kernel writes
            elif o.fill == "zero":
                a[...] = 0
        return c

    def expected(self, case: Case) -> Case:
        """The case after the engine's naive kernel ran on it."""
        c = self.prepared(case)
        self.reference()(*c.args.values())
        return c


# -- comparing ----------------------------------------------------------------------------------


def close(expected: np.ndarray, got: np.ndarray, tol: float) -> np.ndarray:
    """Where got agrees with expected: within tol relative to the output's scale (so a sum
    added in another order passes) and exactly where expected is infinite."""
    e = np.asarray(expected, np.float64)
    g = np.asarray(got, np.float64)
    finite = np.isfinite(e)
    scale = max(1.0, float(np.abs(e[finite]).max(initial=0.0)))
    with np.errstate(invalid="ignore"):
        ok = np.abs(e - g) <= tol * scale
    return np.where(finite, ok, (e == g) | (np.isnan(e) & np.isnan(g)))


def first_wrong(ex: Exercise, expected: Case, got: Case):
    """(output name, index) of the first element that differs, outputs in the signature's
    order and elements in memory order; None when all agree."""
    for o in ex.outputs:
        ok = close(expected.args[o.name], got.args[o.name], ex.tolerance)
        if not ok.all():
            return o.name, tuple(int(i) for i in np.argwhere(~ok)[0])
    return None


def recognise(ex: Exercise, case: Case, got: Case) -> Mistake | None:
    """The first of the exercise's mistakes that gives exactly the learner's outputs, on a
    case where it makes a difference (where it changes no output it proves nothing)."""
    right = ex.expected(case)
    for m in ex.mistakes:
        c = ex.prepared(case)
        try:
            with np.errstate(all="ignore"):
                m.compute(c.args)
        except (IndexError, ValueError, ZeroDivisionError, FloatingPointError):
            continue  # this mistake cannot even be made on this case
        names = m.compares or ex.output_names
        if all(close(right.args[o], c.args[o], ex.tolerance).all() for o in names):
            continue
        if all(close(c.args[o], got.args[o], ex.tolerance).all() for o in names):
            return m
    return None


def index_text(letters: str, index: tuple) -> str:
    return ", ".join(f"{letter}={i}" for letter, i in zip(letters.split(), index))


def number(v) -> str:
    v = float(v)
    if v != v:
        return "nan"
    if v in (np.inf, -np.inf):
        return "inf" if v > 0 else "-inf"
    if v == round(v) and abs(v) < 1e9:
        return str(int(v))
    return f"{v:.6g}"


def reference_source(ex: Exercise) -> str:
    """The engine's naive kernel as the body of the exercise's skeleton: the skeleton with
    the body filled in by the engine's own loops, and the module-level helpers they call
    (their source, or their value) put above it. What the exercise's tests check, and what
    a teacher can hand out as the solution."""
    import inspect
    import textwrap

    from nbengine.exercises.skeleton import BEGIN, END, skeleton

    fn = ex.reference().py_func
    module = inspect.getmodule(fn)
    lines = textwrap.dedent(inspect.getsource(fn)).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("def "))
    while not lines[start].rstrip().endswith(":"):
        start += 1
    body = lines[start + 1 :]
    text = "\n".join(body)
    doc = fn.__doc__
    if doc:
        stripped = textwrap.dedent("\n".join(body))
        after = stripped.split('"""', 2)
        if len(after) == 3 and not after[0].strip():
            text = textwrap.indent(after[2].lstrip("\n"), "    ")
    given = skeleton(ex, "en")
    helpers = []
    seen = set()

    def need(f):
        for name in f.__code__.co_names:
            if name in seen or f"def {name}(" in given or name in ("np", "njit", "prange"):
                continue
            seen.add(name)
            value = getattr(module, name, None)
            if hasattr(value, "py_func"):
                need(value.py_func)
                helpers.append(textwrap.dedent(inspect.getsource(value.py_func)))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                helpers.append(f"{name} = {value!r}\n")

    need(fn)
    head, rest = given.split(BEGIN["en"], 1)
    _, tail = rest.split(END["en"], 1)
    kernel_at = head.index("@njit")
    head = head[:kernel_at] + "".join(h + "\n\n" for h in helpers) + head[kernel_at:]
    return head + BEGIN["en"] + "\n" + text.rstrip() + "\n    " + END["en"] + tail
