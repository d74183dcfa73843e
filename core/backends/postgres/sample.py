"""Detection of tables no profile describes, on PostgreSQL: the SQLite detector, sampling with PostgreSQL SQL.

`batchtop.core.profiles.detect` decides what reads as a status, an error, a label or a time; this
sampler gives it what it reads on SQLite: column types as SQLite declares them, the table's key, distinct
values of a column and column statistics, from the first and last rows in primary-key order (two index
walks, each with a LIMIT: the cost does not grow with the table). PostgreSQL has no rowid, so a table
without a one-column primary key is not tracked (the profile's notes say so; name a key in a TOML profile).
"""

from __future__ import annotations

from typing import Any

from batchtop.core.backends.postgres import sql as pg
from batchtop.core.backends.postgres.conn import fetch
from batchtop.core.backends.sqlite.sql import q
from batchtop.core.profiles.detect import Sampler
from batchtop.core.profiles.model import RawValue
from batchtop.core.profiles.sample import MAX_STATS_COLUMNS, SAMPLE_ROWS, STATS_ROWS, ColumnStats
from batchtop.core.schema import Column, Table

#: PostgreSQL types read as SQLite declares them; anything else (bytea, json, jsonb, boolean, arrays,
#: ranges...) becomes "BLOB": never a status, label, error or metric. Timestamps and dates keep their
#: names (the detector reads DATE / TIME in a type as a time).
TYPES = {
    "SMALLINT": "INTEGER",
    "INTEGER": "INTEGER",
    "BIGINT": "INTEGER",
    "REAL": "REAL",
    "DOUBLE PRECISION": "REAL",
    "NUMERIC": "NUMERIC",
    "TEXT": "TEXT",
    "CHARACTER VARYING": "TEXT",
    "CHARACTER": "TEXT",
    '"CHAR"': "TEXT",
    "NAME": "TEXT",
    "CITEXT": "TEXT",
    "UUID": "TEXT",
}
TEXT_TYPES = ("TEXT",)
NUMBER_TYPES = ("INTEGER", "REAL", "NUMERIC")

PK_SQL = """
SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = to_regclass({name}) AND i.indisprimary AND i.indnkeyatts = 1
LIMIT 1
"""


def sqlite_type(pg_type: str) -> str:
    """The declared type the detector reads for a PostgreSQL type."""
    t = pg_type.upper()
    if "TIME" in t or "DATE" in t:
        return t
    return TYPES.get(t, "BLOB")


def type_name(value: RawValue) -> str:
    """SQLite's `typeof` of a value as the driver returned it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "blob"  # never a state code (a boolean column is "BLOB" anyway)
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "real"
    if isinstance(value, bytes | bytearray | memoryview):
        return "blob"
    return "text"


def _type_of(table: Table, column: str) -> str:
    return next((c.type for c in table.columns if c.name == column), "BLOB")


def _ordered_by(table: Table) -> str | None:
    """The primary-key column the sample walks (the `pk` flag PostgreSQL's schema read sets)."""
    return next((c.name for c in table.columns if c.pk), None)


def sample_from(table: Table, exprs: str, rows: int) -> str:
    """A FROM source holding `exprs` of the first and last `rows` rows of `table` in key order."""
    t, k = q(table.name), _ordered_by(table)
    if k is None:
        return f"(SELECT {exprs} FROM {t} LIMIT {int(rows)}) AS sample"
    head = f"(SELECT {exprs} FROM {t} ORDER BY {q(k)} LIMIT {int(rows)})"
    tail = f"(SELECT {exprs} FROM {t} ORDER BY {q(k)} DESC LIMIT {int(rows)})"
    return f"({head} UNION ALL {tail}) AS sample"


class PgSampler(Sampler):
    """The detector's reads on PostgreSQL (see the module docstring)."""

    no_key_note = "no one-column primary key (PostgreSQL has no rowid), not tracked: name a key in a profile"

    def table(self, table: Table) -> Table:
        cols = tuple(Column(c.name, sqlite_type(c.type), c.notnull, c.pk) for c in table.columns)
        return Table(table.name, cols, table.indexed)

    def key(self, conn: Any, table: Table) -> str | None:
        rows = fetch(conn, PK_SQL.format(name=pg.lit(q(table.name))))
        return str(rows[0][0]) if rows else None

    def distinct_values(self, conn: Any, table: Table, column: str, limit: int) -> list[tuple[RawValue, str]]:
        kind, c = _type_of(table, column), q(column)
        expr = (
            f"left(CAST({c} AS text), 41)" if kind in TEXT_TYPES else (c if kind in NUMBER_TYPES else "NULL")
        )
        rows = fetch(
            conn,
            f"SELECT DISTINCT x FROM {sample_from(table, f'{expr} AS x', SAMPLE_ROWS)} LIMIT {int(limit)}",
        )
        return [(v, type_name(v)) for (v,) in rows]

    def column_stats(self, conn: Any, table: Table, columns: list[str]) -> dict[str, ColumnStats]:
        columns = columns[:MAX_STATS_COLUMNS]
        if not columns:
            return {}
        inner, aggs = [], []
        for i, name in enumerate(columns):
            kind, c = _type_of(table, name), q(name)
            inner.append(f"({c} IS NULL)::int AS n{i}")
            if kind in TEXT_TYPES:
                inner.append(
                    f"length(CAST({c} AS text)) AS l{i}, substr(CAST({c} AS text), 11, 1) = 'T' AS t{i}"
                )
                aggs.append(f"sum(n{i}), max(l{i}), FALSE, COALESCE(bool_or(t{i}), FALSE), NULL::float8")
            elif kind in NUMBER_TYPES:
                inner.append(f"abs({c})::float8 AS v{i}")
                aggs.append(f"sum(n{i}), NULL::int, bool_or(v{i} IS NOT NULL), FALSE, max(v{i})")
            else:
                aggs.append(f"sum(n{i}), NULL::int, FALSE, FALSE, NULL::float8")
        row = fetch(
            conn,
            f"SELECT count(*), {', '.join(aggs)} FROM {sample_from(table, ', '.join(inner), STATS_ROWS)}",
        )[0]
        total = int(row[0])
        out = {}
        for i, name in enumerate(columns):
            nulls, max_len, numeric, iso, max_number = row[1 + 5 * i : 6 + 5 * i]
            out[name] = ColumnStats(
                total,
                int(nulls or 0),
                None if max_len is None else int(max_len),
                bool(numeric),
                bool(iso),
                None if max_number is None else float(max_number),
            )
        return out


#: The sampler `PostgresBackend.detect` hands the detector.
SAMPLER = PgSampler()
