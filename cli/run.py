"""Running the engine from a command: threads, Ctrl-C, training, and stating results.

:func:`train` is the one consumer of the training loop's events (nbengine.train):
it compiles the kernels with a progress bar, shows a progress bar per epoch (or per
run, for short epochs), a table row per epoch and the result, writes the JSON lines,
saves the checkpoint after each epoch, and says how a stopped or diverged run ended
and which checkpoint it kept. A training command builds its model, describes its
columns and calls it.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator

import click
from rich.cells import cell_len
from rich.console import Group
from rich.table import Table

from nbengine.i18n import N_, _, shown
from nbengine_cli.output import Bar, Output
from nbengine_cli.render.tensor import StreamingTable, duration

# Epochs shorter than this share one progress bar for the whole run.
BAR_PER_EPOCH = 20
# The training table's speed column, by the unit counted (its JSON field is "<unit>_per_second").
RATE_TITLE = {"images": N_("images/s"), "tokens": N_("tokens/s"), "sentences": N_("sentences/s")}


# -- options ------------------------------------------------------------------------------------


def set_threads(threads: int | None) -> int:
    """Use this many threads for the kernels (None: all); the number used."""
    import numba

    if threads is not None:
        if threads > numba.config.NUMBA_NUM_THREADS:
            raise click.BadParameter(
                _("at most {n} on this machine").format(n=numba.config.NUMBA_NUM_THREADS),
                param_hint="--threads",
            )
        numba.set_num_threads(threads)
    return numba.get_num_threads()


def short_number(v: float) -> str:
    """Four decimals, or scientific notation once that would not fit a column."""
    return f"{v:.4f}" if abs(v) < 1e5 else f"{v:.3e}"


# -- results --------------------------------------------------------------------------------------


def test_result(accuracy: float, loss: float, n: int) -> tuple[str, dict]:
    """What a training run's result shows of its test accuracy and loss (on ``n`` samples),
    and its JSON fields: :func:`train`'s ``result``."""
    correct = int(round(accuracy * n))
    return (
        _("test accuracy {accuracy:.4f} ({correct} of {n}), test loss {loss}").format(
            accuracy=correct / n, correct=correct, n=n, loss=short_number(loss)
        ),
        dict(test_accuracy=correct / n, test_loss=loss, correct=correct, n_test=n),
    )


def evaluation(
    out: Output, heading: str, y, pred, loss: float, class_names: list[str], **fields
) -> None:
    """An evaluation's result, stated once: ``heading``, the confusion matrix (rows the true
    class, columns the predicted one, each class's recall), the accuracy and the loss. Its
    JSON line holds ``fields`` and n, loss, accuracy, confusion and class_names."""
    import numpy as np

    from nbengine.train import confusion_matrix

    confusion = confusion_matrix(y, pred, len(class_names))
    accuracy = float(np.mean(pred == y))
    table = Table()
    table.add_column(_("true \\ predicted"))
    for name in class_names:  # many classes share the width: their first seven letters
        table.add_column(name if len(class_names) <= 5 else name[:7], justify="right")
    table.add_column(_("recall"), justify="right")
    for r, counts in enumerate(confusion):
        recall = f"{counts[r] / counts.sum():.3f}" if counts.sum() else "–"
        table.add_row(
            class_names[r],
            *[
                (f"[bold]{v}[/]" if c == r else (str(v) if v else "·"))
                for c, v in enumerate(counts)
            ],
            recall,
        )
    out.fact(
        "result",
        [
            shown(heading),
            _("confusion matrix: rows are the true class, columns the predicted one"),
            Group(
                table,
                _("accuracy {accuracy:.4f} ({correct} of {n}), loss {loss}").format(
                    accuracy=accuracy,
                    correct=int(confusion.trace()),
                    n=len(y),
                    loss=short_number(loss),
                ),
            ),
        ],
        **fields,
        n=len(y),
        loss=loss,
        accuracy=accuracy,
        confusion=confusion.tolist(),
        class_names=class_names,
    )


# -- Ctrl-C ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def stop_on_interrupt():
    """The first Ctrl-C asks training to stop after the current batch; a second one
    interrupts at once. Yields a function that says whether to stop."""
    asked = []

    def handler(signum, frame):
        if asked:
            raise KeyboardInterrupt
        asked.append(True)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave Ctrl-C alone
        yield lambda: False
        return
    try:
        yield lambda: bool(asked)
    finally:
        signal.signal(signal.SIGINT, previous)


# -- compiling ------------------------------------------------------------------------------------


def warm_up(out: Output, model, optimizer, batch: tuple) -> None:
    """Run one training step on a twin of the model (nbengine.warmup), with a progress bar;
    a stage that compiles kernels writes a "compile" JSON line, and a run that compiled
    says how long it took."""
    from nbengine.warmup import STAGES
    from nbengine.warmup import warm_up as stages

    started = time.perf_counter()
    compiled = False
    with out.progress(_("preparing the kernels"), STAGES) as advance:
        for stage in stages(model, optimizer, batch):
            advance()
            if stage.compiled:
                compiled = True
                out.fact("compile", step=stage.what, done=stage.done, total=stage.total)
    if compiled:
        out.status(
            _(
                "compiled the kernels for this machine in {time} (Numba keeps them in its cache for the "
                "next runs)"
            ).format(time=duration(time.perf_counter() - started))
        )


# -- training -------------------------------------------------------------------------------------


def _kept(save, last_saved) -> str:
    """What a stopped run left behind, for its status line."""
    if last_saved:
        return _("; {checkpoint} holds the model after epoch {epoch}").format(
            checkpoint=save, epoch=last_saved
        )
    return _("; nothing was saved") if save else ""


def train(
    out: Output,
    model,
    optimizer,
    events: Callable[[Callable[[], bool]], Iterator],
    *,
    epochs: int,
    steps_per_epoch: int,
    columns: list[tuple[str, int, Callable]],
    result: Callable,
    sample: tuple,
    save: str | None = None,
    json_steps: bool = True,
    unit: str | None = None,
    every: int = 1,
    keep: tuple[str, ...] = (),
    on_trace: Callable | None = None,
    saved_note: str = "",
) -> None:
    """Train, showing and writing what happens.

    ``events(should_stop)`` starts nbengine.train.fit. The table has an epoch column,
    ``columns`` ((title, width, cell of an Epoch event)), and with ``unit`` ("images")
    the speed (units per second) and the time so far (and the epoch's JSON line its
    speed and seconds). A row is shown every ``every`` epochs and after the last; the checkpoint
    ``save`` is written with each row, holding the epochs done and the metrics named in
    ``keep`` in its config. ``result(Result event)`` gives what to show of the result and
    its JSON fields. ``sample`` (a batch) warms the kernels up before the first step.
    Traced steps go to ``on_trace(step)``. JSON lines: "step" ones unless not
    ``json_steps``, "epoch", "result", and "stopped" or "diverged".
    """
    from nbengine.train import Diverged, Epoch, Result, Step, Stopped

    warm_up(out, model, optimizer, sample)
    titles = [(_("epoch"), 5)] + [(title, width) for title, width, _cell in columns]
    if unit:
        titles += [(_(RATE_TITLE.get(unit, f"{unit}/s")), max(8, len(unit) + 2)), (_("time"), 6)]
    # Hangul: 2 cells
    rows = StreamingTable([(title, max(width, cell_len(title))) for title, width in titles])
    per_epoch_bar = steps_per_epoch >= BAR_PER_EPOCH
    last_saved = stopped = None
    span_count, span_seconds = 0, 0.0
    started = time.perf_counter()

    bar = Bar(out, plain=True)
    try:

        def handle(ev) -> None:
            nonlocal last_saved, stopped, span_count, span_seconds
            if isinstance(ev, Step):
                if per_epoch_bar:
                    bar.open(
                        _("epoch {epoch}/{epochs}").format(epoch=ev.epoch, epochs=epochs),
                        steps_per_epoch,
                    )
                else:
                    bar.open(_("training"), ev.total_steps)
                if ev.trace is not None and on_trace is not None:
                    on_trace(ev)
                    rows.repeat_header()
                bar.advance()
                if json_steps:
                    extra = {
                        k: v
                        for k, v in (("perplexity", ev.perplexity), ("grad_norm", ev.grad_norm))
                        if v is not None
                    }
                    out.fact("step", step=ev.step, epoch=ev.epoch, loss=ev.loss, **extra)
            elif isinstance(ev, Epoch):
                if per_epoch_bar or ev.epoch == epochs:
                    bar.close()
                span_count += ev.count
                span_seconds += ev.seconds
                row = None
                if ev.epoch % every == 0 or ev.epoch == epochs:
                    # since the last row
                    rate = span_count / span_seconds if span_seconds > 0 else 0.0
                    span_count, span_seconds = 0, 0.0
                    cells = [str(ev.epoch)] + [cell(ev) for _, _, cell in columns]
                    if unit:
                        cells += [f"{rate:,.0f}", duration(time.perf_counter() - started)]
                    row = rows.row(*cells)
                    if save:
                        model.extra_config.update(
                            epochs=ev.epoch, **{k: ev.metrics[k] for k in keep}
                        )
                        model.save(save)
                        last_saved = ev.epoch
                timing = (
                    {
                        f"{unit}_per_second": ev.count / ev.seconds if ev.seconds > 0 else 0.0,
                        "seconds": ev.seconds,
                    }
                    if unit
                    else {}
                )
                out.fact(
                    "epoch",
                    row,
                    epoch=ev.epoch,
                    loss=ev.loss,
                    **ev.metrics,
                    **timing,
                    checkpoint=save if last_saved == ev.epoch else None,
                )
            elif isinstance(ev, Stopped):
                stopped = ev
            elif isinstance(ev, Diverged):
                bar.close()
                out.status(
                    _("stopped at step {step} (epoch {epoch})").format(step=ev.step, epoch=ev.epoch)
                    + _kept(save, last_saved)
                )
                out.fact("diverged", step=ev.step, epoch=ev.epoch, checkpoint_epoch=last_saved)
            elif isinstance(ev, Result):
                text, fields = result(ev)
                out.fact("result", text, **fields, checkpoint=save)

        with stop_on_interrupt() as should_stop:
            run = events(should_stop)
            for ev in run:
                handle(ev)
                if isinstance(ev, Epoch) and ev.epoch == epochs:
                    break  # measuring the result comes next: Ctrl-C then interrupts at once
        bar.close()
        if stopped is not None:
            out.status(
                _("stopped after step {step} (epoch {epoch}), as asked").format(
                    step=stopped.step, epoch=stopped.epoch
                )
                + _kept(save, last_saved)
            )
            out.fact("stopped", step=stopped.step, epoch=stopped.epoch, checkpoint_epoch=last_saved)
            click.get_current_context().exit(130)
        for ev in run:
            handle(ev)
    finally:
        bar.close()
    if save:
        out.status(_("saved checkpoint {checkpoint}").format(checkpoint=save) + shown(saved_note))
