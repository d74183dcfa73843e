"""Failed items grouped by error signature, read in short keyset chunks and cached incrementally.

Grouping a million failed rows must never be one long read (hazards.md rule 4). Every statement reads at
most `chunk` rows in key order (`WHERE <failed> AND key > ? ORDER BY key LIMIT chunk`) and only what the
grouping needs: the key, the first `LIST_CHARS` characters of the error and a timestamp. Given a
`Source`, each chunk runs through `Source.run`, so the source lock (and its connection) is free between
chunks, and a short pause lets a rollback-journal writer take its lock.

Signatures are computed in Python: measured on 1M failed rows, `GROUP BY bt_signature(...)` in SQL and a
plain Python loop cost the same (the regexes dominate), but in Python a memo can skip them
(`signature.cached_signature`).

The pages of a group (and the other failure pages) are in `failure_pages`; they are re-exported here.
"""

from __future__ import annotations

import heapq
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from batchtop.core import group_rate
from batchtop.core.failure_pages import (
    CHUNK,
    PAUSE,
    Db,
    Runs,
    failure_page,
    group_items,
    runner,
    search_failures,
    sqlite_order,
)
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.signature import cached_signature
from batchtop.core.snapshot import FailureRow, TrackSnapshot, fetch, read_failures
from batchtop.core.sql import error_expr, key_expr, q, signature_arg, state_predicate, when_expr
from batchtop.core.timeutil import parse_ts

__all__ = ["CHUNK", "KEYS_CAP", "MAX_GROUPS", "PAUSE", "Db", "ErrorGroup", "GroupCache", "GroupReport", "Progress",
           "Runs", "cache_for", "error_groups", "failure_page", "group_items", "search_failures",
           "unrecorded_message"]

#: Member keys kept per group: groups up to this size page exactly by key, bigger ones by bounded scans.
KEYS_CAP = 2_000
#: Groups returned, largest first (a "N more groups" line covers the rest).
MAX_GROUPS = 500
#: Seconds between provisional reports of a long full pass (see `GroupCache.refresh`).
PARTIAL_EVERY = 0.5
#: Keys fetched per `read_failures(keys=...)` statement.
KEYS_PER_READ = 500

UNRECORDED = "this writer never records failures"

#: `progress(rows_read)`; it may raise to abandon the pass (the cache is left as it was).
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ErrorGroup:
    """Failed items sharing one error signature."""

    signature: str
    count: int
    #: count / all failed items grouped (0..1).
    share: float
    #: Earliest and latest time of the track's timestamp (finished, else started, else created).
    first_seen: float | None
    last_seen: float | None
    #: The newest member (highest key) and its label and error preview (sanitised, one line).
    sample_key: RawValue
    sample_label: str
    sample_error: str
    #: Failures over time: (bucket start in epoch seconds, count), oldest first, at most
    #: `group_rate.MAX_BUCKETS` of them, each `bucket_seconds` wide (empty without timestamps).
    buckets: tuple[tuple[float, int], ...] = ()
    bucket_seconds: float = 60.0


@dataclass(frozen=True)
class GroupReport:
    """The groups of one track and what computing them cost."""

    groups: tuple[ErrorGroup, ...]
    #: Failed items grouped (the sum of all counts, including groups beyond `groups`).
    failed: int
    #: Number of distinct signatures (may exceed len(groups): see MAX_GROUPS).
    distinct: int
    #: "full" (every failed row read), "delta" (only rows above the high-water mark), "unchanged", or
    #: "partial" (a provisional report during a full pass: the rows read so far, no samples).
    how: str
    rows_read: int
    statements: int
    elapsed: float
    #: Why there is nothing to group (the writer never records failures), else None.
    reason: str | None = None


def unrecorded_message(track: Track, snap: TrackSnapshot | None = None) -> str | None:
    """The explanation shown instead of failures for writers that never record them, else None."""
    if track.failures_recorded:
        return None
    if snap is None:
        return f"{UNRECORDED}: a failed item stays pending"
    if snap.attempted_earlier:
        return (f"{UNRECORDED}; {snap.attempted_earlier:,} items are pending "
                "(attempted in an earlier session)")
    return f"{UNRECORDED}; {snap.counts.get('pending', 0):,} items are pending"


# -- SQL and timestamps -----------------------------------------------------------------------------

def _checksum(track: Track) -> str:
    """Per-row number summed to notice members that changed (keys and error lengths)."""
    k, err = key_expr(track), error_expr(track)
    return (f"(CASE typeof({k}) WHEN 'integer' THEN {k} WHEN 'real' THEN {k} "
            f"ELSE length(CAST({k} AS BLOB)) END + ifnull(length({err}), 0))")


def _earlier(a: Any, b: Any) -> bool:
    """a < b for timestamps as stored (same-typed values compare directly; else parsed)."""
    try:
        return a < b
    except TypeError:
        return (parse_ts(a) or 0.0) < (parse_ts(b) or 0.0)


# -- grouping ---------------------------------------------------------------------------------------

#: Accumulator of one group: [count, first_when, last_when, max_key, min_key, member keys or None,
#: failures per epoch minute bucket (`group_rate`), bucket width in minutes].
Acc = list


def _merge(a: Acc, b: Acc) -> Acc:
    """a then b, where every key of b is above every key of a."""
    first = b[1] if a[1] is None or (b[1] is not None and _earlier(b[1], a[1])) else a[1]
    last = b[2] if a[2] is None or (b[2] is not None and _earlier(a[2], b[2])) else a[2]
    keys = a[5] + b[5] if a[5] is not None and b[5] is not None and len(a[5]) + len(b[5]) <= KEYS_CAP else None
    hist, width = group_rate.merge(a[6], a[7], b[6], b[7])
    return [a[0] + b[0], first, last, b[3], a[4], keys, hist, width]


@dataclass
class _Pass:
    groups: dict[str, Acc]
    rows: int = 0
    statements: int = 0
    checksum: float = 0.0
    high: Any = None


def _scan(run: Callable, track: Track, after: Any, *, chunk: int, pause: float,
          progress: Progress | None, start: int = 0,
          on_chunk: Callable[[dict[str, Acc], int], None] | None = None) -> _Pass:
    """Group the failed rows with key > `after` (all of them when `after` is None), chunk by chunk."""
    k = key_expr(track)
    when = when_expr(track)
    base = (f"SELECT {k}, {signature_arg(error_expr(track))}, {when}, {_checksum(track)}, "
            f"{group_rate.minute_sql(when, track.time_unit)} "
            f"FROM {q(track.table)} WHERE {state_predicate(track, ['failed'])}")
    tail = f" ORDER BY {k} LIMIT {int(chunk)}"
    out = _Pass({}, high=after)
    groups = out.groups
    params: tuple[Any, ...]
    while True:
        if out.high is None:
            sql, params = base + tail, ()
        else:
            sql, params = base + f" AND {k} > ?" + tail, (out.high,)
        rows = run(lambda conn, s=sql, p=params: fetch(conn, s, p))
        out.statements += 1
        checksum = 0.0
        for key, err, when, ck, minute in rows:
            sig = cached_signature(err)
            acc = groups.get(sig)
            if acc is None:
                groups[sig] = [1, when, when, key, key, [key], {} if minute is None else {minute: 1}, 1]
            else:
                acc[0] += 1
                if minute is not None:
                    hist, width = acc[6], acc[7]
                    b = minute - minute % width
                    hist[b] = hist.get(b, 0) + 1
                if when is not None:
                    if acc[1] is None or _earlier(when, acc[1]):
                        acc[1] = when
                    if acc[2] is None or _earlier(acc[2], when):
                        acc[2] = when
                acc[3] = key
                members = acc[5]
                if members is not None:
                    if len(members) < KEYS_CAP:
                        members.append(key)
                    else:
                        acc[5] = None
            if ck is not None:
                checksum += ck
        for acc in groups.values():  # bounded: a group's buckets widen rather than grow past the cap
            if len(acc[6]) > group_rate.MAX_BUCKETS:
                acc[6], acc[7] = group_rate.coarsen(acc[6], acc[7])
        out.rows += len(rows)
        out.checksum += checksum
        if rows:
            out.high = rows[-1][0]
        if progress is not None:
            progress(start + out.rows)
        if on_chunk is not None:
            on_chunk(groups, out.rows)
        # A NULL last key cannot continue a keyset (rows with NULL keys come first and are few).
        if len(rows) < chunk or out.high is None:
            return out
        if pause > 0:
            time.sleep(pause)


class GroupCache:
    """The error groups of one track, refreshed incrementally.

    `refresh` checks the failed rows at or below the high-water mark with one aggregate (count and a
    checksum of keys and error lengths). Unchanged: only rows above the mark are read and merged in.
    Changed (rows were reset, re-failed or removed below the mark): everything is read again.
    A pass abandoned by an exception leaves the cache as it was.
    """

    def __init__(self, track: Track, identity: tuple[int, int] | None = None) -> None:
        self.track = track
        #: The file identity the cache was built for (a replaced file starts over).
        self.identity = identity
        self._lock = threading.Lock()
        self._groups: dict[str, Acc] = {}
        self._built = False
        self._high: Any = None
        self._count = 0
        self._checksum = 0.0
        #: The source's change-log position the cache is up to date with (`core.changelog`).
        self._seq: int | None = None
        self.report: GroupReport | None = None

    def refresh(self, db: Db, *, chunk: int = CHUNK, pause: float = PAUSE, progress: Progress | None = None,
                max_groups: int = MAX_GROUPS, partial: Callable[[GroupReport], None] | None = None) -> GroupReport:
        """Bring the groups up to date and return them (largest first).

        `partial` receives provisional reports (`how == "partial"`: the groups of the rows read so far,
        without samples) during a full pass: after its first chunk, then every `PARTIAL_EVERY` seconds,
        so a screen shows the top causes of a million failures long before the pass ends.
        """
        started = time.perf_counter()
        track = self.track
        if not track.failures_recorded:
            self.report = GroupReport((), 0, 0, "unchanged", 0, 0, 0.0, unrecorded_message(track))
            return self.report
        run = runner(db)
        statements = 0
        how = "full"
        # The source's log of changed rows, read before anything else: changes after it are seen next time.
        changes, lowest = getattr(db, "changes", None), getattr(db, "lowest_change_since", None)
        seq: int | None = changes.seq if changes is not None and lowest is not None else None
        with self._lock:  # one consistent base (dicts are replaced, never changed in place)
            built, base, high, count, checksum = self._built, self._groups, self._high, self._count, self._checksum
            seen = self._seq
        if built:
            if (lowest is not None and seen is not None and isinstance(high, int)
                    and lowest(track, seen) > high):
                how = "delta"  # the WAL says every commit since the last check touched rows above the mark
            else:
                got, n = self._check(run, high, chunk=chunk, pause=pause)
                statements += n
                if got == (count, checksum):
                    how = "delta"
        if how == "full":
            scan = _scan(run, track, None, chunk=chunk, pause=pause, progress=progress,
                         on_chunk=self._partials(partial, max_groups, started) if partial else None)
            merged, new_high = scan.groups, scan.high
            new_count, new_checksum = scan.rows, scan.checksum
        else:
            scan = _scan(run, track, high, chunk=chunk, pause=pause, progress=progress)
            if scan.rows == 0 and self.report is not None:
                statements += scan.statements
                self.report = _restamp(self.report, "unchanged", 0, statements, started)
                with self._lock:
                    self._seq = seq
                return self.report
            merged = dict(base)
            for sig, acc in scan.groups.items():
                old = merged.get(sig)
                merged[sig] = acc if old is None else _merge(old, acc)
            new_high = scan.high if scan.high is not None else high
            new_count, new_checksum = count + scan.rows, checksum + scan.checksum
        statements += scan.statements
        top = heapq.nsmallest(max_groups, merged.items(), key=lambda kv: (-kv[1][0], kv[0]))
        samples, n = _samples(run, track, [acc[3] for _, acc in top])
        statements += n
        total = sum(acc[0] for acc in merged.values())
        groups = tuple(_group(track, sig, acc, total, samples.get(sqlite_order(acc[3]))) for sig, acc in top)
        report = GroupReport(groups, total, len(merged), how, scan.rows, statements,
                             time.perf_counter() - started)
        with self._lock:
            self._groups, self._high, self._count, self._checksum = merged, new_high, new_count, new_checksum
            self._built, self._seq = True, seq
            self.report = report
        return report

    def _partials(self, partial: Callable[[GroupReport], None], max_groups: int,
                  started: float) -> Callable[[dict[str, Acc], int], None]:
        """The per-chunk callback of a full pass that hands `partial` a provisional report when due."""
        track, due = self.track, [0.0]

        def on_chunk(groups: dict[str, Acc], rows: int) -> None:
            now = time.perf_counter()
            if now < due[0]:
                return
            due[0] = now + PARTIAL_EVERY
            top = heapq.nsmallest(max_groups, groups.items(), key=lambda kv: (-kv[1][0], kv[0]))
            total = sum(acc[0] for acc in groups.values())
            partial(GroupReport(tuple(_group(track, sig, acc, total, None) for sig, acc in top), total,
                                len(groups), "partial", rows, 0, now - started))

        return on_chunk

    def _check(self, run: Callable, high: Any, *, chunk: int, pause: float) -> tuple[tuple[int, float], int]:
        """Count and checksum of the failed rows at or below `high` (and of NULL keys), and the statements
        run. Read in key order, `chunk` rows a statement, each its own short read: one aggregate over
        every failed row held a read beside a busy job for 50-350 ms (its WAL could not be checkpointed)."""
        track = self.track
        k, t, failed = key_expr(track), q(track.table), state_predicate(track, ["failed"])
        rows = run(lambda conn: fetch(conn, f"SELECT COUNT(*), TOTAL({_checksum(track)}) FROM {t} "
                                            f"WHERE {failed} AND {k} IS NULL"))
        count, total, statements = int(rows[0][0]), float(rows[0][1]), 1
        after: Any = None
        while high is not None:
            inner = (f"SELECT {k} AS k_, {_checksum(track)} AS c_ FROM {t} WHERE {failed} AND {k} <= ?"
                     + ("" if after is None else f" AND {k} > ?") + f" ORDER BY {k} LIMIT {int(chunk)}")
            params = (high,) if after is None else (high, after)
            rows = run(lambda conn, s=inner, p=params: fetch(
                conn, f"SELECT COUNT(*), TOTAL(c_), MAX(k_) FROM ({s})", p))
            statements += 1
            n = int(rows[0][0])
            count, total, after = count + n, total + float(rows[0][1]), rows[0][2]
            if n < chunk:
                break
            if pause > 0:
                time.sleep(pause)
        return (count, total), statements

    def members(self, signature_: str) -> tuple[Sequence[RawValue] | None, tuple[RawValue, RawValue] | None]:
        """Member keys of a group (None when it is too big to keep them) and its key range."""
        with self._lock:
            acc = self._groups.get(signature_)
        if acc is None:
            return None, None
        return acc[5], (acc[4], acc[3])

    def items(self, db: Db, signature_: str, *, before: RawValue = None, after: RawValue = None,
              limit: int = 50) -> list[FailureRow]:
        """A page of one group's items (newest first), using the member keys or key range it knows."""
        members, bounds = self.members(signature_)
        return group_items(db, self.track, signature_, before=before, after=after, limit=limit,
                           members=members, bounds=bounds)


def _restamp(report: GroupReport, how: str, rows: int, statements: int, started: float) -> GroupReport:
    return GroupReport(report.groups, report.failed, report.distinct, how, rows, statements,
                       time.perf_counter() - started, report.reason)


def _samples(run: Callable, track: Track, keys: list[RawValue]) -> tuple[dict[Any, FailureRow], int]:
    """The sample rows of the groups shown, by `sqlite_order(key)`."""
    out: dict[Any, FailureRow] = {}
    n = 0
    for i in range(0, len(keys), KEYS_PER_READ):
        part = keys[i:i + KEYS_PER_READ]
        rows = run(lambda conn, p=part: read_failures(conn, track, limit=len(p), keys=p))
        n += 1
        out.update((sqlite_order(r.key), r) for r in rows)
    return out, n


def _group(track: Track, sig: str, acc: Acc, total: int, sample: FailureRow | None) -> ErrorGroup:
    if len(acc) > 7:  # (a backend that keeps no histogram passes the first six only)
        local_text = track.tz != "utc" and isinstance(acc[2], str)
        rate: dict[str, Any] = {"buckets": group_rate.buckets(acc[6], acc[7], local_text=local_text),
                                "bucket_seconds": float(acc[7] * group_rate.MINUTE)}
    else:
        rate = {}
    return ErrorGroup(
        signature=sig, count=acc[0], share=acc[0] / total if total else 0.0,
        first_seen=parse_ts(acc[1], track.tz, track.time_unit), last_seen=parse_ts(acc[2], track.tz, track.time_unit),
        sample_key=acc[3],
        sample_label=sample.label if sample else "", sample_error=sample.error if sample else sig, **rate,
    )


def error_groups(db: Db, track: Track, *, chunk: int = CHUNK, progress: Progress | None = None,
                 pause: float = PAUSE, max_groups: int = MAX_GROUPS) -> list[ErrorGroup]:
    """Failed items of `track` grouped by error signature, largest group first.

    Args:
        db: A connection, or a `Source` (its lock is then released between chunks).
        chunk: Rows per statement.
        progress: Called with the rows read so far after each chunk; may raise to abandon.
        pause: Seconds slept between chunks.
        max_groups: Groups returned at most.
    """
    return list(GroupCache(track).refresh(db, chunk=chunk, progress=progress, pause=pause,
                                          max_groups=max_groups).groups)


_caches: weakref.WeakKeyDictionary[Any, dict[str, GroupCache]] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(source: Any, track: Track) -> GroupCache:
    """The cache of one source and track (a new one when the file or the track definition changed)."""
    identity = getattr(source, "identity", None)
    with _caches_lock:
        per_source = _caches.setdefault(source, {})
        cache = per_source.get(track.name)
        if cache is None or cache.track != track or cache.identity != identity:
            kind = GroupCache
            if getattr(source, "kind", "sqlite") == "postgresql":
                from batchtop.core.backends.postgres.failures import PgGroupCache as kind
            cache = per_source[track.name] = kind(track, identity)
        return cache
