"""`nbengine trace conv`: the lesson's worked convolution."""

from __future__ import annotations

import click

from nbengine_cli.options import output_options
from nbengine_cli.output import Output


@click.command(
    "conv", short_help="The lesson's convolution worked out: every window, padding, stride."
)
@output_options
def trace_conv(json_mode, quiet, precision, full):
    """The lesson's worked convolution, every number computed by the engine's kernel.

    A 3×3 filter F slides over a 4×4 input X. At each position the window of X under
    F is multiplied by F element by element and the nine products are added: that
    sum is one output. The filter moves one column right, and at the right edge back
    to the left and one row down, so 4×4 gives 2×2 outputs: 7, 6, 10, 7.

    Then the same input with zero padding 1 (a ring of zeros, so the output keeps
    the input's 4×4 size) and with stride 2 (the filter jumps two cells at a time).
    The output size is (H + 2P − R)/S + 1, rounded down: H the input size, P the
    padding, R the filter size, S the stride.
    """
    from nbengine import explain
    from nbengine_cli.render import render

    render(Output(json_mode, quiet, precision, full), explain.conv_windows())
