"""`nbengine trace pool`: the lesson's max pooling, forward and backward."""

from __future__ import annotations

import click

from nbengine_cli.options import output_options
from nbengine_cli.output import Output


@click.command("pool", short_help="The lesson's max pooling worked out, forward and backward.")
@output_options
def trace_pool(json_mode, quiet, precision, full):
    """2×2 max pooling with stride 2, forward and backward, computed by the kernels.

    Forward: each 2×2 window of the 4×4 map becomes its largest value, so the map
    shrinks to 2×2 and keeps the strongest response of each region.

    Backward: only the largest value of a window reached the output, so only it
    gets the output's gradient; nudging any other value of the window would not
    change the output, so their gradient is 0.
    """
    from nbengine import explain
    from nbengine_cli.render import render

    render(Output(json_mode, quiet, precision, full), explain.pool())
