"""The engine returns data and never talks to the terminal: only cli/ prints."""

from __future__ import annotations

import ast
from pathlib import Path

import nbengine

ENGINE = Path(nbengine.__file__).parent
FORBIDDEN = {"click", "rich", "nbengine_cli", "cli"}


def engine_files():
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) >= 10, f"expected the engine's modules under {ENGINE}"
    return files


def test_engine_never_imports_the_cli_or_terminal_libraries():
    offenders = []
    for path in engine_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_engine_never_prints():
    offenders = []
    for path in engine_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "input"):
                offenders.append(f"{path.name}:{node.lineno} calls {node.func.id}()")
            if isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr") and \
                    isinstance(node.value, ast.Name) and node.value.id == "sys":
                offenders.append(f"{path.name}:{node.lineno} uses sys.{node.attr}")
    assert offenders == []


def test_every_kernel_is_cached():
    # cache=True on every @njit, so a second start loads compiled code instead of recompiling
    missing = []
    for path in sorted((ENGINE / "kernels").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef):
                for dec in node.decorator_list:
                    if isinstance(dec, ast.Call) and getattr(dec.func, "id", "") == "njit":
                        if not any(k.arg == "cache" and getattr(k.value, "value", False) is True for k in dec.keywords):
                            missing.append(f"{path.name}:{node.name}")
                    elif getattr(dec, "id", "") == "njit":
                        missing.append(f"{path.name}:{node.name}")
    assert missing == []


CLI = Path(__file__).resolve().parent.parent / "cli"


def cli_imports():
    for path in sorted(CLI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                yield path, node.lineno, [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield path, node.lineno, [node.module] + [f"{node.module}.{a.name}" for a in node.names]


def test_the_command_line_never_imports_a_kernel_or_a_layer():
    """Commands pick kernels (nbengine.kernels.registry) but never call one, and never build
    a layer: what a trace shows comes from nbengine.explain."""
    offenders = []
    for path, line, names in cli_imports():
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["nbengine", "layers"] or (parts[:2] == ["nbengine", "kernels"] and len(parts) > 2
                                                        and parts[2] != "registry"):
                offenders.append(f"{path.relative_to(CLI)}:{line} imports {name}")
    assert offenders == []


def test_traces_and_renderers_are_small_files():
    sizes = {str(p.relative_to(CLI)): len(p.read_text().splitlines())
             for folder in ("trace", "render") for p in (CLI / folder).glob("*.py")}
    assert len(sizes) >= 10
    assert {name: n for name, n in sizes.items() if n >= 300} == {}


def test_trace_commands_make_one_explain_call_and_one_render_call():
    """Nothing in cli/trace/ writes to the output itself: no show/emit pairs, one renderer."""
    for path in sorted((CLI / "trace").glob("*.py")):
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]
        attrs = {n.func.attr for n in calls if isinstance(n.func, ast.Attribute)}
        assert not attrs & {"show", "emit", "print"}, path.name
        names = {n.func.id for n in calls if isinstance(n.func, ast.Name)}
        if path.name not in ("__init__.py", "text.py"):
            assert names & {"render"} or "render" in attrs, f"{path.name} renders nothing"
