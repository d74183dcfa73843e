"""Cheap SQLite row samples for the detector: never a table scan, always a LIMIT, every cursor fetched in full.

A sample is the first and last N rows in rowid order: both ends are b-tree walks with no sort, so the cost
does not grow with the table, and the tail sees the states a long run reaches late (failures, done).
What reads as what is decided by `batchtop.core.profiles.detect`, the same for every backend.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from batchtop.core.backends.sqlite.sql import q
from batchtop.core.profiles.detect import Sampler
from batchtop.core.profiles.model import RawValue
from batchtop.core.profiles.sample import MAX_STATS_COLUMNS, SAMPLE_ROWS, STATS_ROWS, ColumnStats
from batchtop.core.schema import Table


def _fetch(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    """All rows of one statement, with the cursor closed even on error (no read transaction lingers)."""
    cur = conn.execute(sql)
    try:
        return cur.fetchall()
    finally:
        cur.close()


def sample_from(table: Table, exprs: str, rows: int) -> str:
    """A FROM source holding `exprs` of the first and last `rows` rows of `table`."""
    head = f"SELECT {exprs} FROM {q(table.name)} LIMIT {int(rows)}"
    if table.without_rowid or table.has("rowid") or table.has("_rowid_") or table.has("oid"):
        # No rowid to walk backwards (or a column shadows it): the head alone stays cheap.
        return f"({head})"
    tail = f"SELECT {exprs} FROM {q(table.name)} ORDER BY rowid DESC LIMIT {int(rows)}"
    return f"(SELECT * FROM ({head}) UNION ALL SELECT * FROM ({tail}))"


def distinct_values(conn: sqlite3.Connection, table: Table, column: str, limit: int) -> list[tuple[RawValue, str]]:
    """Up to `limit` distinct (value, SQLite type) pairs of `column` in the sample.

    Text is cut to 41 characters (longer is not a state anyway) and BLOBs come back as NULL with type
    'blob', so a huge value never leaves SQLite.
    """
    src = sample_from(table, f"{q(column)} AS x", SAMPLE_ROWS)
    sql = (
        "SELECT DISTINCT CASE typeof(x) WHEN 'text' THEN substr(x, 1, 41) WHEN 'blob' THEN NULL ELSE x END, "
        f"typeof(x) FROM {src} LIMIT {int(limit)}"
    )
    return [(v, t) for v, t in _fetch(conn, sql)]


def column_stats(conn: sqlite3.Connection, table: Table, columns: list[str]) -> dict[str, ColumnStats]:
    """Null counts, longest text, numeric storage and ISO 'T' of `columns`, in one small statement."""
    columns = columns[:MAX_STATS_COLUMNS]
    if not columns:
        return {}
    exprs = ", ".join(f"{q(c)} AS c{i}" for i, c in enumerate(columns))
    aggs = ", ".join(
        f"sum(c{i} IS NULL), max(CASE WHEN typeof(c{i}) = 'text' THEN length(c{i}) END), "
        f"max(typeof(c{i}) IN ('integer', 'real')), max(typeof(c{i}) = 'text' AND substr(c{i}, 11, 1) = 'T'), "
        f"max(CASE WHEN typeof(c{i}) IN ('integer', 'real') THEN abs(c{i}) END)"
        for i in range(len(columns))
    )
    row = _fetch(conn, f"SELECT count(*), {aggs} FROM {sample_from(table, exprs, STATS_ROWS)} LIMIT 1")[0]
    total = int(row[0])
    out = {}
    for i, name in enumerate(columns):
        nulls, max_len, numeric, iso, max_number = row[1 + 5 * i: 6 + 5 * i]
        out[name] = ColumnStats(total, int(nulls or 0), max_len, bool(numeric), bool(iso),
                                None if max_number is None else float(max_number))
    return out


class SqliteSampler(Sampler):
    """The detector's reads on SQLite: bounded samples of both ends of a table in rowid order."""

    def distinct_values(self, conn: Any, table: Table, column: str, limit: int) -> list[tuple[RawValue, str]]:
        return distinct_values(conn, table, column, limit)

    def column_stats(self, conn: Any, table: Table, columns: list[str]) -> dict[str, ColumnStats]:
        return column_stats(conn, table, columns)

    def skippable(self, exc: Exception) -> bool:
        # A virtual table whose module this build lacks (fts5, rtree): only that table is unreadable.
        return isinstance(exc, sqlite3.OperationalError) and "no such module" in str(exc)


#: The SQLite sampler.
SAMPLER = SqliteSampler()
