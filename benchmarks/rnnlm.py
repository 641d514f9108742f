"""The recurrent language models: nbengine against NumPy (the textbook's time layers) and PyTorch.

# N = batch, T = time steps, V = vocabulary, D = embedding size, H = hidden size

What is timed. One training step of the language model, as the textbook's
training loop runs it: forward over T time steps, softmax cross-entropy,
backpropagation through time, clipping the gradients' global norm to 0.25, and
the SGD update; the hidden (and cell) state is carried to the next step. Two
sizes: the textbook's PTB language model (N 20, T 35, D = H = 100, V 10,000)
and a toy one, the settings of its first RNN LM training loop (N 10, T 5,
D = H = 100) with the 7 words of its "you say goodbye and i say hello." (V 7),
for the LSTM and the plain tanh RNN. The data are random token ids
(seeded), cut from one long stream into consecutive batches as the textbook's
training loop cuts a corpus; each implementation cycles through a few such
batches. Speed does not depend on what the tokens are.

Every implementation starts from the same weights (an nbengine model's, copied
and converted to each one's layout; the textbook's initialisation without
nbengine's model) and runs on its own copy of the same batches. The learning
rate is 0.1, the textbook's rate for its toy model (its PTB LSTM uses 20): a
benchmark runs thousands of steps on the same four batches, and at 20 the toy
LSTM had memorised them after 3,000 steps (loss 0.000, 24 % of its gate values
within 10⁻⁶ of 0 or 1) and the RNN had 95 % of its units saturated; at 0.1 the
weights stay near where training starts. Throughput is tokens (N·T) per
second; the ratio against a reference is the reference's median time over the
implementation's, so above 1 is faster.

FLOPs. Only the matrix products are counted, two FLOPs each multiply-add (the
element-wise gates, tanh, softmax and the update are memory traffic). Per token,
forward: the recurrent layer's input and recurrent products, (D + H)·G with
G = 4H for the LSTM and H for the RNN, and the vocabulary projection H·V. A
training step adds both backward products of each (dL/dW and dL/dinput, each as
large as the forward one): 3× the forward. At PTB sizes that is 1,080,000
multiply-adds per token for the LSTM, 4.54 GFLOP per step; the projection onto
the vocabulary is 93 % of it.

Threads: the same machinery as the CNN benchmark (``benchmarks/threads.py``;
what was measured is in the docstring of ``benchmarks/cnn.py``): OpenMP
starts with libgomp's default wait policy unless the user set one, every
implementation gets Numba's thread count (PyTorch through
``torch.set_num_threads``, OpenBLAS through ``openblas_set_num_threads``), and
an untimed idle round separates timed rounds so no pool's spinning threads are
timed in another's round.

Unlike the CNN's, nbengine's language-model step uses two pools itself: Numba's
loops for the recurrent layer and OpenBLAS for the projection onto the
vocabulary, alternating many times per step. No wait policy suits all three
here (2 cores, four runs each, ms per step at PTB / toy sizes):

- libgomp's default (this benchmark's, as for the CNN): nbengine 58–59 / 0.52–0.76,
  NumPy 51–58 / 0.84–0.86, PyTorch 37–48 / 0.73–0.97. Numba's workers spin
  after each loop while OpenBLAS's threads want the same cores.
- OMP_WAIT_POLICY=PASSIVE (nbengine's own; ``libgomp_default=False``,
  ``--keep-wait-policy``): nbengine 45–47 / 0.92–0.96, NumPy 52–54 / 0.84–0.86,
  PyTorch 53–60 / 2.9–3.0: every parallel loop wakes sleeping threads.

OPENBLAS_THREAD_TIMEOUT=4, which importing nbengine sets, acts only if nbengine
is imported before NumPy (the command line does so); with OpenBLAS's default
timeout nbengine's PTB step took 77–109 ms. benchmarks/README.md has the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks import rnn_torch
from benchmarks.threads import blas_threads, start_thread_pools, with_idle_rounds
from benchmarks.timing import Rates, Timing, measure
from nbengine.i18n import N_
from tests.reference.rnn_numpy import NumpyLSTMLM, NumpyRNNLM

NBENGINE = "nbengine"
NUMPY = N_("NumPy (textbook)")  # names are JSON values; the tables show them translated
TORCH = "PyTorch"
LR = 0.1
MAX_NORM = 0.25  # the textbook's max_grad for its PTB language model
BATCHES_CYCLED = 4  # distinct consecutive batches each implementation cycles through
KINDS = ("lstm", "rnn")
MODEL_NAMES = {"lstm": "LSTM", "rnn": "RNN"}


@dataclass(frozen=True)
class Size:
    name: str
    batch: int  # N
    time: int  # T
    vocab: int  # V
    embed: int  # D
    hidden: int  # H

    @property
    def tokens(self) -> int:
        return self.batch * self.time

    def describe(self) -> str:
        return f"{self.name}: N {self.batch}, T {self.time}, V {self.vocab:,}, D {self.embed}, H {self.hidden}"


SIZES = {
    "ptb": Size("ptb", batch=20, time=35, vocab=10_000, embed=100, hidden=100),
    "toy": Size("toy", batch=10, time=5, vocab=7, embed=100, hidden=100),
}


# -- FLOPs -------------------------------------------------------------------------------


def multiply_adds(kind: str, size: Size) -> dict[str, int]:
    """Multiply-adds of one token's forward pass: the recurrent layer's two products and the projection."""
    gates = {"lstm": 4, "rnn": 1}[kind] * size.hidden
    return {kind: (size.embed + size.hidden) * gates, "affine": size.hidden * size.vocab}


def flops_per_step(kind: str, size: Size) -> int:
    """FLOPs of one training step: 2 per multiply-add, forward and both backward products (3× forward)."""
    return 2 * 3 * sum(multiply_adds(kind, size).values()) * size.tokens


@dataclass(frozen=True)
class Case:
    kind: str  # "lstm" or "rnn"
    size: Size

    @property
    def name(self) -> str:
        s = self.size
        return f"{MODEL_NAMES[self.kind]}, {s.name} (N {s.batch}, T {s.time}, V {s.vocab:,})"

    @property
    def flops(self) -> int:
        return flops_per_step(self.kind, self.size)


# -- data --------------------------------------------------------------------------------


def token_batches(
    size: Size, n_batches: int = BATCHES_CYCLED, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """n_batches consecutive (xs, ts) pairs of int64 (N, T) from one random stream of token ids.

    As the textbook's training loop cuts a corpus: row n of every batch reads
    the stream from its own offset n·(length // N) onwards, batch after batch,
    so the state carried from one batch to the next belongs to the same text;
    ts is xs one token later.
    """
    rng = np.random.default_rng(seed)
    N, T = size.batch, size.time
    length = N * T * n_batches + 1
    corpus = rng.integers(0, size.vocab, length)
    jump = (length - 1) // N
    offsets = np.arange(N) * jump
    batches = []
    for b in range(n_batches):
        positions = (offsets[:, None] + b * T + np.arange(T)[None, :]) % (length - 1)
        batches.append((corpus[positions].astype(np.int64), corpus[positions + 1].astype(np.int64)))
    return batches


def _cycle(
    batches: Sequence[tuple[np.ndarray, np.ndarray]],
) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """A function returning the next batch, in turn, at each call (its own copies)."""
    parts = [(xs.copy(), ts.copy()) for xs, ts in batches]
    state = {"i": -1}

    def nxt():
        state["i"] = (state["i"] + 1) % len(parts)
        return parts[state["i"]]

    return nxt


# -- the implementations -------------------------------------------------------------------


def nbengine_model(kind: str, size: Size, seed: int = 0, dtype=np.float32):
    from nbengine.models.rnnlm import LSTMLM, RNNLM

    cls = {"lstm": LSTMLM, "rnn": RNNLM}[kind]
    return cls(
        vocab_size=size.vocab,
        embed_size=size.embed,
        hidden_size=size.hidden,
        seed=seed,
        dtype=dtype,
    )


def start_params(kind: str, size: Size, seed: int = 0) -> dict[str, np.ndarray]:
    """The shared starting weights: a fresh nbengine model's, copied."""
    return {k: v.copy() for k, v in nbengine_model(kind, size, seed).params.items()}


def implementations(
    case: Case,
    params: Mapping[str, np.ndarray],
    batches: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    use_nbengine: bool = True,
    use_torch: bool = True,
    threads: int | None = None,
    seed: int = 0,
) -> dict[str, Callable[[], object]]:
    """One call = one training step (forward, BPTT, clip, SGD) per implementation, each on its own weights."""
    import numba

    threads = threads or numba.get_num_threads()
    fns: dict[str, Callable[[], object]] = {}

    if use_nbengine:
        from nbengine.optim import SGD, clip_global_norm

        model = nbengine_model(case.kind, case.size, seed)
        for k, v in params.items():
            model.params[k][...] = v
        sgd = SGD(model.params, model.grads, lr=LR)
        batch_nb = _cycle(batches)

        def nbengine_step():
            xs, ts = batch_nb()
            loss = model.loss_and_backward(xs, ts)
            clip_global_norm(model.grads, MAX_NORM)
            sgd.step()
            return loss

        fns[NBENGINE] = nbengine_step

    reference_cls = {"lstm": NumpyLSTMLM, "rnn": NumpyRNNLM}[case.kind]
    reference = reference_cls(params, lr=LR, max_norm=MAX_NORM)
    batch_np = _cycle(batches)
    fns[NUMPY] = lambda: reference.train_step(*batch_np())

    if use_torch:
        torch_cls = {"lstm": rnn_torch.TorchLSTMLM, "rnn": rnn_torch.TorchRNNLM}[case.kind]
        other = torch_cls(params, lr=LR, max_norm=MAX_NORM, threads=threads, seed=seed)
        batch_t = _cycle(batches)
        fns[TORCH] = lambda: other.train_step(*batch_t())
    return fns


@dataclass
class Result(Rates):
    case: Case
    timings: dict[str, Timing]  # seconds per call (one training step)

    def tokens_per_s(self, name: str) -> float:
        return self.case.size.tokens / self.timings[name].median


def run(
    kinds: Sequence[str] = ("lstm",),
    sizes: Sequence[str] = ("ptb", "toy"),
    rounds: int = 5,
    min_round: float = 0.3,
    use_torch: bool | None = None,
    use_nbengine: bool = True,
    seed: int = 0,
    idle_rounds: bool = True,
    libgomp_default: bool = True,
    size_table: Mapping[str, Size] = SIZES,
) -> Iterator[Result]:
    """Yield a Result per (model, size): every implementation timed with ``measure`` in
    alternating rounds in this process, separated by idle rounds unless ``idle_rounds``
    is False. ``libgomp_default``: see ``threads.start_thread_pools``. ``size_table``
    maps the names in ``sizes`` to sizes (tests pass tiny ones)."""
    import numba

    use_torch = rnn_torch.available() if use_torch is None else use_torch
    start_thread_pools(use_torch, libgomp_default)
    threads = numba.get_num_threads()
    with blas_threads(threads):
        for kind in kinds:
            for size_name in sizes:
                case = Case(kind, size_table[size_name])
                fns = implementations(
                    case,
                    start_params(kind, case.size, seed),
                    token_batches(case.size, BATCHES_CYCLED, seed),
                    use_nbengine=use_nbengine,
                    use_torch=use_torch,
                    threads=threads,
                    seed=seed,
                )
                timings = measure(with_idle_rounds(fns) if idle_rounds else fns, rounds, min_round)
                yield Result(case, {k: t for k, t in timings.items() if k in fns})
