"""The process that grades one submission: ``python -m nbengine.exercises.worker PATH NAME LANG HINTS``.

It reports to its parent (:mod:`nbengine.exercises.runner`) on stdout, one line per
report, each starting with :data:`TAG` so that whatever the learner's kernel prints
itself is told apart: ``{"started": CHECK}`` as a check begins, ``{"result": {...}}``
as it ends. The parent watches the clock and the process, so an endless loop or a
crash ends as one failed check.
"""

from __future__ import annotations

import json
import os
import sys

TAG = "\x1enbengine-exercise "


def _report(**fields) -> None:
    line = TAG + json.dumps(fields, ensure_ascii=False, allow_nan=True) + "\n"
    os.write(1, line.encode("utf-8"))  # unbuffered: the parent sees it before a crash could lose it


def main(argv: list[str]) -> int:
    path, name, lang, hint = argv
    from nbengine.exercises import get
    from nbengine.exercises.grading import grade

    for result in grade(
        path, get(name), lang, int(hint), started=lambda check: _report(started=check)
    ):
        _report(result=result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
