"""Small matrices typeset as the lessons write them: between tall brackets, side by side,
with operators between (X ⊙ F = ...), cells picked out by style."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from nbengine_cli.render.tensor import number_format

STYLES = {
    "window": Style(bold=True, color="yellow"),
    "pick": Style(bold=True, reverse=True),
    "pad": "dim",
}


def cell_format(values, precision: int):
    """Whole numbers as whole numbers (7, not 7.0000); anything else with the precision."""
    import numpy as np

    v = np.asarray(values)
    if v.size and np.all(np.isfinite(v)) and np.all(v == np.round(v)):
        return lambda x: str(int(round(float(x))))
    return number_format(v, precision)


def bracket(values, fmt, styles: dict | None = None) -> list[Text]:
    """A matrix between tall brackets, one Text per line; styles maps (row, col) to a style."""
    rows, cols = values.shape
    cells = [[fmt(values[r, c]) for c in range(cols)] for r in range(rows)]
    width = max(len(s) for row in cells for s in row)
    lines = []
    for r in range(rows):
        if rows == 1:
            left, right = "[", "]"
        else:
            left, right = ("⎡", "⎤") if r == 0 else ("⎣", "⎦") if r == rows - 1 else ("⎢", "⎥")
        line = Text(left)
        for c in range(cols):
            line.append(" " if c else "")
            line.append(cells[r][c].rjust(width), (styles or {}).get((r, c), ""))
        line.append(right)
        lines.append(line)
    return lines


def beside(*blocks, gap: int = 1) -> Text:
    """Blocks side by side, centred on each other. A block is a list of Text lines, or a
    string (an operator like "⊙" or "=") that sits on the middle line."""
    height = max(len(b) for b in blocks if isinstance(b, list))
    columns = []
    for b in blocks:
        if isinstance(b, list):
            width = max(t.cell_len for t in b)
            top = (height - len(b)) // 2
            lines = [None] * top + b + [None] * (height - top - len(b))
        else:
            width = len(b)
            lines = [None] * height
            lines[(height - 1) // 2] = Text(b)
        columns.append((width, lines))
    rows = []
    for r in range(height):
        line = Text()
        for k, (width, lines) in enumerate(columns):
            t = lines[r] or Text()
            line.append_text(t)
            if k < len(columns) - 1:
                line.append(" " * (width - t.cell_len + gap))
        line.rstrip()
        rows.append(line)
    out = Text("\n", no_wrap=True, overflow="crop").join(rows)
    out.no_wrap, out.overflow = True, "crop"
    return out


def product_sum(window, filt, fmt) -> str:
    """The lesson's way of writing a window's sum: 1·1 + 0·0 + ... (negatives in brackets)."""

    def term(v):
        s = fmt(v)
        return f"({s})" if s.startswith("-") else s

    return " + ".join(f"{term(a)}·{term(b)}" for a, b in zip(window.reshape(-1), filt.reshape(-1)))
