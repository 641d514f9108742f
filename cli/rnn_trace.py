"""The recurrent lessons with computed numbers: gradients vanishing and exploding
through time, and one step of the RNN and of the LSTM, forward and backward.

Every number shown is computed: by the engine's layers (TimeRNN, TimeLSTM and the
language models' layers, which run the kernels of kernels/rnn.py and lstm.py), or
here in NumPy from the kernels' own formulas and outputs, and then checked against
the kernels. The engine is imported inside each command, so `nbengine --help`
stays instant.
"""

from __future__ import annotations

import math

import click
from rich import box
from rich.table import Table
from rich.text import Text

from nbengine.kernels.registry import reordered_note
from nbengine_cli.options import Float
from nbengine_cli.output import Output, json_options, output_options

GATES = ("f", "g", "i", "o")
GATE_NOTES = {
    "f": ("f = σ(A[0:H])", "forget gate: how much of c_{t-1} to keep"),
    "g": ("g = tanh(A[H:2H])", "the new candidate memory"),
    "i": ("i = σ(A[2H:3H])", "input gate: how much of g to write"),
    "o": ("o = σ(A[3H:4H])", "output gate: how much of tanh(c_t) to show"),
}
BAR_WIDTH = 24
EIGHTHS = " ▏▎▍▌▋▊▉█"


def say(out: Output, text: str, style: str = "") -> None:
    """A line of prose, left whole for the terminal to wrap."""
    out.show(Text(text, style=style))


def sci(v: float, digits: int = 2) -> str:
    return f"{v:.{digits}e}"


# -- trace bptt ---------------------------------------------------------------------------------

def orthogonal(rng, n: int):
    """A random orthogonal matrix (QR of a Gaussian one, signs fixed): all its singular values are 1."""
    import numpy as np

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
        return "it vanishes"
    if ratio > 1e3:
        return "it explodes"
    return "it survives"


@click.command("bptt", short_help="Vanishing and exploding gradients: ‖dL/dh_t‖ back through time, RNN and LSTM.")
@click.option("--steps", "T", type=click.IntRange(2, 1000), default=20, show_default=True, metavar="T",
              help="Time steps of the sequence.")
@click.option("--hidden", "H", type=click.IntRange(1, 1024), default=16, show_default=True, metavar="H",
              help="Hidden units (and input size).")
@click.option("--small-sigma", type=Float(min=0, min_open=True), default=0.5, show_default=True,
              help="The largest singular value of the first RNN's Wh (below 1: the gradient shrinks).")
@click.option("--large-sigma", type=Float(min=0, min_open=True), default=2.0, show_default=True,
              help="The largest singular value of the second RNN's Wh (above 1: it can grow).")
@click.option("--forget-bias", type=Float(), default=2.0, show_default=True,
              help="The LSTM's bias of the forget gate: f starts near σ(bias).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the sequence, the weights and the gradient at the last step.")
@json_options
def trace_bptt(T, H, small_sigma, large_sigma, forget_bias, seed, json_mode, quiet):
    """Why a plain RNN forgets: the gradient from the last step, carried back through time.

    A random sequence of T inputs goes through three recurrent layers. The loss's
    gradient arrives at the last step only (dL/dh_{T-1} a random unit vector, 0 at
    every other step), and backpropagation through time carries it back; the table
    gives ‖dL/dh_t‖ at each step t, from the layer's own backward pass (its dh_total).

    \b
    RNN: each step back multiplies the gradient by Whᵀ and by tanh'(z) = 1 − h² ≤ 1.
         Wh = σ·Q with Q a random orthogonal matrix, so every singular value of Wh
         is σ: below 1 the gradient shrinks about σ times a step (it vanishes),
         above 1 it grows (it explodes) as long as tanh stays in its linear part.
    LSTM: along the cell c the gradient is multiplied only by the forget gate f,
         element by element, not by a matrix and a tanh', so it fades far less
         while f stays near 1 (try --forget-bias 0: f ≈ 0.5, and it fades too).

    The inputs are small so that tanh stays near its linear part; the reading at the
    end says what larger inputs do to the σ > 1 RNN (tanh saturates, and 1 − h² then
    shrinks the gradient instead).
    """
    import numpy as np

    from nbengine.layers.recurrent import TimeLSTM, TimeRNN

    out = Output(json_mode, quiet)
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
    lstm_norms = np.linalg.norm(lstm.dh_total[0], axis=1)
    f_mean = float(lstm.cache["gates"][0, :, :H].mean())

    series = {"rnn_small": small, "rnn_large": large, "lstm": lstm_norms}
    titles = {"rnn_small": f"RNN σ = {small_sigma:g}", "rnn_large": f"RNN σ = {large_sigma:g}", "lstm": "LSTM"}
    styles = {"rnn_small": "blue", "rnn_large": "red", "lstm": "green"}
    ratio = {k: float(n[0] / n[-1]) for k, n in series.items()}
    factor = {k: r ** (1 / (T - 1)) for k, r in ratio.items()}
    sat_ratio = float(saturated[0] / saturated[-1])
    sat_slope = float(np.mean(1 - hs_sat ** 2))
    lin_slope = float(np.mean(1 - hs_large ** 2))

    say(out, f"Backpropagation through time from the last of {T} steps: ‖dL/dh_t‖ for each step t", "bold")
    say(out, f"Hidden size {H}; inputs x_t ~ N(0, 1) × {scale:g}, the largest power of ten at which the "
        f"σ = {large_sigma:g} RNN keeps |h| ≤ 0.5 (tanh near its linear part); dL/dh_{T - 1} a random unit "
        f"vector, 0 at every other step; seed {seed}. Largest singular values of Wh: {sv(layer_small):.4g} and "
        f"{sv(layer_large):.4g}. The LSTM has Xavier-like random weights and forget-gate bias {forget_bias:g} "
        f"(mean f = {f_mean:.3f}).", "dim")
    out.emit("setup", steps=T, hidden=H, seed=seed, input_scale=scale, small_sigma=small_sigma,
             large_sigma=large_sigma, singular_values=[sv(layer_small), sv(layer_large)],
             forget_bias=forget_bias, mean_f=f_mean)

    t_table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    t_table.add_column("t", justify="right")
    for k in series:
        t_table.add_column(f"‖dL/dh_t‖ {titles[k]}", justify="right", style=styles[k])
    for t in range(T):
        t_table.add_row(str(t), *(sci(series[k][t]) for k in series))
        out.emit("norm", t=t, **{k: float(series[k][t]) for k in series})
    out.show(t_table)

    every = np.concatenate(list(series.values()))
    positive = every[every > 0]
    lo = math.floor(math.log10(positive.min()))
    hi = math.ceil(math.log10(positive.max()))
    hi = hi if hi > lo else lo + 1
    chart = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    chart.add_column("t", justify="right")
    for k in series:
        chart.add_column(titles[k], width=BAR_WIDTH, no_wrap=True, style=styles[k])
    for t in range(T):
        chart.add_row(str(t), *(log_bar(series[k][t], lo, hi) for k in series))
    out.show("")
    say(out, f"The same on a log scale: a bar runs from 1e{lo} (none) to 1e{hi} (full), "
             f"{BAR_WIDTH / (hi - lo):.2g} cells a decade", "bold")
    out.show(chart)

    def reading(k: str) -> str:
        r, f = ratio[k], factor[k]
        size = f"{sci(r)} of the last step's" if r < 1 else f"{sci(r)} times the last step's"
        return f"{titles[k]}: the gradient at t = 0 is {size} (×{f:.3g} a step: {fate(r)})"

    line = "; ".join(reading(k) for k in series) + "."
    out.show("")
    say(out, line, "bold")
    lstm_note = (f"Along the LSTM's cell the gradient is multiplied only by f (mean {f_mean:.3f}) at each step; "
                 f"the RNN's is multiplied by σ and by tanh' = 1 − h² (mean {lin_slope:.3f} here).")
    held = (f"; tanh' = 1 − h² < 1, multiplied in at every step, holds back the growth "
            f"({sci(ratio['rnn_large'])} times with small inputs)" if sat_ratio < ratio["rnn_large"] else "")
    sat_note = (f"With inputs of scale 1 instead, the σ = {large_sigma:g} RNN's tanh saturates (mean 1 − h² = "
                f"{sat_slope:.3f}) and its gradient at t = 0 is {sci(sat_ratio)} "
                f"{'of' if sat_ratio < 1 else 'times'} the last step's ({fate(sat_ratio)}){held}.")
    say(out, lstm_note)
    say(out, sat_note)
    out.emit("result", norms={k: [float(x) for x in n] for k, n in series.items()},
             ratio_first_to_last=ratio, factor_per_step=factor, saturated_norms=[float(x) for x in saturated],
             saturated_ratio=sat_ratio, saturated_mean_slope=sat_slope, mean_slope=lin_slope, mean_f=f_mean,
             reading=line)


# -- trace rnn and trace lstm -------------------------------------------------------------------

def unit_names(n: int, prefix: str = "unit ") -> list[str]:
    return [f"{prefix}{j}" for j in range(n)]


def trace_model(kind: str, ckpt, data, level, text, hidden, embed, seed, cache_dir):
    """The model (in float64), its vocabulary, and the ids of the text to read."""
    import numpy as np

    from nbengine.data.text import TOY_SENTENCE, tokenize
    from nbengine.models.rnnlm import MODELS
    from nbengine_cli.rnnlm import load_corpus, load_model

    name = "lstmlm" if kind == "lstm" else "rnnlm"
    cls = MODELS[name]
    if ckpt:
        trained, vocab = load_model(name, ckpt)
        level = trained.extra_config["level"]
        model = cls(trained.vocab_size, trained.embed_size, trained.hidden_size, trained.seed, np.float64)
        for k, p in model.params.items():
            p[...] = trained.params[k]
        about = f"the weights of {ckpt}"
        epochs = trained.extra_config.get("epochs")
        if epochs:
            about += f" (trained for {epochs} epoch{'s' if epochs != 1 else ''})"
    else:
        vocab = load_corpus(data, level, None, cache_dir).vocab
        model = cls(len(vocab), embed, hidden, seed, np.float64)
        about = f"untrained weights (random, seed {seed})"
    tokens = tokenize(text if text is not None else TOY_SENTENCE, level)
    unknown = [t for t in tokens if t not in vocab]
    if unknown and vocab.unk is None:
        raise click.BadParameter(f"{unknown[0]!r} is not in the vocabulary of {len(vocab):,} tokens, which has no "
                                 f"<unk>", param_hint="'--text'")
    if len(tokens) < 2:
        raise click.BadParameter("needs at least two tokens: one to read and the next to predict",
                                 param_hint="'--text'")
    shown = [vocab.unk if t not in vocab else t for t in tokens]
    return model, vocab, vocab.encode(tokens), shown, about, level


def forward_backward(model, ids):
    """Forward over the text (each token predicting the next) and backward, through the
    model's layers. Returns (embeddings, dhs from the layer above, loss, probabilities)."""
    import numpy as np

    from nbengine.trace import Tracer

    xs, ts = ids[None, :-1], ids[1:]
    T = xs.shape[1]
    model.reset_state()
    with Tracer() as tracer:
        emb = model.embed.forward(xs, training=False).copy()
        hs = model.recurrent.forward(emb, training=True)
        scores = model.affine.forward(hs, training=False)
    V = scores.shape[-1]
    loss = model.loss_fn.forward(scores.reshape(T, V), np.ascontiguousarray(ts))
    probs = model.loss_fn.probs.copy()
    ds = model.loss_fn.backward().reshape(1, T, V)
    dhs = model.affine.backward(ds).copy()
    model.recurrent.backward(dhs)
    return emb, dhs, loss, probs, tracer.steps


def lstm_suffix(model, emb, dhs, start: int):
    """dL/dh and dL/dc of the state entering step `start`, from the steps start..T-1 (the
    LSTM layer's backward pass over them, started from the forward pass's state)."""
    import numpy as np

    from nbengine.layers.recurrent import TimeLSTM

    rec = model.recurrent
    T, H = emb.shape[1], rec.H
    if start >= T:
        return np.zeros(H), np.zeros(H)
    layer = TimeLSTM("lstm", rec.D, H)
    layer.build((None, rec.D), np.float64, np.random.default_rng(0))
    for k, p in layer.params.items():
        p[...] = rec.params[k]
    if start > 0:
        layer.h = rec.cache["hs"][:, start - 1].copy()
        layer.c = rec.cache["cs"][:, start - 1].copy()
    layer.forward(np.ascontiguousarray(emb[:, start:]), training=True)
    layer.backward(np.ascontiguousarray(dhs[:, start:]))
    return layer.dh0[0].copy(), layer.dc0[0].copy()


def trace_options(f):
    f = output_options(f)
    f = click.option("--cache-dir", type=click.Path(file_okay=False), default=None, envvar="NBENGINE_CACHE_DIR",
                     help="Where `nbengine data fetch ptb` put the Penn Treebank.")(f)
    f = click.option("--seed", type=int, default=0, show_default=True, help="Seed of the untrained weights.")(f)
    f = click.option("--embed", type=click.IntRange(min=1), default=4, show_default=True,
                     help="Embedding size of the untrained model.")(f)
    f = click.option("--hidden", type=click.IntRange(min=1), default=4, show_default=True,
                     help="Hidden units of the untrained model (small, so every number fits).")(f)
    f = click.option("--step", "-t", "step", type=click.IntRange(min=0), default=1, show_default=True,
                     help="The time step to show in detail, counting from 0.")(f)
    f = click.option("--text", default=None, metavar="TEXT",
                     help="The text to read  [default: the lesson's sentence, \"You say goodbye and I say "
                          "hello.\"].")(f)
    f = click.option("--level", type=click.Choice(["word", "char"]), default="word", show_default=True,
                     help="Words or characters (a checkpoint keeps its own).")(f)
    f = click.option("--data", default="toy", show_default=True, metavar="NAME|PATH",
                     help="The corpus whose vocabulary numbers the tokens, for untrained weights.")(f)
    f = click.option("--checkpoint", "ckpt", type=click.Path(dir_okay=False), default=None, metavar="CKPT",
                     help="A checkpoint of `nbengine train rnnlm` or `lstmlm`  [default: untrained weights].")(f)
    return f


def show(out: Output, step, scope: str = "step") -> None:
    """A trace step as a labelled table (human) or a JSON line. scope: "sentence" for a
    tensor of every step (rows are the tokens), "step" for one of step t."""
    from nbengine.trace import step_to_dict
    from nbengine_cli.render import render_step

    out.show(render_step(step, out.precision, out.full))
    out.emit("trace", scope=scope, **step_to_dict(step))


def show_human(out: Output, step) -> None:
    from nbengine_cli.render import render_step

    out.show(render_step(step, out.precision, out.full))


def emit_only(out: Output, step, scope: str = "step") -> None:
    from nbengine.trace import step_to_dict

    out.emit("trace", scope=scope, **step_to_dict(step))


def header(out: Output, kind: str, model, tokens, t: int, about: str, level: str, kernels=()) -> list[str]:
    """The opening lines; returns the row labels of the tokens read (each with its step).
    kernels: the fast kernels the model's layer asks for (their names say which loops ran)."""
    from nbengine.kernels.registry import name_of

    T = len(tokens) - 1
    if t >= T:
        raise click.BadParameter(f"the text has {T} steps (0 to {T - 1}): each token but the last is read and the "
                                 f"next one predicted", param_hint="'--step'")
    rows = [f"{s} {tokens[s]}" for s in range(T)]
    joined = " ".join(tokens) if level == "word" else "".join(tokens)
    say(out, f"{kind.upper()}, one step of {joined!r}, read token by token; embedding {model.embed_size}, hidden "
             f"{model.hidden_size}; {about}; float64", "bold")
    after = f", after {tokens[t - 1]!r}" if t > 0 else ", the first (h_{-1} = 0" + (
        ", c_{-1} = 0)" if kind == "lstm" else ")")
    say(out, f"Step t = {t}: the token {tokens[t]!r}{after}; the model should predict {tokens[t + 1]!r} next.",
        "dim")
    if about.startswith("untrained"):
        name = f"{kind}lm"
        say(out, f"The weights are untrained, so the numbers are small and the predictions a guess. For a trained "
                 f"model: `nbengine train {name} --save {name}.npz`, then `nbengine trace {kind} --checkpoint "
                 f"{name}.npz`.", "yellow")
    note = reordered_note(*kernels)
    if note:
        say(out, note, "dim")
    out.emit("setup", model=kind, tokens=tokens, step=t, token=tokens[t], target=tokens[t + 1],
             embed=model.embed_size, hidden=model.hidden_size, weights=about,
             kernels=[name_of(k) for k in kernels])
    return rows


def prediction_line(out: Output, probs, vocab, tokens, t: int, precision: int) -> None:
    p = probs[t]
    top = [int(k) for k in (-p).argsort(kind="stable")[:3]]
    target = vocab.id(tokens[t + 1])
    listed = ", ".join(f"{vocab.tokens[k]!r} {p[k]:.{precision}f}" for k in top)
    say(out, f"After step {t} the model's likeliest next tokens: {listed}; p({tokens[t + 1]!r}) = "
             f"{p[target]:.{precision}f}, so its loss there is -log p = {-math.log(p[target]):.{precision}f}")
    out.emit("prediction", step=t, top=[vocab.tokens[k] for k in top], probabilities=[float(p[k]) for k in top],
             target=tokens[t + 1], target_probability=float(p[target]))


@click.command("rnn", short_help="One step of the RNN with real numbers, forward and backward.")
@trace_options
def trace_rnn(ckpt, data, level, text, step, hidden, embed, seed, cache_dir, json_mode, quiet, precision, full):
    """One step of an RNN language model on the lesson's sentence, every number computed.

    \b
    forward:   A = x_t·Wx + h_{t-1}·Wh + b      h_t = tanh(A)
    backward:  dh = dL/dh_t (from the layer above and from step t+1)
               dA = dh ⊙ (1 − h_t²)             (tanh' = 1 − tanh²)
               dh_{t-1} = dA·Whᵀ   dx_t = dA·Wxᵀ   dWh += h_{t-1}ᵀ·dA ...

    The loss is the model's: the mean of -log p(the next token) over the sentence.
    The whole sentence runs through the model's layers (the rnn kernels); step t's
    numbers are then computed from the formulas above and checked against the kernels.
    """
    import numpy as np

    from nbengine.kernels.registry import name_of
    from nbengine.kernels.rnn import rnn_backward, rnn_forward
    from nbengine.trace import Step

    out = Output(json_mode, quiet, precision, full)
    model, vocab, ids, tokens, about, level = trace_model("rnn", ckpt, data, level, text, hidden, embed, seed,
                                                          cache_dir)
    t = step
    fwd, bwd = name_of(rnn_forward), name_of(rnn_backward)  # the loops that run: naive, or fast
    rows = header(out, "rnn", model, tokens, t, about, level, (rnn_forward, rnn_backward))
    emb, dhs, loss, probs, _ = forward_backward(model, ids)
    rec = model.recurrent
    Wx, Wh, b = (rec.params[k] for k in ("Wx", "Wh", "b"))
    hs = rec.cache["hs"][0]
    H, D = rec.H, rec.D
    units, dims = unit_names(H), unit_names(D, "e")

    show(out, Step("x", emb[0], "x_t = W_embed[token id]", "each token's vector: the rows of the embedding",
                   (rows, dims)), scope="sentence")
    show(out, Step("h", hs, "h_t = tanh(x_t·Wx + h_{t-1}·Wh + b)", f"the hidden state after each token ({fwd})",
                   (rows, units)), scope="sentence")
    out.show("")
    say(out, f"Step t = {t}, forward", "bold")
    x_t = emb[0, t]
    h_prev = hs[t - 1] if t > 0 else np.zeros(H)
    A = x_t @ Wx + h_prev @ Wh + b
    h_t = np.tanh(A)
    show(out, Step("x_t", x_t, f"the embedding of {tokens[t]!r}", "", (dims,)))
    show(out, Step("h_prev", h_prev, "h_{t-1}", "the state the previous step left", (units,)))
    show(out, Step("A", A, "A = x_t·Wx + h_{t-1}·Wh + b", "the affine, before the activation", (units,)))
    show(out, Step("h", h_t, "h_t = tanh(A)", "the new hidden state", (units,)))
    diff_forward = float(np.abs(h_t - hs[t]).max())
    say(out, f"tanh(A) agrees with {fwd}'s h_t: largest difference {diff_forward:.1e}", "dim")
    prediction_line(out, probs, vocab, tokens, t, precision)

    out.show("")
    say(out, f"Step t = {t}, backward (the loss: mean -log p(next token) over the sentence = {loss:.{precision}f})",
        "bold")
    dh = rec.dh_total[0, t]
    dA = dh * (1 - h_t ** 2)
    dh_prev = dA @ Wh.T
    dx = dA @ Wx.T
    show(out, Step("dh_up", dhs[0, t], "dL/dh_t from the layer above (the affine)", "", (units,)))
    show(out, Step("dh", dh, "dh = dL/dh_t = from above + dh_next (from step t+1)", f"{bwd}'s dh_total[t]",
                   (units,)))
    show(out, Step("dA", dA, "dA = dh ⊙ (1 − h_t²)", "back through tanh", (units,)))
    show(out, Step("dh_prev", dh_prev, "dh_{t-1} = dA·Whᵀ", "what flows on to step t-1", (units,)))
    show(out, Step("dx", dx, "dx_t = dA·Wxᵀ", "what flows on to the embedding", (dims,)))
    kernel_prev = (rec.dh_total[0, t - 1] - dhs[0, t - 1]) if t > 0 else rec.dh0[0]
    diff_backward = float(np.abs(dh_prev - kernel_prev).max())
    say(out, f"dh_{{t-1}} agrees with {bwd}'s (dh_total[t-1] − dL/dh_{{t-1}} from above"
             f"{', or dh0' if t == 0 else ''}): largest difference {diff_backward:.1e}", "dim")
    out.emit("result", loss=float(loss), forward_difference=diff_forward, backward_difference=diff_backward)


@click.command("lstm", short_help="One step of the LSTM with real numbers: the gates, c and h, and back.")
@trace_options
def trace_lstm(ckpt, data, level, text, step, hidden, embed, seed, cache_dir, json_mode, quiet, precision, full):
    """One step of an LSTM language model on the lesson's sentence, every number computed.

    \b
    forward:   A = x_t·Wx + h_{t-1}·Wh + b        (4H values: one affine for the four gates)
               f = σ(A[0:H])   g = tanh(A[H:2H])   i = σ(A[2H:3H])   o = σ(A[3H:4H])
               c_t = f ⊙ c_{t-1} + g ⊙ i          h_t = o ⊙ tanh(c_t)
    backward:  dh = dL/dh_t, dc_next = dL/dc_t from step t+1
               ds = dc_next + dh ⊙ o ⊙ (1 − tanh²(c_t))
               df = ds ⊙ c_{t-1} ⊙ f(1−f)   dg = ds ⊙ i ⊙ (1−g²)
               di = ds ⊙ g ⊙ i(1−i)         do = dh ⊙ tanh(c_t) ⊙ o(1−o)
               dA = [df, dg, di, do]   dh_{t-1} = dA·Whᵀ   dc_{t-1} = ds ⊙ f

    The loss is the model's: the mean of -log p(the next token) over the sentence.
    The whole sentence runs through the model's layers (the lstm kernels; the gates
    are recorded as they are computed); step t's numbers are then computed from the
    formulas above and checked against the kernels.
    """
    import numpy as np

    from nbengine.kernels.lstm import lstm_backward, lstm_forward
    from nbengine.kernels.registry import name_of
    from nbengine.trace import Step

    out = Output(json_mode, quiet, precision, full)
    model, vocab, ids, tokens, about, level = trace_model("lstm", ckpt, data, level, text, hidden, embed, seed,
                                                          cache_dir)
    t = step
    fwd, bwd = name_of(lstm_forward), name_of(lstm_backward)  # the loops that run: naive, or fast
    rows = header(out, "lstm", model, tokens, t, about, level, (lstm_forward, lstm_backward))
    emb, dhs, loss, probs, recorded = forward_backward(model, ids)
    rec = model.recurrent
    Wx, Wh, b = (rec.params[k] for k in ("Wx", "Wh", "b"))
    H, D = rec.H, rec.D
    hs, cs = rec.cache["hs"][0], rec.cache["cs"][0]
    gates = {s.name.split()[-1]: s.value[0] for s in recorded if s.name.split()[-1] in GATES}  # (T, H) each
    units, dims = unit_names(H), unit_names(D, "e")

    show(out, Step("x", emb[0], "x_t = W_embed[token id]", "each token's vector: the rows of the embedding",
                   (rows, dims)), scope="sentence")
    for g in GATES:
        formula, note = GATE_NOTES[g]
        show(out, Step(g, gates[g], formula, note + f" (as {fwd} computed it)", (rows, units)), scope="sentence")
    show(out, Step("c", cs, "c_t = f ⊙ c_{t-1} + g ⊙ i", "the cell, the memory", (rows, units)), scope="sentence")
    show(out, Step("h", hs, "h_t = o ⊙ tanh(c_t)", "the hidden state", (rows, units)), scope="sentence")

    out.show("")
    say(out, f"Step t = {t}, forward", "bold")
    x_t = emb[0, t]
    h_prev = hs[t - 1] if t > 0 else np.zeros(H)
    c_prev = cs[t - 1] if t > 0 else np.zeros(H)
    A = x_t @ Wx + h_prev @ Wh + b
    show(out, Step("x_t", x_t, f"the embedding of {tokens[t]!r}", "", (dims,)))
    show(out, Step("h_prev", h_prev, "h_{t-1}", "the hidden state the previous step left", (units,)))
    show(out, Step("c_prev", c_prev, "c_{t-1}", "the cell the previous step left", (units,)))
    slices = ["f: A[0:H]", "g: A[H:2H]", "i: A[2H:3H]", "o: A[3H:4H]"]
    show_human(out, Step("A", A.reshape(4, H), "A = x_t·Wx + h_{t-1}·Wh + b",
                         f"one affine of 4H = {4 * H} values, cut into four slices of H", (slices, units)))
    emit_only(out, Step("A", A, "A = x_t·Wx + h_{t-1}·Wh + b", "one affine, 4H values: the slices f, g, i, o",
                        ([f"{g}{j}" for g in GATES for j in range(H)],)))
    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    ours = {"f": sigmoid(A[:H]), "g": np.tanh(A[H:2 * H]), "i": sigmoid(A[2 * H:3 * H]), "o": sigmoid(A[3 * H:])}
    step_gates = {g: gates[g][t] for g in GATES}
    labels = [f"{g} = {'tanh' if g == 'g' else 'σ'}(A[{g}])" for g in GATES]
    show_human(out, Step("gates", np.stack([step_gates[g] for g in GATES]), "f, g, i, o = the slices, activated",
                         "f, i, o in (0, 1) say how much passes; g in (-1, 1) is what may be written",
                         (labels, units)))
    for g in GATES:
        formula, note = GATE_NOTES[g]
        emit_only(out, Step(g, step_gates[g], formula, note, (units,)))
    f, g_, i, o = (step_gates[k] for k in GATES)
    c_t, h_t = cs[t], hs[t]
    show(out, Step("c", c_t, "c_t = f ⊙ c_{t-1} + g ⊙ i", "keep part of the old memory, write part of the new",
                   (units,)))
    show(out, Step("h", h_t, "h_t = o ⊙ tanh(c_t)", "show part of the memory", (units,)))
    diff_forward = max(float(np.abs(ours[k] - step_gates[k]).max()) for k in GATES)
    diff_forward = max(diff_forward, float(np.abs(f * c_prev + g_ * i - c_t).max()),
                       float(np.abs(o * np.tanh(c_t) - h_t).max()))
    say(out, f"σ and tanh of A, c_t and h_t computed here agree with {fwd}'s: largest difference "
             f"{diff_forward:.1e}", "dim")
    prediction_line(out, probs, vocab, tokens, t, precision)

    out.show("")
    say(out, f"Step t = {t}, backward (the loss: mean -log p(next token) over the sentence = {loss:.{precision}f})",
        "bold")
    dh = rec.dh_total[0, t]
    _, dc_next = lstm_suffix(model, emb, dhs, t + 1)
    tanh_c = np.tanh(c_t)
    ds = dc_next + dh * o * (1 - tanh_c ** 2)
    dA = {"f": ds * c_prev * f * (1 - f), "g": ds * i * (1 - g_ ** 2), "i": ds * g_ * i * (1 - i),
          "o": dh * tanh_c * o * (1 - o)}
    dA_flat = np.concatenate([dA[k] for k in GATES])
    dh_prev = dA_flat @ Wh.T
    dc_prev = ds * f
    dx = dA_flat @ Wx.T
    show(out, Step("dh", dh, "dh = dL/dh_t = from above + dh_next (from step t+1)", f"{bwd}'s dh_total[t]",
                   (units,)))
    show(out, Step("dc_next", dc_next, "dL/dc_t from step t+1",
                   "0 at the last step" if t == len(tokens) - 2 else "what step t+1 sent back along the cell",
                   (units,)))
    show(out, Step("ds", ds, "ds = dc_next + dh ⊙ o ⊙ (1 − tanh²(c_t))", "dL/dc_t in full", (units,)))
    d_labels = ["df = ds⊙c_{t-1}⊙f(1−f)", "dg = ds⊙i⊙(1−g²)", "di = ds⊙g⊙i(1−i)", "do = dh⊙tanh(c_t)⊙o(1−o)"]
    show_human(out, Step("dA", dA_flat.reshape(4, H), "dA = [df, dg, di, do]", "the slice, undone",
                         (d_labels, units)))
    emit_only(out, Step("dA", dA_flat, "dA = [df, dg, di, do]", "the slice, undone",
                        ([f"d{g}{j}" for g in GATES for j in range(H)],)))
    for k, lab in zip(GATES, d_labels):
        emit_only(out, Step(f"d{k}", dA[k], lab, "", (units,)))
    show(out, Step("dh_prev", dh_prev, "dh_{t-1} = dA·Whᵀ", "what flows on to step t-1 through Wh", (units,)))
    show(out, Step("dc_prev", dc_prev, "dc_{t-1} = ds ⊙ f", "what flows on along the cell: multiplied only by f",
                   (units,)))
    show(out, Step("dx", dx, "dx_t = dA·Wxᵀ", "what flows on to the embedding", (dims,)))
    dh_k, dc_k = lstm_suffix(model, emb, dhs, t)  # the kernel's gradients of the state entering step t
    kernel_dh_prev = (rec.dh_total[0, t - 1] - dhs[0, t - 1]) if t > 0 else rec.dh0[0]
    diff_backward = max(float(np.abs(dh_prev - kernel_dh_prev).max()), float(np.abs(dc_prev - dc_k).max()),
                        float(np.abs(dh_prev - dh_k).max()))
    say(out, f"dh_{{t-1}} and dc_{{t-1}} agree with {bwd}'s: largest difference {diff_backward:.1e}", "dim")
    out.emit("result", loss=float(loss), forward_difference=diff_forward, backward_difference=diff_backward)
