"""The `nbengine` command: one Click group, a subgroup per verb, a command per model.

This module only wires: each lesson's module (nbengine_cli.lessons) adds its commands to
the verb groups, every module of nbengine_cli.trace adds its traces, and the data, bench
and tutorial commands come from their own modules.

Exit codes: 0 success, 1 a run that failed (a diverged loss, a failed gradient
check), 2 bad usage or bad input. Errors are one line on stderr, no traceback.
"""

from __future__ import annotations

import pkgutil
import sys
from importlib import import_module

import click

import nbengine
from nbengine import __version__
from nbengine.errors import NBEngineError
from nbengine.i18n import N_, _, shown
from nbengine_cli import bench as bench_commands
from nbengine_cli import data as data_commands
from nbengine_cli import exercise, language
from nbengine_cli import trace as trace_package
from nbengine_cli import tutorial as tutorial_commands
from nbengine_cli.lessons import LESSONS
from nbengine_cli.options import add_kernels_option
from nbengine_cli.render import export

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Group(click.Group):
    """The top-level group: it turns the engine's typed errors, raised anywhere
    below it, into one line and an exit code."""

    def invoke(self, ctx: click.Context):
        note, nbengine.NUMBA_CACHE_NOTE = nbengine.NUMBA_CACHE_NOTE, None  # said once per process
        if note:
            click.echo(shown(note), err=True)
        try:
            result = super().invoke(ctx)
            export.write(ctx)  # --svg, --html, --plot: once the command has succeeded
            return result
        except NBEngineError as e:
            click.echo(_("error: {message}").format(message=e.shown()), err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo(_("interrupted"), err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as other tools do.
            sys.stderr.close()
            ctx.exit(141)


@click.group("nbengine", cls=Group, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="nbengine")
@language.lang_option
def main():
    """nbengine: neural networks as explicit loops, with every number on show.

    Train the lessons' models, look inside every step with `trace`, and check
    gradients against finite differences with `gradcheck`.

    \b
    Start here:
      nbengine train logreg        train logistic regression on the shipped data
      nbengine train cnn           train the lesson's CNN on 5,000 real digits
      nbengine trace logreg        one sample through every step of the chain rule
      nbengine gradcheck logreg    backprop against finite differences
    """


# The verb groups; each lesson's module adds its commands to them (`train cnn`, `eval cnn`, ...).
VERBS = {
    "train": N_("Train a model and print a table per epoch."),
    "eval": N_("Evaluate a saved checkpoint on test data."),
    "predict": N_("Predict with a trained model and write the predictions to a file."),
    "generate": N_("Sample text from a trained language model."),
    "summary": N_("A model's layers: output shapes and parameter counts."),
    "trace": N_("Print every tensor of one forward and backward pass."),
    "gradcheck": N_("Compare backprop's gradients with finite differences (float64)."),
    "data": N_("The data sets: what ships with nbengine, fetching MNIST, drawing an image."),
    "bench": N_("Speed against a reference implementation, as ratios in one run."),
}
GROUPS = {verb: main.group(verb, help=text)(lambda: None) for verb, text in VERBS.items()}
bench = GROUPS["bench"]  # `python -m benchmarks` runs this group (benchmarks/__main__.py)


def commands_of(module) -> list[click.Command]:
    """The commands a command module defines (its module-level Click commands)."""
    return [
        c
        for c in vars(module).values()
        if isinstance(c, click.Command) and c.callback.__module__ == module.__name__
    ]


for lesson in LESSONS:
    import_module(f"nbengine_cli.lessons.{lesson}").register(GROUPS)
for found in pkgutil.iter_modules(trace_package.__path__):
    for command in commands_of(import_module(f"nbengine_cli.trace.{found.name}")):
        GROUPS["trace"].add_command(command)
for verb, module in (("data", data_commands), ("bench", bench_commands)):
    for command in commands_of(module):
        GROUPS[verb].add_command(command)
main.add_command(tutorial_commands.tutorial)
main.add_command(exercise.exercise)

# Every command that runs the engine's loops can run the naive or the fast ones; `bench kernels`
# times the naive and the fast kernels side by side, so it has no --kernels.
for verb in ("train", "eval", "predict", "generate", "trace", "gradcheck", "bench"):
    for command in GROUPS[verb].commands.values():
        if command is not bench_commands.bench_kernels:
            add_kernels_option(command)

# What the terminal shows can be kept as a picture: --svg FILE, --html FILE; training can
# also draw its epochs, --plot FILE.svg.
for verb in ("trace", "train", "bench"):
    for command in GROUPS[verb].commands.values():
        export.add_export_options(command, plot=verb == "train")
export.add_export_options(tutorial_commands.tutorial.commands["run"])

# Help texts are translated when shown, in the language --lang (or the environment) chose.
language.localize(main)
language.use(None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
