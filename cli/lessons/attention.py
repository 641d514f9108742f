"""The attention lesson ("meaning you can see"): `train pronoun` and `eval pronoun`, the
small attention model that finds what "it" stands for in "the cat ate the fish because
it was hungry" (`trace attention`, in nbengine_cli.trace, shows where its "it" looks). The
engine is imported inside each command, so `nbengine --help` stays instant.
"""

from __future__ import annotations

import click

from nbengine.i18n import N_, _, ngettext, shown
from nbengine_cli import run
from nbengine_cli.options import (
    Float,
    checkpoint_option,
    json_options,
    save_option,
    threads_option,
    training_json_options,
)
from nbengine_cli.output import Output

# The sentence patterns (nbengine.data.pronoun.PATTERNS) as the result line names them.
PATTERN_NAMES = {"active": N_("active"), "passive": N_("passive")}


@click.command(
    "pronoun", short_help='The pronoun task: which word does "it" stand for? (attention)'
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Passes over the training sentences.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Sentences per step (of one length each).",
)
@click.option(
    "--lr",
    type=Float(min=0, min_open=True),
    default=0.01,
    show_default=True,
    help="Adam's learning rate.",
)
@click.option(
    "--size",
    type=click.IntRange(min=2),
    default=16,
    show_default=True,
    help="Length of each word's vector (and d_k of the answer's attention).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the held-out pairs, the initial weights and the shuffling.",
)
@threads_option
@save_option()
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
    from nbengine.checkpoint import check_folder
    from nbengine.kernels import registry
    from nbengine.models.pronoun import build, fit_task

    out = Output(json_mode or json_epochs, quiet)
    if save:
        # say so before training (the sentences are made in code: no file is read)
        check_folder(save)
    n_threads = run.set_threads(threads)
    task, model, opt = build(seed, size, lr, batch_size)
    start, per_epoch, sample = fit_task(model, opt, task, batch_size, seed, epochs=epochs)
    out.status(
        ngettext(
            "pronoun model, {params:,} parameters (vectors of {size}); {task}; adam η {lr:g}, batch "
            "{batch}, {epochs} epoch; seed {seed}; {threads} threads; {kernels}",
            "pronoun model, {params:,} parameters (vectors of {size}); {task}; adam η {lr:g}, batch "
            "{batch}, {epochs} epochs; seed {seed}; {threads} threads; {kernels}",
            epochs,
        ).format(
            params=model.n_params,
            size=size,
            task=shown(task.description),
            lr=lr,
            batch=batch_size,
            epochs=epochs,
            seed=seed,
            threads=n_threads,
            kernels=shown(registry.describe()),
        )
    )
    out.fact(
        "start",
        model="pronoun",
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        size=size,
        n_train=len(task.train),
        n_held_out=len(task.held_out),
        vocab_size=len(task.words),
        held_out_pairs=[list(p) for p in task.held_out_pairs],
        threads=n_threads,
        kernels=registry.current(),
        parameters=model.n_params,
        steps_per_epoch=per_epoch,
    )

    def result(ev):
        acc = ev.metrics["held_out_accuracy"]
        right = int(round(acc * len(task.held_out)))
        return (
            _(
                "held-out accuracy {accuracy:.4f} ({right:,} of {n:,} sentences whose animal–food pair training "
                "never saw)"
            ).format(accuracy=acc, right=right, n=len(task.held_out)),
            dict(held_out_accuracy=acc, correct=right, n_held_out=len(task.held_out)),
        )

    run.train(
        out,
        model,
        opt,
        start,
        epochs=epochs,
        steps_per_epoch=per_epoch,
        result=result,
        sample=sample,
        save=save,
        json_steps=not json_epochs,
        unit="sentences",
        keep=("held_out_accuracy",),
        saved_note=_(
            '; see where "it" looks: nbengine trace attention --checkpoint {checkpoint}'
        ).format(checkpoint=save),
        columns=[
            (_("loss"), 8, lambda ev: f"{ev.loss:.4f}"),
            (_("train acc"), 9, lambda ev: f"{ev.metrics['train_accuracy']:.4f}"),
            (_("held-out acc"), 12, lambda ev: f"{ev.metrics['held_out_accuracy']:.4f}"),
        ],
    )


@click.command(
    "pronoun", short_help="Held-out accuracy of a pronoun checkpoint, with example sentences."
)
@checkpoint_option("pronoun")
@click.option(
    "--examples",
    type=click.IntRange(min=0),
    default=6,
    show_default=True,
    metavar="N",
    help="Sentences to show with the model's choice: the lesson's two, then held-out ones.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of which held-out sentences are shown.",
)
@threads_option
@json_options
def eval_pronoun(ckpt, examples, seed, threads, json_mode, quiet):
    """The held-out accuracy of a pronoun checkpoint (sentences whose animal–food pair
    training never saw), by pattern, and a few sentences with the word the model chose
    for "it" and the attention weight "it" put on that word."""
    from rich.table import Table

    from nbengine.models.pronoun import accuracy_by_pattern, load_with_task
    from nbengine.models.pronoun import examples as examples_of

    out = Output(json_mode, quiet)
    run.set_threads(threads)
    model, task = load_with_task(ckpt)
    total, right, by_pattern = accuracy_by_pattern(model, task)
    out.status(
        _(
            "{checkpoint}: pronoun model, {params:,} parameters, trained {epochs} epochs; {task}"
        ).format(
            checkpoint=ckpt,
            params=model.n_params,
            epochs=model.extra_config.get("epochs", "?"),
            task=shown(task.description),
        )
    )

    chosen = examples_of(model, task, examples, seed)
    table = Table(title=_('what "it" stands for, in the model\'s view'), title_justify="left")
    for title, justify in (
        (N_("sentence"), "left"),
        (N_("model"), "left"),
        (N_("weight"), "right"),
        (N_("right answer"), "left"),
    ):
        table.add_column(_(title), justify=justify)
    for e in chosen:
        words = e["sentence"].split(" ")
        weight = f"{e['weights'][words.index(e['answer'])]:.2f}" if e["answer"] in words else "–"
        table.add_row(
            e["sentence"],
            e["answer"],
            weight,
            e["truth"] if e["truth"] == e["answer"] else f"[red]{e['truth']}[/]",
        )
    accuracy = _("held-out accuracy {accuracy:.4f} ({right:,} of {n:,}); ").format(
        accuracy=total, right=right, n=len(task.held_out)
    ) + ", ".join(f"{_(PATTERN_NAMES.get(p, p))} {a:.4f}" for p, a in by_pattern.items())
    out.fact(
        "result",
        [accuracy, table] if chosen else accuracy,
        held_out_accuracy=total,
        correct=right,
        n_held_out=len(task.held_out),
        by_pattern=by_pattern,
        examples=chosen,
        checkpoint=ckpt,
    )


def register(groups: dict[str, click.Group]) -> None:
    groups["train"].add_command(train_pronoun)
    groups["eval"].add_command(eval_pronoun)
