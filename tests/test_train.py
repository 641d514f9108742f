"""The training loop: it learns, it is reproducible, it traces when asked, it stops on NaN."""

import math

import numpy as np
import pytest

from nbengine.data.split import Standardizer
from nbengine.data.tabular import load_binary_table
from nbengine.errors import DivergedError
from nbengine.models.logreg import LogisticRegression
from nbengine.optim import SGD
from nbengine.train import Epoch, Step, Traced, accuracy, batches, fit


@pytest.fixture(scope="module")
def table():
    return load_binary_table("breast_cancer")


def setup(table, lr=0.1, model_seed=0):
    model = LogisticRegression(table.data.n_features, seed=model_seed, feature_names=table.data.feature_names,
                               scaler=Standardizer.fit(table.x_train))
    opt = SGD(model.params, model.grads, lr, labels=model.param_labels)
    return model, opt, model.prepare(table.x_train), table.y_train, model.prepare(table.x_test), table.y_test


def run(table, *, lr=0.1, epochs=20, batch_size=32, seed=0, trace_every=0):
    model, opt, xtr, ytr, xte, yte = setup(table, lr)
    events = list(fit(model, opt, xtr, ytr, xte, yte, epochs=epochs, batch_size=batch_size, seed=seed,
                      trace_every=trace_every))
    return model, events


def test_logreg_learns_breast_cancer(table):
    model, events = run(table)
    epochs = [e for e in events if isinstance(e, Epoch)]
    steps = [e for e in events if isinstance(e, Step)]
    n = len(table.train_idx)
    assert [e.epoch for e in epochs] == list(range(1, 21))
    assert len(steps) == 20 * batches(n, 32) == steps[-1].total_steps
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
    assert epochs[-1].test_accuracy >= 0.95
    assert epochs[-1].train_accuracy >= 0.95
    assert epochs[-1].loss < 0.5 * epochs[0].loss
    assert epochs[-1].loss < 0.15
    assert model.params["w"].dtype == np.float32
    assert epochs[-1].test_accuracy == accuracy(model, model.prepare(table.x_test), table.y_test)


def test_epoch_loss_is_the_sample_weighted_mean_of_its_steps(table):
    _, events = run(table, epochs=2, batch_size=100)
    n = len(table.train_idx)
    sizes = [min(100, n - s) for s in range(0, n, 100)]
    first = [e for e in events if isinstance(e, Step) and e.epoch == 1]
    (epoch1,) = [e for e in events if isinstance(e, Epoch) and e.epoch == 1]
    assert len(first) == len(sizes) and sizes[-1] < 100
    assert epoch1.loss == pytest.approx(sum(s.loss * k for s, k in zip(first, sizes)) / n, rel=1e-12)


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
    assert [e.loss for e in e1 if isinstance(e, Step)] != [e.loss for e in e2 if isinstance(e, Step)]


def test_trace_every_traces_steps_1_then_every_kth(table):
    model, events = run(table, epochs=2, trace_every=5)
    total = 2 * batches(len(table.train_idx), 32)
    traced = [e for e in events if isinstance(e, Traced)]
    assert [t.step for t in traced] == list(range(1, total + 1, 5))
    assert traced[0].step == 1 and traced[1].step == 6 and traced[2].step == 11
    # each Traced event comes just before the Step event of the same step
    for i, e in enumerate(events):
        if isinstance(e, Traced):
            assert isinstance(events[i + 1], Step) and events[i + 1].step == e.step
            assert events[i + 1].epoch == e.epoch
    names = [s.name for s in traced[0].steps]
    assert names[:3] == ["x", "w", "b"]
    assert names[-2:] == ["new w", "new b"]
    assert "mean L" in names
    x = traced[0].steps[0]
    assert x.value.shape == (32, 30)
    assert x.labels == (None, table.data.feature_names)


def test_no_tracing_by_default(table):
    _, events = run(table, epochs=1)
    assert not any(isinstance(e, Traced) for e in events)


def test_trace_every_one_traces_every_step(table):
    _, events = run(table, epochs=1, trace_every=1, batch_size=200)
    traced = [e.step for e in events if isinstance(e, Traced)]
    assert traced == [1, 2, 3]


def test_huge_learning_rate_diverges(table):
    # The logistic loss is computed from z with softplus, so it stays finite for any
    # finite z: a large learning rate alone only makes the loss large. The loss becomes
    # NaN when the float32 weights themselves overflow, which lr = 1e38 does in one step.
    model, opt, xtr, ytr, xte, yte = setup(table, lr=1e38)
    seen = []
    with pytest.raises(DivergedError) as err:
        for e in fit(model, opt, xtr, ytr, xte, yte, epochs=3, batch_size=32, seed=0):
            seen.append(e)
    assert err.value.exit_code == 1
    assert "at step 2 (epoch 1)" in str(err.value)
    assert "smaller learning rate" in str(err.value)
    assert [e.step for e in seen if isinstance(e, Step)] == [1]
    assert math.isfinite(seen[0].loss)


def test_large_learning_rate_does_not_make_the_stable_loss_non_finite(table):
    _, events = run(table, lr=1e6, epochs=2)
    losses = [e.loss for e in events if isinstance(e, Step)]
    assert all(math.isfinite(v) for v in losses)
    assert max(losses) > 100


class NaNModel:
    """A model whose loss turns NaN at a chosen step."""

    def __init__(self, bad_step, value=float("nan")):
        self.calls = 0
        self.bad_step = bad_step
        self.value = value

    def loss_and_backward(self, x, y):
        self.calls += 1
        return self.value if self.calls == self.bad_step else 0.5

    def predict(self, x):
        return np.zeros(len(x), np.int64)


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
        for e in fit(model, opt, x, y, epochs=5, batch_size=4, seed=0):  # 3 batches an epoch
            seen.append(e)
    assert opt.steps == 3
    assert [e.step for e in seen if isinstance(e, Step)] == [1, 2, 3]
    assert [e.epoch for e in seen if isinstance(e, Epoch)] == [1]
    # without test data an epoch reports no test accuracy
    assert seen[-1].test_accuracy is None


def test_non_finite_loss_inside_a_traced_step_leaves_no_tracer_active():
    from nbengine.trace import tracing

    model, opt = NaNModel(bad_step=1), CountingOptimizer()
    x, y = np.zeros((4, 2), np.float32), np.zeros(4, np.int64)
    with pytest.raises(DivergedError):
        list(fit(model, opt, x, y, epochs=1, batch_size=2, seed=0, trace_every=1))
    assert not tracing()
    assert opt.steps == 0


@pytest.mark.parametrize("epochs,batch_size", [(0, 32), (1, 0), (-1, 8)])
def test_bad_epochs_or_batch_size(epochs, batch_size):
    with pytest.raises(ValueError, match="at least 1"):
        list(fit(NaNModel(0), CountingOptimizer(), np.zeros((4, 2)), np.zeros(4), epochs=epochs,
                 batch_size=batch_size, seed=0))


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
