"""The recurrent language models' lesson: `train`, `eval` and `generate` for `rnnlm` and
`lstmlm` (the traces of their steps, `trace rnn`, `trace lstm`, `trace bptt`, are in
nbengine_cli.trace)."""

from __future__ import annotations

import click

from nbengine.i18n import N_
from nbengine_cli.lessons.lm_commands import (
    CELL,
    epochs_option,
    eval_command,
    generate_command,
    train_command,
)
from nbengine_cli.options import Float

TRAIN_OPTIONS = [
    click.option(
        "--data",
        default="toy",
        show_default=True,
        metavar="NAME|PATH",
        help='toy (the lesson\'s sentence, "You say goodbye and I say hello."), shakespeare (ships '
        "with nbengine), ptb (after `nbengine data fetch ptb`), a folder of ptb.train.txt, "
        "ptb.valid.txt and ptb.test.txt, or a UTF-8 text file (split 90/5/5 by lines).",
    ),
    click.option(
        "--level",
        type=click.Choice(["word", "char"]),
        default="word",
        show_default=True,
        help="Tokens are words (punctuation apart, each line break an <eos>) or characters.",
    ),
    epochs_option,
    click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=None,
        help="Parallel streams through the text  [default: 1 for toy, else 20].",
    ),
    click.option(
        "--time-size",
        type=click.IntRange(min=1),
        default=None,
        help="Time steps per batch, how far back the gradient flows (truncated BPTT)  "
        "[default: the sentence's length − 1 for toy, else 35].",
    ),
    click.option(
        "--embed-size",
        type=click.IntRange(min=1),
        default=None,
        help="Length of a token's vector  [default: 16 for toy, else 100].",
    ),
    click.option(
        "--hidden-size",
        type=click.IntRange(min=1),
        default=None,
        help="Hidden units of the recurrent layer  [default: 32 for toy, else 100].",
    ),
    click.option(
        "--optimizer",
        type=click.Choice(["sgd", "momentum", "adam"]),
        default=None,
        help="sgd: w ← w − η·g (the book's); momentum: with velocity 0.9; adam: per-weight step "
        "sizes  [default: adam for toy, else sgd].",
    ),
    click.option(
        "--lr",
        type=Float(min=0, min_open=True),
        default=None,
        help="Learning rate η  [default: toy 0.01 with adam, 1 with sgd; else, with sgd, 20 for the "
        "LSTM (the book's) and 5 for the RNN (20 wrecks it), 0.001 with adam].",
    ),
    click.option(
        "--clip",
        type=Float(min=0, min_open=True),
        default=None,
        help="Scale the gradients down to this global norm when it is larger  [default: 5 for toy, "
        "else 0.25].",
    ),
    click.option(
        "--ptb-settings",
        is_flag=True,
        help="The book's settings for the Penn Treebank: batch 20, time 35, embedding 100, hidden "
        "100, vocabulary 10,000, SGD η = 20, clip 0.25, 4 epochs. Options given explicitly "
        "still win.",
    ),
]


def register(groups: dict[str, click.Group]) -> None:
    # Each help text is written where it is given (help=): the catalog takes it from the command
    # tree as Click shows it (its indentation taken off), and Click shows it translated.
    for kind in ("rnnlm", "lstmlm"):
        cell = CELL[kind]
        groups["train"].add_command(
            train_command(
                kind,
                TRAIN_OPTIONS,
                N_(" time steps"),
                help="""Train the {cell} language model: after each token, a probability for every next token.

            \b
            token ids → Embedding → {layer} → Affine → softmax

            The text is read as batch-size parallel streams, time-size tokens at a time; the
            hidden state is carried from one batch to the next (each stream reads as one
            text) while the gradient flows back through one batch only (truncated
            backpropagation through time). A row follows each epoch: the training and
            validation perplexity, exp(mean loss), "how many tokens the model is choosing
            between" (1 is perfect; the vocabulary's size is a uniform guess). The state is
            reset before each epoch and before measuring validation. Ctrl-C stops after the
            current batch.
            """.format(
                    cell=cell,
                    layer={
                        "rnnlm": "RNN, h = tanh(x·Wx + h·Wh + b)",
                        "lstmlm": "LSTM (gates f, g, i, o and a cell c)",
                    }[kind],
                ),
                short_help=f"The {cell} language model: Embedding → {cell} → Affine → softmax.",
            )
        )
        groups["eval"].add_command(
            eval_command(
                kind,
                help="""
            The text is read in batches with the hidden state carried from one to the next, as
            in training, and no backward pass. Tokens the model's vocabulary lacks are read as
            <unk>.
            """,
            )
        )
        groups["generate"].add_command(
            generate_command(
                kind,
                help=f"""
            Continue a text with the {cell} language model of a checkpoint, one token at a
            time: feed the start text, draw the next token from the model's probabilities, feed
            it back in, and so on.""",
            )
        )
