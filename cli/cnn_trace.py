"""The CNN lesson with computed numbers: the model summary, the worked examples of
convolution and max pooling, and one real digit through the whole network.

Every number shown is computed by the engine's kernels (the convolution that
`--kernels` picks, conv2d_forward_naive or conv2d_forward; maxpool_forward,
maxpool_backward; the CNN's layers), never typed in.
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
from nbengine_cli.options import reordered_note
from nbengine_cli.output import Output, json_options, output_options

# The lesson's worked example of a convolution. The first window and the filter are
# read off the lesson's sum 1·1+0·0+2·0+0·2+2·1+1·3+0·0+2·0+1·1 = 7 (window values
# times filter values); the other cells are chosen so the four outputs, sliding right
# and then down-left, are the lesson's 7, 6, 10, 7. The cells X[0,3], X[3,0], X[3,1]
# meet only zeros of the filter, so any values do there. X[3,3] must be -3: the 6
# forces X[1,3] = 0 and X[2,3] = 1, the 10 forces X[3,2] = 5, and the last window is
# then 10 + X[3,3].
LESSON_INPUT = [[1, 0, 2, 3],
                [0, 2, 1, 0],
                [0, 2, 1, 1],
                [2, 1, 5, -3]]
LESSON_FILTER = [[1, 0, 0],
                 [2, 1, 3],
                 [0, 0, 1]]

# Max pooling: a 4×4 map whose 2×2 windows have the lesson's maxima 5, 8, 5, 4, each
# in another corner of its window; and an upstream gradient with four different
# values, so it is plain which output's gradient went where.
POOL_INPUT = [[1, 5, 2, 1],
              [3, 0, 8, 6],
              [5, 2, 1, 3],
              [1, 4, 2, 4]]
POOL_UPSTREAM = [[1, 2],
                 [3, 4]]

WINDOW_STYLE = "bold yellow"
PICK_STYLE = "bold reverse"
PAD_STYLE = "dim"


# -- small matrices as text ---------------------------------------------------------------------

def cell_format(values, precision: int):
    """Whole numbers as whole numbers (7, not 7.0000); anything else with the precision."""
    import numpy as np

    from nbengine_cli.render import number_format

    v = np.asarray(values)
    if v.size and np.all(np.isfinite(v)) and np.all(v == np.round(v)):
        return lambda x: str(int(round(float(x))))
    return number_format(v, precision)


def bracket(values, fmt, styles: dict | None = None) -> list[Text]:
    """A matrix between tall brackets, one Text per line; styles maps (row, col) to a style."""
    rows, cols = values.shape
    cells = [[fmt(values[r, c]) for c in range(cols)] for r in range(rows)]
    width = max(len(s) for row in cells for s in row)
    lines = []
    for r in range(rows):
        if rows == 1:
            left, right = "[", "]"
        else:
            left, right = ("⎡", "⎤") if r == 0 else ("⎣", "⎦") if r == rows - 1 else ("⎢", "⎥")
        line = Text(left)
        for c in range(cols):
            line.append(" " if c else "")
            line.append(cells[r][c].rjust(width), (styles or {}).get((r, c), ""))
        line.append(right)
        lines.append(line)
    return lines


def beside(*blocks, gap: int = 1) -> Text:
    """Blocks side by side, centred on each other. A block is a list of Text lines, or a
    string (an operator like "⊙" or "=") that sits on the middle line."""
    height = max(len(b) for b in blocks if isinstance(b, list))
    columns = []
    for b in blocks:
        if isinstance(b, list):
            width = max(t.cell_len for t in b)
            top = (height - len(b)) // 2
            lines = [None] * top + b + [None] * (height - top - len(b))
        else:
            width = len(b)
            lines = [None] * height
            lines[(height - 1) // 2] = Text(b)
        columns.append((width, lines))
    rows = []
    for r in range(height):
        line = Text()
        for k, (width, lines) in enumerate(columns):
            t = lines[r] or Text()
            line.append_text(t)
            if k < len(columns) - 1:
                line.append(" " * (width - t.cell_len + gap))
        line.rstrip()
        rows.append(line)
    out = Text("\n", no_wrap=True, overflow="crop").join(rows)
    out.no_wrap, out.overflow = True, "crop"
    return out


def product_sum(window, filt, fmt) -> str:
    """The lesson's way of writing a window's sum: 1·1 + 0·0 + ... (negatives in brackets)."""
    def term(v):
        s = fmt(v)
        return f"({s})" if s.startswith("-") else s

    return " + ".join(f"{term(a)}·{term(b)}" for a, b in zip(window.reshape(-1), filt.reshape(-1)))


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


# -- trace conv ---------------------------------------------------------------------------------

def run_conv(x, f, stride: int, padding: int):
    """The engine's convolution of one 2-D input with one 2-D filter, in float64.

    Returns (output, padding before rows, padding before columns)."""
    import numpy as np

    from nbengine.kernels.conv2d import conv2d_forward, output_size
    from nbengine.kernels.registry import kernel

    H, W = x.shape
    R, S = f.shape
    OH, pt, _ = output_size(H, R, stride, padding)
    OW, pl, _ = output_size(W, S, stride, padding)
    out = np.zeros((1, OH, OW, 1), np.float64)
    kernel(conv2d_forward)(out, np.ascontiguousarray(x.reshape(1, H, W, 1), np.float64),
                           np.ascontiguousarray(f.reshape(R, S, 1, 1), np.float64), np.zeros(1, np.float64),
                           stride, stride, pt, pl)
    return out[0, :, :, 0], pt, pl


def size_formula(H: int, P: int, R: int, S: int) -> str:
    """(H + 2P − R)/S + 1 with the numbers put in, and its value (the division rounds down)."""
    num = H + 2 * P - R
    written = f"({H} + 2·{P} − {R})/{S} + 1 = "
    written += f"{num}/{S} + 1" if num % S == 0 else f"⌊{num}/{S}⌋ + 1"
    return f"{written} = {num // S + 1}"


def show_windows(out: Output, case: str, xp, f, y, stride: int, fmt, label: str) -> None:
    """Each window of xp (the input, padded if it is), in sliding order: right, then
    down to the left edge. The sum shown is the kernel's output y[i, j]."""
    R, S = f.shape
    OH, OW = y.shape
    step = 0
    for i in range(OH):
        for j in range(OW):
            step += 1
            p, q = i * stride, j * stride
            window = xp[p:p + R, q:q + S]
            products = window * f
            inside = {(r, c): WINDOW_STYLE for r in range(p, p + R) for c in range(q, q + S)}
            say(out, f"{step}. output ({i}, {j}): the window at rows {p}–{p + R - 1}, columns {q}–{q + S - 1}"
                f" of {label}", "bold")
            total = y[i, j]
            out.show(beside(bracket(xp, fmt, inside), "→", bracket(window, fmt), "⊙", bracket(f, fmt), "=",
                            bracket(products, fmt), "→", f"sum = {fmt(total)}"))
            say(out, f"   {product_sum(window, f, fmt)} = {fmt(total)}", "dim")
            out.emit("window", case=case, step=step, position=[i, j], rows=[p, p + R - 1], columns=[q, q + S - 1],
                     window=window.tolist(), products=products.tolist(), sum=float(total))


@click.command("conv", short_help="The lesson's convolution worked out: every window, padding, stride.")
@output_options
def trace_conv(json_mode, quiet, precision, full):
    """The lesson's worked convolution, every number computed by the engine's kernel.

    A 3×3 filter F slides over a 4×4 input X. At each position the window of X under
    F is multiplied by F element by element and the nine products are added: that
    sum is one output. The filter moves one column right, and at the right edge back
    to the left and one row down, so 4×4 gives 2×2 outputs: 7, 6, 10, 7.

    Then the same input with zero padding 1 (a ring of zeros, so the output keeps
    the input's 4×4 size) and with stride 2 (the filter jumps two cells at a time).
    The output size is (H + 2P − R)/S + 1, rounded down: H the input size, P the
    padding, R the filter size, S the stride.
    """
    import numpy as np

    from nbengine.kernels.conv2d import conv2d_forward
    from nbengine.kernels.registry import name_of
    from nbengine.trace import Step, step_to_dict

    out = Output(json_mode, quiet, precision, full)
    kernel = name_of(conv2d_forward)  # the loop that runs: the naive one, or the fast one
    x = np.array(LESSON_INPUT, np.float64)
    f = np.array(LESSON_FILTER, np.float64)
    H, R = x.shape[0], f.shape[0]

    def emit_trace(case, name, value, formula="", note="", **fields):
        out.emit("trace", case=case, **fields, **step_to_dict(Step(name, value, formula, note)))

    # 1. No padding, stride 1: the lesson's four windows.
    y, _, _ = run_conv(x, f, 1, 0)
    fmt = cell_format(np.concatenate([x.ravel(), f.ravel(), y.ravel()]), precision)
    say(out, "Convolution as the lesson works it: a 4×4 input X and a 3×3 filter F, stride 1, no padding",
        "bold")
    say(out, "Each output is the sum of the window of X under F times F, element by element (⊙). "
        f"Computed by {kernel} in float64.", "italic dim")
    note = reordered_note(conv2d_forward)
    if note:
        say(out, note, "dim")
    out.show(beside([Text("X =")], bracket(x, fmt), [Text("   F =")], bracket(f, fmt)))
    rest = y[1, 1] - x[3, 3] * f[2, 2]  # the last window's sum without its corner cell
    say(out, f"X[3, 3] is {fmt(x[3, 3])}: the outputs {fmt(y[0, 1])} and {fmt(y[1, 0])} fix X[1, 3], X[2, 3] "
        f"and X[3, 2], and the last window then sums to {fmt(rest)} + X[3, 3], so the lesson's {fmt(y[1, 1])} needs "
        f"{fmt(x[3, 3])} (a feature map after a layer without ReLU can hold negative values).",
        "dim")
    out.show("")
    emit_trace("valid", "X", x, "", "the input")
    emit_trace("valid", "F", f, "", "the filter")
    show_windows(out, "valid", x, f, y, 1, fmt, "X")
    formula = size_formula(H, 0, R, 1)
    out.show("")
    out.show(beside([Text("output =")], bracket(y, fmt), [Text(f"   {dims(y.shape)}: {formula}")]))
    emit_trace("valid", "Y", y, "Y[i, j] = Σ over r, s of X[i + r, j + s]·F[r, s]", "the output", stride=1,
               padding=0, output_size=formula, kernel=kernel)

    # 2. Zero padding 1: the output keeps the input's size.
    yp, pt, pl = run_conv(x, f, 1, 1)
    xp = np.pad(x, ((pt, pt), (pl, pl)))
    pad_cells = {(r, c): PAD_STYLE for r in range(xp.shape[0]) for c in range(xp.shape[1])
                 if not (pt <= r < pt + H and pl <= c < pl + x.shape[1])}
    fmt_p = cell_format(np.concatenate([yp.ravel(), x.ravel()]), precision)
    formula = size_formula(H, 1, R, 1)
    out.show("")
    say(out, "With zero padding 1: a ring of zeros around X, so the filter can centre on every cell",
        "bold")
    out.show(beside([Text("padded X =")], bracket(xp, fmt_p, pad_cells), "→", [Text("output =")],
                    bracket(yp, fmt_p)))
    out.show(f"output {dims(yp.shape)}, the input's size: {formula}")
    emit_trace("padded", "X padded", xp, "zeros around X", "the input with padding 1")
    emit_trace("padded", "Y", yp, "Y[i, j] = Σ over r, s of Xpadded[i + r, j + s]·F[r, s]", "the output",
               stride=1, padding=1, output_size=formula, kernel=kernel)

    # 3. Stride 2 (with padding 1): the filter jumps two cells at a time.
    ys, _, _ = run_conv(x, f, 2, 1)
    formula = size_formula(H, 1, R, 2)
    unpadded = size_formula(H, 0, R, 2)
    out.show("")
    say(out, "With stride 2 and padding 1: the window moves two cells at a time", "bold")
    show_windows(out, "strided", xp, f, ys, 2, cell_format(np.concatenate([ys.ravel(), x.ravel()]), precision),
                 "the padded X")
    out.show("")
    out.show(beside([Text("output =")], bracket(ys, fmt_p), [Text(f"   {dims(ys.shape)}: {formula}")]))
    say(out, f"Rounding down drops a window that would hang over the edge. Stride 2 without padding: "
        f"{unpadded}, a single window.", "dim")
    emit_trace("strided", "Y", ys, "Y[i, j] = Σ over r, s of Xpadded[2i + r, 2j + s]·F[r, s]", "the output",
               stride=2, padding=1, output_size=formula, kernel=kernel)


# -- trace pool ---------------------------------------------------------------------------------

@click.command("pool", short_help="The lesson's max pooling worked out, forward and backward.")
@output_options
def trace_pool(json_mode, quiet, precision, full):
    """2×2 max pooling with stride 2, forward and backward, computed by the kernels.

    Forward: each 2×2 window of the 4×4 map becomes its largest value, so the map
    shrinks to 2×2 and keeps the strongest response of each region.

    Backward: only the largest value of a window reached the output, so only it
    gets the output's gradient; nudging any other value of the window would not
    change the output, so their gradient is 0.
    """
    import numpy as np

    from nbengine.kernels.conv2d import output_size
    from nbengine.kernels.maxpool import maxpool_backward, maxpool_forward
    from nbengine.trace import Step, step_to_dict

    out = Output(json_mode, quiet, precision, full)
    x = np.array(POOL_INPUT, np.float64)
    H, W = x.shape
    size, stride = 2, 2
    OH, pt, _ = output_size(H, size, stride, "valid")
    OW, pl, _ = output_size(W, size, stride, "valid")
    y = np.zeros((1, OH, OW, 1), np.float64)
    arg = np.zeros((1, OH, OW, 1), np.int32)
    maxpool_forward(y, arg, x.reshape(1, H, W, 1), size, size, stride, stride, pt, pl)
    y, arg = y[0, :, :, 0], arg[0, :, :, 0]
    fmt = cell_format(x, precision)

    def emit_trace(name, value, formula="", note=""):
        out.emit("trace", **step_to_dict(Step(name, value, formula, note)))

    say(out, f"Max pooling, {size}×{size} windows, stride {stride}, on a {H}×{W} feature map", "bold")
    say(out, "Computed by maxpool_forward and maxpool_backward in float64.", "italic dim")
    out.show(beside([Text("X =")], bracket(x, fmt)))
    out.show("")
    emit_trace("X", x, "", "the feature map")
    winners = {}
    step = 0
    for i in range(OH):
        for j in range(OW):
            step += 1
            p, q = i * stride, j * stride
            r, c = divmod(int(arg[i, j]), W)
            winners[(r, c)] = (i, j)
            styles = {(a, b): WINDOW_STYLE for a in range(p, p + size) for b in range(q, q + size)}
            styles[(r, c)] = PICK_STYLE
            window = x[p:p + size, q:q + size]
            say(out, f"{step}. output ({i}, {j}): the window at rows {p}–{p + size - 1}, "
                f"columns {q}–{q + size - 1}", "bold")
            out.show(beside(bracket(x, fmt, styles), "→", bracket(window, fmt, {(r - p, c - q): PICK_STYLE}), "→",
                            f"max = {fmt(y[i, j])}, at row {r}, column {c} of X"))
            out.emit("window", step=step, position=[i, j], rows=[p, p + size - 1], columns=[q, q + size - 1],
                     window=window.tolist(), max=float(y[i, j]), argmax=[r, c])
    out.show("")
    out.show(beside([Text("output =")], bracket(y, fmt),
                    [Text(f"   {dims(y.shape)}: (H − R)/S + 1 = ({H} − {size})/{stride} + 1 = {OH}")]))
    emit_trace("Y", y, "Y[i, j] = max of the window", "the pooled map")

    dout = np.array(POOL_UPSTREAM, np.float64)
    dx = np.zeros((1, H, W, 1), np.float64)
    maxpool_backward(dx, dout.reshape(1, OH, OW, 1).copy(), arg.reshape(1, OH, OW, 1).copy())
    dx = dx[0, :, :, 0]
    fmt_g = cell_format(np.concatenate([dout.ravel(), dx.ravel()]), precision)
    picks = {rc: PICK_STYLE for rc in winners}
    out.show("")
    say(out, "Backward: the gradient of each output goes to where its window's max was; "
        "every other position gets 0", "bold")
    out.show(beside([Text("dL/dY =")], bracket(dout, fmt_g), "→", [Text("dL/dX =")], bracket(dx, fmt_g, picks)))
    for (r, c), (i, j) in sorted(winners.items(), key=lambda kv: kv[1]):
        say(out, f"   dL/dX[{r}, {c}] = dL/dY[{i}, {j}] = {fmt_g(dx[r, c])}   "
            f"(X[{r}, {c}] = {fmt(x[r, c])} was the max of window ({i}, {j}))", "dim")
    emit_trace("dL/dY", dout, "", "the gradient arriving from the next layer (given)")
    emit_trace("dL/dX", dx, "dL/dX[p, q] = dL/dY[i, j] where (p, q) was the max of window (i, j), else 0",
               "the gradient routed back to the feature map")


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
    from nbengine_cli.heatmap import heatmap

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
