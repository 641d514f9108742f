"""One step of the RNN and of the LSTM language model, forward and backward, with the
numbers their layers computed: the whole text runs through the model's layers (the
rnn or lstm kernels), and step t is read off what the kernels wrote (hs, cs, the
gates; dh_total, dzs, dc_total, dgates, dxs). The affine A of step t goes through a
TimeAffine layer holding [Wx; Wh] and b: the kernels activate it in place."""

from __future__ import annotations

import math

import numpy as np

from nbengine.explain.steps import Steps, Tensor, fixed
from nbengine.i18n import Msg
from nbengine.kernels.registry import name_of, reordered_note
from nbengine.layers.time_affine import TimeAffine
from nbengine.trace import Step

GATES = ("f", "g", "i", "o")
GATE_NOTES = {
    "f": ("f = σ(A[0:H])", Msg("forget gate: how much of c_{t-1} to keep")),
    "g": ("g = tanh(A[H:2H])", Msg("the new candidate memory")),
    "i": ("i = σ(A[2H:3H])", Msg("input gate: how much of g to write")),
    "o": ("o = σ(A[3H:4H])", Msg("output gate: how much of tanh(c_t) to show")),
}


# the gradients' names, apart from their formulas (which are not words to translate)
D_A, D_S = "dA", "ds"


def unit_names(n: int) -> list[str]:
    """The labels of the hidden units: "unit 0", "unit 1", ..."""
    return [Msg("unit {j}", j=j) for j in range(n)]


def embedding_names(n: int) -> list[str]:
    return [f"e{j}" for j in range(n)]


def in_float64(model):
    """A float64 twin of a language model (RNNLM or LSTMLM), with its weights."""
    twin = type(model)(
        model.vocab_size, model.embed_size, model.hidden_size, model.seed, np.float64
    )
    for k, p in twin.params.items():
        p[...] = model.params[k]
    return twin


def _run(model, ids):
    """Forward over the text (each token predicting the next) and backward, through the
    model's layers. Returns (embeddings, dhs from the layer above, dxs, loss, probabilities)."""
    xs, ts = ids[None, :-1], ids[1:]
    T = xs.shape[1]
    model.reset_state()
    emb = model.embed.forward(xs, training=False).copy()
    hs = model.recurrent.forward(emb, training=True)
    scores = model.affine.forward(hs, training=False)
    V = scores.shape[-1]
    loss = model.loss_fn.forward(scores.reshape(T, V), np.ascontiguousarray(ts))
    probs = model.loss_fn.probs.copy()
    ds = model.loss_fn.backward().reshape(1, T, V)
    dhs = model.affine.backward(ds).copy()
    dxs = model.recurrent.backward(dhs).copy()
    return emb, dhs, dxs, loss, probs


def _affine(rec, x_t, h_prev):
    """A = x_t·Wx + h_{t-1}·Wh + b, as one affine: [x_t, h_{t-1}]·[Wx; Wh] + b."""
    W = np.concatenate([rec.params["Wx"], rec.params["Wh"]])
    layer = TimeAffine("A", W.shape[0], W.shape[1])
    layer.build((1, W.shape[0]), np.float64, np.random.default_rng(0))
    layer.params["W"][...] = W
    layer.params["b"][...] = rec.params["b"]
    return layer.forward(np.concatenate([x_t, h_prev])[None, None], training=False)[0, 0].copy()


def _header(
    s: Steps, kind: str, model, tokens, t: int, about: str, level: str, kernels
) -> list[str]:
    """The opening lines; returns the row labels of the tokens read (each with its step)."""
    T = len(tokens) - 1
    rows = [f"{k} {tokens[k]}" for k in range(T)]
    joined = " ".join(tokens) if level == "word" else "".join(tokens)
    s.say(
        Msg(
            "{kind}, one step of {text!r}, read token by token; embedding {embed}, hidden {hidden}; {about}; "
            "float64",
            kind=kind.upper(),
            text=joined,
            embed=model.embed_size,
            hidden=model.hidden_size,
            about=about,
        ),
        "bold",
    )
    if t > 0:
        after = Msg(", after {token!r}", token=tokens[t - 1])
    elif kind == "lstm":
        after = Msg(", the first (h_{-1} = 0, c_{-1} = 0)")
    else:
        after = Msg(", the first (h_{-1} = 0)")
    s.say(
        Msg(
            "Step t = {t}: the token {token!r}{after}; the model should predict {next!r} next.",
            t=t,
            token=tokens[t],
            after=after,
            next=tokens[t + 1],
        ),
        "dim",
    )
    if about.startswith("untrained"):
        name = f"{kind}lm"
        s.say(
            Msg(
                "The weights are untrained, so the numbers are small and the predictions a guess. For a trained "
                "model: `nbengine train {name} --save {name}.npz`, then `nbengine trace {kind} --checkpoint "
                "{name}.npz`.",
                name=name,
                kind=kind,
            ),
            "yellow",
        )
    note = reordered_note(*kernels)
    if note:
        s.say(note, "dim")
    s.fact(
        "setup",
        model=kind,
        tokens=tokens,
        step=t,
        token=tokens[t],
        target=tokens[t + 1],
        embed=model.embed_size,
        hidden=model.hidden_size,
        weights=about,
        kernels=[name_of(k) for k in kernels],
    )
    return rows


def _prediction(s: Steps, probs, vocab, tokens, t: int, precision: int) -> None:
    p = probs[t]
    top = [int(k) for k in (-p).argsort(kind="stable")[:3]]
    target = vocab.id(tokens[t + 1])
    listed = ", ".join(f"{vocab.tokens[k]!r} {p[k]:.{precision}f}" for k in top)
    s.fact(
        "prediction",
        Msg(
            "After step {t} the model's likeliest next tokens: {listed}; p({target!r}) = {p}, so its "
            "loss there is -log p = {loss}",
            t=t,
            listed=listed,
            target=tokens[t + 1],
            p=fixed(p[target], precision),
            loss=fixed(-math.log(p[target]), precision),
        ),
        step=t,
        top=[vocab.tokens[k] for k in top],
        probabilities=[float(p[k]) for k in top],
        target=tokens[t + 1],
        target_probability=float(p[target]),
    )


def _check(tokens, t: int) -> None:
    T = len(tokens) - 1
    if T < 1:
        raise ValueError(Msg("needs at least two tokens: one to read and the next to predict"))
    if not 0 <= t < T:
        raise ValueError(
            Msg(
                "the text has {T} steps (0 to {last}): each token but the last is read and the next "
                "one predicted",
                T=T,
                last=T - 1,
            )
        )


def rnn(
    model, vocab, tokens, t: int = 1, about: str = "", level: str = "word", precision: int = 4
) -> Steps:
    """Step t of an RNN language model (float64: see :func:`in_float64`) reading ``tokens``
    (each but the last predicting the next), forward and backward."""
    from nbengine.kernels.rnn import rnn_backward, rnn_forward

    _check(tokens, t)
    s = Steps(title="rnn")
    fwd, bwd = name_of(rnn_forward), name_of(rnn_backward)  # the loops that run: naive, or fast
    rows = _header(s, "rnn", model, tokens, t, about, level, (rnn_forward, rnn_backward))
    emb, dhs, dxs, loss, probs = _run(model, vocab.encode(tokens))
    rec = model.recurrent
    hs, h0 = rec.cache["hs"][0], rec.cache["h0"][0]
    H, D = rec.H, rec.D
    units, dims = unit_names(H), embedding_names(D)
    sentence = {"scope": "sentence"}
    step = {"scope": "step"}

    s.tensor(
        "x",
        emb[0],
        "x_t = W_embed[token id]",
        Msg("each token's vector: the rows of the embedding"),
        (rows, dims),
        fields=sentence,
    )
    s.tensor(
        "h",
        hs,
        "h_t = tanh(x_t·Wx + h_{t-1}·Wh + b)",
        Msg("the hidden state after each token ({kernel})", kernel=fwd),
        (rows, units),
        fields=sentence,
    )
    s.say("")
    s.say(Msg("Step t = {t}, forward", t=t), "bold")
    x_t = emb[0, t]
    h_prev = hs[t - 1] if t > 0 else h0
    s.tensor(
        "x_t", x_t, Msg("the embedding of {token!r}", token=tokens[t]), "", (dims,), fields=step
    )
    s.tensor(
        "h_prev", h_prev, "h_{t-1}", Msg("the state the previous step left"), (units,), fields=step
    )
    s.tensor(
        "A",
        _affine(rec, x_t, h_prev),
        "A = x_t·Wx + h_{t-1}·Wh + b",
        Msg("the affine, before the activation"),
        (units,),
        fields=step,
    )
    s.tensor("h", hs[t], "h_t = tanh(A)", Msg("the new hidden state"), (units,), fields=step)
    _prediction(s, probs, vocab, tokens, t, precision)

    s.say("")
    s.say(
        Msg(
            "Step t = {t}, backward (the loss: mean -log p(next token) over the sentence = {loss})",
            t=t,
            loss=fixed(loss, precision),
        ),
        "bold",
    )
    dh_prev = (rec.dh_total[0, t - 1] - dhs[0, t - 1]) if t > 0 else rec.dh0[0]
    s.tensor(
        "dh_up",
        dhs[0, t],
        Msg("dL/dh_t from the layer above (the affine)"),
        "",
        (units,),
        fields=step,
    )
    s.tensor(
        "dh",
        rec.dh_total[0, t],
        Msg("dh = dL/dh_t = from above + dh_next (from step t+1)"),
        Msg("{kernel}'s dh_total[t]", kernel=bwd),
        (units,),
        fields=step,
    )
    s.tensor(
        "dA",
        rec.dzs[0, t],
        f"{D_A} = dh ⊙ (1 − h_t²)",
        Msg("back through tanh"),
        (units,),
        fields=step,
    )
    s.tensor(
        "dh_prev",
        dh_prev,
        "dh_{t-1} = dA·Whᵀ",
        Msg("what flows on to step t-1"),
        (units,),
        fields=step,
    )
    s.tensor(
        "dx",
        dxs[0, t],
        "dx_t = dA·Wxᵀ",
        Msg("what flows on to the embedding"),
        (dims,),
        fields=step,
    )
    s.fact("result", loss=float(loss))
    return s


def lstm(
    model, vocab, tokens, t: int = 1, about: str = "", level: str = "word", precision: int = 4
) -> Steps:
    """Step t of an LSTM language model (float64: see :func:`in_float64`) reading ``tokens``,
    forward (the gates, c and h) and backward (dL/dh, dL/dc, the gates' gradients)."""
    from nbengine.kernels.lstm import lstm_backward, lstm_forward

    _check(tokens, t)
    s = Steps(title="lstm")
    fwd, bwd = name_of(lstm_forward), name_of(lstm_backward)  # the loops that run: naive, or fast
    rows = _header(s, "lstm", model, tokens, t, about, level, (lstm_forward, lstm_backward))
    emb, dhs, dxs, loss, probs = _run(model, vocab.encode(tokens))
    rec = model.recurrent
    H, D = rec.H, rec.D
    hs, cs, gates = rec.cache["hs"][0], rec.cache["cs"][0], rec.cache["gates"][0]
    # (T, H) each, as the kernel wrote them
    gate = {g: gates[:, k * H : (k + 1) * H] for k, g in enumerate(GATES)}
    units, dims = unit_names(H), embedding_names(D)
    sentence = {"scope": "sentence"}
    step = {"scope": "step"}

    s.tensor(
        "x",
        emb[0],
        "x_t = W_embed[token id]",
        Msg("each token's vector: the rows of the embedding"),
        (rows, dims),
        fields=sentence,
    )
    for g in GATES:
        formula, note = GATE_NOTES[g]
        s.tensor(
            g,
            gate[g],
            formula,
            Msg("{note} (as {kernel} computed it)", note=note, kernel=fwd),
            (rows, units),
            fields=sentence,
        )
    s.tensor(
        "c",
        cs,
        "c_t = f ⊙ c_{t-1} + g ⊙ i",
        Msg("the cell, the memory"),
        (rows, units),
        fields=sentence,
    )
    s.tensor(
        "h", hs, "h_t = o ⊙ tanh(c_t)", Msg("the hidden state"), (rows, units), fields=sentence
    )

    s.say("")
    s.say(Msg("Step t = {t}, forward", t=t), "bold")
    x_t = emb[0, t]
    h_prev = hs[t - 1] if t > 0 else rec.cache["h0"][0]
    c_prev = cs[t - 1] if t > 0 else rec.cache["c0"][0]
    s.tensor(
        "x_t", x_t, Msg("the embedding of {token!r}", token=tokens[t]), "", (dims,), fields=step
    )
    s.tensor(
        "h_prev",
        h_prev,
        "h_{t-1}",
        Msg("the hidden state the previous step left"),
        (units,),
        fields=step,
    )
    s.tensor(
        "c_prev", c_prev, "c_{t-1}", Msg("the cell the previous step left"), (units,), fields=step
    )
    slices = ["f: A[0:H]", "g: A[H:2H]", "i: A[2H:3H]", "o: A[3H:4H]"]
    s.append(
        Tensor(
            Step(
                "A",
                _affine(rec, x_t, h_prev),
                "A = x_t·Wx + h_{t-1}·Wh + b",
                Msg("one affine, 4H values: the slices f, g, i, o"),
                ([f"{g}{j}" for g in GATES for j in range(H)],),
            ),
            dict(step),
            shape=(4, H),
            shape_labels=(slices, units),
            shape_note=Msg("one affine of 4H = {n} values, cut into four slices of H", n=4 * H),
        )
    )
    s.append(
        Tensor(
            Step(
                "gates",
                gates[t].reshape(4, H).copy(),
                Msg("f, g, i, o = the slices, activated"),
                Msg("f, i, o in (0, 1) say how much passes; g in (-1, 1) is what may be written"),
                ([f"{g} = {'tanh' if g == 'g' else 'σ'}(A[{g}])" for g in GATES], units),
            ),
            dict(step),
            json=False,
            json_rows=tuple((g, *GATE_NOTES[g]) for g in GATES),
        )
    )
    s.tensor(
        "c",
        cs[t],
        "c_t = f ⊙ c_{t-1} + g ⊙ i",
        Msg("keep part of the old memory, write part of the new"),
        (units,),
        fields=step,
    )
    s.tensor(
        "h", hs[t], "h_t = o ⊙ tanh(c_t)", Msg("show part of the memory"), (units,), fields=step
    )
    _prediction(s, probs, vocab, tokens, t, precision)

    s.say("")
    s.say(
        Msg(
            "Step t = {t}, backward (the loss: mean -log p(next token) over the sentence = {loss})",
            t=t,
            loss=fixed(loss, precision),
        ),
        "bold",
    )
    T = len(tokens) - 1
    f = gate["f"]
    # Along the cell the kernel passes dc_{t-1} = ds ⊙ f back; dc0 is what it passed out of step 0.
    dc_next = rec.dc_total[0, t + 1] * f[t + 1] if t + 1 < T else np.zeros(H)
    dc_prev = rec.dc_total[0, t] * f[t] if t > 0 else rec.dc0[0]
    dh_prev = (rec.dh_total[0, t - 1] - dhs[0, t - 1]) if t > 0 else rec.dh0[0]
    s.tensor(
        "dh",
        rec.dh_total[0, t],
        Msg("dh = dL/dh_t = from above + dh_next (from step t+1)"),
        Msg("{kernel}'s dh_total[t]", kernel=bwd),
        (units,),
        fields=step,
    )
    s.tensor(
        "dc_next",
        dc_next,
        Msg("dL/dc_t from step t+1"),
        Msg("0 at the last step") if t == T - 1 else Msg("what step t+1 sent back along the cell"),
        (units,),
        fields=step,
    )
    s.tensor(
        "ds",
        rec.dc_total[0, t],
        f"{D_S} = dc_next + dh ⊙ o ⊙ (1 − tanh²(c_t))",
        Msg("dL/dc_t in full"),
        (units,),
        fields=step,
    )
    d_labels = [
        "df = ds⊙c_{t-1}⊙f(1−f)",
        "dg = ds⊙i⊙(1−g²)",
        "di = ds⊙g⊙i(1−i)",
        "do = dh⊙tanh(c_t)⊙o(1−o)",
    ]
    s.append(
        Tensor(
            Step(
                "dA",
                rec.dgates[0, t].copy(),
                f"{D_A} = [{', '.join('d' + g for g in GATES)}]",
                Msg("the slice, undone"),
                ([f"d{g}{j}" for g in GATES for j in range(H)],),
            ),
            dict(step),
            shape=(4, H),
            shape_labels=(d_labels, units),
            json_rows=tuple((f"d{g}", label, "") for g, label in zip(GATES, d_labels)),
        )
    )
    s.tensor(
        "dh_prev",
        dh_prev,
        "dh_{t-1} = dA·Whᵀ",
        Msg("what flows on to step t-1 through Wh"),
        (units,),
        fields=step,
    )
    s.tensor(
        "dc_prev",
        dc_prev,
        "dc_{t-1} = ds ⊙ f",
        Msg("what flows on along the cell: multiplied only by f"),
        (units,),
        fields=step,
    )
    s.tensor(
        "dx",
        dxs[0, t],
        "dx_t = dA·Wxᵀ",
        Msg("what flows on to the embedding"),
        (dims,),
        fields=step,
    )
    s.fact("result", loss=float(loss))
    return s
