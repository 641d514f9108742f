"""Typed errors. Each carries the exit code the command line should use.

Exit codes follow one rule across the project: 1 for a run that failed (for
example a loss that became NaN), 2 for bad usage or bad input (a missing file, a
malformed CSV, a corrupted checkpoint).

An error's str is its English; :meth:`NBEngineError.shown` is the same line in the language
chosen when it is shown. The problem is written as ``Msg("...", value=...)`` (a str whose
value is the English) where the error is raised, so that both can be made from it.
"""

from __future__ import annotations

import os

from nbengine.i18n import Msg, shown


class NBEngineError(Exception):
    """Base class: a problem the user can act on, stated in one line."""

    exit_code = 2

    def shown(self) -> str:
        """The message in the chosen language (str(self) is the English)."""
        return shown(self.args[0]) if len(self.args) == 1 else str(self)


class DataError(NBEngineError):
    """A data file is missing or malformed.

    The message names the file, the line when there is one, and the problem:
    ``data.csv:14: column 3 is 'abc', not a number``.
    """

    def __init__(self, path: str | os.PathLike, problem: str, line: int | None = None):
        self.path = os.fspath(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(Msg("{where}: {problem}", where=where, problem=problem))


class CheckpointError(NBEngineError):
    """A checkpoint cannot be read, is corrupted, or belongs to another model."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(Msg("{where}: {problem}", where=self.path, problem=problem))


class DivergedError(NBEngineError):
    """Training produced a non-finite loss; nothing was saved from that point on."""

    exit_code = 1


class TutorialError(NBEngineError):
    """A tutorial file that cannot be read or run: names the file and, when there is
    one, the step (its number, from 1, and title)."""

    def __init__(
        self, path: str | os.PathLike, problem: str, step: int | None = None, title: str = ""
    ):
        self.path = os.fspath(path)
        self.step = step
        self.problem = problem
        if step is None:
            where = self.path
        elif title:
            where = Msg("{path}, step {step} ({title})", path=self.path, step=step, title=title)
        else:
            where = Msg("{path}, step {step}", path=self.path, step=step)
        super().__init__(Msg("{where}: {problem}", where=where, problem=problem))


class TutorialCheckFailed(TutorialError):
    """A tutorial's step computed something other than what the tutorial expects."""

    exit_code = 1
