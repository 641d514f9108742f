"""The lesson's MNIST CNN, layer for layer as its Keras code builds it.

    Conv2D(32, 3×3, padding same, relu)
    MaxPooling2D(2×2, stride 2, padding same)
    Conv2D(64, 3×3, padding same, relu)
    MaxPooling2D(2×2, stride 2, padding same)
    Flatten
    Dense(1024, relu)
    Dropout(0.25)              ← here by default
    Dense(10, softmax)
    Dropout(0.25)              ← here in the lesson as written (``as_written=True``)

The lesson puts Dropout after the softmax. During training that zeroes some of
the ten class probabilities and scales up the rest: when it zeroes the true
class, the loss is -log(1e-7) ≈ 16.1 whatever the network did, and no gradient
flows from that sample; the probabilities no longer sum to 1. Dropout is meant
to act on hidden features, so by default it sits before the last Dense, where
it makes the network not rely on any single one of the 1024 features. Both
orders have the same 3,241,354 parameters.

With the softmax as the last layer, the loss is computed from the logits in one
stable step (softmax and cross-entropy together), as Keras does when a softmax
output meets categorical cross-entropy. As written, the loss sees the dropped
probabilities and uses Keras's cross-entropy of probabilities (normalised,
clipped to [1e-7, 1 - 1e-7]).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nbengine.data.images import ImageSplit, load_split
from nbengine.i18n import Msg
from nbengine.layers.conv2d import Conv2D
from nbengine.layers.dense import Dense
from nbengine.layers.dropout import Dropout
from nbengine.layers.flatten import Flatten
from nbengine.layers.losses import CrossEntropy, SoftmaxCrossEntropy
from nbengine.layers.pooling import MaxPool2D
from nbengine.models.base import Model, check_dtype
from nbengine.trace import record, tracing

INPUT_SHAPE = (28, 28, 1)
FILTERS = (32, 64)  # of the two convolutions
KERNEL = (3, 3)  # their filters' size
POOL = (2, 2)  # the max pooling's window and stride
HIDDEN = 1024  # units of the first Dense
PREDICT_BATCH = 250  # images per forward pass when predicting many
DEFAULT_DATA = "mnist_5k"  # the 5,000 real digits that ship with nbengine


@dataclass
class SummaryRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]  # one sample's; Keras writes (None, ...) for the batch
    params: int
    settings: str


@dataclass
class CNNConfig:
    seed: int = 0
    dtype: str = "float32"
    as_written: bool = False  # Dropout after the softmax, as the lesson's code has it
    dropout: float = 0.25
    n_classes: int = 10
    class_names: list[str] = field(default_factory=list)
    input_shape: list[int] = field(default_factory=lambda: list(INPUT_SHAPE))


class CNN(Model):
    name = "cnn"
    Config = CNNConfig

    def __init__(
        self,
        seed: int = 0,
        dtype=np.float32,
        as_written: bool = False,
        dropout: float = 0.25,
        n_classes: int = 10,
        class_names=None,
        input_shape=INPUT_SHAPE,
        extra_config: dict | None = None,
    ):
        self.seed = seed
        self.dtype = check_dtype(dtype)
        self.as_written = as_written
        self.dropout_rate = dropout
        self.n_classes = n_classes
        self.class_names = (
            list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
        )
        self.input_shape = tuple(input_shape)
        self.extra_config = dict(extra_config or {})
        self.settings = CNNConfig(
            seed,
            self.dtype.name,
            as_written,
            dropout,
            n_classes,
            self.class_names,
            list(self.input_shape),
        )
        # Dropout draws its masks from its own generator, seeded from the model's seed.
        dropout_seed = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
        self.layers = [
            Conv2D("conv1", FILTERS[0], KERNEL, padding="same", activation="relu"),
            MaxPool2D("pool1", POOL, POOL, padding="same"),
            Conv2D("conv2", FILTERS[1], KERNEL, padding="same", activation="relu"),
            MaxPool2D("pool2", POOL, POOL, padding="same"),
            Flatten("flatten"),
            Dense("dense1", HIDDEN, activation="relu"),
        ]
        last = Dense("dense2", n_classes, activation="softmax")
        drop = Dropout("dropout", dropout, dropout_seed)
        self.layers += [last, drop] if as_written else [drop, last]
        rng = np.random.default_rng(seed)
        shape = self.input_shape
        for layer in self.layers:
            shape = layer.build(shape, self.dtype, rng)
        if self.layers[-1] is last:
            last.emit_logits = True
            self.loss_fn: SoftmaxCrossEntropy | CrossEntropy = SoftmaxCrossEntropy()
        else:
            self.loss_fn = CrossEntropy()
        self._assemble(self.layers)
        self.input_grad: np.ndarray | None = None

    # -- computing -------------------------------------------------------------------
    def _check(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            raise ValueError(
                f"expected images of shape (N, {', '.join(map(str, self.input_shape))}), "
                f"got {x.shape}"
            )
        return np.ascontiguousarray(x, dtype=self.dtype)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """The last layer's output: logits when the loss applies the softmax, else probabilities."""
        a = self._check(x)
        if tracing():
            record("input", a, "pixels / 255", Msg("the images, (N, H, W, C)"))
        for layer in self.layers:
            a = layer.forward(a, training)
        return a

    def loss_and_backward(self, x: np.ndarray, y: np.ndarray, input_grad: bool = False) -> float:
        """Forward (training mode), the mean loss, and backward; grads then hold dL/dθ.

        With ``input_grad``, the gradient is carried on to the images themselves and
        kept in ``self.input_grad`` (N, H, W, C): how the loss changes with each pixel.
        """
        out = self.forward(x, training=True)
        y = np.ascontiguousarray(y, dtype=np.int64)
        loss = self.loss_fn.forward(out, y)
        self.count = y.size
        self.correct = int(np.sum(np.argmax(out, axis=1) == y))
        grad = self.loss_fn.backward()
        for i in range(len(self.layers) - 1, -1, -1):
            # the images are data, not parameters: their gradient only when asked
            grad = self.layers[i].backward(grad, need_dx=i > 0 or input_grad)
        self.input_grad = grad.copy() if input_grad else None
        return loss

    def _probabilities(self, out: np.ndarray) -> np.ndarray:
        if isinstance(self.loss_fn, SoftmaxCrossEntropy):
            return self.loss_fn.probabilities(out)
        return out.copy()

    def predict_proba(self, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Class probabilities (N, classes), inference mode (dropout off)."""
        parts = [
            self._probabilities(self.forward(x[s : s + batch_size], training=False))
            for s in range(0, x.shape[0], batch_size)
        ]
        return np.concatenate(parts) if parts else np.empty((0, self.n_classes), self.dtype)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.predict_proba(x), axis=1)

    def evaluate(
        self, x: np.ndarray, y: np.ndarray, batch_size: int = PREDICT_BATCH
    ) -> tuple[float, float]:
        """(mean loss, accuracy) in inference mode, in one pass over the data."""
        total, correct = 0.0, 0
        for s in range(0, x.shape[0], batch_size):
            out = self.forward(x[s : s + batch_size], training=False)
            yb = np.ascontiguousarray(y[s : s + batch_size], dtype=np.int64)
            total += self.loss_fn.forward(out, yb) * yb.size
            correct += int(np.sum(np.argmax(out, axis=1) == yb))
        n = max(x.shape[0], 1)
        return total / n, correct / n

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean loss in inference mode."""
        return self.evaluate(x, y)[0]

    def summary(self) -> list[SummaryRow]:
        return [
            SummaryRow(l.name, l.kind, l.output_shape, l.n_params, l.describe())
            for l in self.layers
        ]

    # -- saving ----------------------------------------------------------------------
    @classmethod
    def param_shapes(cls, config: dict):
        """(name, shape) of every parameter of the model a config describes, without building it."""
        H, W, C = (int(d) for d in config["input_shape"])
        K = int(config["n_classes"])
        # each "same" convolution keeps the size; each pooling halves it, rounding up
        for _ in FILTERS:
            H, W = -(-H // POOL[0]), -(-W // POOL[1])
        R, S = KERNEL
        yield "conv1.w", (R, S, C, FILTERS[0])
        yield "conv1.b", (FILTERS[0],)
        yield "conv2.w", (R, S, FILTERS[0], FILTERS[1])
        yield "conv2.b", (FILTERS[1],)
        yield "dense1.w", (H * W * FILTERS[1], HIDDEN)
        yield "dense1.b", (HIDDEN,)
        yield "dense2.w", (HIDDEN, K)
        yield "dense2.b", (K,)


def checkpoint_split(model: CNN, data: str | None = None, cache_dir=None) -> ImageSplit:
    """The images a checkpoint's model is used on: ``data`` if given, else the data it was
    trained on, split as it was (its config remembers how)."""
    cfg = model.extra_config
    return load_split(
        data or cfg.get("data", DEFAULT_DATA),
        cfg.get("split_seed", 0),
        cfg.get("test_fraction", 0.2),
        cache_dir,
    )
