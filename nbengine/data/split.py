"""Train/test splits and feature scaling, fitted on training data only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test), each sorted, keeping every class's share in both parts.

    For each class, in increasing label order, its sample indices are shuffled
    with one seeded generator and the first round(test_fraction * count) go to
    the test part. The same y, fraction and seed always give the same split.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, not {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * idx.size))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@dataclass
class Standardizer:
    """x' = (x - mean) / std per feature, with mean and std from the training set.

    A feature that is constant in the training set has std 0; it is divided by 1
    instead, so it becomes 0 rather than NaN.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        x = np.asarray(x, dtype=np.float64)
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        if x.shape[0] > 0:
            # The mean of a constant column can differ from its value by rounding,
            # leaving a std of about 1e-17 instead of 0; detect constancy exactly.
            constant = np.all(x == x[:1], axis=0)
            mean[constant] = x[0, constant]
            std[constant] = 0.0
        std[std == 0] = 1.0
        return cls(mean=mean, std=std)

    def transform(self, x: np.ndarray, dtype=np.float32) -> np.ndarray:
        return np.ascontiguousarray(
            ((np.asarray(x, dtype=np.float64) - self.mean) / self.std).astype(dtype)
        )
