"""nbengine.explain as a Python API: the lessons' worked examples come out of the engine's
layers with the lesson's numbers, and step lists carry what the renderer needs."""

from __future__ import annotations

import numpy as np

from nbengine import explain
from nbengine.explain import lessons
from nbengine.kernels.registry import using_kernels


def windows(steps):
    return [item for item in steps if isinstance(item, explain.Window)]


def test_conv_windows_are_the_lessons_on_either_kernel():
    for kind in ("naive", "fast"):
        with using_kernels(kind):
            steps = explain.conv_windows()
        valid = [w for w in windows(steps) if w.case == "valid"]
        assert [[w.value for w in valid[:2]], [w.value for w in valid[2:]]] == [
            list(r) for r in lessons.CONV_OUTPUT
        ]
        # each window's sum is the sum of its products, the window under the filter
        for w in windows(steps):
            assert w.value == w.products.sum() and w.window.shape == np.shape(lessons.CONV_FILTER)
    figures = [t for item in steps if isinstance(item, explain.Figure) for t in item.tensors()]
    assert [t.step.name for t in figures] == ["X", "F", "Y", "X padded", "Y", "Y"]
    assert np.array_equal(figures[0].value, lessons.CONV_INPUT)


def test_pool_routes_each_gradient_to_its_windows_max():
    steps = explain.pool()
    assert np.array_equal(steps.tensors()["Y"], lessons.POOL_OUTPUT)
    dx = steps.tensors()["dL/dX"]
    for w in windows(steps):
        r, c = w.pick
        assert lessons.POOL_INPUT[r][c] == w.value == w.window.max()
        assert dx[r, c] == lessons.POOL_UPSTREAM[w.position[0]][w.position[1]]
    assert np.count_nonzero(dx) == 4


def test_attention_example_is_the_softmax_of_the_lessons_scores():
    steps = explain.attention_example()
    scaled = np.array(lessons.ATTENTION_SCORES) / np.sqrt(lessons.ATTENTION_DK)
    e = np.exp(scaled - scaled.max())
    np.testing.assert_allclose(steps.tensors()["weights"][0], e / e.sum(), rtol=1e-12)
    result = next(
        item for item in steps if isinstance(item, explain.Fact) and item.event == "result"
    )
    assert result.fields["tokens"] == list(lessons.ATTENTION_TOKENS)
