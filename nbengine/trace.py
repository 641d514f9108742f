"""Traces: the named intermediate tensors of one forward and backward pass.

A trace is an ordered list of :class:`Step` records. Layers call :func:`record`
with what they computed; when no :class:`Tracer` is active, ``record`` returns at
once and nothing is copied, so tracing costs nothing during ordinary training::

    with Tracer() as tr:
        model.loss_and_backward(x, y)
    for step in tr.steps:
        ...  # step.name, step.value, step.formula, step.note, step.labels

The engine never renders a trace; the command line turns steps into tables or
JSON lines (:func:`step_to_dict` gives the JSON form).
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_active: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar(
    "nbengine_tracer", default=None
)


@dataclass(frozen=True)
class Step:
    """One named tensor of a computation.

    name     short symbol, as the lesson writes it: ``"z"``, ``"dL/dw"``
    value    a copy of the array at the moment it was recorded (0-d for scalars)
    formula  how it was computed: ``"z = Σᵢ wᵢxᵢ + b"``
    note     one sentence of meaning, may be empty
    labels   one entry per axis: a sequence of names for that axis, or None
    """

    name: str
    value: np.ndarray
    formula: str = ""
    note: str = ""
    labels: tuple = ()

    def axis_labels(self, axis: int) -> Sequence[str] | None:
        if axis < len(self.labels):
            return self.labels[axis]
        return None


@dataclass
class Tracer:
    """Collects steps while active (use it as a context manager)."""

    steps: list[Step] = field(default_factory=list)
    _token: contextvars.Token[Tracer | None] | None = field(default=None, repr=False)

    def __enter__(self) -> Tracer:
        self._token = _active.set(self)
        return self

    def __exit__(self, *exc) -> None:
        if self._token is not None:
            _active.reset(self._token)
        self._token = None

    def add(self, name, value, formula="", note="", labels=()) -> None:
        arr = np.array(value, copy=True)
        if arr.ndim and labels:
            for axis, names in enumerate(labels):
                if names is not None and len(names) != arr.shape[axis]:
                    raise ValueError(
                        f"trace step {name!r}: {len(names)} labels for axis {axis} of length {arr.shape[axis]}"
                    )
        self.steps.append(Step(name, arr, formula, note, tuple(labels)))


def tracing() -> bool:
    """True when a tracer is collecting (lets a layer skip work done only for traces)."""
    return _active.get() is not None


def record(name: str, value, formula: str = "", note: str = "", labels: Sequence = ()) -> None:
    """Hand a named intermediate to the active tracer; does nothing when none is active."""
    tracer = _active.get()
    if tracer is not None:
        tracer.add(name, value, formula, note, labels)


def _json_number(v: float):
    if math.isfinite(v):
        return v
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def to_json_data(arr: np.ndarray):
    """Nested lists of plain numbers. float32 values are written with the shortest
    decimal that reads back as the same float32 (0.1, not 0.10000000149011612);
    inf and NaN, which JSON cannot hold, become the strings "inf", "-inf", "nan"."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        if arr.dtype == np.float32:
            flat = [_json_number(float(str(v))) for v in arr.reshape(-1)]
        else:
            flat = [_json_number(float(v)) for v in arr.reshape(-1)]
        out = np.empty(arr.size, dtype=object)
        out[:] = flat
        return out.reshape(arr.shape).tolist()
    return arr.tolist()


def step_to_dict(step: Step) -> dict:
    """The JSON form of a step: name, formula, note, shape, labels, data."""
    return {
        "name": step.name,
        "formula": step.formula,
        "note": step.note,
        "shape": list(step.value.shape),
        "labels": [None if names is None else list(names) for names in step.labels],
        "data": to_json_data(step.value),
    }
