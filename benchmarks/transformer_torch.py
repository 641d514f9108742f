"""The Transformer language model in PyTorch, for the benchmark: the same weights, the same computation.

# N = batch, T = positions, D = model size, H = heads, F = feed-forward units, V = vocabulary

PyTorch is not a dependency of nbengine; this module imports it only when a model
is made (``rnn_torch.available()`` says whether it can be, without importing it).

The model, written as a PyTorch user writes it: token and position embeddings
(``nn.Parameter``s, added), then per block ``h = x + attn(LayerNorm(x))``,
``y = h + Linear(GELU(Linear(LayerNorm(h))))`` with the tanh GELU, where attn
projects q, k and v with ``nn.Linear``, splits them into heads and calls
``F.scaled_dot_product_attention(..., is_causal=True)``; a last LayerNorm, a
Linear onto the vocabulary, ``F.cross_entropy`` averaged over the N·T tokens.
Trained with ``clip_grad_norm_`` and ``torch.optim.Adam`` (β 0.9, 0.999; ε
10⁻⁷ as nbengine's, which PyTorch adds to √v̂ where nbengine adds it to √v: the
same update but in the last digits). Parameters come under nbengine's names; a
Linear layer's weight is nbengine's W transposed, (out, in).

Threads: ``torch.set_num_threads(threads)``, the number of threads Numba uses.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from benchmarks.rnn_torch import import_torch


class TorchTransformerLM:
    """Embeddings → causal blocks → LayerNorm → Linear → cross-entropy, from nbengine's parameters."""

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        heads: int,
        blocks: int,
        lr: float = 0.003,
        max_norm: float | None = 1.0,
        threads: int | None = None,
        eps: float = 1e-5,
        adam_eps: float = 1e-7,
    ):
        torch = import_torch()
        import torch.nn.functional as F

        self.torch, self.F = torch, F
        if threads is not None:
            torch.set_num_threads(threads)
        nn = torch.nn
        self.heads, self.blocks, self.eps, self.max_norm = heads, blocks, eps, max_norm
        V, D = params["embed.tokens"].shape

        def linear(name):
            W = params[f"{name}.W"]
            layer = nn.Linear(W.shape[0], W.shape[1], dtype=torch.from_numpy(W).dtype)
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                layer.bias.copy_(torch.from_numpy(params[f"{name}.b"]))
            return layer

        def norm(name):
            gamma = params[f"{name}.gamma"]
            layer = nn.LayerNorm(D, eps=eps, dtype=torch.from_numpy(gamma).dtype)
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(gamma))
                layer.bias.copy_(torch.from_numpy(params[f"{name}.beta"]))
            return layer

        m = nn.ModuleDict()
        m["tokens"] = nn.Embedding(V, D, dtype=torch.from_numpy(params["embed.tokens"]).dtype)
        with torch.no_grad():
            m["tokens"].weight.copy_(torch.from_numpy(params["embed.tokens"]))
        self.positions = nn.Parameter(torch.from_numpy(params["embed.positions"].copy()))
        for b in range(blocks):
            pre = f"block{b}."
            m[f"block{b}"] = nn.ModuleDict(
                {
                    "ln1": norm(pre + "ln1"),
                    "ln2": norm(pre + "ln2"),
                    **{w: linear(f"{pre}attn.{w}") for w in "qkvo"},
                    "up": linear(pre + "ff.up"),
                    "down": linear(pre + "ff.down"),
                }
            )
        m["ln"], m["affine"] = norm("ln"), linear("affine")
        self.model = m
        self.parameters = [*m.parameters(), self.positions]
        self.opt = torch.optim.Adam(self.parameters, lr=lr, betas=(0.9, 0.999), eps=adam_eps)

    def _block(self, x, blk):
        F = self.F
        N, T, D = x.shape
        H = self.heads
        a = blk["ln1"](x)
        q, k, v = (blk[w](a).view(N, T, H, D // H).transpose(1, 2) for w in "qkv")
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(N, T, D)
        h = x + blk["o"](z)
        return h + blk["down"](F.gelu(blk["up"](blk["ln2"](h)), approximate="tanh"))

    def _loss(self, xs, ts):
        T = xs.shape[1]
        x = self.model["tokens"](xs) + self.positions[:T]
        for b in range(self.blocks):
            x = self._block(x, self.model[f"block{b}"])
        scores = self.model["affine"](self.model["ln"](x))
        return self.F.cross_entropy(scores.reshape(-1, scores.shape[-1]), ts.reshape(-1))

    def loss(self, xs: np.ndarray, ts: np.ndarray) -> float:
        with self.torch.no_grad():
            return float(self._loss(self.torch.from_numpy(xs), self.torch.from_numpy(ts)))

    def train_step(self, xs: np.ndarray, ts: np.ndarray) -> float:
        torch = self.torch
        self.opt.zero_grad(set_to_none=False)
        loss = self._loss(torch.from_numpy(xs), torch.from_numpy(ts))
        loss.backward()
        if self.max_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.parameters, self.max_norm)
        self.opt.step()
        return float(loss.detach())
