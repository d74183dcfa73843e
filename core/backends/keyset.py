"""Keyset scans of the rows a condition selects, in bounded chunks evaluated by the database, in the SQL
of the source's backend (SQLite's for a plain connection).

A filter is never evaluated by loading rows: each chunk is two statements, one finding the key at the
end of the next `CHUNK` keys (an index or rowid walk), one reading only the matching rows between the
two keys (`LIMIT PAGE`, so a page of previews is all that is held). Given a source, each statement
runs through `source.run` (on PostgreSQL a short READ ONLY transaction with the statement timeout): no
read transaction outlives a statement, and the source lock is free between them (hazards.md rule 4).

The backend gives the key expression, the anchors (`anchor`: a named parameter on SQLite, a literal on
PostgreSQL, whose conditions carry no parameters) and the reads (`read_rows`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from batchtop.core.backends.sqlite import filter_sql as sqlite_filter
from batchtop.core.backends.sqlite.sql import q
from batchtop.core.paging import PAUSE, Db, runner
from batchtop.core.profiles.model import Track

#: Keys visited per chunk.
CHUNK = 20_000
#: Matching rows read per statement.
PAGE = 500


def dialect_of(db: Db) -> Any:
    """What a scan needs of the source's backend (`key_expr`, `anchor`, `read_rows`): its backend
    object, or SQLite's for a plain connection."""
    return getattr(db, "backend", None) or sqlite_filter


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
    if page < 1:
        raise ValueError(f"scan: page must be at least 1, got {page}")
    d = dialect_of(db)
    run, k, at = runner(db), d.key_expr(track), d.anchor

    def read(sql: str, **anchors: Any) -> list[tuple]:
        return d.read_rows(run, sql, dict(params, **anchors))

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
    d = dialect_of(db)
    run = runner(db)
    k, t = d.key_expr(track), q(track.table)
    total = 0
    low: Any = None
    while True:
        above = f"WHERE {k} IS NOT NULL" if low is None else f"WHERE {k} > {d.anchor('bt_low', low)}"
        sql = (
            f"SELECT MAX(k), TOTAL(m), COUNT(*) FROM (SELECT {k} AS k, ({condition}) AS m FROM {t} {above} "
            f"ORDER BY {k} LIMIT {int(chunk)})"
        )
        high, matched, visited = d.read_rows(run, sql, dict(params, bt_low=low))[0]
        total += int(matched or 0)
        if progress is not None:
            progress(total)
        if high is None or int(visited) < chunk:
            return total
        low = high
        if pause > 0:
            time.sleep(pause)
