"""The CNN lesson's exercises: convolution forward and backward, max pooling forward and
backward (NHWC, as nbengine/kernels/conv2d.py and maxpool.py)."""

from __future__ import annotations

import numpy as np

from nbengine.exercises.core import (
    Case,
    Exercise,
    Mistake,
    Out,
    Worked,
    after,
    again,
    in_parts,
    kernel,
)

_conv_ref = kernel("conv2d", "conv2d_forward_naive")
_conv_back_ref = kernel("conv2d", "conv2d_backward_naive")
_pool_ref = kernel("maxpool", "maxpool_forward")
_pool_back_ref = kernel("maxpool", "maxpool_backward")


def flipped(a):
    return np.ascontiguousarray(a["w"][::-1, ::-1])


def _size(H, R, s, p):
    return (H + 2 * p - R) // s + 1


# -- convolution forward ------------------------------------------------------------------------


def conv_case(rng, label, N, H, W, C, K, R, S, sh, sw, p, dtype=np.float64) -> Case:
    OH, OW = _size(H, R, sh, p), _size(W, S, sw, p)
    return Case(
        label,
        {
            "out": np.zeros((N, OH, OW, K), dtype),
            "x": rng.standard_normal((N, H, W, C)).astype(dtype),
            "w": rng.standard_normal((R, S, C, K)).astype(dtype),
            "b": rng.standard_normal(K).astype(dtype),
            "sh": sh,
            "sw": sw,
            "pt": p,
            "pl": p,
        },
    )


def conv_cases(rng):
    return [
        conv_case(
            rng,
            ("3×3 filter, no padding, stride 1", "3×3 필터, 패딩 없음, 스트라이드 1"),
            2,
            5,
            5,
            2,
            3,
            3,
            3,
            1,
            1,
            0,
        ),
        conv_case(
            rng, ("padding 1, stride 1", "패딩 1, 스트라이드 1"), 2, 4, 4, 2, 2, 3, 3, 1, 1, 1
        ),
        conv_case(
            rng,
            ("stride 2, odd sizes 7×5", "스트라이드 2, 홀수 크기 7×5"),
            2,
            7,
            5,
            3,
            2,
            3,
            3,
            2,
            2,
            0,
        ),
        conv_case(
            rng,
            ("stride 2 and padding 1, a 2×3 filter", "스트라이드 2, 패딩 1, 2×3 필터"),
            1,
            6,
            7,
            2,
            3,
            2,
            3,
            2,
            2,
            1,
        ),
        conv_case(
            rng,
            ("batch 1, padding 2 larger than the 1×1 filter", "배치 1, 1×1 필터보다 큰 패딩 2"),
            1,
            3,
            3,
            2,
            2,
            1,
            1,
            1,
            1,
            2,
        ),
        conv_case(
            rng,
            (
                "padding 4 larger than the 3×3 filter, stride 2",
                "3×3 필터보다 큰 패딩 4, 스트라이드 2",
            ),
            2,
            3,
            4,
            1,
            2,
            3,
            3,
            2,
            2,
            4,
        ),
    ]


def conv_worked() -> Case:
    from nbengine.explain.lessons import CONV_FILTER, CONV_INPUT

    x = np.array(CONV_INPUT, np.float64).reshape(1, 4, 4, 1)
    w = np.array(CONV_FILTER, np.float64).reshape(3, 3, 1, 1)
    return Case(
        ("the lesson's 4×4 input and 3×3 filter", "강의의 4×4 입력과 3×3 필터"),
        {
            "out": np.zeros((1, 2, 2, 1)),
            "x": x,
            "w": w,
            "b": np.zeros(1),
            "sh": 1,
            "sw": 1,
            "pt": 0,
            "pl": 0,
        },
    )


def _conv_assign(a):
    """out[n, i, j, k] = x·w inside the loops: each output keeps only its last product."""
    out, x, w, b = a["out"], a["x"], a["w"], a["b"]
    N, H, W, C = x.shape
    R, S, _, K = w.shape
    for n, i, j, k in np.ndindex(out.shape):
        v = b[k]
        for r in range(R):
            p = i * a["sh"] + r - a["pt"]
            for s in range(S):
                q = j * a["sw"] + s - a["pl"]
                if 0 <= p < H and 0 <= q < W:
                    for c in range(C):
                        v = x[n, p, q, c] * w[r, s, c, k]
        out[n, i, j, k] = v


CONV_LETTERS = (
    "N = batch, H, W = input height and width, C = input channels, R, S = filter height and width,\n"
    "K = filters (output channels), OH, OW = output height and width",
    "N = 배치, H, W = 입력의 높이와 너비, C = 입력 채널, R, S = 필터의 높이와 너비,\n"
    "K = 필터 수 (출력 채널), OH, OW = 출력의 높이와 너비",
)

CONV_FORWARD = Exercise(
    name="conv2d_forward",
    lesson="cnn-theory",
    title=(
        "Convolution forward, with padding and stride",
        "합성곱 순전파 (패딩과 스트라이드 포함)",
    ),
    params=("out", "x", "w", "b", "sh", "sw", "pt", "pl"),
    outputs=(
        Out(
            "out",
            "n i j k",
            "b[k] + Σ_r Σ_s Σ_c x[n, i·sh + r − pt, j·sw + s − pl, c] · w[r, s, c, k]  "
            "(a position outside x counts as 0)",
            axes=(1, 2),
        ),
    ),
    reference=_conv_ref,
    doc=(
        CONV_LETTERS[0]
        + """.

x is (N, H, W, C), w is (R, S, C, K), b is (K,); out is (N, OH, OW, K), allocated by the caller.
sh, sw are the strides; pt, pl the zero padding above and to the left (the same below and right).

    out[n, i, j, k] = b[k] + sum over r, s, c of x[n, p, q, c] * w[r, s, c, k]
    where p = i*sh + r - pt and q = j*sw + s - pl
A position (p, q) outside x is padding: it reads as 0, so skip it.""",
        CONV_LETTERS[1]
        + """.

x 는 (N, H, W, C), w 는 (R, S, C, K), b 는 (K,); out 은 (N, OH, OW, K) 이며 호출하는 쪽에서 만들어 줍니다.
sh, sw 는 스트라이드, pt, pl 은 위쪽과 왼쪽의 0 패딩입니다 (아래쪽과 오른쪽도 같습니다).

    out[n, i, j, k] = b[k] + (r, s, c 에 대한 합) x[n, p, q, c] * w[r, s, c, k]
    여기서 p = i*sh + r - pt, q = j*sw + s - pl
(p, q) 가 x 밖이면 패딩이므로 0 으로 읽습니다: 그 항은 건너뛰면 됩니다.""",
    ),
    narration=(
        "Write the convolution's forward pass as loops. Each output out[n, i, j, k] starts from the "
        "bias b[k] and adds, for every position (r, s) of the filter and every input channel c, the input "
        "under the filter times the filter. The window moves by the stride; the padding is the zeros "
        "around the input, so a position outside the input adds nothing. The lesson's worked example "
        "(4×4 input, 3×3 filter) must give 7, 6, 10, 7.",
        "합성곱의 순전파를 반복문으로 작성합니다. 출력 out[n, i, j, k] 는 편향 b[k] 에서 시작해, 필터의 "
        "모든 위치 (r, s) 와 모든 입력 채널 c 에 대해 필터 아래에 놓인 입력 값과 필터 값의 곱을 더한 "
        "것입니다. 창은 스트라이드만큼 이동하고, 패딩은 입력 둘레의 0 이므로 입력 밖의 위치는 아무것도 "
        "더하지 않습니다. 강의의 예제 (4×4 입력, 3×3 필터) 에서 7, 6, 10, 7 이 나와야 합니다.",
    ),
    worked=Worked(conv_worked, view=lambda name, a: a[0, :, :, 0]),
    cases=conv_cases,
    speed_case=lambda rng: conv_case(
        rng,
        (
            "8 images 28×28×8, 16 filters 3×3, padding 1",
            "이미지 8장 28×28×8, 3×3 필터 16개, 패딩 1",
        ),
        8,
        28,
        28,
        8,
        16,
        3,
        3,
        1,
        1,
        1,
        np.float32,
    ),
    mistakes=(
        Mistake(
            "filter-flipped",
            ("filter flipped", "필터를 뒤집음"),
            (
                "You read the filter flipped (w[R-1-r, S-1-s]), as a mathematician's convolution does; the lessons and "
                "every framework compute a cross-correlation: w[r, s, c, k] multiplies x[n, i·sh + r − pt, ...].",
                "필터를 뒤집어 읽었습니다 (w[R-1-r, S-1-s]). 수학의 합성곱은 그렇게 하지만, 강의와 모든 프레임워크는 "
                "교차 상관을 계산합니다: w[r, s, c, k] 는 x[n, i·sh + r − pt, ...] 와 곱해집니다.",
            ),
            again(_conv_ref, w=flipped),
        ),
        Mistake(
            "padding-one-side",
            ("padding on one side", "패딩을 한쪽에만 둠"),
            (
                "The padding sits only at the bottom and right: subtract pt and pl (p = i·sh + r − pt, "
                "q = j·sw + s − pl) so the zeros are above and to the left too.",
                "패딩이 아래쪽과 오른쪽에만 있습니다: pt 와 pl 을 빼서 (p = i·sh + r − pt, q = j·sw + s − pl) "
                "위쪽과 왼쪽에도 0 이 오도록 하세요.",
            ),
            again(_conv_ref, pt=0, pl=0),
        ),
        Mistake(
            "padding-added",
            ("padding added, not subtracted", "패딩을 빼지 않고 더함"),
            (
                "The window starts pt rows above the output's row in the padded picture: p = i·sh + r − pt, "
                "not + pt (and q = j·sw + s − pl).",
                "패딩을 더했습니다: p = i·sh + r − pt 입니다 (+ pt 가 아님). q = j·sw + s − pl 도 마찬가지입니다.",
            ),
            again(_conv_ref, pt=lambda a: -a["pt"], pl=lambda a: -a["pl"]),
        ),
        Mistake(
            "stride-ignored",
            ("stride ignored", "스트라이드를 무시함"),
            (
                "The window moves by the stride: its top-left corner is at row i·sh − pt and column j·sw − pl, "
                "not i − pt and j − pl.",
                "창은 스트라이드만큼 움직입니다: 창의 왼쪽 위는 i − pt, j − pl 이 아니라 i·sh − pt 행, "
                "j·sw − pl 열입니다.",
            ),
            again(_conv_ref, sh=1, sw=1),
        ),
        Mistake(
            "bias-missing",
            ("bias missing", "편향 누락"),
            (
                "Each output starts from the bias: acc = b[k] before the sums (not 0).",
                "각 출력은 편향에서 시작합니다: 합을 더하기 전에 acc = b[k] (0 이 아님).",
            ),
            again(_conv_ref, b=lambda a: np.zeros_like(a["b"])),
        ),
        Mistake(
            "assign-not-add",
            ("= where += belongs", "+= 대신 ="),
            (
                "Each output keeps only its last product: the products are summed, so add them (acc += x·w, "
                "or out[n, i, j, k] += ...) instead of assigning each one.",
                "각 출력에 마지막 곱만 남았습니다: 곱들은 더해야 합니다. 하나씩 대입하지 말고 "
                "acc += x·w (또는 out[n, i, j, k] += ...) 로 더하세요.",
            ),
            _conv_assign,
        ),
    ),
    hints=(
        (
            "Loop n, i, j, k over out; start acc at b[k]; loop r, s, c; compute p and q; skip them when outside x.",
            "out 의 n, i, j, k 로 반복하고 acc 를 b[k] 로 시작하세요; r, s, c 로 반복하며 p, q 를 계산하고 x 밖이면 "
            "건너뛰세요.",
        ),
    ),
    body=(
        "# N, H, W, C = x.shape\n# R, S, _, K = w.shape\n# _, OH, OW, _ = out.shape",
        "# N, H, W, C = x.shape\n# R, S, _, K = w.shape\n# _, OH, OW, _ = out.shape",
    ),
    fast=kernel("conv2d", "conv2d_forward"),
    c_twin="conv2d_forward_naive",
)


# -- convolution backward -----------------------------------------------------------------------


def conv_back_case(
    rng, label, N, H, W, C, K, R, S, sh, sw, p, dtype=np.float64, need_dx=True
) -> Case:
    f = conv_case(rng, label, N, H, W, C, K, R, S, sh, sw, p, dtype)
    x, w = f.args["x"], f.args["w"]
    dout = rng.standard_normal(f.args["out"].shape).astype(dtype)
    return Case(
        label,
        {
            "dx": np.zeros_like(x),
            "dw": np.zeros_like(w),
            "db": np.zeros_like(f.args["b"]),
            "dout": dout,
            "x": x,
            "w": w,
            "sh": sh,
            "sw": sw,
            "pt": p,
            "pl": p,
            "need_dx": need_dx,
        },
        {"b": f.args["b"]},
    )


def conv_back_cases(rng):
    return [
        conv_back_case(
            rng,
            ("3×3 filter, no padding, stride 1", "3×3 필터, 패딩 없음, 스트라이드 1"),
            2,
            4,
            4,
            2,
            2,
            3,
            3,
            1,
            1,
            0,
        ),
        conv_back_case(
            rng, ("padding 1, stride 1", "패딩 1, 스트라이드 1"), 2, 4, 5, 2, 3, 3, 3, 1, 1, 1
        ),
        conv_back_case(
            rng,
            ("stride 2, odd sizes 7×5", "스트라이드 2, 홀수 크기 7×5"),
            2,
            7,
            5,
            2,
            2,
            3,
            3,
            2,
            2,
            0,
        ),
        conv_back_case(
            rng,
            ("batch 1, padding 2 larger than the 1×1 filter", "배치 1, 1×1 필터보다 큰 패딩 2"),
            1,
            3,
            3,
            2,
            2,
            1,
            1,
            1,
            1,
            2,
        ),
        conv_back_case(
            rng,
            ("stride 2, padding 1, a 2×3 filter", "스트라이드 2, 패딩 1, 2×3 필터"),
            2,
            5,
            6,
            1,
            2,
            2,
            3,
            2,
            2,
            1,
        ),
        conv_back_case(
            rng,
            ("need_dx False: dx is left as it is", "need_dx 가 False: dx 는 건드리지 않음"),
            2,
            4,
            4,
            2,
            2,
            3,
            3,
            1,
            1,
            1,
            need_dx=False,
        ),
    ]


def conv_back_worked() -> Case:
    c = conv_worked()
    dout = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    x, w = c.args["x"], c.args["w"]
    return Case(
        (
            "the lesson's 4×4 input and 3×3 filter, upstream gradient 1, 2, 3, 4",
            "강의의 4×4 입력과 3×3 필터, 위에서 온 기울기 1, 2, 3, 4",
        ),
        {
            "dx": np.zeros_like(x),
            "dw": np.zeros_like(w),
            "db": np.zeros(1),
            "dout": dout,
            "x": x,
            "w": w,
            "sh": 1,
            "sw": 1,
            "pt": 0,
            "pl": 0,
            "need_dx": True,
        },
        {"b": np.zeros(1)},
    )


def conv_back_gradient(case: Case):
    a = case.args
    x, w, b = a["x"], a["w"], case.extra["b"]
    out = np.zeros_like(a["dout"])
    forward = _conv_ref()

    def loss():
        forward(out, x, w, b, a["sh"], a["sw"], a["pt"], a["pl"])
        return float((a["dout"] * out).sum())

    return loss, ({"dx": x, "dw": w, "db": b} if a["need_dx"] else {"dw": w, "db": b})


def _conv_back_dx_flipped(a):
    _conv_back_ref()(*a.values())
    dw, db = a["dw"].copy(), a["db"].copy()
    args = dict(a)
    args["w"] = flipped(a)
    _conv_back_ref()(*args.values())
    a["dw"][...], a["db"][...] = dw, db


def _conv_back_assign(a):
    """dw[r, s, c, k] = x·dout inside the loops over n, i, j: each keeps only its last term."""
    _conv_back_ref()(*a.values())
    x, dout, dw = a["x"], a["dout"], a["dw"]
    N, H, W, C = x.shape
    R, S, _, K = dw.shape
    _, OH, OW, _ = dout.shape
    dw[...] = 0
    for n, i, j in np.ndindex(N, OH, OW):
        for r in range(R):
            p = i * a["sh"] + r - a["pt"]
            for s in range(S):
                q = j * a["sw"] + s - a["pl"]
                if 0 <= p < H and 0 <= q < W:
                    dw[r, s] = np.outer(x[n, p, q], dout[n, i, j])


def _db_last(a):
    a["db"][...] = a["dout"][-1, -1, -1]


CONV_BACKWARD = Exercise(
    name="conv2d_backward",
    lesson="cnn-theory",
    title=("Convolution backward: dx, dw and db", "합성곱 역전파: dx, dw, db"),
    params=("dx", "dw", "db", "dout", "x", "w", "sh", "sw", "pt", "pl", "need_dx"),
    outputs=(
        Out(
            "dx",
            "n p q c",
            "Σ over (i, j, r, s) with p = i·sh + r − pt, q = j·sw + s − pl of "
            "Σ_k dout[n, i, j, k] · w[r, s, c, k]",
            gradient_of="x",
            axes=(1, 2),
        ),
        Out(
            "dw",
            "r s c k",
            "Σ_n Σ_i Σ_j x[n, i·sh + r − pt, j·sw + s − pl, c] · dout[n, i, j, k]",
            gradient_of="w",
            axes=(0, 1),
        ),
        Out("db", "k", "Σ_n Σ_i Σ_j dout[n, i, j, k]", gradient_of="b"),
    ),
    reference=_conv_back_ref,
    doc=(
        CONV_LETTERS[0]
        + """.

dout is (N, OH, OW, K) = dL/dout, x is (N, H, W, C), w is (R, S, C, K).
Write dx (N, H, W, C) (only if need_dx; else leave it as it is), dw (R, S, C, K) and db (K,);
all three are overwritten: set them to 0 first, then add.

The forward pass was  out[n, i, j, k] = b[k] + sum over r, s, c of x[n, p, q, c] * w[r, s, c, k]
with p = i*sh + r - pt, q = j*sw + s - pl. Each product x*w sends dout back to both:
    dx[n, p, q, c] += dout[n, i, j, k] * w[r, s, c, k]
    dw[r, s, c, k] += x[n, p, q, c] * dout[n, i, j, k]
    db[k]          += dout[n, i, j, k]
(summed over every n, i, j, and over r, s, k for dx; padding positions send nothing back).""",
        CONV_LETTERS[1]
        + """.

dout 은 (N, OH, OW, K) = dL/dout, x 는 (N, H, W, C), w 는 (R, S, C, K) 입니다.
dx (N, H, W, C) (need_dx 일 때만; 아니면 그대로 둡니다), dw (R, S, C, K), db (K,) 를 씁니다.
셋 모두 덮어쓰는 출력입니다: 먼저 0 으로 만든 뒤 더하세요.

순전파는  out[n, i, j, k] = b[k] + (r, s, c 에 대한 합) x[n, p, q, c] * w[r, s, c, k]
(p = i*sh + r - pt, q = j*sw + s - pl) 였습니다. 곱 x*w 하나하나가 dout 을 양쪽으로 돌려보냅니다:
    dx[n, p, q, c] += dout[n, i, j, k] * w[r, s, c, k]
    dw[r, s, c, k] += x[n, p, q, c] * dout[n, i, j, k]
    db[k]          += dout[n, i, j, k]
(모든 n, i, j 에 대해 더하고, dx 는 r, s, k 에 대해서도 더합니다; 패딩 위치로는 아무것도 보내지 않습니다).""",
    ),
    narration=(
        "Write the convolution's backward pass: run the forward pass's loops again, and wherever the forward "
        "pass multiplied x[n, p, q, c] by w[r, s, c, k] into out[n, i, j, k], send the gradient dout[n, i, j, k] "
        "back: times w into dx, times x into dw, and as it is into db. Many outputs share one input and one "
        "weight, so these are sums: += everywhere, after setting the three gradients to 0.",
        "합성곱의 역전파를 작성합니다: 순전파의 반복문을 다시 돌면서, 순전파가 x[n, p, q, c] 와 w[r, s, c, k] 를 "
        "곱해 out[n, i, j, k] 에 더했던 곳마다 기울기 dout[n, i, j, k] 를 되돌려 보냅니다: w 를 곱해 dx 로, "
        "x 를 곱해 dw 로, 그대로 db 로. 여러 출력이 같은 입력과 가중치를 나눠 쓰므로 모두 합입니다: 세 기울기를 "
        "0 으로 만든 뒤 어디서나 += 로 더하세요.",
    ),
    worked=Worked(
        conv_back_worked,
        view=lambda name, a: {
            "dx": lambda: a[0, :, :, 0],
            "dw": lambda: a[:, :, 0, 0],
            "db": lambda: np.atleast_2d(a),
        }[name](),
    ),
    cases=conv_back_cases,
    speed_case=lambda rng: conv_back_case(
        rng,
        (
            "8 images 28×28×8, 16 filters 3×3, padding 1",
            "이미지 8장 28×28×8, 3×3 필터 16개, 패딩 1",
        ),
        8,
        28,
        28,
        8,
        16,
        3,
        3,
        1,
        1,
        1,
        np.float32,
    ),
    mistakes=(
        Mistake(
            "filter-flipped",
            ("filter flipped", "필터를 뒤집음"),
            (
                "dx reads the filter flipped: dx[n, p, q, c] += dout[n, i, j, k] · w[r, s, c, k], with the same r, s "
                "that took x[n, p, q, c] forward (the flip appears only when the sum is rewritten as a convolution "
                "of dout).",
                "dx 가 필터를 뒤집어 읽었습니다: dx[n, p, q, c] += dout[n, i, j, k] · w[r, s, c, k] 이며, r, s 는 "
                "순전파에서 x[n, p, q, c] 를 곱했던 바로 그 위치입니다.",
            ),
            _conv_back_dx_flipped,
        ),
        Mistake(
            "assign-not-add",
            ("= where += belongs", "+= 대신 ="),
            (
                "dw keeps only the last window's product: every (n, i, j) adds x·dout into dw[r, s, c, k], so "
                "write dw[r, s, c, k] += ..., after setting dw to 0 once.",
                "dw 에 마지막 창의 곱만 남았습니다: 모든 (n, i, j) 가 dw[r, s, c, k] 에 x·dout 을 더하므로, dw 를 한 번 "
                "0 으로 만든 뒤 dw[r, s, c, k] += ... 로 쓰세요.",
            ),
            _conv_back_assign,
        ),
        Mistake(
            "db-not-summed",
            ("db not summed", "db 를 더하지 않음"),
            (
                "db[k] is the sum of dout[n, i, j, k] over every sample and every position, not one of them.",
                "db[k] 는 모든 샘플과 모든 위치의 dout[n, i, j, k] 의 합입니다. 그중 하나가 아닙니다.",
            ),
            after(_conv_back_ref, _db_last),
        ),
        Mistake(
            "padding-one-side",
            ("padding on one side", "패딩을 한쪽에만 둠"),
            (
                "Use the forward pass's positions: p = i·sh + r − pt and q = j·sw + s − pl (the padding is above "
                "and to the left too).",
                "순전파와 같은 위치를 쓰세요: p = i·sh + r − pt, q = j·sw + s − pl (위쪽과 왼쪽에도 패딩이 있습니다).",
            ),
            again(_conv_back_ref, pt=0, pl=0),
        ),
        Mistake(
            "stride-ignored",
            ("stride ignored", "스트라이드를 무시함"),
            (
                "The forward window moved by the stride: p = i·sh + r − pt, q = j·sw + s − pl.",
                "순전파의 창은 스트라이드만큼 움직였습니다: p = i·sh + r − pt, q = j·sw + s − pl.",
            ),
            again(_conv_back_ref, sh=1, sw=1),
        ),
    ),
    hints=(
        (
            "Set dx (if need_dx), dw and db to 0; loop n, i, j as the forward pass, add dout[n, i, j, k] into db[k]; "
            "then r, s (skip padding), c, k: dw += x·dout, dx += dout·w.",
            "dx (need_dx 일 때), dw, db 를 0 으로; 순전파처럼 n, i, j 로 돌며 db[k] 에 dout[n, i, j, k] 를 더하고, "
            "r, s (패딩은 건너뜀), c, k 로 돌며 dw += x·dout, dx += dout·w.",
        ),
    ),
    body=(
        "# N, H, W, C = x.shape\n# R, S, _, K = w.shape\n# _, OH, OW, _ = dout.shape\n"
        "# zero = x.dtype.type(0)   (a 0 of x's type keeps float32 loops float32)",
        "# N, H, W, C = x.shape\n# R, S, _, K = w.shape\n# _, OH, OW, _ = dout.shape\n"
        "# zero = x.dtype.type(0)   (x 와 같은 자료형의 0: float32 반복문이 float32 로 남습니다)",
    ),
    gradient=conv_back_gradient,
    fast=in_parts("conv2d", "conv2d_backward", (1, 2), batch=4),
    c_twin="conv2d_backward_naive",
)


# -- max pooling --------------------------------------------------------------------------------


def pool_case(rng, label, N, H, W, C, ph, pw, sh, sw, p, *, dtype=np.float64) -> Case:
    OH, OW = _size(H, ph, sh, p), _size(W, pw, sw, p)
    x = rng.permutation(N * H * W * C).reshape(N, H, W, C).astype(dtype)  # all different: no ties
    x = (x - x.mean()) / max(1.0, float(x.std())) + rng.uniform(-0.01, 0.01, x.shape)
    return Case(
        label,
        {
            "out": np.zeros((N, OH, OW, C), dtype),
            "arg": np.zeros((N, OH, OW, C), np.int32),
            "x": x.astype(dtype),
            "ph": ph,
            "pw": pw,
            "sh": sh,
            "sw": sw,
            "pt": p,
            "pl": p,
        },
    )


POOL_GEOMETRIES = [
    (("2×2 windows, stride 2", "2×2 창, 스트라이드 2"), 2, 4, 4, 2, 2, 2, 2, 2, 0),
    (
        ("3×3 windows, stride 2: windows overlap", "3×3 창, 스트라이드 2: 창이 겹침"),
        2,
        5,
        5,
        2,
        3,
        3,
        2,
        2,
        0,
    ),
    (
        ("odd sizes 5×7, 2×2 windows, stride 2", "홀수 크기 5×7, 2×2 창, 스트라이드 2"),
        1,
        5,
        7,
        3,
        2,
        2,
        2,
        2,
        0,
    ),
    (
        ("padding 1, 3×3 windows, stride 1", "패딩 1, 3×3 창, 스트라이드 1"),
        2,
        4,
        5,
        1,
        3,
        3,
        1,
        1,
        1,
    ),
    (("batch 1, 2×2 windows, stride 1", "배치 1, 2×2 창, 스트라이드 1"), 1, 3, 4, 2, 2, 2, 1, 1, 0),
    (
        (
            "padding 2 on 2×2 windows: some windows lie wholly in the padding",
            "2×2 창에 패딩 2: 완전히 패딩 안에 있는 창이 생김",
        ),
        1,
        3,
        3,
        1,
        2,
        2,
        1,
        1,
        2,
    ),
]


def pool_cases(rng):
    return [pool_case(rng, *g) for g in POOL_GEOMETRIES]


def pool_worked() -> Case:
    from nbengine.explain.lessons import POOL_INPUT

    x = np.array(POOL_INPUT, np.float64).reshape(1, 4, 4, 1)
    return Case(
        ("the lesson's 4×4 map, 2×2 windows, stride 2", "강의의 4×4 특성 맵, 2×2 창, 스트라이드 2"),
        {
            "out": np.zeros((1, 2, 2, 1)),
            "arg": np.zeros((1, 2, 2, 1), np.int32),
            "x": x,
            "ph": 2,
            "pw": 2,
            "sh": 2,
            "sw": 2,
            "pt": 0,
            "pl": 0,
        },
    )


def _pool_padding_zero(a):
    """Padding positions read as 0 (not skipped): a window of negative values then gives 0."""
    _pool_ref()(*a.values())
    x, out = a["x"], a["out"]
    N, H, W, C = x.shape
    for n, i, j, c in np.ndindex(out.shape):
        best = -np.inf
        for r in range(a["ph"]):
            for s in range(a["pw"]):
                p, q = i * a["sh"] + r - a["pt"], j * a["sw"] + s - a["pl"]
                best = max(best, x[n, p, q, c] if 0 <= p < H and 0 <= q < W else 0.0)
        out[n, i, j, c] = best


def _pool_arg_local(a):
    arg = a["arg"]
    W = a["x"].shape[2]
    for n, i, j, c in np.ndindex(arg.shape):
        if arg[n, i, j, c] >= 0:
            p, q = divmod(int(arg[n, i, j, c]), W)
            arg[n, i, j, c] = (p - (i * a["sh"] - a["pt"])) * a["pw"] + (
                q - (j * a["sw"] - a["pl"])
            )


def _pool_arg_height(a):
    arg = a["arg"]
    _, H, W, _ = a["x"].shape
    keep = arg >= 0
    arg[keep] = (arg[keep] // W) * H + arg[keep] % W


POOL_LETTERS = (
    "N = batch, H, W = input height and width, C = channels (pooled separately),\n"
    "PH, PW = window height and width (ph, pw), OH, OW = output height and width",
    "N = 배치, H, W = 입력의 높이와 너비, C = 채널 (따로따로 풀링),\n"
    "PH, PW = 창의 높이와 너비 (ph, pw), OH, OW = 출력의 높이와 너비",
)

MAXPOOL_FORWARD = Exercise(
    name="maxpool_forward",
    lesson="cnn-theory",
    title=("Max pooling forward", "최대 풀링 순전파"),
    params=("out", "arg", "x", "ph", "pw", "sh", "sw", "pt", "pl"),
    outputs=(
        Out(
            "out",
            "n i j c",
            "max over r < ph, s < pw of x[n, i·sh + r − pt, j·sw + s − pl, c]  "
            "(padding never takes part)",
            axes=(1, 2),
        ),
        Out(
            "arg",
            "n i j c",
            "p·W + q of the first largest x[n, p, q, c] in the window, row by row "
            "(−1 for a window wholly in the padding)",
            axes=(1, 2),
        ),
    ),
    reference=_pool_ref,
    doc=(
        POOL_LETTERS[0]
        + """.

x is (N, H, W, C); out is (N, OH, OW, C) and arg (N, OH, OW, C) int32, allocated by the caller.

    out[n, i, j, c] = max over r < ph, s < pw of x[n, p, q, c]
    where p = i*sh + r - pt and q = j*sw + s - pl
    arg[n, i, j, c] = p*W + q of that largest value (the first one, reading row by row)
Padding positions (p or q outside x) never take part. A window wholly in the padding
gives out = -inf and arg = -1 (start every window at -inf and -1).""",
        POOL_LETTERS[1]
        + """.

x 는 (N, H, W, C); out 은 (N, OH, OW, C), arg 는 (N, OH, OW, C) int32 이며 호출하는 쪽에서 만들어 줍니다.

    out[n, i, j, c] = (r < ph, s < pw 에 대한 최댓값) x[n, p, q, c]
    여기서 p = i*sh + r - pt, q = j*sw + s - pl
    arg[n, i, j, c] = 그 최댓값의 위치 p*W + q (행 순서로 읽어 처음 나온 것)
패딩 위치 (p 나 q 가 x 밖) 는 비교에 끼지 않습니다. 창 전체가 패딩이면
out = -inf, arg = -1 입니다 (모든 창을 -inf 와 -1 에서 시작하세요).""",
    ),
    narration=(
        "Write max pooling: each window of the input is replaced by its largest value, channel by channel. "
        "Keep where the largest value was, as the flat index p·W + q in arg: the backward pass sends the "
        "gradient there. The lesson's 4×4 map with 2×2 windows and stride 2 gives 5, 8, 5, 4.",
        "최대 풀링을 작성합니다: 입력의 각 창을 채널마다 그 안의 가장 큰 값으로 바꿉니다. 가장 큰 값이 있던 "
        "위치를 평평한 인덱스 p·W + q 로 arg 에 기록하세요: 역전파가 기울기를 그곳으로 보냅니다. 강의의 4×4 "
        "특성 맵에 2×2 창, 스트라이드 2 를 쓰면 5, 8, 5, 4 가 나옵니다.",
    ),
    worked=Worked(pool_worked, view=lambda name, a: a[0, :, :, 0]),
    cases=pool_cases,
    speed_case=lambda rng: pool_case(
        rng,
        ("32 maps 28×28×16, 2×2 windows, stride 2", "특성 맵 32개 28×28×16, 2×2 창, 스트라이드 2"),
        32,
        28,
        28,
        16,
        2,
        2,
        2,
        2,
        0,
        dtype=np.float32,
    ),
    mistakes=(
        Mistake(
            "padding-as-zero",
            ("padding read as 0", "패딩을 0 으로 읽음"),
            (
                "A padding position takes no part in a max: skip it (continue) instead of reading it as 0, or a "
                "window of negative values gives 0.",
                "패딩 위치는 최댓값 비교에 끼지 않습니다: 0 으로 읽지 말고 건너뛰세요 (continue). 그렇지 않으면 "
                "음수만 있는 창에서 0 이 나옵니다.",
            ),
            _pool_padding_zero,
            compares=("out",),
        ),
        Mistake(
            "stride-ignored",
            ("stride ignored", "스트라이드를 무시함"),
            (
                "The window moves by the stride: p = i·sh + r − pt and q = j·sw + s − pl.",
                "창은 스트라이드만큼 움직입니다: p = i·sh + r − pt, q = j·sw + s − pl.",
            ),
            again(_pool_ref, sh=1, sw=1),
        ),
        Mistake(
            "padding-one-side",
            ("padding on one side", "패딩을 한쪽에만 둠"),
            (
                "Subtract the padding: p = i·sh + r − pt, q = j·sw + s − pl.",
                "패딩을 빼세요: p = i·sh + r − pt, q = j·sw + s − pl.",
            ),
            again(_pool_ref, pt=0, pl=0),
        ),
        Mistake(
            "arg-in-window",
            ("arg counted in the window", "arg 를 창 안에서 셈"),
            (
                "arg is the position in the whole input map, p·W + q, not the position r·pw + s inside the window.",
                "arg 는 창 안의 위치 r·pw + s 가 아니라 입력 전체에서의 위치 p·W + q 입니다.",
            ),
            after(_pool_ref, _pool_arg_local),
        ),
        Mistake(
            "arg-times-height",
            ("arg as p·H + q", "arg 를 p·H + q 로 셈"),
            (
                "A row of the input holds W values: the flat index is p·W + q (W, the width, not H).",
                "입력의 한 행에는 W 개의 값이 있습니다: 평평한 인덱스는 p·W + q 입니다 (H 가 아니라 너비 W).",
            ),
            after(_pool_ref, _pool_arg_height),
        ),
    ),
    hints=(
        (
            "For each n, i, j, c: start out at -inf and arg at -1; loop r, s; skip padding; keep a larger value "
            "(or the first one seen) and its p·W + q.",
            "각 n, i, j, c 에 대해 out 을 -inf, arg 를 -1 로 시작하고, r, s 로 돌며 패딩은 건너뛰고, 더 큰 값 "
            "(또는 처음 본 값) 과 그 p·W + q 를 기록하세요.",
        ),
    ),
    body=(
        "# N, H, W, C = x.shape\n# _, OH, OW, _ = out.shape",
        "# N, H, W, C = x.shape\n# _, OH, OW, _ = out.shape",
    ),
    c_twin="maxpool_forward",
)


def pool_back_case(rng, label, *geometry, dtype=np.float64) -> Case:
    f = pool_case(rng, label, *geometry, dtype=dtype)
    _pool_ref()(*f.args.values())
    x, arg = f.args["x"], f.args["arg"]
    dout = rng.standard_normal(arg.shape).astype(dtype)
    return Case(
        label,
        {"dx": np.zeros_like(x), "dout": dout, "arg": arg.copy()},
        {"x": x, **{k: f.args[k] for k in ("ph", "pw", "sh", "sw", "pt", "pl")}},
    )


def pool_back_cases(rng):
    return [pool_back_case(rng, *g) for g in POOL_GEOMETRIES]


def pool_back_worked() -> Case:
    from nbengine.explain.lessons import POOL_UPSTREAM

    f = pool_worked()
    _pool_ref()(*f.args.values())
    return Case(
        (
            "the lesson's 4×4 map and upstream gradient 1, 2, 3, 4",
            "강의의 4×4 특성 맵과 위에서 온 기울기 1, 2, 3, 4",
        ),
        {
            "dx": np.zeros((1, 4, 4, 1)),
            "dout": np.array(POOL_UPSTREAM, np.float64).reshape(1, 2, 2, 1),
            "arg": f.args["arg"].copy(),
        },
        {"x": f.args["x"]},
    )


def pool_back_gradient(case: Case):
    e = case.extra
    x = e["x"]
    dout = case.args["dout"]
    out = np.zeros_like(dout)
    arg = np.zeros(dout.shape, np.int32)
    forward = _pool_ref()

    def loss():
        forward(out, arg, x, e["ph"], e["pw"], e["sh"], e["sw"], e["pt"], e["pl"])
        return float(np.where(np.isfinite(out), dout * out, 0).sum())

    return loss, {"dx": x}


def _pool_back_assign(a):
    dx, dout, arg = a["dx"], a["dout"], a["arg"]
    W = dx.shape[2]
    dx[...] = 0
    for n, i, j, c in np.ndindex(arg.shape):
        if arg[n, i, j, c] >= 0:
            p, q = divmod(int(arg[n, i, j, c]), W)
            dx[n, p, q, c] = dout[n, i, j, c]


def _pool_back_swapped(a):
    dx, dout, arg = a["dx"], a["dout"], a["arg"]
    W = dx.shape[2]
    dx[...] = 0
    for n, i, j, c in np.ndindex(arg.shape):
        if arg[n, i, j, c] >= 0:
            p, q = divmod(int(arg[n, i, j, c]), W)
            dx[n, q, p, c] += dout[n, i, j, c]


def _pool_back_minus_one(a):
    _pool_back_ref()(*a.values())
    dx, dout, arg = a["dx"], a["dout"], a["arg"]
    W = dx.shape[2]
    for n, i, j, c in np.ndindex(arg.shape):
        if arg[n, i, j, c] < 0:
            dx[n, -1 // W, -1 % W, c] += dout[n, i, j, c]


MAXPOOL_BACKWARD = Exercise(
    name="maxpool_backward",
    lesson="cnn-theory",
    title=("Max pooling backward", "최대 풀링 역전파"),
    params=("dx", "dout", "arg"),
    outputs=(
        Out(
            "dx",
            "n p q c",
            "Σ of dout[n, i, j, c] over the windows (i, j) whose arg[n, i, j, c] = p·W + q",
            gradient_of="x",
            axes=(1, 2),
        ),
    ),
    reference=_pool_back_ref,
    doc=(
        POOL_LETTERS[0]
        + """.

dout and arg are (N, OH, OW, C): dL/dout, and where each window's maximum was (p*W + q, or -1
for a window wholly in the padding). dx is (N, H, W, C), overwritten: set it to 0 first.

Only the winner of a window affected the output, so the whole gradient goes back to it:
    dx[n, p, q, c] += dout[n, i, j, c]   where p*W + q = arg[n, i, j, c]
(+= because windows overlap when the stride is smaller than the window; a window with arg -1
sends nothing back).""",
        POOL_LETTERS[1]
        + """.

dout 과 arg 는 (N, OH, OW, C): dL/dout, 그리고 각 창의 최댓값 위치 (p*W + q, 창 전체가 패딩이면 -1).
dx 는 (N, H, W, C) 이며 덮어쓰는 출력입니다: 먼저 0 으로 만드세요.

창의 출력에 영향을 준 것은 최댓값 하나뿐이므로, 기울기는 전부 그곳으로 갑니다:
    dx[n, p, q, c] += dout[n, i, j, c]   (p*W + q = arg[n, i, j, c])
(스트라이드가 창보다 작으면 창이 겹치므로 += 입니다; arg 가 -1 인 창은 아무것도 보내지 않습니다).""",
    ),
    narration=(
        "Write max pooling's backward pass: each output's gradient goes back, whole, to the position its "
        "window took its maximum from (arg), and every other position of the window gets nothing. With the "
        "lesson's map and the upstream gradient 1, 2, 3, 4, each number lands on its window's maximum.",
        "최대 풀링의 역전파를 작성합니다: 각 출력의 기울기는 그 창이 최댓값을 가져온 위치 (arg) 로 그대로 "
        "돌아가고, 창의 나머지 위치는 아무것도 받지 않습니다. 강의의 특성 맵과 위에서 온 기울기 1, 2, 3, 4 를 "
        "쓰면, 각 숫자가 자기 창의 최댓값 자리에 놓입니다.",
    ),
    worked=Worked(pool_back_worked, view=lambda name, a: a[0, :, :, 0]),
    cases=pool_back_cases,
    speed_case=lambda rng: pool_back_case(
        rng,
        ("32 maps 28×28×16, 2×2 windows, stride 2", "특성 맵 32개 28×28×16, 2×2 창, 스트라이드 2"),
        32,
        28,
        28,
        16,
        2,
        2,
        2,
        2,
        0,
        dtype=np.float32,
    ),
    mistakes=(
        Mistake(
            "assign-not-add",
            ("= where += belongs", "+= 대신 ="),
            (
                "Overlapping windows can share their maximum: add (dx[n, p, q, c] += dout[...]), after setting dx "
                "to 0, instead of assigning.",
                "겹치는 창은 최댓값 위치를 나눠 가질 수 있습니다: dx 를 0 으로 만든 뒤 대입하지 말고 "
                "dx[n, p, q, c] += dout[...] 로 더하세요.",
            ),
            _pool_back_assign,
        ),
        Mistake(
            "row-column-swapped",
            ("row and column swapped", "행과 열을 바꿈"),
            (
                "arg = p·W + q: the row is p = arg // W and the column q = arg % W.",
                "arg = p·W + q 이므로 행은 p = arg // W, 열은 q = arg % W 입니다.",
            ),
            _pool_back_swapped,
        ),
        Mistake(
            "minus-one-used",
            ("arg −1 used as a position", "arg −1 을 위치로 씀"),
            (
                "arg is −1 for a window wholly in the padding: it has no input to blame, so skip it (if a >= 0).",
                "창 전체가 패딩이면 arg 가 −1 입니다: 기울기를 받을 입력이 없으니 건너뛰세요 (if a >= 0).",
            ),
            _pool_back_minus_one,
        ),
    ),
    hints=(
        (
            "Set dx to 0; for each n, i, j, c read a = arg[n, i, j, c]; if a >= 0, add dout[n, i, j, c] into "
            "dx[n, a // W, a % W, c].",
            "dx 를 0 으로 만들고, 각 n, i, j, c 에서 a = arg[n, i, j, c] 를 읽어 a >= 0 이면 "
            "dx[n, a // W, a % W, c] 에 dout[n, i, j, c] 를 더하세요.",
        ),
    ),
    body=(
        "# N, H, W, C = dx.shape\n# _, OH, OW, _ = dout.shape",
        "# N, H, W, C = dx.shape\n# _, OH, OW, _ = dout.shape",
    ),
    gradient=pool_back_gradient,
    c_twin="maxpool_backward",
)
