"""The JSON lines of an explanation (nbengine.explain.steps): what `--json` writes of each
item, as dicts with an "event" key. The command line writes them; the terminal view of
the same items is the command line's renderer's (nbengine_cli.render)."""

from __future__ import annotations

from nbengine.explain.steps import Fact, Figure, Maps, Table, Tensor, Window
from nbengine.trace import Step, step_to_dict


def records(item) -> list[dict]:
    """The JSON lines of one item (dicts with an "event" key); prose has none."""
    if isinstance(item, Tensor):
        lines = [{"event": "trace", **item.fields, **step_to_dict(item.step)}] if item.json else []
        if item.json_rows:  # each row of the shape the terminal shows is a JSON line of its own
            rows = item.value.reshape(item.shape or item.value.shape)
            cols = item.shape_labels[-1] if item.shape_labels else item.step.axis_labels(1)
            for row, (name, formula, note) in zip(rows, item.json_rows):
                lines.append(
                    {
                        "event": "trace",
                        **item.fields,
                        **step_to_dict(
                            Step(name, row, formula, note, () if cols is None else (cols,))
                        ),
                    }
                )
        return lines
    if isinstance(item, Figure):
        return [line for t in item.tensors() for line in records(t)]
    if isinstance(item, Fact):
        return [{"event": item.event, **item.fields}]
    if isinstance(item, Window):
        w = {
            "event": "window",
            **({"case": item.case} if item.case is not None else {}),
            "step": item.number,
            "position": list(item.position),
            "rows": list(item.rows),
            "columns": list(item.cols),
            "window": item.window.tolist(),
        }
        if item.filter is not None:
            return [{**w, "products": item.products.tolist(), "sum": float(item.value)}]
        return [{**w, "max": float(item.value), "argmax": list(item.pick or ())}]
    if isinstance(item, Table):
        return [{"event": item.event, **row} for row in item.json] if item.event else []
    if isinstance(item, Maps):
        return [{"event": "maps", "layer": item.layer, "channels": list(item.channels)}]
    return []
