"""One builder each for the train, eval and generate commands of `rnnlm`, `lstmlm` and
`transformer` (not a lesson: the lessons, language.py and transformer.py, give each
its model's options and help). The work is the engine's (nbengine.lm), imported
inside each command, so `nbengine --help` stays instant.
"""

from __future__ import annotations

import contextlib
import inspect
import math

import click
from rich.text import Text

from nbengine.i18n import N_, _, ngettext, shown
from nbengine_cli import run
from nbengine_cli.options import (
    Float,
    cache_dir_option,
    checkpoint_option,
    data_reference,
    json_options,
    threads_option,
    training_json_options,
)
from nbengine_cli.output import Output

CELL = {"rnnlm": "RNN", "lstmlm": "LSTM", "transformer": "Transformer"}
# A vocabulary's size at each level, in the status line of `generate`.
VOCAB_SIZE = {"word": N_("{n:,} words"), "char": N_("{n:,} chars")}
# The most tokens `generate` makes in one run: a small Transformer writes about 30 a second
# on 2 cores, so this is an hour, and --length 10²⁰ is refused instead of running for ever.
MAX_GENERATE = 100_000


def ppl_text(v: float) -> str:
    """A perplexity for a table: 4 decimals near 1, 2 with thousands separators above 10."""
    if not math.isfinite(v):
        return "inf"
    if v < 10:
        return f"{v:.4f}"
    return f"{v:,.2f}" if v < 1e7 else f"{v:.3e}"


@contextlib.contextmanager
def options_checked():
    """The engine's SettingError (nbengine.lm) as Click's error for the option it names."""
    from nbengine.lm import SettingError

    try:
        yield
    except SettingError as e:
        raise click.BadParameter(
            shown(e.problem), param_hint=f"'--{e.setting.replace('_', '-')}'"
        ) from None


# -- train ----------------------------------------------------------------------------------------

# What every language model's train command takes after its model's settings.
RUN_OPTIONS = [
    click.option(
        "--vocab-size",
        type=click.IntRange(min=2),
        default=None,
        help="Keep the most frequent tokens, <unk> for the rest  [default: 10,000 words; no limit "
        "for characters].",
    ),
    click.option(
        "--seed", type=int, default=0, show_default=True, help="Seed of the initial weights."
    ),
    click.option(
        "--every",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="A table row every N epochs and after the last  [default: 1, or a tenth of the epochs "
        "past 20]. JSON lines have every epoch.",
    ),
    cache_dir_option,
    threads_option,
    click.option(
        "--save",
        type=click.Path(dir_okay=False),
        default=None,
        metavar="CKPT",
        help="Write the model, its vocabulary and settings to this .npz checkpoint with every "
        "table row: after every epoch, or every N with --every (atomically: an interrupted or "
        "diverged run leaves the last good one).",
    ),
    training_json_options,
]

epochs_option = click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Passes over the training text  [default: 200 for toy, else 4].",
)


def train_command(kind: str, options: list, steps: str = "", **about) -> click.Command:
    """`train KIND` with its model's ``options`` (decorators, in the order of --help), then
    RUN_OPTIONS; its help in ``about``; ``steps`` names the batch's second size in the status line."""

    def command(
        data,
        level,
        seed,
        every,
        cache_dir,
        threads,
        save,
        json_mode,
        json_epochs,
        quiet,
        ptb_settings=False,
        **given,
    ):
        from nbengine import lm
        from nbengine.checkpoint import check_folder
        from nbengine.data.text import files_read, load_corpus
        from nbengine.kernels import registry
        from nbengine.lm_train import fit_corpus

        out = Output(json_mode or json_epochs, quiet)
        with options_checked():
            s = lm.settings(kind, data, level, given, ptb_settings)
        if save:  # say so before training
            check_folder(save, [("--data", path) for path in files_read(data, cache_dir)])
        n_threads = run.set_threads(threads)
        corpus = load_corpus(
            data, level=s["level"], vocab_size=s["vocab_size"], cache_dir=cache_dir
        )
        model, opt = lm.build(kind, s, corpus, data_reference(data, lm.TEXT_NAMES), seed)
        B, T, E = s["batch_size"], s["time_size"], s["epochs"]
        V = len(corpus.vocab)
        start, per_epoch, sample = fit_corpus(model, opt, corpus, B, T, epochs=E, clip=s["clip"])
        out.status(
            ngettext(
                "{model} language model, {params:,} parameters ({sizes}); {data}; {optimizer} η {lr:g}, clip {clip:g}, "
                "batch {batch} × {time}{steps} ({per_epoch:,} per epoch), {epochs} epoch; seed {seed}; {threads} threads; "
                "{kernels}",
                "{model} language model, {params:,} parameters ({sizes}); {data}; {optimizer} η {lr:g}, clip {clip:g}, "
                "batch {batch} × {time}{steps} ({per_epoch:,} per epoch), {epochs} epochs; seed {seed}; {threads} "
                "threads; {kernels}",
                E,
            ).format(
                model=CELL[kind],
                params=model.n_params,
                sizes=shown(model.description),
                data=shown(corpus.description),
                optimizer=s["optimizer"],
                lr=s["lr"],
                clip=s["clip"],
                batch=B,
                time=T,
                steps=_(steps) if steps else "",
                per_epoch=per_epoch,
                epochs=E,
                seed=seed,
                threads=n_threads,
                kernels=shown(registry.describe()),
            )
        )
        out.fact(
            "start",
            model=kind,
            data=corpus.name,
            level=s["level"],
            n_train=int(len(corpus.train)),
            n_valid=int(len(corpus.valid)),
            n_test=int(len(corpus.test)),
            vocab_size=V,
            seed=seed,
            epochs=E,
            batch_size=B,
            time_size=T,
            **model.sizes,
            optimizer=s["optimizer"],
            lr=s["lr"],
            clip=s["clip"],
            threads=n_threads,
            kernels=registry.current(),
            parameters=model.n_params,
            steps_per_epoch=per_epoch,
        )

        def result(ev):
            m = ev.metrics
            return (
                _(
                    "test perplexity {perplexity} (loss {loss:.4f} per token, {n:,} tokens); a uniform guess over "
                    "the {vocab:,} tokens would score {vocab:,}"
                ).format(
                    perplexity=ppl_text(m["test_perplexity"]),
                    loss=m["test_loss"],
                    n=m["n_test"],
                    vocab=V,
                ),
                dict(
                    test_loss=m["test_loss"],
                    test_perplexity=m["test_perplexity"],
                    n_test=m["n_test"],
                    vocab_size=V,
                ),
            )

        def ppl(name):
            return lambda ev: ppl_text(ev.metrics[name]) if ev.metrics[name] is not None else "–"

        run.train(
            out,
            model,
            opt,
            start,
            epochs=E,
            steps_per_epoch=per_epoch,
            result=result,
            sample=sample,
            save=save,
            json_steps=not json_epochs,
            unit="tokens",
            every=every or (1 if E <= 20 else max(1, E // 10)),
            columns=[
                (_("train ppl"), 10, ppl("perplexity")),
                (_("valid ppl"), 10, ppl("valid_perplexity")),
            ],
        )

    for option in reversed(options + RUN_OPTIONS):
        command = option(command)
    return click.command(kind, **about)(command)


# -- eval -----------------------------------------------------------------------------------------

lm_checkpoint = checkpoint_option("rnnlm|lstmlm|transformer")


def eval_command(kind: str, help: str) -> click.Command:
    """`eval KIND`: the perplexity of a checkpoint on a split of a text; ``help`` says how
    the text is read (its help's second paragraph)."""

    @click.command(
        kind,
        help=inspect.cleandoc(f"""
                   The perplexity of the {CELL[kind]} language model of a checkpoint on a split of a text:
                   exp(mean loss), the loss being -log p(the token that really came next) at every token.
                   """)
        + "\n\n"
        + inspect.cleandoc(help),
        short_help="Perplexity of {a_cell} language model checkpoint on a text.".format(
            a_cell={"rnnlm": "an RNN", "lstmlm": "an LSTM", "transformer": "a Transformer"}[kind]
        ),
    )
    @lm_checkpoint
    @click.option(
        "--data",
        default=None,
        metavar="NAME|PATH",
        help="The text to measure  [default: the text the model was trained on].",
    )
    @click.option(
        "--split",
        type=click.Choice(["test", "valid", "train"]),
        default="test",
        show_default=True,
        help="Which part of the text.",
    )
    @click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=None,
        help="Parallel streams  [default: the training run's].",
    )
    @click.option(
        "--time-size",
        type=click.IntRange(min=1),
        default=None,
        help="Time steps per batch  [default: the training run's].",
    )
    @cache_dir_option
    @threads_option
    @json_options
    def command(ckpt, data, split, batch_size, time_size, cache_dir, threads, json_mode, quiet):
        out = Output(json_mode, quiet)
        run.set_threads(threads)
        from nbengine import lm

        model, vocab = lm.load(kind, ckpt)
        ref = data or model.extra_config.get("data")
        if not ref:
            raise click.UsageError(
                _("the checkpoint does not say what it was trained on: give --data")
            )
        with options_checked():
            corpus, ev, unknown = lm.measure(
                model, vocab, ref, split, batch_size, time_size, cache_dir
            )
        out.status(corpus.description)
        if unknown:
            out.status(
                _("{n:,} tokens the model's vocabulary does not hold are read as <unk>").format(
                    n=unknown
                )
            )
        how = (
            _("read in windows of {time_size} overlapping by half").format(time_size=ev.time_size)
            if ev.overlapping
            else _("read in batches of {batch_size} × {time_size}").format(
                batch_size=ev.batch_size, time_size=ev.time_size
            )
        )
        out.fact(
            "result",
            _(
                "{split} perplexity {perplexity} (loss {loss:.4f} per token, {tokens:,} tokens {how}); a "
                "uniform guess over the {vocab:,} tokens would score {vocab:,}"
            ).format(
                split=split,
                perplexity=ppl_text(ev.perplexity),
                loss=ev.loss,
                tokens=ev.tokens,
                how=how,
                vocab=len(vocab),
            ),
            model=kind,
            data=corpus.name,
            split=split,
            loss=ev.loss,
            perplexity=ev.perplexity,
            tokens=ev.tokens,
            batch_size=ev.batch_size,
            time_size=ev.time_size,
            overlapping=ev.overlapping,
            vocab_size=len(vocab),
            unknown=unknown,
        )

    return command


# -- generate -------------------------------------------------------------------------------------


def generate_command(kind: str, help: str) -> click.Command:
    """`generate KIND`: text sampled from a checkpoint; ``help`` says how, one token at a time
    (its help's first paragraph)."""

    @click.command(
        kind,
        help=inspect.cleandoc(help)
        + "\n\n"
        + inspect.cleandoc("""
                   The same seed gives the same text. "<unk>" is never drawn; at word level each
                   "<eos>" (the end of a line) is printed as a line break.
                   """),
        short_help="Sample text from {a_cell} language model checkpoint.".format(
            a_cell={"rnnlm": "an RNN", "lstmlm": "an LSTM", "transformer": "a Transformer"}[kind]
        ),
    )
    @lm_checkpoint
    @click.option(
        "--start",
        default=None,
        metavar="TEXT",
        help='The text to continue  [default: "you" for words when the model knows it, else the '
        "training text's first token].",
    )
    @click.option(
        "--length",
        type=click.IntRange(1, MAX_GENERATE),
        default=None,
        metavar="N",
        help=f"Tokens to generate, at most {MAX_GENERATE:,}  [default: 100 words or 300 characters, at "
        f"most the training text's length]. A progress bar runs on a terminal.",
    )
    @click.option(
        "--temperature",
        type=Float(min=0, min_open=True),
        default=1.0,
        show_default=True,
        help="Below 1 the likeliest tokens win more often; above 1 the choice is flatter: "
        "p ∝ exp(score / temperature).",
    )
    @click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling.")
    @threads_option
    @json_options
    def command(ckpt, start, length, temperature, seed, threads, json_mode, quiet):
        from nbengine import lm
        from nbengine.data.text import join_tokens

        out = Output(json_mode, quiet)
        run.set_threads(threads)
        model, vocab = lm.load(kind, ckpt)
        level = model.extra_config["level"]
        start = start if start is not None else model.extra_config.get("start") or vocab.tokens[0]
        with options_checked():
            start_tokens, unknown = lm.read_start(vocab, start, level)
        if unknown:
            listed = ", ".join(repr(t) for t in dict.fromkeys(unknown))
            out.status(
                ngettext(
                    "note: {tokens} is not in the model's vocabulary; read as <unk>",
                    "note: {tokens} are not in the model's vocabulary; read as <unk>",
                    len(set(unknown)),
                ).format(tokens=listed)
            )
        length = length or lm.generate_length(model.extra_config, len(start_tokens))
        generated = []
        with out.progress(_("generating"), length) as advance:
            for token in lm.sample(model, vocab, start_tokens, length, seed, temperature):
                generated.append(token)
                advance()
        new_tokens = vocab.decode(generated)
        text = join_tokens(start_tokens + new_tokens, level)
        head = join_tokens(start_tokens, level)
        out.status(
            _("{model} language model ({tokens}); temperature {temperature:g}, seed {seed}").format(
                model=CELL[kind],
                tokens=_(VOCAB_SIZE[level]).format(n=len(vocab)),
                temperature=temperature,
                seed=seed,
            )
        )
        shown = (
            Text.assemble((head, "bold"), text[len(head) :])
            if text.startswith(head)
            else Text(text)
        )
        out.fact(
            "result",
            shown,
            model=kind,
            start=start,
            start_tokens=start_tokens,
            tokens=new_tokens,
            ids=[int(i) for i in generated],
            text=text,
            unknown=unknown,
            temperature=temperature,
            seed=seed,
            level=level,
        )

    return command
