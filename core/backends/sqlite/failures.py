"""SQLite's keyset pages of failed items: the newest, one error group's, and a search's, each in bounded reads.

A page never runs an unbounded scan (hazards.md rule 4). The newest failures and the nearest newer ones
are one keyset statement each. A group or a search page cannot be: the matching rows may be anywhere,
so their keys are found by chunked scans next to the anchor (each statement reads at most `CHUNK`
rows, the first only `SCAN_START`), or from the member keys `groups.GroupCache` keeps for small groups;
then one `read_failures(keys=...)` reads those rows.

Given a `Source`, each statement runs through `Source.run`, so the source lock (and its connection) is
free between chunks, and a short pause lets a rollback-journal writer take its lock.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from typing import Any

from batchtop.core.backends.sqlite.reads import fetch, read_failures
from batchtop.core.backends.sqlite.sql import (
    error_expr,
    key_expr,
    like_pattern,
    lit,
    q,
    search_condition,
    signature_arg,
    state_predicate,
)
from batchtop.core.paging import CHUNK, PAUSE, SCAN_START, Db, runner, sqlite_order
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.signature import cached_signature
from batchtop.core.snapshot import FailureRow


def failure_page(db: Db, track: Track, *, before: RawValue = None, after: RawValue = None,
                 limit: int = 50) -> list[FailureRow]:
    """Failed items next to an anchor, newest first: older than `before`, or the nearest newer than `after`."""
    if not track.failures_recorded:
        return []
    return runner(db)(lambda conn: read_failures(conn, track, limit=limit, before=before, after=after))


def group_items(db: Db, track: Track, signature_: str, *, before: RawValue = None, after: RawValue = None,
                limit: int = 50, members: Sequence[RawValue] | None = None,
                bounds: tuple[RawValue, RawValue] | None = None) -> list[FailureRow]:
    """A keyset page of the failed items whose error has `signature_`, newest first.

    Args:
        members: The group's keys in SQLite order, when known (`GroupCache.members`): the page is then
            read by key. Otherwise failed rows are scanned in bounded chunks next to the anchor.
        bounds: Lowest and highest key of the group, when known: the scan stops there.
    """
    if not track.failures_recorded:
        return []
    run = runner(db)
    if members is None:
        keys = _find_keys(run, track, before=before, after=after, limit=limit,
                          extra=signature_arg(error_expr(track)),
                          match=lambda v: cached_signature(v) == signature_, bounds=bounds)
        return _read_keys(run, track, keys, signature=signature_)
    # Members may have left the group since it was computed: read until the page is full.
    ordered = [sqlite_order(m) for m in members]
    if after is not None:
        candidates = list(members[bisect.bisect_right(ordered, sqlite_order(after)):])
    else:
        end = len(members) if before is None else bisect.bisect_left(ordered, sqlite_order(before))
        candidates = list(reversed(members[:end]))
    page: list[FailureRow] = []
    for i in range(0, len(candidates), limit):
        page += _read_keys(run, track, candidates[i:i + limit], signature=signature_)
        if len(page) >= limit:
            break
    page.sort(key=lambda r: sqlite_order(r.key), reverse=True)
    return page[-limit:] if after is not None else page[:limit]


def search_failures(db: Db, track: Track, text: str, *, before: RawValue = None, after: RawValue = None,
                    limit: int = 50) -> list[FailureRow]:
    """A keyset page of failed items whose error or label contains `text` (LIKE: ASCII case-insensitive)."""
    if not track.failures_recorded:
        return []
    if not text:
        return failure_page(db, track, before=before, after=after, limit=limit)
    run = runner(db)
    keys = _find_keys(run, track, before=before, after=after, limit=limit,
                      extra=search_condition(track, ":pattern"), params={"pattern": like_pattern(text)}, match=bool)
    return _read_keys(run, track, keys, search=text)


def _find_keys(run: Callable, track: Track, *, before: RawValue, after: RawValue, limit: int, extra: str,
               match: Callable[[Any], bool], params: dict[str, Any] | None = None,
               bounds: tuple[RawValue, RawValue] | None = None, chunk: int = CHUNK,
               pause: float = PAUSE) -> list[RawValue]:
    """Keys of up to `limit` failed rows next to an anchor, each statement reading at most `chunk` rows.

    Older (key < before, newest first) unless `after` is given (key > after, oldest first). Rows pass
    when `match(value of extra)` is true. `bounds` (lowest, highest key a group can have) stops the
    scan early.
    """
    k = key_expr(track)
    newer = after is not None
    anchor = after if newer else before
    base = f"SELECT {k}, {extra} FROM {q(track.table)} WHERE {state_predicate(track, ['failed'])}"
    if bounds is not None and bounds[0] is not None and bounds[1] is not None:
        base += f" AND {k} BETWEEN {lit(bounds[0])} AND {lit(bounds[1])}"
    order = f" ORDER BY {k}{'' if newer else ' DESC'}"
    size = max(SCAN_START, 4 * limit)
    found: list[RawValue] = []
    values = dict(params or {})
    while True:
        values["anchor"] = anchor
        cond = "" if anchor is None else f" AND {k} {'>' if newer else '<'} :anchor"
        sql = f"{base}{cond}{order} LIMIT {int(size)}"
        rows = run(lambda conn, s=sql, v=dict(values): fetch(conn, s, v))
        for row in rows:
            if match(row[1]):
                found.append(row[0])
                if len(found) >= limit:
                    return found
        if len(rows) < size or rows[-1][0] is None:
            return found
        anchor = rows[-1][0]
        size = min(size * 2, chunk)
        if pause > 0:
            time.sleep(pause)


def _read_keys(run: Callable, track: Track, keys: Sequence[RawValue], **kw: Any) -> list[FailureRow]:
    if not keys:
        return []
    return run(lambda conn: read_failures(conn, track, limit=len(keys), keys=list(keys), **kw))


def read_keys(db: Db, track: Track, keys: Sequence[RawValue]) -> list[FailureRow]:
    """The failed items with these keys, newest first (one statement)."""
    return runner(db)(lambda conn: read_failures(conn, track, limit=len(keys), keys=list(keys)))
