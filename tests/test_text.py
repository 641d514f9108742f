"""Text corpora for the language models: Markdown stripping, the shipped Shakespeare and
its fixed split, tokens, the vocabulary, PTB from a folder, and truncated-BPTT batches."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from nbengine.data.registry import PTB_FILES, shipped_path
from nbengine.data.text import (
    EOS,
    TOY_SENTENCE,
    UNK,
    Corpus,
    UnknownTokenError,
    Vocabulary,
    bptt_batches,
    build_shakespeare,
    load_corpus,
    markdown_to_text,
    read_text,
    split_lines,
    tokenize,
    window_batches,
    write_text_gz,
)
from nbengine.errors import DataError, NBEngineError

SHAKESPEARE_MD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "shakespeare"
SHIPPED_SHA256 = "7965866cf5de5b56fbfc73135d14227c4120d06454f4cc489154b0c903a040db"

PLAY = """# Hamlet

## ACT I

### SCENE I. Elsinore. A platform before the castle.

_FRANCISCO at his post. Enter to him BERNARDO_

**BERNARDO**  
Who's there?



**FRANCISCO**  
Nay, answer me: stand, and unfold yourself.  
_\\[Aside]_ 'Tis bitter cold,  
\\--and I am sick at heart &amp; c.

*Enter HORATIO and
MARCELLUS.*

__\\[Awaking]_  
#### SCENE II. A room of state.

"""

PLAY_TEXT = """Hamlet

ACT I

SCENE I. Elsinore. A platform before the castle.

FRANCISCO at his post. Enter to him BERNARDO

BERNARDO
Who's there?

FRANCISCO
Nay, answer me: stand, and unfold yourself.
[Aside] 'Tis bitter cold,
--and I am sick at heart & c.

Enter HORATIO and
MARCELLUS.

[Awaking]
SCENE II. A room of state.
"""

PTB = {  # tiny stand-ins for the three files, in PTB's own layout (a space at each end of a line)
    "ptb.train.txt": " the cat sat on the mat \n the dog sat <unk> \n a cat ran \n",
    "ptb.valid.txt": " the bird sat \n",
    "ptb.test.txt": " a dog ran on the mat \n",
}


def one_line_error(excinfo, *parts: str) -> str:
    message = str(excinfo.value)
    assert (
        "\n" not in message
        and isinstance(excinfo.value, DataError)
        and excinfo.value.exit_code == 2
    )
    for part in parts:
        assert part in message, message
    return message


@pytest.fixture(scope="module")
def shakespeare() -> Corpus:
    return load_corpus("shakespeare")


@pytest.fixture
def ptb_folder(tmp_path) -> Path:
    folder = tmp_path / "ptb-here"
    folder.mkdir()
    for name, text in PTB.items():
        (folder / name).write_text(text)
    return folder


# -- Markdown to plain text ---------------------------------------------------------------------------


def test_markdown_is_stripped_line_for_line():
    assert markdown_to_text(PLAY) == PLAY_TEXT


def test_markdown_with_windows_line_ends_and_nothing_in_it():
    assert markdown_to_text(PLAY.replace("\n", "\r\n")) == PLAY_TEXT
    assert markdown_to_text("\n\n  \n") == ""


def test_a_folder_of_plays_becomes_one_text_in_file_name_order(tmp_path):
    (tmp_path / "b-play.md").write_text("# B\n\n**X**  \nbee\n")
    (tmp_path / "a-play.md").write_text(PLAY)
    assert build_shakespeare(tmp_path) == PLAY_TEXT + "\nB\n\nX\nbee\n"
    with pytest.raises(DataError) as e:
        build_shakespeare(tmp_path / "a-play.md")
    one_line_error(e, "has no plays")


def test_the_gzip_file_is_the_same_bytes_every_time(tmp_path):
    write_text_gz("héllo\n", tmp_path / "a.txt.gz")
    write_text_gz("héllo\n", tmp_path / "b.txt.gz")
    assert (tmp_path / "a.txt.gz").read_bytes() == (tmp_path / "b.txt.gz").read_bytes()
    assert gzip.decompress((tmp_path / "a.txt.gz").read_bytes()).decode() == "héllo\n"


@pytest.mark.skipif(
    not SHAKESPEARE_MD.is_dir(), reason="the plays' Markdown is not beside the repository"
)
def test_the_shipped_file_is_what_the_plays_make(tmp_path):
    write_text_gz(build_shakespeare(SHAKESPEARE_MD), tmp_path / "s.txt.gz")
    assert hashlib.sha256((tmp_path / "s.txt.gz").read_bytes()).hexdigest() == SHIPPED_SHA256


# -- the shipped Shakespeare --------------------------------------------------------------------------


def test_the_shipped_file_is_plain_text():
    data = Path(shipped_path("shakespeare")).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHIPPED_SHA256
    text = gzip.decompress(data).decode("utf-8")
    assert len(text.encode()) == 4_955_713 and text.count("\n") == 188_942
    for mark in ("*", "_", "#", "\\", "&amp;", "\n\n\n", " \n"):
        assert mark not in text
    assert text.startswith(
        "A Midsummer Night's Dream\n\nACT I\n\nSCENE I. Athens. The palace of THESEUS.\n"
    )
    assert (
        "\nHamlet\n\nACT I\n" in text
        and "HAMLET\nTo be, or not to be: that is the question:\n" in text
    )


def test_the_split_is_by_position_90_5_5():
    text = read_text(shipped_path("shakespeare"))
    train, valid, test = split_lines(text)
    assert [p.count("\n") for p in (train, valid, test)] == [170_048, 9_447, 9_447]
    assert train + valid + test == text
    assert test.endswith("Exeunt\n")  # the last line of Two Gentlemen of Verona


def test_shakespeare_words(shakespeare):
    c = shakespeare
    assert (c.name, c.level) == ("shakespeare", "word")
    assert (len(c.train), len(c.valid), len(c.test)) == (1_163_068, 64_431, 60_493)
    # <unk> for words valid and test have but train lacks
    assert len(c.vocab) == 24_436 and c.vocab.unk == UNK
    assert c.vocab.tokens[:4] == [EOS, ",", ".", "the"]  # by frequency
    assert c.description == (
        "shakespeare, words: 1,163,068 train / 64,431 valid / 60,493 test tokens, "
        "vocabulary 24,436 (with <unk> for tokens training never saw); "
        "lines split 90/5/5 by position"
    )
    assert all(a.dtype == np.int64 and a.ndim == 1 for a in (c.train, c.valid, c.test))
    assert c.join(c.train[:15]) == "a midsummer night's dream\n\nact i\n\nscene i . athens ."
    assert int(c.train.max()) < len(c.vocab) and (c.train != c.vocab.id(UNK)).all()


def test_shakespeare_is_the_same_every_time_and_can_be_capped(shakespeare):
    capped = load_corpus("shakespeare", vocab_size=10_000)
    assert len(capped.vocab) == 10_000 and capped.vocab.unk == UNK
    assert "vocabulary 10,000 (capped from 24,435: <unk> for the rest)" in capped.description
    # the 9,999 most frequent words keep their order; every other word is <unk>
    kept = [t for t in shakespeare.vocab.tokens if t != UNK][:9_999]
    assert [t for t in capped.vocab.tokens if t != UNK] == kept
    words = shakespeare.vocab.decode(shakespeare.train[:5000])
    assert capped.vocab.decode(capped.train[:5000]) == [w if w in kept else UNK for w in words]


def test_shakespeare_characters():
    c = load_corpus("shakespeare", "char")
    assert (len(c.train), len(c.valid), len(c.test)) == (4_482_150, 248_860, 224_575)
    assert len(c.vocab) == 80 and c.vocab.unk is None
    assert c.vocab.tokens[:3] == [" ", "e", "t"] and "\n" in c.vocab
    assert c.join(c.train[:25]) == "A Midsummer Night's Dream"
    again = load_corpus("shakespeare", "char")
    assert again.vocab == c.vocab and np.array_equal(again.test, c.test)


# -- tokens -------------------------------------------------------------------------------------------


def test_word_tokens():
    assert tokenize(TOY_SENTENCE, "word") == [
        "you",
        "say",
        "goodbye",
        "and",
        "i",
        "say",
        "hello",
        ".",
    ]
    assert tokenize("O'er the hills, 'tis far!\nGo... now--quick; don't.", "word") == [
        "o'er",
        "the",
        "hills",
        ",",
        "'",
        "tis",
        "far",
        "!",
        EOS,
        "go",
        "...",
        "now",
        "--",
        "quick",
        ";",
        "don't",
        ".",
    ]
    assert tokenize("'Let him roar again,'\n\nbare-faced [Aside] 1599", "word") == [
        "'",
        "let",
        "him",
        "roar",
        "again",
        ",",
        "'",
        EOS,
        EOS,
        "bare",
        "-",
        "faced",
        "[",
        "aside",
        "]",
        "1599",
    ]
    assert tokenize("a <unk> b <eos>\n", "word") == ["a", UNK, "b", EOS, EOS]
    assert tokenize("", "word") == [] and tokenize("\n", "word") == [EOS]


def test_word_tokens_in_korean_split_at_spaces_and_punctuation():
    assert tokenize("안녕하세요, 세계!\n", "word") == ["안녕하세요", ",", "세계", "!", EOS]


def test_character_tokens_keep_everything():
    assert tokenize("Hi, 안녕!\n", "char") == ["H", "i", ",", " ", "안", "녕", "!", "\n"]
    with pytest.raises(ValueError, match="level must be 'word' or 'char'"):
        tokenize("x", "sentence")


# -- the vocabulary -----------------------------------------------------------------------------------


def test_vocabulary_by_frequency_ties_in_order_of_first_use():
    v = Vocabulary.build("b a c a b d".split())
    assert v.tokens == ["b", "a", "c", "d"] and v.unk is None and len(v) == 4
    assert Vocabulary.build("b a c a b d".split()) == v  # the same text, the same ids


def test_vocabulary_cap_keeps_the_most_frequent_and_adds_unk():
    v = Vocabulary.build("a a a b b c d e".split(), max_size=3)
    # a (3) and b (2) are kept; c, d and e (1 each) become <unk>, which counts 3 and comes first
    assert v.tokens == ["a", UNK, "b"] and v.unk == UNK
    assert v.encode("a c b z".split()).tolist() == [0, 1, 2, 1]
    # nothing dropped, no <unk>
    assert Vocabulary.build("a b".split(), max_size=2).tokens == ["a", "b"]
    assert Vocabulary.build("a b".split(), need_unk=True).tokens == ["a", "b", UNK]
    assert Vocabulary.build(["a", UNK, UNK, "b"]).tokens == [UNK, "a", "b"]  # a corpus's own <unk>
    with pytest.raises(ValueError, match="at least 2"):
        Vocabulary.build(["a"], max_size=1)


def test_encode_decode_round_trip_and_json():
    v = Vocabulary.build(tokenize(TOY_SENTENCE, "word"))
    tokens = tokenize("I say hello and goodbye.", "word")
    ids = v.encode(tokens)
    assert ids.dtype == np.int64 and v.decode(ids) == tokens
    assert v.decode(ids.reshape(1, -1)) == tokens and v.decode([]) == []
    assert v.id("say") == 0 and v.tokens[v.id("hello")] == "hello"
    back = Vocabulary.from_json(v.to_json())
    assert back == v and back.tokens == v.tokens and back.unk is None
    assert Vocabulary.from_json(["x", UNK]).unk == UNK


def test_vocabulary_errors():
    v = Vocabulary(["a", "b"])
    with pytest.raises(UnknownTokenError) as e:
        v.encode(["a", "zebra"])
    assert str(e.value) == "'zebra' is not in the vocabulary (which has no <unk>)"
    assert isinstance(e.value, KeyError) and isinstance(e.value, NBEngineError)
    with pytest.raises(KeyError):
        v.id("zebra")
    with pytest.raises(IndexError, match=r"id 2 is outside the vocabulary \(ids 0 to 1\)"):
        v.decode([0, 2])
    with pytest.raises(IndexError, match="id -1"):
        v.decode([-1])
    with pytest.raises(ValueError, match="appears twice"):
        Vocabulary.from_json(["a", "b", "a"])
    with pytest.raises(ValueError, match="not a string"):
        Vocabulary.from_json(["a", 3])
    with pytest.raises(ValueError, match="list of tokens"):
        Vocabulary.from_json("ab")


# -- the toy sentence ---------------------------------------------------------------------------------


def test_toy_corpus_is_the_lesson_sentence():
    c = load_corpus("toy")
    assert sorted(c.vocab.tokens) == sorted(["you", "say", "goodbye", "and", "i", "hello", "."])
    assert len(c.vocab) == 7 and c.vocab.unk is None
    assert c.vocab.decode(c.train) == ["you", "say", "goodbye", "and", "i", "say", "hello", "."]
    assert np.array_equal(c.train, c.valid) and np.array_equal(c.train, c.test)
    assert c.join(c.train) == "you say goodbye and i say hello ."
    assert c.description.startswith("toy, words: 8 train / 8 valid / 8 test tokens, vocabulary 7")


def test_toy_corpus_in_characters():
    c = load_corpus("toy", "char")
    assert c.join(c.train) == TOY_SENTENCE and len(c.train) == 32 and len(c.vocab) == 16


def test_join_shows_eos_as_a_line_break():
    c = load_corpus("toy")
    assert c.join(["to", "be", EOS, "or", "not", EOS]) == "to be\nor not\n"


# -- the Penn Treebank --------------------------------------------------------------------------------


def test_a_ptb_folder_reads_each_line_plus_eos(ptb_folder):
    c = load_corpus(str(ptb_folder))
    assert c.name == "ptb-here" and c.level == "word"
    assert (
        c.vocab.decode(c.train)
        == ("the cat sat on the mat <eos> the dog sat <unk> <eos> a cat ran <eos>").split()
    )
    # "bird" is not in training: <unk>, which the corpus has anyway
    assert c.vocab.decode(c.valid) == ["the", UNK, "sat", EOS]
    assert c.vocab.decode(c.test) == "a dog ran on the mat <eos>".split()
    assert c.vocab.tokens[:4] == ["the", EOS, "cat", "sat"] and c.vocab.unk == UNK
    assert (
        c.description
        == "ptb-here, words: 16 train / 4 valid / 7 test tokens, vocabulary 10 (with <unk>)"
    )


def test_a_ptb_folder_capped(ptb_folder):
    c = load_corpus(ptb_folder, vocab_size=4)
    assert c.vocab.tokens == [UNK, "the", EOS, "cat"]
    assert c.vocab.decode(c.valid) == ["the", UNK, UNK, EOS]


def test_ptb_by_name_once_fetched(tmp_path, ptb_folder):
    with pytest.raises(DataError) as e:
        load_corpus("ptb", cache_dir=tmp_path)
    one_line_error(
        e, "ptb: not downloaded yet: `nbengine data fetch ptb --cache-dir", str(tmp_path / "ptb")
    )
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "ptb.train.txt").write_text(PTB["ptb.train.txt"])
    with pytest.raises(DataError) as e:
        load_corpus("ptb", cache_dir=tmp_path)
    one_line_error(e, "incomplete (missing ptb.valid.txt, ptb.test.txt)")
    for name in PTB_FILES[1:]:
        (tmp_path / "ptb" / name).write_text(PTB[name])
    c = load_corpus("ptb", cache_dir=tmp_path)
    assert c.name == "ptb" and len(c.train) == 16 and len(c.vocab) == 10


def test_ptb_in_characters(ptb_folder):
    c = load_corpus(ptb_folder, "char")
    assert c.join(c.test) == PTB["ptb.test.txt"]
    assert c.join(c.valid) == " the <unk><unk>rd sat \n"  # b and i are not in the training text


def test_a_folder_without_the_ptb_files(ptb_folder):
    (ptb_folder / "ptb.test.txt").unlink()
    with pytest.raises(DataError) as e:
        load_corpus(ptb_folder)
    one_line_error(e, f"{ptb_folder}: is a folder without ptb.test.txt")
    (ptb_folder / "ptb.test.txt").write_text("")
    with pytest.raises(DataError) as e:
        load_corpus(ptb_folder)
    one_line_error(e, f"{ptb_folder / 'ptb.test.txt'}: is empty")


# -- any text file ------------------------------------------------------------------------------------


def test_a_korean_text_file_at_character_level(tmp_path):
    lines = [f"{i}번째 줄: 안녕하세요, 세계!" for i in range(40)]
    path = tmp_path / "korean.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    c = load_corpus(str(path), "char")
    # 40 lines: valid and test get 40 * 5 // 100 = 2 lines each, train the first 36
    assert c.join(c.train) == "".join(line + "\n" for line in lines[:36])
    assert c.join(c.valid) == lines[36] + "\n" + lines[37] + "\n"
    assert c.join(c.test) == lines[38] + "\n" + lines[39] + "\n"
    assert c.vocab.unk is None and "안" in c.vocab and "\n" in c.vocab and " " in c.vocab
    assert c.vocab.decode(c.train[:6]) == ["0", "번", "째", " ", "줄", ":"]
    assert c.name == "korean.txt" and c.description.startswith("korean.txt, characters: ")


def test_korean_test_split_has_unseen_characters(tmp_path):
    lines = ["안녕하세요"] * 36 + ["안녕", "안녕", "새 글", "끝"]
    path = tmp_path / "k.txt"
    path.write_text("\n".join(lines), encoding="utf-8")  # no line break at the end: one is added
    c = load_corpus(path, "char")
    assert c.join(c.valid) == "안녕\n안녕\n"
    assert c.vocab.decode(c.test) == [
        UNK,
        UNK,
        UNK,
        "\n",
        UNK,
        "\n",
    ]  # 새, space, 글, 끝: never seen
    assert c.vocab.unk == UNK and c.vocab.tokens[-1] == UNK
    assert "(with <unk> for tokens training never saw)" in c.description


def test_a_text_file_word_level_and_gzip(tmp_path):
    text = "".join(f"Line {i}, said he.\n" for i in range(20))
    (tmp_path / "t.txt").write_text(text)
    write_text_gz(text, tmp_path / "t.txt.gz")
    plain, packed = load_corpus(tmp_path / "t.txt"), load_corpus(tmp_path / "t.txt.gz")
    assert plain.vocab == packed.vocab and np.array_equal(plain.train, packed.train)
    assert plain.join(plain.valid) == "line <unk> , said he .\n"  # 18 is not a training word
    assert plain.vocab.decode(plain.test) == ["line", UNK, ",", "said", "he", ".", EOS]


def test_windows_line_ends_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "w.txt"
    path.write_bytes(b"\xef\xbb\xbfab\r\nba\rab")
    c = load_corpus(path, "char")
    assert [c.join(s) for s in (c.train, c.valid, c.test)] == ["ab\n", "ba\n", "ab\n"]


# -- bad input: one clear line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content,problem",
    [
        (b"", "is empty"),
        (b" \n\n\t\n", "has no text, only white space"),
        (
            b"one line\ntwo lines\n",
            "has 2 lines; at least 3 are needed to split it into train, valid and test",
        ),
    ],
)
def test_bad_text_files(tmp_path, content, problem):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError) as e:
        load_corpus(path)
    assert one_line_error(e) == f"{path}: {problem}"


def test_a_file_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("first\nsecond\ncafé au lait\n".encode("latin-1"))
    with pytest.raises(DataError) as e:
        load_corpus(path)
    assert one_line_error(e) == f"{path}:3: is not UTF-8 text (byte 0xe9 cannot be decoded)"
    assert e.value.line == 3


def test_a_broken_gzip_file(tmp_path):
    path = tmp_path / "t.txt.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError) as e:
        load_corpus(path)
    one_line_error(e, f"{path}: is not a valid gzip file")


def test_no_such_corpus(tmp_path):
    with pytest.raises(DataError) as e:
        load_corpus(str(tmp_path / "nothing.txt"))
    one_line_error(e, "nothing.txt: no such file or folder; corpora: toy and shakespeare")


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="level must be"):
        load_corpus("toy", "words")
    with pytest.raises(ValueError, match="vocab_size must be at least 2"):
        load_corpus("toy", vocab_size=1)


# -- batches for truncated BPTT -----------------------------------------------------------------------


def test_bptt_batches_worked_example():
    batches = list(bptt_batches(np.arange(20), batch_size=2, time_size=3))
    assert len(batches) == 3  # 20 // (2 * 3)
    xs, ts = batches[0]
    assert xs.tolist() == [[0, 1, 2], [10, 11, 12]] and ts.tolist() == [[1, 2, 3], [11, 12, 13]]
    assert batches[1][0].tolist() == [[3, 4, 5], [13, 14, 15]]
    assert batches[2][0].tolist() == [[6, 7, 8], [16, 17, 18]]
    assert batches[2][1].tolist() == [[7, 8, 9], [17, 18, 19]]
    assert all(x.dtype == np.int64 and x.shape == (2, 3) and t.shape == (2, 3) for x, t in batches)


def test_bptt_rows_continue_and_targets_are_the_next_token():
    ids = np.random.default_rng(0).integers(0, 50, 1003)
    batches = list(bptt_batches(ids, batch_size=4, time_size=7))
    assert len(batches) == 1003 // 28
    rows = np.concatenate([x for x, _ in batches], axis=1)  # stream i, read batch after batch
    targets = np.concatenate([t for _, t in batches], axis=1)
    jump = 1003 // 4
    for i in range(4):
        assert np.array_equal(rows[i], ids[i * jump : i * jump + rows.shape[1]])
        assert np.array_equal(targets[i], ids[i * jump + 1 : i * jump + 1 + rows.shape[1]])


def test_bptt_the_last_target_wraps_when_the_streams_fill_the_sequence():
    (x0, t0), (x1, t1) = bptt_batches(np.arange(20), batch_size=2, time_size=5)
    assert x1.tolist() == [[5, 6, 7, 8, 9], [15, 16, 17, 18, 19]]
    assert t1.tolist() == [[6, 7, 8, 9, 10], [16, 17, 18, 19, 0]]


def test_bptt_on_a_corpus(shakespeare):
    xs, ts = next(bptt_batches(shakespeare.train, 20, 35))
    assert xs.shape == (20, 35) and np.array_equal(xs[:, 1:], ts[:, :-1])


def test_bptt_too_short_is_checked_at_once():
    with pytest.raises(DataError) as e:
        bptt_batches(np.arange(10), batch_size=4, time_size=3, name="toy (valid)")
    assert one_line_error(e) == (
        "toy (valid): 10 tokens are too few for one batch of 4 × 3 = 12 tokens; "
        "use a smaller batch size or time size"
    )
    with pytest.raises(ValueError, match="at least 1"):
        bptt_batches(np.arange(10), batch_size=0, time_size=3)


def test_a_text_corpus_is_not_a_table():
    from nbengine.data.registry import resolve

    for name in ("shakespeare", "ptb", "toy"):
        with pytest.raises(
            DataError, match=f"^{name}: is a text corpus \\(for the language models\\), not a table"
        ):
            resolve(name)


def test_window_batches_worked_example():
    got = [(xs.tolist(), ts.tolist()) for xs, ts in window_batches(np.arange(10), 2, 4)]
    assert got == [
        ([[0, 1, 2, 3], [2, 3, 4, 5]], [[1, 2, 3, 4], [-1, -1, 5, 6]]),
        ([[4, 5, 6, 7], [5, 6, 7, 8]], [[-1, -1, 7, 8], [-1, -1, -1, 9]]),
    ]


@pytest.mark.parametrize(
    "n, batch, time", [(2, 1, 5), (3, 4, 4), (10, 3, 1), (101, 4, 7), (200, 5, 64), (65, 2, 64)]
)
def test_window_batches_predict_every_next_token_once_from_enough_context(n, batch, time):
    ids = np.random.default_rng(n).integers(0, 1000, n)
    predicted = []
    for xs, ts in window_batches(ids, batch, time):
        T = xs.shape[1]
        assert xs.shape == ts.shape and xs.shape[0] <= batch and T == min(time, n - 1)
        for x, t in zip(xs, ts):
            counted = np.flatnonzero(t >= 0)
            # a window's last part
            assert counted.size and np.all(np.diff(counted) == 1) and counted[-1] == T - 1
            predicted.extend(t[counted].tolist())
            # not the first window: at least T - ceil(T/2) ids before each
            if len(predicted) > counted.size:
                assert counted[0] >= T - (T + 1) // 2
            # each counted target is the id after its input, as in the text
            row = ids.tolist()
            start = next(i for i in range(n - T + 1) if row[i : i + T] == x.tolist())
            assert t[counted].tolist() == row[start + 1 + counted[0] : start + 1 + T]
    assert predicted == ids[1:].tolist()


def test_window_batches_refuse_a_text_with_nothing_to_predict():
    with pytest.raises(DataError, match="valid"):
        window_batches(np.array([3]), 2, 4, name="valid")
