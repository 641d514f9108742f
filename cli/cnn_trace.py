"""The CNN lesson with computed numbers: the model summary, and one real digit through
the whole network (the worked convolution and pooling are in trace/conv.py and pool.py).
The engine is imported inside each command, so `nbengine --help` stays instant.
"""

from __future__ import annotations

import math

import click
from rich import box
from rich.columns import Columns
from rich.table import Table
from rich.text import Text

from nbengine_cli.cnn import DEFAULT_DATA, checkpoint_data
from nbengine_cli.data import cache_dir_option
from nbengine_cli.output import Output, json_options, output_options

def say(out: Output, text: str, style: str = "") -> None:
    """A line of prose: left whole for the terminal to wrap (so copied commands stay whole)."""
    from rich.markup import escape

    out.show(f"[{style}]{escape(text)}[/]" if style else escape(text))


def dims(shape) -> str:
    return "×".join(str(s) for s in shape)


# -- summary ------------------------------------------------------------------------------------

def keras_shape(shape) -> str:
    """One sample's shape as Keras writes the batch's: (None, 28, 28, 32)."""
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"


def keras_bytes(n: int) -> str:
    """A size as Keras's summary writes it (binary units)."""
    for unit, scale in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.2f} B"


@click.command("cnn", short_help="The lesson's CNN layer by layer: output shapes and parameter counts.")
@click.option("--as-written", is_flag=True,
              help="Dropout after the softmax, where the lesson's code puts it (a mistake: see the note).")
@json_options
def summary_cnn(as_written, json_mode, quiet):
    """The lesson's CNN as Keras's model.summary() prints it.

    Each row is a layer: its output shape for a batch of None (any number of)
    images, and its parameter count: a Conv2D has R·S·C·K weights and K biases
    (3·3·1·32 + 32 = 320 for conv1), a Dense D·M weights and M biases
    (3136·1024 + 1024 for dense1); pooling, Flatten and Dropout learn nothing.
    """
    from nbengine.layers.losses import KERAS_EPSILON
    from nbengine.models.cnn import CNN

    out = Output(json_mode, quiet)
    model = CNN(seed=0, as_written=as_written)
    rows = model.summary()
    t = Table(title='Model: "cnn"' + (" (as the lesson wrote it)" if as_written else ""), title_justify="left")
    t.add_column("Layer (type)", no_wrap=True)
    t.add_column("Output Shape", no_wrap=True)
    t.add_column("Param #", justify="right", no_wrap=True)
    t.add_column("Settings")
    for r in rows:
        t.add_row(f"{r.name} ({r.kind})", keras_shape(r.output_shape), f"{r.params:,}", r.settings)
        out.emit("layer", name=r.name, type=r.kind, output_shape=list(r.output_shape),
                 keras_shape=keras_shape(r.output_shape), params=r.params, settings=r.settings)
    out.show(t)
    total = model.n_params
    size = keras_bytes(total * model.dtype.itemsize)
    out.show(Text(f" Total params: {total:,} ({size})\n"
                  f" Trainable params: {total:,} ({size})\n"
                  f" Non-trainable params: 0 ({keras_bytes(0)})"))

    names = [r.name for r in rows]
    at = names.index("dropout")
    rate = model.dropout_rate
    clip_loss = -math.log(KERAS_EPSILON)
    eps = f"{KERAS_EPSILON:g}".replace("e-0", "e-")  # 1e-7
    after = f"after {names[at - 1]}" if at > 0 else "first"
    if as_written:
        where = (f"Dropout sits {after}, the softmax, as the lesson wrote it. That is a mistake: during "
                 f"training it zeroes a random {rate:.0%} of the ten class probabilities (and scales the rest "
                 f"by 1/{1 - rate:g}), so they no longer sum to 1, and when it zeroes the true class the loss "
                 f"sees a probability of 0, clipped to {eps}: -log({eps}) ≈ "
                 f"{clip_loss:.1f} whatever the network did, and no gradient flows back from that image. "
                 f"Without --as-written Dropout sits before the last Dense, on the hidden features.")
    else:
        where = (f"Dropout sits {after}, before the last Dense: during training it zeroes a random {rate:.0%} "
                 f"of the {rows[at].output_shape[0]:,} hidden features (and scales the rest by 1/{1 - rate:g}), "
                 f"so the network cannot rely on any single one; at inference it passes values through. The "
                 f"lesson's code puts it after the softmax (--as-written), which is a mistake: there it zeroes "
                 f"class probabilities, so the loss sometimes sees 0 for the true class, clipped to "
                 f"{eps}: -log({eps}) ≈ {clip_loss:.1f}, and no gradient. Both orders "
                 f"have the same parameters.")
    say(out, where, "italic")
    out.emit("result", total=total, trainable=total, non_trainable=0, bytes=total * model.dtype.itemsize,
             dtype=model.dtype.name, as_written=as_written, dropout_after=names[at - 1] if at > 0 else None)


# -- trace cnn ----------------------------------------------------------------------------------

def layer_note(layer) -> str:
    """A few words on what a layer computed, short enough for a table column."""
    act = f", {layer.activation}" if getattr(layer, "activation", None) else ""
    if layer.kind == "Conv2D":
        R, S = layer.kernel_size
        return f"{layer.filters} filters {R}×{S}{act}"
    if layer.kind == "MaxPooling2D":
        ph, pw = layer.pool_size
        return f"max of {ph}×{pw}, stride {layer.strides[0]}"
    if layer.kind == "Flatten":
        return " · ".join(map(str, layer.input_shape)) + " in one row"
    if layer.kind == "Dropout":
        return "off at inference"
    if layer.kind == "Dense":
        if getattr(layer, "emit_logits", False):
            return f"{layer.units} logits z (softmax next)"
        return f"{layer.units} units{act}"
    return layer.describe()


@click.command("cnn", short_help="One real digit through the CNN, forward and backward.")
@click.option("--index", "-i", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which image of the split, counting from 0.")
@click.option("--checkpoint", "ckpt", type=click.Path(dir_okay=False), default=None, metavar="CKPT",
              help="A checkpoint written by `nbengine train cnn --save`  [default: untrained weights].")
@click.option("--data", default=None, metavar="NAME|PATH",
              help=f"Image data: a shipped or fetched set's name, a CSV or IDX file, or an MNIST folder  "
                   f"[default: {DEFAULT_DATA}, or the checkpoint's data].")
@click.option("--split", type=click.Choice(["train", "test"]), default="train", show_default=True,
              help="The training or the test part of the data.")
@click.option("--maps", type=click.IntRange(min=0), default=4, show_default=True, metavar="N",
              help="Feature maps drawn per convolution and pooling layer (the most active channels).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the untrained weights.")
@click.option("--as-written", is_flag=True,
              help="Untrained weights with Dropout after the softmax, as the lesson's code has it (see "
                   "`nbengine summary cnn`); a checkpoint keeps its own order.")
@cache_dir_option
@output_options
def trace_cnn(index, ckpt, data, split, maps, seed, as_written, cache_dir, json_mode, quiet, precision, full):
    """One real digit through the lesson's CNN, then one backward pass.

    Forward, in inference mode (dropout passes values through): the image, the
    shape after every layer, a few feature maps of each convolution and pooling
    layer drawn as heat maps, and the ten class probabilities. Backward, as one
    training step would run it (dropout on) but without the update: the loss
    -log p[true class], the gradient of every parameter (its shape and size ‖g‖),
    and the gradient of the loss with respect to the pixels themselves.
    """
    import numpy as np

    from nbengine.data.images import load_split
    from nbengine.models.cnn import CNN
    from nbengine.trace import Step, Tracer, step_to_dict, to_json_data
    from nbengine_cli.render.heatmap import heatmap

    out = Output(json_mode, quiet, precision, full)
    if ckpt:
        model = CNN.load(ckpt)
        parts = checkpoint_data(model, data, cache_dir)  # the checkpoint's data and split unless --data
    else:
        model = None
        parts = load_split(data or DEFAULT_DATA, cache_dir=cache_dir)
    out.status(parts.description)
    images = parts.train if split == "train" else parts.test
    n = len(images)
    if index >= n:
        raise click.BadParameter(f"the {split} split of {parts.name} has {n:,} images (0 to {n - 1}), so {index} "
                                 f"is out of range", param_hint="'--index'")
    if model is None:
        model = CNN(seed, np.float32, as_written, class_names=images.class_names)
    one = images.subset(np.array([index]))
    x = np.ascontiguousarray(one.as_float(), dtype=model.dtype)
    label = int(one.labels[0])
    names = model.class_names
    true_name = images.class_names[label]

    trained = ckpt is not None
    if trained:
        epochs = model.extra_config.get("epochs")
        weights = f"the weights of {ckpt}" + (f" (trained for {epochs} epochs)" if epochs is not None else "")
    else:
        weights = f"untrained weights (random, seed {seed})"
    about = f"label {label}" + (f" = {true_name}" if true_name != str(label) else "")
    say(out, f"Image {index} of {parts.name} ({split} split), {about}; {weights}", "bold")
    if not trained:
        say(out, f"The weights are untrained (random, seed {seed}), so the prediction is a guess. To trace a "
            f"trained network: `nbengine train cnn --save cnn.npz`, then "
            f"`nbengine trace cnn --checkpoint cnn.npz`.", "yellow")
    out.emit("sample", data=parts.name, split=split, index=index, label=label, class_name=true_name,
             trained=trained, checkpoint=ckpt, seed=None if trained else seed, as_written=model.as_written)

    # -- forward, layer by layer, in inference mode -------------------------------------------
    out.show(heatmap(x[0, :, :, 0], palette="grey", title=f"input {dims(x.shape[1:])}: pixels / 255"))
    out.emit("trace", **step_to_dict(Step("input", x[0], "pixels / 255", "the image, (H, W, C)")))
    a = x
    outputs = []
    for layer in model.layers:
        a = layer.forward(a, training=False)
        value = a[0].copy()  # the layer reuses its arrays on the next call
        outputs.append((layer, value))
        out.emit("trace", layer=layer.name, type=layer.kind,
                 **step_to_dict(Step(layer.name, value, layer.describe(), layer_note(layer))))
    probs = model.predict_proba(x)[0]

    t = Table(title="the shape after every layer, for one image (zeros: the share of values that are 0)",
              title_justify="left", box=box.SIMPLE_HEAD)
    for col, justify in (("layer (type)", "left"), ("output shape", "left"), ("", "left"), ("max", "right"),
                         ("zeros", "right")):
        t.add_column(col, justify=justify, no_wrap=True)
    t.add_row("input", f"{tuple(x.shape[1:])}", "pixels / 255", f"{x.max():.{precision}f}", f"{np.mean(x == 0):.0%}")
    for layer, value in outputs:
        t.add_row(f"{layer.name} ({layer.kind})", str(tuple(value.shape)), layer_note(layer),
                  f"{value.max():.{precision}f}", f"{np.mean(value == 0):.0%}")
    out.show(t)

    if maps:
        chosen = None
        for layer, value in outputs:
            if layer.kind == "Conv2D":
                activity = value.mean(axis=(0, 1))
                chosen = [int(c) for c in np.argsort(-activity, kind="stable")[:maps]]
            elif layer.kind != "MaxPooling2D" or chosen is None:
                continue
            C = value.shape[2]
            same = " (the same channels, pooled)" if layer.kind == "MaxPooling2D" else " (the most active)"
            say(out, f"{layer.name}: {len(chosen)} of {C} feature maps of {dims(value.shape[:2])}{same}",
                "bold")
            out.show(Columns([heatmap(value[:, :, c], signed=False, title=f"channel {c}") for c in chosen],
                             padding=(0, 2)))
            out.emit("maps", layer=layer.name, channels=chosen)

    predicted = int(np.argmax(probs))
    pt = Table(title="class probabilities (softmax)", title_justify="left", box=box.SIMPLE_HEAD)
    pt.add_column("class")
    pt.add_column("probability", justify="right")
    pt.add_column("")
    pt.add_column("")
    for k, p in enumerate(probs):
        marks = [m for m, hit in (("predicted", k == predicted), ("true", k == label)) if hit]
        bar = "█" * int(round(p * 30))
        style = "bold green" if k == predicted == label else "bold red" if k == predicted else ""
        pt.add_row(names[k], Text(f"{p:.{precision}f}", style=style), bar, " and ".join(marks))
    out.show(pt)
    verdict = "correct" if predicted == label else "wrong"
    say(out, f"predicted {names[predicted]} (p = {probs[predicted]:.{precision}f}), true {true_name}: "
        f"{verdict}; the probabilities sum to {probs.sum(dtype=np.float64):.{precision}f}")
    out.emit("trace", **step_to_dict(Step("probabilities", probs, "softmax(z) = e^z / Σ e^z",
                                          "the network's belief in each class", (list(names),))))
    out.emit("prediction", predicted=predicted, class_name=names[predicted],
             probability=to_json_data(probs[predicted]), label=label, correct=predicted == label,
             sum=float(probs.sum(dtype=np.float64)))

    # -- backward: one training step without the update ----------------------------------------
    y = np.array([label], np.int64)
    with Tracer() as tracer:
        loss = model.loss_and_backward(x, y, input_grad=True)
    dx = model.input_grad[0]
    kept = next((s.value for s in tracer.steps if s.name.endswith("mask")), None)
    out.show("")
    drop = f": it kept {int(kept.sum()):,} of {kept.size:,} values" if kept is not None else ""
    say(out, f"Backward, as a training step runs it (dropout on{drop}), without the update: "
        f"loss -log p[{true_name}] = {loss:.{precision}f}", "bold")
    true_dropped = (model.as_written and kept is not None and kept.shape == (1, model.n_classes)
                    and kept[0, label] == 0)
    if true_dropped:
        say(out, f"Dropout after the softmax zeroed the probability of the true class {true_name}: the loss is "
            f"-log of the clip, whatever the network computed, and every gradient below is 0 (the lesson's "
            f"order; see `nbengine summary cnn`).", "yellow")
    gt = Table(title="the gradient of the loss for every parameter", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("parameter", "shape", "‖dL/dθ‖", "max |dL/dθ|"):
        gt.add_column(col, justify="left" if col in ("parameter", "shape") else "right", no_wrap=True)
    for name, g in model.grads.items():
        g64 = g.astype(np.float64)
        norm, biggest = float(np.linalg.norm(g64)), float(np.abs(g64).max())
        gt.add_row(f"dL/d{name}", str(tuple(g.shape)), f"{norm:.{precision}e}", f"{biggest:.{precision}e}")
        out.emit("gradient", parameter=name, shape=list(g.shape), norm=norm, max_abs=biggest)
    out.show(gt)
    out.show(heatmap(dx[:, :, 0].astype(np.float64), signed=True,
                     title="dL/d(pixels): a brighter pixel raises the loss (+, red) or lowers it (-, blue)"))
    out.emit("trace", **step_to_dict(Step("dL/dinput", dx, "the gradient carried back through every layer",
                                          "how the loss changes with each pixel")))
    out.emit("result", loss=float(loss), predicted=predicted, label=label, correct=predicted == label,
             trained=trained, true_class_dropped=bool(true_dropped))
