"""The Transformer language model's lesson: `train transformer`, `eval transformer`,
`generate transformer`. They share the recurrent models' training loop, table,
checkpoints and sampling (lm_commands.py, nbengine.lm); only the model differs."""

from __future__ import annotations

import click

from nbengine_cli.lessons.lm_commands import (
    epochs_option,
    eval_command,
    generate_command,
    train_command,
)
from nbengine_cli.options import Float

TRAIN_OPTIONS = [
    click.option(
        "--data",
        default="shakespeare",
        show_default=True,
        metavar="NAME|PATH",
        help="shakespeare (ships with nbengine), toy (the lesson's sentence), ptb (after `nbengine data "
        "fetch ptb`), a folder of the three PTB files, or a UTF-8 text file (split 90/5/5 by lines).",
    ),
    click.option(
        "--level",
        type=click.Choice(["word", "char"]),
        default=None,
        help="Tokens are characters or words  [default: char, word for toy].",
    ),
    epochs_option,
    click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=None,
        help="Pieces of text per batch  [default: 1 for toy, else 32].",
    ),
    click.option(
        "--context",
        "time_size",
        type=click.IntRange(min=1),
        default=None,
        help="Tokens the model reads at once (each batch's length, and the number of position "
        "vectors)  [default: the sentence's length − 1 for toy, else 64].",
    ),
    click.option(
        "--size",
        type=click.IntRange(min=1),
        default=None,
        help="Length of every vector in the model, d_model  [default: 16 for toy, else 64].",
    ),
    click.option(
        "--heads",
        type=click.IntRange(min=1),
        default=None,
        help="Attention heads per block; they split the size between them  [default: 2 for toy, else 4].",
    ),
    click.option(
        "--blocks",
        type=click.IntRange(min=1),
        default=None,
        help="Transformer blocks, one on top of the other  [default: 1 for toy, else 2].",
    ),
    click.option(
        "--hidden",
        type=click.IntRange(min=1),
        default=None,
        help="Units of each block's feed-forward network  [default: 4 × size].",
    ),
    click.option(
        "--lr",
        type=Float(min=0, min_open=True),
        default=None,
        help="Adam's learning rate  [default: 0.01 for toy, else 0.003].",
    ),
    click.option(
        "--clip",
        type=Float(min=0, min_open=True),
        default=None,
        help="Scale the gradients down to this global norm when it is larger  [default: 5 for toy, "
        "else 1].",
    ),
]


def register(groups: dict[str, click.Group]) -> None:
    # Each help text is written where it is given (help=): the catalog takes it from the command
    # tree as Click shows it (its indentation taken off), and Click shows it translated.
    groups["train"].add_command(
        train_command(
            "transformer",
            TRAIN_OPTIONS,
            help="""
        Train a small Transformer language model (GPT-style): after each token, a
        probability for every next token, from the tokens up to it.

        \b
        token ids → token + position vectors
                  → blocks × [x + Attention(LayerNorm(x)), then + FeedForward(LayerNorm(·))]
                  → LayerNorm → Affine → softmax

        The text is cut into pieces of --context tokens; each position attends to
        itself and every earlier position of its piece (causal self-attention, the
        lesson's Q·Kᵀ/√d_k, softmax, ×V, with the future masked), in --heads heads per
        block. Nothing is carried from one batch to the next. The table shows the
        training and validation perplexity per epoch, as for `train lstmlm`;
        validation and test read the text in windows overlapping by half, so every
        token is predicted from at least half a context of text before it. Adam
        updates the weights. Ctrl-C stops after the current batch.
        """,
            short_help="A small Transformer language model: causal self-attention blocks.",
        )
    )
    groups["eval"].add_command(
        eval_command(
            "transformer",
            help="""
        The text is read in windows of the training run's context (or --time-size, at most
        the context) that overlap by half, each on its own, with no backward pass: every token
        is predicted once, and after the first window from at least half a window of the
        text before it. Tokens the model's vocabulary lacks are read as <unk>.
        """,
        )
    )
    groups["generate"].add_command(
        generate_command(
            "transformer",
            help="""
        Continue a text with the Transformer language model of a checkpoint, one token at
        a time: read the text so far (its last `context` tokens), draw the next token from
        the model's probabilities, append it, and so on.""",
        )
    )
