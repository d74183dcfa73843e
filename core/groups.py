"""Failed items grouped by error signature, read in short keyset chunks and cached incrementally.

Grouping a million failed rows must never be one long read (hazards.md rule 4). Every statement reads at
most `chunk` rows in key order and only what the grouping needs (SQLite's statements:
`backends.sqlite.groups`; PostgreSQL's cache: `backends.postgres.failures.PgGroupCache`). Given a
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
from batchtop.core.backends.base import SourceLike
from batchtop.core.backends.sqlite import groups as sqlite_groups
from batchtop.core.backends.sqlite.groups import Acc, earlier
from batchtop.core.failure_pages import failure_page, group_items, search_failures
from batchtop.core.paging import (
    CHUNK,
    KEYS_CAP,
    PAUSE,
    Db,
    Progress,
    Runs,
    runner,
    sqlite_order,
)
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.snapshot import FailureRow, TrackSnapshot
from batchtop.core.timeutil import parse_ts

__all__ = ["CHUNK", "KEYS_CAP", "MAX_GROUPS", "PAUSE", "Db", "ErrorGroup", "GroupCache", "GroupReport", "Progress",
           "Runs", "cache_for", "error_groups", "failure_page", "group_items", "search_failures",
           "unrecorded_message"]

#: Groups returned, largest first (a "N more groups" line covers the rest).
MAX_GROUPS = 500
#: Seconds between provisional reports of a long full pass (see `GroupCache.refresh`).
PARTIAL_EVERY = 0.5

UNRECORDED = "this writer never records failures"



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


# -- grouping ---------------------------------------------------------------------------------------

def _merge(a: Acc, b: Acc) -> Acc:
    """a then b, where every key of b is above every key of a."""
    first = b[1] if a[1] is None or (b[1] is not None and earlier(b[1], a[1])) else a[1]
    last = b[2] if a[2] is None or (b[2] is not None and earlier(a[2], b[2])) else a[2]
    keys = a[5] + b[5] if a[5] is not None and b[5] is not None and len(a[5]) + len(b[5]) <= KEYS_CAP else None
    hist, width = group_rate.merge(a[6], a[7], b[6], b[7])
    return [a[0] + b[0], first, last, b[3], a[4], keys, hist, width]


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
                got, n = sqlite_groups.check(run, track, high, chunk=chunk, pause=pause)
                statements += n
                if got == (count, checksum):
                    how = "delta"
        if how == "full":
            scan = sqlite_groups.scan(run, track, None, chunk=chunk, pause=pause, progress=progress,
                         on_chunk=self._partials(partial, max_groups, started) if partial else None)
            merged, new_high = scan.groups, scan.high
            new_count, new_checksum = scan.rows, scan.checksum
        else:
            scan = sqlite_groups.scan(run, track, high, chunk=chunk, pause=pause, progress=progress)
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
        samples, n = sqlite_groups.samples(run, track, [acc[3] for _, acc in top])
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


def cache_for(source: SourceLike, track: Track) -> GroupCache:
    """The cache of one source and track (a new one when the file or the track definition changed)."""
    identity = getattr(source, "identity", None)
    with _caches_lock:
        per_source = _caches.setdefault(source, {})
        cache = per_source.get(track.name)
        if cache is None or cache.track != track or cache.identity != identity:
            backend = getattr(source, "backend", None)
            kind = GroupCache if backend is None else backend.group_cache_kind()
            cache = per_source[track.name] = kind(track, identity)
        return cache
