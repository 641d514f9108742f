"""Scaled dot-product attention: nbengine's kernels against NumPy (einsum) and PyTorch.

# N = batch, T = query positions, S = key positions (S = T here), D = d_k, E = value size (E = D here)

What is timed. One forward and backward pass of scaled dot-product attention,
out = softmax(q·kᵀ/√d_k)·v, then dq, dk and dv from a given dout: what a
training step does in one attention head. Each size is timed without and with
the causal mask. Two sizes:

- **(32, 128, 64)**: batch 32, sequence 128, d_k = d_v = 64, one head;
- **toy**: the self-attention lesson's "I am good" (batch 1, 3 tokens) with its
  d_k = 64 (the d_k of its worked scores 110, 90, 80; ``nbengine trace attention
  --example``), where fixed per-call costs decide.

Implementations, on the same inputs (float32, seeded, each its own copy):

- **nbengine**: ``attention_forward`` and ``attention_backward``
  (``nbengine/kernels/attention.py``) into arrays allocated once, as a layer would;
- **NumPy (einsum)**: ``tests/reference/attention_numpy.py``, the whole-array
  reference the kernel tests compare against; its backward uses the forward's
  weights, as nbengine's does;
- **PyTorch**, when installed, two ways (``benchmarks/attention_torch.py``):
  autograd over ``q @ kᵀ``, softmax, ``@ v`` ("matmul"), and
  ``F.scaled_dot_product_attention`` ("SDPA"). The "× PyTorch" ratio is against
  the faster of the two in that case, so it flatters nobody.

The ratio against a reference is the reference's median time over the
implementation's, so above 1 is faster.

FLOPs. The four matrix products of the dense formulation, two FLOPs per
multiply-add: forward q·kᵀ (N·T·S·D) and weights·v (N·T·S·E); backward dv,
dweights, dq and dk, as many again twice: 6·N·T·S·(D + E) FLOPs in all, 403
MFLOP at (32, 128, 64). The causal case is counted the same, although about
half of it is masked (nbengine skips the masked half; PyTorch's matmul
formulation computes it and throws it away), so its GFLOP/s is a speed measure,
not an arithmetic count.

Threads: the machinery of the CNN benchmark (``benchmarks/threads.py``,
measured in the docstring of ``benchmarks/cnn.py``): OpenMP starts with
libgomp's default wait policy unless the user chose one, every implementation
gets Numba's thread count (PyTorch through ``torch.set_num_threads``, OpenBLAS
through ``openblas_set_num_threads``), and an untimed idle round separates timed
rounds so no pool's spinning threads are timed in another's round.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks import attention_torch
from benchmarks.threads import blas_threads, start_thread_pools, with_idle_rounds
from benchmarks.timing import Rates, Timing, measure
from nbengine.i18n import N_
from tests.reference import attention_numpy

NBENGINE = "nbengine"
NUMPY = N_("NumPy (einsum)")  # names are JSON values; the tables show them translated
TORCH_MATMUL = "PyTorch, matmul"
TORCH_SDPA = "PyTorch, SDPA"
TORCH = "PyTorch"  # as a reference: the faster of TORCH_MATMUL and TORCH_SDPA
TORCH_NAMES = {TORCH_MATMUL: "matmul", TORCH_SDPA: "sdpa"}


@dataclass(frozen=True)
class Size:
    name: str
    batch: int  # N
    time: int  # T = S
    d: int  # D = E

    def describe(self) -> str:
        return f"{self.name}: N {self.batch}, T {self.time}, d {self.d}"


SIZES = {
    "large": Size("large", batch=32, time=128, d=64),
    "toy": Size("toy", batch=1, time=3, d=64),  # "I am good", the lesson's d_k
}


def flops(size: Size) -> int:
    """FLOPs of forward and backward, dense: 2 per multiply-add, 2 products forward and 4 backward."""
    N, T, D = size.batch, size.time, size.d
    return 2 * 3 * N * T * T * (D + D)


@dataclass(frozen=True)
class Case:
    size: Size
    causal: bool

    @property
    def name(self) -> str:
        s = self.size
        label = ("toy " if s.name == "toy" else "") + f"({s.batch}, {s.time}, {s.d})"
        return label + (" causal" if self.causal else "")

    @property
    def flops(self) -> int:
        return flops(self.size)


def inputs(size: Size, seed: int = 0, dtype=np.float32) -> dict[str, np.ndarray]:
    """q, k, v and dout, seeded, standard normal, and the scale 1/√d_k."""
    rng = np.random.default_rng(seed)
    N, T, D = size.batch, size.time, size.d
    arrays = {
        name: rng.standard_normal((N, T, D)).astype(dtype) for name in ("q", "k", "v", "dout")
    }
    return {**arrays, "scale": 1.0 / math.sqrt(D)}


# -- the implementations -------------------------------------------------------------------


def nbengine_step(q, k, v, dout, scale, causal) -> Callable[[], tuple[np.ndarray, ...]]:
    """A function running attention_forward and attention_backward into arrays allocated once."""
    from nbengine.kernels.attention import attention_backward, attention_forward
    from nbengine.kernels.registry import kernel

    # naive or fast, as chosen
    forward, backward = kernel(attention_forward), kernel(attention_backward)
    q, k, v, dout = (a.copy() for a in (q, k, v, dout))
    N, T, _ = q.shape
    S, E = v.shape[1], v.shape[2]
    out, weights = np.empty((N, T, E), q.dtype), np.empty((N, T, S), q.dtype)
    dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)

    def step():
        forward(out, weights, q, k, v, scale, causal)
        backward(dq, dk, dv, dout, weights, q, k, v, scale)
        return out, dq, dk, dv

    return step


def numpy_step(q, k, v, dout, scale, causal) -> Callable[[], tuple[np.ndarray, ...]]:
    """A function running the einsum reference's forward, then its backward from the forward's weights."""
    q, k, v, dout = (a.copy() for a in (q, k, v, dout))

    def step():
        out, weights = attention_numpy.attention_ref(q, k, v, scale, causal)
        return (
            out,
            *attention_numpy.attention_ref_backward(dout, q, k, v, scale, causal, weights=weights),
        )

    return step


def implementations(
    case: Case,
    data: Mapping[str, object],
    *,
    use_nbengine: bool = True,
    use_torch: bool = True,
    threads: int | None = None,
) -> dict[str, Callable[[], tuple[np.ndarray, ...]]]:
    """One call = forward and backward, per implementation; each returns (out, dq, dk, dv)."""
    args = (data["q"], data["k"], data["v"], data["dout"], data["scale"], case.causal)
    fns: dict[str, Callable[[], tuple[np.ndarray, ...]]] = {}
    if use_nbengine:
        fns[NBENGINE] = nbengine_step(*args)
    fns[NUMPY] = numpy_step(*args)
    if use_torch:
        for name, formulation in TORCH_NAMES.items():
            fns[name] = attention_torch.TorchAttention(
                *args, formulation=formulation, threads=threads
            ).step
    return fns


@dataclass
class Result(Rates):
    case: Case
    timings: dict[str, Timing]  # seconds per call (forward and backward)

    def reference_median(self, reference: str) -> float | None:
        """The reference's median seconds; for TORCH, the faster PyTorch formulation's (None if not measured)."""
        if reference == TORCH:
            medians = [self.timings[n].median for n in TORCH_NAMES if n in self.timings]
            return min(medians) if medians else None
        return super().reference_median(reference)


def cases(sizes: Sequence[str], size_table: Mapping[str, Size] = SIZES) -> list[Case]:
    return [Case(size_table[name], causal) for name in sizes for causal in (False, True)]


def run(
    sizes: Sequence[str] = ("large", "toy"),
    rounds: int = 5,
    min_round: float = 0.3,
    use_torch: bool | None = None,
    use_nbengine: bool = True,
    seed: int = 0,
    idle_rounds: bool = True,
    libgomp_default: bool = True,
    size_table: Mapping[str, Size] = SIZES,
) -> Iterator[Result]:
    """Yield a Result per (size, causal): every implementation timed with ``measure`` in
    alternating rounds in this process, separated by idle rounds unless ``idle_rounds`` is
    False. ``libgomp_default``: see ``threads.start_thread_pools``. ``size_table`` maps the
    names in ``sizes`` to sizes (tests pass tiny ones)."""
    import numba

    use_torch = attention_torch.available() if use_torch is None else use_torch
    start_thread_pools(use_torch, libgomp_default)
    threads = numba.get_num_threads()
    with blas_threads(threads):
        for case in cases(sizes, size_table):
            fns = implementations(
                case,
                inputs(case.size, seed),
                use_nbengine=use_nbengine,
                use_torch=use_torch,
                threads=threads,
            )
            timings = measure(with_idle_rounds(fns) if idle_rounds else fns, rounds, min_round)
            yield Result(case, {k: t for k, t in timings.items() if k in fns})
