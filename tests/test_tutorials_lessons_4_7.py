"""The tutorials of lessons 4 to 7 (why RNNs, the RNN and BPTT, the LSTM, self-attention),
each run in English and in Korean through `nbengine tutorial run NAME --lang L --json`:
the numbers they compute are checked against each other and against the lessons' own
(the toy sentence's ids, CBOW's two equal vectors, σ^19, 110, 90, 80 → 0.9045, 0.0742,
0.0213, "it" → "cat"), and the narration is the language asked for."""

from __future__ import annotations

import math
import re
from functools import cache

import numpy as np
import pytest
from helpers import json_lines, run

LANGS = ["en", "ko"]
SENTENCE_IDS = [0, 1, 2, 3, 4, 1, 5, 6]
TOY_WORDS = ["you", "say", "goodbye", "and", "i", "hello", "."]
HANGUL = re.compile(r"[\uac00-\ud7a3]")
# what the commands say in each language (their numbers are the same in both)
SAID = {
    "en": {
        "perplexity": "test perplexity",
        "token": "Step t = {t}: the token 'say'",
        "hidden": "the hidden state after each token (rnn_forward_naive)",
        "reordered": "reordered",
        "mean loss": r"over the sentence =",
        "lstm naive": "as lstm_forward_naive computed it",
        "dh_total": "lstm_backward_naive's dh_total[t]",
        "computed": "computed by attention_forward_naive",
        "step": "Step {k}",
        "agree": "agree with attention_forward_naive's",
        "held-out": "held-out accuracy",
        "attends": r"it attends most to (\w+) \((\d\.\d\d)\)",
        "answer": r"The model's answer.*?: (\w+) \(p = (\d\.\d+)\)",
    },
    "ko": {
        "perplexity": "테스트 퍼플렉서티",
        "token": "시점 t = {t}: 토큰 'say'",
        "hidden": "각 토큰을 읽은 뒤의 은닉 상태 (rnn_forward_naive)",
        "reordered": "순서만 바꾸어",
        "mean loss": r"문장 전체에 대한 -log p\(다음 토큰\)의 평균 =",
        "lstm naive": "lstm_forward_naive 커널이 계산한 값",
        "dh_total": "lstm_backward_naive의 dh_total[t]",
        "computed": "attention_forward_naive 커널이 계산한 값",
        "step": "{k}단계:",
        "agree": "attention_forward_naive의 결과와 일치합니다",
        "held-out": "홀드아웃 정확도",
        "attends": r"가장 많이 주목하는 단어는 (\w+) \((\d\.\d\d)\)",
        "answer": r"모델의 답 \(.*?\): (\w+) \(p = (\d\.\d+)\)",
    },
}


@cache
def tutorial(name: str, lang: str) -> tuple[dict, ...]:
    """The step events of one run (each tutorial runs once per language for the whole module)."""
    events = json_lines(run("tutorial", "run", name, "--lang", lang, "--json"))
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    steps = tuple(e for e in events if e["event"] == "step")
    assert [s["index"] for s in steps] == list(range(1, len(steps) + 1))
    assert 5 <= len(steps) <= 9
    return steps


def values(name: str, lang: str) -> dict:
    """Every value the tutorial's code steps showed, by name."""
    out = {}
    for s in tutorial(name, lang):
        out.update(s.get("values", {}))
    return out


def data(v) -> np.ndarray:
    """A shown value as an array: a tensor(...)'s data, or the number itself."""
    return np.asarray(v["data"] if isinstance(v, dict) else v, dtype=np.float64)


def output(name: str, lang: str, command_start: str) -> str:
    """The output of the run step whose command starts with command_start."""
    found = [
        s["output"] for s in tutorial(name, lang) if s.get("run", "").startswith(command_start)
    ]
    assert len(found) == 1, f"{name}: {len(found)} run steps start with {command_start!r}"
    return found[0]


def flat(text: str) -> str:
    """A command's output with its line breaks (where the terminal wrapped) as spaces."""
    return " ".join(text.split())


def number_after(pattern: str, text: str) -> float:
    m = re.search(pattern + r"\s*([-+]?\d+\.?\d*(?:e[-+]?\d+)?)", text)
    assert m, f"{pattern!r} not found"
    return float(m.group(1))


def bptt_table(text: str) -> np.ndarray:
    """trace bptt's table: a row per step t, columns t, RNN σ = 0.5, RNN σ = 2, LSTM."""
    rows = [ln.split() for ln in text.splitlines() if re.match(r"^\s*\d+\s+\d\.\d+e[-+]\d+\s", ln)]
    table = np.array([[float(x) for x in r[:4]] for r in rows])
    assert table[:, 0].tolist() == list(range(len(table)))
    return table


# -- all four ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["why-rnn", "rnn-bptt", "lstm", "attention"])
def test_the_narration_is_in_the_language_asked_for_and_the_numbers_do_not_depend_on_it(name):
    en, ko = tutorial(name, "en"), tutorial(name, "ko")
    assert len(en) == len(ko)
    for a, b in zip(en, ko):
        assert not HANGUL.search(a["say"] + a["title"])
        assert HANGUL.search(b["say"]) and HANGUL.search(b["title"])
        assert a.get("run") == b.get("run") and a.get("code") == b.get("code")
    assert numbers(values(name, "en")) == numbers(values(name, "ko"))
    # the notes the code steps give their tensors are in the language asked for too
    notes = [
        v["note"] for v in values(name, "ko").values() if isinstance(v, dict) and v.get("note")
    ]
    assert all(HANGUL.search(note) for note in notes), notes


def numbers(shown):
    """The shown values without the words that go with them (notes and formulas, by language)."""
    if isinstance(shown, dict):
        return {k: numbers(v) for k, v in shown.items() if k not in ("note", "formula")}
    return [numbers(v) for v in shown] if isinstance(shown, list) else shown


# -- 4: why RNNs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_why_rnn_the_sentence_and_the_chain_rule(lang):
    v = values("why-rnn", lang)
    sentence = v["sentence"]
    assert data(sentence).tolist() == SENTENCE_IDS
    assert sentence["labels"][0] == [TOY_WORDS[i] for i in SENTENCE_IDS]
    assert v["vocabulary"]["labels"][0] == TOY_WORDS
    # untrained: every conditional near a uniform 1/7, and their product is the joint probability
    p = data(v["p_untrained"])
    assert p.shape == (7,) and np.all(np.abs(p - 1 / 7) < 0.01)
    assert v["joint_untrained"] == pytest.approx(np.prod(p), rel=2e-3)
    assert v["one_seventh_to_the_7th"] == pytest.approx((1 / 7) ** 7, rel=1e-3)
    # trained: every conditional near 1, the joint too, and the product still holds
    q = data(v["p_trained"])
    assert np.all(q > 0.99)
    assert v["joint_trained"] == pytest.approx(np.prod(q), abs=1e-3)
    assert v["joint_trained"] > 1e5 * v["joint_untrained"]
    assert v["last_loss"] < v["first_loss"] / 100
    assert v["first_loss"] == pytest.approx(math.log(7), abs=0.05)  # a uniform guess loses log 7


@pytest.mark.parametrize("lang", LANGS)
def test_why_rnn_cbow_is_blind_to_order_and_the_nplm_grows(lang):
    v = values("why-rnn", lang)
    h = data(v["cbow_h"])
    assert v["cbow_h"]["labels"][0] == ["say goodbye", "goodbye say"]
    assert h.shape == (2, 5) and np.any(h != 0)
    assert np.array_equal(h[0], h[1]) and v["largest_difference"] == 0
    nplm, rnn = data(v["first_layer"])
    assert np.all(np.diff(nplm) == 100 * 100)  # a word of context more: D·H weights more
    assert nplm[0] == 100 * 100 + 100
    assert np.all(rnn == rnn[0]) and nplm[-1] > rnn[0] > nplm[0]


@pytest.mark.parametrize("lang", LANGS)
def test_why_rnn_the_command_line_learns_and_writes_the_sentence(lang):
    trained = output("why-rnn", lang, "train rnnlm")
    assert 1 <= number_after(SAID[lang]["perplexity"], trained) < 1.01
    lines = output("why-rnn", lang, "generate rnnlm").splitlines()  # the status line, then the text
    assert "you say goodbye and i say hello ." in [line.strip() for line in lines]


# -- 5: the RNN and BPTT ----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_rnn_bptt_the_forward_loop_and_the_gradient_sum_match_the_kernels(lang):
    v = values("rnn-bptt", lang)
    h = data(v["h_by_hand"])
    assert h.shape == (7, 4) and np.all(np.abs(h) < 1)
    assert (
        v["h_by_hand"]["labels"][0][1] == "t=1 say" and v["h_by_hand"]["labels"][0][5] == "t=5 say"
    )
    assert not np.allclose(h[1], h[5])  # the same word, a different state: h remembers
    assert v["largest_difference"] < 1e-12
    dh_norms, shares = data(v["per_step"])
    assert shares[0] == 0 and np.all(shares[1:] > 0)  # h_{-1} = 0 sends nothing to dWh
    assert np.all(dh_norms > 0)
    assert v["dWh_difference"] < 1e-12
    traced = output("rnn-bptt", lang, "trace rnn")
    assert SAID[lang]["token"].format(t=1) in traced
    assert SAID[lang]["hidden"] in flat(traced) and SAID[lang]["reordered"] not in flat(traced)
    mean_loss = number_after(SAID[lang]["mean loss"], flat(traced))
    assert mean_loss == pytest.approx(math.log(7), abs=0.01)


@pytest.mark.parametrize("lang", LANGS)
def test_rnn_bptt_vanishing_and_exploding(lang):
    v = values("rnn-bptt", lang)
    small, large = data(v["factors"])
    assert v["factors"]["labels"][1][-1] == "t = 0"
    assert small[-1] == pytest.approx(0.5**19) and large[-1] == 2**19
    assert np.allclose(small * large, 1)
    assert v["half_to_the_19th"] == 0.5**19 and v["two_to_the_19th"] == 2**19
    table = bptt_table(output("rnn-bptt", lang, "trace bptt"))
    assert len(table) == 20 and np.all(table[-1, 1:] == 1)
    assert np.all(np.diff(table[:, 1]) > 0) and np.all(
        np.diff(table[:, 2]) < 0
    )  # one grows to t = 19, one shrinks
    assert table[0, 1] == pytest.approx(0.5**19, rel=0.01)  # vanishes: σ^19
    assert table[0, 2] == pytest.approx(2**19, rel=0.01)  # explodes
    assert table[0, 3] > 0.1  # the LSTM's survives
    assert v["norm_before"] == 1300 and v["norm_after"] == pytest.approx(5, abs=1e-5)
    wx, wh = data(v["clipped_Wx"]).ravel(), data(v["clipped_Wh"]).ravel()
    assert np.allclose(np.concatenate([wx, wh]), np.array([300, -400, 1200]) * 5 / 1300, atol=1e-6)


# -- 6: the LSTM ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_lstm_the_fused_affine_sliced_into_gates(lang):
    v = values("lstm", lang)
    assert v["shapes"] == "Wx (4, 16), Wh (4, 16), b (16,): 4H = 16 columns"
    A = data(v["A_sliced"])
    assert v["A_sliced"]["labels"][0] == ["f: A[0:H]", "g: A[H:2H]", "i: A[2H:3H]", "o: A[3H:4H]"]
    f, g, i, o = data(v["gates"])
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    assert np.allclose([f, g, i, o], [sigmoid(A[0]), np.tanh(A[1]), sigmoid(A[2]), sigmoid(A[3])])
    assert np.all(np.abs(np.array([f, i, o]) - 0.5) < 0.01)  # untrained: every σ near 0.5
    c, h = data(v["cell_and_h"])
    assert np.allclose(h, o * np.tanh(c))
    assert v["largest_difference"] < 1e-12


@pytest.mark.parametrize("lang", LANGS)
def test_lstm_the_cell_keeps_the_gradient_while_f_is_near_1(lang):
    v = values("lstm", lang)
    assert v["f_bias_2"] == pytest.approx(1 / (1 + math.exp(-2)), abs=1e-4) and v["f_bias_0"] == 0.5
    kept, lost = data(v["after_19_steps"]).ravel()
    assert kept == pytest.approx(v["f_bias_2"] ** 19) and lost == pytest.approx(0.5**19)
    table = bptt_table(output("lstm", lang, "trace bptt --forget-bias 0"))
    assert table[0, 3] < 1e-3  # f near 0.5: the LSTM's gradient fades too
    rnn5 = bptt_table(output("rnn-bptt", lang, "trace bptt"))
    assert table[0, 3] < rnn5[0, 3] / 100  # where forget bias 2 kept it
    assert 1 <= number_after(SAID[lang]["perplexity"], output("lstm", lang, "train lstmlm")) < 1.01


@pytest.mark.parametrize("lang", LANGS)
def test_lstm_trained_says_hello_after_the_second_say(lang):
    traced = output("lstm", lang, "trace lstm --checkpoint")
    assert SAID[lang]["token"].format(t=5) in traced
    assert SAID[lang]["lstm naive"] in flat(traced) and SAID[lang]["dh_total"] in flat(traced)
    assert number_after(r"p\('hello'\) =", traced) > 0.99
    gates = re.search(r"^f = σ\(A\[f\]\)(.*)$", traced, re.M).group(1).split()
    f = np.array([float(x) for x in gates if x != "…"])
    assert np.all((f > 0) & (f < 1)) and np.abs(f - 0.5).max() > 0.3  # trained gates decide


# -- 7: self-attention ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_attention_the_lessons_scores(lang):
    v = values("attention", lang)
    scores, scaled, weights = data(v["steps"])
    assert scores.tolist() == [110, 90, 80]
    assert np.allclose(scaled, scores / 8) and scaled.tolist() == [13.75, 11.25, 10]
    e = np.exp(scaled - scaled.max())
    assert np.allclose(weights, e / e.sum()) and weights.sum() == pytest.approx(1)
    assert weights.round(4).tolist() == [0.9045, 0.0742, 0.0213]
    example = output("attention", lang, "trace attention --example")
    kernel = re.search(r"^I\s+(0\.\d{4})\s+(0\.\d{4})\s+(0\.\d{4})\s*$", example, re.M)
    assert [float(x) for x in kernel.groups()] == weights.round(4).tolist()  # the kernel agrees
    assert SAID[lang]["computed"] in flat(example)  # the naive kernel, the lesson's loops
    assert v["std_of_scores"] / v["std_of_scaled_scores"] == pytest.approx(8, rel=0.02)
    assert v["std_of_scores"] == pytest.approx(8, abs=0.3)


@pytest.mark.parametrize("lang", LANGS)
def test_attention_four_steps_on_i_am_good(lang):
    traced = output("attention", lang, 'trace attention "I am good"')
    for k in range(1, 5):
        assert SAID[lang]["step"].format(k=k) in traced
    assert SAID[lang]["agree"] in flat(traced)
    rows = re.findall(r"^z(\d) = (.*)$", traced, re.M)
    assert [r[0] for r in rows] == ["1", "2", "3"]
    for _, terms in rows:
        weights = [float(w) for w in re.findall(r"(\d\.\d\d)·v\(", terms)]
        assert len(weights) == 3 and sum(weights) == pytest.approx(1, abs=0.02)


@pytest.mark.parametrize("lang", LANGS)
def test_attention_it_points_at_cat_then_at_fish(lang):
    trained = output("attention", lang, "train pronoun")
    assert number_after(SAID[lang]["held-out"], trained) >= 0.95
    for sentence, antecedent, other in (("hungry", "cat", "fish"), ("tasty", "fish", "cat")):
        traced = output(
            "attention",
            lang,
            f'trace attention --checkpoint {{tmp}}/pronoun.npz "A cat ate the fish '
            f'because it was {sentence}"',
        )
        m = re.search(SAID[lang]["attends"], traced)
        assert m.group(1) == antecedent and float(m.group(2)) > 0.9
        answer = re.search(SAID[lang]["answer"], traced, re.S)
        assert answer.group(1) == antecedent and answer.group(1) != other
        assert SAID[lang]["agree"] in flat(traced)


@pytest.mark.parametrize("name", ["rnn-bptt", "lstm", "attention"])
@pytest.mark.parametrize("lang", LANGS)
def test_the_kernels_named_are_the_naive_ones_and_lesson_8_makes_them_fast(name, lang):
    steps = tutorial(name, lang)
    said = " ".join(s["say"] for s in steps)
    assert "_naive" in said and "`nbengine tutorial run speed`" in said
    for s in steps:
        if (
            s.get("run", "").startswith("trace ") and "bptt" not in s["run"]
        ):  # a trace that names its kernel
            assert s["run"].endswith("--kernels naive"), s["run"]
