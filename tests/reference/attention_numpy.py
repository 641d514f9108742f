"""Scaled dot-product attention in NumPy with einsum: an independent reference.

# N = batch, T = query positions, S = key positions, D = d_k (query/key size), E = value size

Whole-array formulation, nothing imported from nbengine's kernels, so it can judge them:

    attention_ref(q, k, v, scale, causal=False) -> (out, weights)
    attention_ref_backward(dout, q, k, v, scale, causal=False, weights=None) -> (dq, dk, dv)

q (N, T, D), k (N, S, D), v (N, S, E); weights (N, T, S), out (N, T, E).
causal (T == S): query t sees keys s ≤ t only; the others get weight 0.
"""

from __future__ import annotations

import numpy as np


def causal_mask(T: int, S: int) -> np.ndarray:
    """(T, S) bool: True where query t may attend to key s (s ≤ t)."""
    return np.arange(S)[None, :] <= np.arange(T)[:, None]


def attention_ref(q, k, v, scale, causal=False):
    """out = softmax(q·kᵀ·scale)·v per row; returns (out, weights)."""
    scores = np.einsum("ntd,nsd->nts", q, k) * scale
    if causal:
        keep = np.broadcast_to(causal_mask(q.shape[1], k.shape[1]), scores.shape)
        top = np.where(keep, scores, -np.inf).max(axis=-1, keepdims=True)
        e = np.where(keep, np.exp(np.where(keep, scores - top, 0.0)), 0.0).astype(scores.dtype)
    else:
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = e / e.sum(axis=-1, keepdims=True)
    out = np.einsum("nts,nse->nte", weights, v)
    return out, weights


def attention_ref_backward(dout, q, k, v, scale, causal=False, weights=None):
    """Gradients (dq, dk, dv) of sum(dout * out) for out = attention_ref(q, k, v, ...).

    weights: the forward pass's, if kept (as a training step keeps them); else recomputed."""
    if weights is None:
        _, weights = attention_ref(q, k, v, scale, causal)
    dv = np.einsum("nts,nte->nse", weights, dout)
    dW = np.einsum("nte,nse->nts", dout, v)
    dscores = weights * (dW - np.sum(weights * dW, axis=-1, keepdims=True))
    dq = np.einsum("nts,nsd->ntd", dscores, k) * scale
    dk = np.einsum("nts,ntd->nsd", dscores, q) * scale
    return dq, dk, dv
