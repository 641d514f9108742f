"""Commands for the language models: train, evaluate and sample from the RNN and
LSTM language models (`rnnlm`, `lstmlm`).

The engine is imported inside each command, so `nbengine --help` stays instant.
"""

from __future__ import annotations

import math

import click
from rich.text import Text

from nbengine.kernels import registry

from nbengine_cli import run
from nbengine_cli.options import Float, training_json_options
from nbengine_cli.output import Output
from nbengine_cli.options import json_options
from nbengine_cli.run import set_threads
from nbengine_cli.options import cache_dir_option, data_reference, threads_option

CELL = {"rnnlm": "RNN", "lstmlm": "LSTM", "transformer": "Transformer"}
A_CELL = {"rnnlm": "an RNN", "lstmlm": "an LSTM", "transformer": "a Transformer"}
TEXT_NAMES = ("toy", "shakespeare", "ptb")  # the corpora load_corpus knows by name

# The book's settings for the Penn Treebank (Deep Learning from Scratch 2, chapter 6).
BOOK = {"batch_size": 20, "time_size": 35, "embed_size": 100, "hidden_size": 100, "vocab_size": 10_000,
        "optimizer": "sgd", "lr": 20.0, "clip": 0.25, "epochs": 4}
# The lesson's one sentence: one batch of the whole sentence per epoch, learnt in a second.
TOY = {"batch_size": 1, "time_size": None, "embed_size": 16, "hidden_size": 32, "vocab_size": None,
       "optimizer": "adam", "lr": 0.01, "clip": 5.0, "epochs": 200}
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
START_WORD = "you"  # DLFS2's start word for generated text
GENERATE_LENGTH = {"word": 100, "char": 300}
# The most tokens `generate` makes in one run: a small Transformer writes about 30 a second
# on 2 cores, so this is an hour, and --length 10²⁰ is refused instead of running for ever.
MAX_GENERATE = 100_000


def load_corpus(data: str, level: str, vocab_size, cache_dir):
    from nbengine.data.text import load_corpus as load

    return load(data, level=level, vocab_size=vocab_size, cache_dir=cache_dir)


def ppl_text(v: float) -> str:
    """A perplexity for a table: 4 decimals near 1, 2 with thousands separators above 10."""
    if not math.isfinite(v):
        return "inf"
    if v < 10:
        return f"{v:.4f}"
    return f"{v:,.2f}" if v < 1e7 else f"{v:.3e}"


def default_every(epochs: int) -> int:
    return 1 if epochs <= 20 else max(1, epochs // 10)


# -- train ----------------------------------------------------------------------------------------

def stacked(*decorators):
    """Decorators applied as if written one above the other, in this order."""
    def apply(f):
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


# What every language model's train command takes besides its model's settings.
run_options = stacked(
    click.option("--vocab-size", type=click.IntRange(min=2), default=None,
                 help="Keep the most frequent tokens, <unk> for the rest  [default: 10,000 words; no limit "
                      "for characters]."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the initial weights."),
    click.option("--every", type=click.IntRange(min=1), default=None, metavar="N",
                 help="A table row every N epochs and after the last  [default: 1, or a tenth of the epochs "
                      "past 20]. JSON lines have every epoch."),
    cache_dir_option,
    threads_option,
    click.option("--save", type=click.Path(dir_okay=False), default=None, metavar="CKPT",
                 help="Write the model, its vocabulary and settings to this .npz checkpoint with every "
                      "table row: after every epoch, or every N with --every (atomically: an interrupted or "
                      "diverged run leaves the last good one)."),
    training_json_options,
)


def lm_config(data: str, level: str, corpus, vocab_limit, optimizer: str, lr: float, clip, batch_size: int,
              time_size: int, start: str) -> dict:
    """What a language model's checkpoint remembers besides its weights: the text and its
    vocabulary, the training settings, and the start text for generating."""
    return {"data": data_reference(data, TEXT_NAMES), "level": level, "vocab": corpus.vocab.to_json(), "vocab_limit": vocab_limit,
            "optimizer": optimizer, "lr": lr, "clip": clip, "batch_size": batch_size, "time_size": time_size,
            "epochs": 0, "start": start, "train_tokens": int(len(corpus.train))}


train_options = stacked(
    click.option("--data", default="toy", show_default=True, metavar="NAME|PATH",
                 help="toy (the lesson's sentence, \"You say goodbye and I say hello.\"), shakespeare (ships "
                      "with nbengine), ptb (after `nbengine data fetch ptb`), a folder of ptb.train.txt, "
                      "ptb.valid.txt and ptb.test.txt, or a UTF-8 text file (split 90/5/5 by lines)."),
    click.option("--level", type=click.Choice(["word", "char"]), default="word", show_default=True,
                 help="Tokens are words (punctuation apart, each line break an <eos>) or characters."),
    click.option("--epochs", type=click.IntRange(min=1), default=None,
                 help="Passes over the training text  [default: 200 for toy, else 4]."),
    click.option("--batch-size", type=click.IntRange(min=1), default=None,
                 help="Parallel streams through the text  [default: 1 for toy, else 20]."),
    click.option("--time-size", type=click.IntRange(min=1), default=None,
                 help="Time steps per batch, how far back the gradient flows (truncated BPTT)  "
                      "[default: the sentence's length − 1 for toy, else 35]."),
    click.option("--embed-size", type=click.IntRange(min=1), default=None,
                 help="Length of a token's vector  [default: 16 for toy, else 100]."),
    click.option("--hidden-size", type=click.IntRange(min=1), default=None,
                 help="Hidden units of the recurrent layer  [default: 32 for toy, else 100]."),
    click.option("--optimizer", type=click.Choice(["sgd", "momentum", "adam"]), default=None,
                 help="sgd: w ← w − η·g (the book's); momentum: with velocity 0.9; adam: per-weight step "
                      "sizes  [default: adam for toy, else sgd]."),
    click.option("--lr", type=Float(min=0, min_open=True), default=None,
                 help="Learning rate η  [default: toy 0.01 with adam, 1 with sgd; else, with sgd, 20 for the "
                      "LSTM (the book's) and 5 for the RNN (20 wrecks it), 0.001 with adam]."),
    click.option("--clip", type=Float(min=0, min_open=True), default=None,
                 help="Scale the gradients down to this global norm when it is larger  [default: 5 for toy, "
                      "else 0.25]."),
    click.option("--ptb-settings", is_flag=True,
                 help="The book's settings for the Penn Treebank: batch 20, time 35, embedding 100, hidden "
                      "100, vocabulary 10,000, SGD η = 20, clip 0.25, 4 epochs. Options given explicitly "
                      "still win."),
    run_options,
)

TRAIN_HELP = """Train the {cell} language model: after each token, a probability for every next token.

\b
token ids → Embedding → {layer} → Affine → softmax

The text is read as batch-size parallel streams, time-size tokens at a time; the
hidden state is carried from one batch to the next (each stream reads as one
text) while the gradient flows back through one batch only (truncated
backpropagation through time). A row follows each epoch: the training and
validation perplexity, exp(mean loss), "how many tokens the model is choosing
between" (1 is perfect; the vocabulary's size is a uniform guess). The state is
reset before each epoch and before measuring validation. Ctrl-C stops after the
current batch.
"""
LAYER = {"rnnlm": "RNN, h = tanh(x·Wx + h·Wh + b)", "lstmlm": "LSTM (gates f, g, i, o and a cell c)"}


def train_command(model_name: str) -> click.Command:
    @click.command(model_name, help=TRAIN_HELP.format(cell=CELL[model_name], layer=LAYER[model_name]),
                   short_help=f"The {CELL[model_name]} language model: Embedding → {CELL[model_name]} → Affine "
                              f"→ softmax.")
    @train_options
    def command(**options):
        train_lm(model_name, **options)

    return command


def train_lm(model_name, data, level, epochs, batch_size, time_size, embed_size, hidden_size, vocab_size, optimizer,
             lr, clip, ptb_settings, seed, every, cache_dir, threads, save, json_mode, json_epochs, quiet):
    import numpy as np

    from nbengine.checkpoint import check_folder
    from nbengine.data.text import files_read
    from nbengine.models.rnnlm import MODELS
    from nbengine.optim import OPTIMIZERS, Momentum

    out = Output(json_mode or json_epochs, quiet)
    book = ptb_settings or data != "toy"
    defaults = dict(BOOK if book else TOY)
    if book and not ptb_settings and model_name == "rnnlm":
        defaults["lr"] = RNN_LR  # the book's 20 is for the LSTM; see RNN_LR
    given = {"batch_size": batch_size, "time_size": time_size, "embed_size": embed_size, "hidden_size": hidden_size,
             "vocab_size": vocab_size, "optimizer": optimizer, "lr": lr, "clip": clip, "epochs": epochs}
    s = {k: v if v is not None else defaults[k] for k, v in given.items()}
    if lr is None and s["optimizer"] != defaults["optimizer"]:
        s["lr"] = (BOOK_LR if book else TOY_LR)[s["optimizer"]]
        if book and not ptb_settings and model_name == "rnnlm" and s["optimizer"] != "adam":
            s["lr"] *= RNN_LR / BOOK["lr"]
    if level == "char" and vocab_size is None:
        s["vocab_size"] = None  # a text has few characters; keep them all
    if save:  # say so before training
        check_folder(save, [("--data", path) for path in files_read(data, cache_dir)])
    n_threads = set_threads(threads)

    corpus = load_corpus(data, level, s["vocab_size"], cache_dir)
    if s["time_size"] is None:  # toy: the whole sentence in one batch
        s["time_size"] = max(1, len(corpus.train) - 1)
    B, T, E, H = s["batch_size"], s["time_size"], s["epochs"], s["hidden_size"]
    vocab = corpus.vocab
    V = len(vocab)
    first = corpus.vocab.tokens[int(corpus.train[0])]
    start = START_WORD if level == "word" and START_WORD in vocab else first
    config = lm_config(data, level, corpus, s["vocab_size"], s["optimizer"], s["lr"], s["clip"], B, T, start)
    model = MODELS[model_name](V, s["embed_size"], H, seed, np.float32, extra_config=config)
    if s["optimizer"] == "momentum":
        opt = Momentum(model.params, model.grads, s["lr"])
    else:
        opt = OPTIMIZERS[s["optimizer"]](model.params, model.grads, s["lr"])
    per_epoch = len(corpus.train) // (B * T)
    plural = "s" if E > 1 else ""
    out.status(f"{CELL[model_name]} language model, {model.n_params:,} parameters (embedding {s['embed_size']}, "
               f"hidden {H}); {corpus.description}; {s['optimizer']} η {s['lr']:g}, clip {s['clip']:g}, "
               f"batch {B} × {T} time steps ({per_epoch:,} per epoch), {E} epoch{plural}; seed {seed}; "
               f"{n_threads} threads; {registry.describe()}")
    out.fact("start", model=model_name, data=corpus.name, level=level, n_train=int(len(corpus.train)),
             n_valid=int(len(corpus.valid)), n_test=int(len(corpus.test)), vocab_size=V, seed=seed, epochs=E,
             batch_size=B, time_size=T, embed_size=s["embed_size"], hidden_size=H, optimizer=s["optimizer"],
             lr=s["lr"], clip=s["clip"], threads=n_threads, kernels=registry.current(),
             parameters=model.n_params, steps_per_epoch=per_epoch)
    run_training(out, model, opt, corpus, B, T, E, s["clip"], every, save, json_epochs)


def run_training(out: Output, model, opt, corpus, B: int, T: int, E: int, clip, every, save, json_epochs) -> None:
    """Train with a row per epoch (or every N), save, and measure the test split: what every
    language model's train command does once its model and optimizer are built."""
    from nbengine.lm_train import evaluate, text_batches
    from nbengine.train import fit

    V = model.vocab_size
    batches, per_epoch = text_batches(corpus.train, B, T, name=f"{corpus.name} (train)")

    def measure(model):
        if not len(corpus.valid):
            return {"valid_loss": None, "valid_perplexity": None}
        ev = evaluate(model, corpus.valid, B, T, name=f"{corpus.name} (valid)")
        return {"valid_loss": ev.loss, "valid_perplexity": ev.perplexity}

    def finish(model):
        test = evaluate(model, corpus.test, B, T, name=f"{corpus.name} (test)")
        return {"test_loss": test.loss, "test_perplexity": test.perplexity, "n_test": test.tokens}

    def result(ev):
        m = ev.metrics
        return (f"test perplexity {ppl_text(m['test_perplexity'])} (loss {m['test_loss']:.4f} per token, "
                f"{m['n_test']:,} tokens); a uniform guess over the {V:,} tokens would score {V:,}",
                dict(test_loss=m["test_loss"], test_perplexity=m["test_perplexity"], n_test=m["n_test"],
                     vocab_size=V))

    def ppl(name):
        return lambda ev: ppl_text(ev.metrics[name]) if ev.metrics[name] is not None else "–"

    run.train(out, model, opt, lambda stop: fit(model, opt, batches, epochs=E, steps_per_epoch=per_epoch, clip=clip,
                                                measure=measure, finish=finish, perplexities=True, should_stop=stop),
              epochs=E, steps_per_epoch=per_epoch, result=result, sample=next(iter(batches(0))), save=save,
              json_steps=not json_epochs, unit="tokens", every=every or default_every(E),
              columns=[("train ppl", 10, ppl("perplexity")), ("valid ppl", 10, ppl("valid_perplexity"))])


# -- checkpoints ----------------------------------------------------------------------------------

def model_class(model_name: str):
    """The language model class a command name stands for."""
    if model_name == "transformer":
        from nbengine.models.transformer import TransformerLM
        return TransformerLM
    from nbengine.models.rnnlm import MODELS
    return MODELS[model_name]


def load_model(model_name: str, ckpt: str):
    """The model of a checkpoint and its vocabulary; a checkpoint without one is refused."""
    from nbengine.data.text import Vocabulary
    from nbengine.errors import CheckpointError

    model = model_class(model_name).load(ckpt)
    cfg = model.extra_config
    if "vocab" not in cfg or cfg.get("level") not in ("word", "char"):
        raise CheckpointError(ckpt, "holds no vocabulary and level (it was not written by "
                                    f"`nbengine train {model_name} --save`)")
    try:
        vocab = Vocabulary.from_json(cfg["vocab"])
    except ValueError as e:
        raise CheckpointError(ckpt, f"holds a broken vocabulary ({e})") from None
    if len(vocab) != model.vocab_size:
        raise CheckpointError(ckpt, f"holds a vocabulary of {len(vocab):,} tokens for a model of "
                                    f"{model.vocab_size:,}")
    return model, vocab


def checkpoint_option(f):
    return click.option("--checkpoint", "ckpt", required=True, type=click.Path(dir_okay=False), metavar="CKPT",
                        help="A checkpoint written by `nbengine train rnnlm|lstmlm|transformer --save`.")(f)


def reencode(ids, corpus, vocab, data: str):
    """A split's ids in the model's vocabulary (a corpus builds its own from its text).
    Returns (ids, how many tokens became <unk>)."""
    import numpy as np

    from nbengine.errors import DataError

    if corpus.vocab == vocab:
        return ids, 0
    tokens = corpus.vocab.decode(ids)
    missing = [t for t in tokens if t not in vocab]
    if missing and vocab.unk is None:
        raise DataError(data, f"has the token {missing[0]!r}, which the model's vocabulary of {len(vocab):,} tokens "
                              f"does not hold (and it has no <unk> to stand for it)")
    return np.asarray(vocab.encode(tokens), np.int64), len(missing)


# -- eval -----------------------------------------------------------------------------------------

eval_options = stacked(
    checkpoint_option,
    click.option("--data", default=None, metavar="NAME|PATH",
                 help="The text to measure  [default: the text the model was trained on]."),
    click.option("--split", type=click.Choice(["test", "valid", "train"]), default="test", show_default=True,
                 help="Which part of the text."),
    click.option("--batch-size", type=click.IntRange(min=1), default=None,
                 help="Parallel streams  [default: the training run's]."),
    click.option("--time-size", type=click.IntRange(min=1), default=None,
                 help="Time steps per batch  [default: the training run's]."),
    cache_dir_option,
    threads_option,
    json_options,
)

EVAL_HELP = """The perplexity of the {cell} language model of a checkpoint on a split of a text:
exp(mean loss), the loss being -log p(the token that really came next) at every token.

The text is read in batches with the hidden state carried from one to the next, as
in training, and no backward pass. Tokens the model's vocabulary lacks are read as
<unk>.
"""


def eval_command(model_name: str, help_text: str = EVAL_HELP) -> click.Command:
    @click.command(model_name, help=help_text.format(cell=CELL[model_name]),
                   short_help=f"Perplexity of {A_CELL[model_name]} language model checkpoint on a text.")
    @eval_options
    def command(**options):
        eval_lm(model_name, **options)

    return command


def eval_lm(model_name, ckpt, data, split, batch_size, time_size, cache_dir, threads, json_mode, quiet):
    out = Output(json_mode, quiet)
    set_threads(threads)
    from nbengine.lm_train import evaluate

    model, vocab = load_model(model_name, ckpt)
    cfg = model.extra_config
    ref = data or cfg.get("data")
    if not ref:
        raise click.UsageError("the checkpoint does not say what it was trained on: give --data")
    corpus = load_corpus(ref, cfg["level"], cfg.get("vocab_limit"), cache_dir)
    ids, unknown = reencode(getattr(corpus, split), corpus, vocab, ref)
    B = batch_size or int(cfg.get("batch_size", BOOK["batch_size"]))
    T = time_size or int(cfg.get("time_size", BOOK["time_size"]))
    if model.context is not None and T > model.context:  # a Transformer reads at most this many at once
        raise click.BadParameter(f"{T} is more than the {model.context} tokens this model reads at once",
                                 param_hint="'--time-size'")
    ev = evaluate(model, ids, B, T, name=f"{corpus.name} ({split})")
    out.status(corpus.description)
    if unknown:
        out.status(f"{unknown:,} tokens the model's vocabulary does not hold are read as <unk>")
    how = (f"read in windows of {ev.time_size} overlapping by half" if ev.overlapping
           else f"read in batches of {ev.batch_size} × {ev.time_size}")
    out.fact("result", f"{split} perplexity {ppl_text(ev.perplexity)} (loss {ev.loss:.4f} per token, {ev.tokens:,} "
                       f"tokens {how}); a uniform guess over the {len(vocab):,} tokens would score {len(vocab):,}",
             model=model_name, data=corpus.name, split=split, loss=ev.loss,
             perplexity=ev.perplexity, tokens=ev.tokens, batch_size=ev.batch_size,
             time_size=ev.time_size, overlapping=ev.overlapping, vocab_size=len(vocab), unknown=unknown)


# -- generate -------------------------------------------------------------------------------------

generate_options = stacked(
    checkpoint_option,
    click.option("--start", default=None, metavar="TEXT",
                 help="The text to continue  [default: \"you\" for words when the model knows it, else the "
                      "training text's first token]."),
    click.option("--length", type=click.IntRange(1, MAX_GENERATE), default=None, metavar="N",
                 help=f"Tokens to generate, at most {MAX_GENERATE:,}  [default: 100 words or 300 characters, at "
                      f"most the training text's length]. A progress bar runs on a terminal."),
    click.option("--temperature", type=Float(min=0, min_open=True), default=1.0, show_default=True,
                 help="Below 1 the likeliest tokens win more often; above 1 the choice is flatter: "
                      "p ∝ exp(score / temperature)."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling."),
    threads_option,
    json_options,
)

GENERATE_HELP = """Continue a text with the {cell} language model of a checkpoint, one token at a
time: feed the start text, draw the next token from the model's probabilities, feed
it back in, and so on.

The same seed gives the same text. "<unk>" is never drawn; at word level each
"<eos>" (the end of a line) is printed as a line break.
"""


def generate_command(model_name: str, help_text: str = GENERATE_HELP) -> click.Command:
    @click.command(model_name, help=help_text.format(cell=CELL[model_name]),
                   short_help=f"Sample text from {A_CELL[model_name]} language model checkpoint.")
    @generate_options
    def command(**options):
        generate_lm(model_name, **options)

    return command


def generate_lm(model_name, ckpt, start, length, temperature, seed, threads, json_mode, quiet):
    import numpy as np

    from nbengine.data.text import join_tokens, tokenize

    out = Output(json_mode, quiet)
    set_threads(threads)
    model, vocab = load_model(model_name, ckpt)
    cfg = model.extra_config
    level = cfg["level"]
    if start is None:
        start = cfg.get("start") or vocab.tokens[0]
    start_tokens = tokenize(start, level)
    if not start_tokens:
        raise click.BadParameter("has no tokens", param_hint="'--start'")
    unknown = [t for t in start_tokens if t not in vocab]
    if unknown and vocab.unk is None:
        known = ", ".join(vocab.tokens[:12]) + (", …" if len(vocab) > 12 else "")
        raise click.BadParameter(f"{unknown[0]!r} is not in the model's vocabulary of {len(vocab):,} tokens "
                                 f"({known}), which has no <unk> to stand for it", param_hint="'--start'")
    if unknown:
        listed = ", ".join(repr(t) for t in dict.fromkeys(unknown))
        out.status(f"note: {listed} {'is' if len(set(unknown)) == 1 else 'are'} not in the model's vocabulary; "
                   f"read as <unk>")
    ids = vocab.encode(start_tokens)
    if length is None:
        room = int(cfg.get("train_tokens", 10 ** 9)) - len(start_tokens)
        length = max(1, min(GENERATE_LENGTH[level], room))
    skip = (vocab.id(vocab.unk),) if vocab.unk is not None else ()
    rng = np.random.default_rng(seed)
    generated = []
    with out.progress("generating", length) as advance:
        for token in model.sample(ids, length, rng, temperature, skip):
            generated.append(token)
            advance()
    shown_start = [vocab.unk if t not in vocab else t for t in start_tokens]
    new_tokens = vocab.decode(generated)
    text = join_tokens(shown_start + new_tokens, level)
    head = join_tokens(shown_start, level)
    out.status(f"{CELL[model_name]} language model ({len(vocab):,} {level}s); temperature {temperature:g}, "
               f"seed {seed}")
    if text.startswith(head):
        shown = Text(head, style="bold")
        shown.append(text[len(head):])
    else:
        shown = Text(text)
    out.fact("result", shown, model=model_name, start=start, start_tokens=shown_start, tokens=new_tokens,
             ids=[int(i) for i in generated], text=text, unknown=unknown, temperature=temperature, seed=seed,
             level=level)


train_rnnlm, train_lstmlm = train_command("rnnlm"), train_command("lstmlm")
eval_rnnlm, eval_lstmlm = eval_command("rnnlm"), eval_command("lstmlm")
generate_rnnlm, generate_lstmlm = generate_command("rnnlm"), generate_command("lstmlm")
