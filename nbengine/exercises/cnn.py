"""The CNN lesson's exercises: convolution forward and backward, max pooling forward and
backward (NHWC, as nbengine/kernels/conv2d.py and maxpool.py)."""

from __future__ import annotations

import numpy as np

from nbengine.exercises.core import Case, Exercise, Mistake, Out, Worked


def _conv_ref():
    from nbengine.kernels.conv2d import conv2d_forward_naive

    return conv2d_forward_naive


def _conv_back_ref():
    from nbengine.kernels.conv2d import conv2d_backward_naive

    return conv2d_backward_naive


def _pool_ref():
    from nbengine.kernels.maxpool import maxpool_forward

    return maxpool_forward


def _pool_back_ref():
    from nbengine.kernels.maxpool import maxpool_backward

    return maxpool_backward


def kernel(module: str, name: str):
    """A kernel of nbengine/kernels/MODULE.py, imported when asked for."""
    import importlib

    return getattr(importlib.import_module(f"nbengine.kernels.{module}"), name)


def again(reference, **change):
    """A mistake made by running the reference with some arguments changed
    (each a value, or a function of the case's arguments)."""
    def compute(a):
        args = dict(a)
        for k, v in change.items():
            args[k] = v(a) if callable(v) else v
        reference()(*args.values())
    return compute


def flipped(a):
    return np.ascontiguousarray(a["w"][::-1, ::-1])


def _size(H, R, s, p):
    return (H + 2 * p - R) // s + 1


# -- convolution forward ------------------------------------------------------------------------

def conv_case(rng, label, N, H, W, C, K, R, S, sh, sw, p, dtype=np.float64) -> Case:
    OH, OW = _size(H, R, sh, p), _size(W, S, sw, p)
    return Case(label, {
        "out": np.zeros((N, OH, OW, K), dtype),
        "x": rng.standard_normal((N, H, W, C)).astype(dtype),
        "w": rng.standard_normal((R, S, C, K)).astype(dtype),
        "b": rng.standard_normal(K).astype(dtype),
        "sh": sh, "sw": sw, "pt": p, "pl": p})


def conv_cases(rng):
    return [
        conv_case(rng, ("3×3 filter, no padding, stride 1", "3×3 필터, 패딩 없음, 스트라이드 1"), 2, 5, 5, 2, 3, 3, 3, 1, 1, 0),
        conv_case(rng, ("padding 1, stride 1", "패딩 1, 스트라이드 1"), 2, 4, 4, 2, 2, 3, 3, 1, 1, 1),
        conv_case(rng, ("stride 2, odd sizes 7×5", "스트라이드 2, 홀수 크기 7×5"), 2, 7, 5, 3, 2, 3, 3, 2, 2, 0),
        conv_case(rng, ("stride 2 and padding 1, a 2×3 filter", "스트라이드 2, 패딩 1, 2×3 필터"), 1, 6, 7, 2, 3, 2, 3, 2, 2, 1),
        conv_case(rng, ("batch 1, padding 2 larger than the 1×1 filter", "배치 1, 1×1 필터보다 큰 패딩 2"),
                  1, 3, 3, 2, 2, 1, 1, 1, 1, 2),
        conv_case(rng, ("padding 4 larger than the 3×3 filter, stride 2", "3×3 필터보다 큰 패딩 4, 스트라이드 2"),
                  2, 3, 4, 1, 2, 3, 3, 2, 2, 4),
    ]


def conv_worked() -> Case:
    from nbengine.explain.lessons import CONV_FILTER, CONV_INPUT

    x = np.array(CONV_INPUT, np.float64).reshape(1, 4, 4, 1)
    w = np.array(CONV_FILTER, np.float64).reshape(3, 3, 1, 1)
    return Case(("the lesson's 4×4 input and 3×3 filter", "강의의 4×4 입력과 3×3 필터"),
                {"out": np.zeros((1, 2, 2, 1)), "x": x, "w": w, "b": np.zeros(1), "sh": 1, "sw": 1, "pt": 0, "pl": 0})


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


CONV_LETTERS = ("N = batch, H, W = input height and width, C = input channels, R, S = filter height and width,\n"
                "K = filters (output channels), OH, OW = output height and width",
                "N = 배치, H, W = 입력의 높이와 너비, C = 입력 채널, R, S = 필터의 높이와 너비,\n"
                "K = 필터 수 (출력 채널), OH, OW = 출력의 높이와 너비")

CONV_FORWARD = Exercise(
    name="conv2d_forward",
    lesson="cnn-theory",
    title=("Convolution forward, with padding and stride", "합성곱 순전파 (패딩과 스트라이드 포함)"),
    params=("out", "x", "w", "b", "sh", "sw", "pt", "pl"),
    outputs=(Out("out", "n i j k", "b[k] + Σ_r Σ_s Σ_c x[n, i·sh + r − pt, j·sw + s − pl, c] · w[r, s, c, k]  "
                 "(a position outside x counts as 0)", axes=(1, 2)),),
    reference=_conv_ref,
    doc=(CONV_LETTERS[0] + """.

x is (N, H, W, C), w is (R, S, C, K), b is (K,); out is (N, OH, OW, K), allocated by the caller.
sh, sw are the strides; pt, pl the zero padding above and to the left (the same below and right).

    out[n, i, j, k] = b[k] + sum over r, s, c of x[n, p, q, c] * w[r, s, c, k]
    where p = i*sh + r - pt and q = j*sw + s - pl
A position (p, q) outside x is padding: it reads as 0, so skip it.""",
         CONV_LETTERS[1] + """.

x 는 (N, H, W, C), w 는 (R, S, C, K), b 는 (K,); out 은 (N, OH, OW, K) 이며 호출하는 쪽에서 만들어 줍니다.
sh, sw 는 스트라이드, pt, pl 은 위쪽과 왼쪽의 0 패딩입니다 (아래쪽과 오른쪽도 같습니다).

    out[n, i, j, k] = b[k] + (r, s, c 에 대한 합) x[n, p, q, c] * w[r, s, c, k]
    여기서 p = i*sh + r - pt, q = j*sw + s - pl
(p, q) 가 x 밖이면 패딩이므로 0 으로 읽습니다: 그 항은 건너뛰면 됩니다."""),
    narration=("Write the convolution's forward pass as loops. Each output out[n, i, j, k] starts from the "
               "bias b[k] and adds, for every position (r, s) of the filter and every input channel c, the input "
               "under the filter times the filter. The window moves by the stride; the padding is the zeros "
               "around the input, so a position outside the input adds nothing. The lesson's worked example "
               "(4×4 input, 3×3 filter) must give 7, 6, 10, 7.",
               "합성곱의 순전파를 반복문으로 작성합니다. 출력 out[n, i, j, k] 는 편향 b[k] 에서 시작해, 필터의 "
               "모든 위치 (r, s) 와 모든 입력 채널 c 에 대해 필터 아래에 놓인 입력 값과 필터 값의 곱을 더한 "
               "것입니다. 창은 스트라이드만큼 이동하고, 패딩은 입력 둘레의 0 이므로 입력 밖의 위치는 아무것도 "
               "더하지 않습니다. 강의의 예제 (4×4 입력, 3×3 필터) 에서 7, 6, 10, 7 이 나와야 합니다."),
    worked=Worked(conv_worked, view=lambda name, a: a[0, :, :, 0]),
    cases=conv_cases,
    speed_case=lambda rng: conv_case(rng, ("8 images 28×28×8, 16 filters 3×3, padding 1",
                                           "이미지 8장 28×28×8, 3×3 필터 16개, 패딩 1"),
                                     8, 28, 28, 8, 16, 3, 3, 1, 1, 1, np.float32),
    mistakes=(
        Mistake("filter-flipped", ("filter flipped", "필터를 뒤집음"),
                ("You read the filter flipped (w[R-1-r, S-1-s]), as a mathematician's convolution does; the lessons and "
                 "every framework compute a cross-correlation: w[r, s, c, k] multiplies x[n, i·sh + r − pt, ...].",
                 "필터를 뒤집어 읽었습니다 (w[R-1-r, S-1-s]). 수학의 합성곱은 그렇게 하지만, 강의와 모든 프레임워크는 "
                 "교차 상관을 계산합니다: w[r, s, c, k] 는 x[n, i·sh + r − pt, ...] 와 곱해집니다."),
                again(_conv_ref, w=flipped)),
        Mistake("padding-one-side", ("padding on one side", "패딩을 한쪽에만 둠"),
                ("The padding sits only at the bottom and right: subtract pt and pl (p = i·sh + r − pt, "
                 "q = j·sw + s − pl) so the zeros are above and to the left too.",
                 "패딩이 아래쪽과 오른쪽에만 있습니다: pt 와 pl 을 빼서 (p = i·sh + r − pt, q = j·sw + s − pl) "
                 "위쪽과 왼쪽에도 0 이 오도록 하세요."),
                again(_conv_ref, pt=0, pl=0)),
        Mistake("padding-added", ("padding added, not subtracted", "패딩을 빼지 않고 더함"),
                ("The window starts pt rows above the output's row in the padded picture: p = i·sh + r − pt, "
                 "not + pt (and q = j·sw + s − pl).",
                 "패딩을 더했습니다: p = i·sh + r − pt 입니다 (+ pt 가 아님). q = j·sw + s − pl 도 마찬가지입니다."),
                again(_conv_ref, pt=lambda a: -a["pt"], pl=lambda a: -a["pl"])),
        Mistake("stride-ignored", ("stride ignored", "스트라이드를 무시함"),
                ("The window moves by the stride: its top-left corner is at row i·sh − pt and column j·sw − pl, "
                 "not i − pt and j − pl.",
                 "창은 스트라이드만큼 움직입니다: 창의 왼쪽 위는 i − pt, j − pl 이 아니라 i·sh − pt 행, "
                 "j·sw − pl 열입니다."),
                again(_conv_ref, sh=1, sw=1)),
        Mistake("bias-missing", ("bias missing", "편향 누락"),
                ("Each output starts from the bias: acc = b[k] before the sums (not 0).",
                 "각 출력은 편향에서 시작합니다: 합을 더하기 전에 acc = b[k] (0 이 아님)."),
                again(_conv_ref, b=lambda a: np.zeros_like(a["b"]))),
        Mistake("assign-not-add", ("= where += belongs", "+= 대신 ="),
                ("Each output keeps only its last product: the products are summed, so add them (acc += x·w, "
                 "or out[n, i, j, k] += ...) instead of assigning each one.",
                 "각 출력에 마지막 곱만 남았습니다: 곱들은 더해야 합니다. 하나씩 대입하지 말고 "
                 "acc += x·w (또는 out[n, i, j, k] += ...) 로 더하세요."),
                _conv_assign),
    ),
    hints=(("Loop n, i, j, k over out; start acc at b[k]; loop r, s, c; compute p and q; skip them when outside x.",
            "out 의 n, i, j, k 로 반복하고 acc 를 b[k] 로 시작하세요; r, s, c 로 반복하며 p, q 를 계산하고 x 밖이면 "
            "건너뛰세요."),),
    body=("# N, H, W, C = x.shape\n# R, S, _, K = w.shape\n# _, OH, OW, _ = out.shape",
          "# N, H, W, C = x.shape\n# R, S, _, K = w.shape\n# _, OH, OW, _ = out.shape"),
    fast=lambda: kernel("conv2d", "conv2d_forward"),
    c_twin="conv2d_forward_naive",
)
