"""A loader for labelled numeric CSV files: feature columns, then the label last.

The first line may be a header. Two kinds are understood:
- column names (``radius,texture,...,label``): the last name is the label's;
- the count header of scikit-learn's bundled files (``569,30,malignant,benign``:
  rows, features, then one name per class), whose counts are then checked.
A first line with any number among its names is data, not a header, so a damaged
first data line is reported rather than taken for column names.

Every problem is reported as a :class:`~nbengine.errors.DataError` naming the file,
the line (1-based, as an editor shows it) and what was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from nbengine.data.files import atomic_write, is_number, read_bytes
from nbengine.errors import DataError, NBEngineError
from nbengine.i18n import Msg

MAX_CLASSES = 100_000  # a label must be below this: classes are numbered 0, 1, 2, ...


@dataclass
class LabelledData:
    """Features x (samples × features, float64), integer labels y, and names."""

    x: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return self.x.shape[1]


def _read_lines(path: str) -> list[str]:
    raw = read_bytes(path, "CSV file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
        raise DataError(path, Msg("is not UTF-8 text (is it a CSV file?)"), line) from None
    if not text.strip():
        raise DataError(path, Msg("the file is empty"))
    # Only \n, \r\n and \r end a line, as in an editor; str.splitlines() would also
    # split at \x0b, \x0c, \x1c-\x1e, \x85, \u2028 and \u2029 and shift the line numbers.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _parse_label(cell: str, path: str, lineno: int, n_classes: int | None) -> int:
    try:
        v = float(cell)
    except ValueError:
        raise DataError(
            path, Msg("label {cell} is not a number", cell=repr(cell)), lineno
        ) from None
    if not np.isfinite(v) or v != int(v) or v < 0:
        raise DataError(
            path, Msg("label {cell} is not a class number (0, 1, ...)", cell=repr(cell)), lineno
        )
    if v >= MAX_CLASSES:
        raise DataError(
            path,
            Msg(
                "label {cell} is too large for a class number (below {limit})",
                cell=repr(cell),
                limit=MAX_CLASSES,
            ),
            lineno,
        )
    label = int(v)
    if n_classes is not None and label >= n_classes:
        allowed = ", ".join(str(k) for k in range(n_classes))
        raise DataError(
            path,
            Msg("label {cell} is not one of {allowed}", cell=repr(cell), allowed=allowed),
            lineno,
        )
    return label


def load_labelled_csv(path: str | os.PathLike, n_classes: int | None = None) -> LabelledData:
    """Read a CSV of numeric features with an integer class label in the last column.

    n_classes, when given, limits the labels to 0 .. n_classes-1 (2 for a binary
    task: a label of 2 is then an error on its line). Features must be finite
    numbers; every data line must have as many columns as the first one.
    """
    path = os.fspath(path)
    lines = _read_lines(path)

    first = next(i for i, ln in enumerate(lines) if ln.strip())
    head_cells = [c.strip() for c in lines[first].split(",")]
    feature_names: list[str] | None = None
    class_names: list[str] | None = None
    expect_rows = expect_features = None
    start = first
    numeric = [is_number(c) for c in head_cells]
    if (
        len(head_cells) >= 4
        and head_cells[0].isdigit()
        and head_cells[1].isdigit()
        and not any(numeric[2:])
    ):
        # scikit-learn's count header: rows, features, then at least two class names
        start = first + 1
        expect_rows, expect_features = int(head_cells[0]), int(head_cells[1])
        class_names = head_cells[2:]
    elif not any(numeric):
        start = first + 1
        feature_names = head_cells[:-1]
    # else: data. A first line that mixes numbers and words is a data line with a
    # bad cell, reported as such, not a header that would silently drop a sample.

    n_cols = None
    rows: list[np.ndarray] = []
    labels: list[int] = []
    max_label = len(class_names) if class_names is not None else n_classes
    for lineno0 in range(start, len(lines)):
        line = lines[lineno0]
        lineno = lineno0 + 1
        if not line.strip():
            continue
        cells = line.split(",")
        if n_cols is None:
            n_cols = len(cells)
            if n_cols < 2:
                raise DataError(
                    path,
                    Msg("a line needs at least one feature and a label, separated by commas"),
                    lineno,
                )
            if feature_names is not None and len(feature_names) + 1 != n_cols:
                raise DataError(
                    path,
                    Msg(
                        "has {n} columns, but the header names {named}",
                        n=n_cols,
                        named=len(feature_names) + 1,
                    ),
                    lineno,
                )
            if expect_features is not None and expect_features + 1 != n_cols:
                raise DataError(
                    path,
                    Msg(
                        "has {n} columns, but the header says {features} features and a label",
                        n=n_cols,
                        features=expect_features,
                    ),
                    lineno,
                )
        elif len(cells) != n_cols:
            has = Msg("has 1 column") if len(cells) == 1 else Msg("has {n} columns", n=len(cells))
            if n_cols == 2:
                expected = Msg("{has}, expected 2 (1 feature and a label)", has=has)
            else:
                expected = Msg(
                    "{has}, expected {n} ({features} features and a label)",
                    has=has,
                    n=n_cols,
                    features=n_cols - 1,
                )
            raise DataError(path, expected, lineno)
        try:
            values = np.array(cells[:-1], dtype=np.float64)
        except ValueError:
            for j, c in enumerate(cells[:-1]):
                if not is_number(c):
                    raise DataError(
                        path,
                        Msg("column {j} is {cell}, not a number", j=j + 1, cell=repr(c.strip())),
                        lineno,
                    ) from None
            raise  # pragma: no cover - numpy and float() disagree
        if not np.all(np.isfinite(values)):
            j = int(np.flatnonzero(~np.isfinite(values))[0])
            raise DataError(
                path,
                Msg(
                    "column {j} is {cell}, not a finite number",
                    j=j + 1,
                    cell=repr(cells[j].strip()),
                ),
                lineno,
            )
        rows.append(values)
        labels.append(_parse_label(cells[-1].strip(), path, lineno, max_label))

    if not rows:
        raise DataError(path, Msg("has a header but no data lines"))
    if expect_rows is not None and expect_rows != len(rows):
        raise DataError(
            path,
            Msg(
                "the header says {expected} rows, but the file has {n} (truncated?)",
                expected=expect_rows,
                n=len(rows),
            ),
        )

    x = np.vstack(rows)
    y = np.asarray(labels, dtype=np.int64)
    if feature_names is None:
        feature_names = [f"x{j + 1}" for j in range(x.shape[1])]
    if class_names is None:
        k = max(int(y.max()) + 1, n_classes or 0)
        class_names = [str(c) for c in range(k)]
    return LabelledData(x=x, y=y, feature_names=feature_names, class_names=class_names, source=path)


def write_submission(path: str | os.PathLike, pred: np.ndarray) -> None:
    """Predicted labels as a Kaggle submission: ``ImageId,Label`` lines, ids counted from 1,
    written atomically (a temporary file renamed into place, so never half a file)."""
    try:
        with atomic_write(path, text=True, suffix=".csv.tmp") as f:
            f.write("ImageId,Label\n")
            f.writelines(f"{i},{int(label)}\n" for i, label in enumerate(pred, start=1))
    except OSError as e:
        raise NBEngineError(
            Msg("{path}: cannot be written ({reason})", path=os.fspath(path), reason=e.strerror)
        ) from None
