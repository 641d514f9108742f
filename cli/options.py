"""Option types and options that many commands share, declared once."""

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


KERNELS_HELP = ("Which loops run: naive (the lessons' loops, as the formulas read) or fast (the same "
                "sums reordered for speed)  [default: fast, or $NBENGINE_KERNELS].")


def _use_kernels(ctx, param, value):
    from nbengine.kernels.registry import current, use_kernels

    use_kernels(value)  # None (not given): $NBENGINE_KERNELS decides, else fast
    current()  # a bad $NBENGINE_KERNELS is said now, before any work
    return value


def add_kernels_option(command: click.Command) -> None:
    """Give a command --kernels naive|fast. The choice is made before the command's
    body runs and holds for every kernel the engine calls (nbengine.kernels.registry)."""
    option = click.Option(["--kernels"], type=click.Choice(["naive", "fast"]), default=None,
                          callback=_use_kernels, expose_value=False, help=KERNELS_HELP)
    names = [p.name for p in command.params]
    where = names.index("json_mode") if "json_mode" in names else len(names)
    command.params.insert(where, option)
