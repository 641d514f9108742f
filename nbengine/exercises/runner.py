"""Grading submissions, each in a process of its own with a time limit per check.

The learner's kernel is compiled code: an endless loop cannot be interrupted from inside,
and an index far out of range can end the process (a segmentation fault). So a worker
process grades (:mod:`nbengine.exercises.worker`) and this side only reads its reports:
a check that does not end within the time limit, or a process that ends before its
checks do, becomes one failed check naming what happened, and the next submission is
graded as usual.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from nbengine.errors import NBEngineError
from nbengine.exercises.core import say
from nbengine.exercises.worker import TAG

# Per check. Compiling a learner's kernel takes a few seconds, and the speed check compiles
# it again for float32 (and the C twins, the first time): a minute leaves room for a busy
# machine while an endless loop is still caught in a minute.
DEFAULT_TIMEOUT = 60.0


class ExerciseError(NBEngineError):
    """An unknown exercise, or a file that cannot be graded (missing, not an exercise)."""


@dataclass
class Report:
    """One submission's grading: the checks as they came, in order."""

    path: str
    exercise: str | None
    checks: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> dict | None:
        return next((c for c in self.checks if c["passed"] is False), None)

    @property
    def passed(self) -> bool:
        return self.failed is None and any(c["check"] == "speed" for c in self.checks)


def identify(path: str | os.PathLike, lang: str = "en") -> str:
    """The exercise a file is (see skeleton.exercise_of); ExerciseError if none."""
    from nbengine.exercises import EXERCISES
    from nbengine.exercises.skeleton import exercise_of

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExerciseError(say((f"{p}: no such file", f"{p}: 파일이 없습니다"), lang)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ExerciseError(f"{p}: {e}") from None
    name = exercise_of(text, p.stem, EXERCISES)
    if name not in EXERCISES:
        raise ExerciseError(
            say(
                (
                    f"{p}: cannot tell which exercise this is: its first line should be '# nbengine exercise: NAME' "
                    f"(`nbengine exercise list` shows the names)",
                    f"{p}: 어떤 과제인지 알 수 없습니다: 첫 줄이 '# nbengine exercise: 이름' 이어야 합니다 "
                    f"(`nbengine exercise list` 로 이름을 볼 수 있습니다)",
                ),
                lang,
            )
        )
    return name


def _read(stream, into: queue.Queue) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace")
        at = line.find(TAG)
        if at >= 0:
            into.put(json.loads(line[at + len(TAG) :]))
    into.put(None)  # the process closed its output: it ended


def _stop(process: subprocess.Popen) -> None:
    """End the worker this module started (its own process group: nothing else is in it)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        process.kill()
    process.wait()


def _ended(code: int, lang: str) -> str:
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = f"signal {-code}"
        what = {
            "SIGSEGV": (
                "a segmentation fault: an index out of range, most likely",
                "세그멘테이션 오류: 범위를 벗어난 인덱스일 가능성이 큽니다",
            )
        }.get(sig, (sig, sig))
        return say(what, lang)
    return say((f"exit code {code}", f"종료 코드 {code}"), lang)


def check_file(
    path: str | os.PathLike,
    lang: str = "en",
    hint: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    on_check=None,
    on_start=None,
) -> Report:
    """Grade one file in a worker process. ``on_start(exercise)`` is called once the file is
    known to be an exercise, ``on_check(check)`` as each check ends. ExerciseError if the
    file cannot be graded at all."""
    path = os.fspath(path)
    name = identify(path, lang)
    if on_start is not None:
        on_start(name)
    report = Report(path, name)
    t0 = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "nbengine.exercises.worker", path, name, lang, str(int(hint))],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "PYTHONFAULTHANDLER": ""},
    )
    reports: queue.Queue = queue.Queue()
    threading.Thread(target=_read, args=(process.stdout, reports), daemon=True).start()
    errors: list[bytes] = []
    stderr = process.stderr
    assert stderr is not None  # stderr=PIPE
    threading.Thread(target=lambda: errors.append(stderr.read()), daemon=True).start()
    current = "compile"

    def add(result: dict) -> None:
        report.checks.append(result)
        if on_check is not None:
            on_check(result)

    try:
        while True:
            try:
                item = reports.get(timeout=timeout)
            except queue.Empty:
                _stop(process)
                add(
                    {
                        "check": current,
                        "passed": False,
                        "reason": "timeout",
                        "message": say(
                            (
                                f"{path}: the {current} check did not finish in {timeout:g} s (an endless loop?)",
                                f"{path}: {current} 검사가 {timeout:g}초 안에 끝나지 않았습니다 (무한 반복?)",
                            ),
                            lang,
                        ),
                    }
                )
                break
            if item is None:
                code = process.wait()
                if code != 0 or (report.failed is None and not report.passed):
                    last = (
                        b"".join(errors).decode("utf-8", "replace").strip().splitlines() or [""]
                    )[-1][:200]
                    add(
                        {
                            "check": current,
                            "passed": False,
                            "reason": "crash",
                            "stderr": last,
                            "message": say(
                                (
                                    f"{path}: the process ended during the {current} check ({_ended(code, lang)})",
                                    f"{path}: {current} 검사 중 프로세스가 끝났습니다 ({_ended(code, lang)})",
                                ),
                                lang,
                            ),
                        }
                    )
                break
            if "started" in item:
                current = item["started"]
            else:
                add(item["result"])
    finally:
        if process.poll() is None:
            _stop(process)
    report.seconds = time.perf_counter() - t0
    return report


def submissions(folder: str | os.PathLike) -> list[Path]:
    """The Python files of a folder, in name order."""
    p = Path(folder)
    if not p.is_dir():
        raise ExerciseError(f"{p}: not a folder")
    return sorted(f for f in p.iterdir() if f.suffix == ".py" and f.is_file())


def check_folder(
    folder: str | os.PathLike, lang: str = "en", hint: int = 0, timeout: float = DEFAULT_TIMEOUT
):
    """Grade every Python file of a folder, one after another; yields a Report per file
    (a file that is no exercise gets a report with one failed check saying so)."""
    for f in submissions(folder):
        try:
            yield check_file(f, lang, hint, timeout)
        except ExerciseError as e:
            yield Report(
                os.fspath(f), None, [{"check": "compile", "passed": False, "message": str(e)}]
            )
