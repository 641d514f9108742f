"""Option types the commands share."""

from __future__ import annotations

import math

import click


class Float(click.FloatRange):
    """A float option that must be a finite number, within the range given if any.

    Click's FloatRange accepts `nan`: every comparison with NaN is false, so NaN is never
    out of range, and `--lr nan` or `--clip nan` went on to a traceback or, worse, to a
    run that silently ignored the option. Infinity is refused too.
    """

    def __init__(self, min: float | None = None, max: float | None = None, min_open: bool = False,
                 max_open: bool = False):
        super().__init__(min, max, min_open, max_open)
        if min is None and max is None:
            self.name = "float"

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)

    def _describe_range(self) -> str:
        return "" if self.min is None and self.max is None else super()._describe_range()
