"""The language models' lessons, from settings to samples: what training, measuring,
sampling and tracing the RNN, LSTM and Transformer language models share.

- :func:`settings`: the run's settings, each one given or else its default, the book's
  for a real text and the lesson's for its one sentence (``toy``).
- :func:`build`: the model and its optimizer for those settings and a corpus; what its
  checkpoint remembers besides the weights is :func:`lm_config`.
- :func:`load`: a checkpoint's model and vocabulary, checked against each other.
- :func:`measure`: a checkpoint's perplexity on a split of a text, read in the model's
  vocabulary (:func:`reencode`).
- :func:`read_start` and :func:`sample`: a start text as tokens, and the tokens drawn after it.
- :func:`trace_model` and :func:`trace_tokens`: a small recurrent model in float64,
  trained or not, and the text it reads, for a trace.

A setting that cannot be raises :class:`SettingError`, which names the setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from nbengine.data.text import Corpus, Vocabulary, load_corpus
from nbengine.errors import CheckpointError, DataError, NBEngineError
from nbengine.i18n import Msg

KINDS = ("rnnlm", "lstmlm", "transformer")
TEXT_NAMES = ("toy", "shakespeare", "ptb")  # the corpora load_corpus knows by name

# The book's settings for the Penn Treebank (Deep Learning from Scratch 2, chapter 6).
BOOK: dict[str, Any] = {
    "batch_size": 20,
    "time_size": 35,
    "embed_size": 100,
    "hidden_size": 100,
    "vocab_size": 10_000,
    "optimizer": "sgd",
    "lr": 20.0,
    "clip": 0.25,
    "epochs": 4,
}
# The lesson's one sentence: one batch of the whole sentence per epoch, learnt in a second.
TOY: dict[str, Any] = {
    "batch_size": 1,
    "time_size": None,
    "embed_size": 16,
    "hidden_size": 32,
    "vocab_size": None,
    "optimizer": "adam",
    "lr": 0.01,
    "clip": 5.0,
    "epochs": 200,
}
# The learning rate for an optimizer other than the defaults' (momentum's velocity
# sums about ten steps, so it takes a tenth of SGD's rate).
TOY_LR = {"sgd": 1.0, "momentum": 0.1, "adam": 0.01}
# The book's η = 20 (with clip 0.25) is for its LSTM model. The plain RNN's state
# feeds back through Wh at every step, and steps that large wreck it: on the first
# 300,000 words of Shakespeare, one epoch at η = 20 ended at a training perplexity of
# 8 million (a uniform guess scores 10,000), at η = 5 at 446 (validation 276), at
# η = 1 at 434 (validation 308). So the RNN's default is 5; --ptb-settings still
# gives the book's 20.
RNN_LR = 5.0
BOOK_LR = {"sgd": 20.0, "momentum": 2.0, "adam": 0.001}

# The Transformer on Shakespeare's characters (or any text): about 115,000 parameters, as
# many as an LSTM LM with embedding 64 and hidden 128 (`nbengine train lstmlm --data
# shakespeare --level char --embed-size 64 --hidden-size 128`), for the comparison in the
# README. `time_size` is its context: the tokens it reads at once.
TRANSFORMER_TEXT = {
    "epochs": 4,
    "batch_size": 32,
    "time_size": 64,
    "size": 64,
    "heads": 4,
    "blocks": 2,
    "lr": 0.003,
    "clip": 1.0,
}
# The lesson's sentence: the whole of it in one batch, learnt in a few seconds.
TRANSFORMER_TOY = {
    "epochs": 200,
    "batch_size": 1,
    "time_size": None,
    "size": 16,
    "heads": 2,
    "blocks": 1,
    "lr": 0.01,
    "clip": 5.0,
}

START_WORD = "you"  # DLFS2's start word for generated text
GENERATE_LENGTH = {"word": 100, "char": 300}


class SettingError(NBEngineError, ValueError):
    """A setting that cannot be: ``setting`` names it (a key of :func:`settings`, or the
    argument), ``problem`` says why."""

    def __init__(self, setting: str, problem: str):
        self.setting, self.problem = setting, problem
        super().__init__(f"{setting}: {problem}")


def _given_or(defaults: dict, given: dict) -> dict:
    """Each of the defaults' settings as given, unless given as None."""
    return {k: given[k] if given[k] is not None else v for k, v in defaults.items()}


def settings(
    kind: str, data: str, level: str | None, given: dict, ptb_settings: bool = False
) -> dict:
    """The settings of a training run: each of ``given`` (None: not given) or its default.

    A recurrent model (``rnnlm``, ``lstmlm``) takes batch_size, time_size, embed_size,
    hidden_size, vocab_size, optimizer, lr, clip and epochs; its defaults are the book's
    (for a real text, or with ``ptb_settings``) or the lesson's (toy). The book's η = 20
    is for the LSTM: the RNN's is 5 (RNN_LR) unless ``ptb_settings``. A learning rate not
    given follows the optimizer. A Transformer takes time_size (its context), size,
    heads, blocks, hidden, vocab_size, lr, clip and epochs, and always Adam; its level is
    characters for a text, words for toy. time_size stays None for toy, the whole
    sentence: :func:`build` sets it once the text is read. The result also holds the
    level and the optimizer. SettingError for a size the heads do not split equally.
    """
    if kind == "transformer":
        toy = data == "toy"
        s = _given_or(TRANSFORMER_TOY if toy else TRANSFORMER_TEXT, given)
        if s["size"] % s["heads"]:
            raise SettingError(
                "heads",
                Msg(
                    "the size {size} does not split into {heads} equal heads",
                    size=s["size"],
                    heads=s["heads"],
                ),
            )
        level = level or ("word" if toy else "char")
        vocab_size = given["vocab_size"]
        if vocab_size is None and level == "word":
            vocab_size = 10_000
        return {
            **s,
            "hidden": given["hidden"],
            "vocab_size": vocab_size,
            "level": level,
            "optimizer": "adam",
        }
    book = ptb_settings or data != "toy"
    defaults = dict(BOOK if book else TOY)
    rnn_lr = book and not ptb_settings and kind == "rnnlm"
    if rnn_lr:
        defaults["lr"] = RNN_LR  # the book's 20 is for the LSTM; see RNN_LR
    s = _given_or(defaults, given)
    if given["lr"] is None and s["optimizer"] != defaults["optimizer"]:
        s["lr"] = (BOOK_LR if book else TOY_LR)[s["optimizer"]]
        if rnn_lr and s["optimizer"] != "adam":
            s["lr"] *= RNN_LR / BOOK["lr"]
    if level == "char" and given["vocab_size"] is None:
        s["vocab_size"] = None  # a text has few characters; keep them all
    return {**s, "level": level}


def model_class(kind: str):
    """The language model class of ``rnnlm``, ``lstmlm`` or ``transformer``."""
    if kind == "transformer":
        from nbengine.models.transformer import TransformerLM

        return TransformerLM
    from nbengine.models.rnnlm import MODELS

    return MODELS[kind]


def lm_config(data_ref: str, corpus: Corpus, s: dict, start: str) -> dict:
    """What a language model's checkpoint remembers besides its weights: the text
    (``data_ref``, how to find it again) and its vocabulary, the training settings ``s``,
    and the start text for generating."""
    return {
        "data": data_ref,
        "level": s["level"],
        "vocab": corpus.vocab.to_json(),
        "vocab_limit": s["vocab_size"],
        "optimizer": s["optimizer"],
        "lr": s["lr"],
        "clip": s["clip"],
        "batch_size": s["batch_size"],
        "time_size": s["time_size"],
        "epochs": 0,
        "start": start,
        "train_tokens": int(len(corpus.train)),
    }


def build(kind: str, s: dict, corpus: Corpus, data_ref: str, seed: int):
    """(the model in float32, its optimizer) for settings ``s`` and a corpus; the
    model's extra config is :func:`lm_config`. A time_size of None (toy) becomes the
    whole training text but its last token, in ``s`` too."""
    from nbengine.optim import OPTIMIZERS

    if s["time_size"] is None:  # toy: the whole sentence in one batch
        s["time_size"] = max(1, len(corpus.train) - 1)
    vocab = corpus.vocab
    start = vocab.tokens[int(corpus.train[0])]
    if kind != "transformer" and s["level"] == "word" and START_WORD in vocab:
        start = START_WORD
    config = lm_config(data_ref, corpus, s, start)
    if kind == "transformer":
        model = model_class(kind)(
            len(vocab),
            s["size"],
            s["heads"],
            s["blocks"],
            s["hidden"],
            s["time_size"],
            seed,
            np.float32,
            extra_config=config,
        )
    else:
        model = model_class(kind)(
            len(vocab), s["embed_size"], s["hidden_size"], seed, np.float32, extra_config=config
        )
    return model, OPTIMIZERS[s["optimizer"]](model.params, model.grads, s["lr"])


def load(kind: str, ckpt: str):
    """(model, vocabulary) of a checkpoint; CheckpointError for one without a vocabulary
    and level (not written by a language model's training) or whose vocabulary does not
    fit the model."""
    model = model_class(kind).load(ckpt)
    cfg = model.extra_config
    if "vocab" not in cfg or cfg.get("level") not in ("word", "char"):
        raise CheckpointError(
            ckpt,
            f"holds no vocabulary and level (it was not written by `nbengine train {kind} --save`)",
        )
    try:
        vocab = Vocabulary.from_json(cfg["vocab"])
    except ValueError as e:
        raise CheckpointError(ckpt, f"holds a broken vocabulary ({e})") from None
    if len(vocab) != model.vocab_size:
        raise CheckpointError(
            ckpt, f"holds a vocabulary of {len(vocab):,} tokens for a model of {model.vocab_size:,}"
        )
    return model, vocab


def reencode(
    ids: np.ndarray, corpus: Corpus, vocab: Vocabulary, data: str
) -> tuple[np.ndarray, int]:
    """A split's ids in the model's vocabulary (a corpus builds its own from its text).
    Returns (ids, how many tokens became <unk>); DataError for a token the vocabulary
    lacks when it has no <unk>."""
    if corpus.vocab == vocab:
        return ids, 0
    tokens = corpus.vocab.decode(ids)
    missing = [t for t in tokens if t not in vocab]
    if missing and vocab.unk is None:
        raise DataError(
            data,
            f"has the token {missing[0]!r}, which the model's vocabulary of {len(vocab):,} tokens "
            f"does not hold (and it has no <unk> to stand for it)",
        )
    return np.asarray(vocab.encode(tokens), np.int64), len(missing)


def measure(
    model,
    vocab: Vocabulary,
    data: str,
    split: str,
    batch_size: int | None = None,
    time_size: int | None = None,
    cache_dir=None,
):
    """(corpus, nbengine.lm_train.Evaluation, tokens read as <unk>): the perplexity of a
    checkpoint's model on a split ("train", "valid" or "test") of the text ``data``, read
    at the model's level in its vocabulary, in batches of the training run's shape
    unless given. SettingError ("time_size") for more than a Transformer reads at once."""
    from nbengine.lm_train import evaluate

    cfg = model.extra_config
    corpus = load_corpus(
        data, level=cfg["level"], vocab_size=cfg.get("vocab_limit"), cache_dir=cache_dir
    )
    ids, unknown = reencode(getattr(corpus, split), corpus, vocab, data)
    B = batch_size or int(cfg.get("batch_size", BOOK["batch_size"]))
    T = time_size or int(cfg.get("time_size", BOOK["time_size"]))
    # a Transformer reads at most this many at once
    if model.context is not None and T > model.context:
        raise SettingError(
            "time_size",
            Msg(
                "{time_size} is more than the {context} tokens this model reads at once",
                time_size=T,
                context=model.context,
            ),
        )
    return corpus, evaluate(model, ids, B, T, name=f"{corpus.name} ({split})"), unknown


def read_start(vocab: Vocabulary, text: str, level: str) -> tuple[list[str], list[str]]:
    """(the tokens of a start text as the model reads them, each one the vocabulary lacks
    as <unk>; the tokens it lacks). SettingError ("start") when it has no tokens, or a
    token the vocabulary lacks and no <unk>."""
    from nbengine.data.text import tokenize

    tokens = tokenize(text, level)
    if not tokens:
        raise SettingError("start", Msg("has no tokens"))
    unknown = [t for t in tokens if t not in vocab]
    if unknown and vocab.unk is None:
        known = ", ".join(vocab.tokens[:12]) + (", …" if len(vocab) > 12 else "")
        raise SettingError(
            "start",
            Msg(
                "{token!r} is not in the model's vocabulary of {n:,} tokens ({known}), "
                "which has no <unk> to stand for it",
                token=unknown[0],
                n=len(vocab),
                known=known,
            ),
        )
    return [str(vocab.unk) if t in unknown else t for t in tokens], unknown


def generate_length(config: dict, n_start: int) -> int:
    """How many tokens to generate when not told: 100 words or 300 characters, at most
    the training text's length less the start's, at least 1."""
    room = int(config.get("train_tokens", 10**9)) - n_start
    return max(1, min(GENERATE_LENGTH[config["level"]], room))


def sample(
    model, vocab: Vocabulary, tokens: list[str], length: int, seed: int, temperature: float = 1.0
) -> Iterator[int]:
    """The ids of ``length`` tokens drawn after the start tokens, one at a time, from a
    generator seeded with ``seed`` (the same seed, the same tokens); never <unk>."""
    skip = (vocab.id(vocab.unk),) if vocab.unk is not None else ()
    return model.sample(
        vocab.encode(tokens), length, np.random.default_rng(seed), temperature, skip
    )


def trace_model(
    kind: str,
    ckpt: str | None,
    data: str,
    level: str,
    hidden: int,
    embed: int,
    seed: int,
    cache_dir=None,
):
    """(model in float64, vocabulary, where its weights came from, level) for tracing a
    recurrent model (``rnn`` or ``lstm``): a checkpoint's trained weights and level, or
    else untrained seeded weights of the given sizes over the vocabulary of ``data``."""
    from nbengine.explain.recurrent import in_float64
    from nbengine.i18n import Msg

    name = "lstmlm" if kind == "lstm" else "rnnlm"
    if ckpt:
        trained, vocab = load(name, ckpt)
        epochs = trained.extra_config.get("epochs")
        if not epochs:
            about = Msg("the weights of {checkpoint}", checkpoint=ckpt)
        elif epochs == 1:
            about = Msg("the weights of {checkpoint} (trained for 1 epoch)", checkpoint=ckpt)
        else:
            about = Msg(
                "the weights of {checkpoint} (trained for {epochs} epochs)",
                checkpoint=ckpt,
                epochs=epochs,
            )
        return in_float64(trained), vocab, about, trained.extra_config["level"]
    vocab = load_corpus(data, level=level, vocab_size=None, cache_dir=cache_dir).vocab
    model = model_class(name)(len(vocab), embed, hidden, seed, np.float64)
    return model, vocab, Msg("untrained weights (random, seed {seed})", seed=seed), level


def trace_tokens(vocab: Vocabulary, text: str | None, level: str, step: int) -> list[str]:
    """The tokens of ``text`` (None: the lesson's sentence) as a trace of time step
    ``step`` reads them, <unk> for those the vocabulary lacks. SettingError ("text")
    for a token it lacks without an <unk>, or fewer than two tokens; ("step") for a
    step the text does not have (each token but the last is read, the next predicted)."""
    from nbengine.data.text import TOY_SENTENCE, tokenize

    tokens = tokenize(text if text is not None else TOY_SENTENCE, level)
    unknown = [t for t in tokens if t not in vocab]
    if unknown and vocab.unk is None:
        raise SettingError(
            "text",
            Msg(
                "{token!r} is not in the vocabulary of {n:,} tokens, which has no <unk>",
                token=unknown[0],
                n=len(vocab),
            ),
        )
    if len(tokens) < 2:
        raise SettingError(
            "text", Msg("needs at least two tokens: one to read and the next to predict")
        )
    if step >= len(tokens) - 1:
        raise SettingError(
            "step",
            Msg(
                "the text has {steps} steps (0 to {last}): each token but the last is read "
                "and the next one predicted",
                steps=len(tokens) - 1,
                last=len(tokens) - 2,
            ),
        )
    return [str(vocab.unk) if t not in vocab else t for t in tokens]
