"""The MNIST lesson's exercises: a dense layer backward, softmax with cross-entropy
backward, and the Adam update (nbengine/kernels/dense.py, softmax_cross_entropy.py,
adam.py)."""

from __future__ import annotations

import math

import numpy as np

from nbengine.exercises.core import Case, Exercise, Mistake, Out, Worked, after, kernel

_dense_ref = kernel("dense", "dense_backward_naive")
_sce_ref = kernel("softmax_cross_entropy", "softmax_cross_entropy_backward")
_adam_ref = kernel("adam", "adam_update")

# -- dense backward ------------------------------------------------------------------------------


def dense_case(rng, label, N, D, M, dtype=np.float64, need_dx=True) -> Case:
    x = rng.standard_normal((N, D)).astype(dtype)
    w = rng.standard_normal((D, M)).astype(dtype)
    return Case(
        label,
        {
            "dx": np.zeros((N, D), dtype),
            "dw": np.zeros((D, M), dtype),
            "db": np.zeros(M, dtype),
            "dout": rng.standard_normal((N, M)).astype(dtype),
            "x": x,
            "w": w,
            "need_dx": need_dx,
        },
        {"b": rng.standard_normal(M).astype(dtype)},
    )


def dense_cases(rng):
    return [
        dense_case(
            rng, ("3 samples, 4 inputs, 4 outputs", "샘플 3개, 입력 4개, 출력 4개"), 3, 4, 4
        ),
        dense_case(rng, ("batch 1, 3 inputs, 5 outputs", "배치 1, 입력 3개, 출력 5개"), 1, 3, 5),
        dense_case(
            rng, ("5 samples, 6 inputs, 2 outputs", "샘플 5개, 입력 6개, 출력 2개"), 5, 6, 2
        ),
        dense_case(
            rng,
            ("need_dx False: dx is left as it is", "need_dx 가 False: dx 는 건드리지 않음"),
            2,
            3,
            3,
            need_dx=False,
        ),
    ]


def dense_worked() -> Case:
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    w = np.array([[1.0, -1.0, 0.0], [0.5, 2.0, 1.0], [0.0, 1.0, -0.5]])
    dout = np.array([[1.0, -1.0, 0.5], [0.5, 2.0, -1.0]])
    return Case(
        ("two samples, three inputs, three outputs", "샘플 2개, 입력 3개, 출력 3개"),
        {
            "dx": np.zeros((2, 3)),
            "dw": np.zeros((3, 3)),
            "db": np.zeros(3),
            "dout": dout,
            "x": x,
            "w": w,
            "need_dx": True,
        },
        {"b": np.zeros(3)},
    )


def dense_gradient(case: Case):
    a = case.args
    x, w, b, dout = a["x"], a["w"], case.extra["b"], a["dout"]

    def loss():
        return float((dout * (x @ w + b)).sum())

    return loss, ({"dx": x, "dw": w, "db": b} if a["need_dx"] else {"dw": w, "db": b})


def _dense_dx_untransposed(a):
    _dense_ref()(*a.values())
    if a["need_dx"]:
        a["dx"][...] = a["dout"] @ a["w"]  # dx[n, d] = Σ_m dout[n, m] · w[m, d]: only when D = M


def _dense_db_last(a):
    _dense_ref()(*a.values())
    a["db"][...] = a["dout"][-1]


def _dense_assign(a):
    _dense_ref()(*a.values())
    a["dw"][...] = np.outer(a["x"][-1], a["dout"][-1])


DENSE_BACKWARD = Exercise(
    name="dense_backward",
    lesson="mnist-cnn",
    title=("Dense layer backward: dx, dw and db", "완전 연결층 역전파: dx, dw, db"),
    params=("dx", "dw", "db", "dout", "x", "w", "need_dx"),
    outputs=(
        Out("dx", "n d", "Σ_m dout[n, m] · w[d, m]   (dx = dout · wᵀ)", gradient_of="x"),
        Out("dw", "d m", "Σ_n x[n, d] · dout[n, m]   (dw = xᵀ · dout)", gradient_of="w"),
        Out("db", "m", "Σ_n dout[n, m]", gradient_of="b"),
    ),
    reference=_dense_ref,
    doc=(
        """N = batch, D = inputs, M = outputs; indexed n, d, m.

dout is (N, M) = dL/dout, x is (N, D), w is (D, M). Write dx (N, D) (only if need_dx; else leave
it as it is), dw (D, M) and db (M,); all three are overwritten.

The forward pass was  out[n, m] = b[m] + sum over d of x[n, d] * w[d, m]. So
    dx[n, d] = sum over m of dout[n, m] * w[d, m]      dx = dout · wᵀ
    dw[d, m] = sum over n of x[n, d] * dout[n, m]       dw = xᵀ · dout
    db[m]    = sum over n of dout[n, m]""",
        """N = 배치, D = 입력 수, M = 출력 수; 인덱스 n, d, m.

dout 은 (N, M) = dL/dout, x 는 (N, D), w 는 (D, M) 입니다. dx (N, D) (need_dx 일 때만; 아니면
그대로 둡니다), dw (D, M), db (M,) 를 쓰세요; 셋 모두 덮어쓰는 출력입니다.

순전파는  out[n, m] = b[m] + (d 에 대한 합) x[n, d] * w[d, m]  이었습니다. 따라서
    dx[n, d] = (m 에 대한 합) dout[n, m] * w[d, m]      dx = dout · wᵀ
    dw[d, m] = (n 에 대한 합) x[n, d] * dout[n, m]       dw = xᵀ · dout
    db[m]    = (n 에 대한 합) dout[n, m]""",
    ),
    narration=(
        "Write the dense layer's backward pass. Each output out[n, m] was a weighted sum of the inputs, so its "
        "gradient dout[n, m] goes back to each input through the weight w[d, m] (that is dout times w "
        "transposed), to each weight through the input x[n, d] (x transposed times dout), and to the bias as "
        "it is. Sum over the batch for dw and db.",
        "완전 연결층의 역전파를 작성합니다. 출력 out[n, m] 은 입력의 가중합이었으므로, 기울기 dout[n, m] 은 "
        "가중치 w[d, m] 을 거쳐 각 입력으로 (dout 곱하기 w 의 전치), 입력 x[n, d] 를 거쳐 각 가중치로 "
        "(x 의 전치 곱하기 dout), 그리고 편향으로는 그대로 돌아갑니다. dw 와 db 는 배치에 대해 더합니다.",
    ),
    worked=Worked(dense_worked),
    cases=dense_cases,
    speed_case=lambda rng: dense_case(
        rng,
        ("128 samples, 784 inputs, 128 outputs", "샘플 128개, 입력 784개, 출력 128개"),
        128,
        784,
        128,
        np.float32,
    ),
    mistakes=(
        Mistake(
            "transpose-forgotten",
            ("transpose forgotten", "전치를 빠뜨림"),
            (
                "dx = dout · wᵀ: dx[n, d] = Σ_m dout[n, m] · w[d, m], with w indexed [d, m] as it is stored "
                "(not w[m, d]).",
                "dx = dout · wᵀ 입니다: dx[n, d] = Σ_m dout[n, m] · w[d, m], w 는 저장된 대로 [d, m] 으로 읽습니다 "
                "(w[m, d] 가 아님).",
            ),
            _dense_dx_untransposed,
        ),
        Mistake(
            "db-not-summed",
            ("db not summed over the batch", "db 를 배치에 대해 더하지 않음"),
            (
                "db[m] is the sum of dout[n, m] over every sample n, not the last sample's.",
                "db[m] 은 마지막 샘플의 값이 아니라 모든 샘플 n 의 dout[n, m] 의 합입니다.",
            ),
            _dense_db_last,
        ),
        Mistake(
            "assign-not-add",
            ("= where += belongs", "+= 대신 ="),
            (
                "dw keeps only the last sample: every sample adds x[n, d] · dout[n, m] into dw[d, m] (+=, from 0).",
                "dw 에 마지막 샘플만 남았습니다: 모든 샘플이 dw[d, m] 에 x[n, d] · dout[n, m] 을 더합니다 "
                "(0 에서 시작해 +=).",
            ),
            _dense_assign,
        ),
    ),
    hints=(
        (
            "Three loops: dx[n, d] = Σ_m dout[n, m] w[d, m]; dw[d, m] = Σ_n x[n, d] dout[n, m]; db[m] = Σ_n dout[n, m]; "
            "each sum in an accumulator that starts at zero = x.dtype.type(0).",
            "반복문 셋: dx[n, d] = Σ_m dout[n, m] w[d, m]; dw[d, m] = Σ_n x[n, d] dout[n, m]; db[m] = Σ_n dout[n, m]; "
            "각 합은 zero = x.dtype.type(0) 에서 시작하는 누적 변수로.",
        ),
    ),
    body=(
        "# N, D = x.shape\n# M = w.shape[1]\n# zero = x.dtype.type(0)",
        "# N, D = x.shape\n# M = w.shape[1]\n# zero = x.dtype.type(0)",
    ),
    gradient=dense_gradient,
    fast=kernel("dense", "dense_backward"),
    c_twin="dense_backward_naive",
)


# -- softmax with cross-entropy backward -------------------------------------------------------------


def sce_case(rng, label, N, M, masked=0, dtype=np.float64) -> Case:
    z = (2 * rng.standard_normal((N, M))).astype(dtype)
    y = rng.integers(0, M, N).astype(np.int64)
    y[rng.permutation(N)[:masked]] = -1
    probs = np.zeros((N, M), dtype)
    kernel("softmax_cross_entropy", "softmax_cross_entropy_forward_naive")()(
        probs, np.zeros(N, dtype), z, y
    )
    return Case(label, {"dz": np.zeros((N, M), dtype), "probs": probs, "y": y}, {"z": z})


def sce_cases(rng):
    return [
        sce_case(rng, ("4 samples, 3 classes", "샘플 4개, 클래스 3개"), 4, 3),
        sce_case(rng, ("batch 1, 5 classes", "배치 1, 클래스 5개"), 1, 5),
        sce_case(
            rng,
            (
                "6 samples, 4 classes, 2 masked (class −1)",
                "샘플 6개, 클래스 4개, 2개는 가려짐 (클래스 −1)",
            ),
            6,
            4,
            masked=2,
        ),
        sce_case(rng, ("10 samples, 10 classes", "샘플 10개, 클래스 10개"), 10, 10),
    ]


def sce_worked() -> Case:
    z = np.array([[2.0, 1.0, 0.1]])
    y = np.array([0], np.int64)
    probs = np.zeros((1, 3))
    kernel("softmax_cross_entropy", "softmax_cross_entropy_forward_naive")()(
        probs, np.zeros(1), z, y
    )
    return Case(
        ("logits 2, 1, 0.1, true class 0", "로짓 2, 1, 0.1, 정답 클래스 0"),
        {"dz": np.zeros((1, 3)), "probs": probs, "y": y},
        {"z": z},
    )


def sce_gradient(case: Case):
    z, y = case.extra["z"], case.args["y"]
    N, M = z.shape
    probs, per_row = np.zeros((N, M)), np.zeros(N)
    forward = kernel("softmax_cross_entropy", "softmax_cross_entropy_forward_naive")()
    counted = max(int((y >= 0).sum()), 1)

    def loss():
        forward(probs, per_row, z, y)
        return float(per_row.sum() / counted)

    return loss, {"dz": z}


def _sce_counted(a):
    return max(int((a["y"] >= 0).sum()), 1)


def _sce_no_mean(a):
    a["dz"][...] *= _sce_counted(a)


def _sce_all_rows(a):
    a["dz"][...] *= _sce_counted(a) / a["y"].shape[0]


def _sce_masked_kept(a):
    rows = a["y"] < 0
    a["dz"][rows] = a["probs"][rows] / _sce_counted(a)


def _sce_no_one(a):
    a["dz"][...] = np.where((a["y"] >= 0)[:, None], a["probs"] / _sce_counted(a), 0)


SOFTMAX_CE_BACKWARD = Exercise(
    name="softmax_cross_entropy_backward",
    lesson="mnist-cnn",
    title=("Softmax with cross-entropy backward", "소프트맥스와 교차 엔트로피의 역전파"),
    params=("dz", "probs", "y"),
    outputs=(
        Out(
            "dz",
            "n m",
            "(probs[n, m] − [m = y[n]]) / N'   (0 for a row with y[n] < 0; N' = rows with y ≥ 0)",
            gradient_of="z",
        ),
    ),
    reference=_sce_ref,
    doc=(
        """N = batch, M = classes; indexed n and m. y[n] is the true class of sample n.

probs is (N, M), the softmax of the logits z from the forward pass; y is (N,) integers.
dz is (N, M), overwritten: the gradient of the mean loss over the rows that count.

    L = (1/N') sum over n of -log probs[n, y[n]]
    dz[n, m] = (probs[n, m] - [m == y[n]]) / N'
A row whose class is negative (-1: ignored, e.g. padding) has gradient 0, and N' counts only
the other rows (N' = 1 if there are none).""",
        """N = 배치, M = 클래스 수; 인덱스 n 과 m. y[n] 은 샘플 n 의 정답 클래스입니다.

probs 는 (N, M), 순전파에서 로짓 z 의 소프트맥스입니다; y 는 (N,) 정수입니다.
dz 는 (N, M) 이며 덮어씁니다: 세는 행들에 대한 평균 손실의 기울기입니다.

    L = (1/N') (n 에 대한 합) -log probs[n, y[n]]
    dz[n, m] = (probs[n, m] - [m == y[n]]) / N'
클래스가 음수 (-1: 무시, 예를 들어 패딩) 인 행은 기울기가 0 이고, N' 은 나머지 행만 셉니다
(하나도 없으면 N' = 1).""",
    ),
    narration=(
        "Write the gradient of softmax followed by cross-entropy, the famously simple one: the predicted "
        "probabilities minus 1 at the true class, divided by the number of rows that count. Rows whose class "
        "is −1 are masked: their gradient is 0 and they are not counted.",
        "소프트맥스 다음 교차 엔트로피의 기울기를 작성합니다. 잘 알려진 간단한 형태입니다: 예측 확률에서 정답 "
        "클래스 자리만 1 을 빼고, 세는 행의 수로 나눕니다. 클래스가 −1 인 행은 가려진 행입니다: 기울기는 "
        "0 이고 세지도 않습니다.",
    ),
    worked=Worked(sce_worked),
    cases=sce_cases,
    speed_case=lambda rng: sce_case(
        rng,
        ("4096 rows, 1000 classes, 100 masked", "행 4096개, 클래스 1000개, 100개 가려짐"),
        4096,
        1000,
        masked=100,
        dtype=np.float32,
    ),
    mistakes=(
        Mistake(
            "mean-missing",
            ("mean over the batch missing", "배치 평균 누락"),
            (
                "The loss is the mean over the rows that count: divide by N' (the rows with y ≥ 0).",
                "손실은 세는 행들의 평균입니다: N' (y ≥ 0 인 행의 수) 으로 나누세요.",
            ),
            after(_sce_ref, _sce_no_mean),
        ),
        Mistake(
            "masked-counted",
            ("masked rows counted", "가려진 행까지 셈"),
            (
                "Divide by N', the rows whose class is not negative, not by N: masked rows are not in the mean.",
                "N 이 아니라 클래스가 음수가 아닌 행의 수 N' 으로 나누세요: 가려진 행은 평균에 들어가지 않습니다.",
            ),
            after(_sce_ref, _sce_all_rows),
        ),
        Mistake(
            "masked-not-zero",
            ("masked rows not zeroed", "가려진 행을 0 으로 두지 않음"),
            (
                "A row with y[n] < 0 is ignored: its whole row of dz is 0.",
                "y[n] < 0 인 행은 무시합니다: 그 행의 dz 는 모두 0 입니다.",
            ),
            after(_sce_ref, _sce_masked_kept),
        ),
        Mistake(
            "one-hot-missing",
            ("the −1 at the true class missing", "정답 클래스의 −1 누락"),
            (
                "dz[n, m] = (probs[n, m] − [m = y[n]]) / N': subtract 1/N' at the true class y[n].",
                "dz[n, m] = (probs[n, m] − [m = y[n]]) / N': 정답 클래스 y[n] 자리에서 1/N' 을 빼세요.",
            ),
            after(_sce_ref, _sce_no_one),
        ),
    ),
    hints=(
        (
            "Count N' (rows with y ≥ 0) first; then for each row: all zeros if y[n] < 0, else probs / N' with "
            "1 / N' taken off at y[n].",
            "먼저 N' (y ≥ 0 인 행) 을 세고, 각 행에서 y[n] < 0 이면 모두 0, 아니면 probs / N' 에서 y[n] 자리만 "
            "1 / N' 을 빼세요.",
        ),
    ),
    body=(
        "# N, M = probs.shape\n# one = probs.dtype.type(1)",
        "# N, M = probs.shape\n# one = probs.dtype.type(1)",
    ),
    gradient=sce_gradient,
)


# -- Adam ----------------------------------------------------------------------------------------


def adam_case(rng, label, E, step=1, eps=1e-7, dtype=np.float64) -> Case:
    lr, beta1, beta2 = 0.01, 0.9, 0.999
    m = (0.1 * rng.standard_normal(E)).astype(dtype) if step > 1 else np.zeros(E, dtype)
    v = (0.01 * rng.random(E)).astype(dtype) if step > 1 else np.zeros(E, dtype)
    alpha = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
    return Case(
        label,
        {
            "p": rng.standard_normal(E).astype(dtype),
            "m": m,
            "v": v,
            "g": rng.standard_normal(E).astype(dtype),
            "alpha": dtype(alpha),
            "beta1": dtype(beta1),
            "beta2": dtype(beta2),
            "eps": dtype(eps),
        },
    )  # the scalars have p's dtype


def adam_cases(rng):
    return [
        adam_case(rng, ("the first step: m and v start at 0", "첫 걸음: m 과 v 는 0 에서 시작"), 5),
        adam_case(
            rng,
            ("step 10, with m and v from earlier steps", "10번째 걸음, 이전 걸음의 m 과 v"),
            7,
            step=10,
        ),
        adam_case(rng, ("a large eps, 0.1", "큰 eps, 0.1"), 6, step=3, eps=0.1),
        adam_case(rng, ("one parameter", "파라미터 하나"), 1, step=2),
    ]


def adam_worked() -> Case:
    lr, beta1, beta2 = 0.001, 0.9, 0.999
    return Case(
        ("Keras's defaults, the first step", "Keras 기본값, 첫 걸음"),
        {
            "p": np.array([1.0, -1.0, 0.5]),
            "m": np.zeros(3),
            "v": np.zeros(3),
            "g": np.array([0.1, -0.2, 0.3]),
            "alpha": np.float64(lr * math.sqrt(1 - beta2) / (1 - beta1)),
            "beta1": np.float64(beta1),
            "beta2": np.float64(beta2),
            "eps": np.float64(1e-7),
        },
    )


def _adam_variant(eps_inside=False, swapped=False, g_not_squared=False, old_m=False):
    def compute(a):
        p, m, v, g = a["p"], a["m"], a["v"], a["g"]
        b1, b2 = a["beta1"], a["beta2"]
        m_before = m.copy()
        if swapped:
            m[...] = (1 - b1) * m + b1 * g
            v[...] = (1 - b2) * v + b2 * g * g
        else:
            m[...] = m + (1 - b1) * (g - m)
            v[...] = v + (1 - b2) * ((g if g_not_squared else g * g) - v)
        mm = m_before if old_m else m
        if eps_inside:
            p[...] = p - a["alpha"] * mm / np.sqrt(v + a["eps"])
        else:
            p[...] = p - a["alpha"] * mm / (np.sqrt(v) + a["eps"])

    return compute


ADAM = Exercise(
    name="adam_update",
    lesson="mnist-cnn",
    title=("The Adam update", "Adam 갱신"),
    params=("p", "m", "v", "g", "alpha", "beta1", "beta2", "eps"),
    outputs=(
        Out("p", "e", "p[e] − alpha · m[e] / (√v[e] + eps)   (with the new m and v)", fill="keep"),
        Out("m", "e", "m[e] + (1 − beta1) · (g[e] − m[e])", fill="keep"),
        Out("v", "e", "v[e] + (1 − beta2) · (g[e]² − v[e])", fill="keep"),
    ),
    reference=_adam_ref,
    doc=(
        """E = number of parameters (a flat view of one parameter array), indexed e.

p, m, v (zero at first) and g (the gradient) are (E,); p, m and v are updated in place.
alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t) is computed by the caller (bias correction).

    m[e] = m[e] + (1 - beta1) * (g[e] - m[e])          the mean of recent gradients
    v[e] = v[e] + (1 - beta2) * (g[e]^2 - v[e])        the mean of their squares
    p[e] = p[e] - alpha * m[e] / (sqrt(v[e]) + eps)    (the new m and v)""",
        """E = 파라미터 수 (파라미터 배열 하나를 평평하게 본 것), 인덱스 e.

p, m, v (처음엔 0) 와 g (기울기) 는 (E,) 이며, p, m, v 를 제자리에서 갱신합니다.
alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t) 는 호출하는 쪽에서 계산합니다 (편향 보정).

    m[e] = m[e] + (1 - beta1) * (g[e] - m[e])          최근 기울기의 평균
    v[e] = v[e] + (1 - beta2) * (g[e]^2 - v[e])        기울기 제곱의 평균
    p[e] = p[e] - alpha * m[e] / (sqrt(v[e]) + eps)    (새 m 과 v 로)""",
    ),
    narration=(
        "Write one step of Adam, element by element: move the running mean of the gradient m and of its "
        "square v towards the new gradient, then step each parameter by alpha · m / (√v + eps): a step "
        "scaled per parameter, smaller where the gradient has been large.",
        "Adam 의 한 걸음을 원소별로 작성합니다: 기울기의 이동 평균 m 과 기울기 제곱의 이동 평균 v 를 새 "
        "기울기 쪽으로 옮기고, 각 파라미터를 alpha · m / (√v + eps) 만큼 움직입니다: 파라미터마다 크기가 "
        "다른 걸음으로, 기울기가 컸던 곳에서는 작아집니다.",
    ),
    worked=Worked(adam_worked),
    cases=adam_cases,
    speed_case=lambda rng: adam_case(
        rng, ("a million parameters", "파라미터 백만 개"), 1_000_000, step=5, dtype=np.float32
    ),
    mistakes=(
        Mistake(
            "eps-inside-sqrt",
            ("eps inside the square root", "eps 를 제곱근 안에 넣음"),
            (
                "eps is added after the square root: alpha · m / (√v + eps), not alpha · m / √(v + eps).",
                "eps 는 제곱근 바깥에서 더합니다: alpha · m / √(v + eps) 가 아니라 alpha · m / (√v + eps).",
            ),
            _adam_variant(eps_inside=True),
            compares=("p",),
        ),
        Mistake(
            "betas-swapped",
            ("beta and 1 − beta swapped", "beta 와 1 − beta 가 바뀜"),
            (
                "The old mean keeps the weight beta: m = beta1 · m + (1 − beta1) · g (and v likewise with beta2).",
                "이전 평균이 beta 의 비중을 가집니다: m = beta1 · m + (1 − beta1) · g (v 도 beta2 로 마찬가지).",
            ),
            _adam_variant(swapped=True),
        ),
        Mistake(
            "g-not-squared",
            ("v averages g, not g²", "v 가 g² 이 아니라 g 를 평균함"),
            (
                "v is the running mean of the squared gradient: (1 − beta2) · (g² − v).",
                "v 는 기울기 제곱의 이동 평균입니다: (1 − beta2) · (g² − v).",
            ),
            _adam_variant(g_not_squared=True),
            compares=("v",),
        ),
        Mistake(
            "old-m",
            ("p stepped with the old m", "이전 m 으로 p 를 갱신함"),
            (
                "Update m and v first, then step p with the new m and v.",
                "m 과 v 를 먼저 갱신한 뒤, 새 m 과 v 로 p 를 움직이세요.",
            ),
            _adam_variant(old_m=True),
            compares=("p",),
        ),
    ),
    hints=(
        (
            "For each e: m[e] += (1 − beta1)(g[e] − m[e]); v[e] += (1 − beta2)(g[e]² − v[e]); "
            "p[e] −= alpha · m[e] / (√v[e] + eps), with one = p.dtype.type(1).",
            "각 e 에 대해: m[e] += (1 − beta1)(g[e] − m[e]); v[e] += (1 − beta2)(g[e]² − v[e]); "
            "p[e] −= alpha · m[e] / (√v[e] + eps), one = p.dtype.type(1).",
        ),
    ),
    body=("# E = p.shape[0]\n# one = p.dtype.type(1)", "# E = p.shape[0]\n# one = p.dtype.type(1)"),
)
