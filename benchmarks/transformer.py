"""The Transformer language model's benchmark outside the command line: the same run and the same table as
`nbengine bench transformer`, with the same options.

    python benchmarks/transformer.py --rounds 5
    python benchmarks/transformer.py --sizes default --json > transformer.jsonl

See nbengine/bench/transformer.py for what is timed, and nbengine/bench/cnn.py for how the
thread pools are kept apart.
"""

import sys

from nbengine.errors import NBEngineError
from nbengine_cli.bench import bench_transformer

if __name__ == "__main__":
    try:
        bench_transformer(prog_name="python benchmarks/transformer.py")
    except NBEngineError as e:  # as the nbengine command reports it: one line and its exit code
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
