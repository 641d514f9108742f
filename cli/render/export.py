"""--svg FILE and --html FILE: what the terminal showed, exported by Rich; and train's
--plot FILE.svg, the curves of every epoch. Each file is written atomically (whole or
not at all) once the command has succeeded.

The options keep their paths in the click context; an Output created under such a
context also prints everything it shows to a recording console (in --json mode too, so
`--json --svg FILE` gives the JSON lines and the picture), and main's group writes the
files when the command returns.
"""

from __future__ import annotations

import io
import os

import click

from nbengine.i18n import N_, _

KEY = "nbengine.export"
KINDS = {
    "svg": N_("Write what the terminal shows to FILE as an SVG picture (Rich's export)."),
    "html": N_("Write what the terminal shows to FILE as an HTML page (Rich's export)."),
}
PLOT_HELP = N_(
    "Write the loss and accuracy (or perplexity) of every epoch to FILE as an SVG chart."
)


def _state(ctx: click.Context) -> dict:
    return ctx.meta.setdefault(KEY, {"paths": {}, "recorder": None, "epochs": None})


def _remember(ctx, param, value):
    if value is not None:
        state = _state(ctx)
        state["title"] = ctx.command_path
        if param.name == "plot":
            if not value.lower().endswith(".svg"):
                raise click.BadParameter(
                    _("the chart is an SVG file: give a name ending in .svg"), ctx, param
                )
            state["epochs"] = []
        folder = os.path.dirname(os.path.abspath(value))
        if not os.path.isdir(folder):
            raise click.BadParameter(
                _("the folder {folder} does not exist").format(folder=folder), ctx, param
            )
        state["paths"][param.name] = value
    return value


def add_export_options(command: click.Command, plot: bool = False) -> None:
    """Give a command --svg FILE and --html FILE (and --plot FILE.svg for training)."""
    names = [p.name for p in command.params]
    where = names.index("json_mode") if "json_mode" in names else len(names)
    options = [
        click.Option(
            [f"--{kind}"],
            type=click.Path(dir_okay=False),
            metavar="FILE",
            default=None,
            expose_value=False,
            callback=_remember,
            help=help,
        )
        for kind, help in KINDS.items()
    ]
    if plot:
        options.append(
            click.Option(
                ["--plot"],
                type=click.Path(dir_okay=False),
                metavar="FILE.svg",
                default=None,
                expose_value=False,
                callback=_remember,
                help=PLOT_HELP,
            )
        )
    command.params[where:where] = options


def recorder():
    """The console recording this command's terminal view, or None when nothing is exported."""
    from rich.console import Console

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    state = _state(ctx)
    if not ({"svg", "html"} & state["paths"].keys()):
        return None
    if state["recorder"] is None:
        width = Console().width  # the terminal's width, or $COLUMNS
        state["recorder"] = Console(
            record=True,
            file=io.StringIO(),
            width=width,
            force_terminal=True,
            color_system="truecolor",
            highlight=False,
        )
    return state["recorder"]


def epochs() -> list | None:
    """Where the epoch events go for --plot (None without it)."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else _state(ctx)["epochs"]


def write(ctx: click.Context) -> None:
    """Write the files asked for; an OSError becomes one line and exit code 2."""
    from nbengine.data.files import atomic_write
    from nbengine.errors import NBEngineError

    state = ctx.meta.get(KEY)
    if not state or not state["paths"]:
        return
    title = state.get("title", "nbengine")
    texts = {}
    rec = state["recorder"]
    if "svg" in state["paths"]:
        texts["svg"] = rec.export_svg(title=title, clear=False)
    if "html" in state["paths"]:
        texts["html"] = rec.export_html(inline_styles=True, clear=False)
    if "plot" in state["paths"]:
        from nbengine_cli.render.chart import epoch_chart

        texts["plot"] = epoch_chart(state["epochs"], title)
    for kind, text in texts.items():
        path = state["paths"][kind]
        try:
            with atomic_write(path, text=True, suffix=f".{kind}.tmp") as f:
                f.write(text)
        except OSError as e:
            raise NBEngineError(
                _("cannot write {path}: {reason}").format(
                    path=os.fspath(path), reason=e.strerror or e
                )
            ) from None
