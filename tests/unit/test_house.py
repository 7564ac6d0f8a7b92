"""House rules of the source tree, checked by reading it with ``ast`` (nothing is imported).

- no function or method longer than MAX_FUNCTION_LINES lines, decorators included, in
  midnet/, scripts/ and benchmarks/;
- no import cycle between midnet's modules, counting the imports inside functions too
  (a cycle through midnet.models and midnet.models.weights once made ``import midnet`` depend
  on the order in which modules were first imported).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "midnet"
SOURCE_DIRS = ("midnet", "scripts", "benchmarks")
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _trees() -> dict[str, ast.Module]:
    return {name: ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) for name, path in MODULES.items()}


def _imported_modules(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The midnet modules an import statement of ``module`` loads (``from .pkg import sub``: pkg.sub)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        target = f"{package}.{node.module}" if node.module else package
    else:
        target = node.module or ""
    return [f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """midnet module -> the midnet modules it imports anywhere in its body (top level or in functions)."""
    graph = {}
    for module, tree in _trees().items():
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps.update(m for m in _imported_modules(module, node) if m in MODULES and m != module)
        graph[module] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search for a back edge)."""
    state: dict[str, str] = {}  # module -> "open" while on the search path, "done" after

    def visit(path: list[str]) -> list[str] | None:
        state[path[-1]] = "open"
        for dep in sorted(graph[path[-1]]):
            if state.get(dep) == "open":  # back to a module on the path: the path from it is a cycle
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := visit(path + [dep])):
                return cycle
        state[path[-1]] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit([module])):
            return cycle
    return None


def function_lengths(tree: ast.Module) -> list[tuple[int, str, int]]:
    """(first line, name, lines) of every function and method, counted from its first decorator:
    a command's click options are part of what a reader has to take in."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            found.append((first, node.name, node.end_lineno - first + 1))
    return found


def test_no_function_is_longer_than_the_limit():
    too_long = []
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            too_long += [f"{path.relative_to(ROOT)}:{first} {name} ({lines} lines)"
                         for first, name, lines in function_lengths(tree) if lines > MAX_FUNCTION_LINES]
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: " + "; ".join(too_long)


def test_function_length_counts_the_decorators():
    source = "@a\n@b(\n  1)\ndef f():\n    return 1\n"
    assert function_lengths(ast.parse(source)) == [(1, "f", 5)]


def test_the_graph_resolves_relative_imports():
    graph = import_graph()
    assert {"midnet.models", "midnet.models.weights"} <= set(graph)
    assert "midnet.errors" in graph["midnet.models"]  # `from ..errors import` inside a subpackage
    assert "midnet.data.pairs" in graph["midnet.data"]  # `from .pairs import` inside a package __init__


def test_no_import_cycle_between_midnet_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# Capabilities built on the core live in their own rooms; the core may not import them, so
# that `import midnet` and `midnet deblur` never pull in napari, Dask or bioimageio.
ROOMS = ("midnet.export", "midnet.napari", "midnet.cluster", "midnet.cli", "midnet.watch", "midnet.server")
# `midnet.export_model` is the export room's entry point, imported by the package only when first asked for
GATEWAYS = {("midnet", "midnet.export")}
# The core's packages from the bottom up (docs/architecture.md): each may import only those below it
CORE_LAYERS = ("midnet.errors", "midnet.choices", "midnet.images", "midnet.models", "midnet.inference", "midnet.data",
               "midnet.quality", "midnet.training", "midnet.pipeline")


def _in_room(module: str) -> bool:
    return any(module == room or module.startswith(room + ".") for room in ROOMS)


def test_the_core_never_imports_a_room():
    graph = import_graph()
    breaches = sorted(f"{module} -> {dep}" for module, deps in graph.items() if not _in_room(module)
                      for dep in deps if _in_room(dep) and (module, dep) not in GATEWAYS)
    assert not breaches, "core modules importing rooms: " + "; ".join(breaches)


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_each_core_package_imports_only_the_packages_below_it():
    graph = import_graph()
    breaches = sorted(f"{module} -> {dep}" for module, deps in graph.items() if _package(module) in CORE_LAYERS
                      for dep in deps if _package(dep) != _package(module) and (
                          _package(dep) not in CORE_LAYERS
                          or CORE_LAYERS.index(_package(dep)) > CORE_LAYERS.index(_package(module))))
    assert not breaches, "core packages importing upwards: " + "; ".join(breaches)


def test_every_module_lives_in_a_package_or_is_one_of_the_few_at_the_top():
    top = sorted(name for name in MODULES if name.count(".") == 1 and MODULES[name].name != "__init__.py")
    assert top == ["midnet.choices", "midnet.errors", "midnet.pipeline", "midnet.watch"], top


# what a network or a restorer declares is read, never probed: RestorationNetwork (midnet/models/protocol.py)
# and the restorers' dataclasses (midnet/inference/restore.py) name these attributes
DECLARED = ("padder_size", "in_chans", "residual", "exposes_residual", "choice", "tile_network", "made_with")


def test_declared_attributes_are_never_probed():
    probes = []
    for module, tree in _trees().items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value in DECLARED):
                probes.append(f"{module}:{node.lineno} {node.func.id}(..., {node.args[1].value!r})")
    assert not probes, "probes of declared attributes: " + "; ".join(probes)


def test_one_settings_type_says_how_to_restore():
    """midnet.inference.settings.RestoreSettings is the only settings class: napari, Dask and the server hold one."""
    others = sorted(f"{module}.{node.name}" for module, tree in _trees().items() for node in ast.walk(tree)
                    if isinstance(node, ast.ClassDef) and node.name.endswith("Settings")
                    and (module, node.name) != ("midnet.inference.settings", "RestoreSettings"))
    assert not others, "settings classes beside RestoreSettings: " + ", ".join(others)
