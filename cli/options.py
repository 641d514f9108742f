"""Options that many commands share, declared once."""

from __future__ import annotations

import click

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


def reordered_note(*fast) -> str | None:
    """For a trace whose notes name the kernels that ran: when the fast version of these
    kernels ran, one line saying they compute the naive loops' sums in another order,
    and where that is shown; None when the naive loops ran (or a kernel has no twin)."""
    from nbengine.kernels.registry import name_of, using_kernels

    ran = [name_of(f) for f in fast]
    with using_kernels("naive"):
        naive = [name_of(f) for f in fast]
    pairs = [(r, n) for r, n in zip(ran, naive) if r != n]
    if not pairs:
        return None
    fast_names = " and ".join(r for r, _ in pairs)
    naive_names = " and ".join(n for _, n in pairs)
    loops = "loops" if len(pairs) > 1 else "loop"
    return (f"{fast_names}: the same sums as the naive {loops} {naive_names}, reordered for speed (lesson 8: "
            f"`nbengine tutorial run speed`); `--kernels naive` runs the naive {loops}.")
