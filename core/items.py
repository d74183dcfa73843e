"""One item in full, and a read-only page of any table: previews only, secrets never read.

The SELECT lists are built without secret columns (the track's `secret` list, and every column whose
name says token/secret/password/credential/api key/auth/cookie unless the track's `not_secret` lists it)
and a profile's secret tables are never read at all, so a secret value cannot reach a widget, a log or an
export by accident. Values are read as previews (`substr`, `length`, `typeof`: hazards.md rule 11) and
long ones are paged with `read_value`. Credentials inside values are redacted here (JSON keys, headers,
URLs: `sanitize.redact`), page by page with the end of the previous page in view; BLOBs holding text or
JSON are shown as that text, pickles as a summary, anything else as hex with secret-looking strings
masked (`batchtop.core.blobs`). Control characters are left in: the UI sanitises them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batchtop.core.blobs import HEAD_BYTES, blob_kind, blob_text, mask_secrets, pickle_summary, text_chunk
from batchtop.core.errors import BatchtopError, SecretValue
from batchtop.core.profiles.model import STATES, UNMAPPED, RawValue, Track
from batchtop.core.sanitize import is_secret_name, redact, redact_page
from batchtop.core.snapshot import fetch
from batchtop.core.sql import key_expr, q, raw_expr, state_predicate

#: Characters of each column read for the item detail.
PREVIEW_CHARS = 2_000
#: Characters (or BLOB bytes) per page of a long value.
CHUNK_CHARS = 16_384
#: Bytes of a BLOB shown in a preview (as hex).
HEX_BYTES = 32
#: Characters before a page read with it, so a credential named at the end of the previous page keeps
#: its value hidden on this one.
LOOKBACK_CHARS = 512
#: Characters per cell of the generic table view.
TABLE_CHARS = 80
#: Columns read per statement (5 expressions each, well below SQLite's 2,000 result columns).
COLUMNS_PER_STATEMENT = 100
#: A table's rows are counted up to this many (the count reads no further); past it the view says so
#: (on PostgreSQL it shows the planner's estimate, marked as one).
ROW_COUNT_CAP = 10_000
#: Tables whose rows are counted in one listing (the others show no count).
MAX_TABLES_COUNTED = 200


@dataclass(frozen=True)
class Value:
    """A preview of one value."""

    column: str
    #: SQLite type: "null", "integer", "real", "text" or "blob".
    kind: str
    #: Characters (text) or bytes (blob) of the whole value.
    length: int
    #: Bytes of the whole value.
    size: int
    #: The preview: text as stored (redacted, not sanitised), a number, a BLOB's decoded text, a pickle's
    #: summary, or `<blob N bytes: hex…>`.
    text: str
    #: Bytes of the value after the preview.
    more: int

    @property
    def is_null(self) -> bool:
        return self.kind == "null"


@dataclass(frozen=True)
class ItemDetail:
    """Every column of one item, except secrets."""

    track: str
    table: str
    key: RawValue
    #: False when no row has this key (any more).
    found: bool
    #: Canonical state and the raw value it was read from.
    state: str | None
    raw_state: str | None
    label: Value | None
    #: The error column's preview, when the item is in one of the track's error states.
    error: Value | None
    #: The row holds error text but is not in an error state (a stale error of an earlier attempt).
    stale_error: bool
    columns: tuple[Value, ...]
    #: Secret columns that were not read.
    hidden: tuple[str, ...]


@dataclass(frozen=True)
class ValueChunk:
    """One page of a long value."""

    column: str
    kind: str
    #: Characters (text) or bytes (blob) before this page.
    offset: int
    #: The page: text as stored (redacted), a text BLOB's decoded text, a pickle's summary, or a hex dump.
    text: str
    #: Characters (or bytes) in this page.
    count: int
    length: int
    size: int
    #: Bytes of the value after this page.
    more: int


@dataclass(frozen=True)
class TablePage:
    """A keyset page of an arbitrary table (previews only)."""

    table: str
    #: The keyset column ("rowid", or the primary key of a WITHOUT ROWID table).
    key_column: str
    columns: tuple[str, ...]
    hidden: tuple[str, ...]
    rows: tuple[tuple[RawValue, tuple[Value, ...]], ...]
    #: Key of the last row (pass it as `after` for the next page); None when the page is empty.
    last: RawValue


@dataclass(frozen=True)
class TableInfo:
    """One table of the tables view: its columns and (bounded) row count."""

    name: str
    columns: int
    secret_columns: int
    #: The whole table is secret: never read, not counted.
    secret: bool
    #: Rows: a count, an estimate (`exact` False), or None (not counted: secret, a view, too many tables).
    rows: int | None
    #: `rows` is an exact count.
    exact: bool
    #: There are more than `rows` rows (the count stopped at ROW_COUNT_CAP and there is no estimate).
    capped: bool = False
    #: "table" or "view".
    kind: str = "table"

    def rows_text(self) -> str:
        """'1,234', 'over 10,000', '~2,500,000 (estimate)', or '—' when not counted."""
        if self.rows is None:
            return "—"
        if self.exact:
            return f"{self.rows:,}"
        return f"over {self.rows:,}" if self.capped else f"~{self.rows:,} (estimate)"


def list_tables(conn: sqlite3.Connection, secret_tables: Sequence[str] = ()) -> tuple[TableInfo, ...]:
    """Every table: columns, secret columns, and rows counted up to ROW_COUNT_CAP (secret tables are not
    counted; each count is one short statement that reads at most ROW_COUNT_CAP + 1 rows)."""
    from batchtop.core.schema import read_schema

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


def is_secret(column: str, secrets: Sequence[str] = (), not_secret: Sequence[str] = ()) -> bool:
    """Whether a column must never be read (see `Track.is_secret`)."""
    return column in secrets or (column not in not_secret and is_secret_name(column))


def _check_table(table: str, secret_tables: Sequence[str]) -> None:
    if table in secret_tables or is_secret_name(table):
        raise SecretValue(f"table {table} holds secrets: it is never read")


def _split(columns: Sequence[str], secrets: Sequence[str],
           not_secret: Sequence[str] = ()) -> tuple[list[str], tuple[str, ...]]:
    visible = [c for c in columns if not is_secret(c, secrets, not_secret)]
    return visible, tuple(c for c in columns if is_secret(c, secrets, not_secret))


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


def _value(column: str, preview: object, length: int | None, kind: str | None, size: int | None,
           head: int | None) -> Value:
    kind = str(kind or "null")
    n, total = int(length or 0), int(size or 0)
    if kind == "blob":
        data = preview if isinstance(preview, bytes) else b""
        shape = blob_kind(data, n)
        shown = len(data) if shape == "text" else min(len(data), HEX_BYTES)
        more = 0 if shape == "pickle" else max(0, total - shown)
        return Value(column, kind, n, total, blob_text(data, n), more)
    if kind == "null":
        return Value(column, kind, 0, 0, "", 0)
    if kind == "text":
        return Value(column, kind, n, total, redact(str(preview)), max(0, total - int(head or 0)))
    return Value(column, kind, n, total, str(preview), 0)


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


def chunk_of(column: str, offset: int, back: int, kind: Any, length: Any, total: Any, part: Any, through: Any,
             before: Any, head: Any) -> ValueChunk:
    """A page of a value from what a backend read: its kind ('null', 'integer', 'real', 'text', 'blob'),
    length (characters or bytes) and bytes, the page, the bytes through the page's end (text), the `back`
    characters (or bytes) before it, and a BLOB's head. Text is redacted with the end of the previous
    page in view; BLOBs as `_blob_chunk`. Shared by the backends."""
    kind, length, total = str(kind), int(length or 0), int(total or 0)
    if kind == "blob":
        return _blob_chunk(column, offset, part, before if back else b"", head, length, total)
    if kind == "null":
        return ValueChunk(column, kind, 0, "", 0, 0, 0, 0)
    text = str(part)
    more = max(0, total - int(through or 0)) if kind == "text" else 0
    shown = redact_page(text, str(before or "")) if kind == "text" else text
    return ValueChunk(column, kind, offset, shown, len(text), length, total, more)


def _blob_chunk(column: str, offset: int, part: object, before: object, head: object, length: int,
                total: int) -> ValueChunk:
    """One page of a BLOB: decoded text (redacted), a pickle's summary (one page), or masked hex."""
    data = part if isinstance(part, bytes) else b""
    head = head if isinstance(head, bytes) else b""
    kind = blob_kind(head, length)
    if kind == "pickle":
        return ValueChunk(column, "blob", 0, pickle_summary(head, length), length, length, total, 0)
    if kind == "text":
        text, count = text_chunk(data, complete=offset + len(data) >= length)
        prior = before.decode("utf-8", "ignore") if isinstance(before, bytes) else ""
        return ValueChunk(column, "blob", offset, redact_page(text, prior) if prior else text, count, length,
                          total, max(0, total - offset - count))
    return ValueChunk(column, "blob", offset, hex_dump(mask_secrets(data), offset), len(data), length, total,
                      max(0, total - offset - len(data)))


def value_chunk(conn: sqlite3.Connection, track: Track, key: RawValue, column: str, offset: int, size: int) -> str:
    """The text of one page of a value (see `read_value`); empty when the row is gone."""
    chunk = read_value(conn, track, key, column, offset, size)
    return chunk.text if chunk else ""


def hex_dump(data: bytes, offset: int = 0, width: int = 16) -> str:
    """Offset and hex of each `width` bytes (callers mask secret-looking strings first: `mask_secrets`)."""
    return "\n".join(f"{offset + i:08x}  {data[i:i + width].hex(' ')}" for i in range(0, len(data), width))


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


# -- on a watched source, whatever its backend ----------------------------------------------------------
# Screens call these: each runs in the source's short read-only transaction (`source.run`), with the
# backend's own SQL when the source has a backend object (PostgreSQL), else SQLite's above.


def read_item(source: Any, track: Track, key: RawValue, *, secret_tables: Sequence[str] = ()) -> ItemDetail:
    """`item_detail` of `key` on a watched source."""
    backend = getattr(source, "backend", None)
    if backend is not None:
        return source.run(lambda c: backend.item_detail(c, track, key, secret_tables=secret_tables))
    return source.run(lambda c: item_detail(c, track, key, secret_tables=secret_tables))


def read_item_value(source: Any, track: Track, key: RawValue, column: str, offset: int, size: int, *,
                    secret_tables: Sequence[str] = ()) -> ValueChunk | None:
    """`read_value` (one page of a long value) on a watched source."""
    backend = getattr(source, "backend", None)
    if backend is not None:
        return source.run(lambda c: backend.read_value(c, track, key, column, offset, size,
                                                       secret_tables=secret_tables))
    return source.run(lambda c: read_value(c, track, key, column, offset, size, secret_tables=secret_tables))


def read_tables(source: Any, secret_tables: Sequence[str] = ()) -> tuple[TableInfo, ...]:
    """`list_tables` of a watched source (row counts bounded, or estimates on PostgreSQL)."""
    backend = getattr(source, "backend", None)
    if backend is not None:
        return source.run(lambda c: backend.list_tables(c, secret_tables))
    return source.run(lambda c: list_tables(c, secret_tables))


def read_table_page(source: Any, table: str, *, after: RawValue = None, limit: int = 100,
                    secret_tables: Sequence[str] = ()) -> TablePage:
    """`table_page` (a keyset page of any table) on a watched source."""
    backend = getattr(source, "backend", None)
    if backend is not None:
        return source.run(lambda c: backend.table_page(c, table, after_rowid=after, limit=limit,
                                                       secret_tables=secret_tables))
    return source.run(lambda c: table_page(c, table, after_rowid=after, limit=limit, secret_tables=secret_tables))
