"""`nbengine bench ...`: speed against a reference implementation, as ratios in one run.

The benchmarks live in the repository's benchmarks/ folder, not in the installed package:
they time nbengine against the NumPy references of its tests (tests/reference/) and
PyTorch. From a source checkout (an editable install) each command finds them beside the
package; from a wheel it says in one line where to get them. Here are the commands, their
options and their help; benchmarks/report.py prints what they found.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

import nbengine
from nbengine.errors import NBEngineError
from nbengine.i18n import N_, Msg, _
from nbengine_cli.options import Float, json_options
from nbengine_cli.output import Output


class BenchmarksNotInstalled(NBEngineError):
    """nbengine runs from an installed wheel, which holds no benchmarks."""


def benchmarks(module: str):
    """``benchmarks.<module>`` from the source checkout nbengine is imported from (its root holds
    pyproject.toml and benchmarks/); BenchmarksNotInstalled (one line, exit 2) elsewhere."""
    root = Path(nbengine.__file__).resolve().parents[1]
    if not (
        (root / "pyproject.toml").is_file() and (root / "benchmarks" / "__init__.py").is_file()
    ):
        raise BenchmarksNotInstalled(
            Msg(
                "the benchmarks are not in the installed package: run `nbengine bench` from a source checkout "
                "of nbengine (clone its repository, then `pip install -e .` in it); see benchmarks/README.md there"
            )
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"benchmarks.{module}")


def run(report: str, json_mode: bool, quiet: bool, **options) -> None:
    """benchmarks/report.py's ``report`` with this command's options."""
    getattr(benchmarks("report"), report)(Output(json_mode, quiet), **options)


ROUNDS_HELP = N_("Timed rounds per implementation (alternating); the median is reported.")
MIN_ROUND_HELP = N_("Seconds a round lasts at least (calls are repeated to reach it).")
NO_IDLE_HELP = N_(
    "Leave out the idle pause between rounds, to see what the thread fight does to the figures."
)
WAIT_HELP = N_(
    "Run OpenMP with OMP_WAIT_POLICY as this process has it (nbengine sets PASSIVE unless you set it) "
    "instead of libgomp's default."
)


def timing_options(rounds: int, min_round: float):
    """--rounds and --min-round, with these defaults."""

    def apply(f):
        f = click.option(
            "--min-round",
            type=Float(min=0),
            default=min_round,
            show_default=True,
            help=MIN_ROUND_HELP,
        )(f)
        return click.option(
            "--rounds",
            type=click.IntRange(min=1),
            default=rounds,
            show_default=True,
            help=ROUNDS_HELP,
        )(f)

    return apply


@click.command("logreg", short_help="A logistic-regression training step against NumPy.")
@timing_options(rounds=7, min_round=0.05)
@json_options
def bench_logreg(**options):
    """Time one training step (forward, loss, backward, update) of logistic regression.

    Three implementations of the same step run in alternating rounds: NumPy's
    vectorised operations (the reference), nbengine's layer and optimizer as
    training uses them, and nbengine's kernels called directly. The ratio is the
    reference's median time divided by the implementation's: above 1 is faster.
    """
    run("logreg", **options)


# four batches come from the 5,000 shipped digits; at 1024 the run takes about 2 GB
MAX_BATCH = 1024


def _batch_sizes(ctx, param, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            _("{value} is not a comma-separated list of whole numbers").format(value=repr(value))
        ) from None
    if not sizes or min(sizes) < 1 or max(sizes) > MAX_BATCH:
        raise click.BadParameter(
            _("{value}: give at least one batch size, each from 1 to {most}").format(
                value=repr(value), most=MAX_BATCH
            )
        )
    return sizes


@click.command("cnn", short_help="The MNIST CNN against NumPy (im2col) and PyTorch.")
@click.option(
    "--batch-sizes",
    default="32,128",
    show_default=True,
    callback=_batch_sizes,
    metavar="N,N,...",
    help=f"Batch sizes to time, comma-separated, each at most {MAX_BATCH}.",
)
@timing_options(rounds=5, min_round=0.3)
@click.option("--no-torch", is_flag=True, help="Leave PyTorch out even if it is installed.")
@click.option(
    "--startup",
    is_flag=True,
    help="Also time `nbengine train cnn` from start to its first step, with an empty "
    "Numba cache (cold, tens of seconds) and a filled one (warm).",
)
@click.option(
    "--interference",
    is_flag=True,
    help="Also measure the thread fight: how long each implementation's idle threads keep "
    "spinning after a training step, and each step's time right after another's.",
)
@click.option("--no-idle", is_flag=True, help=NO_IDLE_HELP)
@click.option(
    "--keep-wait-policy",
    is_flag=True,
    help=WAIT_HELP + " " + N_("PyTorch runs best with libgomp's default."),
)
@json_options
def bench_cnn(**options):
    """Time the lesson's CNN: a training step and inference, in images per second.

    nbengine, the textbook's NumPy network (im2col and matrix products) and
    PyTorch (when installed) start from the same weights and run on the same
    digits, in alternating rounds in one process with an idle pause between
    rounds, so no implementation's idle threads spin while another is timed.
    GFLOP/s counts the multiply-adds of the convolutions and dense layers: 41.9
    MFLOP per image for a training step, 14.1 for inference. The ratios are the
    reference's median time over the implementation's: above 1 is faster.
    """
    run("cnn", **options)


def size_options(module: str, default: str, sizes_help: str, wait_help: str):
    """The options the language-model, attention and Transformer benchmarks share: --sizes (names
    from ``benchmarks.<module>``'s SIZES, imported only to check them), rounds, PyTorch, idle
    pauses, the wait policy."""

    def check(ctx, param, value: str) -> tuple[str, ...]:
        known = benchmarks(module).SIZES
        names = tuple(v.strip() for v in value.split(",") if v.strip())
        if not names or any(n not in known for n in names):
            raise click.BadParameter(
                _("{value}: give sizes from {known}, comma-separated").format(
                    value=repr(value), known=", ".join(known)
                )
            )
        return names

    def apply(f):
        f = json_options(f)
        f = click.option("--keep-wait-policy", is_flag=True, help=WAIT_HELP + " " + wait_help)(f)
        f = click.option("--no-idle", is_flag=True, help=NO_IDLE_HELP)(f)
        f = click.option(
            "--no-torch", is_flag=True, help="Leave PyTorch out even if it is installed."
        )(f)
        f = timing_options(rounds=5, min_round=0.3)(f)
        return click.option(
            "--sizes",
            default=default,
            show_default=True,
            callback=check,
            metavar="NAME,...",
            help=sizes_help,
        )(f)

    return apply


lm_options = size_options(
    "rnnlm",
    "ptb,toy",
    N_(
        "Sizes to time: ptb (the textbook's PTB model: batch 20, time 35, vocabulary 10,000, embedding and hidden "
        "100) and toy (batch 10, time 5, vocabulary 7)."
    ),
    N_(
        "At PTB sizes nbengine's step is faster under PASSIVE and PyTorch's slower; at the toy size both are slower."
    ),
)


@click.command(
    "lstmlm", short_help="The LSTM language model's training step against NumPy and PyTorch."
)
@lm_options
def bench_lstmlm(**options):
    """Time a training step of the LSTM language model, in tokens per second.

    One step is the textbook's: forward over the time steps, softmax
    cross-entropy, backpropagation through time, clipping the gradients' global
    norm, SGD; the state is carried to the next step. nbengine, the textbook's
    NumPy time layers and PyTorch (nn.LSTM, when installed) start from the same
    weights and train on the same batches of random token ids, in alternating
    rounds in one process with an idle pause between rounds. GFLOP/s counts the
    matrix products (at PTB sizes 4.54 GFLOP a step, 93 % of it the projection
    onto the vocabulary). The ratios are the reference's median time over the
    implementation's: above 1 is faster.
    """
    run("language_model", kind="lstm", **options)


@click.command(
    "rnnlm", short_help="The RNN language model's training step against NumPy and PyTorch."
)
@lm_options
def bench_rnnlm(**options):
    """Time a training step of the RNN (tanh) language model, in tokens per second.

    As `bench lstmlm`, with the plain recurrent layer h = tanh(x·Wx + h·Wh + b)
    (PyTorch's nn.RNN). GFLOP/s counts the matrix products; at PTB sizes the
    projection onto the vocabulary is nearly all of them (4.28 GFLOP a step).
    The ratios are the reference's median time over the implementation's:
    above 1 is faster.
    """
    run("language_model", kind="rnn", **options)


@click.command(
    "attention",
    short_help="Self-attention forward and backward against NumPy (einsum) and PyTorch.",
)
@size_options(
    "attention",
    "large,toy",
    N_(
        "Sizes to time: large (batch 32, sequence 128, d 64) and toy (the lesson's 'I am good': batch 1, "
        "3 tokens, d_k 64)."
    ),
    N_("PyTorch runs best with libgomp's default."),
)
def bench_attention(**options):
    """Time scaled dot-product attention, forward and backward, without and with the causal mask.

    nbengine's kernels, the NumPy einsum reference and PyTorch (when installed;
    both autograd over matmul and softmax, and scaled_dot_product_attention) run
    on the same float32 inputs, in alternating rounds in one process with an idle
    pause between rounds. GFLOP/s counts the six matrix products of the dense
    formulation (403 MFLOP at batch 32, sequence 128, d 64), masked or not. The
    ratios are the reference's median time over the implementation's: above 1
    is faster; "× PyTorch" is against the faster of PyTorch's two formulations.
    """
    run("attention", **options)


@click.command(
    "transformer", short_help="The Transformer LM's training step against NumPy and PyTorch."
)
@size_options(
    "transformer",
    "default,toy",
    N_(
        "Sizes to time: default (`train transformer` on its default text: batch 32, context 64, "
        "vocabulary 80, size 64, 4 heads, 2 blocks, feed-forward 256) and toy (its settings on the "
        "lesson's sentence)."
    ),
    N_("PyTorch runs best with libgomp's default."),
)
def bench_transformer(**options):
    """Time a training step of the Transformer language model, in tokens per second.

    One step is `train transformer`'s: forward through the causal blocks, softmax
    cross-entropy, the backward pass, clipping the gradients' global norm to 1,
    Adam. nbengine, an independent NumPy formulation and PyTorch (nn.Linear,
    nn.LayerNorm, scaled_dot_product_attention, when installed) start from the
    same weights, are checked to compute the same loss on the first batch, and
    train on the same batches of random token ids in alternating rounds in one
    process with an idle pause between rounds. GFLOP/s counts the matrix
    products, attention's counted dense (1.47 GFLOP a step at the default size).
    The ratios are the reference's median time over the implementation's: above
    1 is faster.
    """
    run("transformer", **options)


@click.command(
    "kernels", short_help="The naive kernels against the same loops in C, and the fast kernels."
)
@click.option(
    "--sizes",
    type=click.Choice(["lesson", "small"]),
    default="lesson",
    show_default=True,
    help="lesson: the lessons' sizes (the MNIST CNN's conv2, pool1 and dense1 at batch 32, the LSTM at "
    "PTB sizes, attention (32, 128, 64)); small: a few seconds' worth.",
)
@timing_options(rounds=3, min_round=0.05)
@click.option("--keep-wait-policy", is_flag=True, help=WAIT_HELP)
@json_options
def bench_kernels(**options):
    """Time each naive kernel against its C twin (the same loops in C) and the fast kernel.

    The C twins ship with nbengine (nbengine/csrc): conv2d, maxpool, dense, the
    LSTM over a sequence and attention, forward and backward, line for line the
    loops of the Numba naive kernels. They are compiled here with the machine's
    C compiler ($CC, else cc, gcc or clang) at -O3 -march=native with the
    floating-point licence Numba has (no reassociation, no fused multiply-add),
    loaded with ctypes, and checked against the Numba kernels before anything is
    timed. Every kernel is timed on one thread and on all of Numba's threads, in
    alternating rounds. "× C" is the C twin's median time over the row's: above
    1 is faster than C. Without a C compiler, the Numba rows only.
    """
    run("kernels", **options)
