"""Self-attention's benchmark outside the command line: the same run and the same table as
`nbengine bench attention`, with the same options.

    python benchmarks/attention.py --rounds 5
    python benchmarks/attention.py --sizes large --json > attention.jsonl

See nbengine/bench/attention.py for what is timed, and nbengine/bench/cnn.py for how the
thread pools are kept apart.
"""

import sys

from nbengine.errors import NBEngineError
from nbengine_cli.bench import bench_attention

if __name__ == "__main__":
    try:
        bench_attention(prog_name="python benchmarks/attention.py")
    except NBEngineError as e:  # as the nbengine command reports it: one line and its exit code
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
