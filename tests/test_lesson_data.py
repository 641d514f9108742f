"""What the lessons' commands share and is not presentation, in the engine: a model built
for a table, the data a checkpoint is used on, parts and samples of image sets, the
confusion matrix, a Kaggle submission."""

from __future__ import annotations

import numpy as np
import pytest

from nbengine.data.csv import write_submission
from nbengine.data.images import Images, load_split
from nbengine.data.tabular import load_binary_table
from nbengine.errors import DataError, NBEngineError
from nbengine.models.cnn import CNN, checkpoint_split
from nbengine.models.logreg import LogisticRegression, checkpoint_table, for_table
from nbengine.train import confusion_matrix


def images(n: int, labelled: bool = True) -> Images:
    pixels = np.repeat(np.arange(n, dtype=np.uint8), 28 * 28).reshape(n, 28, 28)  # image i is all i
    labels = np.arange(n) % 10 if labelled else None
    return Images(pixels, labels, "made up", [str(c) for c in range(10)])


def test_confusion_matrix_counts_each_true_and_predicted_pair():
    y = np.array([0, 0, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 2, 0, 2])
    assert confusion_matrix(y, pred, 3).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert confusion_matrix(y, pred, 4).shape == (4, 4)


def test_a_sample_is_drawn_by_the_seed_and_keeps_the_order():
    im = images(30)
    a, b, c = im.sample(10, 0), im.sample(10, 0), im.sample(10, 1)
    assert (
        len(a) == 10
        and np.array_equal(a.pixels, b.pixels)
        and not np.array_equal(a.pixels, c.pixels)
    )
    rows = a.pixels[:, 0, 0].tolist()  # which images were drawn
    assert (
        rows == sorted(rows)
        and len(set(rows)) == 10
        and a.labels.tolist() == [r % 10 for r in rows]
    )
    assert im.sample(None, 0) is im and im.sample(30, 0) is im and len(im.sample(29, 0)) == 29


def test_then_joins_two_sets_labelled_or_not():
    a, b = images(3), images(2)
    joined = a.then(b)
    assert len(joined) == 5 and joined.labels.tolist() == [0, 1, 2, 0, 1]
    assert np.array_equal(joined.pixels[3:], b.pixels) and joined.source == "made up, made up"
    assert images(2, labelled=False).then(images(1, labelled=False)).labels is None


def test_a_split_gives_its_train_its_test_or_all_of_them():
    split = load_split("mnist_5k")
    assert split.part("train") is split.train and split.part("test") is split.test
    both = split.part("all")
    assert len(both) == 5000 and np.array_equal(both.labels[:4000], split.train.labels)


def test_a_table_gives_the_rows_of_each_part():
    table = load_binary_table("breast_cancer")
    assert np.array_equal(table.rows("train"), table.train_idx) and np.array_equal(
        table.rows("test"), table.test_idx
    )
    assert table.rows("all").tolist() == list(range(569))


def test_a_model_for_a_table_standardises_with_the_training_rows():
    table = load_binary_table("breast_cancer", 0.25, 3)
    model = for_table(table, seed=1, extra_config={"data": "breast_cancer"})
    assert model.n_features == 30 and model.class_names == table.data.class_names
    assert np.allclose(model.scaler.mean, table.x_train.mean(axis=0))
    assert model.dtype == np.float32 and model.extra_config == {"data": "breast_cancer"}
    assert for_table(table, dtype=np.float64).dtype == np.float64


def test_a_logreg_checkpoint_is_used_on_its_own_split_unless_told(tmp_path):
    table = load_binary_table("breast_cancer", 0.3, 5)
    path = tmp_path / "lr.npz"
    for_table(
        table, extra_config={"data": "breast_cancer", "test_fraction": 0.3, "split_seed": 5}
    ).save(path)
    again = checkpoint_table(LogisticRegression.load(path))
    assert np.array_equal(again.test_idx, table.test_idx)
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    with pytest.raises(DataError, match="has 2 features; the model was trained on 30"):
        checkpoint_table(LogisticRegression.load(path), str(narrow))


def test_a_cnn_checkpoint_is_used_on_its_own_split_unless_told(tmp_path):
    model = CNN(0, extra_config={"data": "mnist_5k", "split_seed": 2, "test_fraction": 0.1})
    split = checkpoint_split(model)
    assert len(split.test) == 500 and "seed 2" in split.description
    assert "seed 0" in checkpoint_split(CNN(0)).description  # no config: the shipped digits, seed 0


def test_a_submission_is_imageid_and_label_counted_from_one(tmp_path):
    path = tmp_path / "out.csv"
    write_submission(path, np.array([7, 2, 1]))
    assert path.read_text() == "ImageId,Label\n1,7\n2,2\n3,1\n"
    with pytest.raises(NBEngineError, match="cannot be written"):
        write_submission(tmp_path / "missing" / "out.csv", np.array([1]))
