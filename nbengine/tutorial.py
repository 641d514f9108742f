"""Tutorials: a lesson replayed step by step, narration then real computed numbers.

A tutorial is one TOML file (read with the standard library's ``tomllib``)::

    lesson = 3                               # optional: orders the shipped list
    minutes = 5                              # rough time to go through it
    title = { en = "CNN theory", ko = "CNN 이론" }

    [[steps]]
    title = { en = "Convolution", ko = "합성곱" }
    say.en = "What the learner reads first."
    say.ko = "학습자가 먼저 읽는 설명."
    code = "out = x * 2"                     # Python, in a namespace shared by the steps
    show = ["x", "out"]                      # what to print after it
    expect = { out = [2, 4] }                # what it must compute (numpy.allclose)

A step has narration (``say``, per language) and at most one action: ``run``, an
nbengine command line whose output is shown (``{tmp}`` stands for a folder kept
for the whole run), or ``code``, Python run in a namespace that holds ``np``,
``tensor``, ``Tracer`` and ``tmp`` (that folder) and is shared by all the steps of
one run. After a
code step, ``show`` names the values to print, ``heatmap`` those also drawn as
heat maps and ``curve`` a list of numbers drawn as a line; ``expect`` (with
``tolerance``) and, for a command, ``expect_output`` state what the step must
produce, so a tutorial whose numbers drift fails instead of teaching the wrong
ones; ``expect_output`` is one list for every language, or a table of lists by
language (``{ en = [...], ko = [...] }``) with each language's own. Every
``title`` and ``say`` has English (``en``) and may have Korean (``ko``); a
missing language falls back to English. Unknown keys are errors: a misspelt
``expcet`` must not pass silently.

This module reads, checks and runs the steps; printing is the command line's.
"""

from __future__ import annotations

import math
import os
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType

import numpy as np

from nbengine.data.files import open_regular
from nbengine.errors import TutorialCheckFailed, TutorialError
from nbengine.trace import Step, Tracer, step_to_dict, to_json_data

LANGUAGES = ("en", "ko")
SHIPPED = Path(__file__).with_name("tutorials")
MAX_TUTORIAL_BYTES = 1 << 20  # the shipped ones are 10 to 20 kB

_TOP_KEYS = {"lesson", "minutes", "title", "steps"}
_STEP_KEYS = {
    "title",
    "say",
    "run",
    "code",
    "show",
    "heatmap",
    "curve",
    "expect",
    "tolerance",
    "expect_output",
}


@dataclass
class TutorialStep:
    index: int  # from 1
    title: dict[str, str]
    say: dict[str, str]
    run: str | None = None
    code: str | None = None
    show: list[str] = field(default_factory=list)
    heatmap: list[str] = field(default_factory=list)
    curve: str | None = None
    expect: dict = field(default_factory=dict)
    tolerance: float = 1e-9
    expect_output: dict[str, list[str]] = field(default_factory=dict)  # by language
    compiled: CodeType | None = None  # the code, compiled once when the file is read


@dataclass
class Tutorial:
    name: str
    path: Path
    title: dict[str, str]
    minutes: float
    steps: list[TutorialStep]
    lesson: int | None = None

    @property
    def shipped(self) -> bool:
        """Whether it is one of the tutorials that ship with nbengine (its code is nbengine's)."""
        return self.path.resolve().parent == SHIPPED.resolve()


def text(words: dict[str, str], lang: str) -> str:
    """The text in ``lang``, or in English when the tutorial has none in it."""
    return words.get(lang) or words["en"]


def _languages(value, path, what: str, step: int | None, title: str = "") -> dict[str, str]:
    """A {"en": ..., "ko": ...} table (a plain string counts as English)."""
    if isinstance(value, str):
        value = {"en": value}
    if not isinstance(value, dict):
        raise TutorialError(
            path, f"{what} must be a string or a table of languages (en, ko)", step, title
        )
    unknown = set(value) - set(LANGUAGES)
    if unknown:
        raise TutorialError(
            path, f"{what} has the language {sorted(unknown)[0]!r}; known: en, ko", step, title
        )
    if not isinstance(value.get("en"), str) or not value["en"].strip():
        raise TutorialError(path, f"{what} needs English text (en)", step, title)
    if not all(isinstance(v, str) for v in value.values()):
        raise TutorialError(path, f"{what} must be text in each language", step, title)
    return {k: v.strip("\n") for k, v in value.items()}


def _names(value, path, what, step, title) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(
        isinstance(v, str) and v.isidentifier() for v in value
    ):
        raise TutorialError(
            path, f"{what} must be a list of names from the step's code", step, title
        )
    return value


def load(path: str | os.PathLike) -> Tutorial:
    """Read and check a tutorial file; TutorialError (exit 2) names the file, the step and the problem."""
    path = Path(path)
    # not a pipe, not huge
    with open_regular(path, "tutorial file", TutorialError, limit=MAX_TUTORIAL_BYTES) as f:
        try:
            raw = f.read()
        except OSError as e:
            raise TutorialError(path, f"cannot be read ({e.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise TutorialError(path, "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise TutorialError(path, f"is not valid TOML: {e}") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise TutorialError(
            path, f"unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})"
        )
    if "title" not in data:
        raise TutorialError(path, "has no title")
    title = _languages(data["title"], path, "title", None)
    minutes = data.get("minutes", 5)
    lesson = data.get("lesson")
    if not _number(minutes) or minutes <= 0:
        raise TutorialError(path, "minutes must be a positive number")
    if lesson is not None and (not isinstance(lesson, int) or isinstance(lesson, bool)):
        raise TutorialError(path, "lesson must be a whole number")
    raw_steps = data.get("steps")
    if (
        not isinstance(raw_steps, list)
        or not raw_steps
        or not all(isinstance(s, dict) for s in raw_steps)
    ):
        raise TutorialError(path, "has no steps (write each as a [[steps]] table)")
    steps = [_step(path, i, s) for i, s in enumerate(raw_steps, start=1)]
    name = path.stem.split("-", 1)[1] if path.parent == SHIPPED and "-" in path.stem else path.stem
    return Tutorial(name, path, title, float(minutes), steps, lesson)


def _number(v) -> bool:
    """A finite int or float from the TOML (TOML has nan and inf; a bool is not a number here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _step(path, i: int, s: dict) -> TutorialStep:
    heading = (
        s.get("title", {}).get("en", "")
        if isinstance(s.get("title"), dict)
        else str(s.get("title", ""))
    )
    unknown = set(s) - _STEP_KEYS
    if unknown:
        raise TutorialError(
            path,
            f"unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_STEP_KEYS))})",
            i,
            heading,
        )
    for key in ("title", "say"):
        if key not in s:
            raise TutorialError(path, f"has no {key}", i, heading)
    step = TutorialStep(
        i,
        _languages(s["title"], path, "title", i, heading),
        _languages(s["say"], path, "say", i, heading),
    )
    if "run" in s and "code" in s:
        raise TutorialError(path, "has both run and code; give a step one action", i, heading)
    for key in ("run", "code"):
        if key in s:
            if not isinstance(s[key], str) or not s[key].strip():
                raise TutorialError(path, f"{key} must be non-empty text", i, heading)
            setattr(step, key, s[key])
    if step.run is not None:
        try:
            shlex.split(step.run)
        except ValueError as e:
            raise TutorialError(
                path, f"run {step.run!r} is not a command line ({e})", i, heading
            ) from None
        if step.run.split()[0] == "nbengine":
            raise TutorialError(
                path,
                'run takes the command without the word nbengine, as in run = "trace conv"',
                i,
                heading,
            )
    if step.code is not None:
        try:
            step.compiled = compile(step.code, f"{path}, step {i}", "exec")
        except SyntaxError as e:
            raise TutorialError(
                path, f"its code has a syntax error on line {e.lineno}: {e.msg}", i, heading
            ) from None
    code_only = [k for k in ("show", "heatmap", "curve", "expect") if k in s]
    if code_only and step.code is None:
        raise TutorialError(
            path,
            f"{code_only[0]} needs a code step (it names values the code computes)",
            i,
            heading,
        )
    if "expect_output" in s and step.run is None:
        raise TutorialError(
            path, "expect_output needs a run step (it checks the command's output)", i, heading
        )
    step.show = _names(s.get("show", []), path, "show", i, heading)
    step.heatmap = _names(s.get("heatmap", []), path, "heatmap", i, heading)
    if "curve" in s:
        step.curve = _names(s["curve"], path, "curve", i, heading)[0]
    expect = s.get("expect", {})
    if not isinstance(expect, dict) or not all(k.isidentifier() for k in expect):
        raise TutorialError(path, "expect must be a table of name = value", i, heading)
    step.expect = expect
    tol = s.get("tolerance", 1e-9)
    if not _number(tol) or tol < 0:  # nan would fail every check, inf pass every one
        raise TutorialError(path, "tolerance must be a finite number ≥ 0", i, heading)
    step.tolerance = float(tol)
    step.expect_output = _expect_output(s.get("expect_output", []), path, i, heading)
    return step


def _expect_output(value, path, i: int, heading: str) -> dict[str, list[str]]:
    """expect_output by language: one list checked in every language (numbers, formulas,
    names), or a table of lists by language, which must then have each language's own
    list (a check on English words cannot pass on Korean output)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        value = dict.fromkeys(LANGUAGES, value)
    if not isinstance(value, dict):
        raise TutorialError(
            path,
            "expect_output must be a list of strings or a table of lists by language (en, ko)",
            i,
            heading,
        )
    unknown = sorted(set(value) - set(LANGUAGES))
    if unknown:
        raise TutorialError(
            path, f"expect_output has the language {unknown[0]!r}; known: en, ko", i, heading
        )
    missing = [lang for lang in LANGUAGES if lang not in value]
    if missing:
        raise TutorialError(
            path,
            f"expect_output has no {missing[0]!r} list; a table by language "
            f"needs a list in each language ({', '.join(LANGUAGES)}), or give "
            f"one list for checks that are the same in every language",
            i,
            heading,
        )
    if not all(isinstance(v, list) and all(isinstance(o, str) for o in v) for v in value.values()):
        raise TutorialError(
            path, "expect_output must be a list of strings in each language", i, heading
        )
    return {lang: list(value[lang]) for lang in LANGUAGES}


def shipped() -> list[Tutorial]:
    """The tutorials that ship with nbengine, in lesson order."""
    found = [load(p) for p in sorted(SHIPPED.glob("*.toml"))]
    return sorted(found, key=lambda t: (t.lesson is None, t.lesson or 0, t.name))


def find(name_or_path: str) -> Tutorial:
    """A shipped tutorial by name (``cnn-theory``, or its lesson number ``3``), else a file by path."""
    for t in shipped():
        if name_or_path in (t.name, t.path.stem, str(t.lesson)):
            return t
    path = Path(name_or_path)
    if path.exists() or path.suffix == ".toml" or os.sep in name_or_path:
        return load(path)
    names = ", ".join(t.name for t in shipped())
    raise TutorialError(name_or_path, f"is neither a shipped tutorial ({names}) nor a file")


# -- running --------------------------------------------------------------------------


def tensor(
    value, formula="", note="", rows=None, cols=None, name: str = "", lang: str = "en"
) -> Step:
    """A value to show with a formula, a note and row / column labels, as trace steps are.
    formula and note may be text or a table of languages ({"en": ..., "ko": ...})."""
    if isinstance(formula, dict):
        formula = text(formula, lang)
    if isinstance(note, dict):
        note = text(note, lang)
    v = np.asarray(value)
    axes = (cols if cols is not None else rows,) if v.ndim == 1 else (rows, cols)[: v.ndim]
    labels = tuple(None if lab is None else [str(x) for x in lab] for lab in axes)
    return Step(name, v, formula, note, labels)


class Session:
    """One run of a tutorial: the namespace its code steps share (``np``, ``tensor``,
    ``Tracer``, and ``tmp``, the folder ``{tmp}`` names in commands) and the language."""

    def __init__(self, tutorial: Tutorial, tmp: str, lang: str = "en"):
        self.tutorial = tutorial
        self.tmp = tmp
        self.lang = lang

        def tensor_in_lang(value, formula="", note="", rows=None, cols=None, name=""):
            return tensor(value, formula, note, rows, cols, name, lang)

        tensor_in_lang.__doc__ = tensor.__doc__
        self.namespace: dict = {
            "np": np,
            "tensor": tensor_in_lang,
            "Tracer": Tracer,
            "tmp": tmp,
            "__name__": "__tutorial__",
        }

    def command(self, step: TutorialStep) -> list[str]:
        """The step's command line as arguments, with {tmp} filled in."""
        assert step.run is not None, "a command step"
        return shlex.split(step.run.replace("{tmp}", self.tmp))

    def execute(self, step: TutorialStep) -> dict:
        """Run a code step; return the values it names in show, heatmap and curve."""
        try:
            assert step.compiled is not None, "a code step"
            exec(step.compiled, self.namespace)
        except Exception as e:  # the tutorial's own code: say what went wrong, where
            raise TutorialError(
                self.tutorial.path,
                f"its code raised {type(e).__name__}: {e}",
                step.index,
                step.title["en"],
            ) from None
        wanted = list(
            dict.fromkeys(step.show + step.heatmap + ([step.curve] if step.curve else []))
        )
        values = {}
        for name in wanted:
            if name not in self.namespace:
                raise TutorialError(
                    self.tutorial.path,
                    f"shows {name!r}, which its code did not define",
                    step.index,
                    step.title["en"],
                )
            values[name] = self.namespace[name]
        self.check(step)
        return values

    def check(self, step: TutorialStep) -> None:
        """Compare what the code computed with the step's expect; TutorialCheckFailed if they differ."""
        for name, want in step.expect.items():
            if name not in self.namespace:
                raise TutorialError(
                    self.tutorial.path,
                    f"expects {name!r}, which its code did not define",
                    step.index,
                    step.title["en"],
                )
            got = self.namespace[name]
            got_v = got.value if isinstance(got, Step) else got
            if isinstance(want, str) or isinstance(got_v, str):
                same = str(got_v) == str(want)
            else:
                try:
                    a, b = np.asarray(got_v, dtype=np.float64), np.asarray(want, dtype=np.float64)
                    same = a.shape == b.shape and bool(
                        np.allclose(a, b, rtol=1e-9, atol=step.tolerance)
                    )
                except (TypeError, ValueError):
                    same = False
            if not same:
                raise TutorialCheckFailed(
                    self.tutorial.path,
                    f"expected {name} = {want!r}, but the code computed {_short(got_v)}",
                    step.index,
                    step.title["en"],
                )

    def check_output(self, step: TutorialStep, output: str) -> None:
        """Each expect_output string must appear in the command's output (runs of spaces and
        line breaks count as one space, so a line the terminal wrapped still matches)."""
        flat = " ".join(output.split())
        for s in step.expect_output.get(self.lang, []):
            if " ".join(s.split()) not in flat:
                raise TutorialCheckFailed(
                    self.tutorial.path,
                    f"expected the output of `nbengine {step.run}` to show {s!r}",
                    step.index,
                    step.title["en"],
                )


def _short(v) -> str:
    """A value on one line, for an error message."""
    if isinstance(v, np.ndarray):
        return " ".join(np.array2string(v, precision=6, threshold=20).split())
    return " ".join(repr(v).split())


def json_value(v):
    """A shown value as JSON: a trace step's dict, nested lists for arrays, numbers and text as they are."""
    if isinstance(v, Step):
        return step_to_dict(v)
    if isinstance(v, list) and v and all(isinstance(s, Step) for s in v):
        return [step_to_dict(s) for s in v]
    if isinstance(v, np.ndarray) or isinstance(v, np.generic):
        return to_json_data(np.asarray(v))
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        try:
            return to_json_data(np.asarray(v))
        except (TypeError, ValueError):
            return [str(x) for x in v]
    return str(v)
