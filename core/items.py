"""One item in full, and a read-only page of any table: previews only, secrets never read.

What the item and tables views show (the dataclasses), the secret checks and the redaction every backend
shares, and the entry points screens call on a watched source; the reads are the backend's
(`backends.sqlite.items`, `backends.postgres.items`). The SELECT lists are built without secret columns
(the track's `secret` list, and every column whose name says token/secret/password/credential/api
key/auth/cookie unless the track's `not_secret` lists it)
and a profile's secret tables are never read at all, so a secret value cannot reach a widget, a log or an
export by accident. Values are read as previews (`substr`, `length`, `typeof`: hazards.md rule 11) and
long ones are paged with `read_value`. Credentials inside values are redacted here (JSON keys, headers,
URLs: `sanitize.redact`), page by page with the end of the previous page in view; BLOBs holding text or
JSON are shown as that text, pickles as a summary, anything else as hex with secret-looking strings
masked (`batchtop.core.blobs`). Control characters are left in: the UI sanitises them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batchtop.core.blobs import blob_kind, blob_text, mask_secrets, pickle_summary, text_chunk
from batchtop.core.errors import SecretValue
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.sanitize import is_secret_name, redact, redact_page

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


def hex_dump(data: bytes, offset: int = 0, width: int = 16) -> str:
    """Offset and hex of each `width` bytes (callers mask secret-looking strings first: `mask_secrets`)."""
    return "\n".join(f"{offset + i:08x}  {data[i:i + width].hex(' ')}" for i in range(0, len(data), width))


# -- on a watched source, whatever its backend ----------------------------------------------------------
# Screens call these: each runs in the source's short read-only transaction (`source.run`), with the
# SQL of the source's backend (`source.backend`: SQLite's `backends.sqlite.items`, or PostgreSQL's).


def read_item(source: Any, track: Track, key: RawValue, *, secret_tables: Sequence[str] = ()) -> ItemDetail:
    """`item_detail` of `key` on a watched source."""
    backend = source.backend
    return source.run(lambda c: backend.item_detail(c, track, key, secret_tables=secret_tables))


def read_item_value(source: Any, track: Track, key: RawValue, column: str, offset: int, size: int, *,
                    secret_tables: Sequence[str] = ()) -> ValueChunk | None:
    """`read_value` (one page of a long value) on a watched source."""
    backend = source.backend
    return source.run(lambda c: backend.read_value(c, track, key, column, offset, size,
                                                   secret_tables=secret_tables))


def read_tables(source: Any, secret_tables: Sequence[str] = ()) -> tuple[TableInfo, ...]:
    """`list_tables` of a watched source (row counts bounded, or estimates on PostgreSQL)."""
    backend = source.backend
    return source.run(lambda c: backend.list_tables(c, secret_tables))


def read_table_page(source: Any, table: str, *, after: RawValue = None, limit: int = 100,
                    secret_tables: Sequence[str] = ()) -> TablePage:
    """`table_page` (a keyset page of any table) on a watched source."""
    backend = source.backend
    return source.run(lambda c: backend.table_page(c, table, after_rowid=after, limit=limit,
                                                   secret_tables=secret_tables))
