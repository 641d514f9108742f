"""Compiling the kernels before a run, one layer at a time, so the wait can be shown.

Numba compiles a kernel the first time it is called with a new kind of argument
and keeps the machine code in its cache (``cache=True``); later starts load it in
well under a second. On a first run the CNN's kernels take some seconds to
compile. :func:`warm_up` runs every kernel of a training step on one tiny batch,
through a throwaway copy of the model (so the real model, its dropout generator
and its optimizer are untouched), and yields after each piece so the caller can
show progress. The same for the language models (RNN and LSTM).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np


def is_cached(kernel) -> bool | None:
    """Whether Numba's cache holds compiled code of this kernel (None: cannot tell)."""
    try:
        # The index lists the compiled versions; Numba returns it empty when the
        # source file changed since they were compiled.
        return bool(kernel._cache._cache_file._load_index())
    except Exception:  # a private interface of Numba's: if it changed, we cannot tell
        return None


def cnn_is_cached() -> bool | None:
    """Whether the CNN's slowest-to-compile kernels are in the cache."""
    from nbengine.kernels.conv2d import conv2d_backward
    from nbengine.kernels.dense import dense_backward
    from nbengine.kernels.registry import compiled

    states = [is_cached(compiled(k)) for k in (conv2d_backward, dense_backward)]
    if None in states:
        return None
    return all(states)


def warm_up_cnn(model, optimizer_name: str) -> Iterator[tuple[str, int, int]]:
    """Run each kernel of a CNN training step once on one image; yield (what, done, total)."""
    from nbengine.models.cnn import CNN
    from nbengine.optim import OPTIMIZERS

    twin = CNN(model.seed, model.dtype, model.as_written, model.dropout_rate, model.n_classes,
               model.class_names, model.input_shape)
    layers = twin.layers
    total = 2 * len(layers) + 2
    done = 0
    x = np.zeros((2,) + twin.input_shape, twin.dtype)
    y = np.zeros(2, np.int64)
    acts = [x]
    for layer in layers:
        acts.append(layer.forward(acts[-1], training=True))
        done += 1
        yield f"{layer.name} forward", done, total
    twin.loss_fn.forward(acts[-1], y)
    grad = twin.loss_fn.backward()
    done += 1
    yield "loss", done, total
    for i in range(len(layers) - 1, -1, -1):
        grad = layers[i].backward(grad, need_dx=i > 0)
        done += 1
        yield f"{layers[i].name} backward", done, total
    OPTIMIZERS[optimizer_name](twin.params, twin.grads, 1e-3).step()
    twin.predict(x)  # the inference path (softmax without the loss)
    done += 1
    yield f"{optimizer_name} update", done, total


def pronoun_is_cached() -> bool | None:
    """Whether the pronoun model's slowest-to-compile kernels are in the cache."""
    from nbengine.kernels.attention import attention_backward
    from nbengine.kernels.layernorm import layernorm_backward
    from nbengine.kernels.registry import compiled

    states = [is_cached(compiled(k)) for k in (attention_backward, layernorm_backward)]
    return None if None in states else all(states)


def lm_is_cached(model) -> bool | None:
    """Whether Numba's cache holds the model's slowest-to-compile kernel (None: cannot tell)."""
    from nbengine.kernels.registry import compiled

    return is_cached(compiled(model.slowest_kernel()))


def warm_up_lm(model, optimizer_name: str) -> Iterator[tuple[str, int, int]]:
    """Run each kernel of a training step once on a tiny twin of the model (same kind and
    dtype, so the same compiled code; the real model is untouched); yield (what, done, total)."""
    from nbengine.optim import OPTIMIZERS, global_norm

    twin = model.tiny_twin()
    total = 2 * len(twin.layers) + 3
    done = 0
    xs = np.zeros((2, 2), np.int64)
    h = xs
    for layer in twin.layers:
        h = layer.forward(h, training=True)
        done += 1
        yield f"{layer.name} forward", done, total
    N, T, V = h.shape
    twin.loss_fn.forward(h.reshape(N * T, V), xs.reshape(-1))
    grad = twin.loss_fn.backward().reshape(N, T, V)
    done += 1
    yield "loss", done, total
    for i in range(len(twin.layers) - 1, -1, -1):
        grad = twin.layers[i].backward(grad)
        done += 1
        yield f"{twin.layers[i].name} backward", done, total
    global_norm(twin.grads)
    done += 1
    yield "gradient norm", done, total
    OPTIMIZERS[optimizer_name](twin.params, twin.grads, 1e-3).step()
    done += 1
    yield f"{optimizer_name} update", done, total
