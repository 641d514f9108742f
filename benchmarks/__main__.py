"""`python -m benchmarks NAME [OPTIONS]`, from the repository's root: the same commands, options
and tables as `nbengine bench NAME`, for running the benchmarks outside the command line.

    python -m benchmarks cnn --batch-sizes 32,128 --rounds 5
    python -m benchmarks lstmlm --sizes ptb --json > lstmlm.jsonl
    python -m benchmarks kernels --sizes small
"""

from nbengine_cli.main import bench

if __name__ == "__main__":
    bench(prog_name="python -m benchmarks")
