"""Commands for the MNIST lesson: train, evaluate and predict with the lesson's CNN.

The engine is imported inside each command, so `nbengine --help` stays instant.
"""

from __future__ import annotations


import click
from rich.console import Group
from rich.table import Table

from nbengine.kernels import registry

from nbengine_cli import run
from nbengine_cli.options import Float, training_json_options
from nbengine_cli.output import Output
from nbengine_cli.options import json_options
from nbengine_cli.run import set_threads, short_number
from nbengine_cli.options import cache_dir_option, data_reference, split_options, threads_option

DEFAULT_DATA = "mnist_5k"
DEFAULT_LR = {"sgd": 0.01, "momentum": 0.01, "adam": 0.001}
LESSON = {"optimizer": "sgd", "lr": 0.01, "epochs": 5, "batch_size": 32}

DROPOUT_HELP = (
    "Put Dropout after the softmax, as the lesson's code does. During training that zeroes some "
    "class probabilities: when it hits the true class, the loss is -log(1e-7) ≈ 16.1 and that sample "
    "teaches nothing. By default Dropout sits before the last Dense, on the 1024 hidden features, "
    "where it belongs."
)


def load_split(data: str, split_seed: int, test_fraction: float, cache_dir):
    from nbengine.data.images import load_split as load

    return load(data, seed=split_seed, test_fraction=test_fraction, cache_dir=cache_dir)


def data_options(f):
    return cache_dir_option(split_options(f, when="single-file data"))


@click.command("cnn", short_help="The lesson's MNIST CNN (Conv 32 → Pool → Conv 64 → Pool → Dense 1024 → Dense 10).")
@click.option("--data", default=DEFAULT_DATA, show_default=True, metavar="NAME|PATH",
              help="mnist_5k (shipped: 5,000 real digits), mnist or fashion-mnist (after `nbengine data fetch`), "
                   "a Kaggle digit-recogniser train.csv, an IDX file or a folder of the four MNIST files.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Passes over the training set  [default: 5].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Images per step  [default: 32].")
@click.option("--optimizer", type=click.Choice(["sgd", "momentum", "adam"]), default=None,
              help="sgd: w ← w − η·g (the lesson's); momentum: with velocity 0.9; adam: per-weight step sizes "
                   "[default: adam].")
@click.option("--lr", type=Float(min=0, min_open=True), default=None,
              help="Learning rate η  [default: 0.01 for sgd and momentum, 0.001 for adam].")
@click.option("--momentum", "momentum_", type=Float(0, 1, max_open=True), default=0.9, show_default=True,
              help="The velocity's memory μ for --optimizer momentum.")
@click.option("--lesson", is_flag=True,
              help="The lesson's settings: SGD with η = 0.01 (Keras's default), 5 epochs, batch 32. "
                   "Options given explicitly still win.")
@click.option("--as-written", is_flag=True, help=DROPOUT_HELP)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the initial weights, the shuffling and the dropout masks.")
@data_options
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N",
              help="Train on N of the training images only, drawn at random (a quick look).")
@threads_option
@click.option("--save", type=click.Path(dir_okay=False), default=None, metavar="CKPT",
              help="Write the model to this .npz checkpoint after every epoch (atomically: an interrupted or "
                   "failed run leaves the last good one).")
@training_json_options
def train_cnn(data, epochs, batch_size, optimizer, lr, momentum_, lesson, as_written, seed, cache_dir, split_seed,
              test_fraction, limit, threads, save, json_mode, json_epochs, quiet):
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
    from nbengine.data.images import files_read, require_classes
    from nbengine.models.cnn import CNN
    from nbengine.optim import OPTIMIZERS, Momentum
    from nbengine.train import batches, fit, shuffled

    out = Output(json_mode or json_epochs, quiet)
    settings = {"optimizer": optimizer, "lr": lr, "epochs": epochs, "batch_size": batch_size}
    defaults = LESSON if lesson else {"optimizer": "adam", "lr": None, "epochs": 5, "batch_size": 32}
    settings = {k: v if v is not None else defaults[k] for k, v in settings.items()}
    optimizer, epochs, batch_size = settings["optimizer"], settings["epochs"], settings["batch_size"]
    lr = settings["lr"] if settings["lr"] is not None else DEFAULT_LR[optimizer]
    if save:  # say so before training
        check_folder(save, [("--data", path) for path in files_read(data, cache_dir)])
    n_threads = set_threads(threads)

    split = load_split(data, split_seed, test_fraction, cache_dir)
    require_classes(split.train)
    train_images = split.train
    if limit is not None and limit < len(train_images):
        # a random sample (seeded by the split seed), so every class is in it
        pick = np.sort(np.random.default_rng(split_seed).permutation(len(train_images))[:limit])
        train_images = train_images.subset(pick)
    x_train, y_train = train_images.as_float(), train_images.labels
    x_test, y_test = split.test.as_float(), split.test.labels
    config = {"data": data_reference(data), "split_seed": split_seed, "test_fraction": test_fraction,
              "optimizer": optimizer, "lr": lr, "batch_size": batch_size, "epochs": 0}
    model = CNN(seed, np.float32, as_written, class_names=split.train.class_names, extra_config=config)
    if optimizer == "momentum":
        opt = Momentum(model.params, model.grads, lr, momentum_)
    else:
        opt = OPTIMIZERS[optimizer](model.params, model.grads, lr)
    order = "Dropout after the softmax, as written" if as_written else "Dropout before the last Dense"
    opt_text = f"{optimizer} η {lr:g}" + (f" μ {momentum_:g}" if optimizer == "momentum" else "")
    out.status(f"CNN, {model.n_params:,} parameters, {order}; {split.description}"
               + (f" (training on {len(x_train):,} of them)" if limit else "")
               + f"; {opt_text}, batch {batch_size}, {epochs} epoch{'s' if epochs > 1 else ''}; seed {seed}; "
               f"{n_threads} threads; {registry.describe()}")
    out.fact("start", model="cnn", data=split.name, n_train=len(x_train), n_test=len(x_test), seed=seed,
             epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, as_written=as_written,
             threads=n_threads, kernels=registry.current(), parameters=model.n_params)

    def measure(model):
        test_loss, test_acc = model.evaluate(x_test, y_test)
        return {"test_accuracy": test_acc, "test_loss": test_loss}

    def result(ev):
        correct = int(round(ev.metrics["test_accuracy"] * len(y_test)))
        test_loss = ev.metrics["test_loss"]
        return (f"test accuracy {correct / len(y_test):.4f} ({correct} of {len(y_test)}), test loss "
                f"{short_number(test_loss)}",
                dict(test_accuracy=correct / len(y_test), test_loss=test_loss, correct=correct, n_test=len(y_test)))

    per_epoch = batches(len(x_train), batch_size)
    run.train(out, model, opt, lambda stop: fit(model, opt, shuffled(x_train, y_train, batch_size, seed), epochs=epochs,
                                                steps_per_epoch=per_epoch, measure=measure, should_stop=stop),
              epochs=epochs, steps_per_epoch=per_epoch, result=result, sample=(x_train[:2], y_train[:2]), save=save,
              json_steps=not json_epochs, unit="images",
              columns=[("loss", 8, lambda ev: short_number(ev.loss)),
                       ("train acc", 9, lambda ev: f"{ev.metrics['train_accuracy']:.4f}"),
                       ("test acc", 8, lambda ev: f"{ev.metrics['test_accuracy']:.4f}")])


def checkpoint_data(model, data, cache_dir):
    """The data a checkpoint's model is used on: --data if given, else what it was trained on."""
    cfg = model.extra_config
    return load_split(data or cfg.get("data", DEFAULT_DATA), cfg.get("split_seed", 0),
                      cfg.get("test_fraction", 0.2), cache_dir)


@click.command("cnn", short_help="Loss, accuracy and confusion matrix of a CNN checkpoint.")
@click.option("--checkpoint", "ckpt", required=True, type=click.Path(dir_okay=False), metavar="CKPT",
              help="A checkpoint written by `nbengine train cnn --save`.")
@click.option("--data", default=None, metavar="NAME|PATH",
              help="Data to evaluate on  [default: the data the model was trained on].")
@click.option("--split", type=click.Choice(["test", "train", "all"]), default="test", show_default=True,
              help="Which part of the data.")
@data_options
@threads_option
@json_options
def eval_cnn(ckpt, data, split, cache_dir, split_seed, test_fraction, threads, json_mode, quiet):
    """Evaluate a CNN checkpoint: loss, accuracy, and which digits it confuses."""
    import numpy as np

    from nbengine.models.cnn import CNN

    out = Output(json_mode, quiet)
    set_threads(threads)
    model = CNN.load(ckpt)
    parts = checkpoint_data(model, data, cache_dir)
    images = {"test": [parts.test], "train": [parts.train], "all": [parts.train, parts.test]}[split]
    x = np.concatenate([im.as_float() for im in images])
    y = np.concatenate([im.labels for im in images])
    probs = model.predict_proba(x)
    pred = np.argmax(probs, axis=1)
    loss = model.loss(x, y)
    K = model.n_classes
    confusion = np.zeros((K, K), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    acc = float(np.mean(pred == y))

    names = model.class_names
    cm = Table()
    cm.add_column("true \\ predicted")
    for c in range(K):
        cm.add_column(names[c][:7], justify="right")
    cm.add_column("recall", justify="right")
    for r in range(K):
        n_r = confusion[r].sum()
        recall = f"{confusion[r, r] / n_r:.3f}" if n_r else "–"
        cm.add_row(names[r], *[(f"[bold]{v}[/]" if c == r else (str(v) if v else "·"))
                               for c, v in enumerate(confusion[r])], recall)
    out.fact("result", [f"{parts.description}; {split} part: {len(y):,} images",
                        "confusion matrix: rows are the true class, columns the predicted one",
                        Group(cm, f"accuracy {acc:.4f} ({int(confusion.trace())} of {len(y)}), loss "
                                  f"{short_number(loss)}")],
             data=parts.name, split=split, n=len(y), loss=loss, accuracy=acc,
             confusion=confusion.tolist(), class_names=names)


@click.command("cnn", short_help="Predict digits and write a Kaggle submission (ImageId,Label).")
@click.option("--checkpoint", "ckpt", required=True, type=click.Path(dir_okay=False), metavar="CKPT",
              help="A checkpoint written by `nbengine train cnn --save`.")
@click.option("--data", required=True, metavar="NAME|PATH",
              help="Images to classify: Kaggle's test.csv (784 pixel columns, no label), or any image data "
                   "nbengine reads (labels, if present, are ignored).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), metavar="CSV",
              help="Where to write the predictions: `ImageId,Label`, ids counted from 1 (Kaggle's format).")
@cache_dir_option
@threads_option
@json_options
def predict_cnn(ckpt, data, out_path, cache_dir, threads, json_mode, quiet):
    """Classify every image of a file and write one `ImageId,Label` line per image.

    The file is written to a temporary name first and renamed when complete, so an
    interrupted run never leaves half a submission.
    """
    import numpy as np

    from nbengine.data.files import check_output
    from nbengine.data.images import files_read, load_images
    from nbengine.models.cnn import CNN

    out = Output(json_mode, quiet)
    check_output(out_path, [("--checkpoint", ckpt)] + [("--data", path) for path in files_read(data, cache_dir)])
    set_threads(threads)
    model = CNN.load(ckpt)
    images = load_images(data, cache_dir)
    x = images.as_float()
    pred = np.empty(len(x), np.int64)
    with out.progress("predicting", len(x)) as advance:
        for s in range(0, len(x), 1000):
            pred[s:s + 1000] = model.predict(x[s:s + 1000])
            advance(min(1000, len(x) - s))
    write_submission(out_path, pred)
    counts = np.bincount(pred, minlength=model.n_classes)
    t = Table(title="predicted classes", title_justify="left")
    for c in range(model.n_classes):
        t.add_column(model.class_names[c][:7], justify="right")
    t.add_row(*[str(v) for v in counts])
    out.fact("result", [f"wrote {len(pred):,} predictions to {out_path}", t], n=len(pred), out=out_path,
             counts=counts.tolist())


def write_submission(path: str, pred) -> None:
    """ImageId,Label lines, written atomically (a temporary file renamed into place)."""
    from nbengine.data.files import atomic_write
    from nbengine.errors import NBEngineError

    try:
        with atomic_write(path, text=True, suffix=".csv.tmp") as f:
            f.write("ImageId,Label\n")
            f.writelines(f"{i},{int(label)}\n" for i, label in enumerate(pred, start=1))
    except OSError as e:
        raise NBEngineError(f"{path}: cannot be written ({e.strerror})") from None
