"""The recurrent language models' benchmark outside the command line: the same runs and the
same tables as `nbengine bench lstmlm` and `nbengine bench rnnlm`, with the same options.

    python benchmarks/rnnlm.py lstmlm --rounds 5
    python benchmarks/rnnlm.py rnnlm --sizes ptb --json > rnnlm.jsonl

See nbengine/bench/rnnlm.py for what is timed, and nbengine/bench/cnn.py for how the
thread pools are kept apart.
"""

import sys

import click

from nbengine.errors import NBEngineError
from nbengine_cli.bench import bench_lstmlm, bench_rnnlm

group = click.Group("rnnlm", commands=[bench_lstmlm, bench_rnnlm],
                    help="The LSTM (lstmlm) and RNN (rnnlm) language models' training step against NumPy and PyTorch.",
                    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})

if __name__ == "__main__":
    try:
        group(prog_name="python benchmarks/rnnlm.py")
    except NBEngineError as e:  # as the nbengine command reports it: one line and its exit code
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
