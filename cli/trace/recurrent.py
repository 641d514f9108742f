"""`nbengine trace rnn` and `nbengine trace lstm`: one step of a recurrent language
model, forward and backward. They take the same options and read the model and the
text the same way (nbengine.lm.trace_model); only the cell and its equations differ."""

from __future__ import annotations

import click

from nbengine.i18n import N_
from nbengine_cli.lessons.lm_commands import options_checked
from nbengine_cli.options import output_options
from nbengine_cli.output import Output


def trace_command(kind: str, *, help: str, short_help: str) -> click.Command:
    """`trace KIND` (rnn or lstm): nbengine.explain.rnn or .lstm on one step of the text."""

    @click.command(kind, help=help, short_help=short_help)
    @click.option(
        "--checkpoint",
        "ckpt",
        type=click.Path(dir_okay=False),
        default=None,
        metavar="CKPT",
        help="A checkpoint of `nbengine train rnnlm` or `lstmlm`  [default: untrained weights].",
    )
    @click.option(
        "--data",
        default="toy",
        show_default=True,
        metavar="NAME|PATH",
        help="The corpus whose vocabulary numbers the tokens, for untrained weights.",
    )
    @click.option(
        "--level",
        type=click.Choice(["word", "char"]),
        default="word",
        show_default=True,
        help="Words or characters (a checkpoint keeps its own).",
    )
    @click.option(
        "--text",
        default=None,
        metavar="TEXT",
        help="The text to read  [default: the lesson's sentence, \"You say goodbye and I say "
        'hello."].',
    )
    @click.option(
        "--step",
        "-t",
        "step",
        type=click.IntRange(min=0),
        default=1,
        show_default=True,
        help="The time step to show in detail, counting from 0.",
    )
    @click.option(
        "--hidden",
        type=click.IntRange(min=1),
        default=4,
        show_default=True,
        help="Hidden units of the untrained model (small, so every number fits).",
    )
    @click.option(
        "--embed",
        type=click.IntRange(min=1),
        default=4,
        show_default=True,
        help="Embedding size of the untrained model.",
    )
    @click.option(
        "--seed", type=int, default=0, show_default=True, help="Seed of the untrained weights."
    )
    @click.option(
        "--cache-dir",
        type=click.Path(file_okay=False),
        default=None,
        envvar="NBENGINE_CACHE_DIR",
        help="Where `nbengine data fetch ptb` put the Penn Treebank.",
    )
    @output_options
    def command(
        ckpt,
        data,
        level,
        text,
        step,
        hidden,
        embed,
        seed,
        cache_dir,
        json_mode,
        quiet,
        precision,
        full,
    ):
        from nbengine import explain, lm
        from nbengine_cli.render import render

        model, vocab, about, level = lm.trace_model(
            kind, ckpt, data, level, hidden, embed, seed, cache_dir
        )
        with options_checked():
            tokens = lm.trace_tokens(vocab, text, level, step)
        steps = getattr(explain, kind)(model, vocab, tokens, step, about, level, precision)
        render(Output(json_mode, quiet, precision, full), steps)

    return command


# The help texts are given as help= so that Click, which shows them, translates them.
trace_rnn = trace_command(
    "rnn",
    help="""\
One step of an RNN language model on the lesson's sentence, every number computed.

\b
forward:   A = x_t·Wx + h_{t-1}·Wh + b      h_t = tanh(A)
backward:  dh = dL/dh_t (from the layer above and from step t+1)
           dA = dh ⊙ (1 − h_t²)             (tanh' = 1 − tanh²)
           dh_{t-1} = dA·Whᵀ   dx_t = dA·Wxᵀ   dWh += h_{t-1}ᵀ·dA ...

The loss is the model's: the mean of -log p(the next token) over the sentence.
The whole sentence runs through the model's layers (the rnn kernels); step t's
numbers are the ones the kernels wrote (dh_total, dz, dxs), and A, which the
kernel turns into h in place, comes from a dense layer with the same weights.
""",
    short_help=N_("One step of the RNN with real numbers, forward and backward."),
)
trace_lstm = trace_command(
    "lstm",
    help="""\
One step of an LSTM language model on the lesson's sentence, every number computed.

\b
forward:   A = x_t·Wx + h_{t-1}·Wh + b        (4H values: one affine for the four gates)
           f = σ(A[0:H])   g = tanh(A[H:2H])   i = σ(A[2H:3H])   o = σ(A[3H:4H])
           c_t = f ⊙ c_{t-1} + g ⊙ i          h_t = o ⊙ tanh(c_t)
backward:  dh = dL/dh_t, dc_next = dL/dc_t from step t+1
           ds = dc_next + dh ⊙ o ⊙ (1 − tanh²(c_t))
           df = ds ⊙ c_{t-1} ⊙ f(1−f)   dg = ds ⊙ i ⊙ (1−g²)
           di = ds ⊙ g ⊙ i(1−i)         do = dh ⊙ tanh(c_t) ⊙ o(1−o)
           dA = [df, dg, di, do]   dh_{t-1} = dA·Whᵀ   dc_{t-1} = ds ⊙ f

The loss is the model's: the mean of -log p(the next token) over the sentence.
The whole sentence runs through the model's layers (the lstm kernels); step t's
numbers are the ones the kernels wrote (the gates, c, h; dh_total, dc_total = ds,
the gates' gradients dA, dxs), and A, which the kernel activates in place, comes
from a dense layer with the same weights.
""",
    short_help=N_("One step of the LSTM with real numbers: the gates, c and h, and back."),
)
