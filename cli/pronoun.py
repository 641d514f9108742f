"""Commands for the pronoun task ("meaning you can see"): train and evaluate the small
attention model that finds what "it" stands for in "the cat ate the fish because it
was hungry". `nbengine trace attention --checkpoint` shows where its "it" looks.

The engine is imported inside each command, so `nbengine --help` stays instant.
"""

from __future__ import annotations

import click

from nbengine.kernels import registry

from nbengine_cli import run
from nbengine_cli.options import Float, training_json_options
from nbengine_cli.output import Output
from nbengine_cli.options import json_options
from nbengine_cli.run import set_threads
from nbengine_cli.options import threads_option

DEFAULTS = {"epochs": 3, "batch_size": 32, "lr": 0.01, "size": 16}
CLIP = 5.0  # the gradients' global norm is scaled down to this when it is larger
EXAMPLES = 6  # sentences shown by `eval pronoun`


# -- model pieces the trace shares ----------------------------------------------------------------

def load_model(ckpt: str):
    """The model of a pronoun checkpoint and the task it was trained on (same seed, same split)."""
    from nbengine.data.pronoun import make_task
    from nbengine.errors import CheckpointError
    from nbengine.models.pronoun import PronounModel

    model = PronounModel.load(ckpt)
    try:
        task = make_task(int(model.extra_config.get("task_seed", 0)))
    except (TypeError, ValueError) as e:
        raise CheckpointError(ckpt, f"holds a bad task seed ({e})") from None
    if task.words != model.words:
        raise CheckpointError(ckpt, "holds a vocabulary that is not the pronoun task's (was it written by another "
                                    "version of nbengine?)")
    return model, task


# -- train ----------------------------------------------------------------------------------------

@click.command("pronoun", short_help="The pronoun task: which word does \"it\" stand for? (attention)")
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS["epochs"], show_default=True,
              help="Passes over the training sentences.")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS["batch_size"], show_default=True,
              help="Sentences per step (of one length each).")
@click.option("--lr", type=Float(min=0, min_open=True), default=DEFAULTS["lr"], show_default=True,
              help="Adam's learning rate.")
@click.option("--size", type=click.IntRange(min=2), default=DEFAULTS["size"], show_default=True,
              help="Length of each word's vector (and d_k of the answer's attention).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the held-out pairs, the initial weights and the shuffling.")
@threads_option
@click.option("--save", type=click.Path(dir_okay=False), default=None, metavar="CKPT",
              help="Write the model to this .npz checkpoint after every epoch (atomically: an interrupted or "
                   "failed run leaves the last good one).")
@training_json_options
def train_pronoun(epochs, batch_size, lr, size, seed, threads, save, json_mode, json_epochs, quiet):
    """Train a small attention model to find what "it" stands for.

    \b
    the cat ate the fish because it was hungry          → cat
    the cat ate the fish because it was tasty           → fish
    the fish was eaten by the cat because it was hungry → cat

    Sentences are generated in code: 12 animals, 12 foods, 8 adjectives, two patterns
    (the animal first or the food first), three verbs and "the" or "a". A fifth of
    the animal–food pairs (always cat–fish, the lesson's) is held out: no held-out
    sentence's pair of nouns is ever seen together in training.

    \b
    words → token + position vectors X
      → a transformer block (2 heads) lets "it" read the sentence ("hungry" or "tasty")
      → one attention head: the query of "it" against the keys of the words X
      → z(it) = weights·V, a weighted sum of the words' values → the answer word

    The answer is read from z(it) only, and each value comes from its own word, so the
    model can name the right word only by attending to it; nothing tells it where to
    look but the answer. A row follows every epoch: the mean training loss, the
    training accuracy (on the batches as they were trained) and the held-out accuracy.
    Ctrl-C stops after the current batch. Then: `nbengine trace attention --checkpoint`.
    """
    import numpy as np

    from nbengine.checkpoint import check_folder
    from nbengine.data.pronoun import make_task
    from nbengine.models.pronoun import PronounModel, accuracy, steps_per_epoch, train_batches
    from nbengine.optim import Adam
    from nbengine.train import fit

    out = Output(json_mode or json_epochs, quiet)
    if save:
        check_folder(save)  # say so before training (the sentences are made in code: no file is read)
    n_threads = set_threads(threads)
    task = make_task(seed)
    config = {"task_seed": seed, "lr": lr, "batch_size": batch_size, "epochs": 0}
    model = PronounModel(task.words, size=size, seed=seed, context=task.max_length, dtype=np.float32,
                         extra_config=config)
    opt = Adam(model.params, model.grads, lr)
    per_epoch = steps_per_epoch(task, batch_size)
    out.status(f"pronoun model, {model.n_params:,} parameters (vectors of {size}); {task.description}; adam η {lr:g}, "
               f"batch {batch_size}, {epochs} epoch{'s' if epochs > 1 else ''}; seed {seed}; "
               f"{n_threads} threads; {registry.describe()}")
    out.fact("start", model="pronoun", seed=seed, epochs=epochs, batch_size=batch_size, lr=lr, size=size,
             n_train=len(task.train), n_held_out=len(task.held_out), vocab_size=len(task.words),
             held_out_pairs=[list(p) for p in task.held_out_pairs], threads=n_threads,
             kernels=registry.current(), parameters=model.n_params,
             steps_per_epoch=per_epoch)

    def result(ev):
        acc = ev.metrics["held_out_accuracy"]
        right = int(round(acc * len(task.held_out)))
        return (f"held-out accuracy {acc:.4f} ({right:,} of {len(task.held_out):,} sentences whose animal–food "
                f"pair training never saw)", dict(held_out_accuracy=acc, correct=right, n_held_out=len(task.held_out)))

    batches = train_batches(task, batch_size, seed)
    run.train(out, model, opt, lambda stop: fit(model, opt, batches, epochs=epochs, steps_per_epoch=per_epoch, clip=CLIP,
                                                measure=lambda m: {"held_out_accuracy": accuracy(m, task, task.held_out)},
                                                should_stop=stop),
              epochs=epochs, steps_per_epoch=per_epoch, result=result, sample=next(iter(train_batches(task, 2, seed)(1))),
              save=save, json_steps=not json_epochs, unit="sentences", keep=("held_out_accuracy",),
              saved_note=f"; see where \"it\" looks: nbengine trace attention --checkpoint {save}",
              columns=[("loss", 8, lambda ev: f"{ev.loss:.4f}"),
                       ("train acc", 9, lambda ev: f"{ev.metrics['train_accuracy']:.4f}"),
                       ("held-out acc", 12, lambda ev: f"{ev.metrics['held_out_accuracy']:.4f}")])


# -- eval -----------------------------------------------------------------------------------------

def choose(model, words, ids, where):
    """(the model's answer, the attention weights of "it" (T,))."""
    answer = int(model.predict(ids, [where])[0])
    return model.words[answer], model.cache["weights"][0, 0].astype(float)


@click.command("pronoun", short_help="Held-out accuracy of a pronoun checkpoint, with example sentences.")
@click.option("--checkpoint", "ckpt", required=True, type=click.Path(dir_okay=False), metavar="CKPT",
              help="A checkpoint written by `nbengine train pronoun --save`.")
@click.option("--examples", type=click.IntRange(min=0), default=EXAMPLES, show_default=True, metavar="N",
              help="Sentences to show with the model's choice: the lesson's two, then held-out ones.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of which held-out sentences are shown.")
@threads_option
@json_options
def eval_pronoun(ckpt, examples, seed, threads, json_mode, quiet):
    """The held-out accuracy of a pronoun checkpoint (sentences whose animal–food pair
    training never saw), by pattern, and a few sentences with the word the model chose
    for "it" and the attention weight "it" put on that word."""
    import numpy as np
    from rich.table import Table

    from nbengine.data.pronoun import LESSON_SENTENCE, LESSON_TASTY, PATTERNS, batches, tokenize

    out = Output(json_mode, quiet)
    set_threads(threads)
    model, task = load_model(ckpt)
    right_by, count_by = dict.fromkeys(PATTERNS, 0), dict.fromkeys(PATTERNS, 0)
    for ids, where, answers, group in batches(task, task.held_out, 512):  # one pass over the held-out sentences
        for e, ok in zip(group, model.predict(ids, where) == answers):
            right_by[e.pattern] += int(ok)
            count_by[e.pattern] += 1
    total = sum(right_by.values()) / max(len(task.held_out), 1)
    by_pattern = {p: right_by[p] / max(count_by[p], 1) for p in PATTERNS}
    right = int(round(total * len(task.held_out)))
    out.status(f"{ckpt}: pronoun model, {model.n_params:,} parameters, trained "
               f"{model.extra_config.get('epochs', '?')} epochs; {task.description}")

    rng = np.random.default_rng(seed)
    picked = [tokenize(LESSON_SENTENCE), tokenize(LESSON_TASTY)]
    picked += [task.held_out[i].words for i in rng.choice(len(task.held_out), max(0, examples - 2), replace=False)]
    answers = {tuple(e.words): e.answer for e in task.held_out}
    table = Table(title="what \"it\" stands for, in the model's view", title_justify="left")
    for title, justify in (("sentence", "left"), ("model", "left"), ("weight", "right"), ("right answer", "left")):
        table.add_column(title, justify=justify)
    shown = []
    for words in picked[:examples]:
        where = words.index("it")
        chosen, weights = choose(model, words, model.encode(words)[None], where)
        truth = answers[tuple(words)]
        looked = words[int(weights.argmax())]
        table.add_row(" ".join(words), chosen, f"{weights[words.index(chosen)]:.2f}" if chosen in words else "–",
                      truth if truth == chosen else f"[red]{truth}[/]")
        shown.append({"sentence": " ".join(words), "answer": chosen, "truth": truth, "attends_most_to": looked,
                      "weights": weights.tolist()})
    accuracy = (f"held-out accuracy {total:.4f} ({right:,} of {len(task.held_out):,}); "
                + ", ".join(f"{p} {a:.4f}" for p, a in by_pattern.items()))
    out.fact("result", [accuracy, table] if shown else accuracy, held_out_accuracy=total, correct=right,
             n_held_out=len(task.held_out), by_pattern=by_pattern, examples=shown, checkpoint=ckpt)
