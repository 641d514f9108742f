"""The recurrent lessons' exercises: the RNN forward and backpropagation through time, the
LSTM step forward (one fused affine, sliced f, g, i, o) and backward
(nbengine/kernels/rnn.py and lstm.py). Layout: xs (N, T, D), hs (N, T, H), Wx (D, H) or
(D, 4H), Wh (H, H) or (H, 4H)."""

from __future__ import annotations

import numpy as np

from nbengine.exercises.core import Case, Exercise, Mistake, Out, Worked, again, in_parts, kernel

_rnn_ref = kernel("rnn", "rnn_forward_naive")
_rnn_back_ref = kernel("rnn", "rnn_backward_naive")
_lstm_ref = kernel("lstm", "lstm_forward_naive")
_lstm_back_ref = kernel("lstm", "lstm_backward_naive")

SIGMOID = '''@njit(cache=True)
def _sigmoid(a, one):
    """1 / (1 + e^-a), without overflow for large negative a. Given: call it."""
    if a >= 0:
        return one / (one + np.exp(-a))
    e = np.exp(a)
    return e / (one + e)'''

RNN_LETTERS = (
    "N = batch, T = time steps, D = input size, H = hidden size;\n"
    "indexed n, t, d, and i, j for hidden units (i for the previous step's h, j for this one's)",
    "N = 배치, T = 시간 단계 수, D = 입력 크기, H = 은닉 크기;\n"
    "인덱스 n, t, d, 그리고 은닉 유닛은 i, j (i 는 이전 단계의 h, j 는 이번 단계의 h)",
)


def _sig(a):
    return 1 / (1 + np.exp(-a))


def _weights(rng, D, H, width, dtype):
    s = 0.6
    return (
        (s * rng.standard_normal((D, width))).astype(dtype),
        (s * rng.standard_normal((H, width))).astype(dtype),
        (0.3 * rng.standard_normal(width)).astype(dtype),
    )


SIZES = [
    (("2 sequences, 3 steps, D = 2, H = 3", "시퀀스 2개, 3 단계, D = 2, H = 3"), 2, 3, 2, 3),
    (("T = 1: one step only", "T = 1: 한 단계뿐"), 2, 1, 3, 2),
    (("batch 1, 5 steps, D = H = 2", "배치 1, 5 단계, D = H = 2"), 1, 5, 2, 2),
    (("3 sequences, 4 steps, D = 3, H = 4", "시퀀스 3개, 4 단계, D = 3, H = 4"), 3, 4, 3, 4),
]


# -- RNN forward ---------------------------------------------------------------------------------


def rnn_case(rng, label, N, T, D, H, dtype=np.float64) -> Case:
    Wx, Wh, b = _weights(rng, D, H, H, dtype)
    return Case(
        label,
        {
            "hs": np.zeros((N, T, H), dtype),
            "h0": (0.5 * rng.standard_normal((N, H))).astype(dtype),
            "xs": rng.standard_normal((N, T, D)).astype(dtype),
            "Wx": Wx,
            "Wh": Wh,
            "b": b,
        },
    )


def rnn_cases(rng):
    return [rnn_case(rng, *s) for s in SIZES]


def rnn_worked() -> Case:
    return Case(
        ("one sequence of 3 steps, D = H = 2, h0 = 0", "3 단계 시퀀스 하나, D = H = 2, h0 = 0"),
        {
            "hs": np.zeros((1, 3, 2)),
            "h0": np.zeros((1, 2)),
            "xs": np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]),
            "Wx": np.array([[0.5, -0.5], [0.25, 0.75]]),
            "Wh": np.array([[0.1, 0.2], [-0.3, 0.4]]),
            "b": np.array([0.0, 0.1]),
        },
    )


def _rnn_forward(carry=True, Wh_transposed=False, act=np.tanh):
    def compute(a):
        xs, Wx, b = a["xs"], a["Wx"], a["b"]
        Wh = a["Wh"].T if Wh_transposed else a["Wh"]
        h = a["h0"]
        for t in range(xs.shape[1]):
            h = act(xs[:, t] @ Wx + (h if carry else a["h0"]) @ Wh + b)
            a["hs"][:, t] = h

    return compute


RNN_FORWARD = Exercise(
    name="rnn_forward",
    lesson="rnn-bptt",
    title=("The RNN forward over a sequence", "RNN 순전파 (시퀀스 전체)"),
    params=("hs", "h0", "xs", "Wx", "Wh", "b"),
    outputs=(
        Out(
            "hs",
            "n t j",
            "tanh(b[j] + Σ_d xs[n, t, d] · Wx[d, j] + Σ_i h_{t−1}[n, i] · Wh[i, j])   "
            "(h_{−1} = h0)",
        ),
    ),
    reference=_rnn_ref,
    doc=(
        RNN_LETTERS[0]
        + """.

xs is (N, T, D), h0 is (N, H) (the state carried in), Wx is (D, H), Wh is (H, H), b is (H,);
hs is (N, T, H), the hidden state after every step, allocated by the caller.

For t = 0, 1, ..., T-1, with h_{-1} = h0:
    z[j]         = b[j] + sum over d of xs[n, t, d] * Wx[d, j] + sum over i of h_{t-1}[i] * Wh[i, j]
    hs[n, t, j]  = tanh(z[j])
In matrix form h_t = tanh(x_t·Wx + h_{t-1}·Wh + b).""",
        RNN_LETTERS[1]
        + """.

xs 는 (N, T, D), h0 는 (N, H) (넘겨받은 상태), Wx 는 (D, H), Wh 는 (H, H), b 는 (H,) 입니다;
hs 는 (N, T, H), 각 단계 뒤의 은닉 상태이며 호출하는 쪽에서 만들어 줍니다.

t = 0, 1, ..., T-1 에 대해 (h_{-1} = h0):
    z[j]         = b[j] + (d 에 대한 합) xs[n, t, d] * Wx[d, j] + (i 에 대한 합) h_{t-1}[i] * Wh[i, j]
    hs[n, t, j]  = tanh(z[j])
행렬로 쓰면 h_t = tanh(x_t·Wx + h_{t-1}·Wh + b).""",
    ),
    narration=(
        "Write the RNN's forward pass over a whole sequence: at every step, the new hidden state is the tanh "
        "of the input through Wx plus the previous hidden state through Wh plus the bias. The previous state "
        "of step 0 is h0; after that, it is the state your loop wrote at the step before.",
        "시퀀스 전체에 대한 RNN 의 순전파를 작성합니다: 매 단계의 새 은닉 상태는 입력에 Wx 를, 이전 은닉 "
        "상태에 Wh 를 곱해 더하고 편향을 더한 값의 tanh 입니다. 0 단계의 이전 상태는 h0 이고, 그 뒤로는 "
        "바로 앞 단계에서 반복문이 쓴 상태입니다.",
    ),
    worked=Worked(rnn_worked, view=lambda name, a: a[0]),
    cases=rnn_cases,
    speed_case=lambda rng: rnn_case(
        rng,
        ("32 sequences of 20 steps, D = H = 64", "시퀀스 32개 × 20 단계, D = H = 64"),
        32,
        20,
        64,
        64,
        np.float32,
    ),
    mistakes=(
        Mistake(
            "state-not-carried",
            ("hidden state not carried", "은닉 상태를 넘기지 않음"),
            (
                "Every step reads h0: the previous state of step t is hs[n, t − 1] (h0 only at t = 0).",
                "모든 단계가 h0 를 읽었습니다: t 단계의 이전 상태는 hs[n, t − 1] 입니다 (h0 는 t = 0 일 때만).",
            ),
            _rnn_forward(carry=False),
        ),
        Mistake(
            "transpose",
            ("Wh read transposed", "Wh 를 전치해서 읽음"),
            (
                "h_{t−1} · Wh: z[j] adds h_{t−1}[i] · Wh[i, j], the row index of Wh is the previous unit i.",
                "h_{t−1} · Wh 입니다: z[j] 에 h_{t−1}[i] · Wh[i, j] 를 더합니다. Wh 의 행 인덱스가 이전 유닛 i 입니다.",
            ),
            _rnn_forward(Wh_transposed=True),
        ),
        Mistake(
            "tanh-missing",
            ("tanh missing", "tanh 누락"),
            ("The hidden state is tanh(z), not z.", "은닉 상태는 z 가 아니라 tanh(z) 입니다."),
            _rnn_forward(act=lambda z: z),
        ),
        Mistake(
            "bias-missing",
            ("bias missing", "편향 누락"),
            ("z starts from the bias b[j].", "z 는 편향 b[j] 에서 시작합니다."),
            again(_rnn_ref, b=lambda a: np.zeros_like(a["b"])),
        ),
    ),
    hints=(
        (
            "For each n, t: h_prev = h0[n] if t == 0 else hs[n, t − 1]; for each j: z = b[j] + the two sums; "
            "hs[n, t, j] = np.tanh(z).",
            "각 n, t 에 대해 h_prev = h0[n] (t == 0) 또는 hs[n, t − 1]; 각 j 에 대해 z = b[j] + 두 합; "
            "hs[n, t, j] = np.tanh(z).",
        ),
    ),
    body=("# N, T, D = xs.shape\n# H = Wh.shape[0]", "# N, T, D = xs.shape\n# H = Wh.shape[0]"),
    fast=kernel("rnn", "rnn_forward"),
)


# -- RNN backward (BPTT) -------------------------------------------------------------------------


def rnn_back_case(rng, label, N, T, D, H, dtype=np.float64) -> Case:
    f = rnn_case(rng, label, N, T, D, H, dtype)
    _rnn_ref()(*f.args.values())
    xs, h0, Wx, Wh = f.args["xs"], f.args["h0"], f.args["Wx"], f.args["Wh"]
    z = lambda *shape: np.zeros(shape, dtype)  # noqa: E731
    return Case(
        label,
        {
            "dxs": z(N, T, D),
            "dWx": z(D, H),
            "dWh": z(H, H),
            "db": z(H),
            "dh0": z(N, H),
            "dh_total": z(N, T, H),
            "dzs": z(N, T, H),
            "dhs": rng.standard_normal((N, T, H)).astype(dtype),
            "hs": f.args["hs"],
            "h0": h0,
            "xs": xs,
            "Wx": Wx,
            "Wh": Wh,
        },
        {"b": f.args["b"]},
    )


def rnn_back_cases(rng):
    return [rnn_back_case(rng, *s) for s in SIZES]


def rnn_back_worked() -> Case:
    f = rnn_worked()
    _rnn_ref()(*f.args.values())
    a = f.args
    dhs = np.zeros((1, 3, 2))
    # only the last step's state is used above: the gradient flows back through time
    dhs[0, 2] = (1.0, -1.0)
    return Case(
        (
            "the forward example, dL/dh = (1, −1) at the last step only",
            "순전파 예제, 마지막 단계에만 dL/dh = (1, −1)",
        ),
        {
            "dxs": np.zeros((1, 3, 2)),
            "dWx": np.zeros((2, 2)),
            "dWh": np.zeros((2, 2)),
            "db": np.zeros(2),
            "dh0": np.zeros((1, 2)),
            "dh_total": np.zeros((1, 3, 2)),
            "dzs": np.zeros((1, 3, 2)),
            "dhs": dhs,
            "hs": a["hs"],
            "h0": a["h0"],
            "xs": a["xs"],
            "Wx": a["Wx"],
            "Wh": a["Wh"],
        },
        {"b": a["b"]},
    )


def rnn_back_gradient(case: Case):
    a = case.args
    xs, h0, Wx, Wh, b = a["xs"], a["h0"], a["Wx"], a["Wh"], case.extra["b"]
    hs = np.zeros_like(a["hs"])
    forward = _rnn_ref()

    def loss():
        forward(hs, h0, xs, Wx, Wh, b)
        return float((a["dhs"] * hs).sum())

    return loss, {"dxs": xs, "dWx": Wx, "dWh": Wh, "db": b, "dh0": h0}


def _rnn_backward(carry=True, prime_h2=True, transpose=True, accumulate=True):
    def compute(a):
        xs, hs, h0, Wx, Wh = a["xs"], a["hs"], a["h0"], a["Wx"], a["Wh"]
        N, T, _ = xs.shape
        for g in ("dWx", "dWh", "db"):
            a[g][...] = 0
        for n in range(N):
            dh_next = np.zeros(Wh.shape[0])
            for t in range(T - 1, -1, -1):
                h_prev = h0[n] if t == 0 else hs[n, t - 1]
                dh = a["dhs"][n, t] + (dh_next if carry else 0)
                a["dh_total"][n, t] = dh
                dz = dh * (1 - hs[n, t] ** 2 if prime_h2 else 1 - hs[n, t])
                a["dzs"][n, t] = dz
                a["db"][...] += dz
                a["dWx"][...] += np.outer(xs[n, t], dz)
                if accumulate:
                    a["dWh"][...] += np.outer(h_prev, dz)
                else:
                    a["dWh"][...] = np.outer(h_prev, dz)
                a["dxs"][n, t] = Wx @ dz
                dh_next = Wh @ dz if transpose else Wh.T @ dz
            a["dh0"][n] = dh_next

    return compute


RNN_BACKWARD = Exercise(
    name="rnn_backward",
    lesson="rnn-bptt",
    title=(
        "The RNN backward: backpropagation through time",
        "RNN 역전파: 시간을 거슬러 올라가는 역전파 (BPTT)",
    ),
    params=(
        "dxs",
        "dWx",
        "dWh",
        "db",
        "dh0",
        "dh_total",
        "dzs",
        "dhs",
        "hs",
        "h0",
        "xs",
        "Wx",
        "Wh",
    ),
    outputs=(
        Out("dxs", "n t d", "Σ_j dz_t[j] · Wx[d, j]", gradient_of="xs"),
        Out("dWx", "d j", "Σ_n Σ_t xs[n, t, d] · dz_t[j]", gradient_of="Wx"),
        Out("dWh", "i j", "Σ_n Σ_t h_{t−1}[n, i] · dz_t[j]", gradient_of="Wh"),
        Out("db", "j", "Σ_n Σ_t dz_t[j]", gradient_of="b"),
        Out("dh0", "n i", "Σ_j dz_0[j] · Wh[i, j]   (what flows out of step 0)", gradient_of="h0"),
        Out(
            "dh_total",
            "n t j",
            "dhs[n, t, j] + dh_next[j]   (dh_next = Σ_k dz_{t+1}[k] · Wh[j, k])",
        ),
        Out("dzs", "n t j", "dh_total[n, t, j] · (1 − hs[n, t, j]²)"),
    ),
    reference=_rnn_back_ref,
    doc=(
        RNN_LETTERS[0]
        + """.

dhs is (N, T, H) = dL/dh_t from the layers above; hs (N, T, H) from the forward pass, h0 (N, H),
xs (N, T, D), Wx (D, H), Wh (H, H). Write (all overwritten): dxs (N, T, D), dh0 (N, H),
dh_total (N, T, H) = dL/dh_t in full, dzs (N, T, H) = dz of every step, and the weight gradients
dWx (D, H), dWh (H, H), db (H,), summed over the samples and the steps.

For each sample, dh_next = 0, then for t in reversed(range(T)) (h_{-1} = h0):
    dh       = dhs[n, t] + dh_next               dL/dh_t in full (dh_total)
    dz       = dh * (1 - h_t^2)                  tanh' = 1 - tanh^2 (dzs)
    db      += dz;  dWx += x_tᵀ dz;  dWh += h_{t-1}ᵀ dz
    dxs[n,t] = dz · Wxᵀ
    dh_next  = dz · Whᵀ                          what flows on to step t-1
and after t = 0, dh0[n] = dh_next.""",
        RNN_LETTERS[1]
        + """.

dhs 는 (N, T, H) = 위층에서 온 dL/dh_t; hs (N, T, H) 는 순전파의 결과, h0 (N, H), xs (N, T, D),
Wx (D, H), Wh (H, H). 다음을 씁니다 (모두 덮어씀): dxs (N, T, D), dh0 (N, H),
dh_total (N, T, H) = 온전한 dL/dh_t, dzs (N, T, H) = 단계마다의 dz, 그리고 가중치 기울기
dWx (D, H), dWh (H, H), db (H,) (샘플과 단계에 대해 더함).

샘플마다 dh_next = 0 에서 시작해 t 를 거꾸로 (reversed(range(T))) 돌며 (h_{-1} = h0):
    dh       = dhs[n, t] + dh_next               온전한 dL/dh_t (dh_total)
    dz       = dh * (1 - h_t^2)                  tanh' = 1 - tanh^2 (dzs)
    db      += dz;  dWx += x_tᵀ dz;  dWh += h_{t-1}ᵀ dz
    dxs[n,t] = dz · Wxᵀ
    dh_next  = dz · Whᵀ                          t-1 단계로 흘러가는 기울기
t = 0 뒤에는 dh0[n] = dh_next.""",
    ),
    narration=(
        "Write backpropagation through time. Walk the steps backwards: the gradient at step t is what the "
        "layers above sent to h_t plus what step t + 1 sent back through Wh. Through the tanh, it becomes dz; "
        "dz gives this step's share of every weight gradient, the gradient of the input, and what flows on "
        "to step t − 1. The weights are shared by all steps, so their gradients add up over the steps.",
        "시간을 거슬러 올라가는 역전파를 작성합니다. 단계를 거꾸로 걸으며: t 단계의 기울기는 위층이 h_t 로 "
        "보낸 것과 t + 1 단계가 Wh 를 거쳐 돌려보낸 것의 합입니다. tanh 를 지나면 dz 가 되고, dz 로부터 "
        "이 단계의 가중치 기울기 몫, 입력의 기울기, 그리고 t − 1 단계로 흘러갈 기울기를 구합니다. 가중치는 "
        "모든 단계가 함께 쓰므로 기울기는 단계마다 더해집니다.",
    ),
    worked=Worked(
        rnn_back_worked,
        view=lambda name, a: a[0] if a.ndim == 3 else np.atleast_2d(a),
        shown=("dh_total", "dWh", "dh0"),
    ),
    cases=rnn_back_cases,
    speed_case=lambda rng: rnn_back_case(
        rng,
        ("32 sequences of 20 steps, D = H = 64", "시퀀스 32개 × 20 단계, D = H = 64"),
        32,
        20,
        64,
        64,
        np.float32,
    ),
    mistakes=(
        Mistake(
            "no-flow-through-time",
            ("nothing flows back through time", "시간을 거슬러 흐르지 않음"),
            (
                "dh = dhs[n, t] + dh_next: each step also gets what step t + 1 sent back through Wh.",
                "dh = dhs[n, t] + dh_next: 각 단계는 t + 1 단계가 Wh 를 거쳐 돌려보낸 기울기도 받습니다.",
            ),
            _rnn_backward(carry=False),
        ),
        Mistake(
            "tanh-derivative",
            ("tanh' is 1 − h²", "tanh' 는 1 − h²"),
            (
                "The derivative of tanh is 1 − tanh² = 1 − h_t², not 1 − h_t.",
                "tanh 의 도함수는 1 − h_t 가 아니라 1 − tanh² = 1 − h_t² 입니다.",
            ),
            _rnn_backward(prime_h2=False),
        ),
        Mistake(
            "transpose-forgotten",
            ("transpose forgotten", "전치를 빠뜨림"),
            (
                "dh_next = dz · Whᵀ: dh_next[i] = Σ_j dz[j] · Wh[i, j] (the forward pass sent h[i] to z[j] "
                "through Wh[i, j]).",
                "dh_next = dz · Whᵀ 입니다: dh_next[i] = Σ_j dz[j] · Wh[i, j] (순전파에서 h[i] 는 Wh[i, j] 를 "
                "거쳐 z[j] 로 갔습니다).",
            ),
            _rnn_backward(transpose=False),
        ),
        Mistake(
            "assign-not-add",
            ("= where += belongs", "+= 대신 ="),
            (
                "dWh keeps only one step: the weights are shared by every step and sample, so add (dWh += ...).",
                "dWh 에 한 단계만 남았습니다: 가중치는 모든 단계와 샘플이 함께 쓰므로 더하세요 (dWh += ...).",
            ),
            _rnn_backward(accumulate=False),
        ),
    ),
    hints=(
        (
            "Zero dWx, dWh, db; for each n: dh_next = 0; for t from T − 1 down to 0: dh, dz, the three weight "
            "gradients, dxs, then dh_next; finally dh0[n] = dh_next.",
            "dWx, dWh, db 를 0 으로; 각 n 에서 dh_next = 0; t 를 T − 1 부터 0 까지: dh, dz, 가중치 기울기 셋, dxs, "
            "그리고 dh_next; 끝으로 dh0[n] = dh_next.",
        ),
    ),
    body=(
        "# N, T, D = xs.shape\n# H = Wh.shape[0]\n# zero, one = xs.dtype.type(0), xs.dtype.type(1)\n"
        "# dh_next = np.empty(H, xs.dtype)",
        "# N, T, D = xs.shape\n# H = Wh.shape[0]\n# zero, one = xs.dtype.type(0), xs.dtype.type(1)\n"
        "# dh_next = np.empty(H, xs.dtype)",
    ),
    gradient=rnn_back_gradient,
    fast=in_parts("rnn", "rnn_backward", (1, 2, 3), batch=10),
)


# -- LSTM forward --------------------------------------------------------------------------------

LSTM_LETTERS = (
    "N = batch, T = time steps, D = input size, H = hidden size; indexed n, t, d,\n"
    "i (the previous step's hidden units), j (this step's), k over the 4H columns of the fused affine",
    "N = 배치, T = 시간 단계 수, D = 입력 크기, H = 은닉 크기; 인덱스 n, t, d,\n"
    "i (이전 단계의 은닉 유닛), j (이번 단계의 은닉 유닛), k 는 합친 아핀 변환의 4H 개 열",
)


def lstm_case(rng, label, N, T, D, H, dtype=np.float64) -> Case:
    Wx, Wh, b = _weights(rng, D, H, 4 * H, dtype)
    z = lambda *shape: np.zeros(shape, dtype)  # noqa: E731
    return Case(
        label,
        {
            "hs": z(N, T, H),
            "cs": z(N, T, H),
            "gates": z(N, T, 4 * H),
            "h0": (0.5 * rng.standard_normal((N, H))).astype(dtype),
            "c0": (0.5 * rng.standard_normal((N, H))).astype(dtype),
            "xs": rng.standard_normal((N, T, D)).astype(dtype),
            "Wx": Wx,
            "Wh": Wh,
            "b": b,
        },
    )


def lstm_cases(rng):
    return [lstm_case(rng, *s) for s in SIZES]


def lstm_worked() -> Case:
    H = 2
    Wx = np.array([[0.5, -0.5, 1.0, 0.0, 0.25, 0.75, -1.0, 0.5]])
    Wh = np.array(
        [[0.1, 0.2, -0.3, 0.4, 0.0, 0.1, 0.2, -0.1], [0.3, -0.2, 0.1, 0.0, -0.4, 0.2, 0.1, 0.3]]
    )
    return Case(
        (
            "one sequence of 2 steps, D = 1, H = 2, h0 = c0 = 0",
            "2 단계 시퀀스 하나, D = 1, H = 2, h0 = c0 = 0",
        ),
        {
            "hs": np.zeros((1, 2, H)),
            "cs": np.zeros((1, 2, H)),
            "gates": np.zeros((1, 2, 4 * H)),
            "h0": np.zeros((1, H)),
            "c0": np.zeros((1, H)),
            "xs": np.array([[[1.0], [-1.0]]]),
            "Wx": Wx,
            "Wh": Wh,
            "b": np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        },
    )


def _slots(order: str, H: int) -> dict:
    """Where each gate's columns are, for the gates named in the order they are sliced."""
    return {name: slice(p * H, (p + 1) * H) for p, name in enumerate(order)}


def _lstm_forward(order="fgio", g_act=np.tanh, h_tanh=True, carry_c=True):
    def compute(a):
        xs, Wx, Wh, b = a["xs"], a["Wx"], a["Wh"], a["b"]
        H = Wh.shape[0]
        at = _slots(order, H)
        h, c = a["h0"], a["c0"]
        for t in range(xs.shape[1]):
            A = xs[:, t] @ Wx + h @ Wh + b
            f, g, i, o = (
                _sig(A[:, at["f"]]),
                g_act(A[:, at["g"]]),
                _sig(A[:, at["i"]]),
                _sig(A[:, at["o"]]),
            )
            c = f * (c if carry_c else a["c0"]) + g * i
            h = o * (np.tanh(c) if h_tanh else c)
            for name, v in zip("fgio", (f, g, i, o)):
                a["gates"][:, t, at[name]] = v
            a["cs"][:, t], a["hs"][:, t] = c, h

    return compute


LSTM_FORWARD = Exercise(
    name="lstm_forward",
    lesson="lstm",
    title=(
        "The LSTM forward: one fused affine, sliced f, g, i, o",
        "LSTM 순전파: 합친 아핀 변환 하나, f, g, i, o 로 자르기",
    ),
    params=("hs", "cs", "gates", "h0", "c0", "xs", "Wx", "Wh", "b"),
    outputs=(
        Out("hs", "n t j", "o_t[j] · tanh(c_t[j])"),
        Out("cs", "n t j", "f_t[j] · c_{t−1}[j] + g_t[j] · i_t[j]"),
        Out(
            "gates",
            "n t k",
            "the activated affine A = x_t·Wx + h_{t−1}·Wh + b: sigmoid on [0, H) (f), "
            "tanh on [H, 2H) (g), sigmoid on [2H, 3H) (i) and [3H, 4H) (o)",
        ),
    ),
    reference=_lstm_ref,
    doc=(
        LSTM_LETTERS[0]
        + """.

xs is (N, T, D), h0 and c0 are (N, H), Wx is (D, 4H), Wh is (H, 4H), b is (4H,);
hs and cs are (N, T, H) and gates (N, T, 4H), allocated by the caller.

For t = 0, 1, ..., T-1 (h_{-1} = h0 and c_{-1} = c0):
    A = x_t·Wx + h_{t-1}·Wh + b              one affine, 4H columns
    f = sigmoid(A[0:H])                       forget gate
    g = tanh(A[H:2H])                         the new candidate memory
    i = sigmoid(A[2H:3H])                     input gate
    o = sigmoid(A[3H:4H])                     output gate
    c_t = f * c_{t-1} + g * i
    h_t = o * tanh(c_t)
Keep the activated gates in gates[n, t], in the same order f, g, i, o (the backward pass reads them).
_sigmoid(a, one) above is given; one = xs.dtype.type(1).""",
        LSTM_LETTERS[1]
        + """.

xs 는 (N, T, D), h0 와 c0 는 (N, H), Wx 는 (D, 4H), Wh 는 (H, 4H), b 는 (4H,) 입니다;
hs 와 cs 는 (N, T, H), gates 는 (N, T, 4H) 이며 호출하는 쪽에서 만들어 줍니다.

t = 0, 1, ..., T-1 에 대해 (h_{-1} = h0, c_{-1} = c0):
    A = x_t·Wx + h_{t-1}·Wh + b              아핀 변환 하나, 4H 개 열
    f = sigmoid(A[0:H])                       망각 게이트
    g = tanh(A[H:2H])                         새 기억 후보
    i = sigmoid(A[2H:3H])                     입력 게이트
    o = sigmoid(A[3H:4H])                     출력 게이트
    c_t = f * c_{t-1} + g * i
    h_t = o * tanh(c_t)
활성화한 게이트를 같은 순서 f, g, i, o 로 gates[n, t] 에 남기세요 (역전파가 읽습니다).
위의 _sigmoid(a, one) 은 주어진 함수입니다; one = xs.dtype.type(1).""",
    ),
    narration=(
        "Write the LSTM's forward pass. One affine of the input and the previous hidden state gives 4H numbers; "
        "slice them into the four gates, in the engine's order f, g, i, o, and activate them (sigmoid for the "
        "gates f, i, o, tanh for the candidate g). The cell keeps f of its old memory and adds g times i; the "
        "hidden state shows o times tanh of the cell.",
        "LSTM 의 순전파를 작성합니다. 입력과 이전 은닉 상태의 아핀 변환 하나가 4H 개의 수를 만듭니다; 이를 "
        "엔진의 순서 f, g, i, o 로 네 게이트로 자르고 활성화합니다 (게이트 f, i, o 는 시그모이드, 후보 g 는 "
        "tanh). 기억 셀은 옛 기억의 f 만큼을 남기고 g 곱하기 i 를 더하며, 은닉 상태는 o 곱하기 셀의 tanh "
        "를 보여 줍니다.",
    ),
    worked=Worked(lstm_worked, view=lambda name, a: a[0]),
    cases=lstm_cases,
    speed_case=lambda rng: lstm_case(
        rng,
        ("32 sequences of 20 steps, D = H = 64", "시퀀스 32개 × 20 단계, D = H = 64"),
        32,
        20,
        64,
        64,
        np.float32,
    ),
    mistakes=(
        Mistake(
            "gate-order",
            ("gate order", "게이트 순서"),
            (
                "The engine slices the fused affine as f, g, i, o (the lesson's order): f = A[0:H], g = A[H:2H], "
                "i = A[2H:3H], o = A[3H:4H]; you sliced i, f, g, o (Keras's and PyTorch's order).",
                "엔진은 합친 아핀 변환을 f, g, i, o (강의의 순서) 로 자릅니다: f = A[0:H], g = A[H:2H], "
                "i = A[2H:3H], o = A[3H:4H]; i, f, g, o (Keras 와 PyTorch 의 순서) 로 잘랐습니다.",
            ),
            _lstm_forward(order="ifgo"),
        ),
        Mistake(
            "g-sigmoid",
            ("g through sigmoid", "g 에 시그모이드를 씀"),
            (
                "g, the candidate memory, goes through tanh (values in −1..1); only the gates f, i, o use sigmoid.",
                "새 기억 후보 g 는 tanh 를 지납니다 (−1..1 의 값); 시그모이드는 게이트 f, i, o 에만 씁니다.",
            ),
            _lstm_forward(g_act=_sig),
        ),
        Mistake(
            "h-without-tanh",
            ("tanh of c missing", "c 의 tanh 누락"),
            ("h_t = o · tanh(c_t), not o · c_t.", "h_t = o · c_t 가 아니라 o · tanh(c_t) 입니다."),
            _lstm_forward(h_tanh=False),
        ),
        Mistake(
            "cell-not-carried",
            ("cell state not carried", "셀 상태를 넘기지 않음"),
            (
                "c_{t−1} is cs[n, t − 1] (c0 only at t = 0).",
                "c_{t−1} 은 cs[n, t − 1] 입니다 (c0 는 t = 0 일 때만).",
            ),
            _lstm_forward(carry_c=False),
        ),
    ),
    hints=(
        (
            "For each n, t: A[k] = b[k] + Σ_d xs·Wx[d, k] + Σ_i h_prev[i]·Wh[i, k] into gates[n, t, k]; slice "
            "f, g, i, o = A[0:H], A[H:2H], A[2H:3H], A[3H:4H]; activate in place; then c and h.",
            "각 n, t 에서 A[k] = b[k] + Σ_d xs·Wx[d, k] + Σ_i h_prev[i]·Wh[i, k] 를 gates[n, t, k] 에 쓰고, "
            "f, g, i, o = A[0:H], A[H:2H], A[2H:3H], A[3H:4H] 로 잘라 제자리에서 활성화한 뒤 c 와 h.",
        ),
    ),
    body=(
        "# N, T, D = xs.shape\n# H = Wh.shape[0]\n# one = xs.dtype.type(1)",
        "# N, T, D = xs.shape\n# H = Wh.shape[0]\n# one = xs.dtype.type(1)",
    ),
    helpers=SIGMOID,
    fast=kernel("lstm", "lstm_forward"),
    c_twin="lstm_forward_naive",
)


# -- LSTM backward -------------------------------------------------------------------------------


def lstm_back_case(rng, label, N, T, D, H, dtype=np.float64) -> Case:
    f = lstm_case(rng, label, N, T, D, H, dtype)
    _lstm_ref()(*f.args.values())
    a = f.args
    z = lambda *shape: np.zeros(shape, dtype)  # noqa: E731
    return Case(
        label,
        {
            "dxs": z(N, T, D),
            "dWx": z(D, 4 * H),
            "dWh": z(H, 4 * H),
            "db": z(4 * H),
            "dh0": z(N, H),
            "dc0": z(N, H),
            "dh_total": z(N, T, H),
            "dc_total": z(N, T, H),
            "dgates": z(N, T, 4 * H),
            "dhs": rng.standard_normal((N, T, H)).astype(dtype),
            "hs": a["hs"],
            "cs": a["cs"],
            "gates": a["gates"],
            "h0": a["h0"],
            "c0": a["c0"],
            "xs": a["xs"],
            "Wx": a["Wx"],
            "Wh": a["Wh"],
        },
        {"b": a["b"]},
    )


def lstm_back_cases(rng):
    return [lstm_back_case(rng, *s) for s in SIZES]


def lstm_back_worked() -> Case:
    f = lstm_worked()
    _lstm_ref()(*f.args.values())
    a = f.args
    N, T, H = a["hs"].shape
    D = a["xs"].shape[2]
    dhs = np.zeros((N, T, H))
    dhs[0, -1] = (1.0, -1.0)
    z = np.zeros
    return Case(
        (
            "the forward example, dL/dh = (1, −1) at the last step only",
            "순전파 예제, 마지막 단계에만 dL/dh = (1, −1)",
        ),
        {
            "dxs": z((N, T, D)),
            "dWx": z((D, 4 * H)),
            "dWh": z((H, 4 * H)),
            "db": z(4 * H),
            "dh0": z((N, H)),
            "dc0": z((N, H)),
            "dh_total": z((N, T, H)),
            "dc_total": z((N, T, H)),
            "dgates": z((N, T, 4 * H)),
            "dhs": dhs,
            "hs": a["hs"],
            "cs": a["cs"],
            "gates": a["gates"],
            "h0": a["h0"],
            "c0": a["c0"],
            "xs": a["xs"],
            "Wx": a["Wx"],
            "Wh": a["Wh"],
        },
        {"b": a["b"]},
    )


def lstm_back_gradient(case: Case):
    a = case.args
    b = case.extra["b"]
    hs, cs, gates = np.zeros_like(a["hs"]), np.zeros_like(a["cs"]), np.zeros_like(a["gates"])
    forward = _lstm_ref()

    def loss():
        forward(hs, cs, gates, a["h0"], a["c0"], a["xs"], a["Wx"], a["Wh"], b)
        return float((a["dhs"] * hs).sum())

    return loss, {
        "dxs": a["xs"],
        "dWx": a["Wx"],
        "dWh": a["Wh"],
        "db": b,
        "dh0": a["h0"],
        "dc0": a["c0"],
    }


def _lstm_backward(order="fgio", carry_c=True, tanh_prime=True, do_with_c=False):
    def compute(a):
        xs, hs, cs, gates, h0, c0, Wx, Wh = (
            a[k] for k in ("xs", "hs", "cs", "gates", "h0", "c0", "Wx", "Wh")
        )
        N, T, _ = xs.shape
        H = Wh.shape[0]
        at = _slots(order, H)
        for g in ("dWx", "dWh", "db"):
            a[g][...] = 0
        for n in range(N):
            dh_next, dc_next = np.zeros(H), np.zeros(H)
            for t in range(T - 1, -1, -1):
                h_prev = h0[n] if t == 0 else hs[n, t - 1]
                c_prev = c0[n] if t == 0 else cs[n, t - 1]
                G = gates[n, t]
                f, g, i, o = G[at["f"]], G[at["g"]], G[at["i"]], G[at["o"]]
                dh = a["dhs"][n, t] + dh_next
                a["dh_total"][n, t] = dh
                tc = np.tanh(cs[n, t])
                ds = (dc_next if carry_c else 0) + dh * o * ((1 - tc * tc) if tanh_prime else 1)
                a["dc_total"][n, t] = ds
                dA = np.zeros(4 * H)
                dA[at["f"]] = ds * c_prev * f * (1 - f)
                dA[at["g"]] = ds * i * (1 - g * g)
                dA[at["i"]] = ds * g * i * (1 - i)
                dA[at["o"]] = dh * (cs[n, t] if do_with_c else tc) * o * (1 - o)
                a["dgates"][n, t] = dA
                a["db"][...] += dA
                a["dWx"][...] += np.outer(xs[n, t], dA)
                a["dWh"][...] += np.outer(h_prev, dA)
                a["dxs"][n, t] = Wx @ dA
                dh_next = Wh @ dA
                dc_next = ds * f
            a["dh0"][n], a["dc0"][n] = dh_next, dc_next

    return compute


LSTM_BACKWARD = Exercise(
    name="lstm_backward",
    lesson="lstm",
    title=("The LSTM backward through time", "LSTM 역전파 (시간을 거슬러)"),
    params=(
        "dxs",
        "dWx",
        "dWh",
        "db",
        "dh0",
        "dc0",
        "dh_total",
        "dc_total",
        "dgates",
        "dhs",
        "hs",
        "cs",
        "gates",
        "h0",
        "c0",
        "xs",
        "Wx",
        "Wh",
    ),
    outputs=(
        Out("dxs", "n t d", "Σ_k dA_t[k] · Wx[d, k]", gradient_of="xs"),
        Out("dWx", "d k", "Σ_n Σ_t xs[n, t, d] · dA_t[k]", gradient_of="Wx"),
        Out("dWh", "i k", "Σ_n Σ_t h_{t−1}[n, i] · dA_t[k]", gradient_of="Wh"),
        Out("db", "k", "Σ_n Σ_t dA_t[k]", gradient_of="b"),
        Out("dh0", "n i", "Σ_k dA_0[k] · Wh[i, k]", gradient_of="h0"),
        Out("dc0", "n j", "ds_0[j] · f_0[j]", gradient_of="c0"),
        Out("dh_total", "n t j", "dhs[n, t, j] + dh_next[j]"),
        Out("dc_total", "n t j", "ds = dc_next[j] + dh[j] · o[j] · (1 − tanh(c_t[j])²)"),
        Out(
            "dgates",
            "n t k",
            "dA = [df, dg, di, do]: df = ds·c_{t−1}·f(1−f), dg = ds·i·(1−g²), "
            "di = ds·g·i(1−i), do = dh·tanh(c_t)·o(1−o)",
        ),
    ),
    reference=_lstm_back_ref,
    doc=(
        LSTM_LETTERS[0]
        + """.

dhs is (N, T, H) = dL/dh_t from above; hs, cs (N, T, H) and gates (N, T, 4H) = f, g, i, o from the
forward pass; h0, c0 (N, H); xs (N, T, D); Wx (D, 4H); Wh (H, 4H). Write (all overwritten):
dxs (N, T, D), dh0 and dc0 (N, H), dh_total (N, T, H) = dL/dh_t in full, dc_total (N, T, H) =
ds = dL/dc_t in full, dgates (N, T, 4H) = dA of every step, and dWx (D, 4H), dWh (H, 4H), db (4H,)
summed over the samples and the steps.

For each sample, dh_next = dc_next = 0, then for t in reversed(range(T)):
    dh   = dhs[n, t] + dh_next
    ds   = dc_next + dh * o * (1 - tanh(c_t)^2)       dL/dc_t in full
    df   = ds * c_{t-1} * f(1 - f)     dg = ds * i * (1 - g^2)
    di   = ds * g * i(1 - i)           do = dh * tanh(c_t) * o(1 - o)
    dA   = [df, dg, di, do]            the slice, undone (same order f, g, i, o)
    db  += dA;  dWx += x_tᵀ dA;  dWh += h_{t-1}ᵀ dA
    dx_t = dA · Wxᵀ;  dh_next = dA · Whᵀ;  dc_next = ds * f
and after t = 0, dh0[n] = dh_next, dc0[n] = dc_next.""",
        LSTM_LETTERS[1]
        + """.

dhs 는 (N, T, H) = 위에서 온 dL/dh_t; hs, cs (N, T, H) 와 gates (N, T, 4H) = f, g, i, o 는 순전파의
결과; h0, c0 (N, H); xs (N, T, D); Wx (D, 4H); Wh (H, 4H). 다음을 씁니다 (모두 덮어씀):
dxs (N, T, D), dh0 와 dc0 (N, H), dh_total (N, T, H) = 온전한 dL/dh_t, dc_total (N, T, H) =
ds = 온전한 dL/dc_t, dgates (N, T, 4H) = 단계마다의 dA, 그리고 dWx (D, 4H), dWh (H, 4H), db (4H,)
(샘플과 단계에 대해 더함).

샘플마다 dh_next = dc_next = 0 에서 시작해 t 를 거꾸로 (reversed(range(T))) 돌며:
    dh   = dhs[n, t] + dh_next
    ds   = dc_next + dh * o * (1 - tanh(c_t)^2)       온전한 dL/dc_t
    df   = ds * c_{t-1} * f(1 - f)     dg = ds * i * (1 - g^2)
    di   = ds * g * i(1 - i)           do = dh * tanh(c_t) * o(1 - o)
    dA   = [df, dg, di, do]            자르기를 되돌림 (같은 순서 f, g, i, o)
    db  += dA;  dWx += x_tᵀ dA;  dWh += h_{t-1}ᵀ dA
    dx_t = dA · Wxᵀ;  dh_next = dA · Whᵀ;  dc_next = ds * f
t = 0 뒤에는 dh0[n] = dh_next, dc0[n] = dc_next.""",
    ),
    narration=(
        "Write the LSTM's backpropagation through time. Two gradients flow backwards: dh through the hidden "
        "state and ds through the cell. At each step, find ds (what came along the cell plus what came "
        "through h = o · tanh(c)), the four gate gradients, put them back side by side in the order f, g, i, o "
        "(the slice undone), and from that dA every weight gradient and what flows on. Along the cell, the "
        "gradient is only multiplied by f: that is why it fades less than an RNN's.",
        "LSTM 의 시간을 거슬러 올라가는 역전파를 작성합니다. 기울기 둘이 거꾸로 흐릅니다: 은닉 상태를 따라 "
        "dh, 기억 셀을 따라 ds. 단계마다 ds (셀을 따라 온 것과 h = o · tanh(c) 를 거쳐 온 것의 합), 네 "
        "게이트의 기울기를 구해 f, g, i, o 순서로 나란히 놓고 (자르기를 되돌림), 그 dA 로부터 가중치 기울기와 "
        "다음으로 흘러갈 기울기를 구합니다. 셀을 따라서는 기울기에 f 만 곱해지므로 RNN 보다 덜 사라집니다.",
    ),
    worked=Worked(
        lstm_back_worked,
        view=lambda name, a: a[0] if a.ndim == 3 else np.atleast_2d(a),
        shown=("dc_total", "dgates", "dh0"),
    ),
    cases=lstm_back_cases,
    speed_case=lambda rng: lstm_back_case(
        rng,
        ("32 sequences of 20 steps, D = H = 64", "시퀀스 32개 × 20 단계, D = H = 64"),
        32,
        20,
        64,
        64,
        np.float32,
    ),
    mistakes=(
        Mistake(
            "gate-order",
            ("gate order", "게이트 순서"),
            (
                "gates and dA are in the order f, g, i, o: f = gates[0:H], g = [H:2H], i = [2H:3H], o = [3H:4H]; "
                "you used i, f, g, o.",
                "gates 와 dA 의 순서는 f, g, i, o 입니다: f = gates[0:H], g = [H:2H], i = [2H:3H], o = [3H:4H]; "
                "i, f, g, o 순서로 썼습니다.",
            ),
            _lstm_backward(order="ifgo"),
        ),
        Mistake(
            "cell-gradient-not-carried",
            ("nothing flows back along the cell", "셀을 따라 흐르지 않음"),
            (
                "ds = dc_next + dh · o · (1 − tanh(c_t)²): the cell's gradient from step t + 1 (dc_next = ds · f) "
                "is added.",
                "ds = dc_next + dh · o · (1 − tanh(c_t)²): t + 1 단계에서 셀을 따라 온 기울기 (dc_next = ds · f) "
                "를 더합니다.",
            ),
            _lstm_backward(carry_c=False),
        ),
        Mistake(
            "tanh-derivative-missing",
            ("tanh' missing in ds", "ds 에서 tanh' 누락"),
            (
                "h = o · tanh(c), so dh reaches c through tanh': dh · o · (1 − tanh(c_t)²).",
                "h = o · tanh(c) 이므로 dh 는 tanh' 를 거쳐 c 에 닿습니다: dh · o · (1 − tanh(c_t)²).",
            ),
            _lstm_backward(tanh_prime=False),
        ),
        Mistake(
            "do-with-c",
            ("do uses c, not tanh(c)", "do 에 tanh(c) 대신 c 를 씀"),
            (
                "h = o · tanh(c): do = dh · tanh(c_t) · o(1 − o).",
                "h = o · tanh(c) 이므로 do = dh · tanh(c_t) · o(1 − o) 입니다.",
            ),
            _lstm_backward(do_with_c=True),
        ),
    ),
    hints=(
        (
            "Zero dWx, dWh, db; per sample dh_next = dc_next = 0; for t from T − 1 down to 0: dh, ds, df dg di do into "
            "dgates[n, t], then the weight gradients, dxs, dh_next, dc_next; finally dh0, dc0.",
            "dWx, dWh, db 를 0 으로; 샘플마다 dh_next = dc_next = 0; t 를 T − 1 부터 0 까지: dh, ds, df dg di do 를 "
            "dgates[n, t] 에, 그다음 가중치 기울기, dxs, dh_next, dc_next; 끝으로 dh0, dc0.",
        ),
    ),
    body=(
        "# N, T, D = xs.shape\n# H = Wh.shape[0]\n# zero, one = xs.dtype.type(0), xs.dtype.type(1)\n"
        "# dh_next = np.empty(H, xs.dtype)\n# dc_next = np.empty(H, xs.dtype)",
        "# N, T, D = xs.shape\n# H = Wh.shape[0]\n# zero, one = xs.dtype.type(0), xs.dtype.type(1)\n"
        "# dh_next = np.empty(H, xs.dtype)\n# dc_next = np.empty(H, xs.dtype)",
    ),
    gradient=lstm_back_gradient,
    fast=in_parts("lstm", "lstm_backward", (1, 2, 3), batch=15),
    c_twin="lstm_backward_naive",
)
