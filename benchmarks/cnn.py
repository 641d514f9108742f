"""The lesson's MNIST CNN: nbengine against NumPy (im2col, as the textbook writes it) and PyTorch.

What is timed. For each batch size, two cases: a training step (forward, loss,
backward and the SGD update, dropout on) and inference (class probabilities,
dropout off). Every implementation starts from the same weights (an nbengine
CNN's, copied and converted to each one's layout) and runs on its own copy of
the same real digits from the shipped ``mnist_5k``, cycling through a few
batches as training does. Throughput is images per second; the ratio against a
reference is the reference's median time over the implementation's, so above 1
is faster.

FLOPs. Only the multiply-adds of the convolutions and dense layers are counted,
two FLOPs each (ReLU, pooling, softmax and the update are memory traffic, not
arithmetic). Per image, forward: conv1 28·28·32·9 = 225,792 multiply-adds,
conv2 14·14·64·288 = 3,612,672, dense1 3136·1024 = 3,211,264, dense2 1024·10 =
10,240; 7,059,968 in all, 14.1 MFLOP. A training step adds the two backward
products of each layer (dL/dw and dL/dx, each as large as the forward one) except
conv1's dL/dx, which nothing needs: 2·(3·7,059,968 − 225,792) = 41,908,224, about
41.9 MFLOP per image.

Threads: the fight, and what this benchmark does about it.

Three thread pools can live in this process: Numba's (nbengine's ``prange``
loops, on the ``omp`` threading layer), OpenBLAS's (NumPy's matrix products in
the im2col reference) and PyTorch's (OpenMP, with MKL and oneDNN on it). On a
2-core machine each wants both cores. nbengine's kernels make no BLAS calls, so
during a step of one implementation only its own pool works; the fight is about
what idle pools do afterwards, and about one setting they share.

Measured here (2-core AMD EPYC, numba 0.68.1, NumPy 2.4 with OpenBLAS 0.3.31,
torch 2.13, a training step at batch 32; ``nbengine bench cnn --interference``
prints these tables, ``spin_tail`` and ``cross_penalty`` measure them):

- After a NumPy step OpenBLAS's worker threads keep spinning for 100–110 ms (its
  default THREAD_TIMEOUT, 2^28 cycles), burning about one core while nothing is
  computed. Whatever runs next shares the cores with them: an nbengine step took
  1.7–2.0× its time alone (once 5×), a PyTorch step 1.8–2.2×. The other way
  round NumPy lost at most 1.1×. ``OPENBLAS_THREAD_TIMEOUT=4`` (set before NumPy
  loads) removes the tail and all of these penalties (every ratio within
  0.92–1.04) without slowing NumPy's step; ``OPENBLAS_NUM_THREADS=1`` removes it
  by taking a core from NumPy.
- Numba and PyTorch share one OpenMP runtime: PyTorch ships its own libgomp and
  Numba's omp layer links the system's, but the dynamic linker binds both to
  whichever was loaded first (seen with ``LD_DEBUG=bindings``). That libgomp
  reads OMP_WAIT_POLICY once, when it loads, so both get the same policy.
- Importing nbengine sets OMP_WAIT_POLICY=PASSIVE unless the user set it (it
  protects training on a busy machine). Under PASSIVE a PyTorch step alone took
  11.8–12.0 ms against 9.9–10.1 ms with libgomp's default (spin about 10 ms,
  then sleep): 18 % slower. nbengine's step was the same under both within the
  noise (16.1–17.3 ms against 16.7–18.0 ms at batch 32, 58–60 ms against
  60–61 ms at 128). libgomp's default leaves a tail of about 10 ms of spinning
  after a Numba or PyTorch step, which cost the next step nothing measurable.
  ``OMP_WAIT_POLICY=ACTIVE`` (spin without end) fought OpenBLAS at every switch:
  steps 3–10× slower.

What this benchmark does, so each side gets the machine as it would alone (the
functions named here live in ``benchmarks/threads.py``, shared with the
recurrent language models' benchmark, and are importable from this module too):

- Between two timed rounds of ``measure`` it runs an untimed idle round
  (``settle``): the main thread sleeps until the process uses less than 5 % of
  a core, so a round never starts while the previous one's threads still spin.
  Its rounds are dropped from the results. This works whatever the environment
  and costs about ``min_round`` of wall time per round. ``idle_rounds=False``
  (``--no-idle``) shows what the figures would be without it: with rounds of
  0.05 s PyTorch's training step measured 22.3–22.6 ms without against 9.7 ms
  with, nbengine's 23.6–26.9 against 16.0–16.9, NumPy's 41–44 against 34; with
  the default 0.3 s rounds the difference was within the run-to-run noise.
- ``start_thread_pools`` starts the OpenMP runtime with libgomp's default
  policy, setting aside the PASSIVE that importing nbengine chose (os.environ
  is restored afterwards); a policy the user set is kept, and so is the
  process's own with ``libgomp_default=False`` (``--keep-wait-policy``).
- Every implementation gets the same number of threads: Numba's thread count
  (``NUMBA_NUM_THREADS``, by default the number of cores); PyTorch gets it with
  ``torch.set_num_threads`` and OpenBLAS with ``openblas_set_num_threads``
  (through ctypes, restored afterwards).
- ``thread_setup()`` reports the threading layer, thread counts, BLAS, the wait
  policy in force and the environment, as found.

Start-up. ``startup()`` runs ``nbengine train cnn --epochs 1 --json`` as a new
process and times until the first ``{"event": "step"}`` line: cold with an empty
``NUMBA_CACHE_DIR`` (every kernel compiled), then warm with the same folder
(every kernel loaded from the cache).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from benchmarks import cnn_torch
from benchmarks.threads import (
    blas_threads,
    cross_penalty,
    spin_tail,
    start_thread_pools,
    with_idle_rounds,
)
from benchmarks.timing import Rates, Timing, measure
from nbengine.data.images import DEFAULT, load_images
from nbengine.errors import NBEngineError
from nbengine.i18n import N_, Msg
from tests.reference.cnn_numpy import CLASSES, CONV, HIDDEN, IMAGE, NumpyCNN, geometry

NBENGINE = "nbengine"
NUMPY = N_("NumPy, im2col (textbook)")  # names are JSON values; the tables show them translated
TORCH = "PyTorch"
LR = 0.01
BATCHES_CYCLED = 4  # distinct batches each implementation cycles through
MODES = ("train", "infer")

# -- FLOPs -------------------------------------------------------------------------------


def multiply_adds() -> dict[str, int]:
    """Multiply-adds of one image's forward pass, per conv and dense layer."""
    g = geometry()
    macs = {}
    c = IMAGE[2]
    for name, k, _, out in CONV:
        h, w, _ = g[name]
        macs[name] = h * w * out * k * k * c
        c = out
    h, w, c = g["pool2"]
    macs["dense1"] = h * w * c * HIDDEN
    macs["dense2"] = HIDDEN * CLASSES
    return macs


def flops_per_image(mode: str) -> int:
    """FLOPs per image: 2 per multiply-add; training adds dL/dw and dL/dx of every layer but conv1's dL/dx."""
    macs = multiply_adds()
    if mode == "infer":
        return 2 * sum(macs.values())
    if mode == "train":
        return 2 * (3 * sum(macs.values()) - macs["conv1"])
    raise ValueError(f"mode must be 'train' or 'infer', not {mode!r}")


@dataclass(frozen=True)
class Case:
    mode: str  # "train" or "infer"
    batch: int

    @property
    def name(self) -> str:
        if self.mode == "train":
            return Msg("training step, batch of {batch}", batch=self.batch)
        return Msg("inference, batch of {batch}", batch=self.batch)

    @property
    def flops(self) -> int:
        return flops_per_image(self.mode) * self.batch


# -- data --------------------------------------------------------------------------------


def digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """n real digits drawn from the shipped mnist_5k (pixels / 255, NHWC float32), their
    labels, and the data set's name."""
    images = load_images(DEFAULT)
    # sorted by label
    rows = np.random.default_rng(seed).choice(len(images), size=n, replace=n > len(images))
    chosen = images.subset(rows)
    return chosen.as_float(), chosen.labels, DEFAULT


# -- the implementations -------------------------------------------------------------------


def start_params(seed: int = 0) -> dict[str, np.ndarray]:
    """The shared starting weights: a new nbengine CNN's."""
    from nbengine.models.cnn import CNN

    return {k: v.copy() for k, v in CNN(seed=seed, dtype=np.float32).params.items()}


def _cycle(x: np.ndarray, y: np.ndarray, batch: int):
    """A function returning the next of the batches x and y hold, in turn, at each call."""
    return itertools.cycle(
        [
            (np.ascontiguousarray(x[i * batch : (i + 1) * batch]), y[i * batch : (i + 1) * batch])
            for i in range(len(x) // batch)
        ]
    ).__next__


def implementations(
    case: Case,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    use_nbengine: bool = True,
    use_torch: bool = True,
    threads: int | None = None,
    seed: int = 0,
) -> dict[str, Callable[[], object]]:
    """One call = one training step or one inference batch, per implementation, each on its own weights."""
    import numba

    threads = threads or numba.get_num_threads()
    train = case.mode == "train"
    fns: dict[str, Callable[[], object]] = {}

    if use_nbengine:
        from nbengine.models.cnn import CNN
        from nbengine.optim import SGD

        model = CNN(seed=seed, dtype=np.float32)
        for k, v in params.items():
            model.params[k][...] = v
        sgd = SGD(model.params, model.grads, lr=LR)
        batch_nb = _cycle(x, y, case.batch)

        def nbengine_train():
            xb, yb = batch_nb()
            model.loss_and_backward(xb, yb)
            sgd.step()

        fns[NBENGINE] = nbengine_train if train else (lambda: model.predict_proba(batch_nb()[0]))

    reference = NumpyCNN(params, lr=LR, seed=seed)
    batch_np = _cycle(x, y, case.batch)
    fns[NUMPY] = (
        (lambda: reference.train_step(*batch_np()))
        if train
        else (lambda: reference.predict_proba(batch_np()[0]))
    )

    if use_torch:
        other = cnn_torch.TorchCNN(params, lr=LR, threads=threads, seed=seed)
        batch_t = _cycle(x, y, case.batch)
        fns[TORCH] = (
            (lambda: other.train_step(*batch_t()))
            if train
            else (lambda: other.predict_proba(batch_t()[0]))
        )
    return fns


@dataclass
class Result(Rates):
    case: Case
    timings: dict[str, Timing]  # seconds per call (one batch)

    def images_per_s(self, name: str) -> float:
        return self.case.batch / self.timings[name].median


def run(
    batch_sizes=(32, 128),
    rounds: int = 5,
    min_round: float = 0.3,
    use_torch: bool | None = None,
    use_nbengine: bool = True,
    modes=MODES,
    seed: int = 0,
    idle_rounds: bool = True,
    libgomp_default: bool = True,
) -> Iterator[Result]:
    """Yield a Result per case: every implementation timed with ``measure`` in alternating
    rounds in this process, separated by idle rounds unless ``idle_rounds`` is False.
    ``libgomp_default``: see ``start_thread_pools``, and the module's docstring."""
    import numba

    use_torch = cnn_torch.available() if use_torch is None else use_torch
    start_thread_pools(use_torch, libgomp_default)
    threads = numba.get_num_threads()
    params = start_params(seed)
    x_all, y_all, _ = digits(BATCHES_CYCLED * max(batch_sizes), seed)
    with blas_threads(threads):
        for batch in batch_sizes:
            for mode in modes:
                case = Case(mode, batch)
                n = BATCHES_CYCLED * batch
                fns = implementations(
                    case,
                    params,
                    x_all[:n],
                    y_all[:n],
                    use_nbengine=use_nbengine,
                    use_torch=use_torch,
                    threads=threads,
                    seed=seed,
                )
                timings = measure(with_idle_rounds(fns) if idle_rounds else fns, rounds, min_round)
                yield Result(case, {k: t for k, t in timings.items() if k in fns})


@dataclass
class Interference:
    """What each implementation's thread pool does to the others (see the module's docstring)."""

    case: Case
    # cores busy in each slice after one call, while the caller sleeps
    tails: dict[str, list[float]]
    slice_s: float
    # (timed, run just before) -> seconds; (a, a) = after an idle pause
    penalty: dict[tuple[str, str], float]

    def quiet_after(self, name: str, threshold: float = 0.05) -> float:
        """Seconds until the process stays below ``threshold`` cores after a call of ``name``."""
        busy = [i for i, v in enumerate(self.tails[name]) if v >= threshold]
        return (busy[-1] + 1) * self.slice_s if busy else 0.0


def interference(
    batch: int = 32,
    repeats: int = 7,
    slices: int = 25,
    slice_s: float = 0.01,
    use_torch: bool | None = None,
    use_nbengine: bool = True,
    seed: int = 0,
    libgomp_default: bool = True,
) -> Interference:
    """Measure the thread fight for training steps of ``batch``: the idle tail of each
    implementation's pool, and each one's step alone versus right after another's."""
    import numba

    use_torch = cnn_torch.available() if use_torch is None else use_torch
    start_thread_pools(use_torch, libgomp_default)
    case = Case("train", batch)
    x, y, _ = digits(BATCHES_CYCLED * batch, seed)
    with blas_threads(numba.get_num_threads()):
        fns = implementations(
            case,
            start_params(seed),
            x,
            y,
            use_nbengine=use_nbengine,
            use_torch=use_torch,
            seed=seed,
        )
        for fn in fns.values():  # compile and warm up
            fn()
            fn()
        tails = {name: spin_tail(fn, slices, slice_s) for name, fn in fns.items()}
        penalty = cross_penalty(fns, repeats)
    return Interference(case, tails, slice_s, penalty)


# -- start-up ------------------------------------------------------------------------------


class StartupError(NBEngineError):
    """The training command did not reach its first step."""

    exit_code = 1


def _first_step(cmd: list[str], env: dict[str, str], timeout: float) -> float:
    """Seconds from starting cmd until it writes a JSON line with "event": "step"; then it is killed."""
    lines: queue.Queue = queue.Queue()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        bufsize=1,
    )
    err: list[str] = []
    threading.Thread(
        target=lambda: [lines.put(line) for line in proc.stdout] + [lines.put(None)], daemon=True
    ).start()
    threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
    try:
        while True:
            left = timeout - (time.perf_counter() - t0)
            try:
                line = lines.get(timeout=max(left, 0))
            except queue.Empty:
                raise StartupError(
                    Msg(
                        "{command}: no step within {seconds} s",
                        command=" ".join(cmd),
                        seconds=format(timeout, "g"),
                    )
                ) from None
            if line is None:
                proc.wait()
                tail = "".join(err[-3:]).strip()
                exited = Msg(
                    "{command} exited with code {code} before its first step",
                    command=" ".join(cmd),
                    code=proc.returncode,
                )
                raise StartupError(
                    Msg("{where}: {problem}", where=exited, problem=tail) if tail else exited
                )
            with contextlib.suppress(ValueError):
                if json.loads(line).get("event") == "step":
                    return time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def startup_command() -> list[str]:
    return [sys.executable, "-m", "nbengine_cli.main", "train", "cnn", "--epochs", "1", "--json"]


def startup(timeout: float = 900.0, cache_dir: str | None = None) -> dict[str, float | str]:
    """Seconds from process start to the first training step: cold (empty Numba cache) and warm.

    The cache folder is a new temporary one unless ``cache_dir`` is given (it
    should then be empty for a cold start); a temporary one is removed after.
    """
    cmd = startup_command()
    with contextlib.ExitStack() as stack:
        if cache_dir is None:
            cache_dir = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="nbengine-numba-cache-")
            )
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "PYTHONUNBUFFERED": "1"}
        cold = _first_step(cmd, env, timeout)
        warm = _first_step(cmd, env, timeout)
    return {"command": " ".join(["nbengine", *cmd[3:]]), "cold_s": cold, "warm_s": warm}
