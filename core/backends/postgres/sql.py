"""PostgreSQL SQL built from profiles: the same queries as `batchtop.core.backends.sqlite.sql`, in PostgreSQL's dialect.

Shared with SQLite (`core.sql`): identifier quoting, raw-value and label/error/time expressions, the
count-by-raw-value and metric queries, and LIKE patterns. Different here: booleans are TRUE/FALSE (a
WHERE clause must be boolean), an in-flight expression is COALESCEd to FALSE, text previews cast to text
(bytea columns are shown as hex, like SQLite BLOBs), search is ILIKE (SQLite's LIKE ignores ASCII case),
time cutoffs are typed by the column, and there is no rowid: a track needs a key column.

Values are embedded as literals so every predicate can be shown and journaled exactly as it ran; the
sessions set `standard_conforming_strings = on`, so doubling quotes is the whole of string escaping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from batchtop.core import errors
from batchtop.core.backends.sqlite.sql import (
    LIST_CHARS,
    counts_sql,
    label_expr,
    like_pattern,
    metrics_sql,
    q,
    raw_expr,
    when_expr,
)
from batchtop.core.profiles.model import STATES, RawValue, Track
from batchtop.core.schema import Table
from batchtop.core.signature import TRACEBACK, signature
from batchtop.core.timeutil import UNITS, format_ts

__all__ = [
    "counts_sql",
    "failures_sql",
    "in_flight_sql",
    "key_expr",
    "lit",
    "metrics_sql",
    "state_predicate",
    "update_sql",
]


def lit(value: RawValue | bytes) -> str:
    """A PostgreSQL literal for a Python value."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else f"'{value}'::float8"
    if isinstance(value, bytes | bytearray | memoryview):
        return "'\\x" + bytes(value).hex() + "'::bytea"
    text = str(value)
    if "\x00" in text:
        raise errors.ActionError("a PostgreSQL text value cannot contain NUL characters")
    return "'" + text.replace("'", "''") + "'"


def col(name: str | None) -> str | None:
    """Quoted column, or None."""
    return None if name is None else q(name)


def key_expr(track: Track) -> str:
    """The track's key column (PostgreSQL tables have no rowid)."""
    if not track.key or track.key == "rowid":
        raise errors.UnknownSchema(
            f"track {track.name!r} has no key column (PostgreSQL has no rowid): name one in the profile"
        )
    return q(track.key)


def flight(track: Track) -> str | None:
    """The in-flight expression as a boolean that is never NULL."""
    return f"COALESCE(({track.in_flight}), FALSE)" if track.in_flight else None


def _in_list(expr: str, values: Sequence[RawValue]) -> str:
    parts = []
    non_null = [v for v in values if v is not None]
    if non_null:
        parts.append(f"{expr} IN ({', '.join(lit(v) for v in non_null)})")
    if any(v is None for v in values):
        parts.append(f"{expr} IS NULL")
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


def _mapped_predicate(track: Track, state: str) -> str:
    expr = raw_expr(track)
    values = [v for v, s in track.states.items() if s == state]
    clauses = [_in_list(expr, values)] if values else []
    if state == track.default_state:
        known = [v for v in track.states if v is not None]
        unknown = f"{expr} NOT IN ({', '.join(lit(v) for v in known)})" if known else "TRUE"
        clauses.append(f"({expr} IS NULL OR {unknown})" if None not in track.states else f"({unknown})")
    return "(" + " OR ".join(clauses) + ")" if clauses else "FALSE"


def state_predicate(track: Track, states: Iterable[str]) -> str:
    """A condition true for rows in any of the canonical `states` (as `core.sql.state_predicate`)."""
    wanted = [s for s in STATES if s in set(states)]
    fl = flight(track)
    clauses = []
    for state in wanted:
        base = _mapped_predicate(track, state)
        if fl and state == "pending":
            clauses.append(f"({base} AND NOT {fl})")
        elif fl and state == "running":
            clauses.append(f"({base} OR ({_mapped_predicate(track, 'pending')} AND {fl}))")
        elif base != "FALSE":
            clauses.append(base)
    return "(" + " OR ".join(clauses) + ")" if clauses else "FALSE"


def in_flight_sql(track: Track, pending_values: Sequence[RawValue]) -> str | None:
    """Pending rows in flight, per pending raw value."""
    fl = flight(track)
    if not fl or not pending_values:
        return None
    return (
        f"SELECT {raw_expr(track)} AS raw, COUNT(*) FROM {q(track.table)} "
        f"WHERE {_in_list(raw_expr(track), pending_values)} AND {fl} GROUP BY 1 LIMIT 1000"
    )


def type_of(table: Table | None, expr: str) -> str:
    """The declared type (upper case) of the column `expr` quotes, or "" (an expression, no table)."""
    if table is None:
        return ""
    for c in table.columns:
        if q(c.name) == expr:
            return c.type.upper()
    return ""


def text_preview(expr: str, table: Table | None, chars: int = LIST_CHARS) -> str:
    """The first `chars` characters, the length and the kind ('text' / 'blob') of a value."""
    if expr == "NULL":
        return "NULL, NULL, NULL"
    if type_of(table, expr) == "BYTEA":
        return f"encode(substring({expr} from 1 for 32), 'hex'), octet_length({expr}), 'blob'"
    text = f"CAST({expr} AS text)"
    return f"left({text}, {chars}), length({text}), 'text'"


def error_preview(expr: str, table: Table | None) -> str:
    """`text_preview` of an error; a Python traceback longer than LIST_CHARS also brings its last
    LIST_CHARS characters, where its exception line is (as `core.sql.error_preview`)."""
    if expr == "NULL" or type_of(table, expr) == "BYTEA":
        return text_preview(expr, table)
    return f"{error_head(expr)}, length(CAST({expr} AS text)), 'text'"


def error_head(expr: str) -> str:
    """An error's first LIST_CHARS characters, and a longer traceback's last LIST_CHARS after a newline
    (what SQLite hands `bt_signature`: `core.sql.signature_arg`)."""
    text = f"CAST({expr} AS text)"
    head = f"left({text}, {LIST_CHARS})"
    return (
        f"CASE WHEN left({text}, {len(TRACEBACK)}) = {lit(TRACEBACK)} AND length({text}) > {LIST_CHARS} "
        f"THEN {head} || chr(10) || right({text}, {LIST_CHARS}) ELSE {head} END"
    )


def error_expr(track: Track) -> str:
    """The error of a failed row (NULL where the track keeps none for failed rows)."""
    return q(track.error) if track.error and "failed" in track.error_states else "NULL"


def search_condition(track: Track, text: str) -> str:
    """Rows whose error or label contains `text` (ASCII case ignored, like SQLite's LIKE)."""
    pattern = lit(like_pattern(text))
    return (
        f"(CAST({error_expr(track)} AS text) ILIKE {pattern} ESCAPE '\\' "
        f"OR CAST({label_expr(track)} AS text) ILIKE {pattern} ESCAPE '\\')"
    )


def failures_sql(
    track: Track,
    table: Table | None,
    *,
    limit: int,
    before: RawValue = None,
    after: RawValue = None,
    search: str | None = None,
    keys: Sequence[RawValue] | None = None,
    key_range: tuple[int, int] | None = None,
) -> str:
    """Failed items, newest key first, keyset-paged on the key: older than `before`, or the `limit`
    nearest newer than `after` (read in ascending key order by an inner statement)."""
    k = key_expr(track)
    where = [state_predicate(track, ["failed"])]
    if before is not None:
        where.append(f"{k} < {lit(before)}")
    if after is not None:
        where.append(f"{k} > {lit(after)}")
    if search:
        where.append(search_condition(track, search))
    if keys is not None:
        where.append(f"{k} IN ({', '.join(lit(v) for v in keys)})" if keys else "FALSE")
    if key_range is not None:
        where.append(f"{k} >= {int(key_range[0])} AND {k} < {int(key_range[1])}")
    sql = (
        f"SELECT {k}, {text_preview(label_expr(track), table, 200)}, "
        f"{error_preview(error_expr(track), table)}, {when_expr(track)}, {raw_expr(track)} "
        f"FROM {q(track.table)} WHERE {' AND '.join(where)} "
        f"ORDER BY {k} {'ASC' if after is not None else 'DESC'} LIMIT {int(limit)}"
    )
    return f"SELECT * FROM ({sql}) AS page ORDER BY 1 DESC" if after is not None else sql


def key_range_sql(track: Track, key_range: tuple[int, int] | None) -> str:
    """` AND key >= a AND key < b` for a key range [a, b) (empty without one)."""
    if key_range is None:
        return ""
    k = key_expr(track)
    return f" AND {k} >= {int(key_range[0])} AND {k} < {int(key_range[1])}"


def time_literal(table: Table | None, column: str, epoch: float, track: Track) -> str:
    """`epoch` as a literal comparable with `column`: a timestamp, a number, or text in the writer's format."""
    kind = type_of(table, q(column))
    if kind.startswith(("TIMESTAMP", "DATE")):
        # Sessions run with TimeZone UTC, so a naive timestamp column compares as UTC wall time.
        return f"to_timestamp({epoch:.3f})"
    if kind in ("INTEGER", "BIGINT", "SMALLINT", "NUMERIC", "REAL", "DOUBLE PRECISION"):
        # Epoch numbers in the track's unit ("auto" reads as seconds here).
        return f"{epoch * UNITS.get(track.time_unit, 1.0):.3f}"
    return lit(format_ts(epoch, track.tz, track.time_format))


def update_sql(track: Track, assign: Sequence[tuple[str, Any]], where: str) -> str:
    """The conditional write: only rows still matching `where`, reporting the keys really written."""
    sets = ", ".join(f"{q(c)} = {lit(v)}" for c, v in assign)
    return f"UPDATE {q(track.table)} SET {sets} WHERE {where} RETURNING {key_expr(track)}"


def keys_in(track: Track, keys: Sequence[RawValue]) -> str:
    """`"key" IN (...)` with literal keys."""
    return f"{key_expr(track)} IN ({', '.join(lit(k) for k in keys)})" if keys else "FALSE"


def error_signature(head: Any, tail: Any, length: Any) -> str:
    """`signature()` of an error read as its first and last LIST_CHARS characters (see `sql.signature_arg`)."""
    if head is None:
        return signature(None)
    text = str(head)
    if text.startswith(TRACEBACK) and int(length or 0) > LIST_CHARS:
        text = text + "\n" + str(tail)
    return signature(text)
