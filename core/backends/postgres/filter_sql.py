"""The filter language (`core.filters`) in PostgreSQL's SQL: the same terms as `core.filter_sql`.

Only the emission differs (`PgDialect`): values are always literals (`sql.lit`: the condition is shown,
journaled and re-run by the write exactly as planned), text matches are `ILIKE` on a text cast (SQLite's
LIKE ignores ASCII case), booleans are TRUE/FALSE, comparisons and times follow the column's declared
type. `sig:` has no SQL form here (no `bt_signature`, and batchtop creates nothing on the user's
database): the signatures are computed client-side by `signature_keys`, in keyset-paged reads, and
the term becomes the list of matching keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from batchtop.core.backends.postgres import sql as pg
from batchtop.core.backends.sqlite.sql import label_expr, raw_expr, when_expr
from batchtop.core.filter_sql import Dialect, _Binder
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.schema import Table
from batchtop.core.signature import signature
from batchtop.core.timeutil import format_ts

_NUMERIC = ("INTEGER", "BIGINT", "SMALLINT", "NUMERIC", "REAL", "DOUBLE PRECISION")


class _Literals(_Binder):
    """Every value embedded as a PostgreSQL literal."""

    def __init__(self) -> None:
        super().__init__(inline=True)

    def __call__(self, value: Any) -> str:
        return pg.lit(value)


class PgDialect(Dialect):
    """PostgreSQL's emission of a filter for one table (`table`: its declared column types).

    `sig_keys(signature)` gives the keys of the rows whose error has that signature.
    """

    true, false = "TRUE", "FALSE"

    def __init__(self, table: Table | None, sig_keys: Callable[[str], Sequence[RawValue]]) -> None:
        self.table, self.sig_keys = table, sig_keys

    def binder(self, inline: bool) -> _Binder:
        return _Literals()

    def wrap(self, term_sql: str) -> str:
        return f"COALESCE(({term_sql}), FALSE)"

    def contains(self, expr: str, pattern: str) -> str:
        return f"CAST({expr} AS text) ILIKE {pattern} ESCAPE '\\'"

    def equals(self, expr: str, value: str) -> str:
        return f"CAST({expr} AS text) = {value}"

    def compare(self, expr: str, op: str, value: Any, bind: _Binder) -> str:
        if isinstance(value, int | float) and pg.type_of(self.table, expr).startswith(_NUMERIC):
            return f"{expr} {op} {bind(value)}"
        # PostgreSQL has no implicit text/number comparison: compare as text, as SQLite does a TEXT column.
        return f"CAST({expr} AS text) {op} {bind(str(value))}"

    def states(self, track: Track, wanted: list[str]) -> str:
        return pg.state_predicate(track, wanted)

    def signature(self, track: Track, value: str, bind: _Binder) -> str:
        found = pg.keys_in(track, list(self.sig_keys(value)))
        # A NULL error has the signature "(no message)" on SQLite too.
        return f"({pg.error_expr(track)} IS NULL OR {found})" if value == signature(None) else found

    def time(self, track: Track, when: str, op: str, cut: float, bind: _Binder) -> str:
        kind = pg.type_of(self.table, when)
        if kind.startswith(("TIMESTAMP", "DATE")):
            # Sessions run with TimeZone UTC, so a naive timestamp compares as UTC wall time.
            return f"{when} {op} to_timestamp({cut:.3f})"
        if kind.startswith(_NUMERIC):
            return f"(CASE WHEN {when} > 100000000000 THEN {when} / 1000.0 ELSE {when} END) {op} {cut:.3f}"
        text = f"CAST({when} AS text)"
        return f"replace(left({text}, 19), 'T', ' ') {op} {bind(format_ts(cut, track.tz, 'space'))}"

    def expr(self, track: Track, part: str) -> str:
        return {
            "error": pg.error_expr,
            "label": label_expr,
            "key": pg.key_expr,
            "raw": raw_expr,
            "when": when_expr,
        }[part](track)


def compile_for(
    source: Any, track: Track, node: Any, *, now: float, path: str | None, text: str
) -> tuple[str, dict[str, Any]]:
    """The PostgreSQL condition of a parsed filter for rows of `track` (no parameters: all literals).

    A `sig:` term reads the table's errors first (`failures.signature_keys`)."""
    from batchtop.core.backends.postgres.failures import signature_keys
    from batchtop.core.filter_sql import compile_filter

    table = source.table(track.table)
    dialect = PgDialect(table, lambda sig: signature_keys(source, track, sig))
    columns = [c.name for c in table.columns] if table is not None else None
    return compile_filter(node, track, now=now, path=path, columns=columns, text=text, dialect=dialect)
