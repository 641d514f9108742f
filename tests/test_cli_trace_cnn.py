"""The CNN lesson's summary and traces through click's test runner, and the heat map."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from helpers import json_lines, run
from rich.console import Console

from nbengine_cli.render.heatmap import NEG_RAMP, POS_RAMP, RAMP, heatmap

SHAPES = {
    "conv1": [28, 28, 32],
    "pool1": [14, 14, 32],
    "conv2": [14, 14, 64],
    "pool2": [7, 7, 64],
    "flatten": [3136],
    "dense1": [1024],
    "dropout": [1024],
    "dense2": [10],
}
PARAMS = {
    "conv1.w": [3, 3, 1, 32],
    "conv1.b": [32],
    "conv2.w": [3, 3, 32, 64],
    "conv2.b": [64],
    "dense1.w": [3136, 1024],
    "dense1.b": [1024],
    "dense2.w": [1024, 10],
    "dense2.b": [10],
}


def events(result, kind: str) -> list[dict]:
    return [e for e in json_lines(result) if e["event"] == kind]


# -- summary --------------------------------------------------------------------------------


def test_summary_is_keras_like():
    out = run("summary", "cnn").stdout
    assert "Total params: 3,241,354" in out
    assert "Trainable params: 3,241,354" in out and "Non-trainable params: 0" in out
    for text in [
        "conv1 (Conv2D)",
        "(None, 28, 28, 32)",
        "(None, 14, 14, 32)",
        "(None, 7, 7, 64)",
        "(None, 3136)",
        "(None, 1024)",
        "(None, 10)",
        "3,212,288",
        "18,496",
        "10,250",
    ]:
        assert text in out, text
    assert "before the last Dense" in out and "16.1" in out


def test_summary_json_and_the_lesson_order():
    default = json_lines(run("summary", "cnn", "--json"))
    layers = [e for e in default if e["event"] == "layer"]
    assert [e["name"] for e in layers] == list(SHAPES)
    assert {e["name"]: e["output_shape"] for e in layers} == SHAPES
    assert sum(e["params"] for e in layers) == 3241354
    assert default[-1] == {
        **default[-1],
        "event": "result",
        "total": 3241354,
        "trainable": 3241354,
        "non_trainable": 0,
        "as_written": False,
    }

    written = json_lines(run("summary", "cnn", "--as-written", "--json"))
    names = [e["name"] for e in written if e["event"] == "layer"]
    assert names[-2:] == ["dense2", "dropout"]  # Dropout after the softmax, as the lesson wrote it
    assert written[-1]["total"] == 3241354 and written[-1]["dropout_after"] == "dense2"
    out = run("summary", "cnn", "--as-written").stdout
    assert "as the lesson wrote it" in out and "-log(1e-7) ≈ 16.1" in out


# -- trace conv -----------------------------------------------------------------------------


def reference_conv(x: np.ndarray, f: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """The textbook definition, independent of the kernel."""
    xp = np.pad(x, padding)
    R = f.shape[0]
    n = (xp.shape[0] - R) // stride + 1
    return np.array(
        [
            [
                np.sum(xp[i * stride : i * stride + R, j * stride : j * stride + R] * f)
                for j in range(n)
            ]
            for i in range(n)
        ]
    )


def test_trace_conv_replays_the_lesson():
    out = run("trace", "conv").stdout
    for s in [
        "sum = 7",
        "sum = 6",
        "sum = 10",
        "1·1 + 0·0 + 2·0 + 0·2 + 2·1 + 1·3 + 0·0 + 2·0 + 1·1 = 7",
        "(4 + 2·1 − 3)/1 + 1",
        "⌊3/2⌋ + 1 = 2",
    ]:
        assert s in out, s

    evs = json_lines(run("trace", "conv", "--json"))
    traces = {(e["case"], e["name"]): e for e in evs if e["event"] == "trace"}
    x = np.array(traces["valid", "X"]["data"])
    f = np.array(traces["valid", "F"]["data"])
    assert x[:3, :3].tolist() == [[1, 0, 2], [0, 2, 1], [0, 2, 1]]  # the lesson's first window
    assert f.tolist() == [[1, 0, 0], [2, 1, 3], [0, 0, 1]]
    assert traces["valid", "Y"]["data"] == [[7, 6], [10, 7]]
    windows = [e for e in evs if e["event"] == "window" and e["case"] == "valid"]
    assert [w["sum"] for w in windows] == [7, 6, 10, 7]  # sliding right, then down-left
    assert [w["position"] for w in windows] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    for w in windows:
        assert np.sum(w["products"]) == w["sum"]
        assert np.array_equal(np.array(w["window"]) * f, w["products"])

    padded = traces["padded", "Y"]
    assert padded["shape"] == [4, 4] and padded["padding"] == 1
    assert traces["padded", "X padded"]["shape"] == [6, 6]
    np.testing.assert_array_equal(padded["data"], reference_conv(x, f, 1, 1))
    strided = traces["strided", "Y"]
    assert strided["shape"] == [2, 2] and strided["stride"] == 2 and strided["padding"] == 1
    np.testing.assert_array_equal(strided["data"], reference_conv(x, f, 2, 1))
    assert len([e for e in evs if e["event"] == "window" and e["case"] == "strided"]) == 4


def test_trace_conv_names_the_kernel_that_ran():
    fast = " ".join(run("trace", "conv").stdout.split())
    naive = " ".join(run("trace", "conv", "--kernels", "naive").stdout.split())
    assert "Computed by conv2d_forward in float64." in fast
    assert (
        "conv2d_forward: the same sums as the naive loop conv2d_forward_naive, reordered for speed (lesson 8: "
        "`nbengine tutorial run speed`)"
    ) in fast
    assert "Computed by conv2d_forward_naive in float64." in naive and "reordered" not in naive
    evs = json_lines(run("trace", "conv", "--kernels", "naive", "--json"))
    outputs = {e["case"]: e for e in evs if e["event"] == "trace" and e["name"] == "Y"}
    assert {e["kernel"] for e in outputs.values()} == {"conv2d_forward_naive"}
    fast_evs = json_lines(run("trace", "conv", "--json"))
    for e in fast_evs:
        # the same sums: the lesson's whole numbers, either way
        if e["event"] == "trace" and e["name"] == "Y":
            assert e["kernel"] == "conv2d_forward" and e["data"] == outputs[e["case"]]["data"]


# -- trace pool -----------------------------------------------------------------------------


def test_trace_pool_forward_and_backward():
    out = run("trace", "pool").stdout
    for m in ["max = 5", "max = 8", "max = 4"]:
        assert m in out

    evs = json_lines(run("trace", "pool", "--json"))
    traces = {e["name"]: e for e in evs if e["event"] == "trace"}
    windows = [e for e in evs if e["event"] == "window"]
    assert [w["max"] for w in windows] == [5, 8, 5, 4]
    assert traces["Y"]["data"] == [[5, 8], [5, 4]]
    x = np.array(traces["X"]["data"])
    for w in windows:
        r, c = w["argmax"]
        assert x[r, c] == w["max"] == np.max(w["window"])
    dy = np.array(traces["dL/dY"]["data"])
    dx = np.array(traces["dL/dX"]["data"])
    expected = np.zeros_like(x)
    for w in windows:
        expected[tuple(w["argmax"])] = dy[tuple(w["position"])]
    np.testing.assert_array_equal(dx, expected)  # each gradient at its arg-max, zeros elsewhere
    assert np.count_nonzero(dx) == 4 and dx.sum() == dy.sum()


# -- trace cnn ------------------------------------------------------------------------------


def check_cnn_trace(evs: list[dict]) -> dict:
    layers = [e for e in evs if e["event"] == "trace" and "layer" in e]
    assert {e["layer"]: e["shape"] for e in layers} == SHAPES
    assert [e["shape"] for e in layers if e["type"] != "Dropout"] == [
        [28, 28, 32],
        [14, 14, 32],
        [14, 14, 64],
        [7, 7, 64],
        [3136],
        [1024],
        [10],
    ]
    for e in layers:
        assert np.array(e["data"]).shape == tuple(e["shape"])
    probs = next(e for e in evs if e["event"] == "trace" and e["name"] == "probabilities")
    p = np.array(probs["data"])
    assert p.shape == (10,) and np.all(p >= 0) and abs(p.sum() - 1) < 1e-5
    assert probs["labels"] == [[str(k) for k in range(10)]]
    prediction = next(e for e in evs if e["event"] == "prediction")
    assert prediction["predicted"] == int(np.argmax(p))
    grads = {e["parameter"]: e for e in evs if e["event"] == "gradient"}
    assert {k: g["shape"] for k, g in grads.items()} == PARAMS
    assert all(np.isfinite(g["norm"]) and g["norm"] > 0 for g in grads.values())
    assert next(e for e in evs if e["event"] == "trace" and e["name"] == "dL/dinput")["shape"] == [
        28,
        28,
        1,
    ]
    return {
        "probabilities": p,
        "sample": next(e for e in evs if e["event"] == "sample"),
        "result": evs[-1],
    }


def test_trace_cnn_json_untrained():
    got = check_cnn_trace(json_lines(run("trace", "cnn", "--index", "7", "--json", "--maps", "2")))
    assert got["sample"]["index"] == 7 and got["sample"]["trained"] is False
    assert got["result"]["event"] == "result" and np.isfinite(got["result"]["loss"])


def test_trace_cnn_human_output_says_the_weights_are_untrained():
    out = run("trace", "cnn", "--index", "7", "--maps", "1").stdout
    assert "untrained" in out and "nbengine train cnn --save cnn.npz" in out
    for text in [
        "(28, 28, 32)",
        "(14, 14, 64)",
        "(3136,)",
        "class probabilities",
        "dL/dconv1.w",
        "channel",
    ]:
        assert text in out, text
    assert "▀" not in out and "@" in out  # not a terminal: the character ramp


def test_trace_cnn_from_a_checkpoint(tmp_path):
    from nbengine.models.cnn import CNN

    ckpt = tmp_path / "cnn.npz"
    CNN(seed=0).save(ckpt)  # untrained, but a checkpoint all the same: no training in tests
    got = check_cnn_trace(
        json_lines(
            run("trace", "cnn", "--index", "7", "--checkpoint", str(ckpt), "--json", "--maps", "0")
        )
    )
    assert got["sample"]["trained"] is True and got["sample"]["checkpoint"] == str(ckpt)
    fresh = check_cnn_trace(
        json_lines(run("trace", "cnn", "--index", "7", "--json", "--maps", "0"))
    )
    # the same weights, the same numbers
    np.testing.assert_array_equal(got["probabilities"], fresh["probabilities"])


def test_trace_cnn_takes_the_checkpoints_data_and_split(tmp_path):
    from nbengine.models.cnn import CNN

    ckpt = tmp_path / "cnn.npz"
    CNN(seed=0, extra_config={"data": "mnist_5k", "split_seed": 3, "test_fraction": 0.5}).save(ckpt)
    r = run("trace", "cnn", "--checkpoint", str(ckpt), "--maps", "0", "--json")
    assert "mnist_5k: 2,500 train / 2,500 test, stratified split, seed 3" in r.stderr


def test_trace_cnn_as_written_puts_dropout_after_the_softmax():
    evs = json_lines(run("trace", "cnn", "--as-written", "--json", "--maps", "0"))
    layers = [e["layer"] for e in evs if e["event"] == "trace" and "layer" in e]
    assert layers[-2:] == ["dense2", "dropout"]
    result = evs[-1]
    norms = [e["norm"] for e in evs if e["event"] == "gradient"]
    if result["true_class_dropped"]:  # the lesson's mistake: a clipped loss and no gradient at all
        assert result["loss"] == pytest.approx(-np.log(1e-7), rel=1e-4) and not any(norms)
    else:
        assert result["loss"] < 10 and all(norms)


def test_trace_cnn_bad_index_is_a_usage_error():
    r = run("trace", "cnn", "--index", "4000", code=2)
    assert "out of range" in r.stderr and "Traceback" not in r.stderr + r.stdout
    run("trace", "cnn", "--index", "-1", code=2)


def test_trace_cnn_missing_checkpoint_is_one_line(tmp_path):
    r = run("trace", "cnn", "--checkpoint", str(tmp_path / "none.npz"), code=2)
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr


# -- the heat map ---------------------------------------------------------------------------


def render(renderable, **console_args) -> str:
    console = Console(file=io.StringIO(), width=100, **console_args)
    console.print(renderable)
    return console.file.getvalue()


def test_heatmap_without_colour_is_a_character_ramp(monkeypatch):
    a = np.arange(12, dtype=float).reshape(3, 4)
    assert "▀" not in render(heatmap(a), force_terminal=True, no_color=True)
    out = render(heatmap(a, title="ramp"))  # not a terminal
    assert "▀" not in out and "\x1b[" not in out
    monkeypatch.setenv("NO_COLOR", "1")
    out = render(heatmap(a, title="ramp"), force_terminal=True, color_system="truecolor")
    assert "▀" not in out and "38;2;" not in out  # NO_COLOR: no colours (bold and dim may stay)
    lines = re.sub(r"\x1b\[[0-9;]*m", "", out).splitlines()
    assert lines[0] == "ramp"
    # low to high along the ramp, two characters a cell
    assert lines[1:4] == ["    ..::", "--==++**", "##%%@@@@"]
    assert set("".join(lines[1:4])) <= set(RAMP)
    assert lines[4] == f"0 [{RAMP}] 11"  # the legend: min, the ramp, max


def test_heatmap_signed_ramp_tells_the_sign_apart():
    out = render(heatmap(np.array([[-2.0, 0.0, 2.0]]))).splitlines()
    assert out[0] == NEG_RAMP[-1] * 2 + "  " + POS_RAMP[-1] * 2
    assert out[1].startswith("-2 [") and out[1].endswith("] 2")


def test_heatmap_in_colour_uses_half_blocks():
    a = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])  # an odd number of rows
    out = render(heatmap(a, palette="grey"), force_terminal=True, color_system="truecolor")
    map_lines = [ln for ln in out.splitlines() if "▀" in ln and "█" not in ln]
    assert len(map_lines) == 2  # two rows per line
    # black above white: foreground upper, background lower
    assert "38;2;0;0;0;48;2;255;255;255m" in out
    assert "38;2;255;255;255;48;2;0;0;0m" in out

    signed = render(
        heatmap(np.array([[-1.0, 0.0, 1.0]]), signed=True),
        force_terminal=True,
        color_system="truecolor",
    )
    assert "38;2;33;102;172m" in signed  # blue below 0
    assert "38;2;247;247;247m" in signed  # white at 0
    assert "38;2;178;24;43m" in signed  # red above


def test_heatmap_edge_cases():
    assert heatmap(np.ones((2, 2))).signed is False
    assert heatmap(np.array([-1.0, 1.0])).signed is True  # decided from the data
    render(heatmap(np.zeros(5)), force_terminal=True, color_system="truecolor")  # constant and 1-D
    render(heatmap(np.array([[np.nan, 1.0]])))
    with pytest.raises(ValueError):
        heatmap(np.zeros((2, 2, 2)))
