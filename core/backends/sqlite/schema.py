"""SQLite schema introspection: tables, columns and indexes, read in a few tiny statements
(the dataclasses are `batchtop.core.schema`)."""

from __future__ import annotations

import sqlite3

from batchtop.core.backends.sqlite.sql import q
from batchtop.core.schema import Column, Schema, Table


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
