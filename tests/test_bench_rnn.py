"""The language models' benchmark harness, run very small: it must time each implementation
and report consistent ratios and FLOPs, quickly; and the three implementations must
compute the same thing."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import ROOT

from benchmarks import rnnlm, threads
from nbengine_cli.main import main

pytestmark = pytest.mark.usefixtures("small_sgemm")  # the sgemm rate every bench command measures

TINY_SIZE = rnnlm.Size("tiny", batch=2, time=3, vocab=5, embed=4, hidden=3)
# libgomp_default=False: the test process keeps nbengine's OpenMP wait policy for the tests after these
TINY = dict(
    sizes=("tiny",), size_table={"tiny": TINY_SIZE}, rounds=1, min_round=0.0, libgomp_default=False
)


def check(results, kinds, names):
    assert [r.case.kind for r in results] == list(kinds)
    for r in results:
        assert r.case.size == TINY_SIZE
        assert list(r.timings) == names  # the idle rounds are not reported
        for name in names:
            t = r.timings[name].median
            assert t > 0
            assert r.tokens_per_s(name) == pytest.approx(6 / t)
            assert r.gflops(name) == pytest.approx(r.case.flops / t / 1e9)
            assert r.ratio(name, rnnlm.NUMPY) == pytest.approx(r.timings[rnnlm.NUMPY].median / t)
        assert r.ratio(rnnlm.NUMPY, rnnlm.NUMPY) == 1.0
        assert r.ratio(rnnlm.NUMPY, "not measured") is None


def test_flop_counts_are_the_textbooks():
    ptb = rnnlm.SIZES["ptb"]
    assert (ptb.batch, ptb.time, ptb.vocab, ptb.embed, ptb.hidden) == (20, 35, 10_000, 100, 100)
    toy = rnnlm.SIZES["toy"]
    assert (toy.batch, toy.time, toy.vocab, toy.hidden) == (10, 5, 7, 100)
    assert rnnlm.multiply_adds("lstm", ptb) == {"lstm": 200 * 400, "affine": 100 * 10_000}
    assert rnnlm.multiply_adds("rnn", ptb) == {"rnn": 200 * 100, "affine": 100 * 10_000}
    assert rnnlm.flops_per_step("lstm", ptb) == 6 * 1_080_000 * 700  # 4.54 GFLOP
    assert rnnlm.flops_per_step("rnn", ptb) == 6 * 1_020_000 * 700
    assert rnnlm.Case("lstm", toy).flops == 6 * (200 * 400 + 700) * 50


def test_token_batches_cut_one_stream_as_the_textbook_does():
    batches = rnnlm.token_batches(TINY_SIZE, n_batches=3, seed=1)
    assert len(batches) == 3
    for xs, ts in batches:
        assert xs.shape == ts.shape == (2, 3) and xs.dtype == ts.dtype == np.int64
        assert xs.min() >= 0 and xs.max() < 5
        np.testing.assert_array_equal(ts[:, :-1], xs[:, 1:])  # the target is the next token
    for (_, ts), (xs, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(xs[:, 0], ts[:, -1])  # each row goes on where it stopped
    again = rnnlm.token_batches(TINY_SIZE, n_batches=3, seed=1)
    assert all((a[0] == b[0]).all() for a, b in zip(batches, again))  # seeded


def test_harness_times_the_numpy_reference():
    results = list(rnnlm.run(kinds=("lstm", "rnn"), **TINY, use_torch=False, use_nbengine=False))
    check(results, ["lstm", "rnn"], [rnnlm.NUMPY])


def test_harness_times_pytorch():
    pytest.importorskip("torch")
    results = list(rnnlm.run(kinds=("lstm",), **TINY, use_torch=True, use_nbengine=False))
    check(results, ["lstm"], [rnnlm.NUMPY, rnnlm.TORCH])
    assert results[0].ratio(rnnlm.TORCH, rnnlm.TORCH) == 1.0
    assert (
        threads.thread_setup(torch_used=True)["torch_threads"]
        == threads.thread_setup()["numba_threads"]
    )


def test_harness_times_nbengine():
    pytest.importorskip("nbengine.models.rnnlm")
    results = list(rnnlm.run(kinds=("lstm", "rnn"), **TINY, use_torch=False, use_nbengine=True))
    check(results, ["lstm", "rnn"], [rnnlm.NBENGINE, rnnlm.NUMPY])


def test_torch_is_not_imported_to_ask_whether_it_is_there():
    code = (
        "import sys; from benchmarks import rnnlm, rnn_torch; rnn_torch.available(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def bench(*args: str):
    # through the top-level group, as the command line runs it
    return CliRunner().invoke(main, ["bench", *args])


@pytest.mark.parametrize("command, kind", [("lstmlm", "lstm"), ("rnnlm", "rnn")])
def test_command_writes_json_lines(command, kind):
    r = bench(
        command,
        "--sizes",
        "toy",
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
    assert rows and all(
        e["model"] == kind
        and e["size"] == "toy"
        and e["batch"] == 10
        and e["time"] == 5
        and e["vocab"] == 7
        and e["tokens_per_s"] > 0
        for e in rows
    )
    assert rnnlm.NUMPY in {e["implementation"] for e in rows}
    assert not any(e["implementation"] == rnnlm.TORCH for e in rows)
    (setup,) = [e for e in events if e["event"] == "setup"]
    assert setup["numba_threads"] >= 1


def test_command_prints_a_table():
    r = bench(
        "lstmlm",
        "--sizes",
        "toy",
        "--rounds",
        "1",
        "--min-round",
        "0",
        "--no-torch",
        "--keep-wait-policy",
        "-q",
    )
    assert r.exit_code == 0, r.output
    assert "tokens/s" in r.stdout and "× NumPy" in r.stdout and "OpenMP wait policy" in r.stdout


def test_command_rejects_unknown_sizes():
    r = bench("lstmlm", "--sizes", "ptb,huge")
    assert r.exit_code == 2 and "ptb, toy" in r.output


def test_the_three_implementations_compute_the_same_models():
    """Same weights, same batches: the same loss and gradients, step after step with the state
    carried, and the same weights after clipped SGD steps, so the benchmark compares the same
    computation."""
    models = pytest.importorskip("nbengine.models.rnnlm")
    from benchmarks import rnn_torch
    from nbengine.optim import SGD, clip_global_norm
    from tests.reference import rnn_numpy

    size = rnnlm.Size("small", batch=3, time=4, vocab=11, embed=6, hidden=5)
    batches = rnnlm.token_batches(size, n_batches=3, seed=2)
    batches[1][1][0, 2] = -1  # an ignored target
    for kind in ("lstm", "rnn"):
        for dtype, rtol, atol in ((np.float64, 1e-9, 1e-12), (np.float32, 1e-4, 1e-6)):
            cls = {"lstm": models.LSTMLM, "rnn": models.RNNLM}[kind]
            mine = cls(
                vocab_size=size.vocab,
                embed_size=size.embed,
                hidden_size=size.hidden,
                seed=3,
                dtype=dtype,
            )
            rng = np.random.default_rng(4)
            # non-zero biases, a larger embedding: every gradient matters
            for p in mine.params.values():
                p += (rng.standard_normal(p.shape) * 0.3).astype(dtype)
            params = {k: v.copy() for k, v in mine.params.items()}
            others = {
                "NumPy": {"lstm": rnn_numpy.NumpyLSTMLM, "rnn": rnn_numpy.NumpyRNNLM}[kind](
                    params, lr=rnnlm.LR, max_norm=0.1
                )
            }
            if rnn_torch.available():
                others["PyTorch"] = {"lstm": rnn_torch.TorchLSTMLM, "rnn": rnn_torch.TorchRNNLM}[
                    kind
                ](params, lr=rnnlm.LR, max_norm=0.1, threads=1)
            for step, (xs, ts) in enumerate(batches):
                loss = mine.loss_and_backward(xs, ts)
                for name, other in others.items():
                    assert other.loss_and_backward(xs, ts) == pytest.approx(loss, rel=rtol), (
                        kind,
                        name,
                        step,
                    )
                    for k, g in other.grads().items():
                        np.testing.assert_allclose(
                            mine.grads[k],
                            g,
                            rtol=rtol,
                            atol=atol,
                            err_msg=f"{kind} {dtype.__name__} {name} step {step} {k}",
                        )
            sgd = SGD(mine.params, mine.grads, lr=rnnlm.LR)
            for xs, ts in batches:
                loss = mine.loss_and_backward(xs, ts)
                clip_global_norm(mine.grads, 0.1)
                sgd.step()
                for name, other in others.items():
                    assert other.train_step(xs, ts) == pytest.approx(loss, rel=rtol), (kind, name)
            for name, other in others.items():
                for k, p in other.params().items():
                    np.testing.assert_allclose(
                        mine.params[k],
                        p,
                        rtol=rtol,
                        atol=atol,
                        err_msg=f"{kind} {dtype.__name__} {name} {k} after training",
                    )
