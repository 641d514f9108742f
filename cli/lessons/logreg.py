"""The first lesson: logistic regression as a one-layer network (train, eval, gradcheck;
its trace is `trace logreg`, in nbengine_cli.trace.logreg).

The engine is imported inside each command, so `nbengine --help` stays instant.
"""

from __future__ import annotations

import click
from rich.rule import Rule
from rich.table import Table

from nbengine.i18n import N_, _, shown
from nbengine_cli import run
from nbengine_cli.options import (
    Float,
    checkpoint_option,
    data_reference,
    output_options,
    save_option,
    split_options,
    tensor_options,
    training_json_options,
)
from nbengine_cli.output import Output
from nbengine_cli.run import short_number


def data_option(f):
    return click.option(
        "--data",
        default="breast_cancer",
        show_default=True,
        metavar="NAME|PATH",
        help="A shipped data set's name or a CSV file: numeric features, then a 0/1 label.",
    )(f)


@click.command("logreg", short_help="Logistic regression (lesson 1), trained by gradient descent.")
@data_option
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Passes over the training set.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Samples per gradient step (a value ≥ the training set size is full-batch gradient descent).",
)
@click.option(
    "--lr",
    type=Float(min=0, min_open=True),
    default=0.1,
    show_default=True,
    help="Learning rate η in w ← w − η·dL/dw.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the initial weights and the shuffling.",
)
@split_options
@save_option()
@click.option(
    "--trace-every",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Print the tensors of steps 1, N+1, 2N+1, ... (weights, activations, gradients, the update).",
)
@tensor_options
@training_json_options
def train_logreg(
    data,
    epochs,
    batch_size,
    lr,
    seed,
    test_fraction,
    split_seed,
    save,
    trace_every,
    json_mode,
    json_epochs,
    quiet,
    precision,
    full,
):
    """Train logistic regression by gradient descent, the chain rule written out.

    Features are standardised with the training set's mean and standard deviation.
    Each step computes z = Σᵢ wᵢxᵢ + b, a = σ(z), the cross-entropy loss, then
    dL/dw = dL/da · da/dz · dz/dw and updates w ← w − η·dL/dw.
    """
    from nbengine.checkpoint import check_folder
    from nbengine.data.registry import resolve
    from nbengine.data.tabular import load_binary_table
    from nbengine.explain.logreg import traced
    from nbengine.kernels import registry
    from nbengine.models.logreg import for_table
    from nbengine.optim import SGD
    from nbengine.train import accuracy, batches, fit, shuffled
    from nbengine_cli.render import render

    out = Output(json_mode or json_epochs, quiet, precision, full)
    if save:  # say so before training
        check_folder(save, [("--data", resolve(data)[1])])
    table = load_binary_table(data, test_fraction, split_seed)
    config = {
        "data": data_reference(data),
        "test_fraction": test_fraction,
        "split_seed": split_seed,
        "lr": lr,
        "epochs": epochs,
        "batch_size": batch_size,
    }
    model = for_table(table, seed, config)
    n_train, n_test, D = len(table.train_idx), len(table.test_idx), table.data.n_features
    out.status(
        _(
            "Logistic regression on {data}: {n_train} training and {n_test} test samples, {features} "
            "features; seed {seed}; {kernels}"
        ).format(
            data=table.name,
            n_train=n_train,
            n_test=n_test,
            features=D,
            seed=seed,
            kernels=shown(registry.describe()),
        )
    )
    out.fact(
        "start",
        model="logreg",
        data=table.name,
        n_train=n_train,
        n_test=n_test,
        n_features=D,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        kernels=registry.current(),
    )

    x_train, y_train = model.prepare(table.x_train), table.y_train
    x_test, y_test = model.prepare(table.x_test), table.y_test
    optimizer = SGD(model.params, model.grads, lr, labels=model.param_labels)

    def measure(model):  # the training accuracy on the whole training set, after the epoch
        return {
            "train_accuracy": accuracy(model, x_train, y_train),
            "test_accuracy": accuracy(model, x_test, y_test),
        }

    def show_step(ev):
        out.show(Rule(_("step {step} (epoch {epoch})").format(step=ev.step, epoch=ev.epoch)))
        render(out, traced(ev.trace, step=ev.step, epoch=ev.epoch))

    per_epoch = batches(n_train, batch_size)
    run.train(
        out,
        model,
        optimizer,
        lambda stop: fit(
            model,
            optimizer,
            shuffled(x_train, y_train, batch_size, seed),
            epochs=epochs,
            steps_per_epoch=per_epoch,
            measure=measure,
            trace_every=trace_every,
            should_stop=stop,
        ),
        epochs=epochs,
        steps_per_epoch=per_epoch,
        sample=(x_train[:2], y_train[:2]),
        save=save,
        result=lambda ev: run.test_result(
            accuracy(model, x_test, y_test), model.loss(x_test, y_test), n_test
        ),
        json_steps=not json_epochs,
        on_trace=show_step,
        columns=[
            (_("loss"), 10, lambda ev: short_number(ev.loss)),
            (_("train acc"), 9, lambda ev: f"{ev.metrics['train_accuracy']:.4f}"),
            (_("test acc"), 9, lambda ev: f"{ev.metrics['test_accuracy']:.4f}"),
        ],
    )


@click.command("logreg", short_help="Loss, accuracy and confusion matrix of a logreg checkpoint.")
@checkpoint_option("logreg")
@click.option(
    "--data",
    default=None,
    metavar="NAME|PATH",
    help="Data to evaluate on  [default: the data the model was trained on].",
)
@click.option(
    "--split",
    type=click.Choice(["test", "train", "all"]),
    default="test",
    show_default=True,
    help="Which part: the split recorded in the checkpoint, or every row (all).",
)
@output_options
def eval_logreg(ckpt, data, split, json_mode, quiet, precision, full):
    """Evaluate a logistic-regression checkpoint: loss, accuracy, confusion matrix."""
    from nbengine.models.logreg import LogisticRegression, checkpoint_table

    out = Output(json_mode, quiet, precision, full)
    model = LogisticRegression.load(ckpt)
    table = checkpoint_table(model, data)
    rows = table.rows(split)
    x, y = model.prepare(table.data.x[rows]), table.data.y[rows]
    run.evaluation(
        out,
        _("{data}, {split} split: {n} samples").format(data=table.name, split=split, n=len(y)),
        y,
        model.predict(x),
        model.loss(x, y),
        model.class_names,
        data=table.name,
        split=split,
    )


@click.command("logreg", short_help="Logistic regression's gradients against finite differences.")
@data_option
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Samples in the batch whose mean loss is differentiated.",
)
@click.option(
    "--eps",
    type=Float(min=0, min_open=True),
    default=1e-6,
    show_default=True,
    help="Step ε of the central difference (f(p+ε) − f(p−ε)) / 2ε.",
)
@click.option(
    "--tolerance",
    type=Float(min=0, min_open=True),
    default=1e-6,
    show_default=True,
    help="Largest relative error that passes.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the weights and the batch."
)
@output_options
def gradcheck_logreg(data, batch_size, eps, tolerance, seed, json_mode, quiet, precision, full):
    """Check dL/dw and dL/db of logistic regression against finite differences.

    In float64, on a random batch of real samples and random weights (large
    enough that a is not near 0.5 everywhere), each parameter entry p is nudged
    by ±ε and (L(p+ε) − L(p−ε)) / 2ε is compared with backprop's gradient.
    Exits 1 if any parameter fails.
    """
    import numpy as np

    from nbengine.data.tabular import load_binary_table
    from nbengine.gradcheck import check_gradients
    from nbengine.models.logreg import for_table

    out = Output(json_mode, quiet, precision, full)
    table = load_binary_table(data)
    model = for_table(table, seed, dtype=np.float64, init_scale=0.5)
    rng = np.random.default_rng(seed)
    idx = np.sort(
        rng.choice(len(table.train_idx), size=min(batch_size, len(table.train_idx)), replace=False)
    )
    x, y = model.prepare(table.x_train[idx]), table.y_train[idx]
    model.loss_and_backward(x, y)
    analytic = {k: g.copy() for k, g in model.grads.items()}
    results = check_gradients(
        lambda: model.loss(x, y), model.params, analytic, eps=eps, rtol=tolerance, atol=0.0
    )

    out.status(
        _("logreg on {data}: batch of {n}, float64, ε = {eps:g}, tolerance {tolerance:g}").format(
            data=table.name, n=len(idx), eps=eps, tolerance=tolerance
        )
    )
    t = Table(title=_("backprop vs finite differences"), title_justify="left")
    for col, justify in (
        (N_("parameter"), "left"),
        (N_("shape"), "right"),
        (N_("max abs error"), "right"),
        (N_("max rel error"), "right"),
        (N_("result"), "left"),
    ):
        t.add_column(_(col), justify=justify)
    row = out.gather(lambda cells: t.add_row(*cells))
    for r in results:
        row(
            [
                f"dL/d{r.name}",
                "×".join(map(str, r.analytic.shape)),
                f"{r.max_abs:.2e}",
                f"{r.max_rel:.2e}",
                "[green]{}[/]".format(_("pass"))
                if r.passed
                else "[bold red]{}[/]".format(_("FAIL")),
            ],
            "gradcheck",
            parameter=r.name,
            shape=list(r.analytic.shape),
            max_abs_error=r.max_abs,
            max_rel_error=r.max_rel,
            passed=r.passed,
        )
    passed = all(r.passed for r in results)
    out.fact("result", t, passed=passed)
    if not passed:
        raise click.exceptions.Exit(1)


def register(groups: dict[str, click.Group]) -> None:
    for verb, command in (
        ("train", train_logreg),
        ("eval", eval_logreg),
        ("gradcheck", gradcheck_logreg),
    ):
        groups[verb].add_command(command)
