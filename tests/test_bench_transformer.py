"""The Transformer benchmark's harness, run very small: the NumPy formulation's loss and gradients
are nbengine's, every implementation computes the same loss before timing (and a different one
is caught), the FLOP count is the one written down, and the command writes JSON lines and a
table. Nothing here asserts a time."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks import rnn_torch, transformer
from benchmarks.rnnlm import token_batches
from nbengine_cli.main import main
from tests.reference.transformer_numpy import NumpyTransformerLM, transformer_lm_ref

pytestmark = pytest.mark.usefixtures("small_sgemm")

TINY_SIZE = transformer.Size("tiny", batch=2, time=5, vocab=7, size=8, heads=2, blocks=2, hidden=12)
TINY = dict(
    sizes=("tiny",), size_table={"tiny": TINY_SIZE}, rounds=1, min_round=0.0, libgomp_default=False
)


def test_default_size_is_train_transformers_and_the_flop_count():
    d = transformer.SIZES["default"]
    assert (d.batch, d.time, d.vocab, d.size, d.heads, d.blocks, d.hidden) == (
        32,
        64,
        80,
        64,
        4,
        2,
        256,
    )
    D, T, F, V = 64, 64, 256, 80
    assert (
        transformer.multiply_adds_per_token(d)
        == 2 * (4 * D * D + 2 * T * D + 2 * D * F) + D * V
        == 119_808
    )
    assert transformer.flops_per_step(d) == 6 * 119_808 * 32 * 64


def test_numpy_loss_and_gradients_are_nbengines_in_float64():
    """The independent backward: every gradient of the NumPy formulation equals nbengine's model's,
    and its forward is transformer_lm_ref's."""
    model = transformer.nbengine_model(TINY_SIZE, seed=1, dtype=np.float64)
    ((xs, ts),) = token_batches(TINY_SIZE, 1, seed=2)
    reference = NumpyTransformerLM(model.params, TINY_SIZE.heads, TINY_SIZE.blocks)
    loss, grads = reference.loss_and_grads(xs, ts)
    scores = transformer_lm_ref(xs, model.params, TINY_SIZE.heads, TINY_SIZE.blocks)
    np.testing.assert_allclose(model.scores(xs), scores, rtol=1e-12, atol=1e-12)
    assert model.loss_and_backward(xs, ts) == pytest.approx(loss, rel=1e-12)
    assert set(grads) == set(model.grads)
    for name, g in grads.items():
        assert np.abs(g).max() > 0, name
        np.testing.assert_allclose(g, model.grads[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_numpy_step_stays_float32_and_lowers_the_loss():
    params = transformer.start_params(TINY_SIZE, seed=0)
    ((xs, ts),) = token_batches(TINY_SIZE, 1, seed=0)
    reference = NumpyTransformerLM(params, TINY_SIZE.heads, TINY_SIZE.blocks, lr=0.01)
    _, grads = reference.loss_and_grads(xs, ts)
    assert all(g.dtype == np.float32 for g in grads.values())
    first = reference.train_step(xs, ts)
    for _ in range(5):
        reference.train_step(xs, ts)
    assert all(w.dtype == np.float32 for w in reference.p.values())
    assert reference.loss(xs, ts) < first
    # copied
    np.testing.assert_array_equal(
        params["affine.W"], transformer.start_params(TINY_SIZE, 0)["affine.W"]
    )


def test_implementations_agree_on_the_loss_and_train():
    use_torch = rnn_torch.available()
    batches = token_batches(TINY_SIZE, 2, seed=3)
    fns, losses = transformer.implementations(
        transformer.Case(TINY_SIZE),
        transformer.start_params(TINY_SIZE),
        batches,
        use_torch=use_torch,
        threads=1,
    )
    names = [transformer.NBENGINE, transformer.NUMPY] + ([transformer.TORCH] if use_torch else [])
    assert list(fns) == list(losses) == names
    assert losses[transformer.NUMPY] == pytest.approx(losses[transformer.NBENGINE], rel=1e-5)
    steps = {name: [fn() for _ in range(4)] for name, fn in fns.items()}  # batches 0, 1, 0, 1
    for name, seen in steps.items():
        # the first step's loss is the checked one
        assert seen[0] == pytest.approx(losses[name], rel=1e-5)
        assert seen[2] < seen[0] and seen[3] < seen[1], name  # the steps train
        assert seen[2] == pytest.approx(steps[transformer.NBENGINE][2], rel=1e-3), name


def test_a_different_computation_is_caught_before_timing():
    transformer.check_losses({"a": 2.0, "b": 2.0 * (1 + 1e-6)})
    with pytest.raises(transformer.ImplementationsDisagree, match="a 2, b 2.01"):
        transformer.check_losses({"a": 2.0, "b": 2.01})
    with pytest.raises(transformer.ImplementationsDisagree):
        transformer.check_losses({"a": float("nan"), "b": float("nan")})


def test_harness_times_each_implementation():
    (result,) = list(transformer.run(**TINY, use_torch=False))
    # the idle rounds are not reported
    assert list(result.timings) == [transformer.NBENGINE, transformer.NUMPY]
    for name, t in result.timings.items():
        assert t.median > 0
        assert result.ratio(name, transformer.NUMPY) == pytest.approx(
            result.timings[transformer.NUMPY].median / t.median
        )
        assert result.gflops(name) == pytest.approx(result.case.flops / t.median / 1e9)
        assert result.tokens_per_s(name) == pytest.approx(10 / t.median)
    assert result.ratio(transformer.NBENGINE, transformer.TORCH) is None


def bench(*args: str):
    return CliRunner().invoke(main, ["bench", "transformer", *args])


def test_command_writes_json_lines():
    r = bench("--sizes", "toy", "--rounds", "1", "--min-round", "0", "--keep-wait-policy", "--json")
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.stdout.splitlines()]
    rows = [e for e in events if e["event"] == "bench"]
    names = {transformer.NBENGINE, transformer.NUMPY} | (
        {transformer.TORCH} if rnn_torch.available() else set()
    )
    assert {e["implementation"] for e in rows} == names
    (machine,) = [e for e in events if e["event"] == "machine"]
    for e in rows:
        assert e["size"] == "toy" and (e["batch"], e["time"], e["vocab"], e["d"]) == (1, 7, 7, 16)
        assert e["sgemm_share"] == pytest.approx(e["gflops"] / machine["sgemm_gflops"])
        assert (e["speedup_vs_torch"] is None) == (not rnn_torch.available())
    (losses,) = [e for e in events if e["event"] == "losses"]
    values = list(losses["losses"].values())
    assert set(losses["losses"]) == names and max(values) - min(values) <= 1e-4 * values[0]


def test_command_prints_a_table_at_80_columns():
    r = CliRunner(env={"COLUMNS": "80"}).invoke(
        main,
        [
            "bench",
            "transformer",
            "--sizes",
            "toy",
            "--rounds",
            "1",
            "--min-round",
            "0",
            "--no-torch",
            "--keep-wait-policy",
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    # a title of its own
    assert "toy (N 1, T 7, D 16, B 1)" in [line.strip() for line in r.stdout.splitlines()]
    assert "× NumPy" in r.stdout and "sgemm" in r.stdout and "× PyTorch" not in r.stdout
    table = [line for line in r.stdout.splitlines() if line[:1] in "┏┃┡│└"]
    # none cut
    assert table and all(len(line) <= 80 and line.rstrip()[-1] in "┓┃┩│┤┘" for line in table)


def test_command_rejects_unknown_sizes():
    r = bench("--sizes", "default,huge")
    assert r.exit_code == 2 and "default, toy" in r.output


def test_the_sgemm_measurement_leaves_the_wait_policy_to_the_benchmark():
    """Measuring the sgemm asks Numba its thread count, which starts its OpenMP pool: the pools must
    be started by then with the benchmark's policy (libgomp's default), not the PASSIVE nbengine sets."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    r = subprocess.run(
        [
            str(Path(sys.executable).parent / "nbengine"),
            "bench",
            "transformer",
            "--sizes",
            "toy",
            "--rounds",
            "1",
            "--min-round",
            "0",
            "--no-torch",
            "-q",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "OpenMP wait policy: unset for the benchmark: libgomp's default" in r.stdout
