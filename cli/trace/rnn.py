"""`nbengine trace rnn`: one step of the RNN language model, forward and backward."""

from __future__ import annotations

import click

from nbengine_cli.output import Output
from nbengine_cli.trace.text import trace_model, trace_options


@click.command("rnn", short_help="One step of the RNN with real numbers, forward and backward.")
@trace_options
def trace_rnn(ckpt, data, level, text, step, hidden, embed, seed, cache_dir, json_mode, quiet, precision, full):
    """One step of an RNN language model on the lesson's sentence, every number computed.

    \b
    forward:   A = x_t·Wx + h_{t-1}·Wh + b      h_t = tanh(A)
    backward:  dh = dL/dh_t (from the layer above and from step t+1)
               dA = dh ⊙ (1 − h_t²)             (tanh' = 1 − tanh²)
               dh_{t-1} = dA·Whᵀ   dx_t = dA·Wxᵀ   dWh += h_{t-1}ᵀ·dA ...

    The loss is the model's: the mean of -log p(the next token) over the sentence.
    The whole sentence runs through the model's layers (the rnn kernels); step t's
    numbers are the ones the kernels wrote (dh_total, dz, dxs), and A, which the
    kernel turns into h in place, comes from a dense layer with the same weights.
    """
    from nbengine import explain
    from nbengine_cli.render import render

    model, vocab, tokens, about, level = trace_model("rnn", ckpt, data, level, text, step, hidden, embed, seed,
                                                     cache_dir)
    render(Output(json_mode, quiet, precision, full), explain.rnn(model, vocab, tokens, step, about, level,
                                                                   precision))
