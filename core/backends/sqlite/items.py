"""SQLite reads of one item in full and of a page of any table: previews only, secrets never read.

The SELECT lists leave out secret columns and secret tables are never read (`batchtop.core.items`, which
holds the dataclasses, the secret checks and the redaction every backend shares). Values are read as
previews (`substr`, `length`, `typeof`: hazards.md rule 11) and long ones paged with `read_value`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from batchtop.core.backends.sqlite.reads import fetch
from batchtop.core.backends.sqlite.sql import key_expr, q, raw_expr, state_predicate
from batchtop.core.blobs import HEAD_BYTES
from batchtop.core.errors import BatchtopError, SecretValue
from batchtop.core.items import (
    COLUMNS_PER_STATEMENT,
    HEX_BYTES,
    LOOKBACK_CHARS,
    MAX_TABLES_COUNTED,
    PREVIEW_CHARS,
    ROW_COUNT_CAP,
    TABLE_CHARS,
    ItemDetail,
    TableInfo,
    TablePage,
    Value,
    ValueChunk,
    _check_table,
    _split,
    _value,
    chunk_of,
    is_secret,
)
from batchtop.core.profiles.model import STATES, UNMAPPED, RawValue, Track
from batchtop.core.sanitize import is_secret_name


def list_tables(conn: sqlite3.Connection, secret_tables: Sequence[str] = ()) -> tuple[TableInfo, ...]:
    """Every table: columns, secret columns, and rows counted up to ROW_COUNT_CAP (secret tables are not
    counted; each count is one short statement that reads at most ROW_COUNT_CAP + 1 rows)."""
    from batchtop.core.backends.sqlite.schema import read_schema

    out = []
    for i, (name, table) in enumerate(read_schema(conn).tables.items()):
        secret = name in secret_tables or is_secret_name(name)
        rows: int | None = None
        capped = False
        if not secret and i < MAX_TABLES_COUNTED:
            (n,) = fetch(conn, f"SELECT count(*) FROM (SELECT 1 FROM {q(name)} LIMIT {ROW_COUNT_CAP + 1})")[0]
            rows, capped = min(int(n), ROW_COUNT_CAP), int(n) > ROW_COUNT_CAP
        out.append(TableInfo(name, len(table.columns), sum(1 for c in table.columns if is_secret_name(c.name)),
                             secret, rows, rows is not None and not capped, capped))
    return tuple(out)



def table_columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, int]]:
    """(name, primary-key position) of each column of `table`."""
    return [(r[1], int(r[5])) for r in fetch(conn, f"PRAGMA table_info({q(table)})")]



def _preview_exprs(c: str, chars: int) -> str:
    """Preview, length, type, bytes, and bytes of the preview of column `c` (quoted).

    A BLOB's head is enough to tell text from a pickle and to show `chars` characters of its text.
    """
    head = max(HEX_BYTES, min(HEAD_BYTES, 4 * chars))
    return (
        f"CASE typeof({c}) WHEN 'blob' THEN substr({c}, 1, {head}) WHEN 'text' THEN substr({c}, 1, {chars}) "
        f"ELSE {c} END, length({c}), typeof({c}), "
        f"CASE typeof({c}) WHEN 'text' THEN length(CAST({c} AS BLOB)) ELSE length({c}) END, "
        f"CASE typeof({c}) WHEN 'text' THEN length(CAST(substr({c}, 1, {chars}) AS BLOB)) END"
    )



def _state_case(track: Track) -> str:
    whens = " ".join(f"WHEN {state_predicate(track, [s])} THEN {s!r}" for s in STATES)
    return f"CASE {whens} ELSE {UNMAPPED!r} END"



def item_detail(conn: sqlite3.Connection, track: Track, key: RawValue, *, secret_tables: Sequence[str] = (),
                chars: int = PREVIEW_CHARS) -> ItemDetail:
    """Every non-secret column of the item `key` of `track`, as previews (page on with `read_value`).

    The error column is also given as `error` when the item is in one of the track's error states;
    elsewhere error text is a leftover of an earlier attempt (`stale_error`).
    """
    _check_table(track.table, secret_tables)
    names = [n for n, _ in table_columns(conn, track.table)]
    visible, hidden = _split(names, track.secrets, track.not_secret)
    t, k = q(track.table), key_expr(track)
    head = fetch(conn, f"SELECT {_state_case(track)}, {raw_expr(track)} FROM {t} WHERE {k} = ? LIMIT 1", (key,))
    if not head:
        return ItemDetail(track.name, track.table, key, False, None, None, None, None, False, (), hidden)
    state, raw = head[0]
    values: list[Value] = []
    for i in range(0, len(visible), COLUMNS_PER_STATEMENT):
        part = visible[i:i + COLUMNS_PER_STATEMENT]
        exprs = ", ".join(_preview_exprs(q(c), chars) for c in part)
        rows = fetch(conn, f"SELECT {exprs} FROM {t} WHERE {k} = ? LIMIT 1", (key,))
        if not rows:  # deleted between the two statements
            return ItemDetail(track.name, track.table, key, False, None, None, None, None, False, (), hidden)
        row = rows[0]
        values += [_value(c, *row[5 * j:5 * j + 5]) for j, c in enumerate(part)]
    by_name = {v.column: v for v in values}
    label = by_name.get(track.label) if track.label else None
    err = by_name.get(track.error) if track.error else None
    in_error = state in track.error_states
    error = err if err is not None and in_error and not err.is_null else None
    stale = err is not None and not in_error and not err.is_null and err.text != ""
    return ItemDetail(track.name, track.table, key, True, state, None if raw is None else str(raw), label, error,
                      stale, tuple(values), hidden)



def read_value(conn: sqlite3.Connection, track: Track, key: RawValue, column: str, offset: int, size: int,
               *, secret_tables: Sequence[str] = ()) -> ValueChunk | None:
    """A page of one value: characters (text) or bytes (blob) `offset`..`offset+size`. None: no such row.

    Raises:
        SecretValue: the column or table is secret.
        BatchtopError: the column does not exist.
    """
    _check_table(track.table, secret_tables)
    if track.is_secret(column):
        raise SecretValue(f"column {column} holds secrets: it is never read")
    if column not in {n for n, _ in table_columns(conn, track.table)}:
        raise BatchtopError(f"no column {column} in {track.table}")
    c = q(column)
    offset, size = max(0, int(offset)), max(1, int(size))
    back = min(offset, LOOKBACK_CHARS)
    rows = fetch(
        conn,
        f"SELECT typeof({c}), length({c}), "
        f"CASE typeof({c}) WHEN 'text' THEN length(CAST({c} AS BLOB)) ELSE length({c}) END, "
        f"CASE typeof({c}) WHEN 'blob' THEN substr({c}, {offset + 1}, {size}) "
        f"WHEN 'text' THEN substr({c}, {offset + 1}, {size}) ELSE {c} END, "
        f"CASE typeof({c}) WHEN 'text' THEN length(CAST(substr({c}, 1, {offset + size}) AS BLOB)) END, "
        f"CASE WHEN typeof({c}) IN ('text', 'blob') THEN substr({c}, {offset - back + 1}, {back}) END, "
        f"CASE typeof({c}) WHEN 'blob' THEN substr({c}, 1, {HEAD_BYTES}) END "
        f"FROM {q(track.table)} WHERE {key_expr(track)} = ? LIMIT 1",
        (key,),
    )
    if not rows:
        return None
    return chunk_of(column, offset, back, *rows[0])



def value_chunk(conn: sqlite3.Connection, track: Track, key: RawValue, column: str, offset: int, size: int) -> str:
    """The text of one page of a value (see `read_value`); empty when the row is gone."""
    chunk = read_value(conn, track, key, column, offset, size)
    return chunk.text if chunk else ""



def _keyset_column(conn: sqlite3.Connection, table: str, info: list[tuple[str, int]]) -> str:
    """"rowid", or the first primary-key column of a WITHOUT ROWID table."""
    try:
        fetch(conn, f"SELECT rowid FROM {q(table)} LIMIT 0")
        return "rowid"
    except sqlite3.OperationalError:
        pass
    pks = [n for n, pk in sorted(info, key=lambda x: x[1]) if pk]
    if not pks:
        raise BatchtopError(f"table {table} has neither a rowid nor a primary key")
    return pks[0]



def table_page(conn: sqlite3.Connection, table: str, *, after_rowid: RawValue = None, limit: int = 100,
               secret_tables: Sequence[str] = (), secrets: Sequence[str] = ()) -> TablePage:
    """A keyset page (by rowid, or the primary key of a WITHOUT ROWID table) of any table, previews only.

    Raises:
        SecretValue: the table is secret.
    """
    _check_table(table, secret_tables)
    info = table_columns(conn, table)
    visible, hidden = _split([n for n, _ in info], secrets)
    key_col = _keyset_column(conn, table, info)
    if is_secret(key_col, secrets):
        raise SecretValue(f"table {table} is keyed by a secret column: it is never read")
    k = "rowid" if key_col == "rowid" else q(key_col)
    exprs = ", ".join(_preview_exprs(q(c), TABLE_CHARS) for c in visible) or "NULL"
    where = "" if after_rowid is None else f" WHERE {k} > ?"
    rows = fetch(conn, f"SELECT {k}, {exprs} FROM {q(table)}{where} ORDER BY {k} LIMIT {int(limit)}",
                 () if after_rowid is None else (after_rowid,))
    out = tuple((r[0], tuple(_value(c, *r[1 + 5 * j:6 + 5 * j]) for j, c in enumerate(visible))) for r in rows)
    return TablePage(table, key_col, tuple(visible), hidden, out, rows[-1][0] if rows else None)
