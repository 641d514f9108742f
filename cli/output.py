"""Where output goes, in one place.

- Human output (tables, traces, results) goes to stdout, so `nbengine trace logreg > t.txt`
  and `| less` work as people expect.
- With --json, stdout carries one JSON object per line and nothing else; human
  tables are not printed.
- Progress bars and status lines (the seed used, where a checkpoint went) go to
  stderr in both modes; progress bars only when stderr is a terminal and -q is off.
  Off a terminal (a log file), training writes a plain progress line instead at each
  tenth of a bar, once the bar has run for PLAIN_AFTER seconds: a long epoch in a log
  is not silent, a short run writes none.
- Rich honours NO_COLOR and turns colour off when the output is not a terminal.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from nbengine.i18n import Msg, shown

# What differs between two runs with the same seed and thread count: the timing fields of
# the JSON lines, and the "compile" lines, which only a run that compiles the kernels
# writes. Everything else is the same, bit for bit (the README says so, and a test checks).
TIMING_FIELDS = ("seconds", "images_per_second", "tokens_per_second", "sentences_per_second")
ONLY_WHEN_COMPILING = ("compile",)
# Seconds a progress bar runs before, off a terminal, it writes plain progress lines.
PLAIN_AFTER = 10.0


@dataclass
class Output:
    json_mode: bool = False
    quiet: bool = False
    precision: int = 4
    full: bool = False
    out: Console = field(init=False)
    err: Console = field(init=False)
    _above: Console | None = field(init=False, default=None)
    _recorder: Console | None = field(init=False, default=None)
    _epochs: list | None = field(init=False, default=None)

    def __post_init__(self):
        # No file= here: Rich then looks up sys.stdout / sys.stderr at each write,
        # so a live progress bar (which redirects sys.stdout) keeps table rows above
        # itself, and click's test runner's streams are used.
        self.out = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)
        from nbengine_cli.render import export

        self._recorder = export.recorder()  # --svg / --html: the terminal view is recorded too
        self._epochs = export.epochs()  # --plot: the epoch events are kept for the chart

    @property
    def showing(self) -> bool:
        """Whether human output goes anywhere: the terminal, or a recording for --svg and --html."""
        return not self.json_mode or self._recorder is not None

    # -- machine output --------------------------------------------------------------
    def emit(self, event: str, **fields) -> None:
        """One JSON line on stdout (only in --json mode). JSON has no NaN or infinity: such a
        number is written as the text "nan", "inf" or "-inf", never dropped or faked."""
        if self._epochs is not None and event == "epoch":
            self._epochs.append(fields)
        if self.json_mode:
            click.echo(
                json.dumps(
                    {"event": event, **{k: _json_safe(v) for k, v in fields.items()}},
                    ensure_ascii=False,
                    allow_nan=False,
                )
            )

    # -- human output ----------------------------------------------------------------
    def show(self, *renderables) -> None:
        """Human output on stdout; nothing in --json mode (but recorded for --svg and --html).
        A Msg (text the engine made) is shown in the chosen language."""
        renderables = [shown(r) if isinstance(r, Msg) else r for r in renderables]
        if self._recorder is not None:
            self._recorder.print(
                *renderables, soft_wrap=all(isinstance(r, str) for r in renderables)
            )
        if not self.json_mode:
            # While a progress bar is live and stdout is the same terminal, print
            # through the bar's console so the line lands above the bar.
            console = self._above or self.out
            # soft_wrap: a long line of text is left for the terminal to wrap, so
            # redirected output keeps whole lines; tables still fit the width.
            console.print(*renderables, soft_wrap=all(isinstance(r, str) for r in renderables))

    def raw(self, text: str) -> None:
        """Text already laid out (another command's output) on stdout as it is; nothing in --json mode."""
        if self._recorder is not None:
            from rich.text import Text

            self._recorder.print(Text.from_ansi(text), end="")
        if not self.json_mode:
            click.echo(text, nl=False)

    def fact(self, event: str, shown=None, **fields) -> None:
        """One fact, written once: in --json mode the JSON line of ``event`` with ``fields``,
        else ``shown`` for people: a renderable, a line of text, or a list of them (shown one
        after another); None for a fact only the JSON lines carry. Nothing else is written
        twice: a command states each fact with one call (commands never call emit)."""
        self.emit(event, **fields)
        for item in shown if isinstance(shown, list) else [] if shown is None else [shown]:
            self.show(item)

    def gather(self, add):
        """For facts shown together once all are in (a table's rows, a line listing them):
        returns ``state(shown, event, **fields)``, which states one such fact with one call,
        its JSON line written at once (so --json streams through a long run) and its ``shown``
        part handed to ``add`` (a table's add_row, a list's append) for the whole to be shown."""

        def state(shown, event: str, **fields) -> None:
            add(shown)
            self.emit(event, **fields)

        return state

    @contextlib.contextmanager
    def parts(self, event: str):
        """One fact shown in parts as it comes about (a tutorial step: its narration, then what
        it ran, then the numbers) and written as one JSON line once it is whole. Yields a
        :class:`Parts`; each of its calls states one part once, with the fields it stands for.
        Nothing is written to JSON if the block raises."""
        fact = Parts(self)
        yield fact
        self.emit(event, **fact.fields)

    def status(self, message: str) -> None:
        """A short status line on stderr, unless -q (a Msg in the chosen language)."""
        if not self.quiet:
            self.err.print(shown(message) if isinstance(message, Msg) else message, soft_wrap=True)

    @contextlib.contextmanager
    def progress(
        self, description: str, total: int | None, plain: bool = False, in_bytes: bool = False
    ):
        """A progress bar on stderr (counting bytes, with the speed, if ``in_bytes``); yields
        advance(n). Silent with -q, and off a terminal unless ``plain``: then a line
        "description: done/total" at each tenth of the total and at its end, once the bar has
        run for PLAIN_AFTER seconds."""
        if self.quiet or not self.err.is_terminal:
            yield (
                self._plain(description, total) if plain and not self.quiet else (lambda n=1: None)
            )
            return
        counts = (DownloadColumn(), TransferSpeedColumn()) if in_bytes else (MofNCompleteColumn(),)
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            *counts,
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
        )
        with self.live(bar):
            task = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task, n)

    def _plain(self, description: str, total: int):
        started = time.monotonic()
        tenth = max(1, -(-total // 10))
        state = {"done": 0, "mark": tenth}

        def advance(n: int = 1) -> None:
            state["done"] += n
            if state["done"] >= state["mark"] or state["done"] == total:
                while state["mark"] <= state["done"]:
                    state["mark"] += tenth
                if time.monotonic() - started >= PLAIN_AFTER:
                    self.err.print(f"{description}: {state['done']:,}/{total:,}", soft_wrap=True)

        return advance

    @contextlib.contextmanager
    def live(self, bar: Progress):
        """Run a Rich progress bar (on stderr) with human output landing above it
        when stdout is the same terminal."""
        with bar:
            self._above = bar.console if self.out.is_terminal else None
            try:
                yield bar
            finally:
                self._above = None


class Bar:
    """A progress bar (:meth:`Output.progress`, with ``options``) that the first ``open`` after
    none was starts and ``close`` ends: for work that reports its progress in events or callbacks."""

    def __init__(self, out: Output, **options):
        self.out, self.options = out, options
        self.stack: contextlib.ExitStack | None = None
        self.advance: Callable = lambda n=1: None

    def open(self, description: str, total: int | None) -> None:
        if self.stack is None:
            self.stack = contextlib.ExitStack()
            self.advance = self.stack.enter_context(
                self.out.progress(description, total, **self.options)
            )

    def close(self) -> None:
        if self.stack is not None:
            self.stack.close()
            self.stack = None


@dataclass
class Parts:
    """The parts of one fact (see :meth:`Output.parts`): what people see of each part now,
    the fields of the fact's JSON line gathered for when it is whole."""

    out: Output
    fields: dict = field(default_factory=dict)

    def show(self, *shown, **fields) -> None:
        """Renderables (or lines of text) people see, one after another, standing for ``fields``."""
        for item in shown:
            self.out.show(item)
        self.fields.update(fields)

    def raw(self, text: str, **fields) -> None:
        """Text already laid out (another command's output), standing for ``fields``."""
        self.out.raw(text)
        self.fields.update(fields)


def _json_safe(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    return v
