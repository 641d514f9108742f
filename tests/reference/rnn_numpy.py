"""Recurrent language models in NumPy, the way the textbook writes them: an independent reference.

# N = batch, T = time steps, V = vocabulary, D = embedding size, H = hidden size

This is the classic vectorised formulation ("Deep Learning from Scratch 2",
common/time_layers.py, common/layers.py and common/util.py): one layer per
time step, matrix products over the whole batch, backpropagation through time
as ``for t in reversed(range(T))``. Nothing here imports nbengine's kernels,
so it can judge them.

It has two uses.

1. Op-level references for tests, with every input and output explicit and
   nbengine's layouts (ids int (N, T); xs, hs (N, T, D or H); Wx (D, H) or
   (D, 4H), Wh (H, H) or (H, 4H), b (H,) or (4H,); the LSTM's 4H columns are
   the gates f, g, i, o in blocks of H):

       embedding_ref(ids, W) -> xs
       embedding_ref_backward(dxs, ids, V) -> dW
       rnn_ref(xs, h0, Wx, Wh, b) -> hs
       rnn_ref_backward(dhs, xs, h0, Wx, Wh, b, dhT=None) -> (dxs, dWx, dWh, db, dh0)
       lstm_ref(xs, h0, c0, Wx, Wh, b) -> (hs, cs, gates)
       lstm_ref_backward(dhs, xs, h0, c0, Wx, Wh, b, dhT=None, dcT=None)
           -> (dxs, dWx, dWh, db, dh0, dc0)
       affine_ref(hs, W, b) -> scores;  affine_ref_backward(dscores, hs, W) -> (dhs, dW, db)
       softmax_ce_ref(scores, ts, ignore=-1) -> (loss, dscores)
       clip_grads(grads, max_norm) -> total norm before clipping

   ``gates`` (N, T, 4H) holds the activated gates f = σ, g = tanh, i = σ,
   o = σ in that order; ``cs`` (N, T, H) the cell states. ``dhT`` and ``dcT``
   are gradients arriving at the last hidden and cell state from outside the
   sequence (zero in truncated BPTT, which is the default).

2. ``NumpyRNNLM`` and ``NumpyLSTMLM``: TimeEmbedding → TimeRNN or TimeLSTM
   (stateful: the last hidden and cell state start the next call) →
   TimeAffine → TimeSoftmaxWithLoss, with a training step (forward, BPTT,
   ``clip_grads``, SGD), built from parameters under nbengine's names
   (``embed.W``, ``rnn.Wx`` or ``lstm.Wx``, ..., ``affine.W``, ``affine.b``), so
   an nbengine model's ``params`` can be copied in and a benchmark compares the
   same computation.

Where this departs from the textbook, and why:
- Arrays keep the weights' dtype (the textbook allocates float32 scratch arrays).
- The loss is computed with log-sum-exp (finite for any scores) instead of
  log(softmax + 1e-7).
- When every target of a batch is the ignore label, the loss and its gradient
  are 0 (the textbook divides 0 by 0; PyTorch returns nan).
- σ(x) = 1 / (1 + exp(−x)) as the textbook writes it, with the overflow of
  exp(−x) for very negative x (where σ is 0) silenced.
- The embedding and affine layers skip the textbook's weight sharing: the
  affine weight is its own (H, V) matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

IGNORE = -1  # the target that counts for nothing in the loss

# -- functions -----------------------------------------------------------------------------


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(−x) overflows to inf for x < −88 (float32): σ is then 0
        return 1 / (1 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum so exp never overflows."""
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def clip_grads(grads: Iterable[np.ndarray], max_norm: float) -> float:
    """Scale every gradient in place by max_norm / (norm + 1e-6) when their global L2 norm
    exceeds max_norm (as the textbook and PyTorch's clip_grad_norm_ do); returns the norm."""
    grads = list(grads)
    total_norm = float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads)))
    rate = max_norm / (total_norm + 1e-6)
    if rate < 1:
        for g in grads:
            g *= g.dtype.type(rate)
    return total_norm


# -- the textbook's layers -----------------------------------------------------------------


class RNN:
    """One time step: h_next = tanh(h_prev · Wh + x · Wx + b)."""

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x: np.ndarray, h_prev: np.ndarray) -> np.ndarray:
        Wx, Wh, b = self.params
        t = np.dot(h_prev, Wh) + np.dot(x, Wx) + b
        h_next = np.tanh(t)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Wx, Wh, b = self.params
        x, h_prev, h_next = self.cache
        dt = dh_next * (1 - h_next**2)  # tanh' = 1 − tanh²
        db = np.sum(dt, axis=0)
        dWh = np.dot(h_prev.T, dt)
        dh_prev = np.dot(dt, Wh.T)
        dWx = np.dot(x.T, dt)
        dx = np.dot(dt, Wx.T)
        self.grads[0][...] = dWx
        self.grads[1][...] = dWh
        self.grads[2][...] = db
        return dx, dh_prev


class TimeRNN:
    """T RNN steps over xs (N, T, D) → hs (N, T, H); with ``stateful`` the last h starts the next call."""

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, stateful: bool = False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers: list[RNN] = []
        self.h, self.dh = None, None
        self.stateful = stateful

    def set_state(self, h: np.ndarray | None) -> None:
        self.h = h

    def reset_state(self) -> None:
        self.h = None

    def forward(self, xs: np.ndarray) -> np.ndarray:
        Wx, Wh, b = self.params
        N, T, D = xs.shape
        D, H = Wx.shape
        self.layers = []
        hs = np.empty((N, T, H), dtype=Wx.dtype)
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype=Wx.dtype)
        for t in range(T):
            layer = RNN(*self.params)
            self.h = layer.forward(xs[:, t, :], self.h)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs: np.ndarray, dh_last: np.ndarray | None = None) -> np.ndarray:
        """dL/dxs from dL/dhs; grads summed over the time steps; self.dh = dL/dh0.

        dh_last: a gradient reaching the last h from outside the sequence (none in truncated BPTT).
        """
        Wx, Wh, b = self.params
        N, T, H = dhs.shape
        D, H = Wx.shape
        dxs = np.empty((N, T, D), dtype=dhs.dtype)
        dh = np.zeros((N, H), dtype=dhs.dtype) if dh_last is None else dh_last
        grads = [np.zeros_like(g) for g in self.grads]
        for t in reversed(range(T)):
            layer = self.layers[t]
            # h_t went to the output and to the next step
            dx, dh = layer.backward(dhs[:, t, :] + dh)
            dxs[:, t, :] = dx
            for i, grad in enumerate(layer.grads):
                grads[i] += grad
        for i, grad in enumerate(grads):
            self.grads[i][...] = grad
        self.dh = dh
        return dxs


class LSTM:
    """One time step: A = x · Wx + h_prev · Wh + b, sliced into the gates f, g, i, o;
    c_next = f ⊙ c_prev + g ⊙ i, h_next = o ⊙ tanh(c_next)."""

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(
        self, x: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        Wx, Wh, b = self.params
        N, H = h_prev.shape
        A = np.dot(x, Wx) + np.dot(h_prev, Wh) + b
        f = A[:, :H]
        g = A[:, H : 2 * H]
        i = A[:, 2 * H : 3 * H]
        o = A[:, 3 * H :]
        f = sigmoid(f)
        g = np.tanh(g)
        i = sigmoid(i)
        o = sigmoid(o)
        c_next = f * c_prev + g * i
        h_next = o * np.tanh(c_next)
        self.cache = (x, h_prev, c_prev, i, f, g, o, c_next)
        return h_next, c_next

    def backward(
        self, dh_next: np.ndarray, dc_next: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Wx, Wh, b = self.params
        x, h_prev, c_prev, i, f, g, o, c_next = self.cache
        tanh_c_next = np.tanh(c_next)
        ds = dc_next + (dh_next * o) * (1 - tanh_c_next**2)  # c_next reaches the loss two ways
        dc_prev = ds * f
        di = ds * g
        df = ds * c_prev
        do = dh_next * tanh_c_next
        dg = ds * i
        di *= i * (1 - i)  # σ' = σ(1 − σ)
        df *= f * (1 - f)
        do *= o * (1 - o)
        dg *= 1 - g**2  # tanh' = 1 − tanh²
        dA = np.hstack((df, dg, di, do))
        dWh = np.dot(h_prev.T, dA)
        dWx = np.dot(x.T, dA)
        db = dA.sum(axis=0)
        self.grads[0][...] = dWx
        self.grads[1][...] = dWh
        self.grads[2][...] = db
        dx = np.dot(dA, Wx.T)
        dh_prev = np.dot(dA, Wh.T)
        return dx, dh_prev, dc_prev


class TimeLSTM:
    """T LSTM steps over xs (N, T, D) → hs (N, T, H); with ``stateful`` the last h and c start the next call."""

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, stateful: bool = False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers: list[LSTM] = []
        self.h = self.c = None
        self.dh = self.dc = None
        self.stateful = stateful

    def set_state(self, h: np.ndarray | None, c: np.ndarray | None = None) -> None:
        self.h, self.c = h, c

    def reset_state(self) -> None:
        self.h, self.c = None, None

    def forward(self, xs: np.ndarray) -> np.ndarray:
        Wx, Wh, b = self.params
        N, T, D = xs.shape
        H = Wh.shape[0]
        self.layers = []
        hs = np.empty((N, T, H), dtype=Wx.dtype)
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype=Wx.dtype)
        if not self.stateful or self.c is None:
            self.c = np.zeros((N, H), dtype=Wx.dtype)
        for t in range(T):
            layer = LSTM(*self.params)
            self.h, self.c = layer.forward(xs[:, t, :], self.h, self.c)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(
        self, dhs: np.ndarray, dh_last: np.ndarray | None = None, dc_last: np.ndarray | None = None
    ) -> np.ndarray:
        """dL/dxs from dL/dhs; grads summed over the time steps; self.dh, self.dc = dL/dh0, dL/dc0."""
        Wx, Wh, b = self.params
        N, T, H = dhs.shape
        D = Wx.shape[0]
        dxs = np.empty((N, T, D), dtype=dhs.dtype)
        dh = np.zeros((N, H), dtype=dhs.dtype) if dh_last is None else dh_last
        dc = np.zeros((N, H), dtype=dhs.dtype) if dc_last is None else dc_last
        grads = [np.zeros_like(g) for g in self.grads]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dx, dh, dc = layer.backward(dhs[:, t, :] + dh, dc)
            dxs[:, t, :] = dx
            for i, grad in enumerate(layer.grads):
                grads[i] += grad
        for i, grad in enumerate(grads):
            self.grads[i][...] = grad
        self.dh, self.dc = dh, dc
        return dxs


class TimeEmbedding:
    """xs[n, t] = W[ids[n, t]]; backward adds each dxs[n, t] into the row of W it came from."""

    def __init__(self, W: np.ndarray):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.idx = None

    def forward(self, idx: np.ndarray) -> np.ndarray:
        (W,) = self.params
        self.idx = idx
        return W[idx]

    def backward(self, dout: np.ndarray) -> None:
        (dW,) = self.grads
        dW[...] = 0
        np.add.at(dW, self.idx, dout)  # a word that occurs twice collects both gradients


class TimeAffine:
    """scores = hs · W + b at every time step, as one (N·T, H) · (H, V) product."""

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        N, T, D = x.shape
        W, b = self.params
        rx = x.reshape(N * T, -1)
        out = np.dot(rx, W) + b
        self.x = x
        return out.reshape(N, T, -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self.x
        N, T, D = x.shape
        W, b = self.params
        dout = dout.reshape(N * T, -1)
        rx = x.reshape(N * T, -1)
        db = np.sum(dout, axis=0)
        dW = np.dot(rx.T, dout)
        dx = np.dot(dout, W.T)
        dx = dx.reshape(*x.shape)
        self.grads[0][...] = dW
        self.grads[1][...] = db
        return dx


class TimeSoftmaxWithLoss:
    """Softmax over the vocabulary and cross-entropy, averaged over the tokens whose target
    is not ``ignore_label``; backward is (p − onehot) / count at those tokens, 0 elsewhere."""

    def __init__(self, ignore_label: int = IGNORE):
        self.cache = None
        self.ignore_label = ignore_label

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        N, T, V = xs.shape
        mask = ts != self.ignore_label
        xs = xs.reshape(N * T, V)
        # an ignored target reads column 0, then counts for nothing
        ts = np.where(mask, ts, 0).reshape(N * T)
        mask = mask.reshape(N * T)
        z = xs - xs.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        ys = e / s
        ls = np.log(s[:, 0]) - z[np.arange(N * T), ts]  # −log softmax at the target, by log-sum-exp
        count = int(mask.sum())
        loss = float(np.sum(ls[mask], dtype=np.float64)) / max(count, 1)
        self.cache = (ts, ys, mask, (N, T, V), count)
        return loss

    def backward(self, dout: float = 1) -> np.ndarray:
        ts, ys, mask, (N, T, V), count = self.cache
        dx = ys.copy()
        dx[np.arange(N * T), ts] -= 1
        dx *= dx.dtype.type(dout / max(count, 1))
        dx *= mask[:, np.newaxis]  # ignored tokens send no gradient
        return dx.reshape((N, T, V))


# -- op-level references -----------------------------------------------------------------------


def embedding_ref(ids: np.ndarray, W: np.ndarray) -> np.ndarray:
    """xs (N, T, D) = W (V, D) at rows ids (N, T)."""
    return TimeEmbedding(W).forward(np.asarray(ids))


def embedding_ref_backward(dxs: np.ndarray, ids: np.ndarray, V: int) -> np.ndarray:
    """dL/dW (V, D): each dxs[n, t] added into row ids[n, t]."""
    layer = TimeEmbedding(np.zeros((V, dxs.shape[-1]), dxs.dtype))
    layer.forward(np.asarray(ids))
    layer.backward(dxs)
    return layer.grads[0]


def rnn_ref(
    xs: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """hs (N, T, H): h_t = tanh(x_t · Wx + h_{t−1} · Wh + b), from h0 (N, H)."""
    layer = TimeRNN(Wx, Wh, b, stateful=True)
    layer.set_state(h0)
    return layer.forward(xs)


def rnn_ref_backward(
    dhs: np.ndarray,
    xs: np.ndarray,
    h0: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
    b: np.ndarray,
    dhT: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(dxs, dWx, dWh, db, dh0) of rnn_ref given dhs = dL/dhs (N, T, H) (and dhT = dL/dh_T from outside)."""
    layer = TimeRNN(Wx, Wh, b, stateful=True)
    layer.set_state(h0)
    layer.forward(xs)
    dxs = layer.backward(dhs, dhT)
    dWx, dWh, db = layer.grads
    return dxs, dWx, dWh, db, layer.dh


def lstm_ref(
    xs: np.ndarray, h0: np.ndarray, c0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hs, cs, gates) of an LSTM over xs (N, T, D) from h0, c0 (N, H).

    hs, cs (N, T, H) are the hidden and cell states after each step; gates
    (N, T, 4H) the activated gates σ(f), tanh(g), σ(i), σ(o) in that order.
    """
    layer = TimeLSTM(Wx, Wh, b, stateful=True)
    layer.set_state(h0, c0)
    hs = layer.forward(xs)
    N, T, H = hs.shape
    cs = np.empty_like(hs)
    gates = np.empty((N, T, 4 * H), dtype=hs.dtype)
    for t, step in enumerate(layer.layers):
        x, h_prev, c_prev, i, f, g, o, c_next = step.cache
        cs[:, t] = c_next
        gates[:, t] = np.hstack((f, g, i, o))
    return hs, cs, gates


def lstm_ref_backward(
    dhs: np.ndarray,
    xs: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
    b: np.ndarray,
    dhT: np.ndarray | None = None,
    dcT: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(dxs, dWx, dWh, db, dh0, dc0) of lstm_ref's hs given dhs = dL/dhs (N, T, H)
    (and dhT, dcT = dL/dh_T, dL/dc_T from outside the sequence)."""
    layer = TimeLSTM(Wx, Wh, b, stateful=True)
    layer.set_state(h0, c0)
    layer.forward(xs)
    dxs = layer.backward(dhs, dhT, dcT)
    dWx, dWh, db = layer.grads
    return dxs, dWx, dWh, db, layer.dh, layer.dc


def affine_ref(hs: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """scores (N, T, V) = hs (N, T, H) · W (H, V) + b (V,)."""
    return TimeAffine(W, b).forward(hs)


def affine_ref_backward(
    dscores: np.ndarray, hs: np.ndarray, W: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dhs, dW, db) of affine_ref given dscores (N, T, V)."""
    layer = TimeAffine(W, np.zeros(W.shape[1], W.dtype))
    layer.forward(hs)
    dhs = layer.backward(dscores)
    return dhs, layer.grads[0], layer.grads[1]


def softmax_ce_ref(
    scores: np.ndarray, ts: np.ndarray, ignore: int = IGNORE
) -> tuple[float, np.ndarray]:
    """(mean cross-entropy over the tokens whose target is not ``ignore``, dL/dscores (N, T, V))."""
    layer = TimeSoftmaxWithLoss(ignore)
    loss = layer.forward(scores, np.asarray(ts))
    return loss, layer.backward()


# -- the language models -----------------------------------------------------------------------


def param_shapes(
    kind: str, vocab_size: int, embed_size: int, hidden_size: int
) -> dict[str, tuple[int, ...]]:
    """Every parameter's name and shape, as nbengine's RNNLM ("rnn") and LSTMLM ("lstm") have them."""
    V, D, H = vocab_size, embed_size, hidden_size
    G = {"rnn": H, "lstm": 4 * H}[kind]
    return {
        "embed.W": (V, D),
        f"{kind}.Wx": (D, G),
        f"{kind}.Wh": (H, G),
        f"{kind}.b": (G,),
        "affine.W": (H, V),
        "affine.b": (V,),
    }


def init_params(
    kind: str,
    vocab_size: int,
    embed_size: int = 100,
    hidden_size: int = 100,
    seed: int = 0,
    dtype=np.float32,
) -> dict[str, np.ndarray]:
    """The textbook's initialisation: embedding N(0, 0.01²), Wx and Wh "Xavier" N(0, 1/fan_in), affine
    N(0, 1/H), zero biases."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in param_shapes(kind, vocab_size, embed_size, hidden_size).items():
        if name.endswith(".b"):
            params[name] = np.zeros(shape, dtype)
        elif name == "embed.W":
            params[name] = (rng.standard_normal(shape) / 100).astype(dtype)
        else:
            params[name] = (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(dtype)
    return params


class NumpyLM:
    """TimeEmbedding → TimeRNN or TimeLSTM (stateful) → TimeAffine → TimeSoftmaxWithLoss (ignore label −1).

    ``params`` uses nbengine's names and layouts (``init_params`` makes such a
    set; an nbengine model's ``params`` can be passed); they are copied, in their
    own dtype. The recurrent state is carried from one call to the next
    (truncated BPTT) until ``reset_state()``.
    """

    kind = ""

    def __init__(
        self,
        params: Mapping[str, np.ndarray] | None = None,
        *,
        vocab_size: int | None = None,
        embed_size: int = 100,
        hidden_size: int = 100,
        lr: float = 0.1,
        max_norm: float | None = 0.25,
        seed: int = 0,
        dtype=np.float32,
    ):
        if params is None:
            if vocab_size is None:
                raise ValueError("give the parameters or a vocabulary size")
            params = init_params(self.kind, vocab_size, embed_size, hidden_size, seed, dtype)
        k = self.kind
        self.dtype = np.dtype(params["embed.W"].dtype)
        self._params = {
            name: np.array(params[name], dtype=self.dtype)
            for name in ("embed.W", f"{k}.Wx", f"{k}.Wh", f"{k}.b", "affine.W", "affine.b")
        }
        p = self._params
        self.vocab_size, self.embed_size = p["embed.W"].shape
        self.hidden_size = p[f"{k}.Wh"].shape[0]
        if p[f"{k}.Wx"].shape[0] != self.embed_size or p["affine.W"].shape != (
            self.hidden_size,
            self.vocab_size,
        ):
            raise ValueError(
                "the parameters' shapes do not fit together: "
                + ", ".join(f"{n} {v.shape}" for n, v in p.items())
            )
        self.lr, self.max_norm = lr, max_norm
        time_layer = {"rnn": TimeRNN, "lstm": TimeLSTM}[k]
        self.embed = TimeEmbedding(p["embed.W"])
        self.recurrent = time_layer(p[f"{k}.Wx"], p[f"{k}.Wh"], p[f"{k}.b"], stateful=True)
        self.affine = TimeAffine(p["affine.W"], p["affine.b"])
        self.loss_layer = TimeSoftmaxWithLoss(IGNORE)
        self._grads = {
            "embed.W": self.embed.grads[0],
            f"{k}.Wx": self.recurrent.grads[0],
            f"{k}.Wh": self.recurrent.grads[1],
            f"{k}.b": self.recurrent.grads[2],
            "affine.W": self.affine.grads[0],
            "affine.b": self.affine.grads[1],
        }

    def reset_state(self) -> None:
        self.recurrent.reset_state()

    def scores(self, xs: np.ndarray) -> np.ndarray:
        """Scores (N, T, V) for ids xs (N, T); the state moves on."""
        return self.affine.forward(self.recurrent.forward(self.embed.forward(np.asarray(xs))))

    def loss_and_backward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """Mean cross-entropy over the counted tokens; BPTT fills the gradients (no clipping)."""
        loss = self.loss_layer.forward(self.scores(xs), np.asarray(ts))
        dout = self.loss_layer.backward()
        dout = self.affine.backward(dout)
        dout = self.recurrent.backward(dout)
        self.embed.backward(dout)
        return loss

    def train_step(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """Forward, BPTT, clip_grads to max_norm (unless None), W ← W − lr·dW; returns the loss."""
        loss = self.loss_and_backward(xs, ts)
        if self.max_norm is not None:
            clip_grads(self._grads.values(), self.max_norm)
        lr = self.dtype.type(self.lr)
        for name, p in self._params.items():
            p -= lr * self._grads[name]
        return loss

    def params(self) -> dict[str, np.ndarray]:
        """The parameters under nbengine's names (copies)."""
        return {k: v.copy() for k, v in self._params.items()}

    def grads(self) -> dict[str, np.ndarray]:
        """The last backward pass's gradients (after clipping, if train_step clipped them) (copies)."""
        return {k: v.copy() for k, v in self._grads.items()}

    def n_params(self) -> int:
        return sum(v.size for v in self._params.values())


class NumpyRNNLM(NumpyLM):
    """The language model with a tanh RNN: parameters embed.W, rnn.Wx, rnn.Wh, rnn.b, affine.W, affine.b."""

    kind = "rnn"


class NumpyLSTMLM(NumpyLM):
    """The language model with an LSTM: parameters embed.W, lstm.Wx, lstm.Wh, lstm.b, affine.W, affine.b."""

    kind = "lstm"
