"""The Transformer language model: nbengine against NumPy (an independent formulation) and PyTorch.

# N = batch, T = positions, V = vocabulary, D = model size, H = heads, F = feed-forward units, B = blocks

What is timed. One training step of the shipped ``TransformerLM`` as ``nbengine
train transformer`` runs it: forward through the blocks, softmax cross-entropy
averaged over the N·T tokens, the backward pass, clipping the gradients' global
norm to 1, and Adam (η 0.003). Two sizes:

- **default**: the model and batch ``train transformer`` uses on its default
  text, Shakespeare read by characters: N 32, T 64, V 80, D 64, H 4, B 2, F 256;
- **toy**: its settings on the lesson's sentence ("you say goodbye and i say
  hello .", 7 words): N 1, T 7, V 7, D 16, H 2, B 1, F 64, where fixed per-call
  costs decide.

The data are random token ids (seeded), consecutive batches cut from one stream
(``rnnlm.token_batches``); each implementation cycles through a few of them.

Implementations, from the same weights (a fresh nbengine model's, copied):

- **nbengine**: ``TransformerLM.loss_and_backward``, ``clip_global_norm``, ``Adam``;
- **NumPy**: ``NumpyTransformerLM`` (``tests/reference/transformer_numpy.py``),
  whole-array NumPy with nothing of nbengine's kernels; einsum attention;
- **PyTorch**, when installed (``benchmarks/transformer_torch.py``): nn.Linear,
  nn.LayerNorm, ``scaled_dot_product_attention`` (causal), autograd, torch.optim.Adam.

Before anything is timed every implementation's loss on the first batch is
computed from the shared weights and must agree with nbengine's (``check_losses``).

FLOPs. The matrix products only, two FLOPs per multiply-add. Per token and block,
forward: the four D×D projections (4·D²), attention's two products counted dense
although half is masked (2·T·D), the feed-forward network (2·D·F); then the
projection onto the vocabulary (D·V). A training step is 3× the forward. At the
default size: 119,808 multiply-adds a token, 1.47 GFLOP a step.

Threads: as every benchmark (``benchmarks/threads.py``): OpenMP starts with
libgomp's default wait policy unless the user chose one, every implementation gets
Numba's thread count, and an untimed idle round separates timed rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks import rnn_torch
from benchmarks.rnnlm import BATCHES_CYCLED, _cycle, token_batches
from benchmarks.threads import blas_threads, start_thread_pools, with_idle_rounds
from benchmarks.timing import Rates, Timing, measure
from nbengine.i18n import Msg
from tests.reference.transformer_numpy import NumpyTransformerLM

NBENGINE = "nbengine"
NUMPY = "NumPy"
TORCH = "PyTorch"
LR = 0.003  # train transformer's Adam rate on a text
MAX_NORM = 1.0  # its clip
# float32 losses of the same weights agree to about 1e-6; more means another computation
LOSS_RTOL = 1e-4


@dataclass(frozen=True)
class Size:
    name: str
    batch: int  # N
    time: int  # T (the model's context)
    vocab: int  # V
    size: int  # D
    heads: int  # H
    blocks: int  # B
    hidden: int  # F

    @property
    def tokens(self) -> int:
        return self.batch * self.time

    def describe(self) -> str:
        return (
            f"{self.name}: N {self.batch}, T {self.time}, V {self.vocab:,}, D {self.size}, H {self.heads}, "
            f"{self.blocks} block{'s' * (self.blocks > 1)}, F {self.hidden}"
        )


SIZES = {
    "default": Size("default", batch=32, time=64, vocab=80, size=64, heads=4, blocks=2, hidden=256),
    "toy": Size("toy", batch=1, time=7, vocab=7, size=16, heads=2, blocks=1, hidden=64),
}


def multiply_adds_per_token(size: Size) -> int:
    """The forward pass's multiply-adds per token: projections, attention (dense), feed-forward, vocabulary."""
    D, T, F = size.size, size.time, size.hidden
    return size.blocks * (4 * D * D + 2 * T * D + 2 * D * F) + D * size.vocab


def flops_per_step(size: Size) -> int:
    """2 FLOPs per multiply-add; forward and both backward products of each (3× forward)."""
    return 2 * 3 * multiply_adds_per_token(size) * size.tokens


@dataclass(frozen=True)
class Case:
    size: Size

    @property
    def name(self) -> str:
        s = self.size
        return f"{s.name} (N {s.batch}, T {s.time}, D {s.size}, B {s.blocks})"

    @property
    def flops(self) -> int:
        return flops_per_step(self.size)


def nbengine_model(size: Size, seed: int = 0, dtype=np.float32):
    from nbengine.models.transformer import TransformerLM

    return TransformerLM(
        size.vocab, size.size, size.heads, size.blocks, size.hidden, size.time, seed, dtype
    )


def start_params(size: Size, seed: int = 0) -> dict[str, np.ndarray]:
    """The shared starting weights: a fresh nbengine model's, copied."""
    return {k: v.copy() for k, v in nbengine_model(size, seed).params.items()}


class ImplementationsDisagree(ValueError):
    pass


def check_losses(losses: Mapping[str, float], rtol: float = LOSS_RTOL) -> None:
    """Raise ImplementationsDisagree unless every loss is within ``rtol`` of the first's."""
    (first, expected), *others = losses.items()
    wrong = {n: v for n, v in others if not abs(v - expected) <= rtol * abs(expected)}
    if wrong or not np.isfinite(expected):
        losses = ", ".join([f"{first} {expected:.7g}"] + [f"{n} {v:.7g}" for n, v in others])
        raise ImplementationsDisagree(
            Msg("the losses on the first batch differ: {losses}", losses=losses)
        )


def implementations(
    case: Case,
    params: Mapping[str, np.ndarray],
    batches: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    use_nbengine: bool = True,
    use_torch: bool = True,
    threads: int | None = None,
    seed: int = 0,
) -> tuple[dict[str, Callable[[], float]], dict[str, float]]:
    """One call = one training step per implementation, each on its own weights; and each one's
    loss on the first batch before any step (checked to agree)."""
    import numba

    threads = threads or numba.get_num_threads()
    size, (xs0, ts0) = case.size, batches[0]
    fns: dict[str, Callable[[], float]] = {}
    losses: dict[str, float] = {}

    if use_nbengine:
        from nbengine.optim import Adam, clip_global_norm

        model = nbengine_model(size, seed)
        for k, v in params.items():
            model.params[k][...] = v
        adam = Adam(model.params, model.grads, LR)
        batch_nb = _cycle(batches)
        losses[NBENGINE] = model.loss(xs0, ts0)

        def nbengine_step():
            xs, ts = batch_nb()
            loss = model.loss_and_backward(xs, ts)
            clip_global_norm(model.grads, MAX_NORM)
            adam.step()
            return loss

        fns[NBENGINE] = nbengine_step

    reference = NumpyTransformerLM(params, size.heads, size.blocks, lr=LR, max_norm=MAX_NORM)
    losses[NUMPY] = reference.loss(xs0, ts0)
    batch_np = _cycle(batches)
    fns[NUMPY] = lambda: reference.train_step(*batch_np())

    if use_torch:
        from benchmarks.transformer_torch import TorchTransformerLM

        other = TorchTransformerLM(
            params, size.heads, size.blocks, lr=LR, max_norm=MAX_NORM, threads=threads
        )
        losses[TORCH] = other.loss(xs0, ts0)
        batch_t = _cycle(batches)
        fns[TORCH] = lambda: other.train_step(*batch_t())
    check_losses(losses)
    return fns, losses


@dataclass
class Result(Rates):
    case: Case
    timings: dict[str, Timing]  # seconds per call (one training step)
    losses: dict[str, float]  # on the first batch, before any step

    def tokens_per_s(self, name: str) -> float:
        return self.case.size.tokens / self.timings[name].median


def run(
    sizes: Sequence[str] = ("default", "toy"),
    rounds: int = 5,
    min_round: float = 0.3,
    use_torch: bool | None = None,
    use_nbengine: bool = True,
    seed: int = 0,
    idle_rounds: bool = True,
    libgomp_default: bool = True,
    size_table: Mapping[str, Size] = SIZES,
) -> Iterator[Result]:
    """Yield a Result per size: every implementation timed with ``measure`` in alternating
    rounds in this process, separated by idle rounds unless ``idle_rounds`` is False.
    ``libgomp_default``: see ``threads.start_thread_pools``. ``size_table`` maps the names in
    ``sizes`` to sizes (tests pass tiny ones)."""
    import numba

    use_torch = rnn_torch.available() if use_torch is None else use_torch
    start_thread_pools(use_torch, libgomp_default)
    threads = numba.get_num_threads()
    with blas_threads(threads):
        for name in sizes:
            case = Case(size_table[name])
            fns, losses = implementations(
                case,
                start_params(case.size, seed),
                token_batches(case.size, BATCHES_CYCLED, seed),
                use_nbengine=use_nbengine,
                use_torch=use_torch,
                threads=threads,
                seed=seed,
            )
            timings = measure(with_idle_rounds(fns) if idle_rounds else fns, rounds, min_round)
            yield Result(case, {k: t for k, t in timings.items() if k in fns}, losses)
