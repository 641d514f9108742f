"""Scaled dot-product attention in PyTorch, for the benchmark: two formulations of the same step.

# N = batch, T = query positions, S = key positions, D = d_k (query/key size), E = value size

PyTorch is not a dependency of nbengine. This module imports it only when a
``TorchAttention`` is made; ``available()`` says whether that can work without
importing it (an import takes about 3 s).

One step is forward and backward: out = softmax(q·kᵀ·scale)·v, then
``out.backward(dout)``, which leaves dq, dk and dv in the inputs' ``.grad``.
Two ways of writing the forward:

- ``"matmul"``: as the lesson writes it and autograd records it, ``q @ kᵀ``,
  ``* scale``, the causal mask as ``masked_fill(-inf)`` when asked, ``softmax``,
  ``@ v``;
- ``"sdpa"``: ``torch.nn.functional.scaled_dot_product_attention`` (fused where
  PyTorch's CPU build has a fused kernel), with ``is_causal`` and ``scale``.

Threads. ``torch.set_num_threads`` is set to the number of threads Numba uses,
so both run on the same number of cores.
"""

from __future__ import annotations

import importlib.util

import numpy as np

FORMULATIONS = ("matmul", "sdpa")


def available() -> bool:
    """Whether PyTorch is installed (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def import_torch():
    """Import torch (about 3 s the first time) and return it."""
    import torch

    return torch


class TorchAttention:
    """Forward and backward of one attention call on fixed inputs (copies of the NumPy arrays given)."""

    def __init__(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        dout: np.ndarray,
        scale: float,
        causal: bool,
        formulation: str = "matmul",
        threads: int | None = None,
    ):
        if formulation not in FORMULATIONS:
            raise ValueError(f"formulation {formulation!r}: one of {', '.join(FORMULATIONS)}")
        torch = import_torch()
        import torch.nn.functional as F

        self.torch, self.F = torch, F
        if threads is not None:
            torch.set_num_threads(threads)
        self.q, self.k, self.v = (torch.from_numpy(a.copy()).requires_grad_() for a in (q, k, v))
        self.dout = torch.from_numpy(dout.copy())
        self.scale, self.causal, self.formulation = float(scale), bool(causal), formulation
        T, S = q.shape[1], k.shape[1]
        # True where query t must not see key s (s > t), for masked_fill
        self.hidden = torch.ones(T, S, dtype=torch.bool).triu(1) if causal else None

    def forward(self):
        if self.formulation == "sdpa":
            return self.F.scaled_dot_product_attention(
                self.q, self.k, self.v, is_causal=self.causal, scale=self.scale
            )
        scores = (self.q @ self.k.transpose(-2, -1)) * self.scale
        if self.hidden is not None:
            scores = scores.masked_fill(self.hidden, float("-inf"))
        return self.torch.softmax(scores, dim=-1) @ self.v

    def step(self) -> tuple[np.ndarray, ...]:
        """Forward and backward; returns (out, dq, dk, dv) as NumPy arrays (views of PyTorch's)."""
        for t in (self.q, self.k, self.v):
            t.grad = None
        out = self.forward()
        out.backward(self.dout)
        return out.detach().numpy(), self.q.grad.numpy(), self.k.grad.numpy(), self.v.grad.numpy()
