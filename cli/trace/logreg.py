"""`nbengine trace logreg`: one sample through every step of logistic regression."""

from __future__ import annotations

import click

from nbengine.i18n import _
from nbengine_cli.options import Float, check_index, data_reference, output_options, split_options
from nbengine_cli.output import Output


@click.command("logreg", short_help="One sample through every step of logistic regression.")
@click.option(
    "--index",
    "-i",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Which sample (row of the data file, counting from 0).",
)
@click.option(
    "--data",
    default=None,
    metavar="NAME|PATH",
    help="A shipped data set's name or a CSV file  [default: breast_cancer, or the checkpoint's data].",
)
@click.option(
    "--lr",
    type=Float(min=0, min_open=True),
    default=0.1,
    show_default=True,
    help="Learning rate η of the update shown at the end.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the initial weights.")
@click.option(
    "--checkpoint",
    "ckpt",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="CKPT",
    help="Start from a trained model's weights instead of the initial ones.",
)
@split_options
@output_options
def trace_logreg(
    index, data, lr, seed, ckpt, test_fraction, split_seed, json_mode, quiet, precision, full
):
    """One sample through every step of the lesson, with real numbers.

    x, w, b → z = Σᵢ wᵢxᵢ + b → a = σ(z) → L; then the chain rule backwards:
    dL/da, da/dz, dz/dw, dL/dw, dL/db; then w and b after one update.
    """
    from nbengine import explain
    from nbengine.data.tabular import load_binary_table
    from nbengine.explain import fact
    from nbengine.models.logreg import DEFAULT_DATA, LogisticRegression, checkpoint_table, for_table
    from nbengine_cli.render import render

    out = Output(json_mode, quiet, precision, full)
    if ckpt:
        model = LogisticRegression.load(ckpt)
        table = checkpoint_table(model, data)
    else:
        data = data or DEFAULT_DATA
        table = load_binary_table(data, test_fraction, split_seed)
        model = for_table(table, seed, {"data": data_reference(data)})
    check_index(index, len(table.data.y), table.name, "samples")
    part = "test" if index in set(table.test_idx.tolist()) else "training"
    label = int(table.data.y[index])
    x = model.prepare(table.data.x[index : index + 1])
    y = table.data.y[index : index + 1]
    start = (
        _("the weights of {checkpoint}").format(checkpoint=ckpt)
        if ckpt
        else _("initial weights (seed {seed})").format(seed=seed)
    )
    about = {
        "index": index,
        "data": table.name,
        "label": label,
        "name": model.class_names[label],
        "start": start,
        "lr": lr,
    }
    if part == "test":
        shown = _(
            "Sample {index} of {data} (test split), label {label} = {name}; {start}; η = {lr:g}"
        ).format(**about)
    else:
        shown = _(
            "Sample {index} of {data} (training split), label {label} = {name}; {start}; η = {lr:g}"
        ).format(**about)
    sample = fact(
        "sample",
        shown,
        index=index,
        data=table.name,
        split=part,
        label=label,
        class_name=model.class_names[label],
        lr=lr,
    )
    render(out, [sample, *explain.logreg(model, x, y, lr, precision, index=index)])
