"""The package imports without cycles: no module of ``contrastor`` reaches itself through the
imports it makes when loaded (module-level ``import``/``from`` statements; imports inside
functions and under ``TYPE_CHECKING`` do not run at load time)."""

from __future__ import annotations

import ast
from pathlib import Path

import contrastor

ROOT = Path(contrastor.__file__).parent


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _loaded_imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports at load time."""
    found = set()
    for node in ast.parse(path.read_text()).body:  # module level only
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules}
    return found


def test_no_import_cycles():
    files = {_name(p): p for p in ROOT.rglob("*.py")}
    graph = {name: _loaded_imports(path, set(files)) for name, path in files.items()}
    # a package's own __init__ re-exporting its submodules is not a cycle of theirs
    graph = {
        m: {d for d in deps if d != m and not m.startswith(d + ".")} for m, deps in graph.items()
    }
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
