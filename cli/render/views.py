"""The terminal view of each kind of explanation item (see nbengine_cli.render)."""

from __future__ import annotations

from rich import box
from rich.columns import Columns
from rich.style import Style
from rich.table import Table
from rich.text import Text

from nbengine.i18n import Msg, _, shown
from nbengine_cli.render.heatmap import heatmap
from nbengine_cli.render.matrix import STYLES, beside, bracket, cell_format, product_sum
from nbengine_cli.render.tensor import render_step

RIGHT = Style(bold=True, color="green")  # the bar of a prediction that is right
WRONG = Style(bold=True, color="red")


def said(label):
    """A label or a cell as shown: a message (Msg) in the chosen language; data (a word of a
    sentence, a class name) as it is, even when it happens to be a word of the catalog."""
    return shown(label) if isinstance(label, Msg) else label


def tensor(item, precision: int, full: bool) -> list:
    import numpy as np

    from nbengine.trace import Step

    step = item.step
    if item.view == "":
        return []
    if item.view == "heatmap":
        v = np.asarray(step.value, np.float64)
        return [
            heatmap(
                v.reshape(v.shape[0], -1) if v.ndim > 2 else v,
                signed=item.signed,
                title=shown(item.title) or None,
                palette=item.palette,
            )
        ]
    if item.view == "bars":
        return [bars(item, precision)]
    if item.shape is not None:  # shown in another shape than it is stored (a 4H vector as 4×H)
        step = Step(
            step.name,
            step.value.reshape(item.shape),
            step.formula,
            item.shape_note or step.note,
            item.shape_labels,
        )
    return [render_step(step, precision, full or item.full)]


def figure(item, precision: int) -> list:
    import numpy as np

    values = np.concatenate([np.ravel(t.value) for t in item.tensors()])
    fmt = cell_format(values, precision)
    blocks = []
    for k, part in enumerate(item.parts):
        if isinstance(part, str):
            blocks.append(said(part))
            continue
        if k in item.labels:
            blocks.append([Text(said(item.labels[k]))])
        styles = {rc: STYLES[kind] for rc, kind in item.styles.get(k, {}).items()}
        blocks.append(bracket(np.asarray(part.value), fmt, styles))
    shown_ = [beside(*blocks)]
    if item.caption:
        shown_.append(shown(item.caption))
    return shown_


def window_heading(w) -> str:
    (p, p_end), (q, q_end) = w.rows, w.cols
    where = {
        "number": w.number,
        "i": w.position[0],
        "j": w.position[1],
        "p": p,
        "p_end": p_end,
        "q": q,
        "q_end": q_end,
        "of": said(w.of),
    }
    if w.filter is not None:
        return _(
            "{number}. output ({i}, {j}): the window at rows {p}–{p_end}, columns {q}–{q_end} of {of}"
        ).format(**where)
    return _(
        "{number}. output ({i}, {j}): the window at rows {p}–{p_end}, columns {q}–{q_end}"
    ).format(**where)


def window(w, precision: int) -> list:
    import numpy as np

    (p, p_end), (q, q_end) = w.rows, w.cols
    inside = {(r, c): STYLES["window"] for r in range(p, p_end + 1) for c in range(q, q_end + 1)}
    if w.filter is None:  # max pooling: the window's max picked out
        fmt = cell_format(w.source, precision)
        r, c = w.pick
        inside[(r, c)] = STYLES["pick"]
        return [
            beside(
                bracket(w.source, fmt, inside),
                "→",
                bracket(w.window, fmt, {(r - p, c - q): STYLES["pick"]}),
                "→",
                _("max = {value}, at row {r}, column {c} of {of}").format(
                    value=fmt(w.value), r=r, c=c, of=said(w.of)
                ),
            )
        ]
    fmt = cell_format(np.concatenate([w.source.ravel(), w.filter.ravel(), [w.value]]), precision)
    picture = beside(
        bracket(w.source, fmt, inside),
        "→",
        bracket(w.window, fmt),
        "⊙",
        bracket(w.filter, fmt),
        "=",
        bracket(w.products, fmt),
        "→",
        _("sum = {value}").format(value=fmt(w.value)),
    )
    from nbengine_cli.render import _say

    return [picture, _say(f"   {product_sum(w.window, w.filter, fmt)} = {fmt(w.value)}", "dim")]


def _cell(value, kind: str, precision: int) -> str:
    if kind == "f":
        return f"{value:.{precision}f}"
    if kind == "e":
        return f"{value:.{precision}e}"
    if kind == "%":
        return f"{value:.0%}"
    if kind == "count":
        return f"{value:,}"
    if kind == "shape":
        return str(tuple(value))
    return str(value)


def table(item, precision: int) -> Table:
    t = Table(
        title=shown(item.title) or None,
        title_justify="left",
        box=box.HEAVY_HEAD if item.box == "heavy" else box.SIMPLE_HEAD,
        show_edge=item.edge,
        pad_edge=item.edge,
    )
    for col in item.columns:
        t.add_column(
            shown(col.heading),
            justify=col.justify,
            no_wrap=not col.wrap,
            style=col.style or None,
            width=col.width,
        )
    for row in item.rows:
        t.add_row(*(_cell(said(row[col.key]), col.kind, precision) for col in item.columns))
    return t


def bars(item, precision: int) -> Table:
    """A probability per label with a bar of its size; marks name the predicted and true rows."""
    step = item.step
    labels = step.axis_labels(0)
    t = Table(title=shown(item.title) or None, title_justify="left", box=box.SIMPLE_HEAD)
    for heading, justify in (
        (_("class"), "left"),
        (_("probability"), "right"),
        ("", "left"),
        ("", "left"),
    ):
        t.add_column(heading, justify=justify)
    words = {"predicted": _("predicted"), "true": _("true")}
    for k, p in enumerate(step.value):
        marks = item.marks.get(k, ())
        style = RIGHT if marks == ("predicted", "true") else WRONG if "predicted" in marks else ""
        if len(marks) == 2:
            marked = _("{first} and {second}").format(first=words[marks[0]], second=words[marks[1]])
        else:
            marked = "".join(words[m] for m in marks)
        t.add_row(
            said(labels[k]),
            Text(f"{p:.{precision}f}", style=style),
            "█" * int(round(p * 30)),
            marked,
        )
    return t


def maps(item) -> Columns:
    return Columns(
        [
            heatmap(m, signed=False, title=_("channel {c}").format(c=c))
            for c, m in zip(item.channels, item.maps)
        ],
        padding=(0, 2),
    )
