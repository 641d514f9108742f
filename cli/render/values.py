"""What a tutorial's code step shows of its values (nbengine.tutorial): tensors and trace
steps as tables, numbers and text as lines, heat maps, and a curve as a small line chart."""

from __future__ import annotations

from rich.text import Text

from nbengine_cli.render.heatmap import heatmap
from nbengine_cli.render.tensor import render_step

SHOW_WHOLE = 240  # a tensor with at most this many values is printed whole, without "…"


def value_views(step, values: dict, precision: int = 4) -> list:
    """What people see of a code step's values: its `show`, `heatmap` and `curve` entries, in order."""
    import numpy as np

    from nbengine.trace import Step

    def shown(s: Step) -> Step:
        """Whole numbers stored as floats print as whole numbers (7, not 7.0000)."""
        v = s.value
        if (
            v.dtype.kind == "f"
            and v.size
            and np.all(np.isfinite(v))
            and np.all(v == np.round(v))
            and np.abs(v).max() < 1e9
        ):
            return Step(s.name, v.astype(np.int64), s.formula, s.note, s.labels)
        return s

    def render(s: Step):
        return render_step(shown(s), precision, full=s.value.size <= SHOW_WHOLE)

    views = []
    for name in step.show:
        v = values[name]
        if isinstance(v, Step):
            views.append(render(Step(v.name or name, v.value, v.formula, v.note, v.labels)))
        elif isinstance(v, list) and v and all(isinstance(s, Step) for s in v):
            for s in v:
                views.append(render(s))
        elif isinstance(v, np.ndarray):
            views.append(render(Step(name, v)))
        # text of several lines (a kernel's source): a block
        elif isinstance(v, str) and "\n" in v.strip("\n"):
            views.append(Text(f"{name}:", style="bold"))
            views.append(Text(v.strip("\n")))
        else:
            views.append(Text(f"{name} = {plain(v)}"))
    for name in step.heatmap:
        v = values[name]
        views.append(heatmap(v.value if isinstance(v, Step) else np.asarray(v), title=name))
    if step.curve:
        views.append(line_chart([float(x) for x in values[step.curve]], step.curve))
    return views


def plain(v) -> str:
    """A number as a learner reads it: at most 6 significant digits (whole numbers as they are)."""
    import numpy as np

    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}" if abs(int(v)) >= 10_000 else str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return str(v)


def line_chart(values: list[float], title: str, height: int = 8, width: int = 60) -> Text:
    """A small terminal line chart: one column per value (or per group of values), dots at their height."""
    import math

    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        from nbengine.i18n import _

        return Text(_("{title}: no finite values").format(title=title))
    if len(values) > width:  # one column per group of values: their mean
        k = math.ceil(len(values) / width)
        values = [sum(values[i : i + k]) / len(values[i : i + k]) for i in range(0, len(values), k)]
    lo, hi = min(finite), max(finite)
    span = hi - lo or 1.0
    rows = [[" "] * len(values) for _ in range(height)]
    for x, v in enumerate(values):
        if math.isfinite(v):
            rows[height - 1 - round((v - lo) / span * (height - 1))][x] = "•"
    chart = Text(f"{title}\n", style="bold")
    for r, row in enumerate(rows):
        label = (
            f"{hi:>9.4g} │" if r == 0 else (f"{lo:>9.4g} │" if r == height - 1 else " " * 9 + " │")
        )
        chart.append(label + "".join(row) + "\n")
    chart.append(" " * 10 + "└" + "─" * len(values))
    return chart
