"""The attention lesson's exercises: scaled dot-product self-attention forward (the four
steps: QKᵀ, ÷√d_k, softmax per row, ×V) and backward (nbengine/kernels/attention.py)."""

from __future__ import annotations

import math

import numpy as np

from nbengine.exercises.core import Case, Exercise, Mistake, Out, Worked, again, kernel

_ref = kernel("attention", "attention_forward_naive")
_back_ref = kernel("attention", "attention_backward_naive")

LETTERS = (
    "N = batch, T = query positions, S = key positions, D = d_k (query and key size),\n"
    "E = value size; indexed n, t, s, d, e",
    "N = 배치, T = 쿼리 위치 수, S = 키 위치 수, D = d_k (쿼리와 키의 크기),\n"
    "E = 값(value) 의 크기; 인덱스 n, t, s, d, e",
)

SIZES = [
    (("2 samples, T = S = 3, d_k = 4", "샘플 2개, T = S = 3, d_k = 4"), 2, 3, 3, 4, 2, False),
    (
        ("causal mask: position t sees s ≤ t", "인과 마스크: 위치 t 는 s ≤ t 만 봄"),
        2,
        4,
        4,
        3,
        3,
        True,
    ),
    (("T = 1 query, 5 keys", "쿼리 1개 (T = 1), 키 5개"), 1, 1, 5, 2, 3, False),
    (
        ("batch 1, T = 2 queries, S = 4 keys, d_k = 8", "배치 1, 쿼리 2개, 키 4개, d_k = 8"),
        1,
        2,
        4,
        8,
        2,
        False,
    ),
    (("causal mask, batch 1, T = S = 5", "인과 마스크, 배치 1, T = S = 5"), 1, 5, 5, 2, 2, True),
]


def attention_case(rng, label, N, T, S, D, E, causal, dtype=np.float64) -> Case:
    return Case(
        label,
        {
            "out": np.zeros((N, T, E), dtype),
            "weights": np.zeros((N, T, S), dtype),
            "q": rng.standard_normal((N, T, D)).astype(dtype),
            "k": rng.standard_normal((N, S, D)).astype(dtype),
            "v": rng.standard_normal((N, S, E)).astype(dtype),
            "scale": 1 / math.sqrt(D),
            "causal": causal,
        },
    )


def attention_cases(rng):
    return [attention_case(rng, *s) for s in SIZES]


def attention_worked() -> Case:
    from nbengine.explain.lessons import ATTENTION_DK, ATTENTION_SCORES

    S = len(ATTENTION_SCORES)
    q = np.zeros((1, 1, ATTENTION_DK))
    q[0, 0, 0] = 1.0  # q·k_s is then the lesson's score of key s
    k = np.zeros((1, S, ATTENTION_DK))
    k[0, :, 0] = ATTENTION_SCORES
    return Case(
        (
            "the lesson's scores 110, 90, 80 of the query of 'I', d_k = 64, V = the identity",
            "강의의 'I' 쿼리 점수 110, 90, 80, d_k = 64, V = 단위 행렬",
        ),
        {
            "out": np.zeros((1, 1, S)),
            "weights": np.zeros((1, 1, S)),
            "q": q,
            "k": k,
            "v": np.eye(S)[None].copy(),
            "scale": 1 / math.sqrt(ATTENTION_DK),
            "causal": False,
        },
    )


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _forward(axis=-1, normalise=True):
    def compute(a):
        q, k, v = a["q"], a["k"], a["v"]
        scores = a["scale"] * np.einsum("ntd,nsd->nts", q, k)
        if a["causal"]:
            T = scores.shape[1]
            scores = np.where(np.tril(np.ones((T, T), bool)), scores, -np.inf)
        if normalise:
            w = _softmax(scores, axis)
        else:
            w = np.exp(scores - scores.max(axis=-1, keepdims=True))
        w = np.nan_to_num(w)
        a["weights"][...] = w
        a["out"][...] = w @ v

    return compute


ATTENTION_FORWARD = Exercise(
    name="attention_forward",
    lesson="attention",
    title=(
        "Self-attention forward: QKᵀ, ÷√d_k, softmax, ×V",
        "셀프 어텐션 순전파: QKᵀ, ÷√d_k, 소프트맥스, ×V",
    ),
    params=("out", "weights", "q", "k", "v", "scale", "causal"),
    outputs=(
        Out("out", "n t e", "Σ_s weights[n, t, s] · v[n, s, e]"),
        Out(
            "weights",
            "n t s",
            "softmax over s of scale · Σ_d q[n, t, d] · k[n, s, d]   (0 where causal and s > t)",
        ),
    ),
    reference=_ref,
    doc=(
        LETTERS[0]
        + """.

q is (N, T, D), k (N, S, D), v (N, S, E); scale is 1/sqrt(D) as a rule (the caller passes it);
causal a bool (then T == S). Write weights (N, T, S), each row summing to 1, and out (N, T, E).

For every sample n and query position t:
    1. scores[s]        = sum over d of q[n, t, d] * k[n, s, d]          QKᵀ
    2. scores[s]       *= scale                                          ÷ √d_k
    3. weights[n, t, s] = softmax(scores)[s]                             per row; subtract the row's max first
    4. out[n, t, e]     = sum over s of weights[n, t, s] * v[n, s, e]    × V
With causal = True, position t attends only to s <= t: the other weights are exactly 0.""",
        LETTERS[1]
        + """.

q 는 (N, T, D), k 는 (N, S, D), v 는 (N, S, E); scale 은 보통 1/sqrt(D) (호출하는 쪽에서 넘겨줌);
causal 은 bool (그때는 T == S). weights (N, T, S) (각 행의 합이 1) 와 out (N, T, E) 를 쓰세요.

샘플 n 과 쿼리 위치 t 마다:
    1. scores[s]        = (d 에 대한 합) q[n, t, d] * k[n, s, d]          QKᵀ
    2. scores[s]       *= scale                                          ÷ √d_k
    3. weights[n, t, s] = softmax(scores)[s]                             행마다; 먼저 행의 최댓값을 뺌
    4. out[n, t, e]     = (s 에 대한 합) weights[n, t, s] * v[n, s, e]    × V
causal = True 이면 위치 t 는 s <= t 만 봅니다: 나머지 어텐션 가중치는 정확히 0 입니다.""",
    ),
    narration=(
        "Write scaled dot-product attention in the lesson's four steps: the dot product of each query with "
        "every key, scaled by 1/√d_k, a softmax along each row (the attention weights), and the weighted sum "
        "of the values. With the lesson's scores 110, 90, 80 and d_k = 64, the weights of 'I' are 0.9045, "
        "0.0742, 0.0213.",
        "강의의 네 단계로 스케일드 닷 프로덕트 어텐션을 작성합니다: 각 쿼리와 모든 키의 내적, 1/√d_k 로 "
        "스케일 조정, 행마다의 소프트맥스 (어텐션 가중치), 그리고 값(value) 들의 가중합. 강의의 점수 110, "
        "90, 80 과 d_k = 64 로 'I' 의 어텐션 가중치는 0.9045, 0.0742, 0.0213 입니다.",
    ),
    worked=Worked(attention_worked, view=lambda name, a: a[0]),
    cases=attention_cases,
    speed_case=lambda rng: attention_case(
        rng,
        ("8 samples, T = S = 64, d_k = E = 32", "샘플 8개, T = S = 64, d_k = E = 32"),
        8,
        64,
        64,
        32,
        32,
        False,
        np.float32,
    ),
    mistakes=(
        Mistake(
            "scale-missing",
            ("scale √d_k missing", "√d_k 스케일 누락"),
            (
                "Multiply the scores by scale (= 1/√d_k) before the softmax; without it the softmax of large dot "
                "products is far too sharp.",
                "소프트맥스 전에 점수에 scale (= 1/√d_k) 을 곱하세요; 없으면 큰 내적의 소프트맥스가 지나치게 "
                "뾰족해집니다.",
            ),
            again(_ref, scale=1.0),
        ),
        Mistake(
            "mask-ignored",
            ("causal mask ignored", "인과 마스크를 무시함"),
            (
                "With causal, query t sees only the keys s ≤ t: leave the later scores out of the softmax and set "
                "their weights to 0.",
                "causal 이면 쿼리 t 는 s ≤ t 인 키만 봅니다: 뒤쪽 점수는 소프트맥스에서 빼고 가중치를 0 으로 두세요.",
            ),
            again(_ref, causal=False),
        ),
        Mistake(
            "softmax-axis",
            ("softmax along the wrong axis", "소프트맥스 축이 틀림"),
            (
                "The softmax runs along each query's row, over the keys s: weights[n, t, :] sums to 1.",
                "소프트맥스는 각 쿼리의 행을 따라 키 s 에 대해 계산합니다: weights[n, t, :] 의 합이 1 입니다.",
            ),
            _forward(axis=1),
        ),
        Mistake(
            "not-normalised",
            ("weights not normalised", "가중치를 정규화하지 않음"),
            (
                "After e^(score − max), divide each weight by the row's sum, so that the row sums to 1.",
                "e^(점수 − 최댓값) 뒤에 각 가중치를 행의 합으로 나누어 행의 합이 1 이 되게 하세요.",
            ),
            _forward(normalise=False),
        ),
    ),
    hints=(
        (
            "For each n, t: scores[s] = scale · Σ_d q·k for s < seen (seen = t + 1 if causal else S); top = max; "
            "weights = e^(scores − top) / their sum, 0 past seen; out[n, t, e] = Σ_s weights · v.",
            "각 n, t 에서 s < seen (causal 이면 seen = t + 1, 아니면 S) 에 대해 scores[s] = scale · Σ_d q·k; "
            "top = 최댓값; weights = e^(scores − top) / 그 합, seen 뒤는 0; out[n, t, e] = Σ_s weights · v.",
        ),
    ),
    body=(
        "# N, T, D = q.shape\n# S = k.shape[1]\n# E = v.shape[2]\n# sc, zero = q.dtype.type(scale), q.dtype.type(0)",
        "# N, T, D = q.shape\n# S = k.shape[1]\n# E = v.shape[2]\n# sc, zero = q.dtype.type(scale), q.dtype.type(0)",
    ),
    fast=kernel("attention", "attention_forward"),
    c_twin="attention_forward_naive",
)


# -- backward ------------------------------------------------------------------------------------


def back_case(rng, label, N, T, S, D, E, causal, dtype=np.float64) -> Case:
    f = attention_case(rng, label, N, T, S, D, E, causal, dtype)
    _ref()(*f.args.values())
    a = f.args
    return Case(
        label,
        {
            "dq": np.zeros_like(a["q"]),
            "dk": np.zeros_like(a["k"]),
            "dv": np.zeros_like(a["v"]),
            "dout": rng.standard_normal(a["out"].shape).astype(dtype),
            "weights": a["weights"],
            "q": a["q"],
            "k": a["k"],
            "v": a["v"],
            "scale": a["scale"],
        },
        {"causal": causal},
    )


def back_cases(rng):
    return [back_case(rng, *s) for s in SIZES]


def back_worked() -> Case:
    f = attention_worked()
    _ref()(*f.args.values())
    a = f.args
    return Case(
        ("the lesson's scores, dL/dout = (1, 0, 0)", "강의의 점수, dL/dout = (1, 0, 0)"),
        {
            "dq": np.zeros_like(a["q"]),
            "dk": np.zeros_like(a["k"]),
            "dv": np.zeros_like(a["v"]),
            "dout": np.array([[[1.0, 0.0, 0.0]]]),
            "weights": a["weights"],
            "q": a["q"],
            "k": a["k"],
            "v": a["v"],
            "scale": a["scale"],
        },
        {"causal": False},
    )


def back_gradient(case: Case):
    a = case.args
    out, weights = np.zeros_like(a["dout"]), np.zeros_like(a["weights"])
    forward = _ref()

    def loss():
        forward(out, weights, a["q"], a["k"], a["v"], a["scale"], case.extra["causal"])
        return float((a["dout"] * out).sum())

    return loss, {"dq": a["q"], "dk": a["k"], "dv": a["v"]}


def _backward(dot_term=True, weights_transposed=False, dscores_transposed=False, dv_last=False):
    def compute(a):
        W, q, k, v, dout, sc = a["weights"], a["q"], a["k"], a["v"], a["dout"], a["scale"]
        Wt = W if not weights_transposed else np.swapaxes(W, 1, 2)
        a["dv"][...] = np.einsum("nts,nte->nse", Wt, dout)
        if dv_last:  # dv[n, s, e] = weights · dout assigned for each t: the last t stays
            a["dv"][...] = W[:, -1, :, None] * dout[:, -1, None, :]
        dW = np.einsum("nte,nse->nts", dout, v)
        dot = (W * dW).sum(axis=-1, keepdims=True) if dot_term else 0
        ds = W * (dW - dot)
        a["dq"][...] = sc * np.einsum("nts,nsd->ntd", ds, k)
        dst = np.swapaxes(ds, 1, 2) if dscores_transposed else ds
        a["dk"][...] = sc * np.einsum("nts,ntd->nsd", dst, q)

    return compute


ATTENTION_BACKWARD = Exercise(
    name="attention_backward",
    lesson="attention",
    title=("Self-attention backward: dq, dk and dv", "셀프 어텐션 역전파: dq, dk, dv"),
    params=("dq", "dk", "dv", "dout", "weights", "q", "k", "v", "scale"),
    outputs=(
        Out("dq", "n t d", "scale · Σ_s dscores[t, s] · k[n, s, d]", gradient_of="q"),
        Out("dk", "n s d", "scale · Σ_t dscores[t, s] · q[n, t, d]", gradient_of="k"),
        Out("dv", "n s e", "Σ_t weights[n, t, s] · dout[n, t, e]", gradient_of="v"),
    ),
    reference=_back_ref,
    doc=(
        LETTERS[0]
        + """.

dout is (N, T, E) = dL/dout; weights (N, T, S) from the forward pass; q, k, v as there.
Write (all overwritten) dq (N, T, D), dk (N, S, D), dv (N, S, E).

    dv[n, s, e]   = sum over t of weights[n, t, s] * dout[n, t, e]          (weightsᵀ · dout)
    dW[t, s]      = sum over e of dout[n, t, e] * v[n, s, e]                (dout · vᵀ)
    dscores[t, s] = W[t, s] * (dW[t, s] - sum over s2 of W[t, s2] * dW[t, s2])    softmax backward, per row
    dq[n, t, d]   = scale * sum over s of dscores[t, s] * k[n, s, d]
    dk[n, s, d]   = scale * sum over t of dscores[t, s] * q[n, t, d]        (dscoresᵀ · q)
A weight the forward pass set to 0 (the causal mask) makes its terms 0: no mask argument is needed.""",
        LETTERS[1]
        + """.

dout 은 (N, T, E) = dL/dout; weights (N, T, S) 는 순전파의 결과; q, k, v 는 순전파와 같습니다.
dq (N, T, D), dk (N, S, D), dv (N, S, E) 를 쓰세요 (모두 덮어씀).

    dv[n, s, e]   = (t 에 대한 합) weights[n, t, s] * dout[n, t, e]          (weightsᵀ · dout)
    dW[t, s]      = (e 에 대한 합) dout[n, t, e] * v[n, s, e]                (dout · vᵀ)
    dscores[t, s] = W[t, s] * (dW[t, s] - (s2 에 대한 합) W[t, s2] * dW[t, s2])    행마다 소프트맥스 역전파
    dq[n, t, d]   = scale * (s 에 대한 합) dscores[t, s] * k[n, s, d]
    dk[n, s, d]   = scale * (t 에 대한 합) dscores[t, s] * q[n, t, d]        (dscoresᵀ · q)
순전파가 0 으로 둔 가중치 (인과 마스크) 는 그 항을 0 으로 만듭니다: 마스크 인자는 필요 없습니다.""",
    ),
    narration=(
        "Write attention's backward pass, the four steps undone in reverse: the values' gradient and the "
        "weights' gradient from ×V, the softmax's backward pass along each row (the weight times its gradient "
        "minus the row's weighted mean of gradients), and then the scale and the two halves of QKᵀ. Keep the "
        "per-sample scratch rows dW and dscores in arrays of your own.",
        "어텐션의 역전파를 작성합니다. 네 단계를 거꾸로 되돌립니다: ×V 에서 값의 기울기와 가중치의 기울기, "
        "행마다 소프트맥스의 역전파 (가중치 곱하기, 기울기에서 행의 가중 평균 기울기를 뺀 것), 그리고 "
        "스케일과 QKᵀ 의 두 쪽. 샘플마다 쓰는 중간 값 dW 와 dscores 는 직접 만든 배열에 두세요.",
    ),
    worked=Worked(back_worked, view=lambda name, a: a[0]),
    cases=back_cases,
    speed_case=lambda rng: back_case(
        rng,
        ("8 samples, T = S = 64, d_k = E = 32", "샘플 8개, T = S = 64, d_k = E = 32"),
        8,
        64,
        64,
        32,
        32,
        False,
        np.float32,
    ),
    mistakes=(
        Mistake(
            "scale-missing",
            ("scale √d_k missing", "√d_k 스케일 누락"),
            (
                "The forward pass multiplied the scores by scale, so dq and dk are multiplied by scale too.",
                "순전파가 점수에 scale 을 곱했으므로 dq 와 dk 에도 scale 을 곱합니다.",
            ),
            again(_back_ref, scale=1.0),
            compares=("dq", "dk"),
        ),
        Mistake(
            "softmax-dot-missing",
            ("softmax backward without the row's sum", "소프트맥스 역전파에서 행의 합 누락"),
            (
                "The softmax's backward pass: dscores[t, s] = W[t, s] · (dW[t, s] − Σ_s2 W[t, s2] dW[t, s2]); "
                "every weight of a row depends on every score of it.",
                "소프트맥스의 역전파는 dscores[t, s] = W[t, s] · (dW[t, s] − Σ_s2 W[t, s2] dW[t, s2]) 입니다; "
                "한 행의 모든 가중치가 그 행의 모든 점수에 달려 있습니다.",
            ),
            _backward(dot_term=False),
        ),
        Mistake(
            "transpose-forgotten",
            ("transpose forgotten in dv", "dv 에서 전치를 빠뜨림"),
            (
                "dv = weightsᵀ · dout: dv[n, s, e] = Σ_t weights[n, t, s] · dout[n, t, e] (weights indexed [t, s]).",
                "dv = weightsᵀ · dout 입니다: dv[n, s, e] = Σ_t weights[n, t, s] · dout[n, t, e] "
                "(weights 는 [t, s] 로 읽음).",
            ),
            _backward(weights_transposed=True),
            compares=("dv",),
        ),
        Mistake(
            "dk-transpose-forgotten",
            ("transpose forgotten in dk", "dk 에서 전치를 빠뜨림"),
            (
                "dk = scale · dscoresᵀ · q: dk[n, s, d] = scale · Σ_t dscores[t, s] · q[n, t, d].",
                "dk = scale · dscoresᵀ · q 입니다: dk[n, s, d] = scale · Σ_t dscores[t, s] · q[n, t, d].",
            ),
            _backward(dscores_transposed=True),
            compares=("dk",),
        ),
        Mistake(
            "assign-not-add",
            ("= where += belongs", "+= 대신 ="),
            (
                "dv keeps only the last query: dv[n, s, e] sums weights[n, t, s] · dout[n, t, e] over every t (+=).",
                "dv 에 마지막 쿼리만 남았습니다: dv[n, s, e] 는 모든 t 에 대해 weights[n, t, s] · dout[n, t, e] 를 "
                "더한 것입니다 (+=).",
            ),
            _backward(dv_last=True),
            compares=("dv",),
        ),
    ),
    hints=(
        (
            "Per sample: dv first; then dW[t, s]; then per row t the dot Σ_s2 W dW and dscores; then dq and dk, each "
            "times scale.",
            "샘플마다: 먼저 dv; 그다음 dW[t, s]; 행 t 마다 Σ_s2 W dW 와 dscores; 끝으로 dq 와 dk, 각각 scale 을 곱해서.",
        ),
    ),
    body=(
        "# N, T, D = q.shape\n# S = k.shape[1]\n# E = v.shape[2]\n# sc, zero = q.dtype.type(scale), q.dtype.type(0)\n"
        "# dW = np.empty((T, S), q.dtype)   (one per sample)",
        "# N, T, D = q.shape\n# S = k.shape[1]\n# E = v.shape[2]\n# sc, zero = q.dtype.type(scale), q.dtype.type(0)\n"
        "# dW = np.empty((T, S), q.dtype)   (샘플마다 하나)",
    ),
    gradient=back_gradient,
    fast=kernel("attention", "attention_backward"),
    c_twin="attention_backward_naive",
)
