"""Option types and the options that many commands share, declared once.

Commands stack these decorators; an option that only one command takes is declared
beside that command. Nothing here imports the engine, so `nbengine --help` stays instant.
"""

from __future__ import annotations

import math
import os

import click

from nbengine.i18n import N_, _, shown


class Float(click.FloatRange):
    """A float option that must be a finite number, within the range given if any.

    Click's FloatRange accepts `nan`: every comparison with NaN is false, so NaN is never
    out of range, and `--lr nan` or `--clip nan` went on to a traceback or, worse, to a
    run that silently ignored the option. Infinity is refused too.
    """

    def __init__(
        self,
        min: float | None = None,
        max: float | None = None,
        min_open: bool = False,
        max_open: bool = False,
    ):
        super().__init__(min, max, min_open, max_open)
        if min is None and max is None:
            self.name = "float"

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(_("{value!r} is not a finite number.").format(value=value), param, ctx)
        return super().convert(number, param, ctx)

    def _describe_range(self) -> str:
        return "" if self.min is None and self.max is None else super()._describe_range()


KERNELS_HELP = N_(
    "Which loops run: naive (the lessons' loops, as the formulas read) or fast (the same "
    "sums reordered for speed)  [default: fast, or $NBENGINE_KERNELS]."
)


def _use_kernels(ctx, param, value):
    from nbengine.kernels.registry import current, use_kernels

    use_kernels(value)  # None (not given): $NBENGINE_KERNELS decides, else fast
    current()  # a bad $NBENGINE_KERNELS is said now, before any work
    return value


def add_kernels_option(command: click.Command) -> None:
    """Give a command --kernels naive|fast. The choice is made before the command's
    body runs and holds for every kernel the engine calls (nbengine.kernels.registry)."""
    option = click.Option(
        ["--kernels"],
        type=click.Choice(["naive", "fast"]),
        default=None,
        callback=_use_kernels,
        expose_value=False,
        help=KERNELS_HELP,
    )
    names = [p.name for p in command.params]
    where = names.index("json_mode") if "json_mode" in names else len(names)
    command.params.insert(where, option)


# -- output -------------------------------------------------------------------------------------


def json_options(f):
    """--json and -q/--quiet, which every command takes."""
    f = click.option("-q", "--quiet", is_flag=True, help="No progress bar or status lines.")(f)
    f = click.option(
        "--json",
        "json_mode",
        is_flag=True,
        help="Write JSON lines to stdout (one object per line) instead of tables.",
    )(f)
    return f


def training_json_options(f):
    """--json, --json-epochs and -q/--quiet, for the training commands."""
    f = click.option("-q", "--quiet", is_flag=True, help="No progress bar or status lines.")(f)
    f = click.option(
        "--json-epochs",
        "json_epochs",
        is_flag=True,
        help="As --json, without the per-step lines: one JSON line per epoch.",
    )(f)
    f = click.option(
        "--json",
        "json_mode",
        is_flag=True,
        help="Write JSON lines to stdout instead of tables: the run's settings, then one line "
        "per step and one per epoch, then the result (see --json-epochs).",
    )(f)
    return f


def tensor_options(f):
    """--precision and --full, for commands that print tensors."""
    f = click.option(
        "--full", is_flag=True, help="Print every value of large tensors (no … ellipsis)."
    )(f)
    f = click.option(
        "--precision",
        type=click.IntRange(1, 12),
        default=4,
        show_default=True,
        help="Digits after the decimal point in tables.",
    )(f)
    return f


def output_options(f):
    """json_options plus --precision and --full, for commands that print tensors."""
    return json_options(tensor_options(f))


def _language(ctx, param, value):
    from nbengine_cli.language import use

    return use(value) if value else _current()


def _current() -> str:
    from nbengine.i18n import language

    return language()


def language_option(f):
    """--lang en|ko on a command (tutorial, exercise), as on the top-level group: given, it
    holds for everything the command shows; not given, the top-level --lang or the locale's."""
    return click.option(
        "--lang",
        type=click.Choice(["en", "ko"]),
        default=None,
        callback=_language,
        help="Language of everything shown  [default: nbengine --lang, else $NBENGINE_LANG, "
        "else the locale: ko for a Korean locale, else en].",
    )(f)


# -- running ------------------------------------------------------------------------------------


def threads_option(f):
    """--threads; nbengine_cli.run.set_threads applies it."""
    return click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=None,
        help="Threads for the kernels  [default: all cores]. The same seed and thread "
        "count give the same numbers, bit for bit.",
    )(f)


# -- data and checkpoints -----------------------------------------------------------------------


def cache_dir_option(f):
    """--cache-dir: where fetched data sets live. None lets the engine decide
    ($NBENGINE_CACHE_DIR, else the platform's cache folder: nbengine.caches)."""
    return click.option(
        "--cache-dir",
        type=click.Path(file_okay=False),
        default=None,
        metavar="DIR",
        help="Where fetched data sets live  [default: $NBENGINE_CACHE_DIR, else the platform's "
        "cache folder, e.g. ~/.cache/nbengine].",
    )(f)


def split_options(f, *, when: str = ""):
    """--split-seed and --test-fraction: the stratified train/test split. ``when`` says
    which data they apply to, e.g. "single-file data"."""
    note = f" ({when})" if when else ""
    f = click.option(
        "--split-seed",
        type=int,
        default=0,
        show_default=True,
        help=f"Seed of the stratified train/test split{note}.",
    )(f)
    f = click.option(
        "--test-fraction",
        type=Float(0, 1, min_open=True, max_open=True),
        default=0.2,
        show_default=True,
        help=f"Share of each class held out for testing{note}.",
    )(f)
    return f


def data_reference(data: str, names=()) -> str:
    """How a checkpoint remembers its --data: a name the engine knows (``names``, or any
    that is not a file here) as it is, a file or folder as an absolute path."""
    return data if data in names or not os.path.exists(data) else os.path.abspath(data)


def checkpoint_option(model: str):
    """--checkpoint CKPT (required), a checkpoint written by `nbengine train MODEL --save`
    (``model``: "cnn", or "rnnlm|lstmlm|transformer")."""
    return click.option(
        "--checkpoint",
        "ckpt",
        required=True,
        type=click.Path(dir_okay=False),
        metavar="CKPT",
        help=f"A checkpoint written by `nbengine train {model} --save`.",
    )


def save_option():
    """--save CKPT: write the model after every epoch, atomically."""
    return click.option(
        "--save",
        type=click.Path(dir_okay=False),
        default=None,
        metavar="CKPT",
        help="Write the model to this .npz checkpoint after every epoch (atomically: an "
        "interrupted or failed run leaves the last good one).",
    )


# The units check_index counts in, for the catalog.
UNITS = (N_("samples"), N_("images"), N_("words"))


def check_index(index: int, n: int, what: str, unit: str) -> None:
    """Refuse an --index past the end of ``what`` (which holds ``n`` ``unit``: "images", one
    of UNITS; ``what`` may be a Msg)."""
    if index >= n:
        raise click.BadParameter(
            _("{what} has {n:,} {unit} (0 to {last}), so {index} is out of range").format(
                what=shown(what), n=n, unit=_(unit), last=n - 1, index=index
            ),
            param_hint="'--index'",
        )
