"""Commands for the Transformer language model: `train transformer`, `eval
transformer`, `generate transformer`. They share the recurrent models' training
loop, table, checkpoints and sampling (cli/rnnlm.py); only the model differs.
"""

from __future__ import annotations

import click

from nbengine.kernels import registry

from nbengine_cli.options import Float
from nbengine_cli.output import Output
from nbengine_cli.run import set_threads
from nbengine_cli.rnnlm import (eval_command, generate_command, lm_config, load_corpus, run_options, run_training,
                                stacked)

# Shakespeare's characters (or any text): about 115,000 parameters, as many as an LSTM LM
# with embedding 64 and hidden 128 (`nbengine train lstmlm --data shakespeare --level char
# --embed-size 64 --hidden-size 128`), for the comparison in the README.
TEXT = {"epochs": 4, "batch_size": 32, "context": 64, "size": 64, "heads": 4, "blocks": 2, "lr": 0.003, "clip": 1.0}
# The lesson's sentence: the whole of it in one batch, learnt in a few seconds.
TOY = {"epochs": 200, "batch_size": 1, "context": None, "size": 16, "heads": 2, "blocks": 1, "lr": 0.01, "clip": 5.0}

train_options = stacked(
    click.option("--data", default="shakespeare", show_default=True, metavar="NAME|PATH",
                 help="shakespeare (ships with nbengine), toy (the lesson's sentence), ptb (after `nbengine data "
                      "fetch ptb`), a folder of the three PTB files, or a UTF-8 text file (split 90/5/5 by lines)."),
    click.option("--level", type=click.Choice(["word", "char"]), default=None,
                 help="Tokens are characters or words  [default: char, word for toy]."),
    click.option("--epochs", type=click.IntRange(min=1), default=None,
                 help="Passes over the training text  [default: 200 for toy, else 4]."),
    click.option("--batch-size", type=click.IntRange(min=1), default=None,
                 help="Pieces of text per batch  [default: 1 for toy, else 32]."),
    click.option("--context", type=click.IntRange(min=1), default=None,
                 help="Tokens the model reads at once (each batch's length, and the number of position "
                      "vectors)  [default: the sentence's length − 1 for toy, else 64]."),
    click.option("--size", type=click.IntRange(min=1), default=None,
                 help="Length of every vector in the model, d_model  [default: 16 for toy, else 64]."),
    click.option("--heads", type=click.IntRange(min=1), default=None,
                 help="Attention heads per block; they split the size between them  [default: 2 for toy, else 4]."),
    click.option("--blocks", type=click.IntRange(min=1), default=None,
                 help="Transformer blocks, one on top of the other  [default: 1 for toy, else 2]."),
    click.option("--hidden", type=click.IntRange(min=1), default=None,
                 help="Units of each block's feed-forward network  [default: 4 × size]."),
    click.option("--lr", type=Float(min=0, min_open=True), default=None,
                 help="Adam's learning rate  [default: 0.01 for toy, else 0.003]."),
    click.option("--clip", type=Float(min=0, min_open=True), default=None,
                 help="Scale the gradients down to this global norm when it is larger  [default: 5 for toy, "
                      "else 1]."),
    run_options,
)


@click.command("transformer", short_help="A small Transformer language model: causal self-attention blocks.")
@train_options
def train_transformer(data, level, epochs, batch_size, context, size, heads, blocks, hidden, vocab_size, lr, clip,
                      seed, every, cache_dir, threads, save, json_mode, json_epochs, quiet):
    """Train a small Transformer language model (GPT-style): after each token, a
    probability for every next token, from the tokens up to it.

    \b
    token ids → token + position vectors
              → blocks × [x + Attention(LayerNorm(x)), then + FeedForward(LayerNorm(·))]
              → LayerNorm → Affine → softmax

    The text is cut into pieces of --context tokens; each position attends to
    itself and every earlier position of its piece (causal self-attention, the
    lesson's Q·Kᵀ/√d_k, softmax, ×V, with the future masked), in --heads heads per
    block. Nothing is carried from one batch to the next. The table shows the
    training and validation perplexity per epoch, as for `train lstmlm`;
    validation and test read the text in windows overlapping by half, so every
    token is predicted from at least half a context of text before it. Adam
    updates the weights. Ctrl-C stops after the current batch.
    """
    import numpy as np

    from nbengine.checkpoint import check_folder
    from nbengine.data.text import files_read
    from nbengine.models.transformer import TransformerLM
    from nbengine.optim import Adam

    out = Output(json_mode or json_epochs, quiet)
    toy = data == "toy"
    defaults = TOY if toy else TEXT
    level = level or ("word" if toy else "char")
    given = {"epochs": epochs, "batch_size": batch_size, "context": context, "size": size, "heads": heads,
             "blocks": blocks, "lr": lr, "clip": clip}
    s = {k: v if v is not None else defaults[k] for k, v in given.items()}
    if s["size"] % s["heads"]:
        raise click.BadParameter(f"the size {s['size']} does not split into {s['heads']} equal heads",
                                 param_hint="'--heads'")
    if vocab_size is None and level == "word":
        vocab_size = 10_000
    if save:  # say so before training
        check_folder(save, [("--data", path) for path in files_read(data, cache_dir)])
    n_threads = set_threads(threads)

    corpus = load_corpus(data, level, vocab_size, cache_dir)
    if s["context"] is None:  # toy: the whole sentence in one batch
        s["context"] = max(1, len(corpus.train) - 1)
    B, T, E = s["batch_size"], s["context"], s["epochs"]
    vocab = corpus.vocab
    start = vocab.tokens[int(corpus.train[0])]
    config = lm_config(data, level, corpus, vocab_size, "adam", s["lr"], s["clip"], B, T, start)
    model = TransformerLM(len(vocab), s["size"], s["heads"], s["blocks"], hidden, T, seed, np.float32,
                          extra_config=config)
    opt = Adam(model.params, model.grads, s["lr"])
    per_epoch = len(corpus.train) // (B * T)
    out.status(f"Transformer language model, {model.n_params:,} parameters ({s['blocks']} block"
               f"{'s' if s['blocks'] > 1 else ''} of {s['heads']} head{'s' if s['heads'] > 1 else ''}, size "
               f"{s['size']}, feed-forward {model.hidden}, context {T}); {corpus.description}; adam η {s['lr']:g}, "
               f"clip {s['clip']:g}, batch {B} × {T} ({per_epoch:,} per epoch), {E} epoch{'s' if E > 1 else ''}; "
               f"seed {seed}; {n_threads} threads; {registry.describe()}")
    out.fact("start", model="transformer", data=corpus.name, level=level, n_train=int(len(corpus.train)),
             n_valid=int(len(corpus.valid)), n_test=int(len(corpus.test)), vocab_size=len(vocab), seed=seed,
             epochs=E, batch_size=B, time_size=T, size=s["size"], heads=s["heads"], blocks=s["blocks"],
             hidden=model.hidden, optimizer="adam", lr=s["lr"], clip=s["clip"], threads=n_threads,
             kernels=registry.current(), parameters=model.n_params, steps_per_epoch=per_epoch)
    run_training(out, model, opt, corpus, B, T, E, s["clip"], every, save, json_epochs)


EVAL_HELP = """The perplexity of the Transformer language model of a checkpoint on a split of a text:
exp(mean loss), the loss being -log p(the token that really came next) at every token.

The text is read in windows of the training run's context (or --time-size, at most
the context) that overlap by half, each on its own, with no backward pass: every token
is predicted once, and after the first window from at least half a window of the
text before it. Tokens the model's vocabulary lacks are read as <unk>.
"""

GENERATE_HELP = """Continue a text with the Transformer language model of a checkpoint, one token at
a time: read the text so far (its last `context` tokens), draw the next token from
the model's probabilities, append it, and so on.

The same seed gives the same text. "<unk>" is never drawn; at word level each
"<eos>" (the end of a line) is printed as a line break.
"""

eval_transformer = eval_command("transformer", EVAL_HELP)
generate_transformer = generate_command("transformer", GENERATE_HELP)
