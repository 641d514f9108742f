"""A small attention model for the pronoun task (nbengine.data.pronoun): which
word does "it" stand for?

    word ids (N, T) → X0 = token + position vectors                    (N, T, D)
      ├─ TransformerBlock (non-causal, 2 heads) → LayerNorm → H         (N, T, D)   "it" reads the sentence
      └─ LayerNorm → X                                                 (N, T, D)   each word as it is
    the answer's attention, one head, one query: the word "it"
      q = H[it]·Wq + bq                                                (N, 1, D)
      K = X·Wk + bk,  V = X·Wv + bv                                     (N, T, D)
      weights = softmax(q·Kᵀ / √D),  z(it) = weights·V                  (N, 1, T), (N, 1, D)
    scores = z(it)·Wout + bout over the vocabulary                      (N, V)   the antecedent word

The answer is read from z(it) alone, a weighted sum of the words' values, and
those values are computed from the words themselves (X), not from a stream
that has mixed the sentence: the value of "cat" says "cat" and nothing about
"fish". So the model can name the antecedent only by putting the weight of "it"
on it. Nothing tells it where to look: the loss is the cross-entropy of the
answer word, and the attention weights are whatever made that answer right.

The query does come from a stream that has read the sentence (the block), since
"it" must first see the adjective after it ("hungry" or "tasty") to know what
to look for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nbengine.errors import CheckpointError, NBEngineError
from nbengine.kernels.attention import attention_backward, attention_forward
from nbengine.kernels.registry import kernel
from nbengine.layers.embedding import PositionEmbedding
from nbengine.layers.layernorm import LayerNorm
from nbengine.layers.losses import SoftmaxCrossEntropy
from nbengine.layers.time_affine import TimeAffine
from nbengine.layers.transformer import TransformerBlock
from nbengine.models.base import Model, check_dtype

# N = batch, T = words, D = vector size, V = vocabulary
CLIP = 5.0  # training scales the gradients' global norm down to this when it is larger


@dataclass
class PronounConfig:
    words: list[str]
    size: int = 16
    heads: int = 2
    hidden: int = 32
    context: int = 12
    seed: int = 0
    dtype: str = "float32"


class PronounModel(Model):
    name = "pronoun"
    Config = PronounConfig

    def __init__(
        self,
        words: list[str],
        size: int = 16,
        heads: int = 2,
        hidden: int | None = None,
        context: int = 12,
        seed: int = 0,
        dtype=np.float32,
        extra_config: dict | None = None,
    ):
        if not all(isinstance(w, str) for w in words):
            raise ValueError("its vocabulary is not a list of words")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("the vocabulary has a word twice")
        self.vocab_size = len(self.words)
        self.size, self.heads, self.context, self.seed = size, heads, context, seed
        self.hidden = 2 * size if hidden is None else hidden
        self.dtype = check_dtype(dtype)
        for what, v in (
            ("vocabulary", self.vocab_size),
            ("size", size),
            ("heads", heads),
            ("hidden", self.hidden),
            ("context", context),
        ):
            if v < 1:
                raise ValueError(f"{what} must be at least 1, not {v}")
        self.extra_config = dict(extra_config or {})
        self.settings = PronounConfig(
            self.words, size, heads, self.hidden, context, seed, self.dtype.name
        )
        D = size
        self.embed = PositionEmbedding("embed", self.vocab_size, context, D)
        self.block = TransformerBlock("block", D, heads, self.hidden, causal=False)
        self.ln_q = LayerNorm("ln_q", D)
        self.ln_x = LayerNorm("ln_x", D)
        self.q = TimeAffine("q", D, D)
        self.k = TimeAffine("k", D, D)
        self.v = TimeAffine("v", D, D)
        self.out = TimeAffine("out", D, self.vocab_size)
        layers = [self.embed, self.block, self.ln_q, self.ln_x, self.q, self.k, self.v, self.out]
        rng = np.random.default_rng(seed)
        self.embed.build((None,), self.dtype, rng)
        for layer in layers[1:]:
            layer.build((None, D), self.dtype, rng)
        self.loss_fn = SoftmaxCrossEntropy()
        self._assemble(layers)
        self.cache: dict = {}

    @property
    def scale(self) -> float:
        return 1.0 / math.sqrt(self.size)

    # -- computing -------------------------------------------------------------------
    def encode(self, words: list[str]) -> np.ndarray:
        """Word ids of one sentence; KeyError names a word the model does not know."""
        return np.array([self.index[w] for w in words], np.int64)

    def _check(self, ids, where):
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        where = np.ascontiguousarray(where, dtype=np.int64).reshape(-1)
        if ids.ndim != 2:
            raise ValueError(f"expected word ids of shape (N, T), got {ids.shape}")
        N, T = ids.shape
        if T > self.context:
            raise ValueError(f"this model reads at most {self.context} words, not {T}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"word ids must be in 0..{self.vocab_size - 1}")
        if where.shape != (N,) or (N and (where.min() < 0 or where.max() >= T)):
            raise ValueError("the positions of 'it' must be one per sentence, inside it")
        return ids, where

    def scores(self, ids: np.ndarray, where: np.ndarray) -> np.ndarray:
        """The answer's scores over the vocabulary (N, V) for sentences ids (N, T) whose
        word at position where[n] is "it"; the attention of "it" is in cache["weights"]."""
        ids, where = self._check(ids, where)
        N, T = ids.shape
        rows = np.arange(N)
        x0 = self.embed.forward(ids, False)
        h = self.ln_q.forward(self.block.forward(x0, False), False)
        h_it = np.ascontiguousarray(h[rows, where][:, None, :])  # (N, 1, D)
        x = self.ln_x.forward(x0, False)
        q = self.q.forward(h_it, False)
        k = self.k.forward(x, False)
        v = self.v.forward(x, False)
        weights = np.empty((N, 1, T), self.dtype)
        z = np.empty((N, 1, self.size), self.dtype)
        kernel(attention_forward)(z, weights, q, k, v, self.scale, False)
        s = self.out.forward(z, False)
        self.cache = {
            "N": N,
            "T": T,
            "where": where,
            "weights": weights,
            "q": q,
            "k": k,
            "v": v,
            "z": z,
            "x": x,
            "h_it": h_it,
        }
        return s.reshape(N, self.vocab_size)

    def loss(self, ids, where, answers) -> float:
        s = self.scores(ids, where)
        return self.loss_fn.forward(s, np.ascontiguousarray(answers, np.int64))

    def loss_and_backward(self, ids, where, answers) -> float:
        """Forward, loss and backward; grads then hold dL/dθ."""
        loss = self.loss(ids, where, answers)
        c = self.cache
        N, T, D = c["N"], c["T"], self.size
        dz = self.out.backward(self.loss_fn.backward().reshape(N, 1, self.vocab_size))
        dq = np.empty((N, 1, D), self.dtype)
        dk = np.empty((N, T, D), self.dtype)
        dv = np.empty((N, T, D), self.dtype)
        kernel(attention_backward)(
            dq, dk, dv, np.ascontiguousarray(dz), c["weights"], c["q"], c["k"], c["v"], self.scale
        )
        dh_it = self.q.backward(dq)
        # X reaches the answer through K and through V
        dx = self.k.backward(dk) + self.v.backward(dv)
        dh = np.zeros((N, T, D), self.dtype)  # only the row of "it" reaches the answer
        dh[np.arange(N), c["where"]] = dh_it[:, 0]
        dx0 = self.block.backward(self.ln_q.backward(dh)) + self.ln_x.backward(dx)
        self.embed.backward(dx0)
        answers = np.asarray(answers)
        self.count = len(answers)
        self.correct = int(np.sum(self.loss_fn.probs.argmax(axis=1) == answers))
        return loss

    def predict(self, ids, where) -> np.ndarray:
        """The id of the word each sentence's "it" stands for, in the model's view (N,)."""
        return self.scores(ids, where).argmax(axis=1)

    # -- saving ----------------------------------------------------------------------
    @classmethod
    def param_shapes(cls, config: dict):
        """(name, shape) of every parameter of the model a config describes, without building it."""
        from nbengine.models.transformer import block_shapes

        V, D, F, T = (
            len(config["words"]),
            int(config["size"]),
            int(config["hidden"]),
            int(config["context"]),
        )
        yield "embed.tokens", (V, D)
        yield "embed.positions", (T, D)
        yield from block_shapes("block", D, F)
        for norm in ("ln_q", "ln_x"):
            yield f"{norm}.gamma", (D,)
            yield f"{norm}.beta", (D,)
        for w, out in (("q", D), ("k", D), ("v", D), ("out", V)):
            yield f"{w}.W", (D, out)
            yield f"{w}.b", (out,)


# -- measuring ---------------------------------------------------------------------------------------


def accuracy(model: PronounModel, task, examples, batch_size: int = 256) -> float:
    """Share of the sentences whose antecedent the model names."""
    from nbengine.data.pronoun import batches

    right = 0
    for ids, where, answers, _ in batches(task, examples, batch_size):
        right += int(np.sum(model.predict(ids, where) == answers))
    return right / max(len(examples), 1)


def accuracy_by_pattern(
    model: PronounModel, task, batch_size: int = 512
) -> tuple[float, int, dict[str, float]]:
    """(the share of the held-out sentences whose antecedent the model names, how many
    that is, that share for each pattern), in one pass over them."""
    from nbengine.data.pronoun import PATTERNS, batches

    right, count = dict.fromkeys(PATTERNS, 0), dict.fromkeys(PATTERNS, 0)
    for ids, where, answers, group in batches(task, task.held_out, batch_size):
        for e, ok in zip(group, model.predict(ids, where) == answers):
            right[e.pattern] += int(ok)
            count[e.pattern] += 1
    n_right = sum(right.values())
    return (
        n_right / max(len(task.held_out), 1),
        n_right,
        {p: right[p] / max(count[p], 1) for p in PATTERNS},
    )


def choose(model: PronounModel, words: list[str]) -> tuple[str, np.ndarray]:
    """(the word the model says "it" stands for in a sentence of known words, the
    attention weights (T,) of "it", in float64)."""
    from nbengine.data.pronoun import PRONOUN

    answer = int(model.predict(model.encode(words)[None], [words.index(PRONOUN)])[0])
    return model.words[answer], model.cache["weights"][0, 0].astype(float)


def examples(model: PronounModel, task, n: int, seed: int = 0) -> list[dict]:
    """What the model says of n sentences: the lesson's two, then held-out ones drawn with
    a generator seeded with ``seed``. Each a dict: the "sentence", the model's "answer",
    the "truth", the word "it" "attends_most_to", and the attention "weights" of "it"."""
    from nbengine.data.pronoun import LESSON_SENTENCE, LESSON_TASTY, tokenize

    rng = np.random.default_rng(seed)
    picked = [tokenize(LESSON_SENTENCE), tokenize(LESSON_TASTY)]
    picked += [
        task.held_out[i].words for i in rng.choice(len(task.held_out), max(0, n - 2), replace=False)
    ]
    answers = {tuple(e.words): e.answer for e in task.held_out}
    shown = []
    for words in picked[:n]:
        chosen, weights = choose(model, words)
        shown.append(
            {
                "sentence": " ".join(words),
                "answer": chosen,
                "truth": answers[tuple(words)],
                "attends_most_to": words[int(weights.argmax())],
                "weights": weights.tolist(),
            }
        )
    return shown


def load_with_task(path):
    """(the model of a pronoun checkpoint, the task it was trained on: same seed, same
    split); CheckpointError for a bad task seed or a vocabulary not the task's."""
    from nbengine.data.pronoun import make_task

    model = PronounModel.load(path)
    try:
        task = make_task(int(model.extra_config.get("task_seed", 0)))
    except (TypeError, ValueError) as e:
        raise CheckpointError(path, f"holds a bad task seed ({e})") from None
    if task.words != model.words:
        raise CheckpointError(
            path,
            "holds a vocabulary that is not the pronoun task's (was it written by another "
            "version of nbengine?)",
        )
    return model, task


def build(seed: int, size: int, lr: float, batch_size: int):
    """(the task of ``seed``, a float32 model of vectors of ``size`` for it, its Adam
    optimizer with learning rate ``lr``): a training run's start. The checkpoint's extra
    config remembers the task's seed, lr and batch size."""
    from nbengine.data.pronoun import make_task
    from nbengine.optim import Adam

    task = make_task(seed)
    config = {"task_seed": seed, "lr": lr, "batch_size": batch_size, "epochs": 0}
    model = PronounModel(
        task.words,
        size=size,
        seed=seed,
        context=task.max_length,
        dtype=np.float32,
        extra_config=config,
    )
    return task, model, Adam(model.params, model.grads, lr)


def fit_task(
    model: PronounModel,
    optimizer,
    task,
    batch_size: int,
    seed: int,
    *,
    epochs: int,
    clip: float | None = CLIP,
):
    """Training on the task's sentences, as (start, steps per epoch, a first batch).

    ``start(should_stop)`` runs :func:`nbengine.train.fit` on :func:`train_batches`,
    with the held-out accuracy after each epoch ("held_out_accuracy"). The first batch
    (of two sentences) is for warming the kernels up."""
    from nbengine.train import fit

    batches = train_batches(task, batch_size, seed)
    per_epoch = steps_per_epoch(task, batch_size)

    def start(should_stop=None):
        return fit(
            model,
            optimizer,
            batches,
            epochs=epochs,
            steps_per_epoch=per_epoch,
            clip=clip,
            measure=lambda m: {"held_out_accuracy": accuracy(m, task, task.held_out)},
            should_stop=should_stop,
        )

    return start, per_epoch, next(iter(train_batches(task, 2, seed)(1)))


def steps_per_epoch(task, batch_size: int) -> int:
    from nbengine.data.pronoun import batches

    return sum(1 for _ in batches(task, task.train, batch_size))


def train_batches(task, batch_size: int, seed: int):
    """The batches of an epoch of the training sentences, a function of the epoch: each a
    tuple (ids, where, answers), in a new order every epoch from a generator seeded with seed."""
    from nbengine.data.pronoun import batches

    rng = np.random.default_rng(seed)

    def epoch(_: int):
        for ids, where, answers, _group in batches(task, task.train, batch_size, rng):
            yield ids, where, answers

    return epoch


def read_sentence(model, text: str):
    """(words, ids (1, T), position of "it") of a sentence; an NBEngineError names what is wrong."""
    from nbengine.data.pronoun import PRONOUN, tokenize

    words = tokenize(text)
    if not words:
        raise NBEngineError("the sentence has no words")
    for w in words:
        if w not in model.index:
            raise NBEngineError(
                f"the model does not know the word {w!r}; it knows: {', '.join(model.words)}"
            )
    if words.count(PRONOUN) != 1:
        raise NBEngineError(
            f"the sentence must hold the word {PRONOUN!r} exactly once (it holds it "
            f"{words.count(PRONOUN)} times): the model finds what {PRONOUN!r} stands for"
        )
    if len(words) > model.context:
        raise NBEngineError(
            f"the sentence has {len(words)} words; the model reads at most {model.context}"
        )
    return words, model.encode(words)[None], words.index(PRONOUN)
