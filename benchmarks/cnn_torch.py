"""The lesson's MNIST CNN in PyTorch, for the benchmark: the same weights, the same computation.

PyTorch is not a dependency of nbengine. This module imports it only when a
``TorchCNN`` is made; ``available()`` says whether that can work without
importing it (an import takes about 3 s).

Layout. PyTorch stores a convolution's weight as (K, C, R, S) and images as
NCHW; a Linear layer's weight as (out, in). Parameters come in nbengine's layout
(conv (R, S, C, K), dense (in, out), dense1's rows in the (h, w, c) order of a
flattened NHWC map) and are converted once: conv weights transposed, dense
weights transposed, dense1's rows reordered to the (c, h, w) order in which
``torch.flatten`` reads an NCHW map.

Padding. PyTorch's ``padding="same"`` pads symmetrically (and refuses stride 2),
while Keras's "same" puts the odd padding position after (bottom/right): for a
3 × 3 convolution with stride 2 on an even input that is (top, bottom, left,
right) = (0, 1, 0, 1). So every layer pads explicitly with ``F.pad``, with the
amounts from ``cnn_numpy.paddings``; max pooling pads with -inf so padding never
wins. In the lesson's network the pools need no padding (28 and 14 are even).

Threads. ``torch.set_num_threads`` is set to the number of threads Numba uses,
so both run on the same number of cores.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

import numpy as np

from tests.reference.cnn_numpy import (
    DROPOUT,
    IMAGE,
    POOL,
    POOL_STRIDE,
    from_textbook,
    paddings,
    to_textbook,
)


def available() -> bool:
    """Whether PyTorch is installed (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def import_torch():
    """Import torch (about 3 s the first time) and return it."""
    import torch

    return torch


def _linear_t(name: str, a):
    """A dense weight transposed between (in, out) and PyTorch's (out, in); anything else as it is."""
    return a.T if name.startswith("dense") and name.endswith(".w") else a


def _f_pad(t, b, l, r) -> tuple[int, int, int, int]:
    """F.pad's order for the last two axes: (left, right, top, bottom)."""
    return (l, r, t, b)


class TorchCNN:
    """The lesson's network with torch.nn.functional, trained with torch.optim.SGD.

    x is given as nbengine holds it, (N, 28, 28, 1) float32, and viewed as NCHW
    without a copy (with one channel the two layouts have the same bytes).
    """

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float = 0.01,
        dropout: float = DROPOUT,
        threads: int | None = None,
        seed: int = 0,
    ):
        torch = import_torch()
        import torch.nn.functional as F

        self.torch, self.F = torch, F
        if threads is not None:
            torch.set_num_threads(threads)
        torch.manual_seed(seed)
        dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[
            np.dtype(params["conv1.w"].dtype)
        ]

        # The textbook's layout but for Linear's weights, which PyTorch stores (out, in).
        self.w = {
            k: torch.nn.Parameter(torch.tensor(np.ascontiguousarray(_linear_t(k, a)), dtype=dtype))
            for k, a in to_textbook(params).items()
        }
        self.pads = {name: _f_pad(*p) for name, p in paddings().items()}
        self.dropout = dropout
        self.opt = torch.optim.SGD(list(self.w.values()), lr=lr)

    def _input(self, x: np.ndarray):
        if x.ndim != 4 or x.shape[1:] != IMAGE:
            raise ValueError(
                f"expected images of shape (N, {IMAGE[0]}, {IMAGE[1]}, {IMAGE[2]}), got {x.shape}"
            )
        return self.torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)

    def _labels(self, y: np.ndarray):
        return self.torch.from_numpy(np.asarray(y, np.int64))

    def logits(self, x, train: bool = False):
        """The network's output before softmax; x a tensor (N, 1, 28, 28)."""
        F, w, pads = self.F, self.w, self.pads
        for i in (1, 2):
            x = F.relu(F.conv2d(F.pad(x, pads[f"conv{i}"]), w[f"conv{i}.w"], w[f"conv{i}.b"]))
            if any(pads[f"pool{i}"]):
                x = F.pad(x, pads[f"pool{i}"], value=float("-inf"))
            x = F.max_pool2d(x, POOL, POOL_STRIDE)
        x = self.torch.flatten(x, 1)
        x = F.relu(F.linear(x, w["dense1.w"], w["dense1.b"]))
        x = F.dropout(x, self.dropout, training=train)
        return F.linear(x, w["dense2.w"], w["dense2.b"])

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward (dropout on), mean cross-entropy, backward, one SGD step; returns the loss."""
        loss = self.loss_and_backward(x, y)
        self.opt.step()
        return loss

    def loss_and_backward(self, x: np.ndarray, y: np.ndarray, train: bool = True) -> float:
        """Forward and backward without an update; ``grads()`` then holds the gradients."""
        self.opt.zero_grad(set_to_none=True)
        loss = self.F.cross_entropy(self.logits(self._input(x), train=train), self._labels(y))
        loss.backward()
        return float(loss.detach())

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean loss in inference mode (dropout off)."""
        with self.torch.no_grad():
            return float(self.F.cross_entropy(self.logits(self._input(x)), self._labels(y)))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10) under torch.no_grad(), dropout off."""
        with self.torch.no_grad():
            return self.F.softmax(self.logits(self._input(x)), dim=1).numpy()

    def _to_nbengine(self, get) -> dict[str, np.ndarray]:
        """Each tensor's array (by get) in nbengine's layout; from_textbook copies them."""
        return from_textbook({k: _linear_t(k, get(v)) for k, v in self.w.items()})

    def params(self) -> dict[str, np.ndarray]:
        """The parameters in nbengine's layout (copies)."""
        return self._to_nbengine(lambda t: t.detach().numpy())

    def grads(self) -> dict[str, np.ndarray]:
        """The last backward pass's gradients in nbengine's layout."""
        return self._to_nbengine(lambda t: t.grad.numpy())
