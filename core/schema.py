"""Schema introspection: tables, columns and indexes, read in a few tiny statements."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from batchtop.core.sql import q


@dataclass(frozen=True)
class Column:
    """One column as `PRAGMA table_info` reports it."""

    name: str
    type: str
    notnull: bool
    pk: int


@dataclass(frozen=True)
class Table:
    """One table: its columns and the first column of each of its indexes."""

    name: str
    columns: tuple[Column, ...]
    indexed: frozenset[str]
    without_rowid: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        """Column names in declaration order."""
        return tuple(c.name for c in self.columns)

    def has(self, *names: str) -> bool:
        """True when every named column exists (case-insensitive, like SQLite)."""
        have = {c.name.lower() for c in self.columns}
        return all(n.lower() in have for n in names)


@dataclass(frozen=True)
class Schema:
    """All user tables of a database, and the schema cookie they were read at."""

    tables: dict[str, Table]
    version: int

    def table(self, name: str) -> Table | None:
        """Table by name, case-insensitively."""
        if name in self.tables:
            return self.tables[name]
        low = name.lower()
        return next((t for n, t in self.tables.items() if n.lower() == low), None)


def read_schema(conn: sqlite3.Connection) -> Schema:
    """Introspect `conn` (every cursor is fully fetched: no read transaction is left open)."""
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name LIMIT 500"
    ).fetchall()
    tables: dict[str, Table] = {}
    for name, ddl in rows:
        cols = tuple(
            Column(r[1], (r[2] or "").upper(), bool(r[3]), int(r[5]))
            for r in conn.execute(f"PRAGMA table_info({q(name)})").fetchall()
        )
        indexed: set[str] = set()
        for idx in conn.execute(f"PRAGMA index_list({q(name)})").fetchall():
            first = conn.execute(f"PRAGMA index_info({q(idx[1])})").fetchall()
            if first and first[0][2]:
                indexed.add(first[0][2])
        indexed.update(c.name for c in cols if c.pk == 1)
        without_rowid = "WITHOUT ROWID" in (ddl or "").upper()
        tables[name] = Table(name, cols, frozenset(indexed), without_rowid)
    return Schema(tables, int(version))
