"""The self-attention lesson with computed numbers: the queries, keys and values, the
scores QKᵀ, their scaling by √d_k, the softmax that turns each row into attention
weights, and Z = weights·V.

Q, K and V come from TimeAffine layers (x·W + b); the weights and Z from the engine's
attention (nbengine.layers.attention.attend: the kernel --kernels picks, named in the
notes). QKᵀ is the product the lesson writes as its step 2; a NumPy softmax of it is the
independent check the result line reports.
"""

from __future__ import annotations

import math

import numpy as np

from nbengine.explain.lessons import (
    ATTENTION_DK,
    ATTENTION_SCORES,
    ATTENTION_SENTENCE,
    ATTENTION_TOKENS,
    PRONOUN_SENTENCE,
)
from nbengine.explain.steps import Steps
from nbengine.i18n import Msg, joined
from nbengine.kernels.attention import attention_forward
from nbengine.kernels.registry import name_of, reordered_note
from nbengine.layers.attention import attend
from nbengine.layers.time_affine import TimeAffine


def _attend(q, k, v, scale: float):
    """(weights, Z) of one sequence; q (T, D), k (S, D), v (S, E), in float64."""
    q3, k3, v3 = (np.ascontiguousarray(a[None], dtype=np.float64) for a in (q, k, v))
    weights = np.zeros((1, q.shape[0], k.shape[0]))
    z = np.zeros((1, q.shape[0], v.shape[1]))
    attend(z, weights, q3, k3, v3, scale, False)
    return weights[0], z[0]


def _project(name: str, x, W, b=None):
    """x·W + b through a TimeAffine layer holding W and b, in float64."""
    layer = TimeAffine(name, W.shape[0], W.shape[1])
    layer.build((x.shape[0], W.shape[0]), np.float64, np.random.default_rng(0))
    layer.params["W"][...] = W
    layer.params["b"][...] = 0 if b is None else b
    return layer.forward(np.ascontiguousarray(x[None], np.float64), training=False)[0].copy()


def softmax_check(scaled, weights) -> float:
    """Largest difference between the kernel's weights and a NumPy softmax of the scaled scores."""
    e = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return float(np.abs(e / e.sum(axis=1, keepdims=True) - weights).max())


def weighted_sum(i: int, row, tokens) -> str:
    """Output row i as the lesson writes it: z1 = 0.90·v(I) + 0.07·v(am) + ..."""
    return f"z{i + 1} = " + " + ".join(f"{w:.2f}·v({t})" for w, t in zip(row, tokens))


def _which_ran(steps: Steps) -> str:
    note = reordered_note(attention_forward)
    if note:
        steps.say(note, "dim")
    return name_of(attention_forward)


def attention(
    sentence: str | list | None = None,
    d_model: int = 4,
    d_k: int = 3,
    seed: int = 0,
    *,
    model=None,
    source: str = Msg("the model"),
) -> Steps:
    """Self-attention over a sentence in the lesson's four steps.

    Without ``model``: the sentence (split on spaces; default "I am good") with seeded
    random embeddings and Wq, Wk, Wv (untrained), d_model and d_k as given. With a trained
    pronoun ``model`` (nbengine.models.pronoun.PronounModel): the attention its answer is
    read from, on the sentence (default "A cat ate the fish because it was hungry"); see
    :func:`pronoun_attention`."""
    if model is not None:
        if sentence is None:
            sentence = PRONOUN_SENTENCE
        return pronoun_attention(
            model, sentence if isinstance(sentence, str) else " ".join(sentence), source
        )
    sentence = ATTENTION_SENTENCE if sentence is None else sentence
    tokens = sentence.split() if isinstance(sentence, str) else list(sentence)
    if not tokens:
        raise ValueError(Msg("the sentence has no words"))
    T = len(tokens)
    rng = np.random.default_rng(seed)
    vocab = list(dict.fromkeys(tokens))  # each distinct word once, in order of first appearance
    table = rng.standard_normal((len(vocab), d_model))
    X = table[[vocab.index(t) for t in tokens]]
    Wq, Wk, Wv = (rng.standard_normal((d_model, d_k)) / math.sqrt(d_model) for _ in range(3))
    Q, K, V = _project("q", X, Wq), _project("k", X, Wk), _project("v", X, Wv)
    scores = Q @ K.T
    scale = 1 / math.sqrt(d_k)
    weights, Z = _attend(Q, K, V, scale)
    scaled = scores * scale

    e_cols = [f"e{j + 1}" for j in range(d_model)]
    q_cols, k_cols, v_cols = ([f"{p}{j + 1}" for j in range(d_k)] for p in "qkv")
    s = Steps(title="attention")
    about = {"sentence": " ".join(tokens), "T": T, "d_model": d_model, "d_k": d_k, "seed": seed}
    if T == 1:
        s.say(
            Msg(
                "Self-attention over {sentence!r}: {T} token, d_model = {d_model}, d_k = {d_k}, seed {seed}; "
                "float64",
                **about,
            ),
            "bold",
        )
    else:
        s.say(
            Msg(
                "Self-attention over {sentence!r}: {T} tokens, d_model = {d_model}, d_k = {d_k}, seed {seed}; "
                "float64",
                **about,
            ),
            "bold",
        )
    s.say(
        Msg(
            "The embeddings and Wq, Wk, Wv are seeded random numbers (untrained), so which word attends to which "
            "is chance here; a trained model learns them."
        ),
        "dim",
    )
    kernel = _which_ran(s)
    s.fact("setup", tokens=tokens, d_model=d_model, d_k=d_k, seed=seed, scale=scale, kernel=kernel)

    s.say("")
    s.say(Msg("Step 1: queries, keys and values"), "bold")
    s.tensor("X", X, Msg("X = each token's embedding"), Msg("a row per token"), (tokens, e_cols))
    s.tensor("Wq", Wq, "Wq", Msg("the query weights (d_model × d_k)"), (e_cols, q_cols))
    s.tensor("Wk", Wk, "Wk", Msg("the key weights"), (e_cols, k_cols))
    s.tensor("Wv", Wv, "Wv", Msg("the value weights"), (e_cols, v_cols))
    s.tensor("Q", Q, "Q = X·Wq", Msg("what each token is looking for"), (tokens, q_cols))
    s.tensor("K", K, "K = X·Wk", Msg("what each token offers to be found by"), (tokens, k_cols))
    s.tensor("V", V, "V = X·Wv", Msg("what each token passes on"), (tokens, v_cols))
    s.say("")
    s.say(Msg("Step 2: the scores"), "bold")
    s.tensor(
        "QK^T",
        scores,
        "QKᵀ",
        Msg("row: the query's token, column: the key's token; the dot product of q_i and k_j"),
        (tokens, tokens),
    )
    s.say("")
    s.say(Msg("Step 3: scaled"), "bold")
    qk = "QKᵀ"
    s.tensor(
        "QK^T/sqrt(d_k)",
        scaled,
        f"{qk} / √d_k = {qk} / {math.sqrt(d_k):.4g}",
        Msg("so the softmax is not pushed to 0s and 1s as d_k grows"),
        (tokens, tokens),
    )
    s.say("")
    s.say(Msg("Step 4: softmax of each row, the attention weights, then Z"), "bold")
    s.tensor(
        "weights",
        weights,
        Msg("softmax(QKᵀ / √d_k), row by row"),
        Msg(
            "how much each token (row) draws on each token (column); every row sums to 1 ({kernel})",
            kernel=kernel,
        ),
        (tokens, tokens),
    )
    s.tensor(
        "weights",
        weights,
        view="heatmap",
        json=False,
        signed=False,
        title=Msg("the attention weights (rows: queries, columns: keys)"),
    )
    s.tensor(
        "Z",
        Z,
        "Z = weights·V",
        Msg("each row a weighted sum of V's rows ({kernel})", kernel=kernel),
        (tokens, v_cols),
    )
    s.say("")
    lines = [weighted_sum(i, weights[i], tokens) for i in range(T)]
    for line in lines:
        s.say(line)
    most = ", ".join(
        f"{t} → {tokens[int(weights[i].argmax())]} ({weights[i].max():.2f})"
        for i, t in enumerate(tokens)
    )
    reading = Msg("Each token draws most on: {most}.", most=most)
    s.say(reading, "bold")
    diff = max(softmax_check(scaled, weights), float(np.abs(weights @ V - Z).max()))
    s.fact(
        "result",
        Msg(
            "A NumPy softmax of step 3 and weights·V agree with {kernel}'s: largest difference "
            "{diff:.1e}",
            kernel=kernel,
            diff=diff,
        ),
        "dim",
        tokens=tokens,
        weights=weights.tolist(),
        sums=lines,
        reading=reading,
        difference=diff,
    )
    return s


def attention_example() -> Steps:
    """The lesson's own numbers: the scores 110, 90, 80 of the query of 'I', d_k = 64."""
    tokens = list(ATTENTION_TOKENS)
    row = np.array([ATTENTION_SCORES])
    root = math.sqrt(ATTENTION_DK)
    # The kernel sees q·k_j = the lesson's scores: q is a one-hot vector of size d_k and
    # the first entry of each key is its score. V is the identity, so Z = the weights.
    q = np.zeros((1, ATTENTION_DK))
    q[0, 0] = 1.0
    k = np.zeros((len(tokens), ATTENTION_DK))
    k[:, 0] = ATTENTION_SCORES
    weights, Z = _attend(q, k, np.eye(len(tokens)), 1 / root)
    scaled = (q @ k.T) / root

    s = Steps(title=Msg("attention, the lesson's numbers"))
    s.say(
        Msg(
            "The lesson's numbers for {sentence!r}: the first row of QKᵀ, with d_k = {d_k}",
            sentence=ATTENTION_SENTENCE,
            d_k=ATTENTION_DK,
        ),
        "bold",
    )
    kernel = _which_ran(s)
    s.fact("setup", tokens=tokens, d_k=ATTENTION_DK, scale=1 / root, example=True, kernel=kernel)
    first = [tokens[0]]
    s.tensor(
        "QK^T",
        row,
        "q1·k_j",
        Msg("the lesson's scores of the query of 'I' against each key"),
        (first, tokens),
    )
    qk = "QKᵀ"
    s.tensor(
        "QK^T/sqrt(d_k)",
        scaled,
        f"{qk} / √{ATTENTION_DK} = {qk} / {root:g}",
        Msg("as {kernel} scales them", kernel=kernel),
        (first, tokens),
    )
    s.tensor(
        "weights",
        weights,
        Msg("softmax of the row"),
        Msg("computed by {kernel}", kernel=kernel),
        (first, tokens),
    )
    s.tensor(
        "weights",
        weights,
        view="heatmap",
        json=False,
        signed=False,
        title=Msg("the attention weights of 'I'"),
    )
    line = weighted_sum(0, weights[0], tokens)
    s.say(line)
    top, second, third = scaled[0]  # the lesson's three scores, scaled
    sharp = Msg(
        "Softmax of scores this far apart is sharp: {top:g} is {gap2:g} above {second:g} and {gap3:g} above "
        "{third:g}, so {token!r} keeps {kept:.3f} of its attention for itself; the lesson's diagram suggests "
        "gentler weights.",
        top=top,
        gap2=top - second,
        second=second,
        gap3=top - third,
        third=third,
        token=tokens[0],
        kept=weights[0, 0],
    )
    diff = max(softmax_check(scaled, weights), float(np.abs(Z - weights).max()))
    s.fact(
        "result",
        sharp,
        "bold",
        tokens=tokens,
        weights=weights.tolist(),
        sums=[line],
        reading=sharp,
        difference=diff,
    )
    return s


def block_reading(model, tokens, where) -> list:
    """(word, weight) each head of the model's block drew on most, in the row of "it"."""
    w = model.block.attn.cache.get("weights")
    if w is None:
        return []
    rows = w.reshape(-1, model.heads, w.shape[-2], w.shape[-1])[0, :, where]  # (H, T)
    return [(tokens[int(r.argmax())], float(r.max())) for r in rows]


def pronoun_attention(model, sentence: str, source: str = Msg("the model")) -> Steps:
    """The four steps of a trained pronoun model's answer attention on one sentence: the
    query of "it" against the keys of the words, the weights its answer is read from, and
    the word it chose. ``source`` names where the weights came from (a checkpoint's path)."""
    from nbengine.models.pronoun import read_sentence

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
    Q, K, V = _project("q", h, Wq, bq), _project("k", X, Wk, bk), _project("v", X, Wv, bv)
    scores = Q @ K.T
    scale = model.scale
    weights, Z = _attend(Q, K, V, scale)
    scaled = scores * scale
    answer_scores = _project("out", Z, P["out.W"], P["out.b"])
    answer = model.words[int(probs.argmax())]
    block_heads = block_reading(model, tokens, where)

    e_cols = [f"e{j + 1}" for j in range(D)]
    q_cols, k_cols, v_cols = ([f"{p}{j + 1}" for j in range(D)] for p in "qkv")
    one = [it]
    epochs = model.extra_config.get("epochs", "?")
    s = Steps(title=Msg("attention in a trained model"))
    s.say(
        Msg(
            "Self-attention in a trained model over {sentence!r}: which word does {it!r} stand for? "
            "d_model = d_k = {D}; {source}, trained {epochs} epochs; float64",
            sentence=" ".join(tokens),
            it=it,
            D=D,
            source=source,
            epochs=epochs,
        ),
        "bold",
    )
    s.say(
        Msg(
            "The model's answer is read from z({it}) alone, a weighted sum of the words' values, and each value "
            "comes from its own word: to name the right word the model must attend to it. Nothing told it where "
            "to look; these are the weights it learnt from the answers.",
            it=it,
        ),
        "dim",
    )
    kernel = _which_ran(s)
    s.fact(
        "setup",
        tokens=tokens,
        d_model=D,
        d_k=D,
        scale=scale,
        checkpoint=source,
        pronoun=where,
        epochs=epochs,
        kernel=kernel,
    )
    if block_heads:
        heads = joined(
            Msg("head {i} → {t} ({w:.2f})", i=i + 1, t=t, w=w)
            for i, (t, w) in enumerate(block_heads)
        )
        s.say(
            Msg(
                "First, a transformer block let {it!r} read the sentence; its heads drew most on: {heads}.",
                it=it,
                heads=heads,
            ),
            "dim",
        )

    s.say("")
    s.say(Msg("Step 1: the query of {it!r}, the keys and values of the words", it=it), "bold")
    s.tensor(
        "X",
        X,
        Msg("X = each word's vector: token + position, layer-normed"),
        Msg("a row per word; the keys and values are made from these"),
        (tokens, e_cols),
    )
    s.tensor(
        "h(it)",
        h,
        Msg("h({it}) = {it!r} after the block read the sentence, layer-normed", it=it),
        Msg("the query is made from this row"),
        (one, e_cols),
    )
    s.tensor("Wq", Wq, "Wq", Msg("the trained query weights (d_model × d_k)"), (e_cols, q_cols))
    s.tensor("Wk", Wk, "Wk", Msg("the trained key weights"), (e_cols, k_cols))
    s.tensor("Wv", Wv, "Wv", Msg("the trained value weights"), (e_cols, v_cols))
    s.tensor("bq", bq, "bq", Msg("the query bias"), (["bq"], q_cols))
    s.tensor(
        "bk",
        bk,
        "bk",
        Msg("the key bias (it adds the same to every score of a row)"),
        (["bk"], k_cols),
    )
    s.tensor("bv", bv, "bv", Msg("the value bias"), (["bv"], v_cols))
    s.tensor(
        "Q",
        Q,
        f"q({it}) = h({it})·Wq + bq",
        Msg("what {it!r} is looking for", it=it),
        (one, q_cols),
    )
    s.tensor("K", K, "K = X·Wk + bk", Msg("what each word offers to be found by"), (tokens, k_cols))
    s.tensor("V", V, "V = X·Wv + bv", Msg("what each word passes on"), (tokens, v_cols))

    s.say("")
    s.say(Msg("Step 2: the scores"), "bold")
    # one query: its rows of scores and weights are shown as columns, a word per line
    s.tensor(
        "QK^T",
        scores.T,
        f"q({it})·Kᵀ",
        Msg("how well the query of {it!r} matches each word's key", it=it),
        (tokens, one),
        full=True,
    )
    s.say("")
    s.say(Msg("Step 3: scaled"), "bold")
    s.tensor(
        "QK^T/sqrt(d_k)",
        scaled.T,
        f"q·Kᵀ / √d_k = q·Kᵀ / {math.sqrt(D):.4g}",
        Msg("so the softmax is not pushed to 0s and 1s as d_k grows"),
        (tokens, one),
        full=True,
    )
    s.say("")
    s.say(Msg("Step 4: softmax, the attention weights, then Z"), "bold")
    s.tensor(
        "weights",
        weights.T,
        "softmax(q·Kᵀ / √d_k)",
        Msg("how much {it!r} draws on each word; they sum to 1 ({kernel})", it=it, kernel=kernel),
        (tokens, one),
        full=True,
    )
    s.tensor(
        "weights",
        weights,
        view="heatmap",
        json=False,
        signed=False,
        title=Msg(
            "the attention weights of {it!r} (columns: {words})", it=it, words=" ".join(tokens)
        ),
    )
    s.tensor(
        "Z",
        Z,
        f"z({it}) = weights·V",
        Msg("the weighted sum of the words' values ({kernel})", kernel=kernel),
        (one, v_cols),
    )

    s.say("")
    line = f"z({it}) = " + " + ".join(f"{w:.2f}·v({t})" for w, t in zip(weights[0], tokens))
    s.say(line)
    j = int(weights[0].argmax())
    others = sorted(((weights[0, i], tokens[i]) for i in range(T) if i != j), reverse=True)
    if others:
        reading = Msg(
            "{it} attends most to {word} ({w:.2f}); next is {next} ({next_w:.2f})",
            it=it,
            word=tokens[j],
            w=weights[0, j],
            next=others[0][1],
            next_w=others[0][0],
        )
    else:
        reading = Msg(
            "{it} attends most to {word} ({w:.2f})", it=it, word=tokens[j], w=weights[0, j]
        )
    s.say(reading, "bold")
    top = np.argsort(-probs)[:3]
    s.say(
        Msg(
            "The model's answer, from z({it})·Wout + b over its {n} words: {answer} (p = {p:.3f}); next {next}",
            it=it,
            n=model.vocab_size,
            answer=answer,
            p=probs[top[0]],
            next=", ".join(f"{model.words[i]} ({probs[i]:.3f})" for i in top[1:]),
        ),
        "bold",
    )
    diff = max(softmax_check(scaled, weights), float(np.abs(weights @ V - Z).max()))
    model_diff = float(np.abs(model_weights - weights[0]).max())
    s.fact(
        "result",
        Msg(
            "A NumPy softmax of step 3 and weights·V agree with {kernel}'s: largest difference "
            "{diff:.1e}; the model's own float32 weights differ by at most {model_diff:.1e}",
            kernel=kernel,
            diff=diff,
            model_diff=model_diff,
        ),
        "dim",
        tokens=tokens,
        weights=weights.tolist(),
        sums=[line],
        reading=reading,
        attends_most_to=tokens[j],
        answer=answer,
        probability=float(probs.max()),
        answer_from_z=model.words[int(answer_scores.argmax())],
        block_heads=[list(hw) for hw in block_heads],
        difference=diff,
        model_difference=model_diff,
    )
    return s
