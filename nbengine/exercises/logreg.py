"""The first lesson's exercises: logistic regression forward, and the chain rule backward
(nbengine/kernels/logistic.py)."""

from __future__ import annotations

import numpy as np

from nbengine.exercises.core import Case, Exercise, Mistake, Out, Worked, after, again, kernel

_forward_ref = kernel("logistic", "logistic_forward_naive")
_backward_ref = kernel("logistic", "logistic_backward")

SIGMOID_PAIR = '''@njit(cache=True, error_model="numpy")
def _sigmoid_pair(t, one):
    """(sigmoid(t), sigmoid(-t)) = (1 / (1 + e^-t), 1 / (1 + e^t)), from one exp.
    Written with e = e^-|t| <= 1 so that exp never overflows. Given: call it."""
    e = np.exp(-abs(t))
    if t >= 0:
        return one / (one + e), e / (one + e)
    return e / (one + e), one / (one + e)'''

LETTERS = (
    "N = batch (samples), D = features (inputs), indexed n and i",
    "N = 배치 (샘플 수), D = 특성 (입력) 수, 인덱스 n 과 i",
)


def forward_case(rng, label, N, D, scale=1.0, dtype=np.float64) -> Case:
    return Case(
        label,
        {
            "z": np.zeros(N, dtype),
            "a": np.zeros(N, dtype),
            "one_minus_a": np.zeros(N, dtype),
            "x": (scale * rng.standard_normal((N, D))).astype(dtype),
            "w": rng.standard_normal(D).astype(dtype),
            "b": rng.standard_normal(1).astype(dtype),
        },
    )


def forward_cases(rng):
    return [
        forward_case(rng, ("4 samples, 3 features", "샘플 4개, 특성 3개"), 4, 3),
        forward_case(rng, ("batch 1, 1 feature", "배치 1, 특성 1개"), 1, 1),
        forward_case(rng, ("7 samples, 5 features", "샘플 7개, 특성 5개"), 7, 5),
        forward_case(
            rng,
            ("large |z|: a saturates near 0 and 1", "큰 |z|: a 가 0 과 1 근처로 포화"),
            6,
            4,
            30.0,
        ),
    ]


WORKED_X = ((1.0, 2.0), (0.0, -1.0), (3.0, 0.5))
WORKED_W = (0.5, -0.25)
WORKED_B = 0.1


def forward_worked() -> Case:
    return Case(
        (
            "three samples, two features, w = (0.5, −0.25), b = 0.1",
            "샘플 3개, 특성 2개, w = (0.5, −0.25), b = 0.1",
        ),
        {
            "z": np.zeros(3),
            "a": np.zeros(3),
            "one_minus_a": np.zeros(3),
            "x": np.array(WORKED_X),
            "w": np.array(WORKED_W),
            "b": np.array([WORKED_B]),
        },
    )


def _swap_a(a):
    a["a"][...], a["one_minus_a"][...] = a["one_minus_a"].copy(), a["a"].copy()


def _forward_assign(a):
    """s = w[i]·x[n, i] inside the loop: z keeps the last feature's product, without the bias."""
    x, w = a["x"], a["w"]
    z = x[:, -1] * w[-1]
    a["z"][...] = z
    a["a"][...] = 1 / (1 + np.exp(-z))
    a["one_minus_a"][...] = 1 / (1 + np.exp(z))


LOGISTIC_FORWARD = Exercise(
    name="logistic_forward",
    lesson="logreg",
    title=(
        "Logistic regression forward: z = x·w + b, a = sigmoid(z)",
        "로지스틱 회귀 순전파: z = x·w + b, a = sigmoid(z)",
    ),
    params=("z", "a", "one_minus_a", "x", "w", "b"),
    outputs=(
        Out("z", "n", "b[0] + Σ_i w[i] · x[n, i]"),
        Out("a", "n", "sigmoid(z[n]) = 1 / (1 + e^−z[n])"),
        Out("one_minus_a", "n", "1 − a[n] = sigmoid(−z[n])"),
    ),
    reference=_forward_ref,
    doc=(
        LETTERS[0]
        + """.

x is (N, D), w is (D,), b is (1,); z, a and one_minus_a are (N,), allocated by the caller.

    z[n] = b[0] + sum over i of w[i] * x[n, i]        the weighted sum
    a[n] = sigmoid(z[n]) = 1 / (1 + e^-z[n])          the probability of class 1
    one_minus_a[n] = 1 - a[n]
_sigmoid_pair(z, one) above gives (a, 1 - a) from z without overflow; one = x.dtype.type(1).""",
        LETTERS[1]
        + """.

x 는 (N, D), w 는 (D,), b 는 (1,); z, a, one_minus_a 는 (N,) 이며 호출하는 쪽에서 만들어 줍니다.

    z[n] = b[0] + (i 에 대한 합) w[i] * x[n, i]        가중합
    a[n] = sigmoid(z[n]) = 1 / (1 + e^-z[n])          클래스 1 일 확률
    one_minus_a[n] = 1 - a[n]
위의 _sigmoid_pair(z, one) 은 z 로부터 (a, 1 - a) 를 넘침 없이 계산해 줍니다; one = x.dtype.type(1).""",
    ),
    narration=(
        "Write logistic regression's forward pass for a batch: for each sample, the weighted sum of its "
        "features plus the bias, then the sigmoid of it. Keep 1 − a as well: the backward pass and the loss "
        "need it, and computing it as sigmoid(−z) keeps it exact when a is close to 1.",
        "배치에 대한 로지스틱 회귀의 순전파를 작성합니다: 샘플마다 특성의 가중합에 편향을 더하고, 그 값의 "
        "시그모이드를 구합니다. 1 − a 도 함께 저장하세요: 역전파와 손실에 필요하고, sigmoid(−z) 로 계산하면 "
        "a 가 1 에 가까울 때도 정확합니다.",
    ),
    worked=Worked(forward_worked, view=lambda name, a: np.atleast_2d(a)),
    cases=forward_cases,
    speed_case=lambda rng: forward_case(
        rng, ("4096 samples, 256 features", "샘플 4096개, 특성 256개"), 4096, 256, dtype=np.float32
    ),
    mistakes=(
        Mistake(
            "bias-missing",
            ("bias missing", "편향 누락"),
            (
                "z starts from the bias: s = b[0] before adding w[i]·x[n, i] (not 0).",
                "z 는 편향에서 시작합니다: w[i]·x[n, i] 를 더하기 전에 s = b[0] (0 이 아님).",
            ),
            again(_forward_ref, b=lambda a: np.zeros_like(a["b"])),
        ),
        Mistake(
            "a-swapped",
            ("a and 1 − a swapped", "a 와 1 − a 가 바뀜"),
            (
                "a = sigmoid(z) = 1 / (1 + e^−z) is the probability of class 1: _sigmoid_pair returns (a, 1 − a) "
                "in that order.",
                "a = sigmoid(z) = 1 / (1 + e^−z) 가 클래스 1 일 확률입니다: _sigmoid_pair 는 (a, 1 − a) 순서로 "
                "돌려줍니다.",
            ),
            after(_forward_ref, _swap_a),
        ),
        Mistake(
            "assign-not-add",
            ("= where += belongs", "+= 대신 ="),
            (
                "z keeps only the last feature's product: add every w[i]·x[n, i] into the sum (s += ...), "
                "starting from b[0].",
                "z 에 마지막 특성의 곱만 남았습니다: b[0] 에서 시작해 모든 w[i]·x[n, i] 를 더하세요 (s += ...).",
            ),
            _forward_assign,
        ),
    ),
    hints=(
        (
            "For each n: s = b[0]; for each i: s += w[i] * x[n, i]; z[n] = s; a[n], one_minus_a[n] = "
            "_sigmoid_pair(s, one).",
            "각 n 에 대해: s = b[0]; 각 i 에 대해 s += w[i] * x[n, i]; z[n] = s; a[n], one_minus_a[n] = "
            "_sigmoid_pair(s, one).",
        ),
    ),
    body=("# N, D = x.shape\n# one = x.dtype.type(1)", "# N, D = x.shape\n# one = x.dtype.type(1)"),
    helpers=SIGMOID_PAIR,
    fast=kernel("logistic", "logistic_forward"),
)


# -- the chain rule ------------------------------------------------------------------------------


def backward_case(rng, label, N, D, scale=1.0, dtype=np.float64) -> Case:
    f = forward_case(rng, label, N, D, scale, dtype)
    _forward_ref()(*f.args.values())
    y = (rng.random(N) < 0.5).astype(dtype)
    x = f.args["x"]
    return Case(
        label,
        {
            "dw": np.zeros(D, dtype),
            "db": np.zeros(1, dtype),
            "dL_da": np.zeros(N, dtype),
            "da_dz": np.zeros(N, dtype),
            "dL_dz": np.zeros(N, dtype),
            "x": x,
            "a": f.args["a"],
            "one_minus_a": f.args["one_minus_a"],
            "y": y,
        },
        {"w": f.args["w"], "b": f.args["b"]},
    )


def backward_cases(rng):
    return [
        backward_case(rng, ("4 samples, 3 features", "샘플 4개, 특성 3개"), 4, 3),
        backward_case(rng, ("batch 1, 2 features", "배치 1, 특성 2개"), 1, 2),
        backward_case(rng, ("9 samples, 5 features", "샘플 9개, 특성 5개"), 9, 5),
    ]


def backward_worked() -> Case:
    f = forward_worked()
    _forward_ref()(*f.args.values())
    return Case(
        (
            "the forward example's three samples, labels 1, 0, 1",
            "순전파 예제의 샘플 3개, 레이블 1, 0, 1",
        ),
        {
            "dw": np.zeros(2),
            "db": np.zeros(1),
            "dL_da": np.zeros(3),
            "da_dz": np.zeros(3),
            "dL_dz": np.zeros(3),
            "x": f.args["x"],
            "a": f.args["a"],
            "one_minus_a": f.args["one_minus_a"],
            "y": np.array([1.0, 0.0, 1.0]),
        },
        {"w": f.args["w"], "b": f.args["b"]},
    )


def backward_gradient(case: Case):
    a = case.args
    x, y, w, b = a["x"], a["y"], case.extra["w"], case.extra["b"]
    N = x.shape[0]
    z, p, q, loss_ = (np.zeros(N) for _ in range(4))
    forward, per_sample = _forward_ref(), kernel("logistic", "logistic_loss")()

    def loss():
        forward(z, p, q, x, w, b)
        per_sample(loss_, z, y)
        return float(loss_.mean())

    return loss, {"dw": w, "db": b}


def _no_mean(a):
    N = a["x"].shape[0]
    a["dw"][...] *= N
    a["db"][...] *= N


def _sign(a):
    a["dw"][...] *= -1
    a["db"][...] *= -1
    a["dL_dz"][...] *= -1


def _backward_assign(a):
    N = a["x"].shape[0]
    g = (a["a"][-1] - a["y"][-1]) / N
    a["dw"][...] = g * a["x"][-1]
    a["db"][...] = g


def _da_dz_without(a):
    a["da_dz"][...] = a["a"]


LOGISTIC_BACKWARD = Exercise(
    name="logistic_backward",
    lesson="logreg",
    title=(
        "Logistic regression backward: the chain rule, dL/dw and dL/db",
        "로지스틱 회귀 역전파: 연쇄 법칙, dL/dw 와 dL/db",
    ),
    params=("dw", "db", "dL_da", "da_dz", "dL_dz", "x", "a", "one_minus_a", "y"),
    outputs=(
        Out("dw", "i", "(1/N) Σ_n (a[n] − y[n]) · x[n, i]", fill="zero", gradient_of="w"),
        Out("db", "0", "(1/N) Σ_n (a[n] − y[n])", fill="zero", gradient_of="b"),
        Out("dL_da", "n", "−y[n] / a[n] + (1 − y[n]) / (1 − a[n])"),
        Out("da_dz", "n", "a[n] · (1 − a[n])"),
        Out("dL_dz", "n", "dL/da · da/dz = a[n] − y[n]"),
    ),
    reference=_backward_ref,
    doc=(
        LETTERS[0]
        + """.

x is (N, D); a, one_minus_a (= 1 - a) and y (labels 0 or 1) are (N,).
Write the per-sample factors dL_da, da_dz, dL_dz (N,), and ADD the batch-mean gradients into
dw (D,) and db (1,), which the caller set to 0.

The loss of a sample is L = -(y log a + (1 - y) log(1 - a)), and the chain rule is
    dL/da = -y / a + (1 - y) / (1 - a)
    da/dz = a (1 - a)
    dL/dz = dL/da * da/dz = a - y       (write it as a - y: it stays finite when a saturates)
    dz/dw[i] = x[n, i],  dz/db = 1
so  dw[i] += (1/N) sum over n of (a[n] - y[n]) * x[n, i]  and  db[0] += (1/N) sum over n of (a[n] - y[n]).""",
        LETTERS[1]
        + """.

x 는 (N, D); a, one_minus_a (= 1 - a), y (레이블 0 또는 1) 는 (N,) 입니다.
샘플별 인자 dL_da, da_dz, dL_dz (N,) 를 쓰고, 배치 평균 기울기를 dw (D,) 와 db (1,) 에
더하세요 (호출하는 쪽에서 0 으로 만들어 둡니다).

샘플 하나의 손실은 L = -(y log a + (1 - y) log(1 - a)) 이고, 연쇄 법칙은
    dL/da = -y / a + (1 - y) / (1 - a)
    da/dz = a (1 - a)
    dL/dz = dL/da * da/dz = a - y       (a - y 로 쓰세요: a 가 포화해도 유한합니다)
    dz/dw[i] = x[n, i],  dz/db = 1
따라서  dw[i] += (1/N) (n 에 대한 합) (a[n] - y[n]) * x[n, i],  db[0] += (1/N) (n 에 대한 합) (a[n] - y[n]).""",
    ),
    narration=(
        "Write the lesson's chain rule as loops: for each sample, the three factors dL/da, da/dz and their "
        "product dL/dz = a − y; then the gradients of the weights and the bias, averaged over the batch. "
        "dw and db arrive as zeros: add into them.",
        "강의의 연쇄 법칙을 반복문으로 작성합니다: 샘플마다 세 인자 dL/da, da/dz 와 그 곱 dL/dz = a − y 를 "
        "구하고, 가중치와 편향의 기울기를 배치 평균으로 구합니다. dw 와 db 는 0 으로 들어옵니다: 거기에 "
        "더하세요.",
    ),
    worked=Worked(backward_worked, view=lambda name, a: np.atleast_2d(a)),
    cases=backward_cases,
    speed_case=lambda rng: backward_case(
        rng, ("4096 samples, 256 features", "샘플 4096개, 특성 256개"), 4096, 256, dtype=np.float32
    ),
    mistakes=(
        Mistake(
            "mean-missing",
            ("mean over the batch missing", "배치 평균 누락"),
            (
                "The loss is the mean over the batch, so each sample's gradient is divided by N: g = (a − y) / N.",
                "손실은 배치의 평균이므로 샘플마다 기울기를 N 으로 나눕니다: g = (a − y) / N.",
            ),
            after(_backward_ref, _no_mean),
            compares=("dw", "db"),
        ),
        Mistake(
            "sign-flipped",
            ("sign flipped", "부호가 반대"),
            (
                "dL/dz = a − y, not y − a: the loss falls as a moves towards y, so its gradient points away.",
                "dL/dz 는 y − a 가 아니라 a − y 입니다.",
            ),
            after(_backward_ref, _sign),
            compares=("dw", "db"),
        ),
        Mistake(
            "assign-not-add",
            ("= where += belongs", "+= 대신 ="),
            (
                "dw and db keep only the last sample: add every sample's share (dw[i] += g · x[n, i], db[0] += g).",
                "dw 와 db 에 마지막 샘플만 남았습니다: 모든 샘플의 몫을 더하세요 (dw[i] += g · x[n, i], db[0] += g).",
            ),
            after(_backward_ref, _backward_assign),
            compares=("dw", "db"),
        ),
        Mistake(
            "da-dz-without-one-minus",
            ("da/dz is a(1 − a)", "da/dz 는 a(1 − a)"),
            (
                "The sigmoid's derivative is a · (1 − a), not a.",
                "시그모이드의 도함수는 a 가 아니라 a · (1 − a) 입니다.",
            ),
            after(_backward_ref, _da_dz_without),
            compares=("da_dz",),
        ),
    ),
    hints=(
        (
            "For each n: dL_da, da_dz, dL_dz from a, 1 − a and y; then g = dL_dz[n] / N; dw[i] += g · x[n, i]; "
            "db[0] += g.",
            "각 n 에 대해 a, 1 − a, y 로 dL_da, da_dz, dL_dz 를 구하고, g = dL_dz[n] / N; dw[i] += g · x[n, i]; "
            "db[0] += g.",
        ),
    ),
    body=(
        "# N, D = x.shape\n# zero, one = x.dtype.type(0), x.dtype.type(1)",
        "# N, D = x.shape\n# zero, one = x.dtype.type(0), x.dtype.type(1)",
    ),
    gradient=backward_gradient,
)
