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

x (R, C), gamma and beta (C,); mean and rstd (R,). GELU is the tanh approximation.
The attention and block references take x (N, T, D) and a dict p of parameters
named as nbengine's layers name them ("attn.q.W", "ln1.gamma", ...); weights
come back as (N, H, T, T).
The layer-norm backward goes step by step through var and mean (the chain rule
written out), not through the kernels' compact formula.
"""

from __future__ import annotations

import numpy as np

GELU_K = np.sqrt(2.0 / np.pi)
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
    dmean = -np.sum(dxhat, axis=-1, keepdims=True) / std + dvar * np.mean(-2.0 * xc, axis=-1, keepdims=True)
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
    scores = np.einsum("nhte,nhse->nhts", q, k) / np.sqrt(E)
    if causal:
        scores = np.where(np.tril(np.ones((T, T), bool)), scores, -np.inf)
    weights = _softmax(scores)
    z = np.einsum("nhts,nhse->nhte", weights, v).transpose(0, 2, 1, 3).reshape(N, T, D)
    return z @ p[f"{prefix}o.W"] + p[f"{prefix}o.b"], weights


def transformer_block_ref(x, p, heads, causal, prefix="", eps=1e-5):
    """h = x + attention(layernorm(x)); y = h + W2·gelu(W1·layernorm(h))."""
    N, T, D = x.shape

    def ln(a, name):
        return layernorm_ref(a.reshape(-1, D), p[f"{prefix}{name}.gamma"], p[f"{prefix}{name}.beta"],
                             eps)[0].reshape(N, T, D)

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
