"""The item and tables views on PostgreSQL: one item in full, a keyset page of any table, the table list.

The same results as `batchtop.core.items` on SQLite, from PostgreSQL's catalog and SQL: secret columns
and tables are never read (the same name rules), values are read as previews (`left`, `length`,
`octet_length`; a long value is paged by `read_value`), text is redacted, bytea is read like an SQLite
BLOB (decoded text redacted, pickles summarised, anything else as masked hex), and json/jsonb is read as
its text, then redacted. Every statement is bounded (one row by key, a LIMIT, or a window of heap pages)
and runs in the source's short READ ONLY transaction. Row counts never scan a big table: a count stops at
`ROW_COUNT_CAP` rows, beyond which the planner's estimate (`pg_class.reltuples`) is shown as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from batchtop.core.backends.postgres import sql as pg
from batchtop.core.backends.postgres.conn import fetch
from batchtop.core.backends.sqlite.sql import q, raw_expr
from batchtop.core.blobs import HEAD_BYTES
from batchtop.core.errors import BatchtopError, SecretValue
from batchtop.core.items import (
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

#: Columns read per statement (5 expressions each: PostgreSQL allows 1,664 result columns).
COLUMNS_PER_STATEMENT = 100
#: Heap pages read per statement when a table without a one-column primary key is paged by ctid.
CTID_WINDOW = 64
#: Heap pages looked at for one page of rows at most (a mostly empty table returns a short page).
CTID_MAX_BLOCKS = 4096

INTEGERS = frozenset({"SMALLINT", "INTEGER", "BIGINT", "OID"})
REALS = frozenset({"REAL", "DOUBLE PRECISION", "NUMERIC"})

COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, NULL),
       COALESCE(array_position(i.indkey::int2[], a.attnum), 0), c.relkind
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE c.oid = to_regclass({name})
ORDER BY a.attnum
LIMIT 2000
"""

TABLES_SQL = """
SELECT c.relname, c.relkind, c.reltuples::float8,
       (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND pg_table_is_visible(c.oid)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY c.relname
LIMIT 2000
"""


def kind_of(pg_type: str) -> str:
    """How a column's values are read: 'integer', 'real', 'blob' (bytea) or 'text' (everything else,
    json/jsonb, timestamps and arrays included, as their text)."""
    t = pg_type.upper()
    if t in INTEGERS:
        return "integer"
    if t in REALS:
        return "real"
    return "blob" if t == "BYTEA" else "text"


def columns(conn: Any, table: str) -> tuple[list[tuple[str, str, int]], str]:
    """(name, kind, primary-key position) of each column of `table`, and its relkind.

    Raises:
        BatchtopError: no such table on the search path.
    """
    rows = fetch(conn, COLUMNS_SQL.format(name=pg.lit(q(table))))
    if not rows:
        raise BatchtopError(f"no table {table} (dropped, or not on the search path)")
    return [(str(n), kind_of(str(t)), int(pk)) for n, t, pk, _ in rows], str(rows[0][3])


def _null_or(c: str, kind: str) -> str:
    return f"CASE WHEN {c} IS NULL THEN 'null' ELSE '{kind}' END"


def preview_exprs(c: str, kind: str, chars: int) -> str:
    """Preview, length, kind, bytes, and bytes of the preview of column `c` (quoted), as
    `core.items._preview_exprs` gives them on SQLite."""
    if kind == "blob":
        head = max(HEX_BYTES, min(HEAD_BYTES, 4 * chars))
        return f"substring({c} from 1 for {head}), octet_length({c}), {_null_or(c, kind)}, octet_length({c}), NULL"
    t = f"CAST({c} AS text)"
    if kind in ("integer", "real"):
        return f"{c}, length({t}), {_null_or(c, kind)}, length({t}), NULL"
    return f"left({t}, {chars}), length({t}), {_null_or(c, kind)}, octet_length({t}), octet_length(left({t}, {chars}))"


def _state_case(track: Track) -> str:
    whens = " ".join(f"WHEN {pg.state_predicate(track, [s])} THEN {pg.lit(s)}" for s in STATES)
    return f"CASE {whens} ELSE {pg.lit(UNMAPPED)} END"


def _read_values(conn: Any, sql_from: str, cols: list[tuple[str, str]], chars: int) -> list[Value] | None:
    """Previews of `cols` ((name, kind) pairs) of the one row `sql_from` selects; None: no such row."""
    values: list[Value] = []
    for i in range(0, len(cols), COLUMNS_PER_STATEMENT):
        part = cols[i : i + COLUMNS_PER_STATEMENT]
        exprs = ", ".join(preview_exprs(q(c), kind, chars) for c, kind in part)
        rows = fetch(conn, f"SELECT {exprs} {sql_from}")
        if not rows:
            return None
        row = rows[0]
        values += [_value(c, *row[5 * j : 5 * j + 5]) for j, (c, _) in enumerate(part)]
    return values


def item_detail(
    conn: Any, track: Track, key: RawValue, *, secret_tables: Sequence[str] = (), chars: int = PREVIEW_CHARS
) -> ItemDetail:
    """Every non-secret column of the item `key` of `track`, as previews (see `core.items.item_detail`)."""
    _check_table(track.table, secret_tables)
    info, _ = columns(conn, track.table)
    kinds = {n: kind for n, kind, _ in info}
    visible, hidden = _split(list(kinds), track.secrets, track.not_secret)
    t, k = q(track.table), pg.key_expr(track)
    where = f"FROM {t} WHERE {k} = {pg.lit(key)} LIMIT 1"
    gone = ItemDetail(track.name, track.table, key, False, None, None, None, None, False, (), hidden)
    head = fetch(conn, f"SELECT {_state_case(track)}, {raw_expr(track)} {where}")
    if not head:
        return gone
    state, raw = head[0]
    values = _read_values(conn, where, [(c, kinds[c]) for c in visible], chars)
    if values is None:  # deleted between the two statements
        return gone
    by_name = {v.column: v for v in values}
    label = by_name.get(track.label) if track.label else None
    err = by_name.get(track.error) if track.error else None
    in_error = state in track.error_states
    error = err if err is not None and in_error and not err.is_null else None
    stale = err is not None and not in_error and not err.is_null and err.text != ""
    return ItemDetail(
        track.name,
        track.table,
        key,
        True,
        state,
        None if raw is None else str(raw),
        label,
        error,
        stale,
        tuple(values),
        hidden,
    )


def read_value(
    conn: Any,
    track: Track,
    key: RawValue,
    column: str,
    offset: int,
    size: int,
    *,
    secret_tables: Sequence[str] = (),
) -> ValueChunk | None:
    """A page of one value: characters (text) or bytes (bytea) `offset`..`offset+size`. None: no such row.

    Raises:
        SecretValue: the column or table is secret.
        BatchtopError: the column does not exist.
    """
    _check_table(track.table, secret_tables)
    if track.is_secret(column):
        raise SecretValue(f"column {column} holds secrets: it is never read")
    kinds = {n: kind for n, kind, _ in columns(conn, track.table)[0]}
    if column not in kinds:
        raise BatchtopError(f"no column {column} in {track.table}")
    kind, c = kinds[column], q(column)
    offset, size = max(0, int(offset)), max(1, int(size))
    back = min(offset, LOOKBACK_CHARS)
    t = f"CAST({c} AS text)"
    if kind == "blob":
        exprs = (
            f"octet_length({c}), octet_length({c}), substring({c} from {offset + 1} for {size}), NULL, "
            f"substring({c} from {offset - back + 1} for {back}), substring({c} from 1 for {HEAD_BYTES})"
        )
    elif kind == "text":
        exprs = (
            f"length({t}), octet_length({t}), substr({t}, {offset + 1}, {size}), "
            f"octet_length(substr({t}, 1, {offset + size})), substr({t}, {offset - back + 1}, {back}), NULL"
        )
    else:
        exprs = f"length({t}), length({t}), {c}, NULL, NULL, NULL"
    rows = fetch(
        conn,
        f"SELECT {_null_or(c, kind)}, {exprs} FROM {q(track.table)} WHERE {pg.key_expr(track)} = {pg.lit(key)} "
        "LIMIT 1",
    )
    if not rows:
        return None
    return chunk_of(column, offset, back, *rows[0])


def table_page(
    conn: Any,
    table: str,
    *,
    after_rowid: RawValue = None,
    limit: int = 100,
    secret_tables: Sequence[str] = (),
    secrets: Sequence[str] = (),
) -> TablePage:
    """A keyset page of any table, previews only: by its one-column primary key; else by `ctid` (heap
    position, read a window of pages at a time); a view (no key at all) by row number.

    Raises:
        SecretValue: the table is secret, or keyed by a secret column.
    """
    _check_table(table, secret_tables)
    info, relkind = columns(conn, table)
    kinds = {n: kind for n, kind, _ in info}
    visible, hidden = _split(list(kinds), secrets)
    pks = [n for n, _, pos in sorted(info, key=lambda x: x[2]) if pos]
    exprs = ", ".join(preview_exprs(q(c), kinds[c], TABLE_CHARS) for c in visible) or "NULL"
    limit = max(1, int(limit))
    t = q(table)
    if len(pks) == 1:
        key_col = pks[0]
        if is_secret(key_col, secrets):
            raise SecretValue(f"table {table} is keyed by a secret column: it is never read")
        k = q(key_col)
        where = "" if after_rowid is None else f" WHERE {k} > {pg.lit(after_rowid)}"
        rows = fetch(conn, f"SELECT {k}, {exprs} FROM {t}{where} ORDER BY {k} LIMIT {limit}")
    elif relkind in ("r", "m"):
        key_col = "ctid"
        rows = _ctid_rows(conn, t, exprs, after_rowid, limit)
    else:  # a view, a partitioned or foreign table without a key: row numbers, OFFSET paging
        key_col = "row"
        start = int(after_rowid) if isinstance(after_rowid, int) else 0
        rows = [
            (start + i + 1, *r)
            for i, r in enumerate(fetch(conn, f"SELECT {exprs} FROM {t} LIMIT {limit} OFFSET {start}"))
        ]
    out = tuple(
        (r[0], tuple(_value(c, *r[1 + 5 * j : 6 + 5 * j]) for j, c in enumerate(visible))) for r in rows
    )
    return TablePage(table, key_col, tuple(visible), hidden, out, rows[-1][0] if rows else None)


def _block_of(ctid: RawValue) -> int:
    """The heap page of a ctid given as text, '(12,3)' -> 12 (0 when unreadable)."""
    try:
        return int(str(ctid).strip("()").split(",")[0])
    except ValueError:
        return 0


def _ctid_rows(conn: Any, t: str, exprs: str, after: RawValue, limit: int) -> list[tuple]:
    """Rows after the ctid `after`, a window of CTID_WINDOW heap pages per statement (a TID range scan:
    never the whole table), until `limit` rows or the end of the table."""
    (blocks,) = fetch(
        conn, f"SELECT pg_relation_size({pg.lit(t)}::regclass) / current_setting('block_size')::int"
    )[0]
    low = "" if after is None else f"ctid > {pg.lit(str(after))}::tid AND "
    block = 0 if after is None else _block_of(after)
    first, rows = block, list[tuple]()
    while len(rows) < limit and block <= int(blocks) and block - first < CTID_MAX_BLOCKS:
        end = block + CTID_WINDOW
        rows += fetch(
            conn,
            # Not named "ctid": ORDER BY ctid would then sort by that output column, as text.
            f"SELECT ctid::text AS heap_position, {exprs} FROM {t} WHERE {low}ctid < '({end},0)'::tid "
            f"AND ctid >= '({block},0)'::tid ORDER BY ctid LIMIT {limit - len(rows)}",
        )
        block = end
    return rows


def list_tables(conn: Any, secret_tables: Sequence[str] = ()) -> tuple[TableInfo, ...]:
    """Every table and view on the search path: columns, secret columns, and rows (a count that stops at
    ROW_COUNT_CAP, past it the planner's estimate; views and secret tables are not counted)."""
    from batchtop.core.backends.postgres.reads import read_schema

    schema, _ = read_schema(conn)
    out = []
    for i, (name, relkind, reltuples, ncols) in enumerate(fetch(conn, TABLES_SQL)):
        name = str(name)
        table = schema.table(name)
        secret = name in secret_tables or is_secret_name(name)
        cols = table.columns if table is not None else ()
        rows: int | None = None
        exact = capped = False
        if not secret and relkind not in ("v", "f") and i < MAX_TABLES_COUNTED:
            (n,) = fetch(
                conn, f"SELECT count(*) FROM (SELECT 1 FROM {q(name)} LIMIT {ROW_COUNT_CAP + 1}) AS s"
            )[0]
            rows, exact = int(n), int(n) <= ROW_COUNT_CAP
            if not exact:
                estimate = float(reltuples or -1)
                rows, capped = (int(estimate), False) if estimate > ROW_COUNT_CAP else (ROW_COUNT_CAP, True)
        out.append(
            TableInfo(
                name,
                int(ncols),
                sum(1 for c in cols if is_secret_name(c.name)),
                secret,
                rows,
                exact,
                capped,
                "view" if relkind == "v" else "table",
            )
        )
    return tuple(out)
