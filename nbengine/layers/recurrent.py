"""TimeRNN and TimeLSTM: a recurrent layer over a whole sequence, with its state
carried from one batch to the next (truncated backpropagation through time).

xs (N, T, D) → hs (N, T, H). After a batch, the last h (and c) become the next
batch's h0 (and c0): the text goes on where the previous batch stopped, but the
gradient stops at the batch's first step. ``reset_state()`` starts afresh.
"""

from __future__ import annotations

import numpy as np

from nbengine.i18n import Msg
from nbengine.kernels.conv2d import sum_parts
from nbengine.kernels.lstm import lstm_backward, lstm_forward
from nbengine.kernels.registry import kernel
from nbengine.kernels.rnn import rnn_backward, rnn_forward
from nbengine.layers.base import Layer
from nbengine.trace import record, tracing

PARTS = 8  # batch parts for the weight gradients, added in order (see conv2d.py)


class Recurrent(Layer):
    """What TimeRNN and TimeLSTM share: weights Wx (D, G·H), Wh (H, G·H), b (G·H,),
    with G = 1 for the RNN and 4 (the gates f, g, i, o) for the LSTM."""

    gates = 1
    has_cell = False

    def __init__(self, name: str, input_size: int, hidden_size: int, stateful: bool = True):
        super().__init__(name)
        self.D, self.H = input_size, hidden_size
        self.stateful = stateful
        self.h = self.c = None
        self.dh_total = None  # dL/dh_t of the last backward pass, (N, T, H)

    def _build(self, input_shape, rng):
        D, H, G = self.D, self.H, self.gates
        # Xavier-style scales, as Deep Learning from Scratch 2 starts them
        self.params = {
            "Wx": (rng.standard_normal((D, G * H)) / np.sqrt(D)).astype(self.dtype),
            "Wh": (rng.standard_normal((H, G * H)) / np.sqrt(H)).astype(self.dtype),
            "b": np.zeros(G * H, self.dtype),
        }
        return tuple(input_shape[:-1]) + (H,)

    def describe(self) -> str:
        return f"{self.D} → {self.H}" + (", gates f, g, i, o" if self.gates == 4 else ", tanh")

    def reset_state(self) -> None:
        self.h = self.c = None

    def _state(self, N):
        """h0 (and c0): the carried state, or zeros at the start or when the batch size changed."""
        if self.h is None or not self.stateful or self.h.shape[0] != N:
            self.h = np.zeros((N, self.H), self.dtype)
            self.c = np.zeros((N, self.H), self.dtype)
        return self.h, self.c

    def _parts(self, N):
        P = min(N, PARTS)
        G, D, H = self.gates, self.D, self.H
        return (
            self.buffer("dWx_parts", (P, D, G * H)),
            self.buffer("dWh_parts", (P, H, G * H)),
            self.buffer("db_parts", (P, G * H)),
        )

    def _sum_parts(self, parts):
        for name, p in zip(("Wx", "Wh", "b"), parts):
            sum_parts(self.grads[name].reshape(-1), p.reshape(p.shape[0], -1))


class TimeRNN(Recurrent):
    kind = "RNN"

    def forward(self, xs, training):
        N, T, _ = xs.shape
        h0, _ = self._state(N)
        hs = np.empty((N, T, self.H), self.dtype)
        kernel(rnn_forward)(hs, h0, xs, self.params["Wx"], self.params["Wh"], self.params["b"])
        self.cache = {"xs": xs, "hs": hs, "h0": h0}
        self.h = hs[:, -1].copy()
        if tracing():
            record(
                f"{self.name} h",
                hs,
                "h_t = tanh(x_t·Wx + h_{t-1}·Wh + b)",
                Msg("the hidden state after each step"),
            )
        return hs

    def backward(self, dhs, need_dx=True):
        xs, hs, h0 = self.cache["xs"], self.cache["hs"], self.cache["h0"]
        parts = self._parts(xs.shape[0])
        dxs = np.empty_like(xs)
        dh0 = np.empty_like(h0)
        self.dh_total = np.empty_like(hs)
        self.dzs = np.empty_like(hs)  # dz = dh ⊙ (1 − h²), every step
        kernel(rnn_backward)(
            dxs,
            *parts,
            dh0,
            self.dh_total,
            self.dzs,
            dhs,
            hs,
            h0,
            xs,
            self.params["Wx"],
            self.params["Wh"],
        )
        self._sum_parts(parts)
        self.dh0 = dh0
        return dxs


class TimeLSTM(Recurrent):
    kind = "LSTM"
    gates = 4
    has_cell = True

    def forward(self, xs, training):
        N, T, _ = xs.shape
        h0, c0 = self._state(N)
        hs = np.empty((N, T, self.H), self.dtype)
        cs = np.empty((N, T, self.H), self.dtype)
        gates = np.empty((N, T, 4 * self.H), self.dtype)
        kernel(lstm_forward)(
            hs, cs, gates, h0, c0, xs, self.params["Wx"], self.params["Wh"], self.params["b"]
        )
        self.cache = {"xs": xs, "hs": hs, "cs": cs, "gates": gates, "h0": h0, "c0": c0}
        self.h, self.c = hs[:, -1].copy(), cs[:, -1].copy()
        if tracing():
            H = self.H
            record(f"{self.name} f", gates[..., :H], "f = σ(A[:, 0:H])", Msg("forget gate"))
            record(
                f"{self.name} g",
                gates[..., H : 2 * H],
                "g = tanh(A[:, H:2H])",
                Msg("candidate memory"),
            )
            record(
                f"{self.name} i", gates[..., 2 * H : 3 * H], "i = σ(A[:, 2H:3H])", Msg("input gate")
            )
            record(f"{self.name} o", gates[..., 3 * H :], "o = σ(A[:, 3H:4H])", Msg("output gate"))
            record(f"{self.name} c", cs, "c_t = f⊙c_{t-1} + g⊙i", Msg("the cell (memory)"))
            record(f"{self.name} h", hs, "h_t = o⊙tanh(c_t)", Msg("the hidden state"))
        return hs

    def backward(self, dhs, need_dx=True):
        c = self.cache
        parts = self._parts(c["xs"].shape[0])
        dxs = np.empty_like(c["xs"])
        dh0, dc0 = np.empty_like(c["h0"]), np.empty_like(c["c0"])
        self.dh_total = np.empty_like(c["hs"])
        self.dc_total = np.empty_like(c["cs"])  # dL/dc_t in full, every step
        self.dgates = np.empty_like(c["gates"])  # dA = [df, dg, di, do], every step
        kernel(lstm_backward)(
            dxs,
            *parts,
            dh0,
            dc0,
            self.dh_total,
            self.dc_total,
            self.dgates,
            dhs,
            c["hs"],
            c["cs"],
            c["gates"],
            c["h0"],
            c["c0"],
            c["xs"],
            self.params["Wx"],
            self.params["Wh"],
        )
        self._sum_parts(parts)
        self.dh0, self.dc0 = dh0, dc0
        return dxs
