"""No import cycles among batchtop's modules: every `import` counts, module-level, function-level and
`TYPE_CHECKING` alike (a function-level import hides a cycle until that function runs; a typing-only one
still ties the two modules together). The graph is read from the sources with `ast`, nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"batchtop.core": ROOT / "core", "batchtop.tui": ROOT / "tui"}


def modules() -> dict[str, Path]:
    """Every batchtop module (packages by their `__init__.py`), by dotted name."""
    out: dict[str, Path] = {}
    for package, directory in PACKAGES.items():
        for path in sorted(directory.rglob("*.py")):
            parts = [p for p in path.relative_to(directory).with_suffix("").parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The batchtop modules `name` imports anywhere in its source (`from pkg import module` names the module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                names.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module)
    out = set()
    for target in names:
        while target and target not in known:  # `import batchtop.core.x.attr` -> batchtop.core.x
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[tuple[list[str], set[str]]]:
    """Per strongly connected component of the graph: its shortest cycle through its first module (as a
    path that returns to its start), and every module of the component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan; the graph is ~150 modules deep at most
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    found = []
    for component in components:
        start = min(component)
        # Breadth-first from `start` inside the component, back to `start`: the shortest cycle through it.
        paths = {start: [start]}
        queue = [start]
        cycle: list[str] | None = None
        while queue and cycle is None:
            v = queue.pop(0)
            for w in sorted(edges[v] & component):
                if w == start:
                    cycle = [*paths[v], start]
                    break
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    queue.append(w)
        assert cycle is not None
        found.append((cycle, component))
    return found


def test_cycle_finder_reports_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [(["a", "b", "c", "a"], {"a", "b", "c"})]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_level_and_typing_imports() -> None:
    edges = graph()
    assert "batchtop.core.source" in edges["batchtop.tui.app"]
    assert len(edges) > 100


@pytest.mark.parametrize("package", ["batchtop.tui", "batchtop.core"])
def test_no_import_cycles(package: str) -> None:
    edges = graph()
    found = [(c, members) for c, members in cycles(edges) if any(m.startswith(package + ".") for m in c)]
    assert not found, "import cycles:\n" + "\n".join(
        f"  {' -> '.join(c)}\n    (all of: {', '.join(sorted(members))})" for c, members in found)

