"""The messages nbengine shows, and the Korean catalog that translates them.

    python -m tests.catalog          add new messages to nbengine/locale/ko/LC_MESSAGES/nbengine.po
                                     (empty, to translate), drop the ones no longer used, say how
                                     many are left to translate, and compile the catalog (.mo) as
                                     the build does

The messages are found three ways (Babel is needed: `pip install -e '.[dev]'`):
- Babel's extractor over cli/ and nbengine/: the calls _("..."), N_("..."), Msg("...") and
  ngettext("...", "...", n);
- the command tree itself: every command's help, short help and epilog, every option's help
  (the docstrings Click shows as help are message ids as Click holds them);
- Click's own words (usage, errors), which Click asks the standard gettext for.

tests/test_i18n.py fails while a message has no Korean entry.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "nbengine" / "locale" / "ko" / "LC_MESSAGES" / "nbengine.po"
KEYWORDS = {"_": None, "N_": None, "Msg": None, "ngettext": (1, 2)}
SOURCES = ("cli", "nbengine", "benchmarks")


def _extract(path: Path, keywords=KEYWORDS):
    from babel.messages.extract import extract

    with path.open("rb") as f:
        for lineno, message, _comments, _context in extract("python", f, keywords=keywords):
            yield (
                message,
                f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{lineno}",
            )


def marked() -> dict:
    """{message: [where, ...]} of every marked message in cli/, nbengine/ and benchmarks/ (a message with a
    plural form is a (singular, plural) pair)."""
    found: dict = {}
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for message, where in _extract(path):
                if message and (isinstance(message, str) or all(message)):
                    found.setdefault(message, []).append(where)
    return found


def help_id(text: str) -> str:
    """A help text's message id: as written, with the docstring's indentation taken off."""
    from nbengine_cli.language import help_id as cli_help_id

    return cli_help_id(text)


def help_texts() -> dict:
    """{help text: [command, ...]} of the whole command tree, as Click shows it."""
    import click

    from nbengine_cli.main import main

    found: dict = {}

    def walk(command: click.Command, path: str) -> None:
        for text in (command.help, command.short_help, command.epilog):
            if text:
                found.setdefault(help_id(text), []).append(path)
        for param in command.params:
            if isinstance(param, click.Option) and param.help:
                found.setdefault(help_id(param.help), []).append(f"{path}/{param.opts[-1]}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path}/{name}")

    walk(main, "nbengine")
    return found


def click_words() -> dict:
    """{message: [where, ...]} of Click's own messages."""
    import click

    found: dict = {}
    for path in sorted(Path(click.__file__).parent.glob("*.py")):
        for message, where in _extract(path, {"_": None, "ngettext": (1, 2)}):
            found.setdefault(message, []).append(f"click/{where.rsplit('/', 1)[-1]}")
    return found


def messages() -> dict:
    found: dict = {}
    for part in (marked(), help_texts(), click_words()):
        for message, where in part.items():
            found.setdefault(message, []).extend(where)
    return found


def read_catalog(path: Path = PO):
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        return read_po(f, locale="ko")


def untranslated(catalog, wanted: dict) -> list:
    """The wanted messages the catalog has no Korean for."""
    missing = []
    for message in wanted:
        key = message[0] if isinstance(message, tuple) else message
        entry = catalog.get(key)
        strings = entry.string if entry is not None else None
        if isinstance(strings, (tuple, list)):
            done = all(strings)
        else:
            done = bool(strings)
        if not done:
            missing.append(message)
    return missing


def update() -> int:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    wanted = messages()
    old = read_catalog()
    new = Catalog(
        locale="ko",
        project="nbengine",
        version="0.1.0",
        domain="nbengine",
        charset="utf-8",
        fuzzy=False,
        language_team="ko",
    )
    new.header_comment = "# Korean catalog of nbengine's human-facing text."
    for message, where in wanted.items():
        key = message[0] if isinstance(message, tuple) else message
        entry = old.get(key)
        string = (
            entry.string if entry is not None else ("", "") if isinstance(message, tuple) else ""
        )
        locations = [
            (w.rsplit(":", 1)[0], int(w.rsplit(":", 1)[1]))
            if ":" in w and w.rsplit(":", 1)[1].isdigit()
            else (w, 0)
            for w in where[:3]
        ]
        new.add(message, string, locations=locations)
    tmp = PO.with_suffix(".po.tmp")
    with tmp.open("wb") as f:
        write_po(f, new, width=100, sort_output=False, include_previous=False)
    os.replace(tmp, PO)
    missing = untranslated(new, wanted)
    print(f"{PO.relative_to(ROOT)}: {len(wanted)} messages, {len(missing)} without Korean")
    compile_catalogs()
    return 0


def compile_catalogs() -> list[Path]:
    """Compile every .po to its .mo, with the build's own function (setup.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("nbengine_setup", ROOT / "setup.py")
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)
    return setup.compile_catalogs()


if __name__ == "__main__":
    sys.exit(update())


# -- strings shown without being marked -----------------------------------------------------------

MARKS = {"_", "N_", "Msg", "ngettext", "help_id", "translated_help"}
# Keyword arguments whose strings are not words for people (Rich styles and layout, Click's
# metavars and option wiring), or are translated where Click shows them (help texts, which
# help_texts() collects from the command tree).
NOT_WORDS = {
    "help",
    "short_help",
    "epilog",
    "style",
    "justify",
    "title_justify",
    "metavar",
    "envvar",
    "param_hint",
    "prog_name",
    "box",
    "border_style",
    "header_style",
    "row_styles",
    "overflow",
    "end",
    "sep",
    "spinner",
    "format",
    "encoding",
    "errors",
    "mode",
    "newline",
    "suffix",
    "prefix",
    "type",
}


def _is_words(text: str) -> bool:
    """Whether a string is a phrase for people: two words of two letters or more (a formula
    such as "Q = X·Wq" is not; a Rich style such as "bold cyan" is only ever passed as style=)."""
    words = [w.strip(".,;:!?()[]'\"`") for w in text.split()]
    return sum(1 for w in words if len(w) >= 2 and w.replace("'", "").isalpha()) >= 2


def unmarked(paths) -> list[str]:
    """file:line: text of every phrase for people in these files that is not inside _(), N_(),
    Msg() or ngettext(): neither a docstring (command help, which the tree gives) nor a
    keyword argument that is not words (NOT_WORDS), nor a JSON field (out.fact's keywords)."""
    import ast

    found = []
    for path in paths:
        tree = ast.parse(Path(path).read_text(), str(path))
        skip: set[int] = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (
                isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                and body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
            ):
                skip.add(id(body[0].value))
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                inside = []
                if name in MARKS:
                    inside = node.args + [k.value for k in node.keywords]
                else:
                    inside = [
                        k.value
                        for k in node.keywords
                        if k.arg in NOT_WORDS or (name in ("fact", "show") and k.arg is not None)
                    ]
                for arg in inside:
                    skip.update(id(n) for n in ast.walk(arg))
            if isinstance(node, ast.Dict):  # JSON objects and lookup tables: their keys
                skip.update(id(n) for k in node.keys if k is not None for n in ast.walk(k))
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                skip.update(id(v) for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            else:
                continue
            if _is_words(text):
                where = Path(path).resolve()
                where = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
                found.append(f"{where}:{node.lineno}: {text[:70]!r}")
    return sorted(set(found), key=lambda s: (s.split(":")[0], int(s.split(":")[1])))
