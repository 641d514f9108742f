"""The CNN lesson's worked examples, computed by the engine's own layers: a Conv2D with
the lesson's filter as its weights, and a MaxPool2D, run forward (and pooling backward)
in float64 on the inputs of :mod:`nbengine.explain.lessons`."""

from __future__ import annotations

import numpy as np

from nbengine.explain.lessons import CONV_FILTER, CONV_INPUT, POOL_INPUT, POOL_UPSTREAM
from nbengine.explain.steps import Figure, Steps, Window, tensor
from nbengine.i18n import Msg
from nbengine.kernels.conv2d import conv2d_forward
from nbengine.kernels.registry import name_of, reordered_note
from nbengine.layers.conv2d import Conv2D
from nbengine.layers.pooling import MaxPool2D


def whole(v) -> str:
    """A number of the worked examples as the lesson writes it: 7, not 7.0."""
    v = float(v)
    return str(int(v)) if v == round(v) else f"{v:g}"


def convolve(
    x: np.ndarray, f: np.ndarray, stride: int, padding: int
) -> tuple[np.ndarray, int, int]:
    """One 2-D input through a Conv2D layer whose one filter is f (no bias, no activation),
    in float64. Returns (output, padding before rows, padding before columns)."""
    H, W = x.shape
    layer = Conv2D("conv", 1, f.shape, (stride, stride), padding, activation=None)
    layer.build((H, W, 1), np.float64, np.random.default_rng(0))
    layer.params["w"][...] = f.reshape(f.shape + (1, 1))
    layer.params["b"][...] = 0
    y = layer.forward(np.ascontiguousarray(x.reshape(1, H, W, 1), np.float64), training=False)
    return y[0, :, :, 0].copy(), layer.pt, layer.pl


def size_formula(H: int, P: int, R: int, S: int) -> str:
    """(H + 2P − R)/S + 1 with the numbers put in, and its value (the division rounds down)."""
    num = H + 2 * P - R
    written = f"({H} + 2·{P} − {R})/{S} + 1 = "
    written += f"{num}/{S} + 1" if num % S == 0 else f"⌊{num}/{S}⌋ + 1"
    return f"{written} = {num // S + 1}"


def dims(shape) -> str:
    return "×".join(str(s) for s in shape)


def _windows(steps: Steps, case: str, xp, f, y, stride: int, of: str) -> None:
    R, S = f.shape
    OH, OW = y.shape
    number = 0
    for i in range(OH):
        for j in range(OW):
            number += 1
            p, q = i * stride, j * stride
            steps.append(
                Window(
                    number,
                    (i, j),
                    (p, p + R - 1),
                    (q, q + S - 1),
                    xp,
                    of,
                    f,
                    float(y[i, j]),
                    case=case,
                )
            )


def conv_windows(input=CONV_INPUT, filter=CONV_FILTER) -> Steps:
    """The lesson's worked convolution: every window of a 3×3 filter over a 4×4 input with
    stride 1, then with zero padding 1, then stride 2 (computed by a Conv2D layer)."""
    x = np.array(input, np.float64)
    f = np.array(filter, np.float64)
    H, R = x.shape[0], f.shape[0]
    kernel = name_of(conv2d_forward)  # the loop that runs: the naive one, or the fast one
    steps = Steps(title="convolution")

    y, _, _ = convolve(x, f, 1, 0)
    steps.say(
        Msg(
            "Convolution as the lesson works it: a 4×4 input X and a 3×3 filter F, stride 1, no padding"
        ),
        "bold",
    )
    steps.say(
        Msg(
            "Each output is the sum of the window of X under F times F, element by element (⊙). "
            "Computed by {kernel} in float64.",
            kernel=kernel,
        ),
        style="italic dim",
    )
    note = reordered_note(conv2d_forward)
    if note:
        steps.say(note, "dim")
    steps.append(
        Figure(
            (
                tensor("X", x, "", Msg("the input"), fields={"case": "valid"}),
                tensor("F", f, "", Msg("the filter"), fields={"case": "valid"}),
            ),
            labels={0: "X =", 1: "   F ="},
        )
    )
    if x.shape == (4, 4) and f.shape == (3, 3):
        rest = y[1, 1] - x[3, 3] * f[2, 2]  # the last window's sum without its corner cell
        steps.say(
            Msg(
                "X[3, 3] is {corner}: the outputs {a} and {b} fix X[1, 3], X[2, 3] and X[3, 2], and the last "
                "window then sums to {rest} + X[3, 3], so the lesson's {last} needs {corner} (a feature map "
                "after a layer without ReLU can hold negative values).",
                corner=whole(x[3, 3]),
                a=whole(y[0, 1]),
                b=whole(y[1, 0]),
                rest=whole(rest),
                last=whole(y[1, 1]),
            ),
            "dim",
        )
    steps.say("")
    _windows(steps, "valid", x, f, y, 1, "X")
    formula = size_formula(H, 0, R, 1)
    steps.say("")
    steps.append(
        Figure(
            (
                tensor(
                    "Y",
                    y,
                    Msg("Y[i, j] = Σ over r, s of X[i + r, j + s]·F[r, s]"),
                    Msg("the output"),
                    fields={
                        "case": "valid",
                        "stride": 1,
                        "padding": 0,
                        "output_size": formula,
                        "kernel": kernel,
                    },
                ),
                f"   {dims(y.shape)}: {formula}",
            ),
            labels={0: Msg("output =")},
        )
    )

    # Zero padding 1: the output keeps the input's size.
    yp, pt, pl = convolve(x, f, 1, 1)
    xp = np.pad(x, ((pt, pt), (pl, pl)))
    pad = {
        (r, c): "pad"
        for r in range(xp.shape[0])
        for c in range(xp.shape[1])
        if not (pt <= r < pt + H and pl <= c < pl + x.shape[1])
    }
    formula = size_formula(H, 1, R, 1)
    steps.say("")
    steps.say(
        Msg(
            "With zero padding 1: a ring of zeros around X, so the filter can centre on every cell"
        ),
        "bold",
    )
    steps.append(
        Figure(
            (
                tensor(
                    "X padded",
                    xp,
                    Msg("zeros around X"),
                    Msg("the input with padding 1"),
                    fields={"case": "padded"},
                ),
                "→",
                tensor(
                    "Y",
                    yp,
                    Msg("Y[i, j] = Σ over r, s of Xpadded[i + r, j + s]·F[r, s]"),
                    Msg("the output"),
                    fields={
                        "case": "padded",
                        "stride": 1,
                        "padding": 1,
                        "output_size": formula,
                        "kernel": kernel,
                    },
                ),
            ),
            labels={0: Msg("padded X ="), 2: Msg("output =")},
            styles={0: pad},
            caption=Msg(
                "output {shape}, the input's size: {formula}", shape=dims(yp.shape), formula=formula
            ),
        )
    )

    # Stride 2 (with padding 1): the filter jumps two cells at a time.
    ys, _, _ = convolve(x, f, 2, 1)
    formula = size_formula(H, 1, R, 2)
    steps.say("")
    steps.say(Msg("With stride 2 and padding 1: the window moves two cells at a time"), "bold")
    _windows(steps, "strided", xp, f, ys, 2, Msg("the padded X"))
    steps.say("")
    steps.append(
        Figure(
            (
                tensor(
                    "Y",
                    ys,
                    Msg("Y[i, j] = Σ over r, s of Xpadded[2i + r, 2j + s]·F[r, s]"),
                    Msg("the output"),
                    fields={
                        "case": "strided",
                        "stride": 2,
                        "padding": 1,
                        "output_size": formula,
                        "kernel": kernel,
                    },
                ),
                f"   {dims(ys.shape)}: {formula}",
            ),
            labels={0: Msg("output =")},
        )
    )
    steps.say(
        Msg(
            "Rounding down drops a window that would hang over the edge. Stride 2 without padding: "
            "{formula}, a single window.",
            formula=size_formula(H, 0, R, 2),
        ),
        "dim",
    )
    return steps


def pool(input=POOL_INPUT, upstream=POOL_UPSTREAM, size: int = 2, stride: int = 2) -> Steps:
    """The lesson's max pooling, forward and backward, through a MaxPool2D layer in float64."""
    x = np.array(input, np.float64)
    H, W = x.shape
    layer = MaxPool2D("pool", (size, size), (stride, stride), "valid")
    layer.build((H, W, 1), np.float64, np.random.default_rng(0))
    y = layer.forward(np.ascontiguousarray(x.reshape(1, H, W, 1)), training=False)[
        0, :, :, 0
    ].copy()
    arg = layer.cache["arg"][0, :, :, 0]
    OH, OW = y.shape
    steps = Steps(title=Msg("max pooling"))
    steps.say(
        Msg(
            "Max pooling, {size}×{size} windows, stride {stride}, on a {H}×{W} feature map",
            size=size,
            stride=stride,
            H=H,
            W=W,
        ),
        "bold",
    )
    steps.say(
        Msg("Computed by maxpool_forward and maxpool_backward in float64."), style="italic dim"
    )
    steps.append(Figure((tensor("X", x, "", Msg("the feature map")),), labels={0: "X ="}))
    steps.say("")
    winners = {}
    number = 0
    for i in range(OH):
        for j in range(OW):
            number += 1
            p, q = i * stride, j * stride
            r, c = divmod(int(arg[i, j]), W)
            winners[(r, c)] = (i, j)
            steps.append(
                Window(
                    number,
                    (i, j),
                    (p, p + size - 1),
                    (q, q + size - 1),
                    x,
                    "X",
                    None,
                    float(y[i, j]),
                    (r, c),
                )
            )
    steps.say("")
    steps.append(
        Figure(
            (
                tensor("Y", y, Msg("Y[i, j] = max of the window"), Msg("the pooled map")),
                f"   {dims(y.shape)}: (H − R)/S + 1 = ({H} − {size})/{stride} + 1 = {OH}",
            ),
            labels={0: Msg("output =")},
        )
    )

    dout = np.array(upstream, np.float64)
    dx = layer.backward(np.ascontiguousarray(dout.reshape(1, OH, OW, 1)))[0, :, :, 0].copy()
    steps.say("")
    steps.say(
        Msg(
            "Backward: the gradient of each output goes to where its window's max was; "
            "every other position gets 0"
        ),
        "bold",
    )
    steps.append(
        Figure(
            (
                tensor("dL/dY", dout, "", Msg("the gradient arriving from the next layer (given)")),
                "→",
                tensor(
                    "dL/dX",
                    dx,
                    Msg(
                        "dL/dX[p, q] = dL/dY[i, j] where (p, q) was the max of window "
                        "(i, j), else 0"
                    ),
                    Msg("the gradient routed back to the feature map"),
                ),
            ),
            labels={0: "dL/dY =", 2: "dL/dX ="},
            styles={2: {rc: "pick" for rc in winners}},
        )
    )
    for (r, c), (i, j) in sorted(winners.items(), key=lambda kv: kv[1]):
        steps.say(
            Msg(
                "   dL/dX[{r}, {c}] = dL/dY[{i}, {j}] = {g}   "
                "(X[{r}, {c}] = {v} was the max of window ({i}, {j}))",
                r=r,
                c=c,
                i=i,
                j=j,
                g=whole(dx[r, c]),
                v=whole(x[r, c]),
            ),
            "dim",
        )
    return steps
