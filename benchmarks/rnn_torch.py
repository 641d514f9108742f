"""The recurrent language models in PyTorch, for the benchmark: the same weights, the same computation.

# N = batch, T = time steps, V = vocabulary, D = embedding size, H = hidden size

PyTorch is not a dependency of nbengine. This module imports it only when a
model is made; ``available()`` says whether that can work without importing it
(an import takes about 3 s).

The model: ``nn.Embedding(V, D)`` → ``nn.LSTM(D, H)`` or ``nn.RNN(D, H)`` (tanh),
both ``batch_first`` → ``nn.Linear(H, V)`` → ``F.cross_entropy(...,
ignore_index=-1)``, the mean over the counted tokens; trained with
``clip_grad_norm_`` and ``torch.optim.SGD``. The hidden (and cell) state is
carried from one call to the next and detached from the graph between calls
(truncated BPTT), until ``reset_state()``.

Layout. Parameters come under nbengine's names and layouts and are converted once:

- PyTorch stores the input and recurrent weights transposed, (G, D) and
  (G, H), and a Linear layer's weight as (V, H).
- The LSTM's 4H rows are its gates in the order i, f, g, o, where nbengine's
  columns are f, g, i, o (as the textbook slices them): the blocks are
  reordered, in the weights and in the bias.
- PyTorch adds two biases, ``bias_ih`` and ``bias_hh``. nbengine's b goes into
  ``bias_ih``; ``bias_hh`` is zero and frozen (requires_grad False), so the
  clipping norm and the SGD update see one bias, as nbengine's do.

Threads. ``torch.set_num_threads`` is set to the number of threads Numba uses,
so both run on the same number of cores.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping

import numpy as np

# nbengine's LSTM gate blocks are (f, g, i, o); PyTorch's are (i, f, g, o)
TORCH_FROM_NBENGINE = (2, 0, 1, 3)  # PyTorch's block k is nbengine's block TORCH_FROM_NBENGINE[k]
NBENGINE_FROM_TORCH = (1, 2, 0, 3)


def available() -> bool:
    """Whether PyTorch is installed (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def import_torch():
    """Import torch (about 3 s the first time) and return it."""
    return importlib.import_module("torch")


def reorder_gates(a: np.ndarray, order, axis: int = -1) -> np.ndarray:
    """a with its 4 gate blocks along ``axis`` taken in ``order`` (block k of the result is block order[k])."""
    blocks = np.split(a, 4, axis=axis)
    return np.ascontiguousarray(np.concatenate([blocks[k] for k in order], axis=axis))


class TorchLM:
    """Embedding → LSTM or RNN → Linear → cross-entropy (ignore_index −1), from nbengine's parameters."""

    kind = ""

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float = 0.1,
        max_norm: float | None = 0.25,
        threads: int | None = None,
        seed: int = 0,
    ):
        torch = import_torch()
        import torch.nn.functional as F

        self.torch, self.F = torch, F
        if threads is not None:
            torch.set_num_threads(threads)
        torch.manual_seed(seed)
        k = self.kind
        dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[
            np.dtype(params["embed.W"].dtype)
        ]
        V, D = params["embed.W"].shape
        H = params[f"{k}.Wh"].shape[0]
        self.embed = torch.nn.Embedding(V, D, dtype=dtype)
        recurrent = {"lstm": torch.nn.LSTM, "rnn": torch.nn.RNN}[k]
        self.recurrent = recurrent(D, H, batch_first=True, dtype=dtype)
        self.affine = torch.nn.Linear(H, V, dtype=dtype)
        self.recurrent.bias_hh_l0.requires_grad_(False)
        with torch.no_grad():
            for name, value in self._to_torch(params).items():
                self._tensor(name).copy_(torch.from_numpy(value))
            self.recurrent.bias_hh_l0.zero_()
        self.trainable = [
            self.embed.weight,
            self.recurrent.weight_ih_l0,
            self.recurrent.weight_hh_l0,
            self.recurrent.bias_ih_l0,
            self.affine.weight,
            self.affine.bias,
        ]
        self.lr, self.max_norm = lr, max_norm
        self.opt = torch.optim.SGD(self.trainable, lr=lr)
        self.state = None

    # -- layouts ------------------------------------------------------------------------------

    def _tensor(self, name: str):
        return {
            "embed.W": self.embed.weight,
            "Wx": self.recurrent.weight_ih_l0,
            "Wh": self.recurrent.weight_hh_l0,
            "b": self.recurrent.bias_ih_l0,
            "affine.W": self.affine.weight,
            "affine.b": self.affine.bias,
        }[name]

    def _gates(self, a: np.ndarray, order, axis: int) -> np.ndarray:
        return reorder_gates(a, order, axis) if self.kind == "lstm" else np.ascontiguousarray(a)

    def _to_torch(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        k = self.kind
        return {
            "embed.W": np.ascontiguousarray(params["embed.W"]),
            "Wx": self._gates(params[f"{k}.Wx"].T, TORCH_FROM_NBENGINE, 0),
            "Wh": self._gates(params[f"{k}.Wh"].T, TORCH_FROM_NBENGINE, 0),
            "b": self._gates(params[f"{k}.b"], TORCH_FROM_NBENGINE, 0),
            "affine.W": np.ascontiguousarray(params["affine.W"].T),
            "affine.b": np.ascontiguousarray(params["affine.b"]),
        }

    def _to_nbengine(self, get) -> dict[str, np.ndarray]:
        k = self.kind
        a = {
            name: get(self._tensor(name))
            for name in ("embed.W", "Wx", "Wh", "b", "affine.W", "affine.b")
        }
        return {
            "embed.W": a["embed.W"],
            f"{k}.Wx": self._gates(a["Wx"], NBENGINE_FROM_TORCH, 0).T.copy(),
            f"{k}.Wh": self._gates(a["Wh"], NBENGINE_FROM_TORCH, 0).T.copy(),
            f"{k}.b": self._gates(a["b"], NBENGINE_FROM_TORCH, 0),
            "affine.W": a["affine.W"].T.copy(),
            "affine.b": a["affine.b"],
        }

    def params(self) -> dict[str, np.ndarray]:
        """The parameters in nbengine's names and layouts (copies)."""
        return self._to_nbengine(lambda t: t.detach().numpy().copy())

    def grads(self) -> dict[str, np.ndarray]:
        """The last backward pass's gradients (after clipping, if train_step clipped them), in nbengine's layouts."""
        return self._to_nbengine(lambda t: t.grad.numpy().copy())

    # -- computing --------------------------------------------------------------------------

    def reset_state(self) -> None:
        self.state = None

    def _loss(self, xs: np.ndarray, ts: np.ndarray):
        torch = self.torch
        xs = torch.from_numpy(np.asarray(xs, np.int64))
        ts = torch.from_numpy(np.asarray(ts, np.int64))
        hs, state = self.recurrent(self.embed(xs), self.state)
        # the state goes on to the next call, the graph behind it does not
        self.state = (
            tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        )
        scores = self.affine(hs)
        return self.F.cross_entropy(
            scores.reshape(-1, scores.shape[-1]), ts.reshape(-1), ignore_index=-1
        )

    def loss_and_backward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """Forward and BPTT without clipping or an update; ``grads()`` then holds the gradients."""
        self.opt.zero_grad(set_to_none=True)
        loss = self._loss(xs, ts)
        loss.backward()
        return float(loss.detach())

    def train_step(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """Forward, BPTT, clip_grad_norm_ to max_norm (unless None), one SGD step; returns the loss."""
        self.opt.zero_grad(set_to_none=True)
        loss = self._loss(xs, ts)
        loss.backward()
        if self.max_norm is not None:
            self.torch.nn.utils.clip_grad_norm_(self.trainable, self.max_norm)
        self.opt.step()
        return float(loss.detach())


class TorchRNNLM(TorchLM):
    kind = "rnn"


class TorchLSTMLM(TorchLM):
    kind = "lstm"
