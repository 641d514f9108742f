"""`nbengine summary cnn`: the lesson's CNN as Keras's model.summary() prints it."""

from __future__ import annotations

import click

from nbengine_cli.output import Output
from nbengine_cli.options import json_options


@click.command("cnn", short_help="The lesson's CNN layer by layer: output shapes and parameter counts.")
@click.option("--as-written", is_flag=True,
              help="Dropout after the softmax, where the lesson's code puts it (a mistake: see the note).")
@json_options
def summary_cnn(as_written, json_mode, quiet):
    """The lesson's CNN as Keras's model.summary() prints it.

    Each row is a layer: its output shape for a batch of None (any number of)
    images, and its parameter count: a Conv2D has R·S·C·K weights and K biases
    (3·3·1·32 + 32 = 320 for conv1), a Dense D·M weights and M biases
    (3136·1024 + 1024 for dense1); pooling, Flatten and Dropout learn nothing.
    """
    from nbengine import explain
    from nbengine.models.cnn import CNN
    from nbengine_cli.render import render

    render(Output(json_mode, quiet), explain.cnn_summary(CNN(seed=0, as_written=as_written)))
