"""The self-attention lesson with computed numbers: a sentence's embeddings, the
queries, keys and values, the scores QKᵀ, their scaling by √d_k, the softmax that
turns each row into attention weights, and the output Z = weights·V.

Q, K, V and QKᵀ are NumPy products; the scaling, the softmax and Z are computed by
the engine's attention_forward kernel (scale 1/√d_k, not causal), never typed in.
The engine is imported inside the command, so `nbengine --help` stays instant.
"""

from __future__ import annotations

import math

import click

from nbengine_cli.output import Output, output_options

DEFAULT_SENTENCE = "I am good"
# The lesson's worked numbers: the first row of QKᵀ for "I am good", with d_k = 64.
LESSON_TOKENS = ["I", "am", "good"]
LESSON_SCORES = [110.0, 90.0, 80.0]
LESSON_DK = 64


def say(out: Output, text: str, style: str = "") -> None:
    """A line of prose, left whole for the terminal to wrap (so a weighted sum stays on one line)."""
    from rich.markup import escape

    out.show(f"[{style}]{escape(text)}[/]" if style else escape(text))


def show(out: Output, step) -> None:
    """A step as a labelled table (human) or a `trace` JSON line."""
    from nbengine.trace import step_to_dict
    from nbengine_cli.render import render_step

    out.show(render_step(step, out.precision, out.full))
    out.emit("trace", **step_to_dict(step))


def attend(q, k, v, scale: float):
    """(weights, Z) of one sequence from the attention_forward kernel; q (T, D), k (S, D), v (S, E)."""
    import numpy as np

    from nbengine.kernels.attention import attention_forward

    q3, k3, v3 = (np.ascontiguousarray(a[None], dtype=np.float64) for a in (q, k, v))
    T, S, E = q.shape[0], k.shape[0], v.shape[1]
    weights = np.zeros((1, T, S))
    out = np.zeros((1, T, E))
    attention_forward(out, weights, q3, k3, v3, scale, False)
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
@output_options
def trace_attention(sentence, d_model, d_k, seed, example, json_mode, quiet, precision, full):
    """Self-attention on a sentence, in the lesson's four steps, every number computed.

    \b
    1. Q = X·Wq, K = X·Wk, V = X·Wv    X: each token's embedding (a row per token)
    2. QKᵀ                              how well each query matches each key
    3. QKᵀ / √d_k                       scaled, so the softmax is not too sharp
    4. softmax of each row              the attention weights; then Z = weights·V

    SENTENCE is split on spaces [default: "I am good"]. The embeddings and the weight
    matrices are seeded random numbers (untrained); the same word gets the same vector.
    Steps 3 and 4 and Z come from the attention_forward kernel.
    """
    out = Output(json_mode, quiet, precision, full)
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

    from nbengine_cli.heatmap import heatmap

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
    out.emit("setup", tokens=tokens, d_model=d_model, d_k=d_k, seed=seed, scale=scale)

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
                   "how much each token (row) draws on each token (column); every row sums to 1 "
                   "(attention_forward)", (tokens, tokens)))
    out.show(heatmap(weights, signed=False, title="the attention weights (rows: queries, columns: keys)"))
    show(out, Step("Z", Z, "Z = weights·V", "each row a weighted sum of V's rows (attention_forward)",
                   (tokens, v_cols)))

    out.show("")
    lines = [weighted_sum(i, weights[i], tokens) for i in range(T)]
    for line in lines:
        say(out, line)
    reading = most_line(weights, tokens)
    say(out, reading, "bold")
    diff = max(softmax_check(scaled, weights), float(np.abs(weights @ V - Z).max()))
    say(out, f"A NumPy softmax of step 3 and weights·V agree with attention_forward's: largest difference "
             f"{diff:.1e}", "dim")
    out.emit("result", tokens=tokens, weights=weights.tolist(), sums=lines, reading=reading, difference=diff)


def lesson_example(out: Output) -> None:
    import numpy as np

    from nbengine.trace import Step

    from nbengine_cli.heatmap import heatmap

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
    out.emit("setup", tokens=tokens, d_k=LESSON_DK, scale=1 / root, example=True)
    first = [tokens[0]]
    show(out, Step("QK^T", row, "q1·k_j", "the lesson's scores of the query of 'I' against each key",
                   (first, tokens)))
    show(out, Step("QK^T/sqrt(d_k)", scaled, f"QKᵀ / √{LESSON_DK} = QKᵀ / {root:g}",
                   "as attention_forward scales them", (first, tokens)))
    show(out, Step("weights", weights, "softmax of the row", "computed by attention_forward", (first, tokens)))
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

