"""`nbengine exercise`: the learner writes a kernel's loops, nbengine grades them.

The commands only parse and render; the exercises, the grading and the learner's
progress live in nbengine.exercises (imported inside each command).
"""

from __future__ import annotations

import os

import click
from rich.table import Table
from rich.text import Text

from nbengine.i18n import N_, _
from nbengine_cli.options import json_options, language_option
from nbengine_cli.output import Output


@click.group("exercise")
def exercise():
    """Write a kernel's loops yourself; nbengine grades them number by number.

    \b
      nbengine exercise list                      the exercises and where you are
      nbengine exercise start conv2d_forward      write conv2d_forward.py to fill in
      nbengine exercise check conv2d_forward.py   grade it (--hint when stuck)
      nbengine exercise check --all DIR           grade a folder of submissions
    """


# What `exercise list` shows of each status (the status itself is the JSON's value).
STATUS = {"not started": N_("not started"), "failing": N_("failing"), "passed": N_("passed")}


@exercise.command("list")
@language_option
@json_options
def exercise_list(lang, json_mode, quiet):
    """The exercises, in the lessons' order, with your status: not started, failing, passed."""
    from nbengine.exercises import ORDER, progress
    from nbengine.exercises.core import say

    out = Output(json_mode, quiet)
    data = progress.load()
    table = Table(box=None, pad_edge=False)
    for col in (_("name"), _("lesson"), _("title"), _("status")):
        table.add_column(col)
    row = out.gather(lambda cells: table.add_row(*cells))
    style = {progress.PASSED: "green", progress.FAILING: "red"}
    for ex in ORDER:
        state = progress.status(ex.name, data)
        row(
            [
                ex.name,
                ex.lesson,
                say(ex.title, lang),
                Text(_(STATUS[state]), style=style.get(state, "")),
            ],
            "exercise",
            name=ex.name,
            lesson=ex.lesson,
            title=say(ex.title, lang),
            status=state,
            backward=ex.gradient is not None,
        )
    out.show(table)
    out.status(
        _("Progress is kept in {path}. Start one with `nbengine exercise start NAME`.").format(
            path=progress.path()
        )
    )


@exercise.command("start")
@click.argument("name")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Where to write NAME.py.",
)
@language_option
@json_options
def exercise_start(name, folder, lang, json_mode, quiet):
    """Write NAME.py: the kernel's signature, shapes, formula and a body to fill in.

    A file you have edited is never overwritten."""
    from nbengine.exercises import start

    out = Output(json_mode, quiet)
    path, written = start(name, folder, lang)
    if written:
        said = _(
            "Wrote {path}: fill in the body between the marked lines, then run "
            "`nbengine exercise check {path}`."
        )
    else:
        said = _(
            "{path} is already there, untouched: fill it in, then run `nbengine exercise check {path}`."
        )
    out.fact(
        "start", Text(said.format(path=path)), name=name, path=str(path), written=written, lang=lang
    )


def _matrix(rows) -> str:
    def cell(v):
        from nbengine.exercises.core import number

        return number(v)

    cells = [[cell(v) for v in r] for r in rows]
    width = max((len(c) for r in cells for c in r), default=1)
    return "\n".join(" ".join(c.rjust(width) for c in r) for r in cells)


def _side_by_side(expected, got) -> Table:
    table = Table(box=None, pad_edge=False, padding=(0, 4, 0, 0))
    table.add_column(_("expected"))
    table.add_column(_("yours"))
    table.add_row(_matrix(expected), _matrix(got))
    return table


def _shown(result: dict) -> list:
    """What people see of one check: its line, then what teaches (the numbers side by side,
    the formula, the hint), or the timings."""
    mark = {True: Text("✓ ", style="green"), False: Text("✗ ", style="red"), None: Text("· ")}[
        result["passed"]
    ]
    shown: list = [Text.assemble(mark, (result["check"], "bold"), ": ", result["message"])]
    if result["passed"] is False:
        if "views" in result:
            for name, v in result["views"].items():
                shown.append(Text(f"  {name}", style="bold"))
                shown.append(_side_by_side(v["expected"], v["got"]))
        elif result.get("side_by_side"):
            v = result["side_by_side"]
            shown.append(
                Text(
                    "  "
                    + _("{output} (the slice holding the wrong element)").format(
                        output=result["output"]
                    ),
                    style="bold",
                )
            )
            shown.append(_side_by_side(v["expected"], v["got"]))
        if "term" in result:
            shown.append(
                Text(
                    "  "
                    + _("formula: {term}   ({at})").format(term=result["term"], at=result["at"])
                )
            )
        if "mistake_name" in result:
            shown.append(
                Text(
                    "  " + _("recognised mistake: {name}").format(name=result["mistake_name"]),
                    style="yellow",
                )
            )
        if "hint" in result:
            shown.append(Text("  " + _("hint: {hint}").format(hint=result["hint"])))
    if result["check"] == "speed" and result.get("rows"):
        table = Table(box=None, pad_edge=False)
        for col, just in ((_("kernel"), "left"), ("ms", "right"), (_("yours ÷ it"), "right")):
            table.add_column(col, justify=just)
        for r in result["rows"]:
            table.add_row(r["kernel"], f"{r['seconds'] * 1e3:.3g}", f"{r['ratio']:.2f}")
        shown.append(Text(f"  {result['shape']}", style="dim"))
        shown.append(table)
        if result.get("note"):
            shown.append(Text(f"  {result['note']}", style="dim"))
    return shown


@exercise.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--all",
    "folder",
    type=click.Path(file_okay=False),
    default=None,
    help="Grade every .py file of this folder: one line per file, then a summary.",
)
@click.option(
    "--hint",
    count=True,
    help="Say how to fix a recognised mistake (or give a hint when none is); "
    "twice (--hint --hint) adds the loops spelled out.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds each check may take before it counts as an endless loop  [default: 60].",
)
@language_option
@json_options
def exercise_check(file, folder, hint, timeout, lang, json_mode, quiet):
    """Grade FILE: it compiles, the lesson's worked example, random cases against the
    engine's naive kernel, gradients against finite differences, then speed.

    Stops at the first check that fails, and says why. Exit 0 only when every check passes."""
    from nbengine.exercises import progress
    from nbengine.exercises.runner import DEFAULT_TIMEOUT, check_file, check_folder

    out = Output(json_mode, quiet)
    timeout = timeout or DEFAULT_TIMEOUT
    if (file is None) == (folder is None):
        raise click.UsageError(_("give one FILE, or --all DIR"))
    if folder is not None:
        _check_all(out, check_folder(folder, lang, hint, timeout))
        return
    report = check_file(
        file,
        lang,
        hint,
        timeout,
        on_check=lambda r: out.fact("check", _shown(r), file=file, **r),
        on_start=lambda name: out.status(
            _("Grading {file} ({name}) ...").format(file=file, name=name)
        ),
    )
    progress.record(report.exercise, progress.PASSED if report.passed else progress.FAILING, file)
    if report.passed:
        line = Text(_("passed: every check"), style="bold green")
    else:
        line = Text(
            _("failed at the {check} check").format(check=report.failed["check"]), style="bold red"
        )
    out.fact(
        "result",
        line,
        file=file,
        exercise=report.exercise,
        passed=report.passed,
        failed=None if report.passed else report.failed["check"],
        seconds=round(report.seconds, 3),
    )
    if not report.passed:
        click.get_current_context().exit(1)


def _check_all(out: Output, reports) -> None:
    table = Table(box=None, pad_edge=False)
    for col, just in (
        (_("file"), "left"),
        (_("exercise"), "left"),
        (_("result"), "left"),
        (_("seconds"), "right"),
    ):
        table.add_column(col, justify=just)
    passed = failed = 0
    for r in reports:
        name = os.path.basename(r.path)
        bad = r.failed
        if r.passed:
            passed += 1
            result = _("passed")
            line = Text.assemble(("✓ ", "green"), name, f"  {r.exercise}: ", result)
        else:
            failed += 1
            # the message is JSON's; shown translated
            bad = bad or {"check": "?", "message": "incomplete"}
            message = _("incomplete") if bad["message"] == "incomplete" else bad["message"]
            line = Text.assemble(
                ("✗ ", "red"), name, f"  {r.exercise or '?'}: {bad['check']}: ", message
            )
            result = f"{bad['check']}" + (f" ({bad['mistake']})" if "mistake" in bad else "")
        out.fact(
            "submission",
            line,
            file=r.path,
            exercise=r.exercise,
            passed=r.passed,
            failed=None if r.passed else bad["check"],
            message=None if r.passed else bad["message"],
            mistake=None if r.passed else bad.get("mistake"),
            seconds=round(r.seconds, 3),
        )
        table.add_row(
            name,
            r.exercise or "?",
            Text(result, style="green" if r.passed else "red"),
            f"{r.seconds:.1f}",
        )
    out.show(Text(""))
    out.show(table)
    out.fact(
        "summary",
        _("{passed} passed, {failed} failed").format(passed=passed, failed=failed),
        passed=passed,
        failed=failed,
    )
    if failed:
        click.get_current_context().exit(1)
