"""What `trace rnn` and `trace lstm` share: their options, and the model and text they read."""

from __future__ import annotations

import click

from nbengine_cli.options import output_options


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


def trace_model(kind: str, ckpt, data, level, text, step, hidden, embed, seed, cache_dir):
    """The model (in float64), its vocabulary, the tokens of the text to read, where the weights
    came from, and the level (words or characters)."""
    import numpy as np

    from nbengine.data.text import TOY_SENTENCE, tokenize
    from nbengine.explain.recurrent import in_float64
    from nbengine.models.rnnlm import MODELS
    from nbengine_cli.rnnlm import load_corpus, load_model

    name = "lstmlm" if kind == "lstm" else "rnnlm"
    cls = MODELS[name]
    if ckpt:
        trained, vocab = load_model(name, ckpt)
        level = trained.extra_config["level"]
        model = in_float64(trained)
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
    if step >= len(tokens) - 1:
        raise click.BadParameter(f"the text has {len(tokens) - 1} steps (0 to {len(tokens) - 2}): each token but the "
                                 f"last is read and the next one predicted", param_hint="'--step'")
    shown = [vocab.unk if t not in vocab else t for t in tokens]
    return model, vocab, shown, about, level
