"""The naive kernels against their C twins outside the command line: the same run and the same
table as `nbengine bench kernels`, with the same options.

    python benchmarks/kernels.py --rounds 5
    python benchmarks/kernels.py --sizes small --json > kernels.jsonl

See nbengine/bench/kernels.py for what is timed, and nbengine/bench/ctwins.py for how the C
twins are compiled.
"""

import sys

from nbengine.errors import NBEngineError
from nbengine_cli.bench import bench_kernels

if __name__ == "__main__":
    try:
        bench_kernels(prog_name="python benchmarks/kernels.py")
    except NBEngineError as e:  # as the nbengine command reports it: one line and its exit code
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
