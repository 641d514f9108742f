"""What each `nbengine bench ...` command prints: the machine, the thread setup, and one small
table per case, every row also a JSON line (``out`` is the command line's Output, which
writes each fact once: a row of a table, or its JSON line under --json).

The commands themselves (options and help) are in cli/bench.py; the measuring is in this
package's other modules, which print nothing.
"""

from __future__ import annotations

import os

from rich.table import Table
from rich.text import Text

from nbengine.i18n import _, ngettext, shown
from nbengine.kernels import registry


def fmt_seconds(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _ratio(r: float | None) -> str:
    return "" if r is None else f"{r:.2f}"


def measure_machine(out, use_torch: bool, libgomp_default: bool, thread_counts=None):
    """The CPU, its vector unit and its sgemm rate on each thread count (default: Numba's), measured
    now, just before the cases; stated as one fact and returned (a ``machine.Machine``). The
    thread pools are started first (asking Numba its thread count starts its pool), so the
    OpenMP wait policy is the benchmark's (see ``threads.start_thread_pools``)."""
    from benchmarks import machine, threads

    threads.start_thread_pools(use_torch, libgomp_default)
    out.status(_("measuring the sgemm rate (NumPy float32 matrix product) ..."))
    m = machine.machine(thread_counts)
    out.fact("machine", machine_lines(m), **m.fields())
    return m


def machine_lines(m) -> list[str]:
    rates = ", ".join(
        ngettext("{rate} GFLOP/s on {n} thread", "{rate} GFLOP/s on {n} threads", n).format(
            rate=f"{g:.1f}", n=n
        )
        for n, g in m.sgemm_by_threads.items()
    )
    return [
        _(
            "CPU: {cpu}, {cores} cores; {features}; kernels compiled for {bits}-bit vectors, {registers} registers"
        ).format(
            cpu=m.cpu,
            cores=m.cores,
            features=m.vector_features or _("no vector extensions found"),
            bits=m.vector_bits,
            registers=m.registers,
        ),
        _(
            'sgemm (NumPy float32 {n}×{n}), this run: {rates}; "sgemm" columns: each row\'s GFLOP/s as a share '
            "of it"
        ).format(n=m.sgemm_n, rates=rates),
    ]


def rate(m, gflops: float | None, threads: int | None = None) -> list[str]:
    """The two cells of a rate: GFLOP/s and its share of the sgemm rate ("58.1", "37%")."""
    if gflops is None:
        return ["", ""]
    share = m.share(gflops, threads)
    return [
        f"{gflops:.1f}" if gflops >= 1 else f"{gflops:.2f}",
        f"{share:.0%}" if share >= 0.01 else f"{share:.1%}",
    ]


RATE = [("GFLOP/s", "right"), ("sgemm", "right")]


class CaseTables:
    """A benchmark's results: under a heading, one small table per case titled with the case's
    name (so it stays on one line), each row an implementation; a column is as wide in every
    table. Shown as one renderable."""

    def __init__(self, title: str, columns):
        self.title, self.columns, self.tables = title, list(columns), []

    def add_case(self, name: str) -> None:
        table = Table(title=shown(name), title_justify="left", title_style="bold", pad_edge=False)
        table.add_column(_("implementation"), justify="left")
        for col, just in self.columns:
            table.add_column(col, justify=just)
        self.tables.append(table)

    def add_row(self, implementation: str, *cells) -> None:
        self.tables[-1].add_row(shown(implementation), *cells)

    def __rich_console__(self, console, options):
        from rich.cells import cell_len

        widths = [
            max(
                [cell_len(str(t.columns[i].header)) for t in self.tables]
                + [cell_len(str(c)) for t in self.tables for c in t.columns[i].cells]
            )
            for i in range(len(self.columns) + 1)
        ]
        # else Rich fits each table on its own
        if sum(widths) + 3 * len(widths) - 1 <= options.max_width:
            for t in self.tables:
                for column, width in zip(t.columns, widths):
                    column.min_width = width
        yield Text(self.title, style="bold")
        yield from self.tables


def compared(m, result, name: str, t, numpy_name: str, torch_name: str, use_torch: bool, *middle):
    """One implementation's row of a benchmark against NumPy and PyTorch, and its JSON fields.

    The cells: name, median, ``middle`` (a case's own rate), GFLOP/s and sgemm share, × NumPy
    and, with PyTorch, × PyTorch. The fields: the implementation, its timing, GFLOP/s, sgemm
    share and both ratios (None where an implementation was not run)."""
    gflops = result.gflops(name)
    cells = [name, fmt_seconds(t.median), *middle, *rate(m, gflops)]
    cells.append(_ratio(result.ratio(name, numpy_name)))
    if use_torch:
        cells.append(_ratio(result.ratio(name, torch_name)))
    fields = {
        "implementation": name,
        **t.fields(),
        "gflops": gflops,
        "sgemm_share": m.share(gflops),
        "speedup_vs_numpy": result.ratio(name, numpy_name),
        "speedup_vs_torch": result.ratio(name, torch_name),
    }
    return cells, fields


def show_results(out, table: CaseTables, use_torch: bool) -> None:
    """The thread setup the timings ran under (a JSON line and four lines of text), then the table."""
    from benchmarks import threads

    setup = {**threads.thread_setup(torch_used=use_torch), "kernels": registry.current()}
    out.fact("setup", setup_lines(setup), **setup)
    out.show(table)


def setup_lines(setup: dict) -> list[str]:
    """The setup in four lines: what each pool runs on, which kernels, the OpenMP wait policy, the environment."""
    torch = (
        _("; PyTorch {version} threads: {threads}").format(
            version=setup["torch"], threads=setup["torch_threads"]
        )
        if "torch" in setup
        else ""
    )
    env = ", ".join(f"{k}={v if v is not None else _('unset')}" for k, v in setup["env"].items())
    return [
        _(
            "{cores} cores; Numba {numba} threading layer {layer}, threads: {threads}; BLAS {blas} threads: "
            "{blas_threads}"
        ).format(
            cores=setup["cores"],
            numba=setup["numba"],
            layer=shown(setup["numba_threading_layer"]),
            threads=setup["numba_threads"],
            blas=setup["blas"],
            blas_threads=setup["blas_threads"],
        )
        + torch,
        _("nbengine's rows: the {kernels} kernels").format(kernels=setup["kernels"]),
        _("OpenMP wait policy: {policy}").format(policy=shown(setup["omp_wait_policy"])),
        _("environment: {env}").format(env=env),
    ]


def _with_torch(out, no_torch: bool, available) -> bool:
    """Whether PyTorch's rows are timed (said when it was wanted but is not installed)."""
    use_torch = not no_torch and available()
    if not no_torch and not use_torch:
        out.status(_("PyTorch is not installed: timing without it"))
    return use_torch


def _no_idle_said(out, no_idle: bool) -> None:
    if no_idle:
        out.status(
            _(
                "no idle pause between rounds: a round may start while the previous one's threads still spin"
            )
        )


def _columns(*middle, use_torch: bool) -> list[tuple[str, str]]:
    """median, the case's own columns, GFLOP/s and the sgemm share, × NumPy (and × PyTorch)."""
    torch = [("× PyTorch", "right")] if use_torch else []
    return [(_("median"), "right"), *middle, *RATE, ("× NumPy", "right"), *torch]


# -- logistic regression ------------------------------------------------------------------------------


def logreg(out, rounds: int, min_round: float) -> None:
    import numba

    from benchmarks.logreg import REFERENCE, run, speedup

    out.status(
        _(
            "Numba threads: {threads}; OMP_NUM_THREADS={omp}; {rounds} rounds of at least {min_round} s; "
            "{kernels}"
        ).format(
            threads=numba.get_num_threads(),
            omp=os.environ.get("OMP_NUM_THREADS", _("unset")),
            rounds=rounds,
            min_round=f"{min_round:g}",
            kernels=registry.describe(),
        )
    )
    m = measure_machine(out, False, False)
    table = CaseTables(
        _("logistic regression, one training step (float32)"),
        [(_("median"), "right"), *RATE, ("× NumPy", "right")],
    )
    row = out.gather(lambda cells: table.add_row(*cells))
    for case, timings in run(rounds, min_round):
        table.add_case(case.name)
        for name, t in timings.items():
            ratio = speedup(timings, name)
            gflops = case.flops / t.median / 1e9
            row(
                [name, fmt_seconds(t.median), *rate(m, gflops), f"{ratio:.2f}"],
                "bench",
                case=case.name,
                N=case.N,
                D=case.D,
                implementation=name,
                reference=name == REFERENCE,
                **t.fields(),
                speedup=ratio,
                flops=case.flops,
                gflops=gflops,
                sgemm_share=m.share(gflops),
            )
    out.show(table)


# -- the CNN ------------------------------------------------------------------------------------------

SLICES_SHOWN = 12


def show_interference(out, found) -> None:
    """Two tables: each pool's idle tail, and each training step alone and right after another's."""
    names = list(found.tails)
    tails = Table(
        title=_("after one {case}: the process's CPU use while nothing runs").format(
            case=shown(found.case.name)
        ),
        title_justify="left",
    )
    for col, just in (
        (_("implementation"), "left"),
        (_("busy until"), "right"),
        (_("CPU burnt idle"), "right"),
        (
            _("cores used in the first {n} slices of {ms} ms").format(
                n=SLICES_SHOWN, ms=f"{found.slice_s * 1e3:g}"
            ),
            "left",
        ),
    ):
        tails.add_column(col, justify=just)
    tail_row = out.gather(lambda cells: tails.add_row(*cells))
    for name in names:
        tail = found.tails[name]
        burnt = sum(tail) * found.slice_s
        tail_row(
            [
                shown(name),
                fmt_seconds(found.quiet_after(name)) if found.quiet_after(name) else "0",
                fmt_seconds(burnt) if burnt else "0",
                " ".join(f"{v:.1f}" for v in tail[:SLICES_SHOWN]),
            ],
            "idle_tail",
            case=found.case.name,
            implementation=name,
            slice_s=found.slice_s,
            cores=tail,
            quiet_after_s=found.quiet_after(name),
        )
    out.show(tails)
    after = Table(
        title=_("one {case}, alone (after an idle pause) and right after another's").format(
            case=shown(found.case.name)
        ),
        title_justify="left",
    )
    after.add_column(_("timed"), justify="left")
    after.add_column(_("alone"), justify="right")
    for other in names:
        after.add_column(_("after {other}").format(other=shown(other)), justify="right")
    for name in names:
        alone = found.penalty[(name, name)]
        row = [shown(name), fmt_seconds(alone)]
        cell = out.gather(row.append)  # each cell of the row is one fact
        for other in names:
            t = found.penalty[(name, other)]
            cell(
                "" if other == name else f"{fmt_seconds(t)} ({t / alone:.2f}×)",
                "after",
                case=found.case.name,
                timed=name,
                after=other if other != name else None,
                median_s=t,
                relative=t / alone,
            )
        after.add_row(*row)
    out.show(after)


def cnn(
    out, batch_sizes, rounds, min_round, no_torch, startup, interference, no_idle, keep_wait_policy
) -> None:
    from benchmarks import cnn, cnn_torch

    use_torch = _with_torch(out, no_torch, cnn_torch.available)
    out.status(
        _(
            "{rounds} rounds of at least {min_round} s per implementation, batch sizes {sizes}; about {train} "
            "MFLOP per image for training, {infer} for inference"
        ).format(
            rounds=rounds,
            min_round=f"{min_round:g}",
            sizes=", ".join(map(str, batch_sizes)),
            train=f"{cnn.flops_per_image('train') / 1e6:.1f}",
            infer=f"{cnn.flops_per_image('infer') / 1e6:.1f}",
        )
    )

    m = measure_machine(out, use_torch, not keep_wait_policy)
    # images/s: in JSON
    table = CaseTables(_("the lesson's MNIST CNN (float32)"), _columns(use_torch=use_torch))
    _no_idle_said(out, no_idle)
    results = cnn.run(
        batch_sizes,
        rounds,
        min_round,
        use_torch=use_torch,
        idle_rounds=not no_idle,
        libgomp_default=not keep_wait_policy,
    )
    add_row = out.gather(lambda cells: table.add_row(*cells))
    for result in results:
        case = result.case
        table.add_case(case.name)
        for name, t in result.timings.items():
            row, fields = compared(m, result, name, t, cnn.NUMPY, cnn.TORCH, use_torch)
            add_row(
                row,
                "bench",
                case=case.name,
                mode=case.mode,
                batch=case.batch,
                **fields,
                images_per_s=result.images_per_s(name),
                flops_per_image=cnn.flops_per_image(case.mode),
            )
    show_results(out, table, use_torch)

    if interference:
        out.status(_("interference: idle tails and steps right after one another"))
        show_interference(
            out,
            cnn.interference(
                batch_sizes[0], use_torch=use_torch, libgomp_default=not keep_wait_policy
            ),
        )

    if startup:
        out.status(
            _(
                "start-up: running `nbengine train cnn --epochs 1 --json` with an empty Numba cache, then "
                "again"
            )
        )
        s = cnn.startup()
        out.fact(
            "startup",
            _(
                "start-up, process start to the first training step of `{command}`: cold (empty Numba "
                "cache) {cold} s, warm (cache filled) {warm} s"
            ).format(command=s["command"], cold=f"{s['cold_s']:.1f}", warm=f"{s['warm_s']:.1f}"),
            **s,
        )


# -- the language models ------------------------------------------------------------------------------


def language_model(
    out, kind: str, sizes, rounds, min_round, no_torch, no_idle, keep_wait_policy
) -> None:
    """A training step of the RNN or LSTM language model ("rnn", "lstm")."""
    from benchmarks import rnn_torch, rnnlm

    use_torch = _with_torch(out, no_torch, rnn_torch.available)
    out.status(
        _(
            "{rounds} rounds of at least {min_round} s per implementation; one step = forward, "
            "backpropagation through time, clipping to a global norm of {norm}, SGD (η {lr}); sizes {sizes}"
        ).format(
            rounds=rounds,
            min_round=f"{min_round:g}",
            norm=f"{rnnlm.MAX_NORM:g}",
            lr=f"{rnnlm.LR:g}",
            sizes="; ".join(rnnlm.SIZES[s].describe() for s in sizes),
        )
    )
    _no_idle_said(out, no_idle)

    m = measure_machine(out, use_torch, not keep_wait_policy)
    table = CaseTables(
        _("the {model} language model, one training step (float32)").format(
            model=rnnlm.MODEL_NAMES[kind]
        ),
        _columns((_("tokens/s"), "right"), use_torch=use_torch),
    )
    results = rnnlm.run(
        (kind,),
        sizes,
        rounds,
        min_round,
        use_torch=use_torch,
        idle_rounds=not no_idle,
        libgomp_default=not keep_wait_policy,
    )
    add_row = out.gather(lambda cells: table.add_row(*cells))
    for result in results:
        case, size = result.case, result.case.size
        table.add_case(case.name)
        for name, t in result.timings.items():
            tokens = f"{result.tokens_per_s(name):,.0f}"
            row, fields = compared(m, result, name, t, rnnlm.NUMPY, rnnlm.TORCH, use_torch, tokens)
            add_row(
                row,
                "bench",
                case=case.name,
                model=kind,
                size=size.name,
                batch=size.batch,
                time=size.time,
                vocab=size.vocab,
                embed=size.embed,
                hidden=size.hidden,
                **fields,
                tokens_per_s=result.tokens_per_s(name),
                flops_per_step=case.flops,
            )
    show_results(out, table, use_torch)


# -- attention ----------------------------------------------------------------------------------------


def attention(out, sizes, rounds, min_round, no_torch, no_idle, keep_wait_policy) -> None:
    from benchmarks import attention, attention_torch

    use_torch = _with_torch(out, no_torch, attention_torch.available)
    out.status(
        _(
            "{rounds} rounds of at least {min_round} s per implementation; one call = forward and backward; "
            "sizes {sizes}"
        ).format(
            rounds=rounds,
            min_round=f"{min_round:g}",
            sizes="; ".join(attention.SIZES[s].describe() for s in sizes),
        )
    )
    _no_idle_said(out, no_idle)

    m = measure_machine(out, use_torch, not keep_wait_policy)
    table = CaseTables(
        _("scaled dot-product attention, forward and backward (float32)"),
        _columns(use_torch=use_torch),
    )
    results = attention.run(
        sizes,
        rounds,
        min_round,
        use_torch=use_torch,
        idle_rounds=not no_idle,
        libgomp_default=not keep_wait_policy,
    )
    add_row = out.gather(lambda cells: table.add_row(*cells))
    for result in results:
        case, size = result.case, result.case.size
        table.add_case(case.name)
        for name, t in result.timings.items():
            row, fields = compared(m, result, name, t, attention.NUMPY, attention.TORCH, use_torch)
            add_row(
                row,
                "bench",
                case=case.name,
                size=size.name,
                batch=size.batch,
                time=size.time,
                d=size.d,
                causal=case.causal,
                **fields,
                flops=case.flops,
            )
    show_results(out, table, use_torch)
    if use_torch:
        out.show(_("× PyTorch: against the faster of PyTorch's two formulations in each case."))


# -- the Transformer ----------------------------------------------------------------------------------


def transformer(out, sizes, rounds, min_round, no_torch, no_idle, keep_wait_policy) -> None:
    from benchmarks import rnn_torch, transformer

    use_torch = _with_torch(out, no_torch, rnn_torch.available)
    out.status(
        _(
            "{rounds} rounds of at least {min_round} s per implementation; one step = forward, backward, "
            "clipping to a global norm of {norm}, Adam (η {lr}); sizes {sizes}"
        ).format(
            rounds=rounds,
            min_round=f"{min_round:g}",
            norm=f"{transformer.MAX_NORM:g}",
            lr=f"{transformer.LR:g}",
            sizes="; ".join(transformer.SIZES[s].describe() for s in sizes),
        )
    )
    _no_idle_said(out, no_idle)
    m = measure_machine(out, use_torch, not keep_wait_policy)
    table = CaseTables(
        _("the Transformer language model, one training step (float32)"),
        _columns((_("tokens/s"), "right"), use_torch=use_torch),
    )
    results = transformer.run(
        sizes,
        rounds,
        min_round,
        use_torch=use_torch,
        idle_rounds=not no_idle,
        libgomp_default=not keep_wait_policy,
    )
    add_row = out.gather(lambda cells: table.add_row(*cells))
    checked = []
    for result in results:
        case, size = result.case, result.case.size
        checked.append(result)
        table.add_case(case.name)
        for name, t in result.timings.items():
            tokens = f"{result.tokens_per_s(name):,.0f}"
            row, fields = compared(
                m, result, name, t, transformer.NUMPY, transformer.TORCH, use_torch, tokens
            )
            add_row(
                row,
                "bench",
                case=case.name,
                size=size.name,
                batch=size.batch,
                time=size.time,
                vocab=size.vocab,
                d=size.size,
                heads=size.heads,
                blocks=size.blocks,
                hidden=size.hidden,
                **fields,
                tokens_per_s=result.tokens_per_s(name),
                flops_per_step=case.flops,
            )
    show_results(out, table, use_torch)
    for r in checked:
        losses = ", ".join(f"{n} {v:.6f}" for n, v in r.losses.items())
        out.fact(
            "losses",
            _(
                "{size}: the loss on the first batch, from the same weights, before timing: {losses}"
            ).format(size=r.case.size.name, losses=losses),
            case=r.case.name,
            size=r.case.size.name,
            losses=r.losses,
        )


# -- the naive kernels against C ----------------------------------------------------------------------


def _compile_twins(out, setup: dict):
    """The C twins compiled and loaded (None without a C compiler), and the line that says how."""
    from nbengine import ctwins

    try:
        compiler = ctwins.find_compiler()
    except ctwins.NoCompiler as e:
        setup["compiler"] = None
        return None, _("{reason}: the Numba rows only").format(reason=e)
    out.status(
        _("compiling the C twins with {command} ({version})").format(
            command=" ".join(compiler.command), version=compiler.version
        )
    )
    twins = ctwins.load(ctwins.build(compiler))
    built = twins.build
    setup["compiler"] = {
        "command": list(compiler.command),
        "origin": compiler.origin,
        "version": compiler.version,
        "flags": list(built.flags),
        "openmp": built.openmp,
        "library": str(built.path),
        "cached": built.cached,
    }
    return twins, (
        _("C compiler: {version} ({origin}), flags: {flags}").format(
            version=compiler.version, origin=compiler.origin, flags=" ".join(built.flags)
        )
        + ("" if built.openmp else _("; no OpenMP: the C twins run on one thread"))
    )


def kernels(out, sizes: str, rounds: int, min_round: float, keep_wait_policy: bool) -> None:
    from benchmarks import kernels, threads

    threads.start_thread_pools(use_torch=False, libgomp_default=not keep_wait_policy)
    setup = {
        **threads.thread_setup(),
        "cpu": kernels.cpu_name(),
        "vector_features": kernels.vector_features(),
        "sizes": sizes,
    }
    twins, compiler_line = _compile_twins(out, setup)
    counts = kernels.thread_counts()
    m = measure_machine(out, False, not keep_wait_policy, counts)
    out.fact(
        "setup",
        [
            compiler_line,
            _("Numba {numba}, threading layer {layer}").format(
                numba=setup["numba"], layer=shown(setup["numba_threading_layer"])
            ),
        ],
        **setup,
    )
    out.status(
        _(
            "{rounds} rounds of at least {min_round} s per implementation, on {threads}; {sizes} sizes"
        ).format(
            rounds=rounds,
            min_round=f"{min_round:g}",
            sizes=sizes,
            threads=_(" and ").join(
                ngettext("{n} thread", "{n} threads", n).format(n=n) for n in counts
            ),
        )
    )

    columns = []
    for n in counts:
        # the share of the sgemm rate only (GFLOP/s is in the JSON lines), so two thread counts fit 80 columns
        columns += [(ngettext("{n} thread", "{n} threads", n).format(n=n), "right"), RATE[1]] + (
            [] if twins is None else [("× C", "right")]
        )
    table = CaseTables(_("the naive kernels against their C twins (float32)"), columns)
    described, agreements = [], []
    check = out.gather(agreements.append)
    for result in kernels.run(kernels.SIZES[sizes], rounds, min_round, twins):
        case = result.case
        if case.size not in described:
            described.append(case.size)
        if result.agreement is not None:
            a = result.agreement
            check(
                f"{case.name} {a.describe()}" + (f" ({a.output})" if a.output else ""),
                "check",
                kernel=case.name,
                size=case.size,
                same_bits=a.same_bits,
                ulps=a.ulps,
                output=a.output or None,
            )
        table.add_case(case.kernel)
        for name in result.timings[counts[0]]:
            row = [name]
            cells = out.gather(row.extend)  # the cells of one thread count are one fact
            for n in counts:
                t = result.timings[n][name]
                ratio = result.speed_vs_c(n, name)
                cells(
                    [fmt_seconds(t.median), rate(m, result.gflops(n, name), n)[1]]
                    + ([] if twins is None else ["" if name == kernels.C else _ratio(ratio)]),
                    "bench",
                    kernel=case.name,
                    fast_kernel=case.kernel,
                    size=case.size,
                    implementation=name,
                    threads=n,
                    **t.fields(),
                    flops=case.flops,
                    gflops=result.gflops(n, name),
                    speed_vs_c=ratio,
                    sgemm_share=m.share(result.gflops(n, name), n),
                )
            table.add_row(*row)

    out.show(_("sizes: {sizes}").format(sizes="; ".join(shown(s) for s in described)))
    out.show(table)
    if len(counts) > 1:
        if twins is None:
            c_threads = ""
        elif twins.openmp:
            c_threads = _(
                "; the C twins run the same loops with an OpenMP parallel for on {n} threads (the kernels "
                "without prange stay on one thread in both)"
            ).format(n=counts[-1])
        else:
            c_threads = _("; the C twins have no OpenMP here: their time is their one-thread time")
        out.show(
            _("{n} threads: the Numba kernels run their prange loops on {n} threads{more}.").format(
                n=counts[-1], more=c_threads
            )
        )
    if twins is not None:
        out.show(_("× C: the C twin's median time over the row's (above 1: faster than C)."))
        out.show(
            _(
                "the C twins' outputs against the Numba naive kernels' (the largest difference, in float32 units "
                "in the last place of the output's largest value): {agreements}"
            ).format(agreements="; ".join(agreements))
        )
