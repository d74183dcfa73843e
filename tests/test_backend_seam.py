"""The storage backend seam: SQLite is known only in `core/backends/sqlite/`, PostgreSQL only in
`core/backends/postgres/`, and everything above reaches a backend through the source's `backend` object.

Read from the sources with `ast` (nothing is imported): outside `core/backends/` (and `core/simulator/`,
which writes demo databases) no module imports `sqlite3` or holds SQL text in a string (docstrings aside),
and no core module outside `core/backends/` imports `core.backends.postgres`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"

#: Statements and the SQLite time function: SQL text no backend-agnostic module may hold.
SQL_TEXT = re.compile(r"\bSELECT\b|\bUPDATE\b[^\n]*\bSET\b|\bINSERT\s+INTO\b|\bPRAGMA\b|\bDELETE\s+FROM\b|julianday\(",
                      re.IGNORECASE)


def _agnostic_modules() -> list[tuple[str, Path]]:
    return [(path.relative_to(CORE).as_posix(), path) for path in sorted(CORE.rglob("*.py"))
            if not path.relative_to(CORE).as_posix().startswith(("backends/", "simulator/"))]


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names += [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def offences(path: Path) -> list[str]:
    """What ties a module to SQLite: `import sqlite3` and SQL text in its strings, with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = [f"{line}: imports sqlite3" for line, name in
             ((getattr(n, "lineno", 0), name) for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
              for name in _imports(n)) if name.split(".")[0] == "sqlite3"]
    docs = _docstrings(tree)
    found += [f"{node.lineno}: SQL text {node.value[:60]!r}" for node in ast.walk(tree)
              if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
              and SQL_TEXT.search(node.value)]
    return found


def test_the_check_sees_sql_and_sqlite3(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text('"""SELECT in a docstring is fine."""\nimport sqlite3\nq = f"SELECT {1} FROM t"\n')
    assert [o.split(":")[0] for o in offences(sample)] == ["2", "3"]


def test_backend_agnostic_modules_hold_no_sqlite() -> None:
    bad = {rel: o for rel, path in _agnostic_modules() if (o := offences(path))}
    assert not bad, "SQLite outside core/backends/sqlite/:\n" + "\n".join(
        f"  core/{rel}: {'; '.join(o[:3])}" for rel, o in bad.items())

