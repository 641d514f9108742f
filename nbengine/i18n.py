"""Human-facing text in English or Korean, through the standard gettext catalogs.

The English text is the message id. A string is marked where it is written:

    _("the hidden state after each word")      translated now, in the chosen language
    N_("Train the lesson's CNN ...")           marked for the catalog only; translated where
                                               it is shown (help texts, notes kept as data)
    ngettext("{n} epoch", "{n} epochs", n)     a count in a sentence

Numbers are put in with ``str.format`` after translating (``_("step {i}").format(i=i)``):
an f-string would be formatted before the catalog could be asked.

The Korean catalog is ``nbengine/locale/ko/LC_MESSAGES/nbengine.po``; the build compiles
it to ``nbengine.mo`` (setup.py), which is what gettext reads.

The language, first found wins: :func:`set_language` (the command line's ``--lang``),
``NBENGINE_LANG``, then ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` (Korean when the value starts
with ``ko``), else English. JSON output never goes through here: keys and numbers only.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

DOMAIN = "nbengine"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "ko")
ENV = "NBENGINE_LANG"

_chosen: str | None = None
_catalogs: dict[str, gettext.NullTranslations] = {}


def from_locale() -> str:
    """The language the locale asks for: ko when LC_ALL, LC_MESSAGES or LANG (the first that
    is set) starts with "ko", else en."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "ko" if value.lower().startswith("ko") else "en"
    return "en"


def language() -> str:
    """The language human-facing text is written in now: "en" or "ko"."""
    if _chosen is not None:
        return _chosen
    env = os.environ.get(ENV, "").strip().lower()
    if env in LANGUAGES:
        return env
    return from_locale()


def set_language(lang: str | None) -> str:
    """Choose the language (None: from the environment again); the language now in use.
    A child process (a tutorial's commands, the exercise grader) is given it as
    NBENGINE_LANG by whoever starts it (:func:`child_env`)."""
    global _chosen
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; nbengine speaks {', '.join(LANGUAGES)}")
    _chosen = lang
    return language()


def child_env(env: dict | None = None) -> dict:
    """The environment for a child process that should speak the language in use."""
    return {**(os.environ if env is None else env), ENV: language()}


def catalog(lang: str | None = None) -> gettext.NullTranslations:
    """The compiled catalog of a language (English: the message ids themselves)."""
    lang = lang or language()
    if lang not in _catalogs:
        if lang == "en":
            _catalogs[lang] = gettext.NullTranslations()
        else:
            _catalogs[lang] = gettext.translation(
                DOMAIN, LOCALE_DIR, languages=[lang], fallback=True
            )
    return _catalogs[lang]


def has_catalog(lang: str) -> bool:
    """Whether the compiled catalog of a language is installed (it is built from the .po)."""
    return lang == "en" or (LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file()


def _(message: str) -> str:
    """The message in the chosen language."""
    return catalog().gettext(message) if message else message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural message for n, in the chosen language."""
    return catalog().ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a message for the catalog without translating it here."""
    return message


class Msg(str):
    """Text made now and shown later, in whatever language is chosen then: a str (its value
    is the English, so JSON and comparisons never change with the language) that remembers
    its message id and the values put into it. The engine writes its notes this way; the
    command line's renderer shows them with :func:`shown`.

        Msg("the hidden state after word {t}", t=3)   == "the hidden state after word 3"
    """

    msgid: str
    values: dict

    def __new__(cls, msgid: str, **values):
        text = super().__new__(cls, msgid.format(**values) if values else msgid)
        text.msgid = msgid
        text.values = values
        return text

    def __reduce__(self):
        return (_rebuild, (self.msgid, self.values))


def _rebuild(msgid: str, values: dict) -> Msg:
    return Msg(msgid, **values)


def joined(parts, sep: str = ", ") -> Msg:
    """Phrases joined by ``sep`` into one Msg, each phrase shown in the language when the whole
    is (a list whose length is known only when it is made)."""
    parts = list(parts)
    # not a catalog message: only its parts are
    msgid = sep.join(f"{{p{k}}}" for k in range(len(parts)))
    return Msg(msgid, **{f"p{k}": p for k, p in enumerate(parts)})


def shown(text):
    """Text as it is shown in the chosen language: a Msg is translated and its values put in
    again (those that are Msg translated too); another str is looked up as a whole (the
    English back when it is not in the catalog); anything else is returned as it is."""
    if isinstance(text, Msg):
        translated = _(text.msgid)
        if not text.values:
            return translated
        # a value that is itself a Msg (a phrase put into a sentence) is shown in the language too
        return translated.format(
            **{k: shown(v) if isinstance(v, Msg) else v for k, v in text.values.items()}
        )
    if isinstance(text, str):
        return _(text)
    return text
