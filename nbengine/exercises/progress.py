"""A learner's progress: which exercises are not started, failing or passed, kept in a
small JSON file in the user's data folder:

1. ``$NBENGINE_DATA_DIR`` if set,
2. else ``$XDG_DATA_HOME/nbengine`` (an absolute XDG_DATA_HOME; a relative one is ignored,
   as the XDG specification says),
3. else ``~/.local/share/nbengine``.

The file is written whole or not at all (a temporary file, then a rename), so an
interrupted write never leaves half a file; a file that cannot be read counts as no
progress yet.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

FILE = "exercises.json"
NOT_STARTED, FAILING, PASSED = "not started", "failing", "passed"


def data_root() -> Path:
    env = os.environ.get("NBENGINE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share") / "nbengine"


def path() -> Path:
    return data_root() / FILE


def load() -> dict:
    """{exercise name: {"status": ..., "file": ..., "when": ...}}; {} when there is none."""
    try:
        data = json.loads(path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def status(name: str, data: dict | None = None) -> str:
    entry = (load() if data is None else data).get(name)
    return entry.get("status", NOT_STARTED) if isinstance(entry, dict) else NOT_STARTED


def record(name: str, state: str, file: str | os.PathLike | None = None) -> None:
    """Set an exercise's status; a passed exercise stays passed when a later check of another
    attempt fails (it is kept as ``passed``, with the failing attempt noted)."""
    data = load()
    found = data.get(name)
    entry: dict = found if isinstance(found, dict) else {}
    if not (entry.get("status") == PASSED and state == FAILING):
        entry["status"] = state
    entry["last"] = state
    if file is not None:
        entry["file"] = os.path.abspath(file)
    entry["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data[name] = entry
    _write(data)


def _write(data: dict) -> None:
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(prefix=".exercises-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
        os.replace(part, target)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
