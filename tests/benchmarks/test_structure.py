"""The package's shape, read from its imports: the library never imports a command, imports run one way
down the pipeline (benchmarks/__init__.py lists the layers in order), and nothing imports in a circle."""
from __future__ import annotations

import ast
import pathlib

import helpers

PACKAGE = pathlib.Path(helpers.REPO) / "benchmarks"
# The command modules (python -m benchmarks.<name>): on top, each only parses arguments.
COMMANDS = {"train", "stacked", "sweep", "train_one", "evaluate", "null_floor", "metric_sensitivity", "report",
            "explore", "quickstart", "zoo", "leaderboard"}
# The library's layers, from the bottom: a module may import its own layer and those before it.
LAYERS = [
    {"gin_config", "provenance", "cli", "run_dir"},
    {"models", "objectives"},
    {"study"},
    {"training", "runners"},
    {"evaluation"},
    {"reporting"},
    {"explorer", "pipeline"},
]


def _modules() -> dict[str, pathlib.Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(path: pathlib.Path, modules) -> set[str]:
    """The modules of the package ``path`` imports (``from a import b`` counts as ``a.b`` when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "benchmarks":
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "benchmarks")
    return {name for name in found if name in modules}


def _part(module: str) -> str:
    """The top-level part of ``benchmarks`` a module belongs to: ``benchmarks.training.run`` -> ``training``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "benchmarks"


def _layer(module: str) -> int | None:
    return next((i for i, layer in enumerate(LAYERS) if _part(module) in layer), None)


def test_every_module_is_a_command_or_in_a_layer():
    modules = _modules()
    unplaced = [m for m in modules if m != "benchmarks" and _part(m) not in COMMANDS and _layer(m) is None]
    assert not unplaced, f"add these to LAYERS or COMMANDS: {unplaced}"


def test_the_library_never_imports_a_command_and_imports_run_down_the_layers():
    modules = _modules()
    problems = []
    for module, path in modules.items():
        if module == "benchmarks" or _part(module) in COMMANDS:
            continue
        for imported in _imports(path, modules):
            if _part(imported) in COMMANDS:
                problems.append(f"{module} imports the command {imported}")
            elif _layer(imported) is not None and _layer(imported) > _layer(module):
                problems.append(f"{module} imports {imported}, a later layer")
    assert not problems, "\n".join(problems)


def test_no_module_imports_in_a_circle():
    modules = _modules()
    graph = {module: _imports(path, modules) - {module} for module, path in modules.items()}
    # A package's __init__ is not an edge back: importing benchmarks.training.run runs benchmarks/training/__init__.
    state, cycles = {}, []

    def visit(module, stack):
        state[module] = "open"
        stack.append(module)
        for imported in graph[module]:
            if state.get(imported) == "open":
                cycles.append(stack[stack.index(imported):] + [imported])
            elif imported not in state:
                visit(imported, stack)
        stack.pop()
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])
    assert not cycles, cycles
