"""The MNIST CNN benchmark outside the command line: the same run and the same table as
`nbengine bench cnn`, with the same options.

    python benchmarks/cnn.py --batch-sizes 32,128 --rounds 5
    python benchmarks/cnn.py --startup --json > cnn.jsonl

See nbengine/bench/cnn.py for what is timed and how the thread pools are kept apart.
"""

import sys

from nbengine.errors import NBEngineError
from nbengine_cli.bench import bench_cnn

if __name__ == "__main__":
    try:
        bench_cnn(prog_name="python benchmarks/cnn.py")
    except NBEngineError as e:  # as the nbengine command reports it: one line and its exit code
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
