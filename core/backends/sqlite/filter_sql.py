"""The filter language (`core.filters`, compiled by `core.filter_sql`) in SQLite's SQL, and the SQLite
side of the keyset scans a filter runs (`core.backends.keyset`): anchors are named parameters, and every
statement gets `bt_signature` memoised on its connection first.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from batchtop.core.backends.sqlite.reads import fetch
from batchtop.core.backends.sqlite.sql import (
    error_expr,
    key_expr,
    label_expr,
    lit,
    q,
    raw_expr,
    signature_sql,
    state_predicate,
    when_expr,
)
from batchtop.core.filter_sql import Dialect, _Binder, compile_filter
from batchtop.core.filters import Node
from batchtop.core.paging import Db, Run, runner
from batchtop.core.profiles.model import Track
from batchtop.core.signature import cached_signature
from batchtop.core.timeutil import format_ts

__all__ = ["SQLITE", "SqliteDialect", "anchor", "columns_of", "compile_for", "key_expr", "read_rows",
           "state_predicate"]


class SqliteDialect(Dialect):
    """SQLite's emission of a filter: named parameters (or `sql.lit` literals), LIKE, `bt_signature`."""

    true, false = "1", "0"

    def binder(self, inline: bool) -> _Binder:
        """Where values go: named parameters, or escaped literals."""
        return _Binder(inline, lit)

    def wrap(self, term_sql: str) -> str:
        """A term that is false (not NULL) where a column is NULL."""
        return f"COALESCE(({term_sql}), 0)"

    def contains(self, expr: str, pattern: str) -> str:
        """`expr` matches the LIKE `pattern` (ASCII case ignored)."""
        return f"{expr} LIKE {pattern} ESCAPE '\\'"

    def equals(self, expr: str, value: str) -> str:
        """`expr` equals the text `value` (an SQL expression)."""
        return f"{expr} = {value}"

    def compare(self, expr: str, op: str, value: Any, bind: _Binder) -> str:
        """`expr op value`, a number or a text."""
        return f"{expr} {op} {bind(value)}"

    def states(self, track: Track, wanted: list[str]) -> str:
        """Rows in any of the canonical states `wanted`."""
        return state_predicate(track, wanted)

    def signature(self, track: Track, value: str, bind: _Binder) -> str:
        """Rows whose error has signature `value`."""
        return f"{signature_sql(error_expr(track))} = {bind(value)}"

    def time(self, track: Track, when: str, op: str, cut: float, bind: _Binder) -> str:
        """The row's time `when` compared (`op`) with the epoch `cut`."""
        text_cut = bind(format_ts(cut, track.tz, "space"))
        num_cut = bind(round(cut, 3))
        # Text stamps compare as text in the writer's zone ('T' or space); epoch numbers (s or ms) as numbers.
        return (
            f"CASE WHEN typeof({when}) = 'text' THEN replace(substr({when}, 1, 19), 'T', ' ') {op} {text_cut} "
            f"WHEN typeof({when}) IN ('integer', 'real') THEN (CASE WHEN {when} > 100000000000 "
            f"THEN {when} / 1000.0 ELSE {when} END) {op} {num_cut} ELSE 0 END"
        )

    def expr(self, track: Track, part: str) -> str:
        """The SQL of a part of a row: 'error', 'label', 'key', 'raw' or 'when'."""
        return {"error": error_expr, "label": label_expr, "key": key_expr, "raw": raw_expr, "when": when_expr}[
            part
        ](track)


SQLITE = SqliteDialect()


def compile_sqlite(node: Node | None, track: Track, *, now: float, path: str | None = None,
                   columns: Collection[str] | None = None, inline: bool = False, text: str = "") -> tuple[str, dict[str, Any]]:
    """`filter_sql.compile_filter` in SQLite's dialect."""
    return compile_filter(node, track, now=now, path=path, columns=columns, inline=inline, text=text, dialect=SQLITE)


def columns_of(db: Db, table: str) -> list[str]:
    """Column names of `table` (for column terms such as `cost_usd>0.05`)."""
    return [r[1] for r in runner(db)(lambda conn: fetch(conn, f"PRAGMA table_info({q(table)})"))]


def compile_for(db: Db, track: Track, node: Node | None, *, now: float, path: str | None = None,
                text: str = "", inline: bool = False) -> tuple[str, dict[str, Any]]:
    """A filter's SQLite condition and parameters, the table's columns read first."""
    return compile_sqlite(node, track, now=now, path=path, columns=columns_of(db, track.table), inline=inline,
                          text=text)


def anchor(name: str, value: Any) -> str:
    """A keyset anchor in a statement: a named parameter (its value goes in the parameters)."""
    return f":{name}"


def _read(conn: Any, sql: str, params: dict[str, Any]) -> list[tuple]:
    """`fetch`, with `bt_signature` memoised on this connection first.

    `sig:` terms call `bt_signature` once per row visited; `signature.cached_signature` gives the same
    result for the BLOB `sql.signature_arg` hands it and runs the patterns once per kind of error
    (measured: a `sig:` count over 200,000 rows went from 14 s to about 1 s). Re-registering costs
    microseconds, and makes no statement depend on which connection a `Source` has open.
    """
    conn.create_function("bt_signature", 1, cached_signature, deterministic=True)
    return fetch(conn, sql, params)


def read_rows(run: Run, sql: str, params: dict[str, Any]) -> list[tuple]:
    """Every row of one statement of a keyset scan, through `run` (a source's, or a plain call)."""
    return run(lambda conn: _read(conn, sql, params))
