"""The naive kernels against their C twins: how near to C the lessons' loops run.

What is timed. Each kernel of the lessons' hot paths (conv2d, maxpool, dense,
the LSTM over a sequence, attention), forward and backward, three ways on the
same float32 inputs:

- **Numba naive**: ``foo_naive``, the formula as loops, what a learner reads
  (maxpool's kernels already read as their formula: they are their own naive loops);
- **Numba fast**: ``foo``, the same sums reordered for speed, called as the layers
  call it (a backward kernel that sums its gradients in per-part buffers is
  followed by the ``sum_parts`` that adds them);
- **C naive**: ``nbengine/csrc``, the naive loops written again in C99 line for
  line, compiled with the machine's compiler at ``-O3 -march=native`` and the
  floating-point licence Numba has (``nbengine/ctwins.py``).

Before anything is timed, each C twin runs once on the inputs and its outputs
are compared with the Numba naive kernel's: the same loops in the same order
give the same bits, except where a math function (e^x, tanh) of the C library
and of Numba's LLVM round differently, and then only by a few units in the last
place. A larger difference stops the benchmark (``TwinMismatch``).

Threads. Every case is timed twice: on one thread (Numba's thread count 1, the
C twins' OpenMP loops on 1 thread), and on all of Numba's threads. There, the
Numba kernels run their ``prange`` loops on every thread and the C twins, when
compiled with OpenMP, run the same loops (an OpenMP ``parallel for`` where the
Numba kernel has ``prange``) on as many; without OpenMP their time there is
their one-thread time.

FLOPs: two per multiply-add of the products, counted as the loops do them
(padding positions skipped, masked attention scores not computed); exp, tanh,
max and the additions of biases and sums are left out. Max pooling does no
multiply-adds: its rows have no GFLOP/s.

The speed against C is the C twin's median time over the implementation's, from
alternating rounds in one process (``timing.measure``): above 1 is faster.
"""

from __future__ import annotations

import importlib
import math
import os
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numba
import numpy as np

from benchmarks.timing import Timing, measure
from nbengine.ctwins import Twins
from nbengine.errors import NBEngineError
from nbengine.i18n import N_, Msg, _
from nbengine.kernels import attention, conv2d, dense, lstm, maxpool, registry
from nbengine.kernels.conv2d import output_size, sum_parts

NAIVE = N_("Numba naive")  # names are JSON values; the tables show them translated
FAST = N_("Numba fast")
C = N_("C naive")
EPS32 = float(np.finfo(np.float32).eps)
# The largest difference allowed between a C twin and its Numba kernel, in units of
# float32's eps times the largest |value| of the output: a few roundings of e^x and tanh
# carried through a sum, never a different sum.
TOLERANCE = 64
GRADIENT_PARTS = 8  # the batch parts of the fast backward kernels' gradients, as the layers cut it


class TwinMismatch(NBEngineError):
    """A C twin computed something else than its Numba naive kernel."""

    exit_code = 1


# -- the cases ---------------------------------------------------------------------------


def naive_of(fast: Callable) -> Callable:
    """The naive twin of a fast kernel (the kernel itself when it already reads as its formula)."""
    module = importlib.import_module(fast.py_func.__module__)
    return getattr(module, f"{fast.py_func.__name__}_naive", fast)


@dataclass
class Case:
    """One kernel at one size, with its arguments ready (outputs first, as the kernel takes them)."""

    kernel: str  # the fast kernel's name, e.g. "conv2d_forward"
    # what the size is, e.g. "conv2 of the CNN, batch 32: x (32, 14, 14, 32), w (3, 3, 32, 64)"
    size: str
    fast: Callable  # the Numba fast kernel
    args: tuple  # the naive kernel's arguments
    outputs: tuple[int, ...]  # positions in args of the arrays the kernel writes
    flops: int | None
    batch: int  # N: the fast backward kernels cut it into parts

    @property
    def naive(self) -> Callable:
        return naive_of(self.fast)

    @property
    def has_fast(self) -> bool:
        return self.naive is not self.fast

    @property
    def name(self) -> str:
        """The naive kernel's name, which is also its C twin's."""
        return self.naive.py_func.__name__


def _fresh(args: tuple, outputs: tuple[int, ...], fill: bool = False) -> tuple:
    """args with new arrays for the outputs (filled with NaN, or -2 for whole numbers, if fill)."""
    out = list(args)
    for i in outputs:
        a = np.empty_like(args[i])
        if fill:
            a.fill(np.nan if a.dtype.kind == "f" else -2)
        out[i] = a
    return tuple(out)


def _rand(rng, shape, scale=1.0):
    return (rng.uniform(-1.0, 1.0, size=shape) * scale).astype(np.float32)


def _valid(size: int, out: int, k: int, stride: int, before: int) -> int:
    """How many (output, window) position pairs along one axis fall inside the input."""
    return sum(1 for i in range(out) for r in range(k) if 0 <= i * stride + r - before < size)


@dataclass(frozen=True)
class ConvSize:
    label: str
    N: int
    H: int
    W: int
    C: int
    K: int
    R: int
    stride: int = 1
    padding: object = "same"

    def cases(self, rng) -> list[Case]:
        N, H, W, C, K, R, st = self.N, self.H, self.W, self.C, self.K, self.R, self.stride
        OH, pt, _ = output_size(H, R, st, self.padding)
        OW, pl, _ = output_size(W, R, st, self.padding)
        x, w, b = (
            _rand(rng, (N, H, W, C)),
            _rand(rng, (R, R, C, K), 1 / math.sqrt(R * R * C)),
            _rand(rng, K),
        )
        macs = N * _valid(H, OH, R, st, pt) * _valid(W, OW, R, st, pl) * C * K
        size = Msg(
            "{label}: x {x}, w {w}, stride {stride}, padding {padding}",
            label=Msg(self.label),
            x=x.shape,
            w=w.shape,
            stride=st,
            padding=self.padding,
        )
        dout = _rand(rng, (N, OH, OW, K))
        return [
            Case(
                "conv2d_forward",
                size,
                conv2d.conv2d_forward,
                (np.empty((N, OH, OW, K), np.float32), x, w, b, st, st, pt, pl),
                (0,),
                2 * macs,
                N,
            ),
            Case(
                "conv2d_backward",
                size,
                conv2d.conv2d_backward,
                (
                    np.empty_like(x),
                    np.empty_like(w),
                    np.empty_like(b),
                    dout,
                    x,
                    w,
                    st,
                    st,
                    pt,
                    pl,
                    True,
                ),
                (0, 1, 2),
                4 * macs,
                N,
            ),
        ]


@dataclass(frozen=True)
class PoolSize:
    label: str
    N: int
    H: int
    W: int
    C: int
    window: int = 2
    stride: int = 2
    padding: object = "valid"

    def cases(self, rng) -> list[Case]:
        N, H, W, C, k, st = self.N, self.H, self.W, self.C, self.window, self.stride
        OH, pt, _ = output_size(H, k, st, self.padding)
        OW, pl, _ = output_size(W, k, st, self.padding)
        x = _rand(rng, (N, H, W, C))
        out, arg = np.empty((N, OH, OW, C), np.float32), np.empty((N, OH, OW, C), np.int32)
        maxpool.maxpool_forward(out, arg, x, k, k, st, st, pt, pl)  # the backward pass's arg
        if self.padding != "valid":
            size = Msg(
                "{label}: x {x}, window {k}, stride {stride}, padding {padding}",
                label=Msg(self.label),
                x=x.shape,
                k=k,
                stride=st,
                padding=self.padding,
            )
        else:
            size = Msg(
                "{label}: x {x}, window {k}, stride {stride}",
                label=Msg(self.label),
                x=x.shape,
                k=k,
                stride=st,
            )
        return [
            Case(
                "maxpool_forward",
                size,
                maxpool.maxpool_forward,
                (out, arg, x, k, k, st, st, pt, pl),
                (0, 1),
                None,
                N,
            ),
            Case(
                "maxpool_backward",
                size,
                maxpool.maxpool_backward,
                (np.empty_like(x), _rand(rng, out.shape), arg),
                (0,),
                None,
                N,
            ),
        ]


@dataclass(frozen=True)
class DenseSize:
    label: str
    N: int
    D: int
    M: int

    def cases(self, rng) -> list[Case]:
        N, D, M = self.N, self.D, self.M
        x, w, b = _rand(rng, (N, D)), _rand(rng, (D, M), 1 / math.sqrt(D)), _rand(rng, M)
        size = Msg("{label}: x {x}, w {w}", label=Msg(self.label), x=x.shape, w=w.shape)
        return [
            Case(
                "dense_forward",
                size,
                dense.dense_forward,
                (np.empty((N, M), np.float32), x, w, b),
                (0,),
                2 * N * D * M,
                N,
            ),
            Case(
                "dense_backward",
                size,
                dense.dense_backward,
                (
                    np.empty_like(x),
                    np.empty_like(w),
                    np.empty_like(b),
                    _rand(rng, (N, M)),
                    x,
                    w,
                    True,
                ),
                (0, 1, 2),
                4 * N * D * M,
                N,
            ),
        ]


@dataclass(frozen=True)
class LSTMSize:
    label: str
    N: int
    T: int
    D: int
    H: int

    def cases(self, rng) -> list[Case]:
        N, T, D, H = self.N, self.T, self.D, self.H
        xs, h0, c0 = _rand(rng, (N, T, D)), _rand(rng, (N, H), 0.5), _rand(rng, (N, H), 0.5)
        Wx, Wh, b = (
            _rand(rng, (D, 4 * H), 1 / math.sqrt(D)),
            _rand(rng, (H, 4 * H), 1 / math.sqrt(H)),
            _rand(rng, 4 * H),
        )
        new = lambda *shape: np.empty(shape, np.float32)  # noqa: E731
        hs, cs, gates = new(N, T, H), new(N, T, H), new(N, T, 4 * H)
        # the states the backward pass reads
        naive_of(lstm.lstm_forward)(hs, cs, gates, h0, c0, xs, Wx, Wh, b)
        size = Msg(
            "{label}: batch {N}, {T} steps, D {D}, H {H}", label=Msg(self.label), N=N, T=T, D=D, H=H
        )
        macs = N * T * 4 * H * (D + H)
        return [
            Case(
                "lstm_forward",
                size,
                lstm.lstm_forward,
                (new(N, T, H), new(N, T, H), new(N, T, 4 * H), h0, c0, xs, Wx, Wh, b),
                (0, 1, 2),
                2 * macs,
                N,
            ),
            Case(
                "lstm_backward",
                size,
                lstm.lstm_backward,
                (
                    new(N, T, D),
                    new(D, 4 * H),
                    new(H, 4 * H),
                    new(4 * H),
                    new(N, H),
                    new(N, H),
                    new(N, T, H),
                    new(N, T, H),
                    new(N, T, 4 * H),
                    _rand(rng, (N, T, H)),
                    hs,
                    cs,
                    gates,
                    h0,
                    c0,
                    xs,
                    Wx,
                    Wh,
                ),
                (0, 1, 2, 3, 4, 5, 6, 7, 8),
                4 * macs,
                N,
            ),
        ]


@dataclass(frozen=True)
class AttentionSize:
    label: str
    N: int
    T: int
    D: int
    causal: bool = False

    def cases(self, rng) -> list[Case]:
        N, T, D = self.N, self.T, self.D
        q, k, v = _rand(rng, (N, T, D)), _rand(rng, (N, T, D)), _rand(rng, (N, T, D))
        scale = 1 / math.sqrt(D)
        out, weights = np.empty((N, T, D), np.float32), np.empty((N, T, T), np.float32)
        # the backward's weights
        naive_of(attention.attention_forward)(out, weights, q, k, v, scale, self.causal)
        size = (
            Msg("{label}: q, k, v {shape}, causal", label=Msg(self.label), shape=q.shape)
            if self.causal
            else Msg("{label}: q, k, v {shape}", label=Msg(self.label), shape=q.shape)
        )
        # (t, s) pairs the forward loops compute
        scores = N * (T * (T + 1) // 2 if self.causal else T * T)
        return [
            Case(
                "attention_forward",
                size,
                attention.attention_forward,
                (np.empty_like(out), np.empty_like(weights), q, k, v, scale, self.causal),
                (0, 1),
                2 * scores * 2 * D,
                N,
            ),
            Case(
                "attention_backward",
                size,
                attention.attention_backward,
                (
                    np.empty_like(q),
                    np.empty_like(k),
                    np.empty_like(v),
                    _rand(rng, out.shape),
                    weights,
                    q,
                    k,
                    v,
                    scale,
                ),
                (0, 1, 2),
                2 * N * T * T * 4 * D,
                N,
            ),
        ]


SIZES = {
    "lesson": (
        ConvSize(N_("conv2 of the MNIST CNN, batch 32"), N=32, H=14, W=14, C=32, K=64, R=3),
        PoolSize(N_("pool1 of the MNIST CNN, batch 32"), N=32, H=28, W=28, C=32),
        DenseSize(N_("dense1 of the MNIST CNN, batch 32"), N=32, D=3136, M=1024),
        LSTMSize(N_("the LSTM language model at PTB sizes"), N=20, T=35, D=100, H=100),
        AttentionSize(N_("one head, batch 32, 128 tokens, d 64"), N=32, T=128, D=64),
    ),
    "small": (
        ConvSize("small", N=4, H=10, W=10, C=8, K=16, R=3),
        PoolSize("small", N=4, H=10, W=10, C=8),
        DenseSize("small", N=8, D=96, M=64),
        LSTMSize("small", N=4, T=6, D=16, H=16),
        AttentionSize("small", N=4, T=24, D=16),
    ),
}


def cases(sizes, seed: int = 0) -> list[Case]:
    rng = np.random.default_rng(seed)
    return [case for size in sizes for case in size.cases(rng)]


# -- calling the three implementations --------------------------------------------------------


def fast_call(case: Case, args: tuple) -> Callable[[], None]:
    """The fast kernel as the layers call it: where it writes its gradients in per-part
    buffers (``registry.PARTS_ARGS``), into such buffers, then added up by ``sum_parts``."""
    fast, positions = case.fast, registry.PARTS_ARGS.get(case.kernel, ())
    if not positions:
        return lambda: fast(*args)
    parts = min(case.batch, GRADIENT_PARTS)
    full = [args[i] for i in positions]
    buffers = [np.empty((parts,) + a.shape, a.dtype) for a in full]
    call_args = list(args)
    for i, buf in zip(positions, buffers):
        call_args[i] = buf

    def call():
        fast(*call_args)
        for total, buf in zip(full, buffers):
            sum_parts(total.reshape(-1), buf.reshape(parts, -1))

    return call


# -- the check: C against Numba ---------------------------------------------------------------


@dataclass
class Agreement:
    same_bits: bool
    ulps: float  # the largest difference, in float32 eps times the output's largest |value|
    output: str  # the output where it is largest, e.g. "dw (argument 2)"

    def describe(self) -> str:
        return _("same bits") if self.same_bits else f"{self.ulps:.2g} ulp"


def check(case: Case, twins: Twins) -> Agreement:
    """Run the Numba naive kernel and the C twin on the case's inputs; TwinMismatch unless they agree."""
    ours = _fresh(case.args, case.outputs, fill=True)
    theirs = _fresh(case.args, case.outputs, fill=True)
    case.naive(*ours)
    twins(case.name, *theirs)
    names = case.naive.py_func.__code__.co_varnames
    worst = Agreement(True, 0.0, "")
    for i in case.outputs:
        a, b = ours[i], theirs[i]
        if a.tobytes() == b.tobytes():
            continue
        label = f"{names[i]} (argument {i + 1})"
        exact = a.dtype.kind != "f"  # whole numbers (maxpool's arg) must be equal
        apart = (a != b) if exact else (np.isnan(a) != np.isnan(b))
        if apart.any():
            at = np.flatnonzero(apart)
            raise TwinMismatch(
                f"{case.name}: the C twin's {label} differs from the Numba kernel's at {at.size} "
                f"of {a.size} places, first at flat index {at[0]}: Numba {a.reshape(-1)[at[:3]]}, "
                f"C {b.reshape(-1)[at[:3]]}"
            )
        scale = float(np.nanmax(np.abs(a), initial=0.0)) or 1.0
        diff = np.nan_to_num(np.abs(a.astype(np.float64) - b), nan=0.0)
        ulps = float(diff.max()) / (EPS32 * scale)
        if ulps > TOLERANCE:
            at = np.unravel_index(int(diff.argmax()), a.shape)
            raise TwinMismatch(
                f"{case.name}: the C twin's {label} differs from the Numba kernel's by "
                f"{ulps:.3g} ulp of its largest value {scale:.4g} (allowed: {TOLERANCE}); "
                f"at {tuple(int(j) for j in at)}: Numba {a[at]!r}, C {b[at]!r}"
            )
        if worst.same_bits or ulps > worst.ulps:
            worst = Agreement(False, ulps, label)
    return worst


# -- timing --------------------------------------------------------------------------------------


@dataclass
class Result:
    case: Case
    agreement: Agreement | None  # None without C
    # threads -> implementation -> Timing
    timings: dict[int, dict[str, Timing]] = field(default_factory=dict)

    def gflops(self, threads: int, name: str) -> float | None:
        if self.case.flops is None:
            return None
        return self.case.flops / self.timings[threads][name].median / 1e9

    def speed_vs_c(self, threads: int, name: str) -> float | None:
        """C's median time over the implementation's: above 1, faster than C."""
        t = self.timings[threads]
        return t[C].median / t[name].median if C in t else None


def implementations(case: Case, twins: Twins | None) -> dict[str, Callable[[], object]]:
    """The calls to time, each on its own output arrays and the shared inputs."""
    naive, naive_args = case.naive, _fresh(case.args, case.outputs)
    fns = {NAIVE: lambda: naive(*naive_args)}
    if case.has_fast:
        fns[FAST] = fast_call(case, _fresh(case.args, case.outputs))
    if twins is not None:
        fns[C] = twins.bind(case.name, *_fresh(case.args, case.outputs))
    return fns


def thread_counts() -> tuple[int, ...]:
    """One thread, and all of Numba's threads (once, on a one-core machine)."""
    most = numba.config.NUMBA_NUM_THREADS
    return (1,) if most == 1 else (1, most)


def run(
    size_table, rounds: int, min_round: float, twins: Twins | None, seed: int = 0
) -> Iterator[Result]:
    """Check each case's C twin against its Numba kernel, then time the implementations
    on each thread count in alternating rounds."""
    before = numba.get_num_threads()
    try:
        for case in cases(size_table, seed):
            result = Result(case, check(case, twins) if twins is not None else None)
            fns = implementations(case, twins)
            for n in thread_counts():
                numba.set_num_threads(n)
                if twins is not None:
                    twins.set_threads(n)
                result.timings[n] = measure(fns, rounds, min_round)
            yield result
    finally:
        numba.set_num_threads(before)


# -- the machine ---------------------------------------------------------------------------------


def cpu_name() -> str:
    """The CPU's model name as the system gives it (Linux: /proc/cpuinfo), with LLVM's name for it."""
    name = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware")):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    try:
        import llvmlite.binding as llvm

        return f"{name} (LLVM: {llvm.get_host_cpu_name()})"
    except Exception:  # noqa: BLE001 - the name alone is enough
        return name


def vector_features() -> str:
    """The SIMD extensions the CPU reports that decide vector width (Linux; else empty)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(
                (line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []
            )
    except OSError:
        return ""
    return " ".join(f for f in ("avx512f", "avx2", "fma", "asimd", "sve") if f in flags)


def cores() -> int:
    return (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
