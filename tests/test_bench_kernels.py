"""The C twins of the naive kernels and `nbengine bench kernels`, run very small: the twins
compile with the machine's C compiler and compute what the Numba naive kernels compute, the
benchmark's check catches a twin that does not, and the command prints its table (or, with
no compiler, says so and prints the Numba rows). Nothing here asserts a time."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import assert_same_bits

from benchmarks import kernels
from nbengine import ctwins
from nbengine.kernels import registry
from nbengine_cli.main import main

pytestmark = pytest.mark.usefixtures("small_sgemm")  # the sgemm rate every bench command measures

# Every kernel on a few shapes: padding (same, valid, explicit), stride 2, odd sizes,
# batch 1, the causal mask.
SIZES = (
    kernels.ConvSize("same", N=2, H=6, W=5, C=3, K=4, R=3),
    kernels.ConvSize(
        "stride 2, padding 2, batch 1", N=1, H=7, W=6, C=5, K=3, R=3, stride=2, padding=2
    ),
    kernels.ConvSize("valid", N=3, H=5, W=5, C=2, K=5, R=2, padding="valid"),
    kernels.PoolSize("2 by 2", N=2, H=6, W=7, C=3),
    kernels.PoolSize(
        "3 by 3, stride 2, padding 1, batch 1", N=1, H=7, W=5, C=2, window=3, padding=1
    ),
    kernels.DenseSize("odd", N=3, D=7, M=5),
    kernels.DenseSize("batch 1", N=1, D=4, M=9),
    kernels.LSTMSize("odd", N=3, T=4, D=5, H=7),
    kernels.LSTMSize("batch 1", N=1, T=2, D=3, H=2),
    kernels.AttentionSize("full", N=2, T=6, D=5),
    kernels.AttentionSize("causal", N=3, T=7, D=4, causal=True),
)
CASES = kernels.cases(SIZES, seed=1)
TINY = (kernels.PoolSize("tiny", N=2, H=4, W=4, C=2), kernels.DenseSize("tiny", N=3, D=5, M=4))


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """The twins compiled from this checkout's sources into a new cache folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NBENGINE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        built = ctwins.build()
        again = ctwins.build()
    assert not built.cached and again.cached and again.path == built.path
    return ctwins.load(built)


def test_built_with_numbas_floating_point_licence_outside_the_package(twins):
    flags = twins.build.flags
    for flag in ("-O3", "-march=native", "-fno-fast-math", "-ffp-contract=off"):
        assert flag in flags
    assert ("-fopenmp" in flags) == twins.build.openmp == twins.openmp
    assert twins.build.path.is_file()
    assert ctwins.source_folder() not in twins.build.path.parents
    assert {p.name for p in ctwins.source_folder().iterdir()} >= set(ctwins.SOURCES) | set(
        ctwins.HEADERS
    )


def test_without_a_writable_cache_folder_the_twins_are_built_in_a_temporary_one(
    monkeypatch, tmp_path
):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("NBENGINE_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    built = ctwins.build()
    assert built.path.is_file() and not built.cached
    assert tmp_path not in built.path.parents and ctwins.source_folder() not in built.path.parents
    assert ctwins.load(built).openmp == built.openmp


def _outputs(case, run):
    args = kernels._fresh(case.args, case.outputs, fill=True)
    run(*args)
    return [args[i] for i in case.outputs]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}, {c.size.split(':')[0]}" for c in CASES])
def test_c_twin_computes_what_the_numba_naive_kernel_computes(twins, case, one_thread):
    """The same loops in the same order: float32 results equal to rounding (in practice the
    same bits), written everywhere (no NaN left from the fill), on one thread and on two."""
    numba_out = _outputs(case, case.naive)
    c_out = _outputs(case, lambda *a: twins(case.name, *a))
    for i, (ours, theirs) in zip(case.outputs, zip(numba_out, c_out)):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        if ours.dtype.kind != "f":
            np.testing.assert_array_equal(theirs, ours)
            continue
        assert not np.isnan(ours).any() and not np.isnan(theirs).any(), (case.name, i)
        scale = float(np.abs(ours).max()) or 1.0
        np.testing.assert_allclose(
            theirs,
            ours,
            rtol=0,
            atol=16 * kernels.EPS32 * scale,
            err_msg=f"{case.name} argument {i + 1}",
        )
    twins.set_threads(2)
    try:
        two = _outputs(case, lambda *args: twins(case.name, *args))
        for i, a, b in zip(case.outputs, two, c_out):
            assert_same_bits(f"{case.name} argument {i + 1}, 2 threads against 1", a, b)
    finally:
        twins.set_threads(1)


def test_maxpool_twin_treats_nan_as_the_numba_kernel_does(twins):
    """NaN in a window, first and later, alone and with other NaN: the same maxima and the
    same arg-max positions, so the gradient goes to the same input."""
    (forward, backward) = kernels.PoolSize(
        "nan", N=2, H=6, W=6, C=3, window=3, stride=2, padding=1
    ).cases(np.random.default_rng(2))
    x = forward.args[2]
    x[0, 0, 0, :] = np.nan  # the first value of its windows
    x[0, 3, 4, 1] = np.nan  # a later one
    x[1, 2, 2, 2] = x[1, 2, 3, 2] = np.nan  # two in one window
    x[1, 5, 5, 0] = np.nan  # in the last windows, next to the padding
    numba_out, numba_arg = _outputs(forward, forward.naive)
    c_out, c_arg = _outputs(forward, lambda *a: twins(forward.name, *a))
    assert np.isnan(numba_out).sum() >= 3
    np.testing.assert_array_equal(c_arg, numba_arg)
    assert_same_bits("maxpool_forward out with NaN", c_out, numba_out)
    assert kernels.check(forward, twins).same_bits
    backward.args[2][...] = numba_arg  # the backward pass routes by those positions
    assert kernels.check(backward, twins).same_bits


def test_the_check_reports_agreement(twins):
    for case in CASES[:4]:
        agreement = kernels.check(case, twins)
        assert agreement.ulps <= kernels.TOLERANCE
        assert agreement.describe() == (
            "same bits" if agreement.same_bits else f"{agreement.ulps:.2g} ulp"
        )


class _Off:
    """The twins, with one value of an output changed after the call."""

    def __init__(self, twins, output, by):
        self.twins, self.output, self.by = twins, output, by

    def __call__(self, name, *args):
        self.twins(name, *args)
        args[self.output].reshape(-1)[1] += self.by


def test_the_check_stops_at_a_twin_that_computes_something_else(twins):
    forward = next(c for c in CASES if c.name == "dense_forward_naive")
    (out,) = _outputs(forward, forward.naive)
    scale = float(np.abs(out).max())
    with pytest.raises(
        kernels.TwinMismatch, match=r"dense_forward_naive: the C twin's out \(argument 1\)"
    ):
        kernels.check(forward, _Off(twins, 0, np.float32(1e-3 * scale)))
    # a change of about one unit in the last place is rounding, not another sum: reported, not refused
    agreement = kernels.check(forward, _Off(twins, 0, np.float32(kernels.EPS32 * scale)))
    assert (
        not agreement.same_bits
        and 0.5 < agreement.ulps < 2
        and agreement.output == "out (argument 1)"
    )
    pool = next(c for c in CASES if c.name == "maxpool_forward")
    with pytest.raises(kernels.TwinMismatch, match=r"arg \(argument 2\) differs .* at 1 of"):
        kernels.check(pool, _Off(twins, 1, np.int32(1)))


def test_arguments_are_passed_as_the_twins_take_them(twins):
    x = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="float64"):
        twins.bind("dense_forward_naive", x.astype(np.float64))
    with pytest.raises(TypeError, match="strided"):
        twins.bind("dense_forward_naive", x.T)
    with pytest.raises(TypeError, match="str"):
        twins.bind("dense_forward_naive", "x")
    call = twins.bind(
        "dense_forward_naive",
        np.empty((3, 2), np.float32),
        x,
        np.ones((4, 2), np.float32),
        np.zeros(2, np.float32),
    )
    call()
    np.testing.assert_array_equal(call.arrays[0], np.full((3, 2), 4, np.float32))


def test_fast_kernels_are_called_as_the_layers_call_them(one_thread):
    """Backward kernels with per-part gradient buffers: the parts are added into the full
    gradients, which then match the naive kernel's."""
    for kernel in ("conv2d_backward", "dense_backward"):
        case = next(c for c in CASES if c.kernel == kernel)
        fast_args = kernels._fresh(case.args, case.outputs, fill=True)
        kernels.fast_call(case, fast_args)()
        naive_out = _outputs(case, case.naive)
        for i, ref in zip(case.outputs, naive_out):
            scale = float(np.abs(ref).max()) or 1.0
            np.testing.assert_allclose(
                fast_args[i], ref, rtol=0, atol=1e-5 * scale, err_msg=f"{kernel} {i}"
            )
        assert (kernel in registry.PARTS_ARGS) == (kernel != "dense_backward")


def test_flop_counts():
    rng = np.random.default_rng(0)
    valid = kernels.ConvSize("v", N=2, H=6, W=5, C=3, K=4, R=3, padding="valid").cases(rng)[0]
    assert valid.flops == 2 * 2 * 4 * 3 * 3 * 3 * 3 * 4  # N OH OW R S C K
    same = kernels.ConvSize("s", N=2, H=6, W=5, C=3, K=4, R=3).cases(rng)
    # padding skipped: 6 rows give 6·3 - 2 (window row, input row) pairs, 5 columns 5·3 - 2
    assert same[0].flops == 2 * 2 * 16 * 13 * 3 * 4 and same[1].flops == 2 * same[0].flops
    dense_f, dense_b = kernels.DenseSize("d", N=3, D=7, M=5).cases(rng)
    assert (dense_f.flops, dense_b.flops) == (2 * 3 * 7 * 5, 4 * 3 * 7 * 5)
    lstm_f, _ = kernels.LSTMSize("l", N=2, T=3, D=4, H=5).cases(rng)
    assert lstm_f.flops == 2 * 2 * 3 * 20 * 9
    full = kernels.AttentionSize("a", N=2, T=6, D=5).cases(rng)
    causal = kernels.AttentionSize("a", N=2, T=6, D=5, causal=True).cases(rng)
    assert full[0].flops == 2 * 2 * 36 * 2 * 5 and causal[0].flops == 2 * 2 * 21 * 2 * 5
    # the backward computes every entry
    assert full[1].flops == causal[1].flops == 2 * 2 * 36 * 4 * 5
    assert all(c.flops is None for c in kernels.PoolSize("p", N=1, H=4, W=4, C=1).cases(rng))


def test_lesson_sizes_are_the_lessons():
    conv, pool, dense, lstm, attention = kernels.SIZES["lesson"]
    assert (conv.N, conv.H, conv.W, conv.C, conv.K, conv.R, conv.padding) == (
        32,
        14,
        14,
        32,
        64,
        3,
        "same",
    )
    assert (dense.N, dense.D, dense.M) == (32, 3136, 1024)
    assert (lstm.N, lstm.T, lstm.D, lstm.H) == (20, 35, 100, 100)
    assert (attention.N, attention.T, attention.D) == (32, 128, 64)
    assert (pool.N, pool.H, pool.W, pool.C, pool.window, pool.stride) == (32, 28, 28, 32, 2, 2)
    assert [c.name for c in kernels.cases(kernels.SIZES["small"])] == [
        f"{k}_{d}_naive" if k != "maxpool" else f"{k}_{d}"
        for k in ("conv2d", "maxpool", "dense", "lstm", "attention")
        for d in ("forward", "backward")
    ]


def test_the_compiler_is_cc_then_gcc_then_clang_unless_CC_says(monkeypatch):
    monkeypatch.delenv("CC", raising=False)
    found = {"gcc": "/usr/bin/gcc", "clang": "/usr/bin/clang"}
    monkeypatch.setattr(ctwins.shutil, "which", found.get)
    monkeypatch.setattr(ctwins, "_version", lambda command: f"{command[0]} 1.0")
    assert ctwins.find_compiler() == ctwins.Compiler(("/usr/bin/gcc",), "gcc", "/usr/bin/gcc 1.0")
    del found["gcc"]
    assert ctwins.find_compiler().origin == "clang"
    monkeypatch.setenv("CC", "ccache my-cc -m64")
    assert ctwins.find_compiler() == ctwins.Compiler(
        ("ccache", "my-cc", "-m64"), "$CC", "ccache 1.0"
    )
    found.clear()
    monkeypatch.delenv("CC")
    with pytest.raises(ctwins.NoCompiler, match="none of cc, gcc, clang"):
        ctwins.find_compiler()


def test_CC_that_does_not_run_means_no_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(ctwins.NoCompiler, match=r"\$CC is '.*no-such-cc', which does not run"):
        ctwins.find_compiler()


def bench(monkeypatch, *args: str):
    monkeypatch.setitem(kernels.SIZES, "small", TINY)
    return CliRunner(env={"COLUMNS": "80"}).invoke(
        main,
        [
            "bench",
            "kernels",
            "--sizes",
            "small",
            "--rounds",
            "1",
            "--min-round",
            "0",
            "--keep-wait-policy",
            *args,
        ],
    )


def test_command_prints_the_table(monkeypatch, twins):
    monkeypatch.setenv("NBENGINE_CACHE_DIR", str(twins.build.path.parent.parent.parent))
    r = bench(monkeypatch, "-q")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "CPU: " in out and "C compiler: " in out and "-ffp-contract=off" in out
    assert "1 thread" in out and "sgemm" in out and "× C" in out
    table = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
    # whole at 80 columns, none cut
    assert table and all(line.rstrip()[-1] in "┓┃┩│┤┘" for line in table)
    for name in ("maxpool_forward", "maxpool_backward", "dense_forward", "dense_backward"):
        assert name in out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert [
        sum(name in row for row in rows) for name in ("Numba naive", "Numba fast", "C naive")
    ] == [4, 2, 4]
    assert "dense_forward_naive same bits" in out


def test_command_writes_json_lines(monkeypatch, twins):
    monkeypatch.setenv("NBENGINE_CACHE_DIR", str(twins.build.path.parent.parent.parent))
    r = bench(monkeypatch, "--json")
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.stdout.splitlines()]  # every stdout line is JSON
    (setup,) = [e for e in events if e["event"] == "setup"]
    assert (
        setup["compiler"]["cached"]
        and "-march=native" in setup["compiler"]["flags"]
        and setup["cpu"]
    )
    checks = [e for e in events if e["event"] == "check"]
    assert [e["kernel"] for e in checks] == [
        "maxpool_forward",
        "maxpool_backward",
        "dense_forward_naive",
        "dense_backward_naive",
    ]
    assert all(e["ulps"] <= kernels.TOLERANCE for e in checks)
    rows = [e for e in events if e["event"] == "bench"]
    assert {e["threads"] for e in rows} == set(kernels.thread_counts())
    for e in rows:
        assert e["median_s"] > 0
        if e["implementation"] == kernels.C:
            assert e["speed_vs_c"] == 1.0
        else:
            c = next(
                o
                for o in rows
                if (o["kernel"], o["threads"], o["implementation"])
                == (e["kernel"], e["threads"], kernels.C)
            )
            assert e["speed_vs_c"] == pytest.approx(c["median_s"] / e["median_s"])
        if e["flops"] is None:
            assert e["gflops"] is None and e["kernel"].startswith("maxpool")
        else:
            assert e["gflops"] == pytest.approx(e["flops"] / e["median_s"] / 1e9)


def test_command_without_a_compiler_times_the_numba_kernels(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    r = bench(monkeypatch)
    assert r.exit_code == 0, r.output
    lines = [line for line in r.stdout.splitlines() if "C compiler" in line]
    assert lines == [
        f"no C compiler: $CC is '{tmp_path / 'no-such-cc'}', which does not run: the Numba rows only"
    ]
    assert "C naive" not in r.stdout and "× C" not in r.stdout
    rows = [line for line in r.stdout.splitlines() if line.startswith("│")]
    assert [sum(name in row for row in rows) for name in ("Numba naive", "Numba fast")] == [4, 2]
