"""The command line in English or Korean: the top-level --lang, and help texts that are
translated when they are shown.

Help texts are declared when the command modules are imported, before --lang is read, so
they are kept in English (the catalog's message ids, marked with N_ or written as the
command's docstring) and translated at the moment Click formats them: :func:`localize`
gives every command and option of the tree a subclass that does so. Click's own words
("Usage:", "Options", its error messages) go through the same catalog: Click asks the
standard gettext, whose domain is set to nbengine's here.
"""

from __future__ import annotations

import gettext
import inspect
import os

import click
import click._textwrap
import click.formatting
from click._compat import strip_ansi
from rich.cells import cell_len

from nbengine import i18n
from nbengine.i18n import _


def use(lang: str | None) -> str:
    """Speak ``lang`` (None: as the environment says) from now on, Click's words included."""
    lang = i18n.set_language(lang)
    gettext.bindtextdomain(i18n.DOMAIN, str(i18n.LOCALE_DIR))
    gettext.textdomain(i18n.DOMAIN)
    os.environ["LANGUAGE"] = lang  # what the standard gettext, and so Click, reads first
    return lang


def _choose(ctx, param, value):
    use(value)
    return value


def lang_option(f):
    """--lang en|ko for the top-level group (before any subcommand, as `nbengine --lang ko
    trace conv`); eager, so `nbengine --lang ko --help` is Korean too."""
    return click.option(
        "--lang",
        type=click.Choice(i18n.LANGUAGES),
        default=None,
        is_eager=True,
        expose_value=False,
        callback=_choose,
        help=i18n.N_(
            "Language of everything shown: en or ko  [default: $NBENGINE_LANG, "
            "else the locale (LC_ALL, LC_MESSAGES, LANG)]."
        ),
    )(f)


def help_id(text: str) -> str:
    """A help text's message id: the text with a docstring's indentation taken off, and
    Click's no-rewrap mark (the character \\b) written as the two characters \\ and b, so
    a translator sees it in the catalog."""
    return inspect.cleandoc(text).replace("\b", "\\b")


def translated_help(text: str) -> str:
    """A help text in the chosen language, as Click reads it."""
    return _(help_id(text)).replace("\\b", "\b")


def display_width(text: str) -> int:
    """Columns a text takes on a terminal, as Rich counts them for its tables: Hangul and other
    wide characters take two, ANSI escapes none."""
    return cell_len(strip_ansi(text))


# Click measures help text by characters; measured in columns, Korean wraps where English does.
click.formatting.term_len = click._textwrap.term_len = display_width


def _fit(text: str, limit: int) -> str:
    """text cut after a whole word, with "...", to take at most limit columns."""
    if display_width(text) <= limit:
        return text
    words, kept = text.split(), ""
    for word in words:
        longer = f"{kept} {word}" if kept else word
        if display_width(longer) + 3 > limit:
            break
        kept = longer
    return kept + "..."


def _shown(obj, attribute: str, method, *args):
    """method(*args) with obj.<attribute> translated for the call."""
    original = getattr(obj, attribute)
    if original:
        setattr(obj, attribute, translated_help(original))
    try:
        return method(*args)
    finally:
        setattr(obj, attribute, original)


def _command_methods(base: type) -> dict:
    def format_help_text(self, ctx, formatter):
        return _shown(self, "help", base.format_help_text.__get__(self), ctx, formatter)

    def format_epilog(self, ctx, formatter):
        return _shown(self, "epilog", base.format_epilog.__get__(self), ctx, formatter)

    def get_short_help_str(self, limit: int = 45) -> str:
        attribute = "short_help" if self.short_help else "help"
        method = base.get_short_help_str.__get__(self)
        if self.short_help:  # shown whole, as Click shows it
            return _shown(self, attribute, method, limit)
        whole = _shown(self, attribute, method, 10**6)  # the first sentence
        if display_width(whole) == len(whole):  # one column a character: cut as Click cuts it
            return _shown(self, attribute, method, limit)
        return _fit(whole, limit)

    def get_help_option(self, ctx):
        # made once, in the language of the moment (before --lang, for the top-level group):
        # its help is translated when shown, as every option's is
        option = base.get_help_option(self, ctx)
        if option is not None and not getattr(option, "translated", False):
            option.__class__ = _translated(type(option), _option_methods)
        return option

    return {
        "format_help_text": format_help_text,
        "format_epilog": format_epilog,
        "get_short_help_str": get_short_help_str,
        "get_help_option": get_help_option,
    }


def _option_methods(base: type) -> dict:
    def get_help_record(self, ctx):
        return _shown(self, "help", base.get_help_record.__get__(self), ctx)

    return {"get_help_record": get_help_record}


_made: dict[type, type] = {}


def _translated(cls: type, methods) -> type:
    """A subclass of cls whose help is translated when shown (no state of its own, so an
    existing object can take it)."""
    if cls not in _made:
        _made[cls] = type(
            f"Translated{cls.__name__}",
            (cls,),
            {"__slots__": (), "translated": True, **methods(cls)},
        )
    return _made[cls]


def localize(command: click.Command) -> None:
    """Make the help of a command, its options and every subcommand translated when shown."""
    if not getattr(command, "translated", False):
        command.__class__ = _translated(type(command), _command_methods)
    for param in command.params:
        if isinstance(param, click.Option) and not getattr(param, "translated", False):
            param.__class__ = _translated(type(param), _option_methods)
    for sub in getattr(command, "commands", {}).values():
        localize(sub)
