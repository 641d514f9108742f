"""The lesson's MNIST CNN in NumPy, the way the textbook writes it: an independent reference.

This is the classic vectorised formulation ("Deep Learning from Scratch",
common/util.py and common/layers.py): images are NCHW inside, a convolution
unrolls every receptive field into a row of a matrix (``im2col``) and multiplies
that matrix by the filters, its backward pass multiplies by the transposed
matrices and folds the rows back into an image (``col2im``). Nothing here
imports nbengine's kernels, so it can judge them.

It has two uses.

1. Op-level references for tests, in nbengine's layouts: x is (N, H, W, C)
   ("NHWC"), convolution weights (R, S, C, K) = (kernel height, kernel width,
   in channels, out channels) as Keras stores them, dense weights (D, M) =
   (in, out). Each function transposes to NCHW, runs the textbook layer, and
   transposes back:

       conv2d_ref(x, w, b, stride, pad) -> out
       conv2d_ref_backward(dout, x, w, b, stride, pad) -> (dx, dw, db)
       maxpool_ref(x, pool, stride, pad) -> out
       maxpool_ref_backward(dout, x, pool, stride, pad) -> dx
       dense_ref(x, w, b) -> out;  dense_ref_backward(dout, x, w) -> (dx, dw, db)
       relu_ref(x);  relu_ref_backward(dout, x)
       dropout_ref(x, keep, rate);  dropout_ref_backward(dout, keep, rate)
       softmax_ref(logits);  softmax_cross_entropy_ref(logits, y) -> (loss_mean, dlogits)

   ``stride`` is (sh, sw) and ``pad`` is (top, bottom, left, right), explicit
   integers; ``same_padding``, ``valid_padding``, ``explicit_padding`` and
   ``padding_2d`` turn Keras's padding names into those integers.

2. ``NumpyCNN``: the whole network (conv 32 → pool → conv 64 → pool → dense 1024
   → dropout → dense 10 → softmax cross-entropy) with a training step (forward,
   backward, SGD update) and inference, built from parameters in nbengine's
   layout (``init_params`` makes such a set, an nbengine ``CNN`` has one), so a
   benchmark compares the same computation.

Where this departs from the textbook, and why:
- Arrays keep their dtype (the textbook allocates float64 scratch arrays, which
  would turn a float32 network into a float64 one).
- Padding may differ per side and strides per axis, for TensorFlow's "same".
- Max-pool padding is filled with -inf, so a padding position never wins.
- Dropout is "inverted", as Keras does it: kept units are scaled by 1/(1 − rate)
  in training and inference is the identity (the textbook scales at inference).
- The loss is computed with log-sum-exp (stable for any logits) instead of
  log(softmax + 1e-7).
- The first convolution does not compute dL/dx (nothing needs the gradient of
  the input image); PyTorch skips it too, and the FLOP count leaves it out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# -- padding arithmetic --------------------------------------------------------------------


def same_padding(size: int, k: int, stride: int) -> tuple[int, int, int]:
    """(output size, padding before, padding after) for TensorFlow's "same" padding.

    out = ceil(size / stride); the total padding is what a window of k at that
    stride needs to reach the end, (out − 1)·stride + k − size, never negative;
    the smaller half goes before (top/left), the larger after (bottom/right).
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def valid_padding(size: int, k: int, stride: int) -> tuple[int, int, int]:
    """(output size, 0, 0) for "valid": the window never leaves the input."""
    return explicit_padding(size, k, stride, 0, 0)


def explicit_padding(
    size: int, k: int, stride: int, before: int, after: int
) -> tuple[int, int, int]:
    """(output size, before, after) for a given number of padding positions on each side."""
    out = (size + before + after - k) // stride + 1
    if out < 1:
        raise ValueError(f"a window of {k} does not fit in {size} with padding {before}+{after}")
    return out, before, after


def padding_2d(
    hw: tuple[int, int], k: tuple[int, int], stride: tuple[int, int], padding
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """((out_h, out_w), (top, bottom, left, right)) for an image of hw = (H, W).

    padding: "same", "valid", an integer p (p on every side), or (top, bottom, left, right).
    """
    (H, W), (kh, kw), (sh, sw) = hw, k, stride
    if padding == "same":
        oh, t, b = same_padding(H, kh, sh)
        ow, l, r = same_padding(W, kw, sw)
    elif padding == "valid":
        oh, t, b = valid_padding(H, kh, sh)
        ow, l, r = valid_padding(W, kw, sw)
    else:
        t, b, l, r = (padding,) * 4 if isinstance(padding, (int, np.integer)) else padding
        oh, t, b = explicit_padding(H, kh, sh, t, b)
        ow, l, r = explicit_padding(W, kw, sw, l, r)
    return (oh, ow), (t, b, l, r)


# -- the textbook's im2col and col2im (NCHW) ---------------------------------------------------


def im2col(x: np.ndarray, fh: int, fw: int, stride=(1, 1), pad=(0, 0, 0, 0), fill=0) -> np.ndarray:
    """Unroll every fh × fw window of x (N, C, H, W) into one row.

    Returns (N·OH·OW, C·fh·fw): rows in (n, i, j) order, columns in (c, r, s)
    order, so a convolution is this matrix times the filters reshaped to
    (C·fh·fw, K). Padding positions read as ``fill``.
    """
    N, C, H, W = x.shape
    sh, sw = stride
    t, b, l, r = pad
    oh = (H + t + b - fh) // sh + 1
    ow = (W + l + r - fw) // sw + 1
    img = np.pad(x, [(0, 0), (0, 0), (t, b), (l, r)], "constant", constant_values=fill)
    col = np.empty((N, C, fh, fw, oh, ow), dtype=x.dtype)
    for y in range(fh):
        y_max = y + sh * oh
        for xx in range(fw):
            x_max = xx + sw * ow
            col[:, :, y, xx, :, :] = img[:, :, y:y_max:sh, xx:x_max:sw]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * oh * ow, -1)


def col2im(col: np.ndarray, shape, fh: int, fw: int, stride=(1, 1), pad=(0, 0, 0, 0)) -> np.ndarray:
    """The adjoint of im2col: add every row back onto the window it came from.

    Windows overlap where the stride is smaller than the filter, so positions
    collect the sum of every row that read them; padding positions are dropped.
    """
    N, C, H, W = shape
    sh, sw = stride
    t, b, l, r = pad
    oh = (H + t + b - fh) // sh + 1
    ow = (W + l + r - fw) // sw + 1
    col = col.reshape(N, oh, ow, C, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + t + b + sh - 1, W + l + r + sw - 1), dtype=col.dtype)
    for y in range(fh):
        y_max = y + sh * oh
        for xx in range(fw):
            x_max = xx + sw * ow
            img[:, :, y:y_max:sh, xx:x_max:sw] += col[:, :, y, xx, :, :]
    return img[:, :, t : t + H, l : l + W]


# -- the textbook's layers (NCHW), each with forward and backward -------------------------------


class Convolution:
    """out = im2col(x) · W_col + b, with W as (K, C, fh, fw) as the textbook stores it."""

    def __init__(self, W: np.ndarray, b: np.ndarray, stride=(1, 1), pad=(0, 0, 0, 0), need_dx=True):
        self.W, self.b = W, b
        self.stride, self.pad = stride, pad
        self.need_dx = need_dx
        self.dW = self.db = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        K, C, fh, fw = self.W.shape
        N, _, H, W = x.shape
        sh, sw = self.stride
        t, b, l, r = self.pad
        oh = (H + t + b - fh) // sh + 1
        ow = (W + l + r - fw) // sw + 1
        col = im2col(x, fh, fw, self.stride, self.pad)
        col_W = self.W.reshape(K, -1).T
        out = np.dot(col, col_W) + self.b
        self.x_shape, self.col, self.col_W = x.shape, col, col_W
        return out.reshape(N, oh, ow, K).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        K, C, fh, fw = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, K)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(K, C, fh, fw)
        if not self.need_dx:
            return None
        dcol = np.dot(dout, self.col_W.T)
        return col2im(dcol, self.x_shape, fh, fw, self.stride, self.pad)


class Pooling:
    """Max pooling: im2col with -inf padding, then the maximum of every window's row.

    Backward routes each gradient to the position of its window's maximum; on a
    tie that is the first maximum in row-major window order (np.argmax's rule).
    """

    def __init__(self, pool_h: int, pool_w: int, stride=(2, 2), pad=(0, 0, 0, 0)):
        self.pool_h, self.pool_w = pool_h, pool_w
        self.stride, self.pad = stride, pad

    def forward(self, x: np.ndarray) -> np.ndarray:
        N, C, H, W = x.shape
        sh, sw = self.stride
        t, b, l, r = self.pad
        oh = (H + t + b - self.pool_h) // sh + 1
        ow = (W + l + r - self.pool_w) // sw + 1
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad, fill=-np.inf)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        self.arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        self.x_shape = x.shape
        return out.reshape(N, oh, ow, C).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max.ravel()] = dout.ravel()
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x_shape, self.pool_h, self.pool_w, self.stride, self.pad)


class Relu:
    """max(0, x); the gradient passes where x > 0 (at exactly 0 it is 0)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


class Affine:
    """out = x · W + b; an input of more than two axes is flattened per sample (C, H, W order)."""

    def __init__(self, W: np.ndarray, b: np.ndarray, need_dx=True):
        self.W, self.b = W, b
        self.need_dx = need_dx
        self.dW = self.db = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        if not self.need_dx:
            return None
        return np.dot(dout, self.W.T).reshape(*self.original_x_shape)


class Dropout:
    """Inverted dropout: in training each unit is kept with probability 1 − rate and
    scaled by 1/(1 − rate); at inference it is the identity."""

    def __init__(self, rate: float, rng: np.random.Generator):
        self.rate, self.rng = rate, rng

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if not train or self.rate == 0:
            self.scale = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        self.scale = keep * x.dtype.type(1 / (1 - self.rate))
        return x * self.scale

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout if self.scale is None else dout * self.scale


class SoftmaxWithLoss:
    """Softmax and mean cross-entropy against integer labels; backward is (p − onehot) / N."""

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.t = t
        z = x - x.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        self.y = e / s
        n = x.shape[0]
        return float(np.mean(np.log(s[:, 0]) - z[np.arange(n), t]))

    def backward(self, dout=1) -> np.ndarray:
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx * dx.dtype.type(dout / n)


# -- op-level references in nbengine's layouts ------------------------------------------------


def _nchw(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 3, 1, 2)


def _nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def _conv_layer(w: np.ndarray, b: np.ndarray, stride, pad) -> Convolution:
    # (R, S, C, K) → (K, C, R, S)
    return Convolution(np.ascontiguousarray(w.transpose(3, 2, 0, 1)), b, tuple(stride), tuple(pad))


def conv2d_ref(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride=(1, 1), pad=(0, 0, 0, 0)
) -> np.ndarray:
    """Convolution (cross-correlation) of x (N, H, W, C) with w (R, S, C, K) plus b (K,).

    stride (sh, sw); pad (top, bottom, left, right) zeros. Returns (N, OH, OW, K).
    """
    return _nhwc(_conv_layer(w, b, stride, pad).forward(_nchw(x)))


def conv2d_ref_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, stride=(1, 1), pad=(0, 0, 0, 0)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dx, dL/dw, dL/db) of conv2d_ref given dout = dL/dout (N, OH, OW, K), in the same layouts."""
    layer = _conv_layer(w, b, stride, pad)
    layer.forward(_nchw(x))
    dx = layer.backward(_nchw(dout))
    dw = np.ascontiguousarray(layer.dW.transpose(2, 3, 1, 0))  # (K, C, R, S) → (R, S, C, K)
    return _nhwc(dx), dw, layer.db


def maxpool_ref(x: np.ndarray, pool=(2, 2), stride=(2, 2), pad=(0, 0, 0, 0)) -> np.ndarray:
    """The maximum over every pool window of x (N, H, W, C); padding never wins. Returns (N, OH, OW, C)."""
    return _nhwc(Pooling(pool[0], pool[1], tuple(stride), tuple(pad)).forward(_nchw(x)))


def maxpool_ref_backward(
    dout: np.ndarray, x: np.ndarray, pool=(2, 2), stride=(2, 2), pad=(0, 0, 0, 0)
) -> np.ndarray:
    """dL/dx of maxpool_ref: each dout goes to its window's arg-max.

    On a tie the first maximum in row-major window order (top row first, then
    left to right) takes it all. Overlapping windows add up.
    """
    layer = Pooling(pool[0], pool[1], tuple(stride), tuple(pad))
    layer.forward(_nchw(x))
    return _nhwc(layer.backward(_nchw(dout)))


def dense_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, D) · w (D, M) + b (M,)."""
    return Affine(w, b).forward(x)


def dense_ref_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dx, dL/dw, dL/db) of dense_ref given dout (N, M)."""
    layer = Affine(w, np.zeros(w.shape[1], w.dtype))
    layer.forward(x)
    dx = layer.backward(dout)
    return dx, layer.dW, layer.db


def relu_ref(x: np.ndarray) -> np.ndarray:
    return Relu().forward(x)


def relu_ref_backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dout where x > 0, else 0 (the gradient at exactly 0 is taken as 0, as TensorFlow does)."""
    layer = Relu()
    layer.forward(x)
    return layer.backward(dout)


def dropout_ref(x: np.ndarray, keep: np.ndarray, rate: float) -> np.ndarray:
    """Inverted dropout with a given boolean keep mask: x · keep / (1 − rate)."""
    return x * (keep * x.dtype.type(1 / (1 - rate)))


def dropout_ref_backward(dout: np.ndarray, keep: np.ndarray, rate: float) -> np.ndarray:
    return dropout_ref(dout, keep, rate)


def softmax_ref(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so exp never overflows."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy_ref(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """(mean over the batch of −log softmax(logits)[y], dL/dlogits = (softmax − onehot(y)) / N).

    The loss is log Σ exp(z − max) − (z_y − max), finite for any logits.
    """
    layer = SoftmaxWithLoss()
    loss = layer.forward(logits, np.asarray(y))
    return loss, layer.backward()


# -- the lesson's network ---------------------------------------------------------------------

IMAGE = (28, 28, 1)
CLASSES = 10
CONV = [("conv1", 3, 1, 32), ("conv2", 3, 32, 64)]  # name, kernel size, in channels, out channels
POOL, POOL_STRIDE = 2, 2
HIDDEN = 1024
DROPOUT = 0.25


def geometry() -> dict[str, tuple[int, int, int]]:
    """(height, width, channels) after each layer of the lesson's network, with Keras's "same" padding."""
    h, w, c = IMAGE
    shapes = {"input": (h, w, c)}
    for i, (name, k, _, out) in enumerate(CONV, start=1):
        (h, w), _ = padding_2d((h, w), (k, k), (1, 1), "same")
        shapes[name] = (h, w, out)
        (h, w), _ = padding_2d((h, w), (POOL, POOL), (POOL_STRIDE, POOL_STRIDE), "same")
        shapes[f"pool{i}"] = (h, w, out)
        c = out
    return shapes


FLAT = geometry()["pool2"]  # (7, 7, 64): dense1 reads 3,136 values


def param_shapes() -> dict[str, tuple[int, ...]]:
    """Every parameter's shape in nbengine's layout."""
    h, w, c = FLAT
    return {
        "conv1.w": (3, 3, 1, 32),
        "conv1.b": (32,),
        "conv2.w": (3, 3, 32, 64),
        "conv2.b": (64,),
        "dense1.w": (h * w * c, HIDDEN),
        "dense1.b": (HIDDEN,),
        "dense2.w": (HIDDEN, CLASSES),
        "dense2.b": (CLASSES,),
    }


def init_params(seed: int = 0, dtype=np.float32) -> dict[str, np.ndarray]:
    """Parameters in nbengine's layout, initialised as Keras does by default:
    Glorot-uniform weights (limit √(6 / (fan_in + fan_out))), zero biases."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in param_shapes().items():
        if name.endswith(".b"):
            params[name] = np.zeros(shape, dtype)
            continue
        receptive = int(np.prod(shape[:-2])) if len(shape) == 4 else 1
        fan_in, fan_out = receptive * shape[-2], receptive * shape[-1]
        limit = np.sqrt(6 / (fan_in + fan_out))
        params[name] = rng.uniform(-limit, limit, shape).astype(dtype)
    return params


def hwc_rows_to_chw(w: np.ndarray, shape=FLAT) -> np.ndarray:
    """Reorder a dense weight's rows from a flattened NHWC map (h, w, c) to a flattened NCHW map (c, h, w)."""
    h, ww, c = shape
    return np.ascontiguousarray(
        w.reshape(h, ww, c, -1).transpose(2, 0, 1, 3).reshape(h * ww * c, -1)
    )


def chw_rows_to_hwc(w: np.ndarray, shape=FLAT) -> np.ndarray:
    """The inverse of hwc_rows_to_chw."""
    h, ww, c = shape
    return np.ascontiguousarray(
        w.reshape(c, h, ww, -1).transpose(1, 2, 0, 3).reshape(h * ww * c, -1)
    )


def _relayout(arrays: Mapping[str, np.ndarray], conv_axes, dense1_rows) -> dict[str, np.ndarray]:
    out = {}
    for name, a in arrays.items():
        if name.startswith("conv") and name.endswith(".w"):
            a = a.transpose(conv_axes)
        elif name == "dense1.w":
            a = dense1_rows(a)
        out[name] = np.array(a, order="C")
    return out


def to_textbook(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Parameters (or gradients) from nbengine's layout to the textbook's, as new arrays:
    conv weights (R, S, C, K) → (K, C, R, S), dense1's rows from the (h, w, c) order of a
    flattened NHWC map to the (c, h, w) order of a flattened NCHW one; the rest as they are."""
    return _relayout(arrays, (3, 2, 0, 1), hwc_rows_to_chw)


def from_textbook(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inverse of to_textbook, as new arrays: back to nbengine's layout."""
    return _relayout(arrays, (2, 3, 1, 0), chw_rows_to_hwc)


def paddings() -> dict[str, tuple[int, int, int, int]]:
    """(top, bottom, left, right) of every convolution and pooling layer, Keras's "same"."""
    g = geometry()
    pads = {}
    for i, (name, k, _, _) in enumerate(CONV, start=1):
        before = "input" if i == 1 else f"pool{i - 1}"
        pads[name] = padding_2d(g[before][:2], (k, k), (1, 1), "same")[1]
        pads[f"pool{i}"] = padding_2d(
            g[name][:2], (POOL, POOL), (POOL_STRIDE, POOL_STRIDE), "same"
        )[1]
    return pads


class NumpyCNN:
    """The lesson's CNN as textbook layers: Convolution → Relu → Pooling → Convolution →
    Relu → Pooling → Affine → Relu → Dropout → Affine → SoftmaxWithLoss, NCHW inside.

    Built from parameters in nbengine's layout (``init_params(seed)`` when none are
    given): conv weights (R, S, C, K) become (K, C, R, S), and dense1's rows are
    reordered from the (h, w, c) order of a flattened NHWC map to the (c, h, w)
    order of a flattened NCHW one, so the same weights compute the same function.
    Inputs and outputs use nbengine's layouts too: x (N, 28, 28, 1), y int (N,).
    """

    def __init__(
        self,
        params: Mapping[str, np.ndarray] | None = None,
        lr: float = 0.01,
        dropout: float = DROPOUT,
        seed: int = 0,
        dtype=np.float32,
    ):
        if params is None:
            params = init_params(seed, dtype)
        self.lr = lr
        self.dtype = np.dtype(params["conv1.w"].dtype)
        p = to_textbook({k: np.asarray(v, dtype=self.dtype) for k, v in params.items()})
        pads, stride = paddings(), (POOL_STRIDE, POOL_STRIDE)
        self.conv1 = Convolution(p["conv1.w"], p["conv1.b"], (1, 1), pads["conv1"], need_dx=False)
        self.pool1 = Pooling(POOL, POOL, stride, pads["pool1"])
        self.conv2 = Convolution(p["conv2.w"], p["conv2.b"], (1, 1), pads["conv2"])
        self.pool2 = Pooling(POOL, POOL, stride, pads["pool2"])
        self.dense1 = Affine(p["dense1.w"], p["dense1.b"])
        self.dense2 = Affine(p["dense2.w"], p["dense2.b"])
        self.dropout = Dropout(dropout, np.random.default_rng(seed))
        self.layers = [
            self.conv1,
            Relu(),
            self.pool1,
            self.conv2,
            Relu(),
            self.pool2,
            self.dense1,
            Relu(),
            self.dropout,
            self.dense2,
        ]
        self.last = SoftmaxWithLoss()
        self.trainable = {
            "conv1": self.conv1,
            "conv2": self.conv2,
            "dense1": self.dense1,
            "dense2": self.dense2,
        }

    def logits(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        out = _nchw(x)
        for layer in self.layers:
            out = layer.forward(out, train) if isinstance(layer, Dropout) else layer.forward(out)
        return out

    def loss_and_backward(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward in training mode (dropout on), mean loss, backward: each layer's dW, db filled."""
        loss = self.last.forward(self.logits(x, train=True), y)
        dout = self.last.backward()
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return loss

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One step of plain SGD: W ← W − lr·dW for every weight and bias; returns the loss before it."""
        loss = self.loss_and_backward(x, y)
        lr = self.dtype.type(self.lr)
        for layer in self.trainable.values():
            layer.W -= lr * layer.dW
            layer.b -= lr * layer.db
        return loss

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean loss in inference mode (dropout off)."""
        return self.last.forward(self.logits(x), y)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10), dropout off."""
        return softmax_ref(self.logits(x))

    def params(self) -> dict[str, np.ndarray]:
        """The parameters back in nbengine's layout (copies)."""
        return from_textbook(
            {
                f"{name}.{k}": a
                for name, layer in self.trainable.items()
                for k, a in (("w", layer.W), ("b", layer.b))
            }
        )

    def grads(self) -> dict[str, np.ndarray]:
        """The last backward pass's gradients in nbengine's layout (copies)."""
        return from_textbook(
            {
                f"{name}.{k}": a
                for name, layer in self.trainable.items()
                for k, a in (("w", layer.dW), ("b", layer.db))
            }
        )

    def n_params(self) -> int:
        return sum(layer.W.size + layer.b.size for layer in self.trainable.values())
