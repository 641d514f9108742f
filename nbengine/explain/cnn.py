"""One real digit through the CNN lesson's network, forward layer by layer and then one
backward pass, through the model's own layers."""

from __future__ import annotations

import math

import numpy as np

from nbengine.explain.steps import Column, Maps, Steps, Table, fixed
from nbengine.i18n import Msg
from nbengine.trace import to_json_data


def dims(shape) -> str:
    return "×".join(str(s) for s in shape)


def layer_note(layer) -> str:
    """A few words on what a layer computed, short enough for a table column."""
    act = f", {layer.activation}" if getattr(layer, "activation", None) else ""
    if layer.kind == "Conv2D":
        R, S = layer.kernel_size
        return Msg("{n} filters {R}×{S}{act}", n=layer.filters, R=R, S=S, act=act)
    if layer.kind == "MaxPooling2D":
        ph, pw = layer.pool_size
        return Msg("max of {ph}×{pw}, stride {stride}", ph=ph, pw=pw, stride=layer.strides[0])
    if layer.kind == "Flatten":
        return Msg("{shape} in one row", shape=" · ".join(map(str, layer.input_shape)))
    if layer.kind == "Dropout":
        return Msg("off at inference")
    if layer.kind == "Dense":
        if getattr(layer, "emit_logits", False):
            return Msg("{n} logits z (softmax next)", n=layer.units)
        return Msg("{n} units{act}", n=layer.units, act=act)
    return layer.describe()


def cnn(
    model,
    images,
    index: int,
    *,
    data: str = "",
    split: str = "train",
    checkpoint: str | None = None,
    seed: int = 0,
    maps: int = 4,
    precision: int = 4,
) -> Steps:
    """Image ``index`` of ``images`` (an nbengine.data.images set) through ``model`` (a CNN):
    forward in inference mode, the shape after every layer, the ``maps`` most active
    feature maps of each convolution (and the same channels pooled), the probabilities;
    then one training step's backward pass without the update: every parameter's
    gradient and the gradient with respect to the pixels."""
    one = images.subset(np.array([index]))
    x = np.ascontiguousarray(one.as_float(), dtype=model.dtype)
    label = int(one.labels[0])
    names = model.class_names
    true_name = images.class_names[label]
    trained = checkpoint is not None
    if trained:
        epochs = model.extra_config.get("epochs")
        if epochs is not None:
            weights = Msg(
                "the weights of {checkpoint} (trained for {epochs} epochs)",
                checkpoint=checkpoint,
                epochs=epochs,
            )
        else:
            weights = Msg("the weights of {checkpoint}", checkpoint=checkpoint)
    else:
        weights = Msg("untrained weights (random, seed {seed})", seed=seed)
    s = Steps(title="cnn")
    if split == "train":
        s.say(
            Msg(
                "Image {index} of {data} (train split), {about}; {weights}",
                index=index,
                data=data,
                about=Msg("label {label}", label=label)
                if true_name == str(label)
                else Msg("label {label} = {name}", label=label, name=true_name),
                weights=weights,
            ),
            "bold",
        )
    else:
        s.say(
            Msg(
                "Image {index} of {data} (test split), {about}; {weights}",
                index=index,
                data=data,
                about=Msg("label {label}", label=label)
                if true_name == str(label)
                else Msg("label {label} = {name}", label=label, name=true_name),
                weights=weights,
            ),
            "bold",
        )
    if not trained:
        s.say(
            Msg(
                "The weights are untrained (random, seed {seed}), so the prediction is a guess. To trace a "
                "trained network: `nbengine train cnn --save cnn.npz`, then "
                "`nbengine trace cnn --checkpoint cnn.npz`.",
                seed=seed,
            ),
            "yellow",
        )
    s.fact(
        "sample",
        data=data,
        split=split,
        index=index,
        label=label,
        class_name=true_name,
        trained=trained,
        checkpoint=checkpoint,
        seed=None if trained else seed,
        as_written=model.as_written,
    )

    # -- forward, layer by layer, in inference mode -------------------------------------------
    s.tensor(
        "input",
        x[0],
        "pixels / 255",
        Msg("the image, (H, W, C)"),
        view="heatmap",
        palette="grey",
        title=Msg("input {shape}: pixels / 255", shape=dims(x.shape[1:])),
    )
    a = x
    outputs = []
    for layer in model.layers:
        a = layer.forward(a, training=False)
        value = a[0].copy()  # the layer reuses its arrays on the next call
        outputs.append((layer, value))
        s.tensor(
            layer.name,
            value,
            layer.describe(),
            layer_note(layer),
            view="",
            fields={"layer": layer.name, "type": layer.kind},
        )
    probs = model.predict_proba(x)[0]

    rows = [
        {
            "layer": "input",
            "shape": x.shape[1:],
            "note": "pixels / 255",
            "max": float(x.max()),
            "zeros": float(np.mean(x == 0)),
        }
    ]
    rows += [
        {
            "layer": f"{layer.name} ({layer.kind})",
            "shape": value.shape,
            "note": layer_note(layer),
            "max": float(value.max()),
            "zeros": float(np.mean(value == 0)),
        }
        for layer, value in outputs
    ]
    s.append(
        Table(
            Msg(
                "the shape after every layer, for one image (zeros: the share of values that are 0)"
            ),
            (
                Column("layer", Msg("layer (type)")),
                Column("shape", Msg("output shape"), "shape"),
                Column("note", ""),
                Column("max", Msg("max"), "f", "right"),
                Column("zeros", Msg("zeros"), "%", "right"),
            ),
            tuple(rows),
        )
    )

    if maps:
        chosen = None
        for layer, value in outputs:
            if layer.kind == "Conv2D":
                activity = value.mean(axis=(0, 1))
                chosen = [int(c) for c in np.argsort(-activity, kind="stable")[:maps]]
            elif layer.kind != "MaxPooling2D" or chosen is None:
                continue
            which = {
                "layer": layer.name,
                "n": len(chosen),
                "of": value.shape[2],
                "size": dims(value.shape[:2]),
            }
            if layer.kind == "MaxPooling2D":
                title = Msg(
                    "{layer}: {n} of {of} feature maps of {size} (the same channels, pooled)",
                    **which,
                )
            else:
                title = Msg(
                    "{layer}: {n} of {of} feature maps of {size} (the most active)", **which
                )
            s.append(Maps(layer.name, title, tuple(chosen), tuple(value[:, :, c] for c in chosen)))

    predicted = int(np.argmax(probs))
    marks = {
        k: tuple(m for m, hit in (("predicted", k == predicted), ("true", k == label)) if hit)
        for k in range(len(probs))
    }
    s.tensor(
        "probabilities",
        probs,
        "softmax(z) = e^z / Σ e^z",
        Msg("the network's belief in each class"),
        (list(names),),
        view="bars",
        title=Msg("class probabilities (softmax)"),
        marks=marks,
    )
    verdict = Msg("correct") if predicted == label else Msg("wrong")
    s.fact(
        "prediction",
        Msg(
            "predicted {name} (p = {p}), true {true}: {verdict}; the probabilities sum to {total}",
            name=names[predicted],
            p=fixed(probs[predicted], precision),
            true=true_name,
            verdict=verdict,
            total=fixed(probs.sum(dtype=np.float64), precision),
        ),
        predicted=predicted,
        class_name=names[predicted],
        probability=to_json_data(probs[predicted]),
        label=label,
        correct=predicted == label,
        sum=float(probs.sum(dtype=np.float64)),
    )

    # -- backward: one training step without the update ----------------------------------------
    y = np.array([label], np.int64)
    loss = model.loss_and_backward(x, y, input_grad=True)
    dx = model.input_grad[0]
    dropout = next((layer for layer in model.layers if layer.kind == "Dropout"), None)
    kept = dropout.cache.get("keep") if dropout is not None else None
    s.say("")
    drop = (
        Msg(": it kept {kept:,} of {size:,} values", kept=int(kept.sum()), size=kept.size)
        if kept is not None
        else ""
    )
    s.say(
        Msg(
            "Backward, as a training step runs it (dropout on{drop}), without the update: "
            "loss -log p[{true}] = {loss}",
            drop=drop,
            true=true_name,
            loss=fixed(loss, precision),
        ),
        "bold",
    )
    true_dropped = (
        model.as_written
        and kept is not None
        and kept.shape == (1, model.n_classes)
        and kept[0, label] == 0
    )
    if true_dropped:
        s.say(
            Msg(
                "Dropout after the softmax zeroed the probability of the true class {true}: the loss is "
                "-log of the clip, whatever the network computed, and every gradient below is 0 (the lesson's "
                "order; see `nbengine summary cnn`).",
                true=true_name,
            ),
            "yellow",
        )
    grads = []
    for name, g in model.grads.items():
        g64 = g.astype(np.float64)
        grads.append(
            {
                "parameter": name,
                "shape": list(g.shape),
                "norm": float(np.linalg.norm(g64)),
                "max_abs": float(np.abs(g64).max()),
            }
        )
    s.append(
        Table(
            Msg("the gradient of the loss for every parameter"),
            (
                Column("name", Msg("parameter")),
                Column("shape", Msg("shape"), "shape"),
                Column("norm", "‖dL/dθ‖", "e", "right"),
                Column("max_abs", "max |dL/dθ|", "e", "right"),
            ),
            tuple({**g, "name": f"dL/d{g['parameter']}"} for g in grads),
            event="gradient",
            json=tuple(grads),
        )
    )
    s.tensor(
        "dL/dinput",
        dx,
        Msg("the gradient carried back through every layer"),
        Msg("how the loss changes with each pixel"),
        view="heatmap",
        signed=True,
        title=Msg("dL/d(pixels): a brighter pixel raises the loss (+, red) or lowers it (-, blue)"),
    )
    s.fact(
        "result",
        loss=float(loss),
        predicted=predicted,
        label=label,
        correct=predicted == label,
        trained=trained,
        true_class_dropped=bool(true_dropped),
    )
    return s


def keras_shape(shape) -> str:
    """One sample's shape as Keras writes the batch's: (None, 28, 28, 32)."""
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"


def keras_bytes(n: int) -> str:
    """A size as Keras's summary writes it (binary units)."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.2f} B"


def cnn_summary(model) -> Steps:
    """``model`` (a CNN) as Keras's model.summary() prints it, with a note on where its
    Dropout sits: a row per layer (output shape for a batch of None, parameter count)."""
    from nbengine.layers.losses import KERAS_EPSILON

    rows = model.summary()
    s = Steps(title=Msg("cnn summary"))
    layers = [
        {
            "name": r.name,
            "type": r.kind,
            "output_shape": list(r.output_shape),
            "keras_shape": keras_shape(r.output_shape),
            "params": r.params,
            "settings": r.settings,
        }
        for r in rows
    ]
    s.append(
        Table(
            Msg('Model: "cnn" (as the lesson wrote it)')
            if model.as_written
            else Msg('Model: "cnn"'),
            (
                Column("layer", Msg("Layer (type)")),
                Column("keras_shape", Msg("Output Shape")),
                Column("params", Msg("Param #"), "count", "right"),
                Column("settings", Msg("Settings"), wrap=True),
            ),
            tuple({**row, "layer": f"{row['name']} ({row['type']})"} for row in layers),
            event="layer",
            json=tuple(layers),
            box="heavy",
        )
    )
    total = model.n_params
    size = keras_bytes(total * model.dtype.itemsize)
    s.say(
        Msg(
            " Total params: {total:,} ({size})\n Trainable params: {total:,} ({size})\n"
            " Non-trainable params: 0 ({zero})",
            total=total,
            size=size,
            zero=keras_bytes(0),
        )
    )

    names = [r.name for r in rows]
    at = names.index("dropout")
    rate = model.dropout_rate
    clip_loss = -math.log(KERAS_EPSILON)
    eps = f"{KERAS_EPSILON:g}".replace("e-0", "e-")  # 1e-7
    after = Msg("after {layer}", layer=names[at - 1]) if at > 0 else Msg("first")
    if model.as_written:
        where = Msg(
            "Dropout sits {after}, the softmax, as the lesson wrote it. That is a mistake: during "
            "training it zeroes a random {rate:.0%} of the ten class probabilities (and scales the rest "
            "by 1/{keep:g}), so they no longer sum to 1, and when it zeroes the true class the loss "
            "sees a probability of 0, clipped to {eps}: -log({eps}) ≈ "
            "{clip_loss:.1f} whatever the network did, and no gradient flows back from that image. "
            "Without --as-written Dropout sits before the last Dense, on the hidden features.",
            after=after,
            rate=rate,
            keep=1 - rate,
            eps=eps,
            clip_loss=clip_loss,
        )
    else:
        where = Msg(
            "Dropout sits {after}, before the last Dense: during training it zeroes a random {rate:.0%} "
            "of the {features:,} hidden features (and scales the rest by 1/{keep:g}), "
            "so the network cannot rely on any single one; at inference it passes values through. The "
            "lesson's code puts it after the softmax (--as-written), which is a mistake: there it zeroes "
            "class probabilities, so the loss sometimes sees 0 for the true class, clipped to "
            "{eps}: -log({eps}) ≈ {clip_loss:.1f}, and no gradient. Both orders "
            "have the same parameters.",
            after=after,
            rate=rate,
            features=rows[at].output_shape[0],
            keep=1 - rate,
            eps=eps,
            clip_loss=clip_loss,
        )
    s.say(where, style="italic")
    s.fact(
        "result",
        total=total,
        trainable=total,
        non_trainable=0,
        bytes=total * model.dtype.itemsize,
        dtype=model.dtype.name,
        as_written=model.as_written,
        dropout_after=names[at - 1] if at > 0 else None,
    )
    return s
