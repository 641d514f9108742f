"""The CSV loader, the shipped data set, splits, scaling and --data resolution."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbengine.data.csv import load_labelled_csv
from nbengine.data.registry import SHIPPED, resolve, shipped_path
from nbengine.data.split import Standardizer, stratified_split
from nbengine.data.tabular import load_binary_table
from nbengine.errors import DataError


def write(folder, content, name="bad.csv"):
    path = os.path.join(os.fspath(folder), name)
    with open(path, "wb") as f:
        f.write(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def data_error(path, n_classes=2) -> DataError:
    with pytest.raises(DataError) as err:
        load_labelled_csv(path, n_classes=n_classes)
    e = err.value
    assert e.exit_code == 2
    assert str(e).startswith(os.fspath(path) + ":")
    return e


# -- the shipped data set ------------------------------------------------------------------


def test_shipped_breast_cancer_loads():
    name, path = resolve("breast_cancer")
    assert name == "breast_cancer" and os.path.isfile(path)
    d = load_labelled_csv(path, n_classes=2)
    assert d.x.shape == (569, 30) and d.x.dtype == np.float64
    assert d.y.shape == (569,) and d.y.dtype == np.int64
    assert d.n_features == 30
    assert d.class_names == ["malignant", "benign"]
    assert np.bincount(d.y).tolist() == [212, 357]
    assert np.all(np.isfinite(d.x))
    # first row of the file
    assert d.x[0, 0] == 17.99 and d.x[0, 3] == 1001.0 and d.y[0] == 0


def test_load_binary_table_uses_the_registry_feature_names_and_splits():
    t = load_binary_table("breast_cancer")
    assert t.name == "breast_cancer"
    assert t.data.feature_names == list(SHIPPED["breast_cancer"].feature_names)
    assert len(t.data.feature_names) == 30 and t.data.feature_names[0] == "mean radius"
    assert len(t.test_idx) == round(0.2 * 212) + round(0.2 * 357)
    assert len(t.train_idx) + len(t.test_idx) == 569
    assert t.x_train.shape == (len(t.train_idx), 30)
    assert np.bincount(t.y_test).tolist() == [round(0.2 * 212), round(0.2 * 357)]


# -- bad inputs --------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    e = data_error(tmp_path / "nope.csv")
    assert "no such file" in str(e) and e.line is None


def test_directory(tmp_path):
    e = data_error(tmp_path)
    assert "is a directory" in str(e)


@pytest.mark.parametrize("content", ["", "   \n\n\t \r\n", "\ufeff"])
def test_empty_and_whitespace_only_files(tmp_path, content):
    e = data_error(write(tmp_path, content))
    assert "empty" in str(e)


@pytest.mark.parametrize(
    "content,line,words",
    [
        # too few columns, after a header of names
        ("a,b,label\n1,2,0\n3,4,1\n5,6\n7,8,1\n", 4, ["has 2 columns", "expected 3"]),
        # too many columns, no header
        ("1,2,0\n3,4,1\n5,6,7,0\n", 3, ["has 4 columns", "expected 3"]),
        # a header naming more columns than the data has
        ("a,b,c,label\n1,2,0\n", 2, ["has 3 columns", "header names 4"]),
        # a count header announcing other features than the data has
        ("2,3,neg,pos\n1,2,0\n3,4,1\n", 2, ["3 features"]),
        # a single column cannot hold a feature and a label
        ("1\n0\n", 1, ["at least one feature"]),
        ("1,2,0\n3,abc,1\n", 2, ["column 2 is 'abc', not a number"]),
        ("1,2,0\n3,4,1\n,5,0\n", 3, ["column 1 is '', not a number"]),
        ("a,b,label\n1,2,0\n3,4,1\n5,nan,0\n", 4, ["column 2 is 'nan', not a finite number"]),
        ("1,2,0\ninf,4,1\n", 2, ["column 1 is 'inf', not a finite number"]),
        ("1,2,0\n3,-inf,1\n", 2, ["column 2 is '-inf', not a finite number"]),
        ("1,2,0\n3,1e999,1\n", 2, ["column 2 is '1e999', not a finite number"]),
        # blank lines are skipped but still counted
        ("1,2,0\n\n\n3,x,1\n", 4, ["'x'"]),
        # Windows and old-Mac line endings
        ("1,2,0\r\n3,4,1\r\n5,y,0\r\n", 3, ["'y'"]),
        ("1,2,0\r3,4,1\r5,y,0\r", 3, ["'y'"]),
    ],
)
def test_malformed_lines_name_the_line(tmp_path, content, line, words):
    path = write(tmp_path, content)
    e = data_error(path)
    assert str(e).startswith(f"{path}:{line}: ")
    assert e.line == line
    for w in words:
        assert w in str(e)


@pytest.mark.parametrize("label", ["2", "-1", "0.5", "x", "nan", "inf", "1e20", "", "one"])
def test_labels_other_than_0_and_1_are_refused(tmp_path, label):
    path = write(tmp_path, f"a,b,label\n1,2,0\n3,4,{label}\n5,6,1\n")
    e = data_error(path)
    assert str(e).startswith(f"{path}:3: label ")
    assert repr(label) in str(e)


def test_label_2_is_accepted_without_n_classes(tmp_path):
    d = load_labelled_csv(write(tmp_path, "1,2,0\n3,4,2\n"))
    assert d.y.tolist() == [0, 2] and d.class_names == ["0", "1", "2"]


@pytest.mark.parametrize("label", ["1e20", "100000"])
def test_huge_labels_are_refused_without_n_classes(tmp_path, label):
    e = data_error(write(tmp_path, f"1,2,0\n3,4,{label}\n"), n_classes=None)
    assert str(e).endswith(f":2: label {label!r} is too large for a class number (below 100000)")


def test_labels_written_as_floats_are_accepted(tmp_path):
    d = load_labelled_csv(write(tmp_path, "1,2,0.0\n3,4, 1 \n5,6,1e0\n"), n_classes=2)
    assert d.y.tolist() == [0, 1, 1]


def test_header_without_data(tmp_path):
    e = data_error(write(tmp_path, "a,b,label\n\n"))
    assert "has a header but no data lines" in str(e)


def test_count_header_with_too_few_rows_is_truncated(tmp_path):
    e = data_error(write(tmp_path, "5,2,neg,pos\n1,2,0\n3,4,1\n"))
    assert "header says 5 rows" in str(e) and "has 2" in str(e) and "truncated" in str(e)


def test_shipped_file_cut_short_is_reported_as_truncated(tmp_path):
    with open(shipped_path("breast_cancer"), encoding="utf-8") as f:
        lines = f.readlines()
    path = write(tmp_path, "".join(lines[:101]))
    e = data_error(path)
    assert "header says 569 rows, but the file has 100" in str(e)


def test_shipped_file_cut_mid_line_names_that_line(tmp_path):
    with open(shipped_path("breast_cancer"), encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines(keepends=True)
    cut = "".join(lines[:50]) + lines[50][:40]  # line 51 ends part-way through
    e = data_error(write(tmp_path, cut))
    assert str(e).startswith(f"{tmp_path / 'bad.csv'}:51: has ")


@pytest.mark.parametrize(
    "raw,line",
    [
        (b"a,b,label\n1,2,0\n3,\xff\xfe,1\n", 3),
        (b"\xff\xfea\x00,\x00b\x00", 1),  # UTF-16 with its byte-order mark
        (b"1,2,0\n1,2,1\n1,2,0\n1,caf\xe9,1\n", 4),  # Latin-1
        (b"1,2,0\r\n1,2,1\r\n1,caf\xe9,1\r\n", 3),
        (b"1,2,0\r1,2,1\r1,caf\xe9,1\r", 3),
    ],
)
def test_non_utf8_bytes(tmp_path, raw, line):
    path = write(tmp_path, raw)
    e = data_error(path)
    assert str(e).startswith(f"{path}:{line}: ")
    assert "UTF-8" in str(e)


def test_utf8_byte_order_mark_is_ignored(tmp_path):
    d = load_labelled_csv(write(tmp_path, "\ufeffa,b,label\n1,2,0\n3,4,1\n"), n_classes=2)
    assert d.feature_names == ["a", "b"] and d.x.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    "odd", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
)
def test_characters_python_treats_as_line_breaks_do_not_shift_line_numbers(tmp_path, odd):
    # Editors, grep -n and wc -l count only \n, \r\n and \r as line ends.
    path = write(tmp_path, f"a,b,label\n1,2,0\n3,4{odd}5,1\n6,7,1\n8,x,0\n")
    e = data_error(path)
    assert str(e).startswith(f"{path}:3: column 2 is ")
    path = write(tmp_path, f"a,b,label\n1,2,0{odd}\n6,7,1\n8,x,0\n")
    e = data_error(path)
    assert str(e).startswith(f"{path}:4: column 2 is 'x'")


def test_header_of_names_and_numbers(tmp_path):
    d = load_labelled_csv(
        write(tmp_path, "height, weight ,label\n1.5,60,1\n1.8,80,0\n"), n_classes=2
    )
    assert d.feature_names == ["height", "weight"]
    assert d.x.tolist() == [[1.5, 60.0], [1.8, 80.0]]
    assert d.class_names == ["0", "1"]


# -- random tables ------------------------------------------------------------------------

number_cell = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: f"{v:.4f}"),
)


@st.composite
def tables(draw, min_rows=1):
    n_features = draw(st.integers(1, 6))
    n_rows = draw(st.integers(min_rows, 30))
    cells = draw(
        st.lists(
            st.lists(number_cell, min_size=n_features, max_size=n_features),
            min_size=n_rows,
            max_size=n_rows,
        )
    )
    labels = draw(st.lists(st.sampled_from([0, 1]), min_size=n_rows, max_size=n_rows))
    header = draw(st.sampled_from(["none", "names", "counts"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    final_newline = draw(st.booleans())
    return cells, labels, header, newline, final_newline


def render(cells, labels, header, newline, final_newline):
    n_features = len(cells[0])
    lines = []
    if header == "names":
        lines.append(",".join([f"f{j}" for j in range(n_features)] + ["label"]))
    elif header == "counts":
        lines.append(f"{len(cells)},{n_features},no,yes")
    lines += [",".join(row + [str(lab)]) for row, lab in zip(cells, labels)]
    return newline.join(lines) + (newline if final_newline else ""), (0 if header == "none" else 1)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_random_well_formed_tables_load_exactly(tmp_path_factory, table):
    cells, labels, header, newline, final_newline = table
    text, _ = render(*table)
    path = write(tmp_path_factory.mktemp("csv"), text, "table.csv")
    d = load_labelled_csv(path, n_classes=2)
    assert d.x.shape == (len(cells), len(cells[0]))
    assert d.x.tolist() == [[float(c) for c in row] for row in cells]
    assert d.y.tolist() == labels
    if header == "names":
        assert d.feature_names == [f"f{j}" for j in range(len(cells[0]))]
    elif header == "counts":
        assert d.class_names == ["no", "yes"]
    else:
        assert d.class_names == ["0", "1"]


bad_token = st.sampled_from(
    [
        "abc",
        "",
        " ",
        "1.2.3",
        "--5",
        "1e",
        "e5",
        "#",
        "one",
        "0x1G",
        "1 2",
        "nan",
        "inf",
        "-inf",
        "NaN",
        "1\x0c2",
        "3\x0b4",
        "\u2028",
        "7\x854",
    ]
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(min_rows=2), st.data())
def test_random_single_cell_corruption_names_the_line(tmp_path_factory, table, data):
    cells, labels, header, newline, final_newline = table
    n_rows, n_features = len(cells), len(cells[0])
    # any line, the first included: a first line mixing numbers and a word is data, not a header
    r = data.draw(st.integers(0, n_rows - 1), label="row")
    c = data.draw(st.integers(0, n_features), label="column")  # n_features is the label
    token = data.draw(bad_token, label="token")
    rows = [list(row) + [str(lab)] for row, lab in zip(cells, labels)]
    rows[r][c] = token
    text, offset = render(
        [row[:-1] for row in rows], [row[-1] for row in rows], header, newline, final_newline
    )
    path = write(tmp_path_factory.mktemp("csv"), text, "bad.csv")
    with pytest.raises(DataError) as err:
        load_labelled_csv(path, n_classes=2)
    line = offset + r + 1
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert err.value.line == line
    assert (f"column {c + 1} is " in msg) if c < n_features else ("label " in msg), msg


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(min_rows=2), st.data())
def test_random_dropped_cell_names_the_line(tmp_path_factory, table, data):
    cells, labels, header, newline, final_newline = table
    n_rows, n_features = len(cells), len(cells[0])
    # without a header the first data line sets the column count, so drop from a later one
    r = data.draw(st.integers(0 if header != "none" else 1, n_rows - 1), label="row")
    c = data.draw(st.integers(0, n_features), label="column")
    rows = [list(row) + [str(lab)] for row, lab in zip(cells, labels)]
    del rows[r][c]
    lines = []
    if header == "names":
        lines.append(",".join([f"f{j}" for j in range(n_features)] + ["label"]))
    elif header == "counts":
        lines.append(f"{n_rows},{n_features},no,yes")
    lines += [",".join(row) for row in rows]
    text = newline.join(lines) + (newline if final_newline else "")
    path = write(tmp_path_factory.mktemp("csv"), text, "bad.csv")
    with pytest.raises(DataError) as err:
        load_labelled_csv(path, n_classes=2)
    line = (0 if header == "none" else 1) + r + 1
    assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
    assert err.value.line == line


# -- splits and scaling ------------------------------------------------------------------------


def three_classes():
    y = np.array([0] * 50 + [1] * 30 + [2] * 7)
    return np.random.default_rng(5).permutation(y)


@pytest.mark.parametrize("frac", [0.2, 0.25, 0.5, 0.9])
def test_stratified_split_keeps_class_shares(frac):
    y = three_classes()
    train, test = stratified_split(y, frac, seed=3)
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(y.size))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    for c, count in ((0, 50), (1, 30), (2, 7)):
        assert int(np.sum(y[test] == c)) == round(frac * count)
        assert int(np.sum(y[train] == c)) == count - round(frac * count)


def test_stratified_split_is_deterministic_per_seed():
    y = three_classes()
    a = stratified_split(y, 0.3, seed=11)
    b = stratified_split(y.copy(), 0.3, seed=11)
    c = stratified_split(y, 0.3, seed=12)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert a[1].size == c[1].size


@pytest.mark.parametrize("frac", [0.0, 1.0, -0.1, 1.5])
def test_stratified_split_refuses_bad_fractions(frac):
    with pytest.raises(ValueError, match="test_fraction"):
        stratified_split(np.array([0, 1, 0, 1]), frac, 0)


def test_standardizer_scales_training_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 4)) * [1.0, 10.0, 0.01, 1000.0] + [5.0, -3.0, 0.0, 1e4]
    s = Standardizer.fit(x)
    t = s.transform(x, np.float64)
    np.testing.assert_allclose(t.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(t.std(axis=0), 1.0, rtol=1e-12)
    t32 = s.transform(x)
    assert t32.dtype == np.float32 and t32.flags.c_contiguous
    np.testing.assert_allclose(t32, t, atol=1e-5)
    # later data is scaled with the training statistics, not its own
    new = s.transform(x[:10] + 1.0, np.float64)
    np.testing.assert_allclose(new, t[:10] + 1.0 / s.std, rtol=1e-12)


@pytest.mark.parametrize("value", [0.0, 0.1, 0.7, 1 / 3, 3.3, 123.456, -2.5e-5])
@pytest.mark.parametrize("n", [3, 7, 100])
def test_standardizer_constant_column_becomes_zero(value, n):
    x = np.column_stack([np.full(n, value), np.arange(n, dtype=np.float64)])
    s = Standardizer.fit(x)
    t = s.transform(x, np.float64)
    assert np.all(np.isfinite(t))
    assert np.all(t[:, 0] == 0.0), (s.mean[0], s.std[0], t[:3, 0])
    assert s.std[0] == 1.0
    np.testing.assert_allclose(t[:, 1].std(), 1.0)
    # a new value in that column stays on the scale of the data, not 1e16 times it
    assert s.transform(np.array([[value + 1.0, 0.0]]), np.float64)[0, 0] == pytest.approx(1.0)


# -- --data resolution ------------------------------------------------------------------------


def test_resolve_a_shipped_name():
    name, path = resolve("breast_cancer")
    assert name == "breast_cancer"
    assert os.path.isfile(path) and path.endswith("breast_cancer.csv")
    assert path == shipped_path("breast_cancer")


def test_resolve_a_path(tmp_path):
    path = write(tmp_path, "1,2,0\n", "mine.csv")
    assert resolve(path) == ("mine.csv", path)


def test_resolve_a_missing_path(tmp_path):
    missing = os.fspath(tmp_path / "missing.csv")
    with pytest.raises(DataError) as err:
        resolve(missing)
    assert str(err.value).startswith(f"{missing}: no such file")
    assert "breast_cancer" in str(err.value)


def test_load_binary_table_needs_two_of_each_class(tmp_path):
    path = write(tmp_path, "1,2,0\n3,4,1\n5,6,1\n", "few.csv")
    with pytest.raises(DataError, match="at least 2 samples of each class"):
        load_binary_table(path)


def test_a_damaged_first_line_is_data_not_a_header(tmp_path):
    # Words mixed with numbers on line 1 are a bad data line, not column names that
    # would silently drop the first sample.
    e = data_error(write(tmp_path, "1,abc,0\n3,4,1\n"))
    assert str(e).endswith(":1: column 2 is 'abc', not a number")
