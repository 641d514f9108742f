"""The attention benchmark's harness, run very small: every implementation computes the same
outputs and gradients on the same inputs, the ratios and FLOPs are consistent, and the
command writes JSON lines and a table. Nothing here asserts a time."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import ROOT, f64, tolerance

from benchmarks import attention, attention_torch
from benchmarks.timing import Timing
from nbengine_cli.main import main
from tests.reference import attention_numpy

pytestmark = pytest.mark.usefixtures("small_sgemm")  # the sgemm rate every bench command measures

TINY_SIZE = attention.Size("tiny", batch=2, time=5, d=4)
# libgomp_default=False: the test process keeps nbengine's OpenMP wait policy for the tests after these
TINY = dict(
    sizes=("tiny",), size_table={"tiny": TINY_SIZE}, rounds=1, min_round=0.0, libgomp_default=False
)


def test_sizes_and_flop_count():
    large, toy = attention.SIZES["large"], attention.SIZES["toy"]
    assert (large.batch, large.time, large.d) == (32, 128, 64)
    assert (toy.batch, toy.time, toy.d) == (1, 3, 64)  # "I am good", d_k 64
    # forward 2 products, backward 4, each N·T·T·d multiply-adds, 2 FLOPs each
    assert attention.flops(large) == 2 * 6 * 32 * 128 * 128 * 64 == 402_653_184
    assert attention.Case(toy, True).flops == attention.Case(toy, False).flops == 2 * 6 * 3 * 3 * 64
    assert [(c.size.name, c.causal) for c in attention.cases(("large", "toy"))] == [
        ("large", False),
        ("large", True),
        ("toy", False),
        ("toy", True),
    ]


def test_inputs_are_seeded_float32_with_the_scale():
    a, b = attention.inputs(TINY_SIZE, seed=3), attention.inputs(TINY_SIZE, seed=3)
    for name in ("q", "k", "v", "dout"):
        assert a[name].shape == (2, 5, 4) and a[name].dtype == np.float32
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["q"], a["k"])
    assert a["scale"] == pytest.approx(0.5)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_implementations_agree_with_the_float64_reference(causal):
    """Same inputs: out, dq, dk, dv of every implementation (nbengine, NumPy, PyTorch's two
    when installed) match the einsum reference run in float64, so the benchmark compares
    the same computation."""
    size = attention.Size("small", batch=3, time=6, d=5)
    data = attention.inputs(size, seed=1)
    case = attention.Case(size, causal)
    fns = attention.implementations(case, data, use_torch=attention_torch.available(), threads=1)
    expected_names = [attention.NBENGINE, attention.NUMPY]
    if attention_torch.available():
        expected_names += [attention.TORCH_MATMUL, attention.TORCH_SDPA]
    assert list(fns) == expected_names
    q, k, v, dout = (f64(data[n]) for n in ("q", "k", "v", "dout"))
    r_out, _ = attention_numpy.attention_ref(q, k, v, data["scale"], causal)
    refs = (r_out, *attention_numpy.attention_ref_backward(dout, q, k, v, data["scale"], causal))
    for name, fn in fns.items():
        for _ in range(2):  # a second call gives the same: nothing accumulates between calls
            results = fn()
            assert len(results) == 4
            for label, got, ref in zip(("out", "dq", "dk", "dv"), results, refs):
                assert got.dtype == np.float32, (name, label)
                atol, rtol = tolerance(np.float32, ref)
                np.testing.assert_allclose(
                    got, ref, rtol=rtol, atol=atol, err_msg=f"{name} {label}"
                )


def test_causal_changes_the_result():
    """The causal cases are different computations (the mask reaches every implementation)."""
    size = attention.Size("small", batch=1, time=4, d=3)
    data = attention.inputs(size, seed=2)
    full = attention.implementations(attention.Case(size, False), data, use_torch=False)
    causal = attention.implementations(attention.Case(size, True), data, use_torch=False)
    for name in full:
        a, b = full[name]()[0].copy(), causal[name]()[0].copy()
        # the last query sees every key
        np.testing.assert_allclose(a[:, -1], b[:, -1], rtol=1e-5, atol=1e-6)
        assert np.abs(a[:, 0] - b[:, 0]).max() > 1e-3  # the first sees only itself


def test_numpy_backward_from_kept_weights_equals_recomputed():
    data = attention.inputs(TINY_SIZE, seed=4)
    q, k, v, dout = (f64(data[n]) for n in ("q", "k", "v", "dout"))
    for causal in (False, True):
        _, weights = attention_numpy.attention_ref(q, k, v, 0.5, causal)
        kept = attention_numpy.attention_ref_backward(dout, q, k, v, 0.5, causal, weights=weights)
        again = attention_numpy.attention_ref_backward(dout, q, k, v, 0.5, causal)
        for a, b in zip(kept, again):
            np.testing.assert_array_equal(a, b)


def test_ratio_against_pytorch_is_against_the_faster_formulation():
    case = attention.Case(TINY_SIZE, False)
    timings = {
        name: Timing(name, median, median, 1, 1)
        for name, median in (
            (attention.NBENGINE, 2.0),
            (attention.NUMPY, 8.0),
            (attention.TORCH_MATMUL, 3.0),
            (attention.TORCH_SDPA, 1.0),
        )
    }
    result = attention.Result(case, timings)
    assert result.ratio(attention.NBENGINE, attention.NUMPY) == 4.0
    assert result.ratio(attention.NBENGINE, attention.TORCH) == 0.5  # SDPA's 1.0, not matmul's 3.0
    del timings[attention.TORCH_SDPA]
    assert result.ratio(attention.NBENGINE, attention.TORCH) == 1.5
    del timings[attention.TORCH_MATMUL]
    assert result.ratio(attention.NBENGINE, attention.TORCH) is None
    assert result.gflops(attention.NBENGINE) == pytest.approx(case.flops / 2.0 / 1e9)


def check(results, names):
    assert [(r.case.size, r.case.causal) for r in results] == [
        (TINY_SIZE, False),
        (TINY_SIZE, True),
    ]
    for r in results:
        assert list(r.timings) == names  # the idle rounds are not reported
        for name in names:
            t = r.timings[name].median
            assert t > 0
            assert r.ratio(name, attention.NUMPY) == pytest.approx(
                r.timings[attention.NUMPY].median / t
            )
        assert r.ratio(attention.NUMPY, attention.NUMPY) == 1.0


def test_harness_times_nbengine_and_numpy():
    results = list(attention.run(**TINY, use_torch=False))
    check(results, [attention.NBENGINE, attention.NUMPY])
    assert all(r.ratio(attention.NBENGINE, attention.TORCH) is None for r in results)


def test_harness_times_pytorch():
    pytest.importorskip("torch")
    from benchmarks import threads

    results = list(attention.run(**TINY, use_torch=True, use_nbengine=False))
    check(results, [attention.NUMPY, attention.TORCH_MATMUL, attention.TORCH_SDPA])
    for r in results:
        fastest = min(
            r.timings[attention.TORCH_MATMUL].median, r.timings[attention.TORCH_SDPA].median
        )
        assert r.ratio(attention.NUMPY, attention.TORCH) == pytest.approx(
            fastest / r.timings[attention.NUMPY].median
        )
    assert (
        threads.thread_setup(torch_used=True)["torch_threads"]
        == threads.thread_setup()["numba_threads"]
    )


def test_torch_is_not_imported_to_ask_whether_it_is_there():
    code = (
        "import sys; from benchmarks import attention, attention_torch; attention_torch.available(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def bench(*args: str):
    # through the nbengine group, as a user runs it (a command invoked on its own
    # would also cache a help option without the group's -h)
    return CliRunner().invoke(main, ["bench", "attention", *args])


def test_command_writes_json_lines():
    r = bench(
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
    assert {(e["implementation"], e["causal"]) for e in rows} == {
        (name, causal) for name in (attention.NBENGINE, attention.NUMPY) for causal in (False, True)
    }
    assert all(
        e["size"] == "toy"
        and (e["batch"], e["time"], e["d"]) == (1, 3, 64)
        and e["median_s"] > 0
        and e["speedup_vs_torch"] is None
        for e in rows
    )
    assert all(e["speedup_vs_numpy"] == 1.0 for e in rows if e["implementation"] == attention.NUMPY)
    (setup,) = [e for e in events if e["event"] == "setup"]
    assert setup["numba_threads"] >= 1


def test_command_prints_a_table():
    r = bench(
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
    assert "GFLOP/s" in r.stdout and "× NumPy" in r.stdout and "OpenMP wait policy" in r.stdout
    assert "toy (1, 3, 64)" in r.stdout and "causal" in r.stdout


def test_command_with_pytorch_reports_its_two_formulations():
    pytest.importorskip("torch")
    r = bench("--sizes", "toy", "--rounds", "1", "--min-round", "0", "--keep-wait-policy", "--json")
    assert r.exit_code == 0, r.output
    rows = [e for e in map(json.loads, r.stdout.splitlines()) if e["event"] == "bench"]
    assert {attention.TORCH_MATMUL, attention.TORCH_SDPA} <= {e["implementation"] for e in rows}
    assert all(e["speedup_vs_torch"] > 0 for e in rows)


def test_command_rejects_unknown_sizes():
    r = bench("--sizes", "large,huge")
    assert r.exit_code == 2 and "large, toy" in r.output
