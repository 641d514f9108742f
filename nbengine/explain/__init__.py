"""Explanations: the lessons' traces as engine data.

Each function runs the engine's own models and layers (forward, backward, and the
tracer) and returns a :class:`~nbengine.explain.steps.Steps` list: an ordered list of
typed steps (sentences, named tensors, worked-example windows, tables, facts). The
command line renders such a list to the terminal, JSON lines, SVG or HTML; in a
notebook, ``nbengine_cli.render.show(steps)`` draws it as the terminal does.

    from nbengine import explain
    steps = explain.conv_windows()        # the lesson's 4×4 input and 3×3 filter
    steps.tensors()["Y"]                  # the last output, as a NumPy array
"""

from nbengine.explain import lessons
from nbengine.explain.attention import attention, attention_example, pronoun_attention
from nbengine.explain.bptt import bptt
from nbengine.explain.cnn import cnn, cnn_summary
from nbengine.explain.logreg import logreg
from nbengine.explain.recurrent import lstm, rnn
from nbengine.explain.steps import (
    Column,
    Fact,
    Figure,
    Maps,
    Say,
    Steps,
    Table,
    Tensor,
    Window,
    fact,
    tensor,
)
from nbengine.explain.worked import conv_windows, pool

__all__ = [
    "Column",
    "Fact",
    "Figure",
    "Maps",
    "Say",
    "Steps",
    "Table",
    "Tensor",
    "Window",
    "attention",
    "attention_example",
    "bptt",
    "cnn",
    "cnn_summary",
    "conv_windows",
    "fact",
    "lessons",
    "logreg",
    "lstm",
    "pool",
    "pronoun_attention",
    "rnn",
    "tensor",
]
