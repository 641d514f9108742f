"""`nbengine trace attention`: self-attention in the lesson's four steps."""

from __future__ import annotations

import click

from nbengine.i18n import _
from nbengine_cli.options import output_options
from nbengine_cli.output import Output


@click.command(
    "attention", short_help="Self-attention with real numbers: Q, K, V, QKᵀ/√d_k, softmax, Z."
)
@click.argument("sentence", required=False, default=None)
@click.option(
    "--d-model",
    "d_model",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    metavar="N",
    help="Size of each token's embedding.",
)
@click.option(
    "--d-k",
    "d_k",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    metavar="N",
    help="Size of the queries, keys and values.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the embeddings and of Wq, Wk, Wv.",
)
@click.option(
    "--example",
    is_flag=True,
    help="Replay the lesson's own numbers: scores 110, 90, 80 with d_k = 64.",
)
@click.option(
    "--checkpoint",
    "ckpt",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="CKPT",
    help='Trained weights from `nbengine train pronoun --save`: where the trained "it" looks  '
    '[sentence default: "A cat ate the fish because it was hungry"].',
)
@output_options
def trace_attention(sentence, d_model, d_k, seed, example, ckpt, json_mode, quiet, precision, full):
    """Self-attention on a sentence, in the lesson's four steps, every number computed.

    \b
    1. Q = X·Wq, K = X·Wk, V = X·Wv    X: each token's embedding (a row per token)
    2. QKᵀ                              how well each query matches each key
    3. QKᵀ / √d_k                       scaled, so the softmax is not too sharp
    4. softmax of each row              the attention weights; then Z = weights·V

    SENTENCE is split on spaces [default: "I am good"]. The embeddings and the weight
    matrices are seeded random numbers (untrained); the same word gets the same vector.
    Steps 3 and 4 and Z come from the attention kernel (attention_forward_naive with
    --kernels naive, else attention_forward).

    With --checkpoint, a trained pronoun model reads the sentence (lower-cased; it must
    hold "it") and the steps are its own: the query of "it" against the keys of the
    words, the weights its answer is read from, and the word it chose.
    """
    from nbengine import explain
    from nbengine.explain.lessons import ATTENTION_TOKENS
    from nbengine_cli.render import render

    out = Output(json_mode, quiet, precision, full)
    ctx = click.get_current_context()
    given = [
        name
        for name in ("d_model", "d_k", "seed", "example")
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
    ]
    if ckpt is not None:
        if given:
            raise click.BadParameter(
                _("{option} cannot go with --checkpoint: the trained model has its own").format(
                    option="--" + given[0].replace("_", "-")
                ),
                param_hint="'--checkpoint'",
            )
        from nbengine.models.pronoun import load_with_task

        model, _task = load_with_task(ckpt)
        steps = explain.attention(sentence, model=model, source=ckpt)
    elif example:
        if sentence is not None and sentence.split() != list(ATTENTION_TOKENS):
            raise click.BadParameter(
                _("--example replays the lesson's sentence {sentence!r}").format(
                    sentence=" ".join(ATTENTION_TOKENS)
                ),
                param_hint="'SENTENCE'",
            )
        steps = explain.attention_example()
    else:
        if sentence is not None and not sentence.split():
            raise click.BadParameter(_("the sentence has no words"), param_hint="'SENTENCE'")
        steps = explain.attention(sentence, d_model, d_k, seed)
    render(out, steps)
