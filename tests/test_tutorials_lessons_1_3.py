"""The tutorials of lessons 1-3 (logreg, mnist-cnn, cnn-theory), run in both languages
through `nbengine tutorial run NAME --lang L --json`: the lessons' key numbers are
there (7, 6, 10, 7; 5, 8, 5, 4; 3,241,354) and the values each step computes obey
the relations the narration states (the chain rule, the update, ÷255, one-hot,
padding, stride, pooling, Dropout after the softmax), recomputed here from the JSON."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from helpers import json_lines, run

LANGS = ["en", "ko"]
# what the commands say in each language (their numbers are the same in both)
SAID = {
    "en": {
        "closer": "closer to y = 0",
        "pass": "pass",
        "fail": "FAIL",
        "accuracy": r"test accuracy (?P<acc>[\d.]+) \((?P<right>\d+) of (?P<n>\d+)\)",
        "total": "Total params: ",
        "sum": "sum = ",
        "max": "max = ",
        "naive": "Computed by conv2d_forward_naive",
    },
    "ko": {
        "closer": "y = 0에 더 가까워졌습니다",
        "pass": "통과",
        "fail": "실패",
        "accuracy": r"테스트 정확도 (?P<acc>[\d.]+) \((?P<n>\d+)개 중 (?P<right>\d+)개\)",
        "total": "전체 매개변수: ",
        "sum": "합 = ",
        "max": "최댓값 = ",
        "naive": "conv2d_forward_naive 커널이 float64로 계산했습니다",
    },
}
_runs: dict[tuple[str, str], list[dict]] = {}


def steps_of(name: str, lang: str) -> dict[int, dict]:
    """The step events of one JSON run, by index (each tutorial and language runs once per session)."""
    if (name, lang) not in _runs:
        _runs[(name, lang)] = json_lines(run("tutorial", "run", name, "--lang", lang, "--json"))
    events = _runs[(name, lang)]
    start, end = events[0], events[-1]
    assert start["event"] == "start" and start["lang"] == lang and end["event"] == "end"
    steps = {e["index"]: e for e in events if e["event"] == "step"}
    assert sorted(steps) == list(range(1, start["steps"] + 1))
    return steps


def hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def numbers(values: dict) -> dict:
    """A step's values without the words: a tensor(...)'s note and formula are in the run's language."""
    return {
        k: {f: v[f] for f in ("data", "labels", "shape")} if isinstance(v, dict) else v
        for k, v in values.items()
    }


def by_label(tensor: dict) -> dict[str, float]:
    """A 1-D tensor(...) value from the JSON as {column label: value}."""
    (cols,) = tensor["labels"]
    return dict(zip(cols, tensor["data"]))


def table_loss(output: str) -> float:
    """The training loss of the one epoch row of `train cnn`'s table."""
    row = next(ln.split() for ln in output.splitlines() if ln.strip().startswith("1 "))
    return float(row[1])


@pytest.mark.parametrize("name", ["logreg", "mnist-cnn", "cnn-theory"])
def test_narration_is_in_the_language_asked_and_the_numbers_do_not_depend_on_it(name):
    en, ko = steps_of(name, "en"), steps_of(name, "ko")
    assert len(en) == len(ko)
    for i in en:
        assert not hangul(en[i]["say"]) and not hangul(en[i]["title"])
        assert hangul(ko[i]["say"]) and hangul(ko[i]["title"])
        assert numbers(en[i].get("values", {})) == numbers(ko[i].get("values", {}))
        assert en[i].get("run") == ko[i].get("run")
    assert 5 <= len(en) <= 9


# -- lesson 1: logistic regression --------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_logreg_forward_loss_chain_rule_and_update(lang):
    s = steps_of("logreg", lang)
    first = s[1]["values"]
    assert first["parameters"] == first["features"] + 1 == 31  # a weight per feature and the bias

    fwd = by_label(s[2]["values"]["forward"])
    z, a = fwd["z"], fwd["a = σ(z)"]
    assert a == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-12)
    assert fwd["a (kernel)"] == pytest.approx(a, abs=1e-6)  # float32 kernel against float64 by hand
    assert z < 0 < a < 0.5  # random small weights: no opinion yet, leaning slightly to class 0

    loss = by_label(s[3]["values"]["loss"])
    assert loss["y"] == 0 and loss["a"] == a
    assert loss["L"] == pytest.approx(-math.log(1 - a), abs=1e-12)

    chain = by_label(s[4]["values"]["chain"])
    dL_da, da_dz, dz_dw = chain["dL/da"], chain["da/dz"], chain["dz/dw"]
    assert dL_da == pytest.approx(1 / (1 - a), rel=1e-5)  # −y/a + (1−y)/(1−a) with y = 0
    assert da_dz == pytest.approx(a * (1 - a), rel=1e-5)
    assert chain["product"] == pytest.approx(dL_da * da_dz * dz_dw, rel=1e-12)
    assert chain["dL/dw (kernel)"] == pytest.approx(chain["product"], rel=1e-5)
    links = by_label(s[4]["values"]["first_two_links"])
    assert links["dL/da · da/dz"] == pytest.approx(links["a − y"], abs=1e-6) and links["a − y"] == a

    step = by_label(s[5]["values"]["weight"])
    assert step["− η·dL/dw"] == pytest.approx(-0.1 * chain["dL/dw (kernel)"], rel=1e-6)
    assert step["w after"] == pytest.approx(step["w before"] + step["− η·dL/dw"], abs=1e-7)
    pred = by_label(s[5]["values"]["prediction"])
    assert pred["a before"] == a and pred["a after"] < a  # one step moved a toward the label 0

    # the command computes the same sample's numbers as the code steps did
    trace = s[6]["output"]
    assert f"= {z:.4f}" in trace and f"= {dL_da:.4f}" in trace and f"= {da_dz:.4f}" in trace
    assert f"{a:.4f} → {pred['a after']:.4f}, {SAID[lang]['closer']}" in trace
    assert f"{dL_da:.4f} × {da_dz:.4f} × {dz_dw:.4f} = {chain['product']:.4f}" in trace

    check = s[7]["output"]
    assert check.count(SAID[lang]["pass"]) == 2 and SAID[lang]["fail"] not in check
    found = re.search(SAID[lang]["accuracy"], s[8]["output"])
    acc, correct, total = found.group("acc", "right", "n")
    assert (
        int(total) == 113
        and float(acc) == pytest.approx(int(correct) / 113, abs=1e-4)
        and float(acc) > 0.95
    )


# -- lesson 2: the MNIST CNN --------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_mnist_data_preprocessing_and_one_hot(lang):
    s = steps_of("mnist-cnn", lang)
    data = s[1]["values"]
    assert (data["train_images"], data["test_images"], data["pixels_per_image"]) == (
        4000,
        1000,
        784,
    )
    pixels = np.array(data["pixels"])
    assert pixels.shape == (28, 28) and pixels.min() == 0 and pixels.max() == 255
    patch = np.array(data["patch"])
    assert np.array_equal(patch, pixels[12:17, 12:17])

    prep = s[2]["values"]
    assert np.allclose(prep["patch_scaled"], patch / 255, atol=1e-7)  # ÷255, pixel by pixel
    assert prep["shape"] == [28, 28, 1] and prep["smallest_and_largest"] == [0, 1]
    assert prep["same_as_the_loader"] is True

    hot = s[3]["values"]
    labels = hot["labels"]
    columns = np.array(hot["one_hot_columns"]["data"])
    assert columns.shape == (10, len(labels))
    assert np.all(columns.sum(axis=0) == 1) and list(columns.argmax(axis=0)) == labels
    one_hot_loss, label_loss = hot["losses"]["data"]
    assert np.allclose(one_hot_loss, label_loss) and min(one_hot_loss) > 0


@pytest.mark.parametrize("lang", LANGS)
def test_mnist_summary_training_and_prediction(lang):
    s = steps_of("mnist-cnn", lang)
    summary = s[4]["output"]
    assert SAID[lang]["total"] + "3,241,354" in summary
    counts = [int(m.replace(",", "")) for m in re.findall(r"│\s*([\d,]+) │", summary)]
    assert (
        sum(counts) == 3_241_354 and 3 * 3 * 1 * 32 + 32 in counts and 3136 * 1024 + 1024 in counts
    )

    trained = table_loss(s[5]["output"])
    found = re.search(SAID[lang]["accuracy"], s[5]["output"])
    acc, correct, total = found.group("acc", "right", "n")
    assert total == "1000" and float(acc) == int(correct) / 1000 and float(acc) > 0.7

    loop = s[6]["values"]
    losses = loop["batch_losses"]
    assert len(losses) == 32 and loop["first_batch_loss"] == round(losses[0], 4)
    assert losses[0] == pytest.approx(
        math.log(10), abs=0.05
    )  # untrained: about 0.1 for every class
    assert np.mean(losses[-8:]) < 0.5 * np.mean(losses[:8]) and loop["test_accuracy"] > 0.7

    pred = s[7]["values"]
    p = np.array(pred["prediction"]["data"])[:, 0]
    assert pred["prediction"]["labels"][0] == [str(k) for k in range(10)]
    assert abs(p.sum() - 1) < 1e-3  # shown to 4 decimals
    assert pred["predicted"] == int(p.argmax()) == pred["true_label"] == 7
    assert np.array(pred["digit"]).shape == (28, 28)

    # the lesson's order (Dropout after the softmax) trains the same run to a far higher loss
    assert table_loss(s[9]["output"]) > 2 * trained


@pytest.mark.parametrize("lang", LANGS)
def test_mnist_dropout_after_softmax_costs_the_clip_and_no_gradient(lang):
    effect = steps_of("mnist-cnn", lang)[8]["values"]
    assert effect["clipped_loss"] == pytest.approx(-math.log(1e-7), abs=1e-4)
    t = effect["effect"]
    assert t["labels"][1] == ["p(true)", "p(true) after", "Σp after", "loss", "‖dL/dp‖"]
    assert t["labels"][0] == [f"digit {k}" for k in range(10)]
    dropped = kept = 0
    for p, after, total, loss, grad in t["data"]:
        assert total != pytest.approx(1, abs=1e-3)  # the probabilities no longer sum to 1
        if after == 0:  # the true class was dropped
            dropped += 1
            assert loss == pytest.approx(-math.log(1e-7), rel=1e-5) and grad == 0
        else:  # kept and scaled by 1/(1 − 0.25)
            kept += 1
            assert after == pytest.approx(p / 0.75, rel=1e-5)
            assert loss == pytest.approx(
                -math.log(min(after / total, 1 - 1e-7)), rel=1e-4, abs=1e-6
            )
            assert grad > 0
    assert dropped >= 1 and kept >= 1


# -- lesson 3: CNN theory -----------------------------------------------------------------------


def correlate(x: np.ndarray, f: np.ndarray, stride: int = 1) -> np.ndarray:
    """The lesson's convolution, written independently of the kernel: window ⊙ filter, summed."""
    R, S = f.shape
    rows = (x.shape[0] - R) // stride + 1
    cols = (x.shape[1] - S) // stride + 1
    return np.array(
        [
            [
                np.sum(x[i * stride : i * stride + R, j * stride : j * stride + S] * f)
                for j in range(cols)
            ]
            for i in range(rows)
        ]
    )


@pytest.mark.parametrize("lang", LANGS)
def test_cnn_theory_convolution_padding_and_stride(lang):
    s = steps_of("cnn-theory", lang)
    first = s[1]["values"]
    X, F = np.array(first["X"]), np.array(first["F"])
    assert np.array_equal(first["products"], np.array(first["window"]) * F)
    assert first["first_output"] == np.sum(first["products"]) == 7
    assert correlate(X, F).tolist() == [[7, 6], [10, 7]]

    sums = [int(v) for v in re.findall(SAID[lang]["sum"] + r"(-?\d+)", s[2]["output"])]
    assert sums[:4] == [7, 6, 10, 7]  # the lesson's four windows, in sliding order
    # the lesson's loop, not the fast one
    assert SAID[lang]["naive"] in " ".join(s[2]["output"].split())
    assert (
        "conv2d_forward_naive(out," in s[3]["code"]
        and "`nbengine tutorial run speed`" in s[3]["say"]
    )

    pad = s[3]["values"]
    assert np.array_equal(pad["X_padded"], np.pad(X, 1))
    assert np.array_equal(pad["Y_padded"], correlate(np.pad(X, 1), F))
    assert np.array(pad["Y_padded"]).shape == X.shape  # padding 1 keeps 4×4
    assert pad["middle"] == [[7, 6], [10, 7]]
    assert pad["mnist_sizes"]["data"] == [(28 - 3) // 1 + 1, (28 + 2 - 3) // 1 + 1] == [26, 28]

    stride = s[4]["values"]
    assert np.array_equal(stride["Y_stride2"], correlate(np.pad(X, 1), F, stride=2))
    assert np.array_equal(stride["Y_stride2"], np.array(pad["Y_padded"])[::2, ::2])
    assert stride["size_formula"] == (4 + 2 - 3) // 2 + 1 == 2
    assert stride["mnist_stride2"] == (28 + 2 - 3) // 2 + 1 == 14


@pytest.mark.parametrize("lang", LANGS)
def test_cnn_theory_max_pooling_and_the_digits_shapes(lang):
    s = steps_of("cnn-theory", lang)
    maxima = [int(v) for v in re.findall(SAID[lang]["max"] + r"(\d+)", s[5]["output"])]
    assert maxima == [5, 8, 5, 4]

    pool = s[6]["values"]
    M = np.array(pool["M"])
    assert pool["pooled"] == M.reshape(2, 2, 2, 2).max(axis=(1, 3)).tolist() == [[5, 8], [5, 4]]
    for (r, c), best in zip(pool["winners"]["data"], [5, 8, 5, 4]):
        assert M[r, c] == best
    assert [(r // 2, c // 2) for r, c in pool["winners"]["data"]] == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
    ]
    shapes = pool["shape_after"]["data"]
    assert shapes == [[28, 28, 32], [14, 14, 32], [14, 14, 64], [7, 7, 64]]
    assert pool["flatten"].startswith(f"7·7·64 = {7 * 7 * 64:,}") and "3,136" in pool["flatten"]
