"""The `nbengine` command: one Click group, a subgroup per verb, a command per model.

Exit codes: 0 success, 1 a run that failed (a diverged loss, a failed gradient
check), 2 bad usage or bad input. Errors are one line on stderr, no traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

import nbengine
from nbengine import __version__
from nbengine.errors import NBEngineError
from nbengine_cli import bench as bench_commands
from nbengine_cli import cnn
from nbengine_cli import data as data_commands
from nbengine_cli import logreg
from nbengine_cli import summary as summary_commands
from nbengine_cli import tutorial as tutorial_commands
from nbengine_cli.lessons import LESSONS
from nbengine_cli.options import add_kernels_option
from nbengine_cli.render import export
from nbengine_cli.trace import cnn as trace_cnn_module
from nbengine_cli.trace import conv as trace_conv_module
from nbengine_cli.trace import logreg as trace_logreg_module
from nbengine_cli.trace import pool as trace_pool_module

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Group(click.Group):
    """The top-level group: it turns the engine's typed errors, raised anywhere
    below it, into one line and an exit code."""

    def invoke(self, ctx: click.Context):
        note, nbengine.NUMBA_CACHE_NOTE = nbengine.NUMBA_CACHE_NOTE, None  # said once per process
        if note:
            click.echo(note, err=True)
        try:
            result = super().invoke(ctx)
            export.write(ctx)  # --svg, --html, --plot: once the command has succeeded
            return result
        except NBEngineError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as other tools do.
            sys.stderr.close()
            ctx.exit(141)


@click.group("nbengine", cls=Group, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="nbengine")
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


@main.group()
def train():
    """Train a model and print a table per epoch."""


@main.group("eval")
def evaluate():
    """Evaluate a saved checkpoint on test data."""


@main.group()
def predict():
    """Predict with a trained model and write the predictions to a file."""


@main.group()
def generate():
    """Sample text from a trained language model."""


@main.group()
def summary():
    """A model's layers: output shapes and parameter counts."""


@main.group()
def trace():
    """Print every tensor of one forward and backward pass."""


@main.group()
def gradcheck():
    """Compare backprop's gradients with finite differences (float64)."""


@main.group()
def data():
    """The data sets: what ships with nbengine, fetching MNIST, drawing an image."""


@main.group()
def bench():
    """Speed against a reference implementation, as ratios in one run."""


train.add_command(logreg.train_logreg)
evaluate.add_command(logreg.eval_logreg)
train.add_command(cnn.train_cnn)
evaluate.add_command(cnn.eval_cnn)
predict.add_command(cnn.predict_cnn)
trace.add_command(trace_logreg_module.trace_logreg)
trace.add_command(trace_cnn_module.trace_cnn)
trace.add_command(trace_conv_module.trace_conv)
trace.add_command(trace_pool_module.trace_pool)
summary.add_command(summary_commands.summary_cnn)
gradcheck.add_command(logreg.gradcheck_logreg)
data.add_command(data_commands.data_list)
data.add_command(data_commands.data_fetch)
data.add_command(data_commands.data_show)
bench.add_command(bench_commands.bench_logreg)
bench.add_command(bench_commands.bench_cnn)
bench.add_command(bench_commands.bench_rnnlm)
bench.add_command(bench_commands.bench_lstmlm)
bench.add_command(bench_commands.bench_attention)
bench.add_command(bench_commands.bench_transformer)

main.add_command(tutorial_commands.tutorial)
GROUPS = {"train": train, "eval": evaluate, "predict": predict, "generate": generate, "trace": trace}
for lesson in LESSONS:
    importlib.import_module(f"nbengine_cli.lessons.{lesson}").register(GROUPS)

# Every command that runs the engine's loops can run the naive or the fast ones.
for group in (train, evaluate, predict, generate, trace, gradcheck, bench):
    for command in group.commands.values():
        add_kernels_option(command)

# `bench kernels` times the naive and the fast kernels side by side: no --kernels.
bench.add_command(bench_commands.bench_kernels)

# What the terminal shows can be kept as a picture: --svg FILE, --html FILE; training can
# also draw its epochs, --plot FILE.svg.
for group in (trace, train, bench):
    for command in group.commands.values():
        export.add_export_options(command, plot=group is train)
export.add_export_options(tutorial_commands.tutorial.commands["run"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
