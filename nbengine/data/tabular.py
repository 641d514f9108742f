"""A labelled table, loaded and split: what the logistic-regression commands share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nbengine.data.csv import LabelledData, load_labelled_csv
from nbengine.data.registry import SHIPPED, resolve
from nbengine.data.split import stratified_split
from nbengine.errors import DataError
from nbengine.i18n import Msg


@dataclass
class SplitTable:
    name: str
    path: str
    data: LabelledData
    train_idx: np.ndarray
    test_idx: np.ndarray

    @property
    def x_train(self):
        return self.data.x[self.train_idx]

    @property
    def y_train(self):
        return self.data.y[self.train_idx]

    @property
    def x_test(self):
        return self.data.x[self.test_idx]

    @property
    def y_test(self):
        return self.data.y[self.test_idx]

    def rows(self, part: str) -> np.ndarray:
        """The rows of the "train" or "test" part, or "all" of them in file order."""
        return {"train": self.train_idx, "test": self.test_idx}.get(
            part, np.arange(len(self.data.y))
        )


def load_binary_table(data: str, test_fraction: float = 0.2, split_seed: int = 0) -> SplitTable:
    """Load a shipped data set's name or a CSV path with labels 0/1, split stratified."""
    name, path = resolve(data)
    table = load_labelled_csv(path, n_classes=2)
    if name in SHIPPED and SHIPPED[name].feature_names:
        table.feature_names = list(SHIPPED[name].feature_names)
    counts = np.bincount(table.y, minlength=2)
    if counts.min() < 2:
        raise DataError(
            path,
            Msg(
                "needs at least 2 samples of each class to split, has {zeros} of 0 and {ones} of 1",
                zeros=counts[0],
                ones=counts[1],
            ),
        )
    train_idx, test_idx = stratified_split(table.y, test_fraction, split_seed)
    return SplitTable(name, path, table, train_idx, test_idx)
