"""The data sets that ship inside the package, and how a --data argument is resolved."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources

from nbengine.errors import DataError

_PARTS = ["radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
          "concave points", "symmetry", "fractal dimension"]


@dataclass(frozen=True)
class Shipped:
    name: str
    file: str
    title: str
    task: str
    source: str
    licence: str
    feature_names: tuple[str, ...] = ()


SHIPPED: dict[str, Shipped] = {
    s.name: s
    for s in [
        Shipped(
            name="breast_cancer",
            file="breast_cancer.csv",
            title="Wisconsin Diagnostic Breast Cancer: 569 tumours, 30 measurements, malignant (0) or benign (1)",
            task="logreg",
            source="UCI ML repository, as bundled with scikit-learn 1.9.1",
            licence="CC BY 4.0",
            # The file's own header names only the classes; these are the columns
            # as its description lists them: 10 measurements as mean, standard
            # error and worst (largest) value.
            feature_names=tuple(
                [f"mean {p}" for p in _PARTS] + [f"{p} error" for p in _PARTS] + [f"worst {p}" for p in _PARTS]
            ),
        ),
    ]
}


def shipped_path(name: str) -> str:
    """The file of a shipped data set, wherever the package is installed."""
    return os.fspath(resources.files("nbengine_datasets").joinpath(SHIPPED[name].file))


def resolve(name_or_path: str) -> tuple[str, str]:
    """(name, path) for a --data argument: a shipped data set's name or a file path."""
    if name_or_path in SHIPPED:
        return name_or_path, shipped_path(name_or_path)
    if not os.path.exists(name_or_path):
        known = ", ".join(sorted(SHIPPED))
        raise DataError(name_or_path, f"no such file, and not a shipped data set ({known})")
    return os.path.basename(name_or_path), name_or_path
