"""The switch between the naive and the fast kernels: one place chooses
(nbengine.kernels.registry), every layer asks it, and the command line, the
environment and Python all reach it. Then the promise that makes the switch
worth having: a whole model computes the same numbers on either kind, to
rounding, and the naive kernels repeat bit for bit on any thread count."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from helpers import json_lines, run

from nbengine.kernels import registry
from nbengine.kernels.registry import (
    KernelChoiceError,
    compiled,
    kernel,
    name_of,
    use_kernels,
    using_kernels,
)

# Every fast kernel that has a naive twin: (module, name).
TWINS = [
    ("conv2d", "conv2d_forward"),
    ("conv2d", "conv2d_backward"),
    ("dense", "dense_forward"),
    ("dense", "dense_backward"),
    ("logistic", "logistic_forward"),
    ("softmax", "softmax_forward"),
    ("softmax", "softmax_backward"),
    ("softmax_cross_entropy", "softmax_cross_entropy_forward"),
    ("rnn", "rnn_forward"),
    ("rnn", "rnn_backward"),
    ("lstm", "lstm_forward"),
    ("lstm", "lstm_backward"),
    ("attention", "attention_forward"),
    ("attention", "attention_backward"),
    ("layernorm", "layernorm_forward"),
    ("layernorm", "layernorm_backward"),
    ("gelu", "gelu_forward"),
    ("gelu", "gelu_backward"),
]


def fast_kernel(module: str, name: str):
    return getattr(importlib.import_module(f"nbengine.kernels.{module}"), name)


@pytest.fixture(autouse=True)
def restore_choice(monkeypatch):
    monkeypatch.delenv(registry.ENV, raising=False)
    yield
    use_kernels(None)


def test_fast_is_the_default():
    assert registry.current() == "fast"
    f = fast_kernel("conv2d", "conv2d_forward")
    assert kernel(f) is f and compiled(f) is f
    assert name_of(f) == "conv2d_forward"


@pytest.mark.parametrize("module, name", TWINS, ids=[n for _, n in TWINS])
def test_every_twin_is_found_by_name_when_naive_is_chosen(module, name):
    f = fast_kernel(module, name)
    with using_kernels("naive"):
        assert compiled(f) is getattr(
            importlib.import_module(f"nbengine.kernels.{module}"), f"{name}_naive"
        )
        assert name_of(f) == f"{name}_naive"
        assert callable(kernel(f))
    assert kernel(f) is f  # the block's choice is undone


def test_a_kernel_without_a_twin_runs_itself_either_way():
    from nbengine.kernels.maxpool import maxpool_forward

    with using_kernels("naive"):
        assert kernel(maxpool_forward) is maxpool_forward


def test_the_environment_chooses_unless_python_does(monkeypatch):
    f = fast_kernel("dense", "dense_forward")
    monkeypatch.setenv(registry.ENV, "naive")
    assert registry.current() == "naive" and name_of(f) == "dense_forward_naive"
    use_kernels("fast")
    assert registry.current() == "fast" and kernel(f) is f
    use_kernels(None)
    assert registry.current() == "naive"


def test_an_unknown_kind_is_one_clear_error(monkeypatch):
    with pytest.raises(
        KernelChoiceError, match="'quick' is not a kind of kernels; use fast or naive"
    ):
        use_kernels("quick")
    monkeypatch.setenv(registry.ENV, "slow")
    with pytest.raises(KernelChoiceError, match="NBENGINE_KERNELS: 'slow'"):
        registry.current()


def test_parts_get_the_whole_gradient_in_part_0():
    """The naive backward sums the whole batch into part 0 and zeroes the others,
    so the caller's sum over the parts is the naive gradient."""
    from nbengine.kernels.conv2d import conv2d_backward, conv2d_backward_naive, sum_parts

    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 6, 6, 3))
    w = rng.standard_normal((3, 3, 3, 4))
    dout = rng.standard_normal((5, 6, 6, 4))
    dx = np.empty_like(x)
    dw_parts = np.full((4,) + w.shape, np.nan)  # stale numbers in every part
    db_parts = np.full((4, 4), np.nan)
    with using_kernels("naive"):
        kernel(conv2d_backward)(dx, dw_parts, db_parts, dout, x, w, 1, 1, 1, 1, True)
    dw = np.empty(w.size)
    sum_parts(dw, dw_parts.reshape(4, -1))
    dx_naive, dw_naive, db_naive = np.empty_like(x), np.empty_like(w), np.empty(4)
    conv2d_backward_naive(dx_naive, dw_naive, db_naive, dout, x, w, 1, 1, 1, 1, True)
    assert np.array_equal(dw.reshape(w.shape), dw_naive)
    assert np.array_equal(dx, dx_naive)
    assert np.all(dw_parts[1:] == 0) and np.all(db_parts[1:] == 0)


# -- whole models, naive against fast -----------------------------------------------------------


def cnn_step(kind: str, dtype, as_written: bool):
    from nbengine.models.cnn import CNN

    rng = np.random.default_rng(1)
    x = rng.random((3, 28, 28, 1)).astype(dtype)
    y = rng.integers(0, 10, 3)
    with using_kernels(kind):
        model = CNN(seed=0, dtype=dtype, as_written=as_written)
        loss = model.loss_and_backward(x, y)
    return loss, {k: g.copy() for k, g in model.grads.items()}


@pytest.mark.parametrize("as_written", [False, True], ids=["softmax-in-the-loss", "as-written"])
@pytest.mark.parametrize(
    "dtype, rtol", [(np.float64, 1e-10), (np.float32, 2e-3)], ids=["float64", "float32"]
)
def test_the_cnn_computes_the_same_loss_and_gradients_on_either_kind(dtype, rtol, as_written):
    loss_fast, grads_fast = cnn_step("fast", dtype, as_written)
    loss_naive, grads_naive = cnn_step("naive", dtype, as_written)
    assert loss_naive == pytest.approx(loss_fast, rel=rtol)
    for name, g in grads_fast.items():
        scale = np.abs(g).max() + 1e-30
        assert np.abs(grads_naive[name] - g).max() <= rtol * scale, name


def lm_step(kind: str, model_name: str):
    from nbengine.models.rnnlm import LSTMLM, RNNLM
    from nbengine.models.transformer import TransformerLM

    rng = np.random.default_rng(2)
    xs = rng.integers(0, 11, (3, 5))
    ts = rng.integers(0, 11, (3, 5))
    with using_kernels(kind):
        if model_name == "transformer":
            model = TransformerLM(
                11, size=8, heads=2, blocks=1, hidden=16, context=5, seed=0, dtype=np.float64
            )
        else:
            model = {"rnnlm": RNNLM, "lstmlm": LSTMLM}[model_name](11, 6, 7, 0, np.float64)
        loss = model.loss_and_backward(xs, ts)
    return loss, {k: g.copy() for k, g in model.grads.items()}


@pytest.mark.parametrize("model_name", ["rnnlm", "lstmlm", "transformer"])
def test_the_language_models_compute_the_same_on_either_kind(model_name):
    loss_fast, grads_fast = lm_step("fast", model_name)
    loss_naive, grads_naive = lm_step("naive", model_name)
    assert loss_naive == pytest.approx(loss_fast, rel=1e-12)
    # A gradient that is 0 in exact arithmetic (the key bias's: softmax ignores a
    # constant added to every score) is rounding noise on either kind: it is held to
    # the scale of the model's gradients, not its own.
    largest = max(np.abs(g).max() for g in grads_fast.values())
    for name, g in grads_fast.items():
        assert np.abs(grads_naive[name] - g).max() <= 1e-10 * np.abs(g).max() + 1e-14 * largest, (
            name
        )


# -- the command line -----------------------------------------------------------------------------


def test_train_says_which_kernels_ran():
    start = json_lines(run("train", "logreg", "--epochs", "1", "--kernels", "naive", "--json"))[0]
    assert start["event"] == "start" and start["kernels"] == "naive"
    assert "fast kernels" in run("train", "logreg", "--epochs", "1").stderr


def test_the_environment_reaches_the_command_line(monkeypatch):
    monkeypatch.setenv(registry.ENV, "naive")
    assert json_lines(run("train", "logreg", "--epochs", "1", "--json"))[0]["kernels"] == "naive"
    assert (
        json_lines(run("train", "logreg", "--epochs", "1", "--json", "--kernels", "fast"))[0][
            "kernels"
        ]
        == "fast"
    )


def test_a_bad_environment_value_is_one_line_and_exit_2(monkeypatch):
    monkeypatch.setenv(registry.ENV, "turbo")
    result = run("train", "logreg", "--epochs", "1", code=2)
    assert "NBENGINE_KERNELS: 'turbo' is not a kind of kernels; use fast or naive" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["train", "cnn"],
        ["eval", "lstmlm"],
        ["trace", "conv"],
        ["gradcheck", "logreg"],
        ["bench", "attention"],
        ["predict", "cnn"],
        ["generate", "transformer"],
    ],
)
def test_every_command_that_runs_loops_has_the_switch(command):
    assert "--kernels [naive|fast]" in run(*command, "--help").output
