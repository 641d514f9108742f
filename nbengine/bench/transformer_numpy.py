"""Layer normalisation and GELU in NumPy: an independent reference.

# R = rows (batch × positions), C = features; E = any number of values

Whole-array formulation, nothing imported from nbengine's kernels, so it can judge them:

    layernorm_ref(x, gamma, beta, eps) -> (out, mean, rstd)
    layernorm_ref_backward(dout, x, gamma, eps) -> (dx, dgamma, dbeta)
    gelu_ref(x) -> out
    gelu_ref_backward(dout, x) -> dx

x (R, C), gamma and beta (C,); mean and rstd (R,). GELU is the tanh approximation.
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
