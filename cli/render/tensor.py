"""Rich renderings of traces and training tables."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # NumPy loads only when a tensor is rendered, so `nbengine --help` stays quick
    import numpy as np

    from nbengine.trace import Step

# Like NumPy's summarisation: past these sizes show the edges and an ellipsis.
MAX_COLS, EDGE_COLS = 8, 3
MAX_ROWS, EDGE_ROWS = 12, 4


def number_format(values: np.ndarray, precision: int):
    """One format for a whole tensor, as NumPy chooses one: fixed point, or
    scientific when the values span a range fixed point would hide."""
    import numpy as np

    v = np.asarray(values)
    if v.dtype.kind in "iub":
        return lambda x: str(int(x))
    finite = np.abs(v[np.isfinite(v)])
    nonzero = finite[finite > 0]
    scientific = nonzero.size > 0 and (nonzero.max() >= 1e5 or nonzero.min() < 10.0**-precision)

    def fmt(x) -> str:
        x = float(x)
        if np.isnan(x):
            return "nan"
        if np.isinf(x):
            return "inf" if x > 0 else "-inf"
        return f"{x:.{precision}e}" if scientific else f"{x:.{precision}f}"

    return fmt


def _shown(n: int, limit: int, edge: int, full: bool) -> list[int | None]:
    """Indices to show along an axis of length n; None marks the ellipsis."""
    if full or n <= limit:
        return list(range(n))
    return list(range(edge)) + [None] + list(range(n - edge, n))


def _heading(step: Step) -> Text:
    from nbengine.i18n import _, shown

    t = Text()
    t.append(step.name, style="bold cyan")
    if step.formula:
        t.append("   " + shown(step.formula), style="bold")
    shape = "×".join(str(s) for s in step.value.shape) or _("scalar")
    t.append(f"   [{shape}]", style="dim")
    if step.note:
        t.append("\n" + shown(step.note), style="italic dim")
    return t


def _label(label) -> str:
    """An axis label as text (not Rich markup: "p[true]" keeps its brackets): a message in the
    chosen language, data as it is."""
    from nbengine.i18n import Msg, shown

    return escape(shown(label) if isinstance(label, Msg) else str(label))


def matrix_table(
    values: np.ndarray,
    row_labels: Sequence[str] | None,
    col_labels: Sequence[str] | None,
    precision: int,
    full: bool,
    row_header: bool = True,
) -> Table:
    """A 2-D array as a table with labelled rows and columns and NumPy-like ellipses.
    row_header=False leaves out the column of row labels (for a single vector)."""
    fmt = number_format(values, precision)
    n_rows, n_cols = values.shape
    rows = _shown(n_rows, MAX_ROWS, EDGE_ROWS, full)
    cols = _shown(n_cols, MAX_COLS, EDGE_COLS, full)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    if row_header:
        table.add_column("", style="dim", no_wrap=True)
    for j in cols:
        if j is None:
            table.add_column("…", justify="center")
        else:
            table.add_column(
                _label(col_labels[j]) if col_labels is not None else str(j),
                justify="right",
                max_width=14,
                overflow="fold",
            )
    for i in rows:
        if i is None:
            cells = ["⋮" if j is not None else "⋱" for j in cols]
            label = "⋮"
        else:
            cells = [fmt(values[i, j]) if j is not None else "…" for j in cols]
            label = _label(row_labels[i]) if row_labels is not None else str(i)
        table.add_row(*([label] if row_header else []), *cells)
    return table


def vector_table(
    values: np.ndarray, labels: Sequence[str] | None, precision: int, full: bool
) -> Table:
    """A 1-D array as one row under its labels."""
    return matrix_table(values.reshape(1, -1), None, labels, precision, full, row_header=False)


def render_step(step: Step, precision: int = 4, full: bool = False):
    """A trace step: its heading (name, formula, shape, note), then its numbers."""
    v = step.value
    heading = _heading(step)
    if v.ndim == 0:
        heading.append("\n= ", style="bold")
        heading.append(number_format(v, precision)(v), style="bold green")
        return heading
    if v.ndim == 1:
        return Group(heading, vector_table(v, step.axis_labels(0), precision, full))
    if v.ndim == 2:
        return Group(
            heading, matrix_table(v, step.axis_labels(0), step.axis_labels(1), precision, full)
        )
    # More than two axes: one table per index of the leading axes, with ellipses.
    parts = [heading]
    lead = [_shown(n, MAX_ROWS, EDGE_ROWS, full) for n in v.shape[:-2]]
    for index in itertools.product(*lead):
        if None in index:
            parts.append(Text("⋮", style="dim"))
            continue
        parts.append(Text(f"[{', '.join(map(str, index))}, :, :]", style="dim"))
        parts.append(
            matrix_table(
                v[index],
                step.axis_labels(v.ndim - 2),
                step.axis_labels(v.ndim - 1),
                precision,
                full,
            )
        )
    return Group(*parts)


def duration(seconds: float) -> str:
    """A run's elapsed time in at most six characters, for a table's time column:
    41.2s under a minute, 24m41s under an hour (rounded to the second), then 2h05m."""
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    minutes, s = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, m = divmod(minutes, 60)
    return f"{hours}h{m:02d}m"


class StreamingTable:
    """A table printed one row at a time (the header with the first row), so a
    long run shows each epoch as it ends, on a terminal or in a log file."""

    def __init__(self, columns: Sequence[tuple[str, int]]):
        self.columns = columns
        self.started = False

    def row(self, *cells) -> Table:
        table = Table(
            box=box.SIMPLE_HEAD, show_edge=False, show_header=not self.started, pad_edge=False
        )
        for title, width in self.columns:
            table.add_column(title, justify="right", width=width, no_wrap=True)
        table.add_row(*cells)
        self.started = True
        return table

    def repeat_header(self) -> None:
        """Show the header again with the next row (after other output broke the table)."""
        self.started = False
