"""The README's notebook example runs as written; a step list displays in a notebook as the
terminal shows it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"


def notebook_cell() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## In a notebook") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readmes_notebook_cell_runs(capsys):
    namespace: dict = {}
    exec(compile(notebook_cell(), "README.md", "exec"), namespace)
    shown = " ".join(capsys.readouterr().out.split())
    # the worked convolution, window by window, with the lesson's sums
    assert [int(s) for s in re.findall(r"sum = (-?\d+)", shown)[:4]] == [7, 6, 10, 7]
    # the trained model's attention, and its numbers as an array
    assert "Self-attention in a trained model" in shown and "it attends most to" in shown
    weights = namespace["weights"]
    assert (
        isinstance(weights, np.ndarray)
        and weights.shape == (1, 9)
        and abs(weights.sum() - 1) < 1e-12
    )
    assert f"{weights.max():.2f}" in shown


def test_load_ext_displays_a_step_list_by_itself():
    from nbengine import explain
    from nbengine_cli.render import load_ipython_extension

    registered = {}

    class Formatter:
        def for_type(self, cls, function):
            registered[cls] = function

    class Shell:
        class display_formatter:
            mimebundle_formatter = Formatter()

    load_ipython_extension(Shell())
    steps = explain.pool()
    bundle = registered[type(steps)](steps)
    page = re.sub(r"<[^>]+>", "", bundle["text/html"]).replace("&#x27;", "'")
    for line in ("max = 5", "max = 8", "max = 4"):
        assert line in page
