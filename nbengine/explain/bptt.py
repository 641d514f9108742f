"""Why a plain RNN forgets: the gradient of the last step carried back through time by
TimeRNN and TimeLSTM layers' own backward passes (their dh_total)."""

from __future__ import annotations

import math

import numpy as np

from nbengine.explain.steps import Column, Steps, Table
from nbengine.i18n import Msg, joined
from nbengine.layers.recurrent import TimeLSTM, TimeRNN

BAR_WIDTH = 24
EIGHTHS = " ▏▎▍▌▋▊▉█"


def sci(v: float, digits: int = 2) -> str:
    return f"{v:.{digits}e}"


def orthogonal(rng, n: int):
    """A random orthogonal matrix (QR of a Gaussian one, signs fixed): all its singular values are 1."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def log_bar(v: float, lo: float, hi: float, width: int = BAR_WIDTH) -> str:
    """A bar whose length is log10(v)'s place between lo and hi (decades), in eighths of a cell."""
    if not v > 0:
        return ""
    frac = (math.log10(v) - lo) / (hi - lo) if hi > lo else 1.0
    eighths = max(1, round(min(max(frac, 0.0), 1.0) * width * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[part] if part else "")


def fate(ratio: float) -> str:
    """What a gradient's ratio (first step over last) says, in words."""
    if ratio < 1e-3:
        return Msg("it vanishes")
    if ratio > 1e3:
        return Msg("it explodes")
    return Msg("it survives")


def bptt(
    T: int = 20,
    H: int = 16,
    small_sigma: float = 0.5,
    large_sigma: float = 2.0,
    forget_bias: float = 2.0,
    seed: int = 0,
) -> Steps:
    """‖dL/dh_t‖ at every step t of a T-step sequence, when the loss's gradient arrives at
    the last step only: two RNNs (Wh = σ·Q, Q orthogonal, σ below and above 1) and an
    LSTM (forget-gate bias ``forget_bias``)."""
    rng = np.random.default_rng(seed)
    D = H
    x_unit = rng.standard_normal((1, T, D))  # the random sequence, before its scale
    Q = orthogonal(rng, H)
    Wx = rng.standard_normal((D, H)) / math.sqrt(D)
    v = rng.standard_normal(H)
    dhs = np.zeros((1, T, H))
    dhs[0, T - 1] = v / np.linalg.norm(v)  # the loss's gradient: at the last step only, norm 1

    def rnn(sigma: float, scale: float):
        layer = TimeRNN("rnn", D, H, stateful=False)
        layer.build((T, D), np.float64, np.random.default_rng(seed))
        layer.params["Wx"][...] = Wx
        layer.params["Wh"][...] = sigma * Q
        layer.params["b"][...] = 0
        hs = layer.forward(x_unit * scale, training=True).copy()
        layer.backward(dhs)
        assert layer.dh_total is not None  # written by the backward pass
        return np.linalg.norm(layer.dh_total[0], axis=1), hs, layer

    # The largest input scale (a power of ten) at which the σ-large RNN stays near
    # tanh's linear part (|h| ≤ 0.5, where tanh' = 1 − h² ≥ 0.75).
    scale = 1.0
    while scale > 1e-300 and np.abs(rnn(large_sigma, scale)[1]).max() > 0.5:
        scale /= 10
    small, _, layer_small = rnn(small_sigma, scale)
    large, hs_large, layer_large = rnn(large_sigma, scale)
    saturated, hs_sat, _ = rnn(large_sigma, 1.0)

    def sv(layer) -> float:
        """The largest singular value of the layer's Wh, computed."""
        return float(np.linalg.svd(layer.params["Wh"], compute_uv=False).max())

    lstm = TimeLSTM("lstm", D, H, stateful=False)
    lstm.build((T, D), np.float64, np.random.default_rng(seed + 1))
    lstm.params["b"][:H] = forget_bias
    lstm.forward(x_unit * scale, training=True)
    lstm.backward(dhs)
    assert lstm.dh_total is not None
    lstm_norms = np.linalg.norm(lstm.dh_total[0], axis=1)
    f_mean = float(lstm.cache["gates"][0, :, :H].mean())

    series = {"rnn_small": small, "rnn_large": large, "lstm": lstm_norms}
    titles = {
        "rnn_small": f"RNN σ = {small_sigma:g}",
        "rnn_large": f"RNN σ = {large_sigma:g}",
        "lstm": "LSTM",
    }
    styles = {"rnn_small": "blue", "rnn_large": "red", "lstm": "green"}
    ratio = {k: float(n[0] / n[-1]) for k, n in series.items()}
    factor = {k: r ** (1 / (T - 1)) for k, r in ratio.items()}
    sat_ratio = float(saturated[0] / saturated[-1])
    sat_slope = float(np.mean(1 - hs_sat**2))
    lin_slope = float(np.mean(1 - hs_large**2))

    s = Steps(title="bptt")
    s.say(
        Msg(
            "Backpropagation through time from the last of {T} steps: ‖dL/dh_t‖ for each step t",
            T=T,
        ),
        "bold",
    )
    s.say(
        Msg(
            "Hidden size {H}; inputs x_t ~ N(0, 1) × {scale:g}, the largest power of ten at which the "
            "σ = {large_sigma:g} RNN keeps |h| ≤ 0.5 (tanh near its linear part); dL/dh_{last} a random unit "
            "vector, 0 at every other step; seed {seed}. Largest singular values of Wh: {sv_small:.4g} and "
            "{sv_large:.4g}. The LSTM has Xavier-like random weights and forget-gate bias {forget_bias:g} "
            "(mean f = {f_mean:.3f}).",
            H=H,
            scale=scale,
            large_sigma=large_sigma,
            last=T - 1,
            seed=seed,
            sv_small=sv(layer_small),
            sv_large=sv(layer_large),
            forget_bias=forget_bias,
            f_mean=f_mean,
        ),
        "dim",
    )
    s.fact(
        "setup",
        steps=T,
        hidden=H,
        seed=seed,
        input_scale=scale,
        small_sigma=small_sigma,
        large_sigma=large_sigma,
        singular_values=[sv(layer_small), sv(layer_large)],
        forget_bias=forget_bias,
        mean_f=f_mean,
    )

    columns = (
        Column("t", "t", justify="right"),
        *(Column(k, f"‖dL/dh_t‖ {titles[k]}", "text", "right", styles[k]) for k in series),
    )
    norms = tuple({"t": t, **{k: float(series[k][t]) for k in series}} for t in range(T))
    s.append(
        Table(
            "",
            columns,
            tuple({"t": t, **{k: sci(series[k][t]) for k in series}} for t in range(T)),
            event="norm",
            json=norms,
            edge=False,
        )
    )

    every = np.concatenate(list(series.values()))
    positive = every[every > 0]
    lo = math.floor(math.log10(positive.min()))
    hi = math.ceil(math.log10(positive.max()))
    hi = hi if hi > lo else lo + 1
    s.say("")
    s.say(
        Msg(
            "The same on a log scale: a bar runs from 1e{lo} (none) to 1e{hi} (full), {cells:.2g} cells a decade",
            lo=lo,
            hi=hi,
            cells=BAR_WIDTH / (hi - lo),
        ),
        "bold",
    )
    s.append(
        Table(
            "",
            (
                Column("t", "t", justify="right"),
                *(Column(k, titles[k], style=styles[k], width=BAR_WIDTH) for k in series),
            ),
            tuple({"t": t, **{k: log_bar(series[k][t], lo, hi) for k in series}} for t in range(T)),
            edge=False,
        )
    )

    def reading(k: str) -> str:
        r, f = ratio[k], factor[k]
        if r < 1:
            return Msg(
                "{title}: the gradient at t = 0 is {ratio} of the last step's (×{f:.3g} a step: {fate})",
                title=titles[k],
                ratio=sci(r),
                f=f,
                fate=fate(r),
            )
        return Msg(
            "{title}: the gradient at t = 0 is {ratio} times the last step's (×{f:.3g} a step: {fate})",
            title=titles[k],
            ratio=sci(r),
            f=f,
            fate=fate(r),
        )

    line = Msg("{readings}.", readings=joined((reading(k) for k in series), "; "))
    s.say("")
    s.say(line, "bold")
    s.say(
        Msg(
            "Along the LSTM's cell the gradient is multiplied only by f (mean {f_mean:.3f}) at each step; "
            "the RNN's is multiplied by σ and by tanh' = 1 − h² (mean {slope:.3f} here).",
            f_mean=f_mean,
            slope=lin_slope,
        )
    )
    held = (
        Msg(
            "; tanh' = 1 − h² < 1, multiplied in at every step, holds back the growth ({ratio} times with small "
            "inputs)",
            ratio=sci(ratio["rnn_large"]),
        )
        if sat_ratio < ratio["rnn_large"]
        else ""
    )
    saturated_at = {
        "sigma": large_sigma,
        "slope": sat_slope,
        "ratio": sci(sat_ratio),
        "fate": fate(sat_ratio),
        "held": held,
    }
    if sat_ratio < 1:
        result = Msg(
            "With inputs of scale 1 instead, the σ = {sigma:g} RNN's tanh saturates (mean 1 − h² = "
            "{slope:.3f}) and its gradient at t = 0 is {ratio} of the last step's ({fate}){held}.",
            **saturated_at,
        )
    else:
        result = Msg(
            "With inputs of scale 1 instead, the σ = {sigma:g} RNN's tanh saturates (mean 1 − h² = "
            "{slope:.3f}) and its gradient at t = 0 is {ratio} times the last step's ({fate}){held}.",
            **saturated_at,
        )
    s.fact(
        "result",
        result,
        norms={k: [float(x) for x in n] for k, n in series.items()},
        ratio_first_to_last=ratio,
        factor_per_step=factor,
        saturated_norms=[float(x) for x in saturated],
        saturated_ratio=sat_ratio,
        saturated_mean_slope=sat_slope,
        mean_slope=lin_slope,
        mean_f=f_mean,
        reading=line,
    )
    return s
