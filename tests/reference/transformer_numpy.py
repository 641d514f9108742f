"""The pieces of a transformer in NumPy: an independent reference.

# R = rows (batch × positions), C = features; E = any number of values
# N = batch, T = positions, D = model size, H = heads, V = vocabulary

Whole-array formulation, nothing imported from nbengine's kernels, so it can judge them:

    layernorm_ref(x, gamma, beta, eps) -> (out, mean, rstd)
    layernorm_ref_backward(dout, x, gamma, eps) -> (dx, dgamma, dbeta)
    gelu_ref(x) -> out
    gelu_ref_backward(dout, x) -> dx

    multi_head_attention_ref(x, p, heads, causal, prefix="") -> (out, weights)
    transformer_block_ref(x, p, heads, causal, prefix="") -> y
    transformer_lm_ref(ids, p, heads, blocks) -> scores

    NumpyTransformerLM(params, heads, blocks, lr, max_norm).loss_and_grads(xs, ts) -> (loss, grads)
    NumpyTransformerLM(...).train_step(xs, ts) -> loss   (clip to a global norm, then Adam)

x (R, C), gamma and beta (C,); mean and rstd (R,). GELU is the tanh approximation.
The attention and block references take x (N, T, D) and a dict p of parameters
named as nbengine's layers name them ("attn.q.W", "ln1.gamma", ...); weights
come back as (N, H, T, T).
The layer-norm backward goes step by step through var and mean (the chain rule
written out), not through the kernels' compact formula.
"""

from __future__ import annotations

import math

import numpy as np

GELU_K = math.sqrt(2.0 / math.pi)  # Python floats: a float32 array stays float32
GELU_A = 0.044715


def layernorm_ref(x, gamma, beta, eps):
    """out = gamma · (x - mean) / √(var + eps) + beta, over the last axis."""
    mean = x.mean(axis=-1)
    var = ((x - mean[:, None]) ** 2).mean(axis=-1)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean[:, None]) * rstd[:, None]
    return gamma * xhat + beta, mean, rstd


def layernorm_ref_backward(dout, x, gamma, eps):
    """Gradients (dx, dgamma, dbeta) of sum(dout * out) for out = layernorm_ref(x, gamma, beta, eps)."""
    C = x.shape[-1]
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = (xc**2).mean(axis=-1, keepdims=True)
    std = np.sqrt(var + eps)
    xhat = xc / std
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxhat = dout * gamma
    dvar = np.sum(dxhat * xc, axis=-1, keepdims=True) * -0.5 * std**-3
    dmean = -np.sum(dxhat, axis=-1, keepdims=True) / std + dvar * np.mean(
        -2.0 * xc, axis=-1, keepdims=True
    )
    dx = dxhat / std + dvar * 2.0 * xc / C + dmean / C
    return dx, dgamma, dbeta


def gelu_ref(x):
    """0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))."""
    return 0.5 * x * (1.0 + np.tanh(GELU_K * (x + GELU_A * x**3)))


def gelu_ref_backward(dout, x):
    """dout · d gelu_ref(x) / dx."""
    t = np.tanh(GELU_K * (x + GELU_A * x**3))
    du = GELU_K * (1.0 + 3.0 * GELU_A * x**2)
    return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * du)


def _softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def multi_head_attention_ref(x, p, heads, causal, prefix=""):
    """Q, K, V projections, split into heads, softmax(Q·Kᵀ/√E)·V, merged, projected."""
    N, T, D = x.shape
    E = D // heads

    def project(name):  # (N, T, D) → (N, H, T, E)
        y = x @ p[f"{prefix}{name}.W"] + p[f"{prefix}{name}.b"]
        return y.reshape(N, T, heads, E).transpose(0, 2, 1, 3)

    q, k, v = project("q"), project("k"), project("v")
    scores = np.einsum("nhte,nhse->nhts", q, k) / math.sqrt(E)
    if causal:
        scores = np.where(np.tril(np.ones((T, T), bool)), scores, -np.inf)
    weights = _softmax(scores)
    z = np.einsum("nhts,nhse->nhte", weights, v).transpose(0, 2, 1, 3).reshape(N, T, D)
    return z @ p[f"{prefix}o.W"] + p[f"{prefix}o.b"], weights


def transformer_block_ref(x, p, heads, causal, prefix="", eps=1e-5):
    """h = x + attention(layernorm(x)); y = h + W2·gelu(W1·layernorm(h))."""
    N, T, D = x.shape

    def ln(a, name):
        return layernorm_ref(
            a.reshape(-1, D), p[f"{prefix}{name}.gamma"], p[f"{prefix}{name}.beta"], eps
        )[0].reshape(N, T, D)

    h = x + multi_head_attention_ref(ln(x, "ln1"), p, heads, causal, f"{prefix}attn.")[0]
    a = gelu_ref(ln(h, "ln2") @ p[f"{prefix}ff.up.W"] + p[f"{prefix}ff.up.b"])
    return h + a @ p[f"{prefix}ff.down.W"] + p[f"{prefix}ff.down.b"]


def transformer_lm_ref(ids, p, heads, blocks, eps=1e-5):
    """Token + position vectors, the causal blocks, a last layer norm, the scores (N, T, V)."""
    N, T = ids.shape
    x = p["embed.tokens"][ids] + p["embed.positions"][:T]
    for b in range(blocks):
        x = transformer_block_ref(x, p, heads, True, f"block{b}.", eps)
    D = x.shape[-1]
    x = layernorm_ref(x.reshape(-1, D), p["ln.gamma"], p["ln.beta"], eps)[0].reshape(N, T, D)
    return x @ p["affine.W"] + p["affine.b"]


class NumpyTransformerLM:
    """The Transformer LM's training step in NumPy: the forward of ``transformer_lm_ref``
    keeping what the backward needs, the backward written out layer by layer (each
    product's two gradients as matrix products, attention's softmax through its Jacobian),
    softmax cross-entropy averaged over the N·T tokens, clipping to a global norm and the
    textbook's Adam. Parameters are named as nbengine's model names them and copied."""

    def __init__(
        self,
        params,
        heads: int,
        blocks: int,
        lr: float = 0.003,
        max_norm: float | None = 1.0,
        beta1: float = 0.9,
        beta2: float = 0.999,
        adam_eps: float = 1e-7,
        eps: float = 1e-5,
    ):
        self.p = {k: np.array(v, copy=True) for k, v in params.items()}
        self.heads, self.blocks, self.eps = heads, blocks, eps
        self.lr, self.max_norm, self.beta1, self.beta2, self.adam_eps = (
            lr,
            max_norm,
            beta1,
            beta2,
            adam_eps,
        )
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.t = 0

    # -- forward, keeping what the backward needs ------------------------------------------
    def _ln(self, a, name):
        N, T, D = a.shape
        return layernorm_ref(
            a.reshape(-1, D), self.p[f"{name}.gamma"], self.p[f"{name}.beta"], self.eps
        )[0].reshape(N, T, D)

    def _ln_back(self, d, a, name, g):
        N, T, D = a.shape
        dx, g[f"{name}.gamma"], g[f"{name}.beta"] = layernorm_ref_backward(
            d.reshape(-1, D), a.reshape(-1, D), self.p[f"{name}.gamma"], self.eps
        )
        return dx.reshape(N, T, D)

    def _block(self, x, b):
        p, pre, H = self.p, f"block{b}.", self.heads
        N, T, D = x.shape
        E = D // H
        a1 = self._ln(x, pre + "ln1")

        def project(name):  # (N, T, D) → (N, H, T, E)
            return (
                (a1 @ p[f"{pre}attn.{name}.W"] + p[f"{pre}attn.{name}.b"])
                .reshape(N, T, H, E)
                .transpose(0, 2, 1, 3)
            )

        q, k, v = project("q"), project("k"), project("v")
        scores = np.einsum("nhte,nhse->nhts", q, k) / math.sqrt(E)
        scores = np.where(np.tril(np.ones((T, T), bool)), scores, -np.inf)
        weights = _softmax(scores)
        z = np.einsum("nhts,nhse->nhte", weights, v).transpose(0, 2, 1, 3).reshape(N, T, D)
        h = x + z @ p[f"{pre}attn.o.W"] + p[f"{pre}attn.o.b"]
        a2 = self._ln(h, pre + "ln2")
        u = a2 @ p[f"{pre}ff.up.W"] + p[f"{pre}ff.up.b"]
        g = gelu_ref(u)
        y = h + g @ p[f"{pre}ff.down.W"] + p[f"{pre}ff.down.b"]
        return y, (x, a1, q, k, v, weights, z, h, a2, u, g)

    def _block_back(self, dy, b, cache, grads):
        p, pre, H = self.p, f"block{b}.", self.heads
        x, a1, q, k, v, weights, z, h, a2, u, g = cache
        N, T, D = x.shape
        E = D // H

        def dense_back(d, a, name):  # y = a·W + b: dW, db into grads, returns da
            grads[f"{name}.W"] = a.reshape(-1, a.shape[-1]).T @ d.reshape(-1, d.shape[-1])
            grads[f"{name}.b"] = d.reshape(-1, d.shape[-1]).sum(axis=0)
            return d @ p[f"{name}.W"].T

        du = gelu_ref_backward(dense_back(dy, g, pre + "ff.down"), u)
        dh = dy + self._ln_back(dense_back(du, a2, pre + "ff.up"), h, pre + "ln2", grads)
        dz = dense_back(dh, z, pre + "attn.o").reshape(N, T, H, E).transpose(0, 2, 1, 3)
        dweights = np.einsum("nhte,nhse->nhts", dz, v)
        dv = np.einsum("nhts,nhte->nhse", weights, dz)
        dscores = (
            weights * (dweights - (dweights * weights).sum(axis=-1, keepdims=True)) / math.sqrt(E)
        )
        dq = np.einsum("nhts,nhse->nhte", dscores, k)
        dk = np.einsum("nhts,nhte->nhse", dscores, q)
        da1 = sum(
            dense_back(d.transpose(0, 2, 1, 3).reshape(N, T, D), a1, f"{pre}attn.{name}")
            for name, d in (("q", dq), ("k", dk), ("v", dv))
        )
        return dh + self._ln_back(da1, x, pre + "ln1", grads)

    def loss_and_grads(self, xs, ts):
        """Mean cross-entropy of predicting ts (N, T) after xs, and dL/dθ for every parameter."""
        p = self.p
        N, T = xs.shape
        x = p["embed.tokens"][xs] + p["embed.positions"][:T]
        caches = []
        for b in range(self.blocks):
            x, cache = self._block(x, b)
            caches.append(cache)
        xf = self._ln(x, "ln")
        scores = xf @ p["affine.W"] + p["affine.b"]
        probs = _softmax(scores.reshape(N * T, -1))
        rows, targets = np.arange(N * T), ts.reshape(-1)
        loss = float(-np.log(probs[rows, targets]).mean())
        dscores = probs
        dscores[rows, targets] -= 1
        dscores /= N * T
        grads = {"affine.W": xf.reshape(N * T, -1).T @ dscores, "affine.b": dscores.sum(axis=0)}
        d = self._ln_back((dscores @ p["affine.W"].T).reshape(N, T, -1), x, "ln", grads)
        for b in reversed(range(self.blocks)):
            d = self._block_back(d, b, caches[b], grads)
        grads["embed.tokens"] = np.zeros_like(p["embed.tokens"])
        np.add.at(grads["embed.tokens"], xs.reshape(-1), d.reshape(N * T, -1))
        grads["embed.positions"] = np.zeros_like(p["embed.positions"])
        grads["embed.positions"][:T] = d.sum(axis=0)
        return loss, grads

    def loss(self, xs, ts) -> float:
        return self.loss_and_grads(xs, ts)[0]

    def train_step(self, xs, ts) -> float:
        """loss_and_grads, the gradients scaled to at most ``max_norm`` together, Adam's update."""
        loss, grads = self.loss_and_grads(xs, ts)
        if self.max_norm is not None:
            norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
            if norm > self.max_norm:
                for g in grads.values():
                    g *= g.dtype.type(self.max_norm / (norm + 1e-6))
        self.t += 1
        alpha = self.lr * math.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        for name, w in self.p.items():
            g, m, v = grads[name], self.m[name], self.v[name]
            m += (1 - self.beta1) * (g - m)
            v += (1 - self.beta2) * (g * g - v)
            w -= alpha * m / (np.sqrt(v) + self.adam_eps)
        return loss
