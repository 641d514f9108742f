"""`nbengine bench ...`: speed against a reference implementation, as ratios in one run."""

from __future__ import annotations

import os

import click
from rich.table import Table
from rich.text import Text

from nbengine.kernels import registry

from nbengine_cli.options import Float
from nbengine_cli.output import Output, json_options


def fmt_seconds(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def measure_machine(out: Output, use_torch: bool, libgomp_default: bool, thread_counts=None):
    """The CPU, its vector unit and its sgemm rate on each thread count (default: Numba's), measured
    now, just before the cases; stated as one fact and returned (a ``machine.Machine``). The
    thread pools are started first (asking Numba its thread count starts its pool), so the
    OpenMP wait policy is the benchmark's (see ``threads.start_thread_pools``)."""
    from nbengine.bench import machine, threads

    threads.start_thread_pools(use_torch, libgomp_default)
    out.status("measuring the sgemm rate (NumPy float32 matrix product) ...")
    m = machine.machine(thread_counts)
    out.fact("machine", machine_lines(m), **m.fields())
    return m


def machine_lines(m) -> list[str]:
    rates = ", ".join(f"{g:.1f} GFLOP/s on {n} thread{'s' * (n > 1)}" for n, g in m.sgemm_by_threads.items())
    return [f"CPU: {m.cpu}, {m.cores} cores; {m.vector_features or 'no vector extensions found'}; kernels compiled "
            f"for {m.vector_bits}-bit vectors, {m.registers} registers",
            f"sgemm (NumPy float32 {m.sgemm_n}×{m.sgemm_n}), this run: {rates}; \"sgemm\" columns: "
            "each row's GFLOP/s as a share of it"]


def rate(m, gflops: float | None, threads: int | None = None) -> list[str]:
    """The two cells of a rate: GFLOP/s and its share of the sgemm rate ("58.1", "37%")."""
    if gflops is None:
        return ["", ""]
    share = m.share(gflops, threads)
    return [f"{gflops:.1f}" if gflops >= 1 else f"{gflops:.2f}", f"{share:.0%}" if share >= 0.01 else f"{share:.1%}"]


RATE = [("GFLOP/s", "right"), ("sgemm", "right")]


class CaseTables:
    """A benchmark's results: under a heading, one small table per case titled with the case's
    name (so it stays on one line), each row an implementation; a column is as wide in every
    table. Shown as one renderable."""

    def __init__(self, title: str, columns):
        self.title, self.columns, self.tables = title, list(columns), []

    def add_case(self, name: str) -> None:
        table = Table(title=name, title_justify="left", title_style="bold", pad_edge=False)
        table.add_column("implementation", justify="left")
        for col, just in self.columns:
            table.add_column(col, justify=just)
        self.tables.append(table)

    def add_row(self, *cells) -> None:
        self.tables[-1].add_row(*cells)

    def __rich_console__(self, console, options):
        from rich.cells import cell_len

        widths = [max([cell_len(str(t.columns[i].header)) for t in self.tables]
                      + [cell_len(str(c)) for t in self.tables for c in t.columns[i].cells])
                  for i in range(len(self.columns) + 1)]
        if sum(widths) + 3 * len(widths) - 1 <= options.max_width:  # else Rich fits each table on its own
            for t in self.tables:
                for column, width in zip(t.columns, widths):
                    column.min_width = width
        yield Text(self.title, style="bold")
        yield from self.tables


@click.command("logreg", short_help="A logistic-regression training step against NumPy.")
@click.option("--rounds", type=click.IntRange(min=1), default=7, show_default=True,
              help="Timed rounds per implementation (alternating); the median is reported.")
@click.option("--min-round", type=Float(min=0), default=0.05, show_default=True,
              help="Seconds a round lasts at least (calls are repeated to reach it).")
@json_options
def bench_logreg(rounds, min_round, json_mode, quiet):
    """Time one training step (forward, loss, backward, update) of logistic regression.

    Three implementations of the same step run in alternating rounds: NumPy's
    vectorised operations (the reference), nbengine's layer and optimizer as
    training uses them, and nbengine's kernels called directly. The ratio is the
    reference's median time divided by the implementation's: above 1 is faster.
    """
    import numba

    from nbengine.bench.logreg import REFERENCE, run, speedup

    out = Output(json_mode, quiet)
    out.status(f"Numba threads: {numba.get_num_threads()}; OMP_NUM_THREADS="
               f"{os.environ.get('OMP_NUM_THREADS', 'unset')}; {rounds} rounds of at least {min_round:g} s; "
               f"{registry.describe()}")
    m = measure_machine(out, False, False)
    table = CaseTables("logistic regression, one training step (float32)",
                       [("median", "right"), *RATE, ("× NumPy", "right")])
    row = out.gather(lambda cells: table.add_row(*cells))
    for case, timings in run(rounds, min_round):
        table.add_case(case.name)
        for name, t in timings.items():
            ratio = speedup(timings, name)
            gflops = case.flops / t.median / 1e9
            row([name, fmt_seconds(t.median), *rate(m, gflops),
                 f"{ratio:.2f}"],
                "bench", case=case.name, N=case.N, D=case.D, implementation=name,
                reference=name == REFERENCE, median_s=t.median, best_s=t.best, calls_per_round=t.calls,
                rounds=t.rounds, speedup=ratio, flops=case.flops, gflops=gflops, sgemm_share=m.share(gflops))
    out.show(table)


MAX_BATCH = 1024  # four batches come from the 5,000 shipped digits; at 1024 the run takes about 2 GB


def _batch_sizes(ctx, param, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of whole numbers") from None
    if not sizes or min(sizes) < 1 or max(sizes) > MAX_BATCH:
        raise click.BadParameter(f"{value!r}: give at least one batch size, each from 1 to {MAX_BATCH}")
    return sizes


def _ratio(r: float | None) -> str:
    return "" if r is None else f"{r:.2f}"


def show_results(out: Output, table: CaseTables, use_torch: bool) -> None:
    """The thread setup the timings ran under (a JSON line and four lines of text), then the table."""
    from nbengine.bench import threads

    setup = {**threads.thread_setup(torch_used=use_torch), "kernels": registry.current()}
    out.fact("setup", setup_lines(setup), **setup)
    out.show(table)


def setup_lines(setup: dict) -> list[str]:
    """The setup in four lines: what each pool runs on, which kernels, the OpenMP wait policy, the environment."""
    torch = (f"; PyTorch {setup['torch']} threads: {setup['torch_threads']}" if "torch" in setup else "")
    env = ", ".join(f"{k}={v if v is not None else 'unset'}" for k, v in setup["env"].items())
    return [
        f"{setup['cores']} cores; Numba {setup['numba']} threading layer {setup['numba_threading_layer']}, "
        f"threads: {setup['numba_threads']}; BLAS {setup['blas']} threads: {setup['blas_threads']}{torch}",
        f"nbengine's rows: the {setup['kernels']} kernels",
        f"OpenMP wait policy: {setup['omp_wait_policy']}",
        f"environment: {env}",
    ]


SLICES_SHOWN = 12


def show_interference(out: Output, found) -> None:
    """Two tables: each pool's idle tail, and each training step alone and right after another's."""
    names = list(found.tails)
    tails = Table(title=f"after one {found.case.name}: the process's CPU use while nothing runs",
                  title_justify="left")
    for col, just in (("implementation", "left"), ("busy until", "right"), ("CPU burnt idle", "right"),
                      (f"cores used in the first {SLICES_SHOWN} slices of {found.slice_s * 1e3:g} ms", "left")):
        tails.add_column(col, justify=just)
    tail_row = out.gather(lambda cells: tails.add_row(*cells))
    for name in names:
        tail = found.tails[name]
        burnt = sum(tail) * found.slice_s
        tail_row([name, fmt_seconds(found.quiet_after(name)) if found.quiet_after(name) else "0",
                  fmt_seconds(burnt) if burnt else "0", " ".join(f"{v:.1f}" for v in tail[:SLICES_SHOWN])],
                 "idle_tail", case=found.case.name, implementation=name, slice_s=found.slice_s, cores=tail,
                 quiet_after_s=found.quiet_after(name))
    out.show(tails)
    after = Table(title=f"one {found.case.name}, alone (after an idle pause) and right after another's",
                  title_justify="left")
    after.add_column("timed", justify="left")
    after.add_column("alone", justify="right")
    for other in names:
        after.add_column(f"after {other}", justify="right")
    for name in names:
        alone = found.penalty[(name, name)]
        row = [name, fmt_seconds(alone)]
        cell = out.gather(row.append)  # each cell of the row is one fact
        for other in names:
            t = found.penalty[(name, other)]
            cell("" if other == name else f"{fmt_seconds(t)} ({t / alone:.2f}×)",
                 "after", case=found.case.name, timed=name, after=other if other != name else None,
                 median_s=t, relative=t / alone)
        after.add_row(*row)
    out.show(after)


@click.command("cnn", short_help="The MNIST CNN against NumPy (im2col) and PyTorch.")
@click.option("--batch-sizes", default="32,128", show_default=True, callback=_batch_sizes, metavar="N,N,...",
              help=f"Batch sizes to time, comma-separated, each at most {MAX_BATCH}.")
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Timed rounds per implementation (alternating); the median is reported.")
@click.option("--min-round", type=Float(min=0), default=0.3, show_default=True,
              help="Seconds a round lasts at least (calls are repeated to reach it).")
@click.option("--no-torch", is_flag=True, help="Leave PyTorch out even if it is installed.")
@click.option("--startup", is_flag=True,
              help="Also time `nbengine train cnn` from start to its first step, with an empty "
                   "Numba cache (cold, tens of seconds) and a filled one (warm).")
@click.option("--interference", is_flag=True,
              help="Also measure the thread fight: how long each implementation's idle threads keep "
                   "spinning after a training step, and each step's time right after another's.")
@click.option("--no-idle", is_flag=True,
              help="Leave out the idle pause between rounds, to see what the thread fight does to the figures.")
@click.option("--keep-wait-policy", is_flag=True,
              help="Run OpenMP with OMP_WAIT_POLICY as this process has it (nbengine sets PASSIVE unless "
                   "you set it) instead of libgomp's default, which PyTorch runs best with.")
@json_options
def bench_cnn(batch_sizes, rounds, min_round, no_torch, startup, interference, no_idle, keep_wait_policy,
              json_mode, quiet):
    """Time the lesson's CNN: a training step and inference, in images per second.

    nbengine, the textbook's NumPy network (im2col and matrix products) and
    PyTorch (when installed) start from the same weights and run on the same
    digits, in alternating rounds in one process with an idle pause between
    rounds, so no implementation's idle threads spin while another is timed.
    GFLOP/s counts the multiply-adds of the convolutions and dense layers: 41.9
    MFLOP per image for a training step, 14.1 for inference. The ratios are the
    reference's median time over the implementation's: above 1 is faster.
    """
    from nbengine.bench import cnn, cnn_torch

    out = Output(json_mode, quiet)
    use_torch = not no_torch and cnn_torch.available()
    if not no_torch and not use_torch:
        out.status("PyTorch is not installed: timing without it")
    out.status(f"{rounds} rounds of at least {min_round:g} s per implementation, batch sizes "
               f"{', '.join(map(str, batch_sizes))}; about {cnn.flops_per_image('train') / 1e6:.1f} MFLOP "
               f"per image for training, {cnn.flops_per_image('infer') / 1e6:.1f} for inference")

    m = measure_machine(out, use_torch, not keep_wait_policy)
    columns = [("median", "right"), *RATE, ("× NumPy", "right")]  # images/s: in the JSON lines
    if use_torch:
        columns.append(("× PyTorch", "right"))
    table = CaseTables("the lesson's MNIST CNN (float32)", columns)
    if no_idle:
        out.status("no idle pause between rounds: a round may start while the previous one's threads still spin")
    results = cnn.run(batch_sizes, rounds, min_round, use_torch=use_torch, idle_rounds=not no_idle,
                      libgomp_default=not keep_wait_policy)
    add_row = out.gather(lambda cells: table.add_row(*cells))
    for result in results:
        case = result.case
        table.add_case(case.name)
        for name, t in result.timings.items():
            row = [name, fmt_seconds(t.median), *rate(m, result.gflops(name)), _ratio(result.ratio(name, cnn.NUMPY))]
            if use_torch:
                row.append(_ratio(result.ratio(name, cnn.TORCH)))
            add_row(row, "bench", case=case.name, mode=case.mode, batch=case.batch, implementation=name,
                    median_s=t.median, best_s=t.best, calls_per_round=t.calls, rounds=t.rounds,
                    images_per_s=result.images_per_s(name), gflops=result.gflops(name),
                    sgemm_share=m.share(result.gflops(name)),
                    flops_per_image=cnn.flops_per_image(case.mode),
                    speedup_vs_numpy=result.ratio(name, cnn.NUMPY), speedup_vs_torch=result.ratio(name, cnn.TORCH))
    show_results(out, table, use_torch)

    if interference:
        out.status("interference: idle tails and steps right after one another")
        show_interference(out, cnn.interference(batch_sizes[0], use_torch=use_torch,
                                               libgomp_default=not keep_wait_policy))

    if startup:
        out.status("start-up: running `nbengine train cnn --epochs 1 --json` with an empty Numba cache, then again")
        s = cnn.startup()
        out.fact("startup", f"start-up, process start to the first training step of `{s['command']}`: "
                            f"cold (empty Numba cache) {s['cold_s']:.1f} s, warm (cache filled) {s['warm_s']:.1f} s",
                 **s)


def size_options(module: str, default: str, sizes_help: str, wait_help: str):
    """The options the language-model and attention benchmarks share: --sizes (names from
    ``module``'s SIZES, imported only to check them), rounds, PyTorch, idle pauses, the wait policy."""
    def check(ctx, param, value: str) -> tuple[str, ...]:
        import importlib

        known = importlib.import_module(module).SIZES
        names = tuple(v.strip() for v in value.split(",") if v.strip())
        if not names or any(n not in known for n in names):
            raise click.BadParameter(f"{value!r}: give sizes from {', '.join(known)}, comma-separated")
        return names

    def apply(f):
        f = json_options(f)
        for option in reversed([
            click.option("--sizes", default=default, show_default=True, callback=check, metavar="NAME,...",
                         help=sizes_help),
            click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True,
                         help="Timed rounds per implementation (alternating); the median is reported."),
            click.option("--min-round", type=Float(min=0), default=0.3, show_default=True,
                         help="Seconds a round lasts at least (calls are repeated to reach it)."),
            click.option("--no-torch", is_flag=True, help="Leave PyTorch out even if it is installed."),
            click.option("--no-idle", is_flag=True,
                         help="Leave out the idle pause between rounds, to see what the thread fight does to the "
                              "figures."),
            click.option("--keep-wait-policy", is_flag=True,
                         help="Run OpenMP with OMP_WAIT_POLICY as this process has it (nbengine sets PASSIVE "
                              "unless you set it) instead of libgomp's default. " + wait_help),
        ]):
            f = option(f)
        return f

    return apply


lm_options = size_options(
    "nbengine.bench.rnnlm", "ptb,toy",
    "Sizes to time: ptb (the textbook's PTB model: batch 20, time 35, vocabulary 10,000, embedding and hidden "
    "100) and toy (batch 10, time 5, vocabulary 7).",
    "At PTB sizes nbengine's step is faster under PASSIVE and PyTorch's slower; at the toy size both are slower.")


def bench_language_model(kind: str, sizes, rounds, min_round, no_torch, no_idle, keep_wait_policy, json_mode,
                         quiet) -> None:
    """Time a training step of the RNN or LSTM language model and print the table."""
    from nbengine.bench import rnn_torch, rnnlm

    out = Output(json_mode, quiet)
    use_torch = not no_torch and rnn_torch.available()
    if not no_torch and not use_torch:
        out.status("PyTorch is not installed: timing without it")
    out.status(f"{rounds} rounds of at least {min_round:g} s per implementation; one step = forward, "
               f"backpropagation through time, clipping to a global norm of {rnnlm.MAX_NORM:g}, SGD "
               f"(η {rnnlm.LR:g}); sizes " + "; ".join(rnnlm.SIZES[s].describe() for s in sizes))
    if no_idle:
        out.status("no idle pause between rounds: a round may start while the previous one's threads still spin")

    m = measure_machine(out, use_torch, not keep_wait_policy)
    columns = [("median", "right"), ("tokens/s", "right"), *RATE, ("× NumPy", "right")]
    if use_torch:
        columns.append(("× PyTorch", "right"))
    table = CaseTables(f"the {rnnlm.MODEL_NAMES[kind]} language model, one training step (float32)", columns)
    results = rnnlm.run((kind,), sizes, rounds, min_round, use_torch=use_torch,
                        idle_rounds=not no_idle, libgomp_default=not keep_wait_policy)
    add_row = out.gather(lambda cells: table.add_row(*cells))
    for result in results:
        case, size = result.case, result.case.size
        table.add_case(case.name)
        for name, t in result.timings.items():
            row = [name, fmt_seconds(t.median), f"{result.tokens_per_s(name):,.0f}",
                   *rate(m, result.gflops(name)), _ratio(result.ratio(name, rnnlm.NUMPY))]
            if use_torch:
                row.append(_ratio(result.ratio(name, rnnlm.TORCH)))
            add_row(row, "bench", case=case.name, model=kind, size=size.name, batch=size.batch, time=size.time,
                    vocab=size.vocab, embed=size.embed, hidden=size.hidden, implementation=name,
                    median_s=t.median, best_s=t.best, calls_per_round=t.calls, rounds=t.rounds,
                    tokens_per_s=result.tokens_per_s(name), gflops=result.gflops(name), flops_per_step=case.flops,
                    sgemm_share=m.share(result.gflops(name)),
                    speedup_vs_numpy=result.ratio(name, rnnlm.NUMPY),
                    speedup_vs_torch=result.ratio(name, rnnlm.TORCH))
    show_results(out, table, use_torch)


@click.command("lstmlm", short_help="The LSTM language model's training step against NumPy and PyTorch.")
@lm_options
def bench_lstmlm(**options):
    """Time a training step of the LSTM language model, in tokens per second.

    One step is the textbook's: forward over the time steps, softmax
    cross-entropy, backpropagation through time, clipping the gradients' global
    norm, SGD; the state is carried to the next step. nbengine, the textbook's
    NumPy time layers and PyTorch (nn.LSTM, when installed) start from the same
    weights and train on the same batches of random token ids, in alternating
    rounds in one process with an idle pause between rounds. GFLOP/s counts the
    matrix products (at PTB sizes 4.54 GFLOP a step, 93 % of it the projection
    onto the vocabulary). The ratios are the reference's median time over the
    implementation's: above 1 is faster.
    """
    bench_language_model("lstm", **options)


@click.command("rnnlm", short_help="The RNN language model's training step against NumPy and PyTorch.")
@lm_options
def bench_rnnlm(**options):
    """Time a training step of the RNN (tanh) language model, in tokens per second.

    As `bench lstmlm`, with the plain recurrent layer h = tanh(x·Wx + h·Wh + b)
    (PyTorch's nn.RNN). GFLOP/s counts the matrix products; at PTB sizes the
    projection onto the vocabulary is nearly all of them (4.28 GFLOP a step).
    The ratios are the reference's median time over the implementation's:
    above 1 is faster.
    """
    bench_language_model("rnn", **options)


@click.command("attention", short_help="Self-attention forward and backward against NumPy (einsum) and PyTorch.")
@size_options("nbengine.bench.attention", "large,toy",
              "Sizes to time: large (batch 32, sequence 128, d 64) and toy (the lesson's 'I am good': batch 1, "
              "3 tokens, d_k 64).",
              "PyTorch runs best with libgomp's default.")
def bench_attention(sizes, rounds, min_round, no_torch, no_idle, keep_wait_policy, json_mode, quiet):
    """Time scaled dot-product attention, forward and backward, without and with the causal mask.

    nbengine's kernels, the NumPy einsum reference and PyTorch (when installed;
    both autograd over matmul and softmax, and scaled_dot_product_attention) run
    on the same float32 inputs, in alternating rounds in one process with an idle
    pause between rounds. GFLOP/s counts the six matrix products of the dense
    formulation (403 MFLOP at batch 32, sequence 128, d 64), masked or not. The
    ratios are the reference's median time over the implementation's: above 1
    is faster; "× PyTorch" is against the faster of PyTorch's two formulations.
    """
    from nbengine.bench import attention, attention_torch

    out = Output(json_mode, quiet)
    use_torch = not no_torch and attention_torch.available()
    if not no_torch and not use_torch:
        out.status("PyTorch is not installed: timing without it")
    out.status(f"{rounds} rounds of at least {min_round:g} s per implementation; one call = forward and backward; "
               "sizes " + "; ".join(attention.SIZES[s].describe() for s in sizes))
    if no_idle:
        out.status("no idle pause between rounds: a round may start while the previous one's threads still spin")

    m = measure_machine(out, use_torch, not keep_wait_policy)
    columns = [("median", "right"), *RATE, ("× NumPy", "right")]
    if use_torch:
        columns.append(("× PyTorch", "right"))
    table = CaseTables("scaled dot-product attention, forward and backward (float32)", columns)
    results = attention.run(sizes, rounds, min_round, use_torch=use_torch, idle_rounds=not no_idle,
                            libgomp_default=not keep_wait_policy)
    add_row = out.gather(lambda cells: table.add_row(*cells))
    for result in results:
        case, size = result.case, result.case.size
        table.add_case(case.name)
        for name, t in result.timings.items():
            row = [name, fmt_seconds(t.median), *rate(m, result.gflops(name)),
                   _ratio(result.ratio(name, attention.NUMPY))]
            if use_torch:
                row.append(_ratio(result.ratio(name, attention.TORCH)))
            add_row(row, "bench", case=case.name, size=size.name, batch=size.batch, time=size.time, d=size.d,
                    causal=case.causal, implementation=name, median_s=t.median, best_s=t.best,
                    calls_per_round=t.calls, rounds=t.rounds, gflops=result.gflops(name), flops=case.flops,
                    sgemm_share=m.share(result.gflops(name)),
                    speedup_vs_numpy=result.ratio(name, attention.NUMPY),
                    speedup_vs_torch=result.ratio(name, attention.TORCH))
    show_results(out, table, use_torch)
    if use_torch:
        out.show("× PyTorch: against the faster of PyTorch's two formulations in each case.")


@click.command("transformer", short_help="The Transformer LM's training step against NumPy and PyTorch.")
@size_options("nbengine.bench.transformer", "default,toy",
              "Sizes to time: default (`train transformer` on its default text: batch 32, context 64, vocabulary "
              "80, size 64, 4 heads, 2 blocks, feed-forward 256) and toy (its settings on the lesson's sentence).",
              "PyTorch runs best with libgomp's default.")
def bench_transformer(sizes, rounds, min_round, no_torch, no_idle, keep_wait_policy, json_mode, quiet):
    """Time a training step of the Transformer language model, in tokens per second.

    One step is `train transformer`'s: forward through the causal blocks, softmax
    cross-entropy, the backward pass, clipping the gradients' global norm to 1,
    Adam. nbengine, an independent NumPy formulation and PyTorch (nn.Linear,
    nn.LayerNorm, scaled_dot_product_attention, when installed) start from the
    same weights, are checked to compute the same loss on the first batch, and
    train on the same batches of random token ids in alternating rounds in one
    process with an idle pause between rounds. GFLOP/s counts the matrix
    products, attention's counted dense (1.47 GFLOP a step at the default size).
    The ratios are the reference's median time over the implementation's: above
    1 is faster.
    """
    from nbengine.bench import rnn_torch, transformer

    out = Output(json_mode, quiet)
    use_torch = not no_torch and rnn_torch.available()
    if not no_torch and not use_torch:
        out.status("PyTorch is not installed: timing without it")
    out.status(f"{rounds} rounds of at least {min_round:g} s per implementation; one step = forward, backward, "
               f"clipping to a global norm of {transformer.MAX_NORM:g}, Adam (η {transformer.LR:g}); sizes "
               + "; ".join(transformer.SIZES[s].describe() for s in sizes))
    if no_idle:
        out.status("no idle pause between rounds: a round may start while the previous one's threads still spin")
    m = measure_machine(out, use_torch, not keep_wait_policy)
    columns = [("median", "right"), ("tokens/s", "right"), *RATE, ("× NumPy", "right")]
    if use_torch:
        columns.append(("× PyTorch", "right"))
    table = CaseTables("the Transformer language model, one training step (float32)", columns)
    results = transformer.run(sizes, rounds, min_round, use_torch=use_torch, idle_rounds=not no_idle,
                              libgomp_default=not keep_wait_policy)
    add_row = out.gather(lambda cells: table.add_row(*cells))
    checked = []
    for result in results:
        case, size = result.case, result.case.size
        checked.append(result)
        table.add_case(case.name)
        for name, t in result.timings.items():
            row = [name, fmt_seconds(t.median), f"{result.tokens_per_s(name):,.0f}",
                   *rate(m, result.gflops(name)), _ratio(result.ratio(name, transformer.NUMPY))]
            if use_torch:
                row.append(_ratio(result.ratio(name, transformer.TORCH)))
            add_row(row, "bench", case=case.name, size=size.name, batch=size.batch, time=size.time,
                    vocab=size.vocab, d=size.size, heads=size.heads, blocks=size.blocks, hidden=size.hidden,
                    implementation=name, median_s=t.median, best_s=t.best,
                    calls_per_round=t.calls, rounds=t.rounds, tokens_per_s=result.tokens_per_s(name),
                    gflops=result.gflops(name), flops_per_step=case.flops, sgemm_share=m.share(result.gflops(name)),
                    speedup_vs_numpy=result.ratio(name, transformer.NUMPY),
                    speedup_vs_torch=result.ratio(name, transformer.TORCH))
    show_results(out, table, use_torch)
    for r in checked:
        out.fact("losses", f"{r.case.size.name}: the loss on the first batch, from the same weights, before timing: "
                 + ", ".join(f"{n} {v:.6f}" for n, v in r.losses.items()), case=r.case.name, size=r.case.size.name,
                 losses=r.losses)


@click.command("kernels", short_help="The naive kernels against the same loops in C, and the fast kernels.")
@click.option("--sizes", type=click.Choice(["lesson", "small"]), default="lesson", show_default=True,
              help="lesson: the lessons' sizes (the MNIST CNN's conv2, pool1 and dense1 at batch 32, the LSTM at "
                   "PTB sizes, attention (32, 128, 64)); small: a few seconds' worth.")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed rounds per implementation (alternating); the median is reported.")
@click.option("--min-round", type=Float(min=0), default=0.05, show_default=True,
              help="Seconds a round lasts at least (calls are repeated to reach it).")
@click.option("--keep-wait-policy", is_flag=True,
              help="Run OpenMP with OMP_WAIT_POLICY as this process has it (nbengine sets PASSIVE unless you set "
                   "it) instead of libgomp's default.")
@json_options
def bench_kernels(sizes, rounds, min_round, keep_wait_policy, json_mode, quiet):
    """Time each naive kernel against its C twin (the same loops in C) and the fast kernel.

    The C twins ship with nbengine (nbengine/csrc): conv2d, maxpool, dense, the
    LSTM over a sequence and attention, forward and backward, line for line the
    loops of the Numba naive kernels. They are compiled here with the machine's
    C compiler ($CC, else cc, gcc or clang) at -O3 -march=native with the
    floating-point licence Numba has (no reassociation, no fused multiply-add),
    loaded with ctypes, and checked against the Numba kernels before anything is
    timed. Every kernel is timed on one thread and on all of Numba's threads, in
    alternating rounds. "× C" is the C twin's median time over the row's: above
    1 is faster than C. Without a C compiler, the Numba rows only.
    """
    from nbengine.bench import ctwins, kernels, threads

    out = Output(json_mode, quiet)
    threads.start_thread_pools(use_torch=False, libgomp_default=not keep_wait_policy)
    setup = {**threads.thread_setup(), "cpu": kernels.cpu_name(), "vector_features": kernels.vector_features(),
             "sizes": sizes}
    twins = None
    try:
        compiler = ctwins.find_compiler()
    except ctwins.NoCompiler as e:
        compiler_line = f"{e}: the Numba rows only"
        setup["compiler"] = None
    else:
        out.status(f"compiling the C twins with {' '.join(compiler.command)} ({compiler.version})")
        twins = ctwins.load(ctwins.build(compiler))
        built = twins.build
        compiler_line = (f"C compiler: {compiler.version} ({compiler.origin}), flags: {' '.join(built.flags)}"
                         + ("" if built.openmp else "; no OpenMP: the C twins run on one thread"))
        setup["compiler"] = {"command": list(compiler.command), "origin": compiler.origin,
                             "version": compiler.version, "flags": list(built.flags), "openmp": built.openmp,
                             "library": str(built.path), "cached": built.cached}
    counts = kernels.thread_counts()
    m = measure_machine(out, False, not keep_wait_policy, counts)
    out.fact("setup", [compiler_line,
                       f"Numba {setup['numba']}, threading layer {setup['numba_threading_layer']}"], **setup)
    out.status(f"{rounds} rounds of at least {min_round:g} s per implementation, on "
               + " and ".join(f"{n} thread{'s' * (n > 1)}" for n in counts) + f"; {sizes} sizes")

    columns = []
    for n in counts:
        # the share of the sgemm rate only (GFLOP/s is in the JSON lines), so two thread counts fit 80 columns
        columns += [(f"{n} thread{'s' * (n > 1)}", "right"), RATE[1]] + ([] if twins is None else [("× C", "right")])
    table = CaseTables("the naive kernels against their C twins (float32)", columns)
    described, agreements = [], []
    check = out.gather(agreements.append)
    for result in kernels.run(kernels.SIZES[sizes], rounds, min_round, twins):
        case = result.case
        if case.size not in described:
            described.append(case.size)
        if result.agreement is not None:
            a = result.agreement
            check(f"{case.name} {a.describe()}" + (f" ({a.output})" if a.output else ""),
                  "check", kernel=case.name, size=case.size, same_bits=a.same_bits, ulps=a.ulps,
                  output=a.output or None)
        table.add_case(case.kernel)
        for name in result.timings[counts[0]]:
            row = [name]
            cells = out.gather(row.extend)  # the cells of one thread count are one fact
            for n in counts:
                t = result.timings[n][name]
                ratio = result.speed_vs_c(n, name)
                cells([fmt_seconds(t.median), rate(m, result.gflops(n, name), n)[1]]
                      + ([] if twins is None else ["" if name == kernels.C else _ratio(ratio)]),
                      "bench", kernel=case.name, fast_kernel=case.kernel, size=case.size, implementation=name,
                      threads=n, median_s=t.median, best_s=t.best, calls_per_round=t.calls, rounds=t.rounds,
                      flops=case.flops, gflops=result.gflops(n, name), speed_vs_c=ratio,
                      sgemm_share=m.share(result.gflops(n, name), n))
            table.add_row(*row)

    out.show("sizes: " + "; ".join(described))
    out.show(table)
    if len(counts) > 1:
        if twins is None:
            c_threads = ""
        elif twins.openmp:
            c_threads = (f"; the C twins run the same loops with an OpenMP parallel for on {counts[-1]} threads "
                         "(the kernels without prange stay on one thread in both)")
        else:
            c_threads = "; the C twins have no OpenMP here: their time is their one-thread time"
        out.show(f"{counts[-1]} threads: the Numba kernels run their prange loops on {counts[-1]} threads{c_threads}.")
    if twins is not None:
        out.show("× C: the C twin's median time over the row's (above 1: faster than C).")
        out.show("the C twins' outputs against the Numba naive kernels' (the largest difference, in float32 units "
                 "in the last place of the output's largest value): " + "; ".join(agreements))
