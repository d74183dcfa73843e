"""Reading the rows a filter selects, in bounded keyset chunks evaluated by the database (SQLite, or
PostgreSQL with the filter in its dialect: `backends.postgres.filter_sql`).

A filter is never evaluated by loading rows: each chunk is two statements, one finding the key at the
end of the next `CHUNK` keys (an index or rowid walk), one reading only the matching rows between the
two keys (`LIMIT PAGE`, so a page of previews is all that is held). Given a `Source`, each statement
runs through `Source.run` (on PostgreSQL a short READ ONLY transaction with the statement timeout): no
read transaction outlives a statement, and the source lock is free between them (hazards.md rule 4).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from batchtop.core.errors import FilterError
from batchtop.core.failure_pages import PAUSE, Db, runner
from batchtop.core.filter_sql import compile_filter
from batchtop.core.filters import Node, parse, terms
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.signature import cached_signature

if TYPE_CHECKING:
    from batchtop.core.targets import Target
from batchtop.core.snapshot import FailureRow, fetch

#: Keys visited per chunk.
CHUNK = 20_000
#: Matching rows read per statement.
PAGE = 500


@dataclass(frozen=True)
class Filter:
    """A parsed filter; `condition()` compiles it for one track."""

    text: str
    node: Node | None

    @classmethod
    def parse(cls, text: str) -> Filter:
        """Parse `text` (raises FilterError with the position of the bad token)."""
        return cls(text, parse(text))

    @property
    def empty(self) -> bool:
        return self.node is None

    def fields(self) -> set[str]:
        """Field names used (lower case; '' for bare words)."""
        return {(t.field or "").lower() for t in terms(self.node)}

    def condition(
        self,
        track: Track,
        *,
        now: float,
        path: str | None = None,
        columns: Sequence[str] | None = None,
        inline: bool = False,
    ) -> tuple[str, dict[str, Any]]:
        """SQL condition and parameters for rows of `track` (see `filter_sql.compile_filter`)."""
        return compile_filter(
            self.node, track, now=now, path=path, columns=columns, inline=inline, text=self.text
        )


def _read(conn: Any, sql: str, params: dict[str, Any]) -> list[tuple]:
    """`fetch`, with `bt_signature` memoised on this connection first.

    `sig:` terms call `bt_signature` once per row visited; `signature.cached_signature` gives the same
    result for the BLOB `sql.signature_arg` hands it and runs the patterns once per kind of error
    (measured: a `sig:` count over 200,000 rows went from 14 s to about 1 s). Re-registering costs
    microseconds, and makes no statement depend on which connection a `Source` has open.
    """
    conn.create_function("bt_signature", 1, cached_signature, deterministic=True)
    return fetch(conn, sql, params)


def columns_of(db: Db, table: str) -> list[str]:
    """Column names of `table` (for column terms such as `cost_usd>0.05`)."""
    from batchtop.core.sql import q

    return [r[1] for r in runner(db)(lambda conn: fetch(conn, f"PRAGMA table_info({q(table)})"))]


def compile_for(
    db: Db, track: Track, flt: Filter, *, now: float, path: str | None = None, inline: bool = False
) -> tuple[str, dict[str, Any]]:
    """`flt.condition` with the table's columns read first, in the source's dialect (SQLite's, or
    PostgreSQL's: `backends.postgres.filter_sql`, whose `sig:` reads the table's errors)."""
    if on_postgres(db):
        from batchtop.core.backends.postgres.filter_sql import compile_for as pg_compile

        return pg_compile(db, track, flt.node, now=now, path=path, text=flt.text)
    return flt.condition(track, now=now, path=path, columns=columns_of(db, track.table), inline=inline)


def scan(
    db: Db,
    track: Track,
    condition: str,
    params: dict[str, Any],
    select: str,
    *,
    chunk: int = CHUNK,
    page: int = PAGE,
    pause: float = PAUSE,
    newest_first: bool = False,
    start: Any = None,
) -> Iterator[list[tuple]]:
    """Pages of `SELECT {select}` (its first column must be the key) over the rows matching `condition`.

    In ascending key order, or descending with `newest_first`; `start` is an exclusive anchor key
    (keyset paging: pass the last key seen). Each statement visits at most `chunk` keys (the range
    bound) and returns at most `page` rows. Rows whose key is NULL are skipped: they cannot be paged,
    shown as an item or acted on (rowid keys never are NULL).
    """
    from batchtop.core.sql import q

    if page < 1:
        raise ValueError(f"scan: page must be at least 1, got {page}")
    run, pg, k = runner(db), on_postgres(db), key_of(db, track)
    if pg:  # PostgreSQL: anchors are literals (its conditions carry no parameters)
        from batchtop.core.backends.postgres import sql as pg_sql
        from batchtop.core.backends.postgres.conn import fetch as pg_fetch

    def at(name: str, value: Any) -> str:
        """An anchor in a statement: a parameter on SQLite, a literal on PostgreSQL (no parameters)."""
        return pg_sql.lit(value) if pg else f":{name}"

    def read(sql: str, **anchors: Any) -> list[tuple]:
        if pg:
            return run(lambda conn: pg_fetch(conn, sql))
        return run(partial(_read, sql=sql, params=dict(params, **anchors)))

    t = q(track.table)
    past, edge, order = ("<", "MIN", "DESC") if newest_first else (">", "MAX", "ASC")
    within = ">=" if newest_first else "<="
    low: Any = start
    while True:
        beyond = f"WHERE {k} {past} {at('bt_low', low)}" if low is not None else f"WHERE {k} IS NOT NULL"
        edge_sql = (f"SELECT {edge}(k) FROM (SELECT {k} AS k FROM {t} {beyond} ORDER BY {k} {order} "
                    f"LIMIT {int(chunk)}) AS c")
        (high,) = read(edge_sql, bt_low=low)[0]
        if high is None:
            return
        anchor = low
        while True:
            lower = "" if anchor is None else f"{k} {past} {at('bt_low', anchor)} AND "
            sql = (
                f"SELECT {select} FROM {t} WHERE {lower}{k} {within} {at('bt_high', high)} AND ({condition}) "
                f"ORDER BY {k} {order} LIMIT {int(page)}"
            )
            rows = read(sql, bt_low=anchor, bt_high=high)
            if rows:
                yield rows
            if len(rows) < page:
                break
            anchor = rows[-1][0]
        low = high
        if pause > 0:
            time.sleep(pause)


def count_matching(
    db: Db,
    track: Track,
    condition: str,
    params: dict[str, Any],
    *,
    chunk: int = CHUNK,
    pause: float = PAUSE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Rows matching `condition` (NULL keys aside, as `scan`), counted chunk by chunk: each statement
    visits at most `chunk` keys."""
    from batchtop.core.sql import key_expr, q

    run = runner(db)
    k, t = key_expr(track), q(track.table)
    total = 0
    low: Any = None
    while True:
        above = f"WHERE {k} IS NOT NULL" if low is None else f"WHERE {k} > :bt_low"
        sql = (
            f"SELECT MAX(k), TOTAL(m), COUNT(*) FROM (SELECT {k} AS k, ({condition}) AS m FROM {t} {above} "
            f"ORDER BY {k} LIMIT {int(chunk)})"
        )
        high, matched, visited = run(partial(_read, sql=sql, params=dict(params, bt_low=low)))[0]
        total += int(matched or 0)
        if progress is not None:
            progress(total)
        if high is None or int(visited) < chunk:
            return total
        low = high
        if pause > 0:
            time.sleep(pause)


def filter_failures(
    db: Db,
    track: Track,
    text: str,
    *,
    before: RawValue = None,
    after: RawValue = None,
    limit: int = 50,
    path: str | None = None,
    now: float | None = None,
) -> list[FailureRow]:
    """A keyset page of the failed items a filter selects, newest first (the failures screen's `/`).

    A drop-in for `failure_pages.search_failures`: a plain word still finds failures whose error or
    label contains it. Older than `before`, or the `limit` nearest newer than `after`.

    Raises:
        FilterError: the text is not a valid filter (its message points at the bad token).
    """
    from batchtop.core.snapshot import read_failures

    if not track.failures_recorded:
        return []
    flt = Filter.parse(text)
    sql, params = compile_for(db, track, flt, now=time.time() if now is None else now, path=path)
    cond = f"({sql}) AND {failed_predicate(db, track)}"
    newer = after is not None
    keys: list[RawValue] = []
    for page in scan(
        db,
        track,
        cond,
        params,
        key_of(db, track),
        page=limit,
        newest_first=not newer,
        start=after if newer else before,
    ):
        keys += [r[0] for r in page]
        if len(keys) >= limit:
            break
    keys = keys[:limit]
    if not keys:
        return []
    if on_postgres(db):
        from batchtop.core.backends.postgres.failures import read_keys

        return read_keys(db, track, keys)
    return runner(db)(lambda conn: read_failures(conn, track, limit=len(keys), keys=keys))


__all__ = [
    "CHUNK",
    "PAGE",
    "Filter",
    "FilterError",
    "columns_of",
    "compile_for",
    "count_matching",
    "filter_failures",
    "scan",
]


def search_target(db: Db, text: str) -> Target:
    """The reset target of what a failures search lists: its filter."""
    from batchtop.core.targets import Target

    return Target.where(text)


def on_postgres(db: Db) -> bool:
    """A PostgreSQL source (its filters compile to its own SQL: `backends.postgres.filter_sql`)."""
    return getattr(db, "kind", "sqlite") == "postgresql"


def key_of(db: Db, track: Track) -> str:
    """The track's key expression in the source's SQL."""
    if on_postgres(db):
        from batchtop.core.backends.postgres.sql import key_expr as pg_key

        return pg_key(track)
    from batchtop.core.sql import key_expr

    return key_expr(track)


def failed_predicate(db: Db, track: Track) -> str:
    """Failed rows, in the source's SQL."""
    if on_postgres(db):
        from batchtop.core.backends.postgres.sql import state_predicate as pg_states

        return pg_states(track, ["failed"])
    from batchtop.core.sql import state_predicate

    return state_predicate(track, ["failed"])
