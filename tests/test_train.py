"""The training loop: it learns, it is reproducible, it traces when asked, it stops on NaN."""

import math

import numpy as np
import pytest

from nbengine.data.split import Standardizer
from nbengine.data.tabular import load_binary_table
from nbengine.errors import DivergedError
from nbengine.models.logreg import LogisticRegression
from nbengine.optim import SGD
from nbengine.train import Diverged, Epoch, Result, Step, Stopped, accuracy, batches, fit, shuffled


@pytest.fixture(scope="module")
def table():
    return load_binary_table("breast_cancer")


def setup(table, lr=0.1, model_seed=0):
    model = LogisticRegression(
        table.data.n_features,
        seed=model_seed,
        feature_names=table.data.feature_names,
        scaler=Standardizer.fit(table.x_train),
    )
    opt = SGD(model.params, model.grads, lr, labels=model.param_labels)
    return (
        model,
        opt,
        model.prepare(table.x_train),
        table.y_train,
        model.prepare(table.x_test),
        table.y_test,
    )


def measure_on(xtr, ytr, xte, yte):
    """What the logistic regression command measures after each epoch."""
    return lambda model: {
        "train_accuracy": accuracy(model, xtr, ytr),
        "test_accuracy": accuracy(model, xte, yte),
    }


def run(table, *, lr=0.1, epochs=20, batch_size=32, seed=0, trace_every=0):
    model, opt, xtr, ytr, xte, yte = setup(table, lr)
    events = list(
        fit(
            model,
            opt,
            shuffled(xtr, ytr, batch_size, seed),
            epochs=epochs,
            steps_per_epoch=batches(len(xtr), batch_size),
            measure=measure_on(xtr, ytr, xte, yte),
            trace_every=trace_every,
        )
    )
    return model, events


def traced(events):
    return [e for e in events if isinstance(e, Step) and e.trace is not None]


def test_logreg_learns_breast_cancer(table):
    model, events = run(table)
    epochs = [e for e in events if isinstance(e, Epoch)]
    steps = [e for e in events if isinstance(e, Step)]
    n = len(table.train_idx)
    assert [e.epoch for e in epochs] == list(range(1, 21))
    assert len(steps) == 20 * batches(n, 32) == steps[-1].total_steps
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
    assert epochs[-1].metrics["test_accuracy"] >= 0.95
    assert epochs[-1].metrics["train_accuracy"] >= 0.95
    assert epochs[-1].loss < 0.5 * epochs[0].loss
    assert epochs[-1].loss < 0.15
    assert model.params["w"].dtype == np.float32
    assert epochs[-1].metrics["test_accuracy"] == accuracy(
        model, model.prepare(table.x_test), table.y_test
    )
    assert all(e.count == n for e in epochs) and sum(s.count for s in steps if s.epoch == 1) == n
    (result,) = [e for e in events if isinstance(e, Result)]
    # without finish: the last epoch's
    assert events[-1] is result and result.metrics == epochs[-1].metrics


def test_epoch_loss_is_the_sample_weighted_mean_of_its_steps(table):
    _, events = run(table, epochs=2, batch_size=100)
    n = len(table.train_idx)
    sizes = [min(100, n - s) for s in range(0, n, 100)]
    first = [e for e in events if isinstance(e, Step) and e.epoch == 1]
    (epoch1,) = [e for e in events if isinstance(e, Epoch) and e.epoch == 1]
    assert len(first) == len(sizes) and sizes[-1] < 100
    assert epoch1.loss == pytest.approx(
        sum(s.loss * k for s, k in zip(first, sizes)) / n, rel=1e-12
    )


def test_same_seed_is_bit_identical(table):
    m1, e1 = run(table, epochs=3)
    m2, e2 = run(table, epochs=3)
    for k in ("w", "b"):
        assert m1.params[k].tobytes() == m2.params[k].tobytes()
    losses1 = [e.loss for e in e1 if isinstance(e, (Step, Epoch))]
    losses2 = [e.loss for e in e2 if isinstance(e, (Step, Epoch))]
    assert losses1 == losses2


def test_different_seed_gives_different_batches(table):
    m1, e1 = run(table, epochs=3, seed=0)
    m2, e2 = run(table, epochs=3, seed=1)
    assert not np.array_equal(m1.params["w"], m2.params["w"])
    assert [e.loss for e in e1 if isinstance(e, Step)] != [
        e.loss for e in e2 if isinstance(e, Step)
    ]


def test_trace_every_traces_steps_1_then_every_kth(table):
    model, events = run(table, epochs=2, trace_every=5)
    total = 2 * batches(len(table.train_idx), 32)
    steps = traced(events)
    assert [t.step for t in steps] == list(range(1, total + 1, 5))
    assert steps[0].step == 1 and steps[1].step == 6 and steps[2].step == 11
    names = [s.name for s in steps[0].trace]
    assert names[:3] == ["x", "w", "b"]
    assert names[-2:] == ["new w", "new b"]
    assert "mean L" in names
    x = steps[0].trace[0]
    assert x.value.shape == (32, 30)
    assert x.labels == (None, table.data.feature_names)


def test_no_tracing_by_default(table):
    _, events = run(table, epochs=1)
    assert not traced(events)


def test_trace_every_one_traces_every_step(table):
    _, events = run(table, epochs=1, trace_every=1, batch_size=200)
    assert [e.step for e in traced(events)] == [1, 2, 3]


def test_huge_learning_rate_diverges(table):
    # The logistic loss is computed from z with softplus, so it stays finite for any
    # finite z: a large learning rate alone only makes the loss large. The loss becomes
    # NaN when the float32 weights themselves overflow, which lr = 1e38 does in one step.
    model, opt, xtr, ytr, xte, yte = setup(table, lr=1e38)
    seen = []
    with pytest.raises(DivergedError) as err:
        for e in fit(
            model, opt, shuffled(xtr, ytr, 32, 0), epochs=3, measure=measure_on(xtr, ytr, xte, yte)
        ):
            seen.append(e)
    assert err.value.exit_code == 1
    assert "at step 2 (epoch 1)" in str(err.value)
    assert "smaller learning rate" in str(err.value)
    assert [e.step for e in seen if isinstance(e, Step)] == [1]
    assert math.isfinite(seen[0].loss)
    assert isinstance(seen[-1], Diverged) and (seen[-1].step, seen[-1].epoch) == (2, 1)
    assert seen[-1].reason == str(err.value)


def test_large_learning_rate_does_not_make_the_stable_loss_non_finite(table):
    _, events = run(table, lr=1e6, epochs=2)
    losses = [e.loss for e in events if isinstance(e, Step)]
    assert all(math.isfinite(v) for v in losses)
    assert max(losses) > 100


class NaNModel:
    """A model whose loss turns NaN at a chosen step."""

    correct = None

    def __init__(self, bad_step, value=float("nan")):
        self.calls = 0
        self.bad_step = bad_step
        self.value = value
        self.grads = {"w": np.ones(2, np.float32)}
        self.count = 0
        self.resets = 0

    def loss_and_backward(self, x, y):
        self.calls += 1
        self.count = len(y)
        return self.value if self.calls == self.bad_step else 0.5

    def reset_state(self):
        self.resets += 1


class CountingOptimizer:
    def __init__(self):
        self.steps = 0

    def step(self):
        self.steps += 1


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_loss_stops_before_the_optimizer_step(value):
    model, opt = NaNModel(bad_step=4, value=value), CountingOptimizer()
    x, y = np.zeros((10, 2), np.float32), np.zeros(10, np.int64)
    seen = []
    with pytest.raises(DivergedError, match=r"at step 4 \(epoch 2\)"):
        for e in fit(model, opt, shuffled(x, y, 4, 0), epochs=5):  # 3 batches an epoch
            seen.append(e)
    assert opt.steps == 3
    assert [e.step for e in seen if isinstance(e, Step)] == [1, 2, 3]
    assert [e.epoch for e in seen if isinstance(e, Epoch)] == [1]
    # nothing measured, and a model that does not count right answers has no training accuracy
    (epoch,) = [e for e in seen if isinstance(e, Epoch)]
    assert epoch.metrics == {} and epoch.count == 10 and epoch.loss == 0.5
    assert isinstance(seen[-1], Diverged) and seen[-1].step == 4
    assert model.resets == 2  # each epoch starts from a fresh state


def test_non_finite_loss_inside_a_traced_step_leaves_no_tracer_active():
    from nbengine.trace import tracing

    model, opt = NaNModel(bad_step=1), CountingOptimizer()
    x, y = np.zeros((4, 2), np.float32), np.zeros(4, np.int64)
    with pytest.raises(DivergedError):
        list(fit(model, opt, shuffled(x, y, 2, 0), epochs=1, trace_every=1))
    assert not tracing()
    assert opt.steps == 0


@pytest.mark.parametrize("epochs,batch_size", [(0, 32), (1, 0), (-1, 8)])
def test_bad_epochs_or_batch_size(epochs, batch_size):
    with pytest.raises(ValueError, match="at least 1"):
        list(
            fit(
                NaNModel(0),
                CountingOptimizer(),
                shuffled(np.zeros((4, 2)), np.zeros(4), batch_size, 0),
                epochs=epochs,
            )
        )


def test_sgd_refuses_a_non_positive_learning_rate():
    p = {"w": np.zeros(2, np.float32)}
    for lr in (0.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="learning rate"):
            SGD(p, p, lr)


def test_sgd_keeps_float32():
    p = {"w": np.ones(3, np.float32)}
    g = {"w": np.full(3, 0.5, np.float32)}
    SGD(p, g, 0.1).step()
    assert p["w"].dtype == np.float32
    np.testing.assert_array_equal(p["w"], np.float32(1) - np.float32(0.1) * np.float32(0.5))


# == the one loop with every kind of model ==============================================================


def tiny_runs():
    """(name, model, optimizer, batches, steps per epoch, fit's options) for each kind of model, tiny."""
    from nbengine.lm_train import text_batches
    from nbengine.models.cnn import CNN
    from nbengine.models.pronoun import PronounModel
    from nbengine.models.rnnlm import LSTMLM, RNNLM
    from nbengine.models.transformer import TransformerLM
    from nbengine.optim import Adam

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (6, 4, 4, 1)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    cnn = CNN(0, input_shape=(4, 4, 1), n_classes=3)
    yield "cnn", cnn, Adam(cnn.params, cnn.grads, 0.01), shuffled(x, y, 4, 0), 2, {}
    ids = rng.integers(0, 5, 41)
    for name, model in (
        ("rnnlm", RNNLM(5, 3, 4)),
        ("lstmlm", LSTMLM(5, 3, 4)),
        ("transformer", TransformerLM(5, size=4, heads=2, blocks=1, hidden=4, context=4)),
    ):
        batches_, per_epoch = text_batches(ids, 2, 4)
        yield (
            name,
            model,
            Adam(model.params, model.grads, 0.01),
            batches_,
            per_epoch,
            {"clip": 1.0, "perplexities": True},
        )
    pronoun = PronounModel(["a", "b", "c", "it"], size=4, context=3)
    ids3 = np.array([[0, 3, 1], [2, 3, 0], [1, 3, 2]])
    where, answers = np.array([1, 1, 1]), np.array([0, 2, 1])
    yield (
        "pronoun",
        pronoun,
        Adam(pronoun.params, pronoun.grads, 0.01),
        lambda epoch: iter([(ids3, where, answers)] * 2),
        2,
        {"clip": 5.0},
    )


@pytest.mark.parametrize(
    "case", list(range(5)), ids=["cnn", "rnnlm", "lstmlm", "transformer", "pronoun"]
)
def test_the_loop_trains_every_kind_of_model(case):
    def one_run():
        name, model, opt, batches_, per_epoch, options = list(tiny_runs())[case]
        before = {k: v.copy() for k, v in model.params.items()}
        events = list(fit(model, opt, batches_, epochs=2, steps_per_epoch=per_epoch, **options))
        return name, model, before, events, per_epoch, options

    name, model, before, events, per_epoch, options = one_run()
    steps = [e for e in events if isinstance(e, Step)]
    epochs = [e for e in events if isinstance(e, Epoch)]
    assert [s.step for s in steps] == list(range(1, 2 * per_epoch + 1)) and steps[
        -1
    ].total_steps == 2 * per_epoch
    assert [e.epoch for e in epochs] == [1, 2] and isinstance(events[-1], Result)
    for e in epochs:
        mine = [s for s in steps if s.epoch == e.epoch]
        assert e.count == sum(s.count for s in mine)
        assert e.loss == pytest.approx(sum(s.loss * s.count for s in mine) / e.count, rel=1e-12)
    # a classifier counts its right answers; a language model reports perplexities instead
    if options.get("perplexities"):
        assert "train_accuracy" not in epochs[0].metrics
        assert epochs[0].metrics["perplexity"] == pytest.approx(math.exp(epochs[0].loss))
        assert steps[0].perplexity == pytest.approx(math.exp(steps[0].loss))
    else:
        assert 0 <= epochs[0].metrics["train_accuracy"] <= 1
    assert (steps[0].grad_norm is None) == ("clip" not in options)
    # it learnt something
    assert any(not np.array_equal(model.params[k], before[k]) for k in before)
    _, again, _, events_again, _, _ = one_run()  # and the same run again gives the same bits
    assert [e.loss for e in events if isinstance(e, Step)] == [
        e.loss for e in events_again if isinstance(e, Step)
    ]
    assert all(model.params[k].tobytes() == again.params[k].tobytes() for k in model.params)


class ConstantModel:
    """A model whose loss and gradients are what the test says."""

    correct = None

    def __init__(self, loss, grad=1.0):
        self.value, self.count = loss, 0
        self.grads = {"w": np.full(2, grad, np.float32)}

    def loss_and_backward(self, x, y):
        self.count = len(y)
        return self.value

    def reset_state(self):
        pass


def data(n=4):
    return np.zeros((n, 2), np.float32), np.zeros(n, np.int64)


def test_a_loss_whose_perplexity_is_infinite_diverges_only_for_a_model_that_reports_perplexities():
    x, y = data()
    events = list(fit(ConstantModel(800.0), CountingOptimizer(), shuffled(x, y, 2, 0), epochs=1))
    assert isinstance(events[-1], Result)  # a loss of 800 is a number
    opt = CountingOptimizer()
    with pytest.raises(DivergedError, match="perplexity e\\^loss is larger than any number") as err:
        list(fit(ConstantModel(800.0), opt, shuffled(x, y, 2, 0), epochs=1, perplexities=True))
    assert "at step 1 (epoch 1)" in str(err.value) and opt.steps == 0


def test_a_non_finite_gradient_norm_diverges_before_the_update_when_clipping():
    x, y = data()
    opt = CountingOptimizer()
    seen = []
    with pytest.raises(DivergedError, match="the gradients' norm became inf at step 1"):
        for e in fit(
            ConstantModel(0.5, grad=np.inf), opt, shuffled(x, y, 2, 0), epochs=1, clip=1.0
        ):
            seen.append(e)
    assert opt.steps == 0 and [type(e) for e in seen] == [Diverged]
    # without clipping the norm is not computed (the loss is finite, so the step is taken)
    assert isinstance(
        list(fit(ConstantModel(0.5, grad=np.inf), opt, shuffled(x, y, 2, 0), epochs=1))[-1], Result
    )


def test_a_non_finite_measured_metric_diverges_after_its_epoch():
    x, y = data()
    seen = []
    with pytest.raises(
        DivergedError, match="the test loss became nan after epoch 1: the run diverged"
    ):
        for e in fit(
            ConstantModel(0.5),
            CountingOptimizer(),
            shuffled(x, y, 2, 0),
            epochs=2,
            measure=lambda m: {"test_accuracy": 0.5, "test_loss": float("nan")},
        ):
            seen.append(e)
    # no epoch of a model whose numbers are not finite
    assert not any(isinstance(e, Epoch) for e in seen)
    assert (seen[-1].step, seen[-1].epoch) == (2, 1)


def test_should_stop_ends_the_run_after_the_step_with_a_stopped_event():
    x, y = data(8)
    asked = []
    events = list(
        fit(
            ConstantModel(0.5),
            CountingOptimizer(),
            shuffled(x, y, 2, 0),
            epochs=3,
            should_stop=lambda: len(asked.append(1) or asked) >= 6,
        )
    )
    assert isinstance(events[-1], Stopped) and (events[-1].step, events[-1].epoch) == (6, 2)
    assert [e.epoch for e in events if isinstance(e, Epoch)] == [1]
    assert not any(isinstance(e, Result) for e in events)


def test_finish_gives_the_result():
    x, y = data()
    events = list(
        fit(
            ConstantModel(0.5),
            CountingOptimizer(),
            shuffled(x, y, 2, 0),
            epochs=1,
            finish=lambda m: {"test_loss": 0.25},
        )
    )
    assert events[-1] == Result(1, {"test_loss": 0.25})


# == warm-up ===========================================================================================


def test_warm_up_runs_a_step_on_a_twin_and_leaves_the_model_alone():
    from nbengine.models.cnn import CNN
    from nbengine.optim import Adam
    from nbengine.warmup import STAGES, warm_up

    model = CNN(0, input_shape=(4, 4, 1), n_classes=3)
    opt = Adam(model.params, model.grads, 0.01)
    before = {k: v.copy() for k, v in model.params.items()}
    x, y = np.ones((2, 4, 4, 1), np.float32), np.array([0, 2])
    stages = list(warm_up(model, opt, (x, y)))
    assert [s.done for s in stages] == list(range(1, STAGES + 1)) and {s.total for s in stages} == {
        STAGES
    }
    assert all(model.params[k].tobytes() == before[k].tobytes() for k in before)
    assert opt.t == 0  # the real optimizer took no step
    # the second time nothing compiles
    assert not any(s.compiled for s in warm_up(model, opt, (x, y)))


def test_compiled_so_far_counts_kernels_compiled_rather_than_loaded(monkeypatch):
    import sys
    import types

    from numba import njit

    from nbengine.warmup import compiled_so_far

    module = types.ModuleType("nbengine.kernels._warm_up_test")
    module.double = njit(lambda a: 2 * a)  # no cache: compiled on its first call
    monkeypatch.setitem(sys.modules, module.__name__, module)
    before = compiled_so_far()
    module.double(1.0)
    assert compiled_so_far() == before + 1
    module.double(2.0)
    assert compiled_so_far() == before + 1  # compiled once per kind of argument
