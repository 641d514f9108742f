"""`nbengine trace lstm`: one step of the LSTM language model, forward and backward."""

from __future__ import annotations

import click

from nbengine_cli.output import Output
from nbengine_cli.trace.text import trace_model, trace_options


@click.command("lstm", short_help="One step of the LSTM with real numbers: the gates, c and h, and back.")
@trace_options
def trace_lstm(ckpt, data, level, text, step, hidden, embed, seed, cache_dir, json_mode, quiet, precision, full):
    """One step of an LSTM language model on the lesson's sentence, every number computed.

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
    """
    from nbengine import explain
    from nbengine_cli.render import render

    model, vocab, tokens, about, level = trace_model("lstm", ckpt, data, level, text, step, hidden, embed, seed,
                                                     cache_dir)
    render(Output(json_mode, quiet, precision, full), explain.lstm(model, vocab, tokens, step, about, level,
                                                                   precision))
