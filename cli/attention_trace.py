"""The self-attention lesson with computed numbers: a sentence's embeddings, the
queries, keys and values, the scores QKᵀ, their scaling by √d_k, the softmax that
turns each row into attention weights, and the output Z = weights·V.

Q, K, V and QKᵀ are NumPy products; the scaling, the softmax and Z are computed by
the engine's attention kernel (scale 1/√d_k, not causal), never typed in: the one
`--kernels` picks, attention_forward_naive or attention_forward, named in the notes.
With --checkpoint (a model from `nbengine train pronoun --save`) the numbers are
the trained model's: the sentence goes through the model, and the steps are those
of the attention its answer is read from, with its own Wq, Wk and Wv, so the
weights show where the model learnt that "it" should look.

The engine is imported inside the command, so `nbengine --help` stays instant.
"""

from __future__ import annotations

import math

import click

from nbengine.kernels.registry import reordered_note
from nbengine_cli.output import Output, output_options

DEFAULT_SENTENCE = "I am good"
CHECKPOINT_SENTENCE = "A cat ate the fish because it was hungry"  # the default with --checkpoint
# The lesson's worked numbers: the first row of QKᵀ for "I am good", with d_k = 64.
LESSON_TOKENS = ["I", "am", "good"]
LESSON_SCORES = [110.0, 90.0, 80.0]
LESSON_DK = 64


def say(out: Output, text: str, style: str = "") -> None:
    """A line of prose, left whole for the terminal to wrap (so a weighted sum stays on one line)."""
    from rich.markup import escape

    out.show(f"[{style}]{escape(text)}[/]" if style else escape(text))


def show(out: Output, step, full: bool = False) -> None:
    """A step as a labelled table (human) or a `trace` JSON line; ``full``: every value, even with --full off."""
    from nbengine.trace import step_to_dict
    from nbengine_cli.render import render_step

    out.show(render_step(step, out.precision, out.full or full))
    out.emit("trace", **step_to_dict(step))


def ran() -> str:
    """The name of the attention kernel that runs (attention_forward_naive or attention_forward)."""
    from nbengine.kernels.attention import attention_forward
    from nbengine.kernels.registry import name_of

    return name_of(attention_forward)


def say_which_ran(out: Output) -> None:
    """When the fast kernel runs, one line on what it is (the naive loop's sums, reordered)."""
    from nbengine.kernels.attention import attention_forward

    note = reordered_note(attention_forward)
    if note:
        say(out, note, "dim")


def attend(q, k, v, scale: float):
    """(weights, Z) of one sequence from the attention kernel; q (T, D), k (S, D), v (S, E)."""
    import numpy as np

    from nbengine.kernels.attention import attention_forward
    from nbengine.kernels.registry import kernel

    q3, k3, v3 = (np.ascontiguousarray(a[None], dtype=np.float64) for a in (q, k, v))
    T, S, E = q.shape[0], k.shape[0], v.shape[1]
    weights = np.zeros((1, T, S))
    out = np.zeros((1, T, E))
    kernel(attention_forward)(out, weights, q3, k3, v3, scale, False)
    return weights[0], out[0]


def weighted_sum(i: int, row, tokens) -> str:
    """Output row i as the lesson writes it: z1 = 0.90·v(I) + 0.07·v(am) + ..."""
    return f"z{i + 1} = " + " + ".join(f"{w:.2f}·v({t})" for w, t in zip(row, tokens))


def most_line(weights, tokens) -> str:
    parts = []
    for i, t in enumerate(tokens):
        j = int(weights[i].argmax())
        parts.append(f"{t} → {tokens[j]} ({weights[i, j]:.2f})")
    return "Each token draws most on: " + ", ".join(parts) + "."


def softmax_check(scaled, weights) -> float:
    """Largest difference between the kernel's weights and a NumPy softmax of the scaled scores."""
    import numpy as np

    e = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return float(np.abs(e / e.sum(axis=1, keepdims=True) - weights).max())


@click.command("attention", short_help="Self-attention with real numbers: Q, K, V, QKᵀ/√d_k, softmax, Z.")
@click.argument("sentence", required=False, default=None)
@click.option("--d-model", "d_model", type=click.IntRange(min=1), default=4, show_default=True, metavar="N",
              help="Size of each token's embedding.")
@click.option("--d-k", "d_k", type=click.IntRange(min=1), default=3, show_default=True, metavar="N",
              help="Size of the queries, keys and values.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the embeddings and of Wq, Wk, Wv.")
@click.option("--example", is_flag=True,
              help="Replay the lesson's own numbers: scores 110, 90, 80 with d_k = 64.")
@click.option("--checkpoint", "ckpt", type=click.Path(dir_okay=False), default=None, metavar="CKPT",
              help="Trained weights from `nbengine train pronoun --save`: where the trained \"it\" looks  "
                   "[sentence default: \"A cat ate the fish because it was hungry\"].")
@output_options
def trace_attention(sentence, d_model, d_k, seed, example, ckpt, json_mode, quiet, precision, full):
    """Self-attention on a sentence, in the lesson's four steps, every number computed.

    \b
    1. Q = X·Wq, K = X·Wk, V = X·Wv    X: each token's embedding (a row per token)
    2. QKᵀ                              how well each query matches each key
    3. QKᵀ / √d_k                       scaled, so the softmax is not too sharp
    4. softmax of each row              the attention weights; then Z = weights·V

    SENTENCE is split on spaces [default: "I am good"]. The embeddings and the weight
    matrices are seeded random numbers (untrained); the same word gets the same vector.
    Steps 3 and 4 and Z come from the attention kernel (attention_forward_naive with
    --kernels naive, else attention_forward).

    With --checkpoint, a trained pronoun model reads the sentence (lower-cased; it must
    hold "it") and the steps are its own: the query of "it" against the keys of the
    words, the weights its answer is read from, and the word it chose.
    """
    out = Output(json_mode, quiet, precision, full)
    if ckpt is not None:
        ctx = click.get_current_context()
        for name, flag in (("d_model", "--d-model"), ("d_k", "--d-k"), ("seed", "--seed"), ("example", "--example")):
            if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
                raise click.BadParameter(f"{flag} cannot go with --checkpoint: the trained model has its own",
                                         param_hint="'--checkpoint'")
        return run_checkpoint(out, ckpt, CHECKPOINT_SENTENCE if sentence is None else sentence)
    if example:
        if sentence is not None and sentence.split() != LESSON_TOKENS:
            raise click.BadParameter(f"--example replays the lesson's sentence {DEFAULT_SENTENCE!r}",
                                     param_hint="'SENTENCE'")
        return lesson_example(out)
    tokens = (DEFAULT_SENTENCE if sentence is None else sentence).split()
    if not tokens:
        raise click.BadParameter("the sentence has no words", param_hint="'SENTENCE'")
    run_sentence(out, tokens, d_model, d_k, seed)


def run_sentence(out: Output, tokens: list[str], d_model: int, d_k: int, seed: int) -> None:
    import numpy as np

    from nbengine.trace import Step

    from nbengine_cli.render.heatmap import heatmap

    T = len(tokens)
    rng = np.random.default_rng(seed)
    vocab = list(dict.fromkeys(tokens))  # each distinct word once, in order of first appearance
    table = rng.standard_normal((len(vocab), d_model))
    X = table[[vocab.index(t) for t in tokens]]
    Wq, Wk, Wv = (rng.standard_normal((d_model, d_k)) / math.sqrt(d_model) for _ in range(3))
    Q, K, V = X @ Wq, X @ Wk, X @ Wv
    scores = Q @ K.T
    scale = 1 / math.sqrt(d_k)
    weights, Z = attend(Q, K, V, scale)
    scaled = scores * scale

    e_cols = [f"e{j + 1}" for j in range(d_model)]
    q_cols, k_cols, v_cols = ([f"{p}{j + 1}" for j in range(d_k)] for p in "qkv")

    say(out, f"Self-attention over {' '.join(tokens)!r}: {T} token{'s' if T != 1 else ''}, d_model = {d_model}, "
             f"d_k = {d_k}, seed {seed}; float64", "bold")
    say(out, "The embeddings and Wq, Wk, Wv are seeded random numbers (untrained), so which word attends to which "
             "is chance here; a trained model learns them.", "dim")
    say_which_ran(out)
    kernel = ran()
    out.emit("setup", tokens=tokens, d_model=d_model, d_k=d_k, seed=seed, scale=scale, kernel=kernel)

    out.show("")
    say(out, "Step 1: queries, keys and values", "bold")
    show(out, Step("X", X, "X = each token's embedding", "a row per token", (tokens, e_cols)))
    show(out, Step("Wq", Wq, "Wq", "the query weights (d_model × d_k)", (e_cols, q_cols)))
    show(out, Step("Wk", Wk, "Wk", "the key weights", (e_cols, k_cols)))
    show(out, Step("Wv", Wv, "Wv", "the value weights", (e_cols, v_cols)))
    show(out, Step("Q", Q, "Q = X·Wq", "what each token is looking for", (tokens, q_cols)))
    show(out, Step("K", K, "K = X·Wk", "what each token offers to be found by", (tokens, k_cols)))
    show(out, Step("V", V, "V = X·Wv", "what each token passes on", (tokens, v_cols)))

    out.show("")
    say(out, "Step 2: the scores", "bold")
    show(out, Step("QK^T", scores, "QKᵀ", "row: the query's token, column: the key's token; the dot product of "
                   "q_i and k_j", (tokens, tokens)))

    out.show("")
    say(out, "Step 3: scaled", "bold")
    show(out, Step("QK^T/sqrt(d_k)", scaled, f"QKᵀ / √d_k = QKᵀ / {math.sqrt(d_k):.4g}",
                   "so the softmax is not pushed to 0s and 1s as d_k grows", (tokens, tokens)))

    out.show("")
    say(out, "Step 4: softmax of each row, the attention weights, then Z", "bold")
    show(out, Step("weights", weights, "softmax(QKᵀ / √d_k), row by row",
                   f"how much each token (row) draws on each token (column); every row sums to 1 "
                   f"({kernel})", (tokens, tokens)))
    out.show(heatmap(weights, signed=False, title="the attention weights (rows: queries, columns: keys)"))
    show(out, Step("Z", Z, "Z = weights·V", f"each row a weighted sum of V's rows ({kernel})",
                   (tokens, v_cols)))

    out.show("")
    lines = [weighted_sum(i, weights[i], tokens) for i in range(T)]
    for line in lines:
        say(out, line)
    reading = most_line(weights, tokens)
    say(out, reading, "bold")
    diff = max(softmax_check(scaled, weights), float(np.abs(weights @ V - Z).max()))
    say(out, f"A NumPy softmax of step 3 and weights·V agree with {kernel}'s: largest difference "
             f"{diff:.1e}", "dim")
    out.emit("result", tokens=tokens, weights=weights.tolist(), sums=lines, reading=reading, difference=diff)


def lesson_example(out: Output) -> None:
    import numpy as np

    from nbengine.trace import Step

    from nbengine_cli.render.heatmap import heatmap

    tokens = LESSON_TOKENS
    row = np.array([LESSON_SCORES])
    root = math.sqrt(LESSON_DK)
    # The kernel sees q·k_j = the lesson's scores: q is a one-hot vector of size d_k and
    # the first entry of each key is its score. V is the identity, so Z = the weights.
    q = np.zeros((1, LESSON_DK))
    q[0, 0] = 1.0
    k = np.zeros((len(tokens), LESSON_DK))
    k[:, 0] = LESSON_SCORES
    weights, Z = attend(q, k, np.eye(len(tokens)), 1 / root)
    scaled = (q @ k.T) / root

    say(out, f"The lesson's numbers for {DEFAULT_SENTENCE!r}: the first row of QKᵀ, with d_k = {LESSON_DK}", "bold")
    say_which_ran(out)
    kernel = ran()
    out.emit("setup", tokens=tokens, d_k=LESSON_DK, scale=1 / root, example=True, kernel=kernel)
    first = [tokens[0]]
    show(out, Step("QK^T", row, "q1·k_j", "the lesson's scores of the query of 'I' against each key",
                   (first, tokens)))
    show(out, Step("QK^T/sqrt(d_k)", scaled, f"QKᵀ / √{LESSON_DK} = QKᵀ / {root:g}",
                   f"as {kernel} scales them", (first, tokens)))
    show(out, Step("weights", weights, "softmax of the row", f"computed by {kernel}", (first, tokens)))
    out.show(heatmap(weights, signed=False, title="the attention weights of 'I'"))
    line = weighted_sum(0, weights[0], tokens)
    say(out, line)
    gaps = " and ".join(f"{scaled[0, 0] - s:g} above {s:g}" for s in scaled[0, 1:])
    sharp = (f"Softmax of scores this far apart is sharp: {scaled[0, 0]:g} is {gaps}, so "
             f"{tokens[0]!r} keeps {weights[0, 0]:.3f} of its attention for itself; the lesson's diagram "
             f"suggests gentler weights.")
    say(out, sharp, "bold")
    diff = max(softmax_check(scaled, weights), float(np.abs(Z - weights).max()))
    out.emit("result", tokens=tokens, weights=weights.tolist(), sums=[line], reading=sharp, difference=diff)



def run_checkpoint(out: Output, ckpt: str, sentence: str) -> None:
    """The four steps of a trained pronoun model's answer attention, on one sentence."""
    import numpy as np

    from nbengine.trace import Step

    from nbengine_cli.render.heatmap import heatmap
    from nbengine_cli.pronoun import load_model, read_sentence

    model, _ = load_model(ckpt)
    tokens, ids, where = read_sentence(model, sentence)
    T, D = len(tokens), model.size
    it = tokens[where]
    probs = model.loss_fn.probabilities(model.scores(ids, [where]))[0].astype(np.float64)
    c = model.cache
    model_weights = c["weights"][0, 0].astype(np.float64)
    X = c["x"][0].astype(np.float64)  # (T, D): each word as it is, layer-normed
    h = c["h_it"][0].astype(np.float64)  # (1, D): "it" after the block read the sentence
    P = {k: v.astype(np.float64) for k, v in model.params.items()}
    Wq, Wk, Wv = P["q.W"], P["k.W"], P["v.W"]
    bq, bk, bv = P["q.b"][None], P["k.b"][None], P["v.b"][None]
    Q, K, V = h @ Wq + bq, X @ Wk + bk, X @ Wv + bv
    scores = Q @ K.T
    scale = model.scale
    weights, Z = attend(Q, K, V, scale)
    scaled = scores * scale
    answer_scores = Z @ P["out.W"] + P["out.b"][None]
    answer = model.words[int(probs.argmax())]
    block_heads = block_reading(model, tokens, where)

    e_cols = [f"e{j + 1}" for j in range(D)]
    q_cols, k_cols, v_cols = ([f"{p}{j + 1}" for j in range(D)] for p in "qkv")
    one = [it]
    epochs = model.extra_config.get("epochs", "?")
    say(out, f"Self-attention in a trained model over {' '.join(tokens)!r}: which word does {it!r} stand for? "
             f"d_model = d_k = {D}; {ckpt}, trained {epochs} epochs; float64", "bold")
    say(out, f"The model's answer is read from z({it}) alone, a weighted sum of the words' values, and each value "
             f"comes from its own word: to name the right word the model must attend to it. Nothing told it where "
             f"to look; these are the weights it learnt from the answers.", "dim")
    say_which_ran(out)
    kernel = ran()
    out.emit("setup", tokens=tokens, d_model=D, d_k=D, scale=scale, checkpoint=ckpt, pronoun=where,
             epochs=epochs, kernel=kernel)
    if block_heads:
        say(out, f"First, a transformer block let {it!r} read the sentence; its heads drew most on: "
                 + ", ".join(f"head {i + 1} → {t} ({w:.2f})" for i, (t, w) in enumerate(block_heads)) + ".", "dim")

    out.show("")
    say(out, f"Step 1: the query of {it!r}, the keys and values of the words", "bold")
    show(out, Step("X", X, "X = each word's vector: token + position, layer-normed",
                   "a row per word; the keys and values are made from these", (tokens, e_cols)))
    show(out, Step("h(it)", h, f"h({it}) = {it!r} after the block read the sentence, layer-normed",
                   "the query is made from this row", (one, e_cols)))
    show(out, Step("Wq", Wq, "Wq", "the trained query weights (d_model × d_k)", (e_cols, q_cols)))
    show(out, Step("Wk", Wk, "Wk", "the trained key weights", (e_cols, k_cols)))
    show(out, Step("Wv", Wv, "Wv", "the trained value weights", (e_cols, v_cols)))
    show(out, Step("bq", bq, "bq", "the query bias", (["bq"], q_cols)))
    show(out, Step("bk", bk, "bk", "the key bias (it adds the same to every score of a row)", (["bk"], k_cols)))
    show(out, Step("bv", bv, "bv", "the value bias", (["bv"], v_cols)))
    show(out, Step("Q", Q, f"q({it}) = h({it})·Wq + bq", f"what {it!r} is looking for", (one, q_cols)))
    show(out, Step("K", K, "K = X·Wk + bk", "what each word offers to be found by", (tokens, k_cols)))
    show(out, Step("V", V, "V = X·Wv + bv", "what each word passes on", (tokens, v_cols)))

    out.show("")
    say(out, "Step 2: the scores", "bold")
    # one query: its rows of scores and weights are shown as columns, a word per line
    show(out, Step("QK^T", scores.T, f"q({it})·Kᵀ", f"how well the query of {it!r} matches each word's key",
                   (tokens, one)), full=True)

    out.show("")
    say(out, "Step 3: scaled", "bold")
    show(out, Step("QK^T/sqrt(d_k)", scaled.T, f"q·Kᵀ / √d_k = q·Kᵀ / {math.sqrt(D):.4g}",
                   "so the softmax is not pushed to 0s and 1s as d_k grows", (tokens, one)), full=True)

    out.show("")
    say(out, "Step 4: softmax, the attention weights, then Z", "bold")
    show(out, Step("weights", weights.T, "softmax(q·Kᵀ / √d_k)",
                   f"how much {it!r} draws on each word; they sum to 1 ({kernel})", (tokens, one)),
         full=True)
    out.show(heatmap(weights, signed=False, title=f"the attention weights of {it!r} (columns: "
                                                  f"{' '.join(tokens)})"))
    show(out, Step("Z", Z, f"z({it}) = weights·V", f"the weighted sum of the words' values ({kernel})",
                   (one, v_cols)))

    out.show("")
    line = f"z({it}) = " + " + ".join(f"{w:.2f}·v({t})" for w, t in zip(weights[0], tokens))
    say(out, line)
    j = int(weights[0].argmax())
    others = sorted(((weights[0, i], tokens[i]) for i in range(T) if i != j), reverse=True)
    reading = f"{it} attends most to {tokens[j]} ({weights[0, j]:.2f})" + (
        f"; next is {others[0][1]} ({others[0][0]:.2f})" if others else "")
    say(out, reading, "bold")
    top = np.argsort(-probs)[:3]
    answer_line = (f"The model's answer, from z({it})·Wout + b over its {model.vocab_size} words: {answer} "
                   f"(p = {probs[top[0]]:.3f}); next " + ", ".join(f"{model.words[i]} ({probs[i]:.3f})"
                                                                 for i in top[1:]))
    say(out, answer_line, "bold")
    diff = max(softmax_check(scaled, weights), float(np.abs(weights @ V - Z).max()))
    model_diff = float(np.abs(model_weights - weights[0]).max())
    say(out, f"A NumPy softmax of step 3 and weights·V agree with {kernel}'s: largest difference "
             f"{diff:.1e}; the model's own float32 weights differ by at most {model_diff:.1e}", "dim")
    out.emit("result", tokens=tokens, weights=weights.tolist(), sums=[line], reading=reading,
             attends_most_to=tokens[j], answer=answer, probability=float(probs.max()),
             answer_from_z=model.words[int(answer_scores.argmax())], block_heads=[list(hw) for hw in block_heads],
             difference=diff, model_difference=model_diff)


def block_reading(model, tokens, where):
    """(word, weight) each head of the model's block drew on most, in the row of "it"."""
    w = model.block.attn.cache.get("weights")
    if w is None:
        return []
    rows = w.reshape(-1, model.heads, w.shape[-2], w.shape[-1])[0, :, where]  # (H, T)
    return [(tokens[int(r.argmax())], float(r.max())) for r in rows]
