"""`nbengine tutorial list` and `nbengine tutorial run`: the lessons replayed step by
step, narration then the real computed numbers (nbengine/tutorial.py reads and runs
the tutorial files; this module prints them)."""

from __future__ import annotations

import sys

import click
from rich.rule import Rule
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from nbengine.i18n import _
from nbengine_cli.options import json_options, language_option
from nbengine_cli.output import Output


@click.group("tutorial")
def tutorial():
    """The lessons replayed step by step: narration, then the real numbers."""


@tutorial.command("list")
@language_option
@json_options
def tutorial_list(lang, json_mode, quiet):
    """The tutorials that ship with nbengine: name, title, steps and rough minutes."""
    from nbengine.tutorial import shipped, text

    out = Output(json_mode, quiet)
    table = Table(box=None, pad_edge=False)
    for col, just in (
        (_("lesson"), "right"),
        (_("name"), "left"),
        (_("title"), "left"),
        (_("steps"), "right"),
        (_("minutes"), "right"),
    ):
        table.add_column(col, justify=just)
    row = out.gather(lambda cells: table.add_row(*cells))
    for t in shipped():
        row(
            [str(t.lesson or ""), t.name, text(t.title, lang), str(len(t.steps)), f"{t.minutes:g}"],
            "tutorial",
            name=t.name,
            lesson=t.lesson,
            title=text(t.title, lang),
            steps=len(t.steps),
            minutes=t.minutes,
            path=str(t.path),
        )
    out.show(table)
    out.show(
        Text(
            _("Run one with `nbengine tutorial run NAME` (add --step to pause between steps)."),
            style="dim",
        )
    )


@tutorial.command("run")
@click.argument("name")
@language_option
@click.option(
    "--step",
    "pause",
    is_flag=True,
    help="Pause for Enter between steps (q quits); only when reading from a terminal.",
)
@click.option(
    "--code/--no-code",
    "show_code",
    default=True,
    show_default=True,
    help="Print each code step's Python before its results.",
)
@json_options
def tutorial_run(name, lang, pause, show_code, json_mode, quiet):
    """Run a tutorial: a shipped one by NAME (or lesson number), or your own file by PATH.

    Each step prints its narration, then runs its action (an nbengine command, or a
    few lines of Python with the engine) and shows the numbers it computed. The
    steps run straight through unless --step is given and stdin is a terminal.
    See the README for the file format and a complete example to start your own.

    A tutorial file's code steps are Python, run with your permissions, like any
    script: run only files you trust. A file that is not one of the shipped
    tutorials gets a line on stderr saying so.
    """
    import tempfile

    from nbengine.tutorial import Session, find, text

    out = Output(json_mode, quiet)
    t = find(name)
    if not t.shipped:  # said even with -q: it is about what runs, not progress
        out.err.print(
            _(
                "note: {path} is not one of nbengine's tutorials; its code steps run as Python with your "
                "permissions"
            ).format(path=t.path),
            soft_wrap=True,
            markup=False,
        )
    interactive = pause and sys.stdin.isatty() and not json_mode
    out.fact(
        "start",
        Text(text(t.title, lang), style="bold"),
        name=t.name,
        title=text(t.title, lang),
        lang=lang,
        steps=len(t.steps),
        path=str(t.path),
    )
    with tempfile.TemporaryDirectory(prefix="nbengine-tutorial-") as tmp:
        session = Session(t, tmp, lang)
        for step in t.steps:
            run_step(out, session, step, lang, show_code)
            if interactive and step is not t.steps[-1]:
                answer = click.prompt(
                    click.style(_("Enter: next step, q: quit"), dim=True),
                    default="",
                    show_default=False,
                    prompt_suffix=" ",
                    err=True,
                )
                if answer.strip().lower() in ("q", "quit"):
                    out.status(
                        _("stopped after step {step} of {n}").format(
                            step=step.index, n=len(t.steps)
                        )
                    )
                    return
    out.fact("end", name=t.name, steps=len(t.steps))


def run_step(out: Output, session, step, lang: str, show_code: bool = True) -> None:
    from nbengine.tutorial import json_value, text
    from nbengine_cli.render.values import value_views

    n = len(session.tutorial.steps)
    title, say = text(step.title, lang), text(step.say, lang)
    with out.parts("step") as fact:  # shown as the step goes, one JSON line once it is done
        fact.show(
            "",
            Rule(
                Text(
                    _("Step {step}/{n}: {title}").format(step=step.index, n=n, title=title),
                    style="bold cyan",
                ),
                align="left",
            ),
            Text(say),
            index=step.index,
            title=title,
            say=say,
        )
        if step.run is not None:
            session.check_output(step, run_command(fact, session, step))
        elif step.code is not None:
            code = (
                [
                    Syntax(
                        step.code.strip("\n"),
                        "python",
                        theme="ansi_dark",
                        background_color="default",
                        word_wrap=True,
                    )
                ]
                if show_code
                else []
            )
            fact.show(*code, code=step.code)
            values = session.execute(step)
            fact.show(
                *value_views(step, values, out.precision),
                values={k: json_value(v) for k, v in values.items()},
            )


def run_command(fact, session, step) -> str:
    """Run the step's nbengine command as a learner would, through the console script's entry
    point in a child process; show it and its output as parts of the step's fact (``fact``,
    from Output.parts), and return the output (stdout and status lines, in order)."""
    import subprocess

    from nbengine.errors import TutorialError
    from nbengine.i18n import Msg

    args = session.command(step)
    fact.show(
        Text(f"$ nbengine {step.run.replace('{tmp}', session.tmp)}", style="dim"), run=step.run
    )
    from nbengine.i18n import child_env

    # the commands speak the tutorial's language, at the width of the terminal it is shown on
    env = {**child_env(), "COLUMNS": str(fact.out.out.width), "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, "-m", "nbengine_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    if result.returncode != 0:
        why = (result.stdout.strip().splitlines() or [Msg("no output")])[-1]
        raise TutorialError(
            session.tutorial.path,
            Msg(
                "`nbengine {command}` exited {code}: {why}",
                command=step.run,
                code=result.returncode,
                why=why,
            ),
            step.index,
            step.title["en"],
        )
    fact.raw(result.stdout, output=result.stdout)
    return result.stdout
