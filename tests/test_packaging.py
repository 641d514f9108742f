"""What the wheel holds: the engine, the command line and the data sets, never the benchmarks
or the tests; and what `nbengine bench` does where the benchmarks are not."""

from __future__ import annotations

import tomllib
from pathlib import Path

from helpers import ROOT, run

import nbengine

LEFT_OUT = ("benchmarks", "tests")


def packaged_folders(pyproject: Path) -> dict[str, Path]:
    """Each package setuptools puts in the wheel, with the folder it comes from: the explicit
    ``packages`` list, a dotted name found under its top-level package's ``package-dir``."""
    config = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]
    assert isinstance(config["packages"], list), (
        "packages is an explicit list (no find: that could pick up tests)"
    )
    roots = config.get("package-dir", {})
    folders = {}
    for name in config["packages"]:
        top, *rest = name.split(".")
        folders[name] = (pyproject.parent / roots.get(top, top)).joinpath(*rest).resolve()
    return folders


def left_out_but_packaged(pyproject: Path) -> list[str]:
    left_out = [(pyproject.parent / f).resolve() for f in LEFT_OUT]
    return [
        f"{name} ({folder})"
        for name, folder in packaged_folders(pyproject).items()
        if name.split(".")[0] in LEFT_OUT
        or any(folder == f or f in folder.parents for f in left_out)
    ]


def test_the_wheel_holds_no_benchmarks_and_no_tests():
    folders = packaged_folders(ROOT / "pyproject.toml")
    assert {"nbengine", "nbengine.kernels", "nbengine_cli", "nbengine_datasets"} <= set(folders)
    assert all(folder.is_dir() for folder in folders.values())
    assert left_out_but_packaged(ROOT / "pyproject.toml") == []


def test_the_wheel_check_finds_a_benchmark_or_test_package(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools]\npackages = ["nbengine", "nbengine.bench", "benchmarks", "refs"]\n'
        '[tool.setuptools.package-dir]\nrefs = "tests/reference"\nnbengine = "nbengine"\n'
    )
    found = left_out_but_packaged(tmp_path / "pyproject.toml")
    assert [f.split()[0] for f in found] == ["benchmarks", "refs"]


def test_every_package_of_the_engine_and_the_command_line_is_in_the_wheel():
    """A sub-package missing from the explicit list would be missing from the wheel."""
    folders = set(packaged_folders(ROOT / "pyproject.toml").values())
    tops = [Path(nbengine.__file__).resolve().parent, ROOT / "cli", ROOT / "datasets"]
    on_disk = {
        p.parent.resolve()
        for top in tops
        for p in top.rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert len(on_disk) >= 10
    assert on_disk - folders == set()


def test_bench_outside_a_source_checkout_says_where_to_get_the_benchmarks(tmp_path, monkeypatch):
    """As from a wheel: nbengine imported from a folder with no pyproject.toml and no benchmarks/
    beside it. One line on stderr, exit 2, for a command and for an option that needs them."""
    installed = tmp_path / "site-packages" / "nbengine"
    installed.mkdir(parents=True)
    monkeypatch.setattr(nbengine, "__file__", str(installed / "__init__.py"))
    for args in (["bench", "cnn", "--no-torch"], ["bench", "attention", "--sizes", "toy"]):
        result = run(*args, code=2)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            "error: the benchmarks are not in the installed package"
        )
        assert "source checkout" in lines[0] and "Traceback" not in result.output
    # the commands' help needs no benchmarks
    assert "--batch-sizes" in run("bench", "cnn", "--help").stdout
