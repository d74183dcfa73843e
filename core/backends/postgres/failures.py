"""The failures screen's reads on PostgreSQL: keyset pages, a search, and the error groups.

Same results as `batchtop.core.failure_pages` and `batchtop.core.groups` on SQLite. Signatures are
computed here from each error's first and last LIST_CHARS characters (what `sql.signature_arg` hands
SQLite's `bt_signature`), so a group has the same members on both. Every statement reads at most a chunk
of rows in key order, in the source's read-only session; the lock is free between chunks.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from batchtop.core.backends.postgres import sql as pg
from batchtop.core.backends.postgres.conn import fetch
from batchtop.core.backends.postgres.sql import error_signature
from batchtop.core.backends.sqlite.sql import LIST_CHARS, q, when_expr
from batchtop.core.groups import (
    KEYS_CAP,
    MAX_GROUPS,
    GroupCache,
    GroupReport,
    Progress,
    _group,
)
from batchtop.core.paging import CHUNK, KEYS_PER_READ, PAUSE, SCAN_START, sqlite_order
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.snapshot import FailureRow


def failure_page(
    source: Any,
    track: Track,
    *,
    before: RawValue = None,
    after: RawValue = None,
    limit: int = 50,
    search: str | None = None,
) -> list[FailureRow]:
    """Failed items next to an anchor, newest first (optionally only those matching `search`)."""
    if not track.failures_recorded:
        return []
    table = source.table(track.table)
    return source.run(
        lambda conn: source.backend.read_failures(
            conn, track, table, limit=limit, before=before, after=after, search=search or None
        )
    )


def _signature_rows(track: Track, where: str | None = None) -> str:
    err = pg.error_expr(track)
    text = f"CAST({err} AS text)"
    return (
        f"SELECT {pg.key_expr(track)}, left({text}, {LIST_CHARS}), right({text}, {LIST_CHARS}), "
        f"length({text}), {when_expr(track)} FROM {q(track.table)} "
        f"WHERE {where or pg.state_predicate(track, ['failed'])}"
    )


def signature_chunks(
    source: Any, track: Track, *, where: str | None = None, chunk: int = CHUNK, pause: float = PAUSE
) -> Iterator[list[tuple]]:
    """(key, error head, error tail, length, time) of the rows matching `where` (default: failed), in key
    order, one statement of at most `chunk` rows each (the session is free between them)."""
    k, base, high = pg.key_expr(track), _signature_rows(track, where), None
    while True:
        cond = "" if high is None else f" AND {k} > {pg.lit(high)}"
        rows = source.run(lambda conn, s=f"{base}{cond} ORDER BY {k} LIMIT {int(chunk)}": fetch(conn, s))
        yield rows
        if len(rows) < chunk or rows[-1][0] is None:
            return
        high = rows[-1][0]
        time.sleep(pause)


def signature_keys(source: Any, track: Track, sig: str, *, chunk: int = CHUNK) -> list[RawValue]:
    """Keys of every row (any state, as SQLite's `bt_signature` term) whose error has signature `sig`:
    the whole table's errors are read, `chunk` rows a statement; only the matching keys are kept."""
    err = pg.error_expr(track)
    if err == "NULL":
        return []
    return [
        r[0]
        for rows in signature_chunks(source, track, where=f"{err} IS NOT NULL", chunk=chunk)
        for r in rows
        if error_signature(r[1], r[2], r[3]) == sig
    ]


def read_keys(source: Any, track: Track, keys: Sequence[RawValue]) -> list[FailureRow]:
    """The failure rows of `keys`, newest first."""
    if not keys:
        return []
    table = source.table(track.table)
    return source.run(
        lambda conn: source.backend.read_failures(conn, track, table, limit=len(keys), keys=list(keys))
    )


def group_items(
    source: Any,
    track: Track,
    signature_: str,
    *,
    before: RawValue = None,
    after: RawValue = None,
    limit: int = 50,
    members: Sequence[RawValue] | None = None,
    chunk: int = CHUNK,
    pause: float = PAUSE,
) -> list[FailureRow]:
    """A keyset page of the failed items whose error has `signature_`, newest first."""
    if not track.failures_recorded:
        return []
    if members is not None:
        ordered = sorted(members, key=sqlite_order)
        if after is not None:
            candidates = [m for m in ordered if sqlite_order(m) > sqlite_order(after)][:limit]
        else:
            older = [m for m in ordered if before is None or sqlite_order(m) < sqlite_order(before)]
            candidates = older[-limit:]
        page = read_keys(source, track, candidates)
        return sorted(page, key=lambda r: sqlite_order(r.key), reverse=True)[:limit]
    k, newer = pg.key_expr(track), after is not None
    anchor, size, found = (after if newer else before), max(SCAN_START, 4 * limit), []
    base = _signature_rows(track)
    while True:
        cond = "" if anchor is None else f" AND {k} {'>' if newer else '<'} {pg.lit(anchor)}"
        sql = f"{base}{cond} ORDER BY {k}{'' if newer else ' DESC'} LIMIT {int(size)}"
        rows = source.run(lambda conn, s=sql: fetch(conn, s))
        found += [r[0] for r in rows if error_signature(r[1], r[2], r[3]) == signature_]
        if len(found) >= limit or len(rows) < size or rows[-1][0] is None:
            break
        anchor, size = rows[-1][0], min(size * 2, chunk)
        time.sleep(pause)
    return sorted(read_keys(source, track, found[:limit]), key=lambda r: sqlite_order(r.key), reverse=True)


class PgGroupCache(GroupCache):
    """`GroupCache` on PostgreSQL: the same report, every refresh a full chunked pass (no delta yet)."""

    def refresh(
        self,
        db: Any,
        *,
        chunk: int = CHUNK,
        pause: float = PAUSE,
        progress: Progress | None = None,
        max_groups: int = MAX_GROUPS,
        partial: Callable[[GroupReport], None] | None = None,
    ) -> GroupReport:
        from batchtop.core.groups import unrecorded_message

        started = time.perf_counter()
        track, source = self.track, db
        if not track.failures_recorded:
            self.report = GroupReport((), 0, 0, "unchanged", 0, 0, 0.0, unrecorded_message(track))
            return self.report
        groups: dict[str, list[Any]] = {}
        rows_read = statements = 0
        on_chunk = self._partials(partial, max_groups, started) if partial is not None else None
        for rows in signature_chunks(source, track, chunk=chunk, pause=pause):
            statements += 1
            for key, head, tail, length, when in rows:
                sig = error_signature(head, tail, length)
                acc = groups.get(sig)
                if acc is None:
                    groups[sig] = [1, when, when, key, key, [key]]
                    continue
                acc[0] += 1
                if when is not None:
                    acc[1] = when if acc[1] is None or when < acc[1] else acc[1]
                    acc[2] = when if acc[2] is None or when > acc[2] else acc[2]
                acc[3] = key
                if acc[5] is not None:
                    if len(acc[5]) < KEYS_CAP:
                        acc[5].append(key)
                    else:
                        acc[5] = None
            rows_read += len(rows)
            if progress is not None:
                progress(rows_read)
            if on_chunk is not None:
                on_chunk(groups, rows_read)
        top = heapq.nsmallest(max_groups, groups.items(), key=lambda kv: (-kv[1][0], kv[0]))
        samples: dict[Any, FailureRow] = {}
        keys = [acc[3] for _, acc in top]
        for i in range(0, len(keys), KEYS_PER_READ):
            samples.update(
                (sqlite_order(r.key), r) for r in read_keys(source, track, keys[i : i + KEYS_PER_READ])
            )
            statements += 1
        total = sum(acc[0] for acc in groups.values())
        report = GroupReport(
            tuple(_group(track, sig, acc, total, samples.get(sqlite_order(acc[3]))) for sig, acc in top),
            total,
            len(groups),
            "full",
            rows_read,
            statements,
            time.perf_counter() - started,
        )
        with self._lock:
            self._groups, self._built, self.report = groups, True, report
        return report

    def items(
        self, db: Any, signature_: str, *, before: RawValue = None, after: RawValue = None, limit: int = 50
    ) -> list[FailureRow]:
        members, _ = self.members(signature_)
        return group_items(
            db, self.track, signature_, before=before, after=after, limit=limit, members=members
        )
