"""`nbengine trace cnn`: one real digit through the lesson's CNN, forward and backward."""

from __future__ import annotations

import click

from nbengine.i18n import _
from nbengine_cli.options import cache_dir_option, check_index, output_options
from nbengine_cli.output import Output


@click.command("cnn", short_help="One real digit through the CNN, forward and backward.")
@click.option(
    "--index",
    "-i",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Which image of the split, counting from 0.",
)
@click.option(
    "--checkpoint",
    "ckpt",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="CKPT",
    help="A checkpoint written by `nbengine train cnn --save`  [default: untrained weights].",
)
@click.option(
    "--data",
    default=None,
    metavar="NAME|PATH",
    help="Image data: a shipped or fetched set's name, a CSV or IDX file, or an MNIST folder  "
    "[default: mnist_5k, or the checkpoint's data].",
)
@click.option(
    "--split",
    type=click.Choice(["train", "test"]),
    default="train",
    show_default=True,
    help="The training or the test part of the data.",
)
@click.option(
    "--maps",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    metavar="N",
    help="Feature maps drawn per convolution and pooling layer (the most active channels).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the untrained weights."
)
@click.option(
    "--as-written",
    is_flag=True,
    help="Untrained weights with Dropout after the softmax, as the lesson's code has it (see "
    "`nbengine summary cnn`); a checkpoint keeps its own order.",
)
@cache_dir_option
@output_options
def trace_cnn(
    index, ckpt, data, split, maps, seed, as_written, cache_dir, json_mode, quiet, precision, full
):
    """One real digit through the lesson's CNN, then one backward pass.

    Forward, in inference mode (dropout passes values through): the image, the
    shape after every layer, a few feature maps of each convolution and pooling
    layer drawn as heat maps, and the ten class probabilities. Backward, as one
    training step would run it (dropout on) but without the update: the loss
    -log p[true class], the gradient of every parameter (its shape and size ‖g‖),
    and the gradient of the loss with respect to the pixels themselves.
    """
    import numpy as np

    from nbengine import explain
    from nbengine.data.images import load_split
    from nbengine.models.cnn import CNN, DEFAULT_DATA, checkpoint_split
    from nbengine_cli.render import render

    out = Output(json_mode, quiet, precision, full)
    model = CNN.load(ckpt) if ckpt else None
    # a checkpoint's own data and split unless --data
    parts = (
        checkpoint_split(model, data, cache_dir)
        if ckpt
        else load_split(data or DEFAULT_DATA, cache_dir=cache_dir)
    )
    out.status(parts.description)
    images = parts.part(split)
    what = _("the train split of {data}") if split == "train" else _("the test split of {data}")
    what = what.format(data=parts.name)
    check_index(index, len(images), what, _("images"))
    if model is None:
        model = CNN(seed, np.float32, as_written, class_names=images.class_names)
    render(
        out,
        explain.cnn(
            model,
            images,
            index,
            data=parts.name,
            split=split,
            checkpoint=ckpt,
            seed=seed,
            maps=maps,
            precision=precision,
        ),
    )
