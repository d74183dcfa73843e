"""A database's schema as the profiles match it: tables, columns and indexes (read by the backend:
`backends.sqlite.schema.read_schema`, or PostgreSQL's `backends.postgres.reads`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column: its name, declared type, NOT NULL and primary-key position."""

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


