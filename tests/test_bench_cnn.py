"""The CNN benchmark's harness, run very small: it must time each implementation and
report consistent ratios, FLOPs and start-up times, quickly."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import ROOT

from benchmarks import cnn, threads
from nbengine_cli.main import main

pytestmark = pytest.mark.usefixtures("small_sgemm")  # the sgemm rate every bench command measures

# libgomp_default=False: the test process keeps nbengine's OpenMP wait policy for the tests after these
TINY = dict(batch_sizes=(2,), rounds=1, min_round=0.0, libgomp_default=False)


def check(results, names):
    assert [r.case.name for r in results] == ["training step, batch of 2", "inference, batch of 2"]
    for r in results:
        assert list(r.timings) == names  # the idle rounds are not reported
        for name in names:
            assert r.timings[name].median > 0
            assert r.images_per_s(name) == pytest.approx(2 / r.timings[name].median)
            assert r.gflops(name) == pytest.approx(r.case.flops / r.timings[name].median / 1e9)
            assert r.ratio(name, cnn.NUMPY) == pytest.approx(
                r.timings[cnn.NUMPY].median / r.timings[name].median
            )
        assert r.ratio(cnn.NUMPY, cnn.NUMPY) == 1.0


def test_flop_count_is_the_lessons():
    assert cnn.multiply_adds() == {
        "conv1": 28 * 28 * 32 * 9,
        "conv2": 14 * 14 * 64 * 288,
        "dense1": 3136 * 1024,
        "dense2": 1024 * 10,
    }
    assert cnn.flops_per_image("infer") == 14_119_936
    assert cnn.flops_per_image("train") == 41_908_224  # about 41.9 MFLOP: conv1 has no dL/dx
    assert cnn.Case("train", 32).flops == 32 * 41_908_224


def test_digits_are_real_images_in_nhwc():
    x, y, source = cnn.digits(20, seed=1)
    assert source == "mnist_5k"
    assert x.shape == (20, 28, 28, 1) and x.dtype == np.float32 and x.flags.c_contiguous
    assert 0 <= x.min() and x.max() <= 1 and x.max() > 0.9
    assert y.dtype == np.int64 and set(y) <= set(range(10)) and len(set(y)) > 3  # not all one class


def test_harness_times_the_numpy_reference():
    results = list(cnn.run(**TINY, use_torch=False, use_nbengine=False))
    check(results, [cnn.NUMPY])


def test_harness_times_pytorch():
    pytest.importorskip("torch")
    results = list(cnn.run(**TINY, use_torch=True, use_nbengine=False))
    check(results, [cnn.NUMPY, cnn.TORCH])
    assert results[0].ratio(cnn.TORCH, cnn.TORCH) == 1.0
    assert (
        threads.thread_setup(torch_used=True)["torch_threads"]
        == threads.thread_setup()["numba_threads"]
    )


def test_harness_times_nbengine():
    pytest.importorskip("nbengine.models.cnn")
    results = list(cnn.run(**TINY, use_torch=False, use_nbengine=True))
    check(results, [cnn.NBENGINE, cnn.NUMPY])


def test_thread_setup_and_blas_threads():
    setup = threads.thread_setup()
    assert setup["numba_threads"] >= 1 and "OMP_WAIT_POLICY" in setup["env"]
    before = setup["blas_threads"]
    with threads.blas_threads(1):
        if before is not None:  # OpenBLAS found among the loaded libraries
            assert threads.thread_setup()["blas_threads"] == 1
    assert threads.thread_setup()["blas_threads"] == before


def test_settle_and_spin_measurements():
    assert threads.settle(max_wait=0.2) < 0.5
    tail = threads.spin_tail(lambda: None, slices=3, slice_s=0.002)
    assert len(tail) == 3 and all(v >= 0 for v in tail)
    penalty = threads.cross_penalty({"a": lambda: None, "b": lambda: None}, repeats=1)
    assert set(penalty) == {("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")}


def fake_trainer(lines: list[str], then_sleep: float = 30) -> list[str]:
    script = (
        "import sys, time\n"
        + "".join(f"print({line!r}, flush=True)\n" for line in lines)
        + f"time.sleep({then_sleep})\n"
    )
    return [sys.executable, "-c", script]


def test_startup_stops_at_the_first_step_line_and_kills_the_process():
    cmd = fake_trainer(['{"event": "start"}', "not json", '{"event": "step", "step": 1}'])
    seconds = cnn._first_step(cmd, {}, timeout=20)
    assert 0 < seconds < 10  # the fake trainer would sleep 30 s after the line


def test_startup_reports_a_process_that_never_steps():
    with pytest.raises(cnn.StartupError, match="before its first step"):
        cnn._first_step(fake_trainer(['{"event": "start"}'], then_sleep=0), {}, timeout=20)
    with pytest.raises(cnn.StartupError, match="no step within"):
        cnn._first_step(fake_trainer([], then_sleep=30), {}, timeout=0.5)


def bench(*args: str):
    # through the top-level group, as the command line runs it (click keeps per-command
    # state such as the help option, so invoking the subcommand alone would differ)
    return CliRunner().invoke(main, ["bench", "cnn", *args])


def test_command_writes_json_lines():
    r = bench(
        "--batch-sizes",
        "2",
        "--rounds",
        "1",
        "--min-round",
        "0",
        "--no-torch",
        "--keep-wait-policy",
        "--json",
    )
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.stdout.splitlines()]  # every stdout line is JSON
    rows = [e for e in events if e["event"] == "bench"]
    assert {e["mode"] for e in rows} == {"train", "infer"}
    assert all(e["batch"] == 2 and e["images_per_s"] > 0 for e in rows)
    assert not any(e["implementation"] == cnn.TORCH for e in rows)
    (setup,) = [e for e in events if e["event"] == "setup"]
    assert setup["numba_threads"] >= 1


def test_command_rejects_bad_batch_sizes():
    r = bench("--batch-sizes", "32,x")
    assert r.exit_code == 2 and "comma-separated" in r.output
    r = bench("--batch-sizes", "0")
    assert r.exit_code == 2
    r = bench("--batch-sizes", "32,100000")  # would fill the memory before the first round
    assert r.exit_code == 2 and "each from 1 to 1024" in r.output


def test_interference_measures_tails_and_penalties():
    found = cnn.interference(
        batch=2,
        repeats=1,
        slices=3,
        slice_s=0.002,
        use_torch=False,
        use_nbengine=False,
        libgomp_default=False,
    )
    assert list(found.tails) == [cnn.NUMPY] and len(found.tails[cnn.NUMPY]) == 3
    assert found.penalty[(cnn.NUMPY, cnn.NUMPY)] > 0
    assert 0 <= found.quiet_after(cnn.NUMPY) <= 3 * 0.002 + 1e-12


def test_command_with_interference_and_without_idle_rounds():
    r = bench(
        "--batch-sizes",
        "2",
        "--rounds",
        "1",
        "--min-round",
        "0",
        "--no-torch",
        "--no-idle",
        "--interference",
        "--keep-wait-policy",
        "--json",
    )
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.stdout.splitlines()]
    kinds = {e["event"] for e in events}
    assert {"bench", "setup", "idle_tail", "after"} <= kinds


@pytest.mark.parametrize(
    "user_policy, expected",
    [(None, "unset for the benchmark"), ("ACTIVE", "ACTIVE (set by the user)")],
)
def test_openmp_starts_with_libgomps_default_unless_the_user_chose(user_policy, expected):
    """In a new process (OpenMP reads the policy once, when it loads): nbengine's PASSIVE is set
    aside while the thread pools start, then os.environ is as before."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if user_policy:
        env["OMP_WAIT_POLICY"] = user_policy
    code = (
        "import os; from benchmarks import threads; note = threads.start_thread_pools(False); "
        "print(note); print(os.environ['OMP_WAIT_POLICY']); print(threads.thread_setup()['omp_wait_policy'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    note, policy, reported = out.stdout.splitlines()
    assert note.startswith(expected) and reported == note
    assert policy == (user_policy or "PASSIVE")


def test_the_three_implementations_compute_the_same_network():
    """Same weights, same batch, dropout off: the same probabilities, loss and gradients,
    so the benchmark compares the same computation."""
    models = pytest.importorskip("nbengine.models.cnn")
    from tests.reference.cnn_numpy import NumpyCNN

    x, y, _ = cnn.digits(8, seed=2)
    mine = models.CNN(seed=3, dtype=np.float32, dropout=0.0)
    params = {k: v.copy() for k, v in mine.params.items()}
    others = {"NumPy": NumpyCNN(params, dropout=0.0)}
    if cnn.cnn_torch.available():
        others["PyTorch"] = cnn.cnn_torch.TorchCNN(params, dropout=0.0, threads=1)
    probs = mine.predict_proba(x)
    loss = mine.loss(x, y)
    train_loss = mine.loss_and_backward(x, y)
    assert train_loss == pytest.approx(loss, rel=1e-6)
    for name, other in others.items():
        np.testing.assert_allclose(
            other.predict_proba(x), probs, rtol=1e-4, atol=1e-6, err_msg=name
        )
        assert other.loss(x, y) == pytest.approx(loss, rel=1e-5), name
        other.loss_and_backward(x, y)
        for k, g in other.grads().items():
            np.testing.assert_allclose(
                mine.grads[k], g, rtol=1e-3, atol=2e-6, err_msg=f"{name} {k}"
            )
