"""Lesson 8 (speed), run in English and in Korean through `nbengine tutorial run speed
--lang L --json`: every variant of the convolution computes the naive kernel's output
(the same bits where the additions keep their order, float32 rounding where they are
regrouped), the threads change no bit, the kernels shown are the shipped ones, and the
timing tables are consistent with themselves. No time or speedup is asserted: they
depend on the machine."""

from __future__ import annotations

import inspect
import re
from functools import cache

import numba
import pytest
from helpers import json_lines, run

from nbengine import ctwins
from nbengine.kernels.conv2d import conv2d_forward, conv2d_forward_naive

LANGS = ["en", "ko"]
HANGUL = re.compile(r"[\uac00-\ud7a3]")
FLOPS = 2 * 8 * 14 * 14 * 64 * 3 * 3 * 32  # conv2 of the lesson's CNN at batch 8
# Variants whose every output adds the same products in the naive kernel's order.
SAME_ORDER = ["loop", "nchw", "k_inner", "nchw_k_inner"]


@cache
def steps(lang: str) -> tuple[dict, ...]:
    events = json_lines(run("tutorial", "run", "speed", "--lang", lang, "--json"))
    assert (
        events[0]["event"] == "start"
        and events[0]["name"] == "speed"
        and events[-1]["event"] == "end"
    )
    found = tuple(e for e in events if e["event"] == "step")
    assert [s["index"] for s in found] == list(range(1, events[0]["steps"] + 1))
    return found


def values(lang: str) -> dict:
    """Every value shown, by name; a name shown in several steps (speed) keeps its last."""
    out = {}
    for s in steps(lang):
        out.update(s.get("values", {}))
    return out


def table(t: dict) -> dict[str, list[float]]:
    """A timing tensor from the JSON as {row label: [ms, GFLOP/s, × naive]}."""
    rows, cols = t["labels"]
    assert cols == ["ms", "GFLOP/s", "× naive"]
    return dict(zip(rows, t["data"]))


def threads(n: int) -> str:
    return f"{n} thread" + ("s" if n > 1 else "")


def test_it_is_lesson_8_in_the_list():
    for lang in LANGS:
        listed = json_lines(run("tutorial", "list", "--lang", lang, "--json"))
        (speed,) = [e for e in listed if e["name"] == "speed"]
        assert speed["lesson"] == 8 and speed["steps"] == len(steps(lang))
        assert bool(HANGUL.search(speed["title"])) == (lang == "ko")


def test_the_narration_is_in_the_language_asked_and_the_checks_do_not_depend_on_it():
    en, ko = steps("en"), steps("ko")
    assert len(en) == len(ko) == 10
    for a, b in zip(en, ko):
        assert not HANGUL.search(a["say"] + a["title"])
        assert HANGUL.search(b["say"]) and HANGUL.search(b["title"])
        assert a["code"] == b["code"]
    # what the lesson checks is computed from fixed inputs: the same in both runs (the times are not)
    timed = (
        "speed",
        "road",
        "c_row",
        "tiny_ms",
        "njit_speedup",
        "numba_over_c",
        "torch_row",
        "steps_in_memory",
    )
    for name in values("en"):
        if name in timed or name.endswith("speedup"):
            continue
        assert values("en")[name] == values("ko")[name], name


@pytest.mark.parametrize("lang", LANGS)
def test_the_kernels_shown_are_the_shipped_ones(lang):
    v = values(lang)
    assert v["naive_source"] == inspect.getsource(conv2d_forward_naive.py_func)
    assert v["fast_source"] == inspect.getsource(conv2d_forward.py_func)
    assert "acc += x[n, p, q, c] * w[r, s, c, k]" in v["naive_source"]
    assert v["flops"] == FLOPS


@pytest.mark.parametrize("lang", LANGS)
def test_every_variant_computes_the_naive_kernels_output(lang):
    v = values(lang)
    # pure Python, @njit and the shipped naive kernel, on the tiny size
    assert v["tiny_same_bits"] is True
    for name in SAME_ORDER:  # the same products added in the same order: every bit the same
        assert v[f"{name}_same_bits"] is True, name
    # regrouped sums (four channels per pass, the fast kernel): float32 rounding of outputs of a few units
    for name in ("reuse_difference", "fast_difference"):
        assert 0 <= v[name] < 1e-4, name
    assert v["within_rounding"] is True and v["fast_same_bits_on_any_thread_count"] is True
    if any_compiler():
        assert v["c_same_bits"] is True  # the same loops in C, the same order of additions
        assert "C conv2d_forward_naive" in table(v["road"])
    else:
        assert v["c_row"] == "no C compiler" and v["c_compiler"].startswith("no C row")


@pytest.mark.parametrize("lang", LANGS)
def test_the_same_bits_on_1_and_2_threads(lang):
    v = values(lang)
    assert v["same_bits_on_1_and_2_threads"] is True
    assert v["dw_same_bits_on_1_and_2_threads"] is True
    assert v["PARTS"] == 8
    # another number of parts is another order of additions: a count of dw's values, not a thread count
    assert 0 <= v["values_with_other_bits_as_one_part"] <= 3 * 3 * 32 * 64
    rows = table(steps(lang)[5]["values"]["speed"])
    assert list(rows) == [
        "conv_reuse",
        "conv_threads, 1 thread",
        f"conv_threads, {threads(min(2, numba.config.NUMBA_NUM_THREADS))}",
    ]


@pytest.mark.parametrize("lang", LANGS)
def test_the_timing_tables_agree_with_themselves(lang):
    s = steps(lang)
    road = table(values(lang)["road"])
    most = threads(numba.config.NUMBA_NUM_THREADS)
    expected = [
        "conv2d_forward_naive",
        "conv_loop",
        "conv_nchw",
        "conv_k_inner",
        "conv_nchw_k_inner",
        "conv_reuse",
        "conv_threads, 1 thread",
        "conv2d_forward, 1 thread",
        f"conv2d_forward, {most}",
    ]
    assert [r for r in expected if r in road] == expected
    naive_ms = road["conv2d_forward_naive"][0]
    for label, (ms, gflops, times) in road.items():
        assert ms > 0, label
        assert gflops == pytest.approx(FLOPS / (ms * 1e6), rel=1e-9), label
        assert times == pytest.approx(naive_ms / ms, rel=1e-9), label
    # each step's table repeats the rows it timed, with the same numbers
    for step in s:
        shown = step.get("values", {})
        for name in ("speed", "c_row"):
            if isinstance(shown.get(name), dict):
                for label, row in table(shown[name]).items():
                    assert row == road[label], (step["index"], label)
    tiny = dict(zip(s[1]["values"]["tiny_ms"]["labels"][1], s[1]["values"]["tiny_ms"]["data"][0]))
    assert abs(s[1]["values"]["njit_speedup"] - tiny["Python"] / tiny["@njit"]) <= 1
    v = values(lang)
    assert v["order_speedup"] == pytest.approx(
        road["conv_loop"][0] / road["conv_k_inner"][0], abs=0.0051
    )
    assert v["reuse_speedup"] == pytest.approx(
        road["conv_k_inner"][0] / road["conv_reuse"][0], abs=0.0051
    )


def any_compiler() -> bool:
    try:
        ctwins.find_compiler()
    except ctwins.NoCompiler:
        return False
    return True
