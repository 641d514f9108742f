"""The MNIST lesson: train, evaluate and predict with the lesson's CNN, and its summary
(its trace is `trace cnn`, in nbengine_cli.trace.cnn).

The engine is imported inside each command, so `nbengine --help` stays instant.
"""

from __future__ import annotations

import click
from rich.table import Table

from nbengine.i18n import N_, _, ngettext, shown
from nbengine_cli import run
from nbengine_cli.options import (
    Float,
    cache_dir_option,
    checkpoint_option,
    data_reference,
    json_options,
    save_option,
    split_options,
    threads_option,
    training_json_options,
)
from nbengine_cli.output import Output
from nbengine_cli.run import set_threads, short_number

DEFAULT_LR = {"sgd": 0.01, "momentum": 0.01, "adam": 0.001}
LESSON = {"optimizer": "sgd", "lr": 0.01, "epochs": 5, "batch_size": 32}
DEFAULTS = {"optimizer": "adam", "lr": None, "epochs": 5, "batch_size": 32}

DROPOUT_HELP = N_(
    "Put Dropout after the softmax, as the lesson's code does. During training that zeroes some "
    "class probabilities: when it hits the true class, the loss is -log(1e-7) ≈ 16.1 and that sample "
    "teaches nothing. By default Dropout sits before the last Dense, on the 1024 hidden features, "
    "where it belongs."
)


def data_options(f):
    return cache_dir_option(split_options(f, when="single-file data"))


@click.command(
    "cnn",
    short_help="The lesson's MNIST CNN (Conv 32 → Pool → Conv 64 → Pool → Dense 1024 → Dense 10).",
)
@click.option(
    "--data",
    default="mnist_5k",
    show_default=True,
    metavar="NAME|PATH",
    help="mnist_5k (shipped: 5,000 real digits), mnist or fashion-mnist (after `nbengine data fetch`), "
    "a Kaggle digit-recogniser train.csv, an IDX file or a folder of the four MNIST files.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Passes over the training set  [default: 5].",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Images per step  [default: 32]."
)
@click.option(
    "--optimizer",
    type=click.Choice(["sgd", "momentum", "adam"]),
    default=None,
    help="sgd: w ← w − η·g (the lesson's); momentum: with velocity 0.9; adam: per-weight step sizes "
    "[default: adam].",
)
@click.option(
    "--lr",
    type=Float(min=0, min_open=True),
    default=None,
    help="Learning rate η  [default: 0.01 for sgd and momentum, 0.001 for adam].",
)
@click.option(
    "--momentum",
    "momentum_",
    type=Float(0, 1, max_open=True),
    default=0.9,
    show_default=True,
    help="The velocity's memory μ for --optimizer momentum.",
)
@click.option(
    "--lesson",
    is_flag=True,
    help="The lesson's settings: SGD with η = 0.01 (Keras's default), 5 epochs, batch 32. "
    "Options given explicitly still win.",
)
@click.option("--as-written", is_flag=True, help=DROPOUT_HELP)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the initial weights, the shuffling and the dropout masks.",
)
@data_options
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Train on N of the training images only, drawn at random (a quick look).",
)
@threads_option
@save_option()
@training_json_options
def train_cnn(
    data,
    epochs,
    batch_size,
    optimizer,
    lr,
    momentum_,
    lesson,
    as_written,
    seed,
    cache_dir,
    split_seed,
    test_fraction,
    limit,
    threads,
    save,
    json_mode,
    json_epochs,
    quiet,
):
    """Train the lesson's Keras CNN on handwritten digits.

    \b
    Conv2D(32, 3×3, same, relu) → MaxPool(2×2) → Conv2D(64, 3×3, same, relu)
    → MaxPool(2×2) → Flatten → Dense(1024, relu) → Dropout(0.25) → Dense(10, softmax)

    Pixels are divided by 255, as in the lesson; the loss is cross-entropy. A table
    row follows every epoch: mean training loss, training accuracy (counted on the
    epoch's batches as they were trained, with dropout, as Keras reports it), test
    accuracy, and images per second. Ctrl-C stops after the current batch.
    """
    import numpy as np

    from nbengine.checkpoint import check_folder
    from nbengine.data.images import files_read, load_split, require_classes
    from nbengine.kernels import registry
    from nbengine.models.cnn import CNN
    from nbengine.optim import OPTIMIZERS, Momentum
    from nbengine.train import batches, fit, shuffled

    out = Output(json_mode or json_epochs, quiet)
    given = {"optimizer": optimizer, "lr": lr, "epochs": epochs, "batch_size": batch_size}
    settings = {
        k: v if v is not None else (LESSON if lesson else DEFAULTS)[k] for k, v in given.items()
    }
    optimizer, epochs, batch_size = (
        settings["optimizer"],
        settings["epochs"],
        settings["batch_size"],
    )
    lr = settings["lr"] if settings["lr"] is not None else DEFAULT_LR[optimizer]
    if save:  # say so before training
        check_folder(save, [("--data", path) for path in files_read(data, cache_dir)])
    n_threads = set_threads(threads)

    split = load_split(data, split_seed, test_fraction, cache_dir)
    require_classes(split.train)
    # seeded by the split seed, so every class is in it
    train_images = split.train.sample(limit, split_seed)
    x_train, y_train = train_images.as_float(), train_images.labels
    x_test, y_test = split.test.as_float(), split.test.labels
    config = {
        "data": data_reference(data),
        "split_seed": split_seed,
        "test_fraction": test_fraction,
        "optimizer": optimizer,
        "lr": lr,
        "batch_size": batch_size,
        "epochs": 0,
    }
    model = CNN(
        seed, np.float32, as_written, class_names=split.train.class_names, extra_config=config
    )
    if optimizer == "momentum":
        opt = Momentum(model.params, model.grads, lr, momentum_)
    else:
        opt = OPTIMIZERS[optimizer](model.params, model.grads, lr)
    order = (
        _("Dropout after the softmax, as written")
        if as_written
        else _("Dropout before the last Dense")
    )
    opt_text = f"{optimizer} η {lr:g}" + (f" μ {momentum_:g}" if optimizer == "momentum" else "")
    limited = _(" (training on {n:,} of them)").format(n=len(x_train)) if limit else ""
    out.status(
        ngettext(
            "CNN, {params:,} parameters, {order}; {data}{limited}; {optimizer}, batch {batch}, "
            "{epochs} epoch; seed {seed}; {threads} threads; {kernels}",
            "CNN, {params:,} parameters, {order}; {data}{limited}; {optimizer}, batch {batch}, "
            "{epochs} epochs; seed {seed}; {threads} threads; {kernels}",
            epochs,
        ).format(
            params=model.n_params,
            order=order,
            data=shown(split.description),
            limited=limited,
            optimizer=opt_text,
            batch=batch_size,
            epochs=epochs,
            seed=seed,
            threads=n_threads,
            kernels=shown(registry.describe()),
        )
    )
    out.fact(
        "start",
        model="cnn",
        data=split.name,
        n_train=len(x_train),
        n_test=len(x_test),
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=lr,
        as_written=as_written,
        threads=n_threads,
        kernels=registry.current(),
        parameters=model.n_params,
    )

    def measure(model):
        test_loss, test_acc = model.evaluate(x_test, y_test)
        return {"test_accuracy": test_acc, "test_loss": test_loss}

    per_epoch = batches(len(x_train), batch_size)
    run.train(
        out,
        model,
        opt,
        lambda stop: fit(
            model,
            opt,
            shuffled(x_train, y_train, batch_size, seed),
            epochs=epochs,
            steps_per_epoch=per_epoch,
            measure=measure,
            should_stop=stop,
        ),
        epochs=epochs,
        steps_per_epoch=per_epoch,
        sample=(x_train[:2], y_train[:2]),
        save=save,
        result=lambda ev: run.test_result(
            ev.metrics["test_accuracy"], ev.metrics["test_loss"], len(y_test)
        ),
        json_steps=not json_epochs,
        unit="images",
        columns=[
            (_("loss"), 8, lambda ev: short_number(ev.loss)),
            (_("train acc"), 9, lambda ev: f"{ev.metrics['train_accuracy']:.4f}"),
            (_("test acc"), 8, lambda ev: f"{ev.metrics['test_accuracy']:.4f}"),
        ],
    )


@click.command("cnn", short_help="Loss, accuracy and confusion matrix of a CNN checkpoint.")
@checkpoint_option("cnn")
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
    help="Which part of the data.",
)
@data_options
@threads_option
@json_options
def eval_cnn(ckpt, data, split, cache_dir, split_seed, test_fraction, threads, json_mode, quiet):
    """Evaluate a CNN checkpoint: loss, accuracy, and which digits it confuses."""
    import numpy as np

    from nbengine.models.cnn import CNN, checkpoint_split

    out = Output(json_mode, quiet)
    set_threads(threads)
    model = CNN.load(ckpt)
    parts = checkpoint_split(model, data, cache_dir)
    images = parts.part(split)
    x, y = images.as_float(), images.labels
    pred = np.argmax(model.predict_proba(x), axis=1)
    run.evaluation(
        out,
        _("{data}; {split} part: {n:,} images").format(
            data=shown(parts.description), split=split, n=len(y)
        ),
        y,
        pred,
        model.loss(x, y),
        model.class_names,
        data=parts.name,
        split=split,
    )


@click.command("cnn", short_help="Predict digits and write a Kaggle submission (ImageId,Label).")
@checkpoint_option("cnn")
@click.option(
    "--data",
    required=True,
    metavar="NAME|PATH",
    help="Images to classify: Kaggle's test.csv (784 pixel columns, no label), or any image data "
    "nbengine reads (labels, if present, are ignored).",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False),
    metavar="CSV",
    help="Where to write the predictions: `ImageId,Label`, ids counted from 1 (Kaggle's format).",
)
@cache_dir_option
@threads_option
@json_options
def predict_cnn(ckpt, data, out_path, cache_dir, threads, json_mode, quiet):
    """Classify every image of a file and write one `ImageId,Label` line per image.

    The file is written to a temporary name first and renamed when complete, so an
    interrupted run never leaves half a submission.
    """
    import numpy as np

    from nbengine.data.csv import write_submission
    from nbengine.data.files import check_output
    from nbengine.data.images import files_read, load_images
    from nbengine.models.cnn import CNN

    out = Output(json_mode, quiet)
    check_output(
        out_path,
        [("--checkpoint", ckpt)] + [("--data", path) for path in files_read(data, cache_dir)],
    )
    set_threads(threads)
    model = CNN.load(ckpt)
    x = load_images(data, cache_dir).as_float()
    pred = np.empty(len(x), np.int64)
    with out.progress(_("predicting"), len(x)) as advance:
        for s in range(0, len(x), 1000):
            pred[s : s + 1000] = model.predict(x[s : s + 1000])
            advance(min(1000, len(x) - s))
    write_submission(out_path, pred)
    counts = np.bincount(pred, minlength=model.n_classes)
    t = Table(title=_("predicted classes"), title_justify="left")
    for c in range(model.n_classes):
        t.add_column(model.class_names[c][:7], justify="right")
    t.add_row(*[str(v) for v in counts])
    out.fact(
        "result",
        [_("wrote {n:,} predictions to {path}").format(n=len(pred), path=out_path), t],
        n=len(pred),
        out=out_path,
        counts=counts.tolist(),
    )


@click.command(
    "cnn", short_help="The lesson's CNN layer by layer: output shapes and parameter counts."
)
@click.option(
    "--as-written",
    is_flag=True,
    help="Dropout after the softmax, where the lesson's code puts it (a mistake: see the note).",
)
@json_options
def summary_cnn(as_written, json_mode, quiet):
    """The lesson's CNN as Keras's model.summary() prints it.

    Each row is a layer: its output shape for a batch of None (any number of)
    images, and its parameter count: a Conv2D has R·S·C·K weights and K biases
    (3·3·1·32 + 32 = 320 for conv1), a Dense D·M weights and M biases
    (3136·1024 + 1024 for dense1); pooling, Flatten and Dropout learn nothing.
    """
    from nbengine import explain
    from nbengine.models.cnn import CNN
    from nbengine_cli.render import render

    render(Output(json_mode, quiet), explain.cnn_summary(CNN(seed=0, as_written=as_written)))


def register(groups: dict[str, click.Group]) -> None:
    for verb, command in (
        ("train", train_cnn),
        ("eval", eval_cnn),
        ("predict", predict_cnn),
        ("summary", summary_cnn),
    ):
        groups[verb].add_command(command)
