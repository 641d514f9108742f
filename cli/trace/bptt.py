"""`nbengine trace bptt`: vanishing and exploding gradients, back through time."""

from __future__ import annotations

import click

from nbengine_cli.options import Float, json_options
from nbengine_cli.output import Output


@click.command(
    "bptt",
    short_help="Vanishing and exploding gradients: ‖dL/dh_t‖ back through time, RNN and LSTM.",
)
@click.option(
    "--steps",
    "T",
    type=click.IntRange(2, 1000),
    default=20,
    show_default=True,
    metavar="T",
    help="Time steps of the sequence.",
)
@click.option(
    "--hidden",
    "H",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    metavar="H",
    help="Hidden units (and input size).",
)
@click.option(
    "--small-sigma",
    type=Float(min=0, min_open=True),
    default=0.5,
    show_default=True,
    help="The largest singular value of the first RNN's Wh (below 1: the gradient shrinks).",
)
@click.option(
    "--large-sigma",
    type=Float(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="The largest singular value of the second RNN's Wh (above 1: it can grow).",
)
@click.option(
    "--forget-bias",
    type=Float(),
    default=2.0,
    show_default=True,
    help="The LSTM's bias of the forget gate: f starts near σ(bias).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the sequence, the weights and the gradient at the last step.",
)
@json_options
def trace_bptt(T, H, small_sigma, large_sigma, forget_bias, seed, json_mode, quiet):
    """Why a plain RNN forgets: the gradient from the last step, carried back through time.

    A random sequence of T inputs goes through three recurrent layers. The loss's
    gradient arrives at the last step only (dL/dh_{T-1} a random unit vector, 0 at
    every other step), and backpropagation through time carries it back; the table
    gives ‖dL/dh_t‖ at each step t, from the layer's own backward pass (its dh_total).

    \b
    RNN: each step back multiplies the gradient by Whᵀ and by tanh'(z) = 1 − h² ≤ 1.
         Wh = σ·Q with Q a random orthogonal matrix, so every singular value of Wh
         is σ: below 1 the gradient shrinks about σ times a step (it vanishes),
         above 1 it grows (it explodes) as long as tanh stays in its linear part.
    LSTM: along the cell c the gradient is multiplied only by the forget gate f,
         element by element, not by a matrix and a tanh', so it fades far less
         while f stays near 1 (try --forget-bias 0: f ≈ 0.5, and it fades too).

    The inputs are small so that tanh stays near its linear part; the reading at the
    end says what larger inputs do to the σ > 1 RNN (tanh saturates, and 1 − h² then
    shrinks the gradient instead).
    """
    from nbengine import explain
    from nbengine_cli.render import render

    render(
        Output(json_mode, quiet), explain.bptt(T, H, small_sigma, large_sigma, forget_bias, seed)
    )
