"""One renderer for every explanation: a step list (nbengine.explain) becomes the terminal
view, or the same list becomes JSON lines; SVG and HTML are the terminal view exported.

    from nbengine import explain
    from nbengine_cli.render import show
    show(explain.conv_windows())          # in a terminal or a Jupyter notebook

Each item of the list is rendered once, by :func:`terminal` (Rich renderables) or by
:func:`nbengine.explain.records.records` (the dicts of its JSON lines): no fact is
written twice. The pieces: ``tensor`` (labelled tables with NumPy-like ellipses),
``matrix`` (bracketed matrices side by side, for the worked examples), ``heatmap`` (2-D
arrays as colours), ``values`` (what a tutorial's code step shows of its values),
``export`` (SVG and HTML files), ``chart`` (the epoch chart).
"""

from __future__ import annotations

from nbengine.i18n import _
from nbengine_cli.render.tensor import (
    StreamingTable,
    matrix_table,
    number_format,
    render_step,
    vector_table,
)

__all__ = [
    "StreamingTable",
    "matrix_table",
    "number_format",
    "render",
    "render_step",
    "show",
    "terminal",
    "vector_table",
]


def _say(text: str, style: str = "") -> str:
    """A line of prose in the chosen language, as markup, left whole for the terminal to wrap
    (so commands stay whole)."""
    from rich.markup import escape

    from nbengine.i18n import shown

    text = shown(text)
    return f"[{style}]{escape(text)}[/]" if style and text else escape(text)


def terminal(item, precision: int = 4, full: bool = False) -> list:
    """What the terminal shows for one item: a list of Rich renderables (or markup strings)."""
    from nbengine.explain import steps as s
    from nbengine_cli.render import views

    if isinstance(item, s.Say):
        return [_say(item.text, item.style)]
    if isinstance(item, s.Fact):
        return [_say(item.text, item.style)] if item.text else []
    if isinstance(item, s.Tensor):
        return views.tensor(item, precision, full)
    if isinstance(item, s.Figure):
        return views.figure(item, precision)
    if isinstance(item, s.Window):
        return [_say(views.window_heading(item), "bold"), *views.window(item, precision)]
    if isinstance(item, s.Table):
        return [views.table(item, precision)]
    if isinstance(item, s.Maps):
        return [_say(item.title, "bold"), views.maps(item)]
    raise TypeError(_("cannot render {kind}").format(kind=type(item).__name__))


def render(out, steps) -> None:
    """Every item of a step list to ``out`` (an nbengine_cli.output.Output): JSON lines on
    stdout in --json mode, else the terminal view (recorded too for --svg and --html)."""
    if out.json_mode:
        from nbengine.explain.records import records

        for item in steps:
            for line in records(item):
                out.emit(line.pop("event"), **line)
    if out.showing:  # the terminal view, or the picture --svg and --html record under --json
        for item in steps:
            for renderable in terminal(item, out.precision, out.full):
                out.show(renderable)


def show(steps, precision: int = 4, full: bool = False, console=None) -> None:
    """Print a step list as the terminal shows it; in Jupyter, Rich draws it in the cell."""
    from rich.console import Console

    console = console or Console(highlight=False)
    for item in steps:
        for renderable in terminal(item, precision, full):
            console.print(renderable, soft_wrap=isinstance(renderable, str))


def to_html(steps, precision: int = 4, full: bool = False, width: int = 100) -> str:
    """A step list as an HTML fragment, drawn as the terminal draws it (for a notebook)."""
    import io

    from rich.console import Console

    console = Console(
        record=True,
        file=io.StringIO(),
        width=width,
        force_terminal=True,
        color_system="truecolor",
        highlight=False,
    )
    show(steps, precision, full, console)
    return console.export_html(
        inline_styles=True, code_format='<pre style="font-family:monospace">{code}</pre>'
    )


def load_ipython_extension(ipython) -> None:
    """`%load_ext nbengine_cli.render`: from then on a step list left at the end of a notebook
    cell displays as the terminal shows it, without calling show()."""
    from nbengine.explain.steps import Steps

    def bundle(steps, include=None, exclude=None):
        return {"text/html": to_html(steps)}

    ipython.display_formatter.mimebundle_formatter.for_type(Steps, bundle)
