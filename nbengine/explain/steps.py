"""What an explanation is made of: an ordered list of typed steps.

An explain function (``nbengine.explain.conv_windows()``, ``.attention(...)``, ...) runs a
model's or a layer's own forward and backward and returns a :class:`Steps` list. Each
item is one fact, written once; the command line's renderer (``nbengine_cli.render``)
turns the same list into the terminal view, JSON lines, SVG or HTML:

- :class:`Say`     a sentence of narration (the terminal shows it; JSON has no prose)
- :class:`Tensor`  a named tensor (a :class:`nbengine.trace.Step`), a ``trace`` JSON line
- :class:`Figure`  tensors typeset as matrices side by side (``X = [..]  F = [..]``)
- :class:`Window`  one window of a worked example: where it sits, its values, the
                   products with the filter and their sum (or its max)
- :class:`Table`   rows of named values (one JSON line per row when ``event`` is set)
- :class:`Maps`    feature maps of one layer, drawn as heat maps side by side
- :class:`Fact`    an event with fields (``setup``, ``result``, ...), with the sentence
                   the terminal shows for it, if any

The engine never renders: these are plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbengine.trace import Step


@dataclass(frozen=True)
class Say:
    """A sentence for a person. style: a Rich style ("bold", "dim", "italic dim", "yellow")."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class Tensor:
    """A named tensor of the computation.

    fields   extra fields of its JSON line (``case``, ``scope``, ``layer``...)
    view     how the terminal shows it: "table" (labelled, with NumPy-like ellipses),
             "heatmap", "bars" (a bar per label, for probabilities), or "" (JSON only,
             when a :class:`Figure` or a :class:`Table` shows the same numbers)
    shape    the shape the terminal shows it in, when that differs (a 4H vector as 4×H)
    shape_labels  the axis labels for that shape, and shape_note its note if another
    json_rows  (name, formula, note) per row of that shape: each row is also a JSON line
             (the four gates of an LSTM step, shown as one 4×H table)
    full     show every value even without --full
    json     False for a picture only the terminal needs (the numbers are in other lines)
    title    a heat map's title
    signed   a heat map's scale: True for data whose sign matters, None to decide
    palette  a heat map's palette ("grey" for images)
    """

    step: Step
    fields: dict = field(default_factory=dict)
    view: str = "table"
    shape: tuple | None = None
    shape_labels: tuple = ()
    shape_note: str = ""
    json_rows: tuple = ()
    full: bool = False
    title: str = ""
    signed: bool | None = None
    palette: str | None = None
    # for "bars": label index -> words ("predicted", "true")
    marks: dict = field(default_factory=dict)
    json: bool = True  # False: the terminal's picture of numbers that other JSON lines carry

    @property
    def value(self) -> np.ndarray:
        return self.step.value


@dataclass(frozen=True)
class Figure:
    """Matrices typeset between brackets, side by side, with words and operators between:
    parts are strings (an operator, "→", or a caption) and :class:`Tensor` items (drawn
    with their ``label``, e.g. "X ="). ``styles`` picks cells out: {tensor index in parts:
    {(row, col): "window" | "pick" | "pad"}}. Each Tensor of the figure is also a JSON line."""

    parts: tuple
    labels: dict = field(default_factory=dict)  # part index -> label written before the matrix
    styles: dict = field(default_factory=dict)
    caption: str = ""  # a line under the figure

    def tensors(self) -> list[Tensor]:
        return [p for p in self.parts if isinstance(p, Tensor)]


@dataclass(frozen=True)
class Window:
    """One window of a worked example (a convolution's or a max pooling's).

    source     the whole (padded) input the window is cut from
    position   (i, j): the output this window makes
    rows, cols first and last row and column of the window in ``source``
    filter     the filter (convolution) or None (pooling)
    value      the output: the sum of the products, or the window's max
    pick       (row, col) of the max in ``source`` (pooling)
    """

    number: int
    position: tuple
    rows: tuple
    cols: tuple
    source: np.ndarray
    of: str
    filter: np.ndarray | None = None
    value: float = 0.0
    pick: tuple | None = None
    case: str | None = None

    @property
    def window(self) -> np.ndarray:
        return self.source[self.rows[0] : self.rows[1] + 1, self.cols[0] : self.cols[1] + 1]

    @property
    def products(self) -> np.ndarray:
        return self.window * self.filter


@dataclass(frozen=True)
class Column:
    """A table column: the row key it shows, its heading, and how its numbers are written
    ("text", "f" fixed point with the precision, "e" scientific, "%" a share, "count"
    with thousands separators, "shape" a tuple); wrap: long text may wrap."""

    key: str
    heading: str
    kind: str = "text"
    justify: str = "left"
    style: str = ""
    width: int | None = None
    wrap: bool = False


@dataclass(frozen=True)
class Table:
    """Rows of values under headed columns. With ``event`` set, each row is also a JSON
    line of that event carrying the row's ``json`` fields (the raw numbers)."""

    title: str
    columns: tuple
    rows: tuple  # of dicts: key -> value shown
    event: str | None = None
    json: tuple = ()  # of dicts, one per row, when event is set
    edge: bool = True
    box: str = "simple"  # "simple": a rule under the heading; "heavy": a frame, as Keras's summary


@dataclass(frozen=True)
class Maps:
    """Feature maps of one layer (H, W) drawn side by side; the JSON line names the channels."""

    layer: str
    title: str
    channels: tuple
    maps: tuple  # of 2-D arrays


@dataclass(frozen=True)
class Fact:
    """An event with fields; ``text`` is what the terminal shows for it (nothing if empty)."""

    event: str
    fields: dict
    text: str = ""
    style: str = ""


class Steps(list):
    """An ordered list of the items above, with a title (what was explained)."""

    def __init__(self, items=(), title: str = ""):
        super().__init__(items)
        self.title = title

    def say(self, text: str, style: str = "") -> None:
        self.append(Say(text, style))

    def tensor(self, name, value, formula="", note="", labels=(), **options: Any) -> Tensor:
        t = Tensor(Step(name, np.array(value, copy=True), formula, note, tuple(labels)), **options)
        self.append(t)
        return t

    def fact(self, event: str, text: str = "", style: str = "", **fields) -> None:
        self.append(Fact(event, fields, text, style))

    def tensors(self) -> dict[str, np.ndarray]:
        """Every tensor by name (the last one of a name wins): for a notebook or a test."""
        found: dict[str, np.ndarray] = {}
        for item in self:
            for t in (
                [item]
                if isinstance(item, Tensor)
                else item.tensors()
                if isinstance(item, Figure)
                else []
            ):
                found[t.step.name] = t.value
        return found


def fixed(value, digits: int) -> str:
    """A number in fixed point with ``digits`` decimals, for a sentence (put in before it is
    translated, so the number reads the same in every language)."""
    return f"{float(value):.{digits}f}"


def tensor(name, value, formula="", note="", labels=(), **options: Any) -> Tensor:
    """A :class:`Tensor` item (a copy of ``value``), for building a Figure."""
    return Tensor(Step(name, np.array(value, copy=True), formula, note, tuple(labels)), **options)


def fact(event: str, text: str = "", style: str = "", **fields) -> Fact:
    """A :class:`Fact` item: the event, the sentence the terminal shows, and the fields."""
    return Fact(event, fields, text, style)
