"""Image data for the CNN: the shipped mnist_5k, CSV layouts, IDX files and folders,
fetched sets in a cache folder, splits, and every bad input's one-line message."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from nbengine.data import images as images_module
from nbengine.data.idx import write_idx
from nbengine.data.images import Images, ImageSplit, labels_beside, load_images, load_split
from nbengine.data.registry import FASHION, MNIST_FILES, resolve, shipped_path
from nbengine.errors import DataError

HEADER_TRAIN = "label," + ",".join(f"pixel{i}" for i in range(784))
HEADER_TEST = ",".join(f"pixel{i}" for i in range(784))


def sample(n=30, seed=0):
    """n random 28×28 images, labels cycling through 0..9."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.int64).astype(np.uint8)
    pixels[:, 0, 0] = 0
    pixels[:, 27, 27] = 255  # both ends of the range appear
    return pixels, np.arange(n) % 10


def csv_text(pixels, labels, layout) -> str:
    """The same images in one of the three CSV layouts."""
    flat = pixels.reshape(len(pixels), -1)
    lines = []
    if layout == "kaggle-train":
        lines.append(HEADER_TRAIN)
        lines += [",".join(map(str, [y, *row])) for row, y in zip(flat.tolist(), labels)]
    elif layout == "kaggle-test":
        lines.append(HEADER_TEST)
        lines += [",".join(map(str, row)) for row in flat.tolist()]
    else:  # nbengine's layout: no header, label last
        lines += [",".join(map(str, [*row, y])) for row, y in zip(flat.tolist(), labels)]
    return "\n".join(lines) + "\n"


def write(folder, name, content) -> str:
    path = os.path.join(os.fspath(folder), name)
    data = content.encode("utf-8") if isinstance(content, str) else content
    if name.endswith(".gz"):
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return path


def data_error(ref, **kwargs) -> DataError:
    with pytest.raises(DataError) as err:
        load_images(ref, **kwargs)
    assert "\n" not in str(err.value) and err.value.exit_code == 2
    return err.value


def write_mnist_folder(folder, n_train=20, n_test=10, gz=True):
    os.makedirs(folder, exist_ok=True)
    train_x, train_y = sample(n_train, seed=1)
    test_x, test_y = sample(n_test, seed=2)
    arrays = [train_x, train_y.astype(np.uint8), test_x, test_y.astype(np.uint8)]
    for name, array in zip(MNIST_FILES, arrays):
        write_idx(os.path.join(folder, name if gz else name[:-3]), array)
    return train_x, train_y, test_x, test_y


# -- the shipped mnist_5k -----------------------------------------------------------------------------


def test_mnist_5k_loads_5000_real_digits():
    d = load_images("mnist_5k")
    assert len(d) == 5000
    assert (
        d.pixels.shape == (5000, 28, 28)
        and d.pixels.dtype == np.uint8
        and d.pixels.flags.c_contiguous
    )
    assert d.labels.shape == (5000,) and d.labels.dtype == np.int64
    assert np.bincount(d.labels).tolist() == [500] * 10
    assert d.class_names == [str(k) for k in range(10)]
    assert d.source == shipped_path("mnist_5k") and os.path.isfile(d.source)
    assert d.pixels.max() == 255 and d.pixels.min() == 0
    assert 0.1 < (d.pixels > 0).mean() < 0.3  # real digits: mostly background
    # the file's first line: 784 pixels, then the label 0
    with gzip.open(shipped_path("mnist_5k"), "rt") as f:
        first = [int(v) for v in f.readline().split(",")]
    assert d.pixels[0].ravel().tolist() == first[:784] and d.labels[0] == first[784] == 0


def test_mnist_5k_split_is_4000_and_1000_stratified_and_deterministic():
    s = load_split("mnist_5k")
    assert isinstance(s, ImageSplit) and s.name == "mnist_5k"
    assert (len(s.train), len(s.test)) == (4000, 1000)
    assert np.bincount(s.test.labels).tolist() == [100] * 10
    assert np.bincount(s.train.labels).tolist() == [400] * 10
    assert s.description == "mnist_5k: 4,000 train / 1,000 test, stratified split, seed 0"
    assert np.intersect1d(s.train_index, s.test_index).size == 0
    assert np.union1d(s.train_index, s.test_index).size == 5000
    whole = load_images("mnist_5k")
    np.testing.assert_array_equal(s.test.pixels, whole.pixels[s.test_index])
    np.testing.assert_array_equal(s.train.labels, whole.labels[s.train_index])

    again = load_split("mnist_5k", seed=0)
    np.testing.assert_array_equal(again.test_index, s.test_index)
    np.testing.assert_array_equal(again.train.pixels, s.train.pixels)
    other = load_split("mnist_5k", seed=1)
    assert not np.array_equal(other.test_index, s.test_index)
    assert np.bincount(other.test.labels).tolist() == [100] * 10
    assert "seed 1" in other.description
    assert len(load_split("mnist_5k", test_fraction=0.1).test) == 500


def test_as_float_is_pixels_over_255_with_a_channel_axis():
    s = load_split("mnist_5k")
    x = s.test.as_float()
    assert x.dtype == np.float32 and x.shape == (1000, 28, 28, 1) and x.flags.c_contiguous
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x[..., 0], s.test.pixels.astype(np.float32) / np.float32(255))


def test_loading_does_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(load_split("mnist_5k").test) == 1000


def test_logreg_data_refuses_an_image_set_by_name():
    with pytest.raises(DataError, match="is a set of images .* shipped tables: breast_cancer"):
        resolve("mnist_5k")
    assert resolve("breast_cancer")[0] == "breast_cancer"  # tables as before


# -- CSV layouts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
@pytest.mark.parametrize("layout", ["kaggle-train", "label-last", "kaggle-test"])
def test_csv_layouts_load_the_same_images(tmp_path, layout, gz):
    pixels, labels = sample()
    path = write(tmp_path, "digits.csv" + (".gz" if gz else ""), csv_text(pixels, labels, layout))
    d = load_images(path)
    np.testing.assert_array_equal(d.pixels, pixels)
    assert d.pixels.dtype == np.uint8 and d.source == path
    if layout == "kaggle-test":
        assert d.labels is None
    else:
        assert d.labels.dtype == np.int64 and d.labels.tolist() == labels.tolist()


def test_header_with_the_label_last_and_other_pixel_names(tmp_path):
    pixels, labels = sample(10)
    names = ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
    body = "".join(
        ",".join(map(str, [*p, y])) + "\n" for p, y in zip(pixels.reshape(10, -1).tolist(), labels)
    )
    d = load_images(write(tmp_path, "x.csv", f"{names},label\n{body}"))
    assert d.labels.tolist() == labels.tolist()
    d = load_images(
        write(
            tmp_path, "y.csv", csv_text(pixels, labels, "kaggle-train").replace("label", "LABEL", 1)
        )
    )
    assert d.labels.tolist() == labels.tolist()


@pytest.mark.parametrize(
    "change", ["crlf", "cr", "bom", "blank lines", "no final newline", "spaces", "whole floats"]
)
def test_irregular_but_valid_files_load(tmp_path, change):
    pixels, labels = sample(12)
    text = csv_text(pixels, labels, "kaggle-train")
    text = {
        "crlf": text.replace("\n", "\r\n"),
        "cr": text.replace("\n", "\r"),
        "bom": "\ufeff" + text,
        "blank lines": "\n\n" + text.replace("\n", "\n\n", 3) + "\n\n",
        "no final newline": text.rstrip("\n"),
        "spaces": text.replace(",", ", "),
        "whole floats": text.replace(",0,", ",0.0,"),
    }[change]
    d = load_images(write(tmp_path, "x.csv", text))
    np.testing.assert_array_equal(d.pixels, pixels)
    assert d.labels.tolist() == labels.tolist()


def test_well_formed_files_never_take_the_slow_path(tmp_path, monkeypatch):
    def slow(*args):
        raise AssertionError("the line-by-line parser ran on a well-formed file")

    monkeypatch.setattr(images_module, "_parse_slow", slow)
    monkeypatch.setattr(images_module, "ROWS_PER_CHUNK", 7)  # several chunks, the last one shorter
    pixels, labels = sample(30, seed=3)
    for layout in ["kaggle-train", "label-last", "kaggle-test"]:
        d = load_images(write(tmp_path, f"{layout}.csv.gz", csv_text(pixels, labels, layout)))
        np.testing.assert_array_equal(d.pixels, pixels)


def test_the_line_by_line_path_takes_over_where_the_fast_one_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "ROWS_PER_CHUNK", 4)
    pixels, labels = sample(30, seed=4)
    lines = csv_text(pixels, labels, "kaggle-train").splitlines()  # the header, then 30 images
    with_blank = lines[:14] + [""] + lines[14:]  # a blank line 15, in the fourth chunk of lines
    d = load_images(write(tmp_path, "blank.csv", "\n".join(with_blank)))
    np.testing.assert_array_equal(d.pixels, pixels)
    assert d.labels.tolist() == labels.tolist()

    cells = with_blank[24].split(",")
    with_blank[24] = ",".join([cells[0], "x", *cells[2:]])  # line 25: pixel 0 is 'x'
    e = data_error(write(tmp_path, "bad.csv", "\n".join(with_blank)))
    assert str(e).startswith(f"{tmp_path / 'bad.csv'}:25: column 2 (pixel 0) is 'x', not a number")


def row(label=3, n=784, bad=None, first=False):
    cells = ["7"] * n
    if bad is not None:
        cells[bad[0]] = bad[1]
    return ",".join([str(label), *cells] if first else [*cells, str(label)])


GOOD = [row(k % 10) for k in range(6)]
GOOD_FIRST = [row(k % 10, first=True) for k in range(6)]
BAD_CSV = {
    # name: (lines, expected message after "path:")
    "short row": (GOOD[:4] + [row(n=783)] + GOOD, "5: 784 pixel values expected, found 783"),
    "long row, Kaggle": (
        [HEADER_TRAIN] + GOOD_FIRST[:3] + [row(n=785, first=True)],
        "5: 784 pixel values expected, found 785",
    ),
    "short row, Kaggle test": (
        [HEADER_TEST, "1," * 782 + "1"],
        "2: 784 pixel values expected, found 783",
    ),
    "pixel 300": (
        GOOD[:2] + [row(bad=(5, "300"))],
        "3: column 6 (pixel 5) is '300', not a pixel value (a whole number from 0 to 255)",
    ),
    "pixel -1": (
        [HEADER_TRAIN, row(bad=(0, "-1"), first=True)],
        "2: column 2 (pixel 0) is '-1', not a pixel value (a whole number from 0 to 255)",
    ),
    "pixel 2.5": (
        [row(bad=(783, "2.5"))],
        "1: column 784 (pixel 783) is '2.5', not a pixel value (a whole number from 0 to 255)",
    ),
    "pixel nan": (
        GOOD + [row(bad=(10, "nan"))],
        "7: column 11 (pixel 10) is 'nan', not a pixel value",
    ),
    "label 11": (
        GOOD + [row(label=11)],
        "7: label '11' is not a class (a whole number from 0 to 9)",
    ),
    "label -1, Kaggle": ([HEADER_TRAIN, row(label=-1, first=True)], "2: label '-1' is not a class"),
    "label 1.5": ([row(label=1.5)], "1: label '1.5' is not a class"),
    "word": (
        GOOD[:1] + [row(bad=(100, "abc"))],
        "2: column 101 (pixel 100) is 'abc', not a number",
    ),
    "word as label": (
        [HEADER_TRAIN, row(label="x", first=True)],
        "2: column 1 (the label) is 'x', not a number",
    ),
    "empty cell": (GOOD[:1] + [row(bad=(3, ""))], "2: column 4 (pixel 3) is '', not a number"),
    "8x8 digits": (
        [",".join(["1"] * 65)] * 3,
        "1: 784 pixel values expected, found 64 (a 28×28 image is 784 pixel values, then the label)",
    ),
    "header of 3 names": (
        ["a,b,c", "1,2,3"],
        "1: the header names 3 pixel columns, expected 784 (28×28)",
    ),
    "label in the middle": (
        ["pixel0,label," + ",".join(f"p{i}" for i in range(783))],
        "1: the header has 'label' in column 2; it must be the first or last column",
    ),
}


@pytest.mark.parametrize("name", list(BAD_CSV))
@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
def test_bad_csv_gives_one_line_with_file_and_line(tmp_path, name, gz):
    lines, expected = BAD_CSV[name]
    path = write(tmp_path, "bad.csv" + (".gz" if gz else ""), "\n".join(lines) + "\n")
    e = data_error(path)
    assert str(e).startswith(f"{path}:{expected}"), str(e)
    assert e.line == int(expected.split(":")[0])


@pytest.mark.parametrize(
    "content,problem",
    [
        ("", "the file is empty"),
        (" \n\r\n\t\n", "the file is empty"),
        (HEADER_TRAIN + "\n\n", "has a header but no data lines"),
        (HEADER_TRAIN, "has a header but no data lines"),
    ],
)
def test_empty_files(tmp_path, content, problem):
    for name in ["e.csv", "e.csv.gz"]:
        path = write(tmp_path, name, content)
        assert str(data_error(path)) == f"{path}: {problem}"


def test_binary_junk_is_not_text(tmp_path):
    path = write(tmp_path, "photo.csv", b"1,2\n\xff\xd8\xff\xe0 a jpeg")
    assert str(data_error(path)) == f"{path}:2: is not text (is it a CSV file?)"


def test_a_table_for_logreg_is_not_images(tmp_path):
    assert "breast_cancer.csv:1: 784 pixel values expected, found 3 " in str(
        data_error(shipped_path("breast_cancer"))
    )
    assert "is a table of features (for logreg), not images" in str(data_error("breast_cancer"))


def test_unknown_name_lists_the_image_sets():
    e = data_error("no/such/file.csv")
    assert str(e).startswith(
        "no/such/file.csv: no such file or folder; image sets: mnist_5k (ships with nbengine)"
    )
    assert "mnist and fashion-mnist (`nbengine data fetch NAME`)" in str(e)


def test_an_unlabelled_file_cannot_be_split(tmp_path):
    pixels, labels = sample(10)
    path = write(tmp_path, "test.csv", csv_text(pixels, labels, "kaggle-test"))
    with pytest.raises(
        images_module.UnlabelledError, match="has no labels .* so it has no training and test split"
    ):
        load_split(path)


def test_too_few_images_to_split(tmp_path):
    pixels, labels = sample(1)
    path = write(tmp_path, "one.csv", csv_text(pixels, labels, "label-last"))
    with pytest.raises(DataError, match=r"has too few images \(1\)"):
        load_split(path)


def test_a_csv_file_is_split_stratified(tmp_path):
    pixels, labels = sample(50)
    s = load_split(write(tmp_path, "fifty.csv", csv_text(pixels, labels, "kaggle-train")), seed=4)
    assert s.name == "fifty.csv" and (len(s.train), len(s.test)) == (40, 10)
    assert np.bincount(s.test.labels).tolist() == [1] * 10
    assert s.description == "fifty.csv: 40 train / 10 test, stratified split, seed 4"


# -- IDX files and folders ---------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_an_idx_images_file_finds_its_labels_beside_it(tmp_path, gz):
    train_x, train_y, _, _ = write_mnist_folder(tmp_path, n_train=50, gz=gz)
    images_path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    assert labels_beside(images_path) == str(
        tmp_path / ("train-labels-idx1-ubyte" + (".gz" if gz else ""))
    )
    d = load_images(str(images_path))
    np.testing.assert_array_equal(d.pixels, train_x)
    assert d.labels.tolist() == train_y.tolist() and d.labels.dtype == np.int64
    s = load_split(str(images_path))
    assert (len(s.train), len(s.test)) == (40, 10) and "stratified split, seed 0" in s.description


def test_dotted_names_and_no_labels(tmp_path):
    pixels, labels = sample(5)
    write_idx(tmp_path / "train-images.idx3-ubyte", pixels)
    assert load_images(str(tmp_path / "train-images.idx3-ubyte")).labels is None
    write_idx(tmp_path / "train-labels.idx1-ubyte", labels.astype(np.uint8))
    assert load_images(str(tmp_path / "train-images.idx3-ubyte")).labels.tolist() == labels.tolist()
    write_idx(tmp_path / "my-pictures", pixels)
    assert labels_beside(tmp_path / "my-pictures") is None


def test_a_folder_of_the_four_files_has_the_official_split(tmp_path):
    train_x, train_y, test_x, test_y = write_mnist_folder(tmp_path / "MNIST", gz=False)
    s = load_split(str(tmp_path / "MNIST"), seed=5, test_fraction=0.5)  # unused: the split is given
    assert s.description == "MNIST: 20 train / 10 test, the official split"
    np.testing.assert_array_equal(s.train.pixels, train_x)
    np.testing.assert_array_equal(s.test.pixels, test_x)
    assert s.test.labels.tolist() == test_y.tolist() and s.train_index is None
    whole = load_images(str(tmp_path / "MNIST"))
    assert len(whole) == 30 and whole.labels.tolist() == train_y.tolist() + test_y.tolist()


def test_a_folder_without_the_files(tmp_path):
    write_mnist_folder(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    e = data_error(str(tmp_path))
    assert "without the MNIST files t10k-labels-idx1-ubyte.gz" in str(e)


def test_image_and_label_counts_that_differ(tmp_path):
    pixels, labels = sample(5)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", pixels)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels[:4].astype(np.uint8))
    e = data_error(str(tmp_path / "train-images-idx3-ubyte.gz"))
    assert str(e) == (
        f"{tmp_path / 'train-labels-idx1-ubyte.gz'}: has 4 labels, but "
        f"{tmp_path / 'train-images-idx3-ubyte.gz'} has 5 images"
    )


@pytest.mark.parametrize(
    "array,problem",
    [
        (
            np.zeros((4, 32, 32), np.uint8),
            "holds images of 32×32 pixels; nbengine's image models take 28×28",
        ),
        (np.zeros((4, 784), np.uint8), "holds a 4×784 array; images are a count × 28 × 28 array"),
        (np.zeros(4, np.uint8), "holds a 4 array (is it a labels file?)"),
        (np.zeros((0, 28, 28), np.uint8), "holds no images"),
        (
            np.full((2, 28, 28), 2.5, np.float32),
            "image 0, row 0, column 0: 2.5 is not a pixel value",
        ),
        (np.full((2, 28, 28), 300, np.int16), "image 0, row 0, column 0: 300 is not a pixel value"),
    ],
)
def test_idx_that_is_not_images(tmp_path, array, problem):
    path = tmp_path / "pictures-idx3-ubyte"
    write_idx(path, array)
    assert str(data_error(str(path))).startswith(f"{path}: {problem}")


def test_idx_pixels_of_other_types_are_converted(tmp_path):
    pixels, _ = sample(3)
    write_idx(tmp_path / "f", pixels.astype(np.float64))
    d = load_images(str(tmp_path / "f"))
    assert d.pixels.dtype == np.uint8
    np.testing.assert_array_equal(d.pixels, pixels)


def test_idx_labels_out_of_range(tmp_path):
    pixels, labels = sample(5)
    labels[3] = 11
    write_idx(tmp_path / "t10k-images-idx3-ubyte", pixels)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels.astype(np.uint8))
    e = data_error(str(tmp_path / "t10k-images-idx3-ubyte"))
    assert (
        str(e)
        == f"{tmp_path / 't10k-labels-idx1-ubyte'}: label 11 of image 3 is not a class (a whole number from 0 to 9)"
    )


def test_truncated_idx_images_are_reported(tmp_path):
    pixels, _ = sample(5)
    write_idx(tmp_path / "x-idx3-ubyte", pixels)
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    assert "truncated" in str(data_error(str(path)))


# -- fetched sets in the cache folder ---------------------------------------------------------------


def test_a_set_not_fetched_yet_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("NBENGINE_CACHE_DIR", str(tmp_path))
    e = data_error("mnist")
    assert str(e) == (
        f"mnist: not downloaded yet: `nbengine data fetch mnist` downloads it (11 MB) into "
        f"{tmp_path / 'mnist'}; the 5,000 digits of `mnist_5k` ship with nbengine and need no download"
    )
    e = data_error("fashion-mnist", cache_dir=str(tmp_path / "c"))
    assert "`nbengine data fetch fashion-mnist --cache-dir " + str(tmp_path / "c") + "`" in str(e)
    (tmp_path / "mnist").mkdir()
    write_idx(tmp_path / "mnist" / MNIST_FILES[0], sample(2)[0])
    assert "mnist: incomplete (missing train-labels-idx1-ubyte.gz, t10k-images" in str(
        data_error("mnist")
    )


def test_a_fetched_set_loads_from_the_cache_with_its_class_names(tmp_path):
    train_x, train_y, test_x, test_y = write_mnist_folder(tmp_path / "fashion-mnist")
    s = load_split("fashion-mnist", cache_dir=str(tmp_path))
    assert (
        s.name == "fashion-mnist"
        and s.description == "fashion-mnist: 20 train / 10 test, the official split"
    )
    assert s.train.class_names == list(FASHION) and s.test.class_names[9] == "Ankle boot"
    np.testing.assert_array_equal(s.test.pixels, test_x)
    whole = load_images("fashion-mnist", cache_dir=str(tmp_path))
    assert isinstance(whole, Images) and len(whole) == 30 and whole.class_names == list(FASHION)
