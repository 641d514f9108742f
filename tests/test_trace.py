"""Tracer: what is recorded, when, and its JSON form."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbengine.layers.logistic import Logistic
from nbengine.optim import SGD
from nbengine.trace import Step, Tracer, record, step_to_dict, to_json_data, tracing

LESSON_STEPS = [
    "x",
    "w",
    "b",
    "z",
    "a",
    "y",
    "L",
    "dL/da",
    "da/dz",
    "dL/dz",
    "dz/dw",
    "dL/dw",
    "dL/db",
]


def test_record_without_a_tracer_does_nothing():
    assert not tracing()
    record("x", np.ones(3))  # no error, nowhere to go
    with Tracer() as tr:
        pass
    record("y", np.ones(3))
    assert tr.steps == []


def test_steps_are_collected_in_order_as_copies():
    arr = np.array([1.0, 2.0, 3.0])
    with Tracer() as tr:
        assert tracing()
        record("first", arr, "f = 1", "a note")
        arr[0] = 99.0
        record("second", arr)
        record("scalar", 2.5)
    assert not tracing()
    assert [s.name for s in tr.steps] == ["first", "second", "scalar"]
    first = tr.steps[0]
    assert isinstance(first, Step)
    assert first.formula == "f = 1" and first.note == "a note"
    assert first.value.tolist() == [1.0, 2.0, 3.0]
    assert tr.steps[1].value.tolist() == [99.0, 2.0, 3.0]
    assert tr.steps[2].value.shape == ()
    arr[1] = -1.0
    assert first.value.tolist() == [1.0, 2.0, 3.0]
    assert not np.shares_memory(first.value, arr)


def test_nested_tracers_restore_the_outer_one():
    with Tracer() as outer:
        record("a", 1)
        with Tracer() as inner:
            record("b", 2)
        record("c", 3)
    record("d", 4)
    assert [s.name for s in outer.steps] == ["a", "c"]
    assert [s.name for s in inner.steps] == ["b"]
    assert not tracing()


def test_tracer_is_deactivated_when_the_block_raises():
    with pytest.raises(RuntimeError):
        with Tracer() as tr:
            record("a", 1)
            raise RuntimeError("boom")
    assert not tracing()
    record("after", 2)
    assert [s.name for s in tr.steps] == ["a"]


def test_labels_are_checked_against_the_shape():
    with Tracer() as tr:
        record("m", np.zeros((2, 3)), labels=(["r1", "r2"], ["c1", "c2", "c3"]))
        record("half", np.zeros((2, 3)), labels=(None, ["c1", "c2", "c3"]))
        with pytest.raises(ValueError, match="3 labels for axis 0 of length 2"):
            record("bad", np.zeros((2, 3)), labels=(["c1", "c2", "c3"],))
        with pytest.raises(ValueError, match="axis 1"):
            record("bad", np.zeros((2, 3)), labels=(None, ["c1", "c2"]))
    assert [s.name for s in tr.steps] == ["m", "half"]
    assert tr.steps[0].axis_labels(1) == ["c1", "c2", "c3"]
    assert tr.steps[1].axis_labels(0) is None
    assert tr.steps[1].axis_labels(5) is None


def test_step_to_dict_and_json():
    with Tracer() as tr:
        record("p", np.float32(0.1), "p = 0.1", "a probability")
        record(
            "v",
            np.array([0.1, np.inf, -np.inf, np.nan, 1e-45, 3.4028235e38], np.float32),
            labels=(["a", "b", "c", "d", "e", "f"],),
        )
        record("d", np.array([[1 / 3, np.nan]]))
        record("i", np.array([1, 2, 3], np.int64))
    p, v, d, i = (step_to_dict(s) for s in tr.steps)
    assert p == {
        "name": "p",
        "formula": "p = 0.1",
        "note": "a probability",
        "shape": [],
        "labels": [],
        "data": 0.1,
    }
    assert v["data"][0] == 0.1
    assert v["data"][1:4] == ["inf", "-inf", "nan"]
    # the shortest decimal that reads back as the same float32, not its exact value
    assert v["data"][4] == 1e-45 and np.float32(v["data"][4]) == np.float32(1e-45)
    assert np.float32(v["data"][5]) == np.float32(3.4028235e38)
    assert v["labels"] == [["a", "b", "c", "d", "e", "f"]] and v["shape"] == [6]
    assert d["data"] == [[1 / 3, "nan"]] and d["shape"] == [1, 2]
    assert i["data"] == [1, 2, 3]
    for dct in (p, v, d, i):
        text = json.dumps(dct, allow_nan=False)
        assert json.loads(text) == dct
    assert '"data": 0.1' in json.dumps(p)


@settings(max_examples=50, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float32_json_values_read_back_as_the_same_float32(v):
    f = np.float32(v)
    (out,) = to_json_data(np.array([f], np.float32))
    assert isinstance(out, float)
    assert np.float32(out) == f
    # the shortest decimal that identifies the float32 (Dragon4 in unique mode)
    assert out == float(np.format_float_scientific(f, unique=True))


def _batch_of_one():
    layer = Logistic(
        3,
        np.random.default_rng(0),
        dtype=np.float32,
        feature_names=["f1", "f2", "f3"],
        init_scale=0.5,
    )
    layer.params["b"][0] = 0.2
    x = np.array([[0.5, -1.0, 2.0]], np.float32)
    y = np.array([1.0], np.float32)
    return layer, x, y


def test_layer_and_sgd_record_the_lessons_steps():
    layer, x, y = _batch_of_one()
    names = ["f1", "f2", "f3"]
    opt = SGD(layer.params, layer.grads, lr=0.1, labels={"w": (names,)})
    w0 = layer.params["w"].astype(np.float64)
    b0 = float(layer.params["b"][0])
    with Tracer() as tr:
        layer.forward(x)
        layer.loss(y)
        layer.backward()
        opt.step()
    got = [s.name for s in tr.steps]
    assert got == LESSON_STEPS + ["new w", "new b"]
    s = {st_.name: st_ for st_ in tr.steps}

    # a batch of one is recorded as that one sample
    for name in ("z", "a", "y", "L", "dL/da", "da/dz", "dL/dz", "b", "dL/db", "new b"):
        assert s[name].value.shape == (), name
    for name in ("x", "w", "dz/dw", "dL/dw", "new w"):
        assert s[name].value.shape == (3,), name
        assert s[name].labels == (names,), name
    for step in tr.steps:
        assert step.value.dtype == np.float32, step.name

    z = float(w0 @ x[0].astype(np.float64) + b0)
    a = 1 / (1 + math.exp(-z))
    assert float(s["z"].value) == pytest.approx(z, rel=1e-6)
    assert float(s["a"].value) == pytest.approx(a, rel=1e-6)
    assert float(s["L"].value) == pytest.approx(-math.log(a), rel=1e-5)
    assert float(s["dL/da"].value) == pytest.approx(-1 / a, rel=1e-5)
    assert float(s["da/dz"].value) == pytest.approx(a * (1 - a), rel=1e-5)
    assert float(s["dL/dz"].value) == pytest.approx(a - 1, rel=1e-5)
    np.testing.assert_allclose(s["dL/dw"].value, (a - 1) * x[0], rtol=1e-5)
    assert float(s["dL/db"].value) == pytest.approx(a - 1, rel=1e-5)
    np.testing.assert_array_equal(s["dz/dw"].value, x[0])
    # the recorded w is the one before the step, and new w is after it
    np.testing.assert_array_equal(s["w"].value, w0.astype(np.float32))
    np.testing.assert_allclose(s["new w"].value, w0 - 0.1 * (a - 1) * x[0], rtol=1e-5)
    np.testing.assert_array_equal(s["new w"].value, layer.params["w"])
    assert float(s["new b"].value) == pytest.approx(b0 - 0.1 * (a - 1), rel=1e-5)
    assert "η = 0.1" in s["new w"].formula
    assert s["z"].formula and s["dL/dz"].formula
    # the whole trace is JSON
    json.dumps([step_to_dict(st_) for st_ in tr.steps], allow_nan=False)


def test_layer_records_a_batch_with_its_mean_loss():
    layer = Logistic(2, np.random.default_rng(1), dtype=np.float32, feature_names=["u", "v"])
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
    y = np.array([0, 1, 1])
    with Tracer() as tr:
        layer.forward(x)
        mean = layer.loss(y)
        layer.backward()
    names = [s.name for s in tr.steps]
    assert names == LESSON_STEPS[:7] + ["mean L"] + LESSON_STEPS[7:]
    s = {st_.name: st_ for st_ in tr.steps}
    assert s["z"].value.shape == (3,)
    assert s["x"].value.shape == (3, 2) and s["x"].labels == (None, ["u", "v"])
    assert s["mean L"].value.shape == ()
    assert float(s["mean L"].value) == pytest.approx(mean, rel=1e-6)
    assert float(s["mean L"].value) == pytest.approx(
        float(s["L"].value.astype(np.float64).mean()), rel=1e-6
    )
    assert "averaged" in s["dL/dw"].note


def test_layer_records_nothing_without_a_tracer():
    layer, x, y = _batch_of_one()
    with Tracer() as tr:
        pass
    layer.forward(x)
    layer.loss(y)
    layer.backward()
    assert tr.steps == []
