"""The image data sets the CNN trains on: 28×28 grey digits (or clothes) and their labels.

:func:`load_images` and :func:`load_split` take one ``ref``, which may be

- ``mnist_5k``: 5,000 real MNIST digits that ship with nbengine (the default);
- ``mnist`` or ``fashion-mnist``: the full sets, once ``nbengine data fetch NAME`` has
  downloaded them (four IDX files in the cache folder, see nbengine.data.fetch);
- a CSV file, plain or ``.csv.gz``, in one of these layouts, told apart by its first line
  and, without a header, by its values:

  ===========================  =======================================  ==================
  first line                   layout                                   labels
  ===========================  =======================================  ==================
  ``label,pixel0,...``         Kaggle's digit-recogniser ``train.csv``   first column
  ``pixel0,...,pixel783``      Kaggle's ``test.csv``                     none
  785 numbers (no header)      nbengine's ``mnist_5k`` (784 pixels,      the end column
                               then the label), or Kaggle's              that holds whole
                               ``train.csv`` without its header          numbers 0 to 9
  784 numbers (no header)      images without labels                     none
  ===========================  =======================================  ==================

- an IDX images file (``train-images-idx3-ubyte[.gz]``), with the labels file of the
  standard name beside it (``train-labels-idx1-ubyte[.gz]``) if there is one;
- a folder holding the four standard MNIST files.

Pixels are whole numbers from 0 (background) to 255 (ink), 28×28, row by row.
Every problem raises :class:`~nbengine.errors.DataError` with the file, the line when
there is one, and what is wrong: ``train.csv:5: 784 pixel values expected, found 783``.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass

import numpy as np

from nbengine.data.fetch import dataset_folder, missing_files
from nbengine.data.files import is_number
from nbengine.data.idx import parse_idx, read_file_bytes, read_idx
from nbengine.data.registry import (
    DIGITS,
    FETCHABLE,
    MNIST_FILES,
    SHIPPED,
    SHIPPED_IMAGES,
    shipped_path,
)
from nbengine.data.split import stratified_split
from nbengine.errors import DataError
from nbengine.i18n import N_, Msg

SIDE = 28  # images are SIDE × SIDE pixels
N_PIXELS = SIDE * SIDE  # 784
N_CLASSES = 10
DEFAULT = "mnist_5k"
ROWS_PER_CHUNK = 4096  # CSV lines parsed at once by the fast path (about 25 MB of int64)


class UnlabelledError(DataError):
    """Images without labels (Kaggle's test.csv) were asked for a training and test split."""


@dataclass
class Images:
    """A set of 28×28 grey images and, when the file has them, their labels."""

    pixels: np.ndarray  # uint8, (N, 28, 28): 0 is background, 255 full ink
    labels: np.ndarray | None  # int64, (N,), each 0..9; None when the file has no labels
    source: str  # the file(s) the images came from, for messages
    class_names: list[str]  # what each label means: "0".."9", or Fashion-MNIST's "T-shirt/top", ...

    def __len__(self) -> int:
        return self.pixels.shape[0]

    def as_float(self) -> np.ndarray:
        """The pixels as the network's input: float32 (N, 28, 28, 1), each pixel / 255.

        The last axis is the single (grey) channel; the array is C-contiguous.
        """
        x = self.pixels.astype(np.float32) / np.float32(255)
        return np.ascontiguousarray(x.reshape(len(self), SIDE, SIDE, 1))

    def subset(self, index: np.ndarray) -> Images:
        """The images at the given positions, in that order."""
        labels = None if self.labels is None else self.labels[index]
        return Images(
            np.ascontiguousarray(self.pixels[index]), labels, self.source, list(self.class_names)
        )

    def sample(self, n: int | None, seed: int) -> Images:
        """n of the images drawn at random by a generator seeded with ``seed``, kept in their
        order here (so every class is likely in them); all of them if n is None or not smaller."""
        if n is None or n >= len(self):
            return self
        return self.subset(np.sort(np.random.default_rng(seed).permutation(len(self))[:n]))

    def then(self, other: Images) -> Images:
        """These images followed by ``other``'s (both labelled, or neither)."""
        labels = None if self.labels is None else np.concatenate([self.labels, other.labels])
        return Images(
            np.concatenate([self.pixels, other.pixels]),
            labels,
            f"{self.source}, {other.source}",
            self.class_names,
        )


@dataclass
class ImageSplit:
    """Training and test images of one data set, and a line saying how they were split."""

    name: str
    train: Images
    test: Images
    description: str  # a Msg, e.g. "mnist_5k: 4,000 train / 1,000 test, stratified split, seed 0"
    # Where each image sits in the whole set as load_images(name) gives it; None for an
    # official split, where the training and test images come from separate files.
    train_index: np.ndarray | None = None
    test_index: np.ndarray | None = None

    def part(self, which: str) -> Images:
        """The "train" or "test" images, or "all": the training images followed by the test ones."""
        if which == "all":
            return self.train.then(self.test)
        return self.train if which == "train" else self.test


# -- checks shared by the formats ----------------------------------------------------------------


def _check_pixels(array: np.ndarray, path: str) -> np.ndarray:
    """An IDX array as uint8 (N, 28, 28), or a DataError saying why it is not images."""
    dims = "×".join(str(s) for s in array.shape) or Msg("scalar")
    if array.ndim == 1:
        raise DataError(
            path,
            Msg(
                "holds a {dims} array (is it a labels file?); images are a count × 28 × 28 array",
                dims=dims,
            ),
        )
    if array.ndim != 3:
        raise DataError(
            path, Msg("holds a {dims} array; images are a count × 28 × 28 array", dims=dims)
        )
    if array.shape[1:] != (SIDE, SIDE):
        raise DataError(
            path,
            Msg(
                "holds images of {rows}×{cols} pixels; nbengine's image models take 28×28",
                rows=array.shape[1],
                cols=array.shape[2],
            ),
        )
    if array.shape[0] == 0:
        raise DataError(path, Msg("holds no images"))
    if array.dtype != np.uint8:
        bad = ~((array >= 0) & (array <= 255) & (array == np.round(array)))
        if bad.any():
            i, r, c = (int(k) for k in np.argwhere(bad)[0])
            raise DataError(
                path,
                Msg(
                    "image {i}, row {r}, column {c}: {value} is not a pixel value (a whole number "
                    "from 0 to 255)",
                    i=i,
                    r=r,
                    c=c,
                    value=array[i, r, c],
                ),
            )
        array = array.astype(np.uint8)
    return np.ascontiguousarray(array)


def _check_labels(array: np.ndarray, path: str, n_images: int, images_path: str) -> np.ndarray:
    """An IDX labels array as int64 (N,), checked against the number of images."""
    if array.ndim != 1:
        dims = "×".join(str(s) for s in array.shape) or Msg("scalar")
        raise DataError(
            path, Msg("holds a {dims} array; labels are one number per image", dims=dims)
        )
    if array.shape[0] != n_images:
        raise DataError(
            path,
            Msg(
                "has {n} labels, but {images} has {n_images} images",
                n=format(array.shape[0], ","),
                images=images_path,
                n_images=format(n_images, ","),
            ),
        )
    bad = ~((array >= 0) & (array < N_CLASSES) & (array == np.round(array)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            path,
            Msg(
                "label {label} of image {i} is not a class (a whole number from 0 to 9)",
                label=array[i],
                i=i,
            ),
        )
    return array.astype(np.int64)


# -- IDX files -----------------------------------------------------------------------------------


def labels_beside(images_path: str | os.PathLike) -> str | None:
    """The labels file of the standard name next to an IDX images file, or None.

    ``train-images-idx3-ubyte.gz`` -> ``train-labels-idx1-ubyte.gz`` (or without .gz);
    the dotted spelling ``train-images.idx3-ubyte`` works the same way.
    """
    folder, base = os.path.split(os.fspath(images_path))
    if "images" not in base:
        return None
    stem = base[:-3] if base.endswith(".gz") else base
    stem = stem.replace("images", "labels").replace("idx3", "idx1")
    for candidate in (stem + ".gz", stem):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def load_idx_images(
    images_path: str | os.PathLike, labels_path: str | os.PathLike | None = None, class_names=DIGITS
) -> Images:
    """Images from an IDX file, with labels from labels_path (None: no labels)."""
    images_path = os.fspath(images_path)
    return _idx_images(read_file_bytes(images_path), images_path, labels_path, class_names)


def _idx_images(
    data: bytes, images_path: str, labels_path: str | os.PathLike | None, class_names
) -> Images:
    """Images from the (decompressed) bytes of the IDX file images_path, with labels from labels_path."""
    pixels = _check_pixels(parse_idx(data, images_path), images_path)
    labels = None
    source = images_path
    if labels_path is not None:
        labels_path = os.fspath(labels_path)
        labels = _check_labels(read_idx(labels_path), labels_path, len(pixels), images_path)
        source = f"{images_path} + {os.path.basename(labels_path)}"
    return Images(pixels, labels, source, list(class_names))


def _standard_file(folder: str, name: str) -> str | None:
    """folder/name as published (``.gz``), or unpacked, or with the dotted spelling."""
    stem = name[:-3]  # without .gz
    dotted = stem.replace("-idx", ".idx")
    for candidate in (name, stem, dotted + ".gz", dotted):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def load_idx_folder(folder: str | os.PathLike, class_names=DIGITS) -> tuple[Images, Images]:
    """(training, test) images from a folder holding the four standard MNIST files."""
    folder = os.fspath(folder)
    found = [_standard_file(folder, name) for name in MNIST_FILES]
    missing = [name for name, path in zip(MNIST_FILES, found) if path is None]
    if missing:
        raise DataError(
            folder,
            Msg(
                "is a folder without the MNIST files {files} (an unpacked file without .gz is "
                "fine too)",
                files=", ".join(missing),
            ),
        )
    train_images, train_labels, test_images, test_labels = (str(path) for path in found)
    return (
        load_idx_images(train_images, train_labels, class_names),
        load_idx_images(test_images, test_labels, class_names),
    )


# -- CSV files -----------------------------------------------------------------------------------


@dataclass
class _Layout:
    """Where the label is in each line of a CSV file, and where the data starts."""

    # "first", "last", None (no labels), or "either": no header and 785 values a line, the
    # label first or last, decided from the values (see _label_column)
    label: str | None
    data_line: int  # 0-based index of the line after the header (or of the first line without one)

    @property
    def n_cols(self) -> int:
        return N_PIXELS + (self.label is not None)

    @property
    def labelled(self) -> bool:
        return self.label in ("first", "last")

    @property
    def pixel_cols(self) -> slice:
        """The columns read as pixels (with "either", all 785 of them, each 0 to 255)."""
        return {"first": slice(1, None), "last": slice(0, N_PIXELS)}.get(
            self.label or "", slice(0, None)
        )

    @property
    def label_col(self) -> int:
        return 0 if self.label == "first" else N_PIXELS


def _layout(first: str, lineno: int, path: str) -> _Layout:
    """Decide the layout from the first non-blank line (lineno is its 0-based index)."""
    cells = [c.strip().strip('"').lower() for c in first.split(",")]
    if any(is_number(c) for c in cells):
        # No header (a line mixing numbers and words is a data line with a bad cell,
        # reported as such). 784 values are an image without a label; 785 an image and
        # its label, first (Kaggle's train.csv without its header) or last (nbengine's
        # mnist_5k), which only the values can tell; any other count is reported as a
        # line of nbengine's layout, 784 pixels then the label.
        return _Layout({N_PIXELS: None, N_PIXELS + 1: "either"}.get(len(cells), "last"), lineno)
    expected = N_(
        "'label,pixel0,...,pixel783' (Kaggle's train.csv) or 'pixel0,...,pixel783' (its test.csv)"
    )
    if "label" in cells[1:-1]:
        raise DataError(
            path,
            Msg(
                "the header has 'label' in column {column}; it must be the first or last column",
                column=cells.index("label") + 1,
            ),
            lineno + 1,
        )
    label = "first" if cells[0] == "label" else "last" if cells[-1] == "label" else None
    n_pixels = len(cells) - (label is not None)
    if n_pixels != N_PIXELS:
        names = (
            Msg("the header names 1 pixel column")
            if n_pixels == 1
            else Msg("the header names {n} pixel columns", n=n_pixels)
        )
        raise DataError(
            path,
            Msg("{names}, expected 784 (28×28): {expected}", names=names, expected=Msg(expected)),
            lineno + 1,
        )
    return _Layout(label, lineno + 1)


def _label_column(values: np.ndarray, path: str, line: int) -> str:
    """Which end of header-less lines of 785 values holds the label, "first" or "last",
    from the values: a label column holds whole numbers from 0 to 9, more than one of
    them, while a pixel column goes up to 255 (or, for the corner pixels of digits, is
    0 throughout). Read the wrong way, the last pixel of Kaggle's train.csv becomes the
    label. When the values cannot tell, the label is last (nbengine's own layout), and
    a column that is not labels is reported line by line."""

    def labels(col: np.ndarray) -> bool:
        return col.size > 0 and col.max() < N_CLASSES and np.unique(col).size > 1

    first, last = labels(values[:, 0]), labels(values[:, -1])
    if first and last:
        raise DataError(
            path,
            Msg(
                "has no header, and both its first and its last column hold whole numbers from 0 "
                "to 9, so either could be the label: add a header line, 'label,pixel0,...,pixel783' "
                "or 'pixel0,...,pixel783,label'"
            ),
            line,
        )
    return "first" if first else "last"


def _parse_fast(data: bytes, layout: _Layout) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(pixels, labels, complete): the data lines read the vectorised way.

    A few thousand lines at a time (so memory stays bounded), it counts the commas of
    every line at once, lets NumPy's C parser read the numbers, and checks the ranges
    on whole arrays. It stops at the first chunk with anything irregular (a short
    line, a blank line, a word, a pixel of 300) and returns the lines before that
    chunk with complete=False; the line-by-line path takes over from there, finds the
    first bad line and says what is wrong with it.
    """
    b = np.frombuffer(data, dtype=np.uint8)
    line_ends = np.flatnonzero(b == ord("\n"))
    starts = np.concatenate(([0], line_ends + 1))
    ends = np.concatenate((line_ends, [len(data)]))
    n = starts.size
    pixels = np.empty((n, layout.n_cols - layout.labelled), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64) if layout.labelled else None
    for r0 in range(0, n, ROWS_PER_CHUNK):
        r1 = min(r0 + ROWS_PER_CHUNK, n)
        chunk = _parse_chunk(data, b, starts[r0], ends[r0:r1], layout)
        if chunk is None:
            return pixels[:r0], (None if labels is None else labels[:r0]), False
        pixels[r0:r1], y = chunk
        if labels is not None:
            labels[r0:r1] = y
    return pixels, labels, True


def _parse_chunk(data: bytes, b: np.ndarray, lo: int, ends: np.ndarray, layout: _Layout):
    """(pixels, labels) of the lines from byte lo to each of ends, or None if any is irregular."""
    n_cols, rows, hi = layout.n_cols, ends.size, ends[-1]
    # Every line must have n_cols - 1 commas: count those before each line's end.
    commas = np.flatnonzero(b[lo:hi] == ord(","))
    per_line = np.diff(np.searchsorted(commas, ends - lo), prepend=0)
    if np.any(per_line != n_cols - 1):
        return None
    try:
        with warnings.catch_warnings():
            # Older NumPy warns and returns what it read instead of raising.
            warnings.simplefilter("ignore", DeprecationWarning)
            # int64: a huge number saturates instead of wrapping round into 0..255
            values = np.fromstring(data[lo:hi].replace(b"\n", b","), dtype=np.int64, sep=",")
    except ValueError:  # a cell that is not a whole number
        return None
    if values.size != rows * n_cols:
        return None
    table = values.reshape(rows, n_cols)
    p = table[:, layout.pixel_cols]
    if p.min() < 0 or p.max() > 255:
        return None
    y = table[:, layout.label_col] if layout.labelled else None
    if y is not None and (y.min() < 0 or y.max() >= N_CLASSES):
        return None
    return p, y


def _parse_slow(lines: list[str], start: int, layout: _Layout, path: str, first: bool):
    """(pixels, labels) of lines[start:], line by line: blank lines skipped, any
    whole-number spelling accepted ("7.0"), and the first bad line reported with
    what is wrong. first: no data line has been read before lines[start]."""
    n_cols, pcols, lcol = layout.n_cols, layout.pixel_cols, layout.label_col
    first_pixel_col = pcols.start or 0
    rows: list[np.ndarray] = []
    labels: list[int] = []
    for i in range(start, len(lines)):
        line, lineno = lines[i], i + 1
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) == 1 and n_cols > 1:  # "found 0" would hide the value that is there
            want = {
                "first": N_("a label, then 784 pixel values"),
                "last": N_("784 pixel values, then the label"),
                None: N_("784 pixel values"),
            }[layout.label]
            raise DataError(
                path,
                Msg(
                    "the line holds one value, {value}; expected {want}, separated by commas",
                    value=repr(cells[0].strip()),
                    want=Msg(want),
                ),
                lineno,
            )
        if len(cells) != n_cols:
            found = len(cells) - (layout.label is not None)
            if first and not rows:  # the very first data line: perhaps not 28×28 images at all
                where = {
                    "first": N_("after the label"),
                    "last": N_("then the label"),
                    None: N_("and no label"),
                }[layout.label]
                problem = Msg(
                    "{n} pixel values expected, found {found} (a 28×28 image is 784 pixel values, {where})",
                    n=N_PIXELS,
                    found=found,
                    where=Msg(where),
                )
            else:
                problem = Msg("{n} pixel values expected, found {found}", n=N_PIXELS, found=found)
            raise DataError(path, problem, lineno)
        try:
            values = np.array(cells, dtype=np.float64)
        except ValueError:
            j = next(j for j, c in enumerate(cells) if not is_number(c))
            what = (
                Msg("the label")
                if layout.label and j == lcol
                else Msg("pixel {k}", k=j - first_pixel_col)
            )
            raise DataError(
                path,
                Msg(
                    "column {j} ({what}) is {cell}, not a number",
                    j=j + 1,
                    what=what,
                    cell=repr(cells[j].strip()),
                ),
                lineno,
            ) from None
        p = values[pcols]
        bad = ~((p >= 0) & (p <= 255) & (p == np.round(p)))  # NaN and inf fail every comparison
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise DataError(
                path,
                Msg(
                    "column {j} (pixel {k}) is {cell}, not a pixel value (a whole number from 0 "
                    "to 255)",
                    j=first_pixel_col + k + 1,
                    k=k,
                    cell=repr(cells[first_pixel_col + k].strip()),
                ),
                lineno,
            )
        if layout.label:
            y = values[lcol]
            if not (0 <= y < N_CLASSES and y == round(y)):
                raise DataError(
                    path,
                    Msg(
                        "label {cell} is not a class (a whole number from 0 to 9)",
                        cell=repr(cells[lcol].strip()),
                    ),
                    lineno,
                )
            labels.append(int(y))
        rows.append(p.astype(np.uint8))
    pixels = np.vstack(rows) if rows else np.empty((0, N_PIXELS), np.uint8)
    return pixels, (np.asarray(labels, dtype=np.int64) if layout.label else None)


def _text_lines(body: bytes, path: str, first_line: int = 1) -> list[str]:
    """The lines of body as text; bytes that are not UTF-8 are reported with their line."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        line = body[: e.start].count(b"\n") + first_line
        raise DataError(path, Msg("is not text (is it a CSV file?)"), line) from None
    return text.split("\n")


def _csv_images(body: bytes, path: str) -> Images:
    if body.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark, as some editors write
        body = body[3:]
    if b"\r" in body:  # Windows (\r\n) and old Mac (\r) line endings, as in an editor
        body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not body or body.isspace():
        raise DataError(path, Msg("the file is empty"))

    # The first non-blank line: a header, or already data.
    lineno, pos = 0, 0
    while True:
        end = body.find(b"\n", pos)
        end = len(body) if end == -1 else end
        if body[pos:end].strip():
            break
        lineno, pos = lineno + 1, end + 1
    layout = _layout(_text_lines(body[pos:end], path, lineno + 1)[0], lineno, path)

    data = body[end + 1 if layout.data_line > lineno else pos :].rstrip()
    if not data:
        raise DataError(path, Msg("has a header but no data lines"))
    if layout.label == "either":
        # the regular lines, each 785 values from 0 to 255
        values, _, complete = _parse_fast(data, layout)
        layout = _Layout(_label_column(values, path, layout.data_line + 1), layout.data_line)
        col = layout.label_col
        if complete and values[:, col].max() < N_CLASSES:
            return Images(
                np.ascontiguousarray(values[:, layout.pixel_cols]).reshape(-1, SIDE, SIDE),
                values[:, col].astype(np.int64),
                path,
                list(DIGITS),
            )
        # else read again, knowing the layout, to report the first bad line as such
    pixels, labels, complete = _parse_fast(data, layout)
    if not complete:  # something is wrong (or merely irregular): line by line from where it stopped
        done = len(pixels)  # the fast path's rows are the lines from layout.data_line on, one each
        more, more_labels = _parse_slow(
            _text_lines(body, path), layout.data_line + done, layout, path, done == 0
        )
        pixels = np.concatenate([pixels, more])
        labels = None if labels is None else np.concatenate([labels, more_labels])
    if len(pixels) == 0:
        raise DataError(path, Msg("has a header but no data lines"))
    return Images(pixels.reshape(-1, SIDE, SIDE), labels, path, list(DIGITS))


def load_image_csv(path: str | os.PathLike) -> Images:
    """Images from a CSV file (plain or gzip): Kaggle's train.csv or test.csv, or
    nbengine's layout of 784 pixels then the label, told apart by the first line."""
    path = os.fspath(path)
    return _csv_images(read_file_bytes(path), path)


# -- names, files and folders ------------------------------------------------------------------


def _not_fetched(name: str, cache_dir, missing: list[str]) -> DataError:
    spec = FETCHABLE[name]
    folder = dataset_folder(name, cache_dir)
    option = f" --cache-dir {cache_dir}" if cache_dir else ""
    state = (
        Msg("not downloaded yet")
        if len(missing) == len(spec.files)
        else Msg("incomplete (missing {files})", files=", ".join(missing))
    )
    return DataError(
        name,
        Msg(
            "{state}: `nbengine data fetch {command}` downloads it ({size}) into {folder}; the "
            "5,000 digits of `{default}` ship with nbengine and need no download",
            state=state,
            command=name + option,
            size=spec.size,
            folder=folder,
            default=DEFAULT,
        ),
    )


def _load(ref: str, cache_dir) -> tuple[str, Images | tuple[Images, Images]]:
    """(name, images) for a ref; images is one set, or (train, test) for an official split."""
    ref = os.fspath(ref)
    if ref in SHIPPED_IMAGES:
        images = load_image_csv(shipped_path(ref))
        images.class_names = list(SHIPPED_IMAGES[ref].class_names)
        return ref, images
    if ref in FETCHABLE:
        missing = missing_files(ref, cache_dir)
        if missing:
            raise _not_fetched(ref, cache_dir, missing)
        return ref, load_idx_folder(dataset_folder(ref, cache_dir), FETCHABLE[ref].class_names)
    if not os.path.exists(ref):
        if ref in SHIPPED:
            problem = Msg("is a table of features (for logreg), not images")
        else:
            problem = Msg("no such file or folder")
        names = list(FETCHABLE)
        raise DataError(
            ref,
            Msg(
                "{problem}; image sets: {default} (ships with nbengine), {fetchable} "
                "(`nbengine data fetch NAME`), or a CSV or IDX file",
                problem=problem,
                default=DEFAULT,
                fetchable=Msg("{names} and {last}", names=", ".join(names[:-1]), last=names[-1])
                if len(names) > 1
                else names[0],
            ),
        )
    name = os.path.basename(os.path.normpath(ref))
    if os.path.isdir(ref):
        return name, load_idx_folder(ref)
    data = read_file_bytes(ref)
    # Every IDX file starts with two zero bytes; text never holds a zero byte. A file named
    # like MNIST's (train-images-idx3-ubyte) or with a zero byte in its first four is read
    # as IDX too, so a wrong magic number is reported as such, not as text that is not CSV.
    if data[:2] == b"\0\0" or b"\0" in data[:4] or re.search(r"idx\d", name):
        return name, _idx_images(data, ref, labels_beside(ref), DIGITS)
    return name, _csv_images(data, ref)


def files_read(ref: str, cache_dir: str | os.PathLike | None = None) -> list[str]:
    """The files :func:`load_images` reads for a ref (those that exist): so a command can
    refuse, before any work, an output that would replace one of them."""
    ref = os.fspath(ref)
    if ref in SHIPPED_IMAGES:
        return [shipped_path(ref)]
    folder = (
        dataset_folder(ref, cache_dir) if ref in FETCHABLE else ref if os.path.isdir(ref) else None
    )
    if folder is not None:
        return [p for p in (_standard_file(os.fspath(folder), name) for name in MNIST_FILES) if p]
    if not os.path.exists(ref):
        return []
    labels = labels_beside(ref)
    return [ref] if labels is None else [ref, labels]


def require_classes(images: Images) -> None:
    """Refuse images to train on whose labels take a single value: a network learns
    nothing from them but to answer that value, and its test accuracy is then 1.0. It
    is what a file whose label column was misread looks like."""
    if images.labels is None:
        raise DataError(
            images.source, Msg("has no labels: there is nothing to train on (is it a test file?)")
        )
    values = np.unique(images.labels)
    if values.size < 2:
        raise DataError(
            images.source,
            Msg(
                "every label of its {n} training images is {value}: there is nothing to "
                "learn from one class (is the label in another column?)",
                n=format(len(images), ","),
                value=values[0],
            ),
        )


def load_images(ref: str, cache_dir: str | os.PathLike | None = None) -> Images:
    """All the images of a ref (see the module's docstring): a fetched set's training
    images followed by its test images."""
    _, images = _load(ref, cache_dir)
    if isinstance(images, Images):
        return images
    train, test = images
    return train.then(test)


def load_split(
    ref: str, seed: int = 0, test_fraction: float = 0.2, cache_dir: str | os.PathLike | None = None
) -> ImageSplit:
    """Training and test images of a ref.

    MNIST and Fashion-MNIST (fetched, or a folder of their four files) come with an
    official split of 60,000 and 10,000 images; seed and test_fraction are then unused.
    Any other labelled source is split with stratified_split: each class keeps its
    share in both parts, and the same seed gives the same split (mnist_5k: 4,000
    training and 1,000 test images, 100 of each digit).
    """
    name, images = _load(ref, cache_dir)
    if not isinstance(images, Images):
        train, test = images
        return ImageSplit(
            name,
            train,
            test,
            Msg(
                "{name}: {train:,} train / {test:,} test, the official split",
                name=name,
                train=len(train),
                test=len(test),
            ),
        )
    if images.labels is None:
        raise UnlabelledError(
            images.source,
            Msg(
                "has no labels (like Kaggle's test.csv), so it has no training "
                "and test split; it can only be looked at or predicted on"
            ),
        )
    train_index, test_index = stratified_split(images.labels, test_fraction, seed)
    if len(train_index) == 0 or len(test_index) == 0:
        raise DataError(
            images.source,
            Msg(
                "has too few images ({n}) for both a training and a test part with a "
                "test fraction of {fraction}",
                n=len(images),
                fraction=format(test_fraction, "g"),
            ),
        )
    return ImageSplit(
        name,
        images.subset(train_index),
        images.subset(test_index),
        Msg(
            "{name}: {train:,} train / {test:,} test, stratified split, seed {seed}",
            name=name,
            train=len(train_index),
            test=len(test_index),
            seed=seed,
        ),
        train_index,
        test_index,
    )
