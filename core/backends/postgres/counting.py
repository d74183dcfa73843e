"""Exact state counts of a large PostgreSQL table at O(changes) a poll, where the table allows it.

The table is cut into chunks of `CHUNK` primary-key values (`batchtop.core.counting.ChunkedCounts`, the
same per-chunk results as SQLite's: rows per raw value, in-flight rows, metric sums, newest finish time,
start times of running rows). A chunk is recounted with one `GROUP BY` over its key range, in a READ ONLY
transaction of its own (a few milliseconds), and only when it may have changed.

Which chunks may have changed is found without touching the table beyond index probes:

- *inserts*: keys above the highest key seen (`max(pk)`, one index probe; `count(*)` of them);
- *updates that move an indexed change-time column* (the track's started/finished column, or an indexed
  timestamp named like updated/modified/changed): rows whose value is at least the column's previous
  maximum minus `MARGIN`, kept only when their row version is newer than the previous poll's snapshot
  (`xmin` against `pg_current_snapshot()`), so rows already seen are not counted again.

That is a *locator*, not a proof: an update that moves no such column (a status changed alone, a reset
that clears the times), a delete, a row committed with a time older than the margin, all leave no trace
in an index. What proves that nothing else changed is the server's own tally of modified rows,
`pg_stat_get_tuples_inserted + _updated + _deleted` of the table (`M`, cumulative, flushed by each
writing backend after its commits: at most a second late when it goes idle, PostgreSQL 15+). Every row
version located is one modification; a tally that grows past "modifications accounted for" means a change
was not located, and every chunk is recounted (a pass, at a bounded share of a core), the job's frontier
first. The accounting:

- `accounted` (A) starts as M read *before* the first snapshot (every modification it counts committed
  before it, so the first pass reflects them);
- each poll adds the row versions it located (each is a distinct modification committed after the
  previous snapshot);
- when M (read before this poll's snapshot) exceeds A, the surplus is absorbed into A and a pass is
  scheduled: the surplus modifications committed before this snapshot, and the pass reads every chunk
  after it.

So A never counts a modification whose effect is not (or will not be, once the pass ends) in the counts,
and once the writers' statistics are flushed M >= A, with equality only if every modification was located
or recounted. Counts are exact once the job is quiet, its statistics flushed (about a second) and the pass
ended. Not covered, and bounded by a whole recount every `VERIFY_EVERY` seconds while the table changes:
an update of a row's primary key (the old chunk is not located), a counter reset by
`pg_stat_reset_single_table_counters`, and a row frozen 2^32 transactions ago whose 32-bit xmin aliases
into the window. A database-wide statistics reset, a TRUNCATE, VACUUM FULL or CLUSTER (a new relfilenode)
and a decreasing tally start a pass.

Where it does not apply (see `unsupported`): no single-column integer primary key, a view or partitioned
table, `track_counts` off, a server older than 15 (its statistics collector may drop messages: the tally
is not trustworthy), or a key span too sparse to chunk. Without the tally (track_counts off, < 15) the
table is still chunked but every poll that saw a commit starts a pass; without a key it is counted by one
`GROUP BY` as before.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from batchtop.core.backends.postgres import sql as pg
from batchtop.core.backends.postgres.conn import fetch
from batchtop.core.backends.sqlite.counting import ChunkedCounts
from batchtop.core.backends.sqlite.sql import q, raw_expr
from batchtop.core.counting import MAX_VALUES, STARTS_LIMIT
from batchtop.core.errors import TooSparse
from batchtop.core.profiles.model import Track
from batchtop.core.timeutil import parse_ts

#: Key values per chunk: a key-range count of this many rows takes a few milliseconds.
CHUNK = 8192
#: Tables whose key span is below this are counted with one GROUP BY (as fast as one chunk).
CHUNKED_FROM = 64 * 1024
#: Chunks at most (a sparser key span is not chunked).
MAX_CHUNKS = 200_000
#: Seconds before a change-time column's previous maximum still searched for changed rows: a writer's
#: `now()` is its transaction's start, committed later. A row committed later than this is not located
#: (the tally then starts a pass): the margin is a cost, never a correctness, bound. A column holding
#: future values (clock skew, sentinel dates) locates nothing: its changes all go through the tally.
MARGIN = 2.0
#: Located rows per poll at most; beyond, a pass.
LOCATE_CAP = 20_000
#: Seconds between whole recounts while the table changes (what the locators and the tally cannot see).
VERIFY_EVERY = 300.0
INT_TYPES = ("smallint", "integer", "bigint")
TIME_TYPES = ("timestamp without time zone", "timestamp with time zone", "date")
NUM_TYPES = ("smallint", "integer", "bigint", "numeric", "real", "double precision")
CHANGE_WORDS = ("updat", "modif", "chang", "heartbeat", "touch")
XID_SPACE = 1 << 32

INFO_SQL = """
SELECT c.relkind::text, c.relfilenode::bigint,
       (SELECT a.attname FROM pg_index i
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1
          AND format_type(a.atttypid, NULL) IN ('smallint', 'integer', 'bigint')),
       current_setting('server_version_num')::int, current_setting('track_counts'),
       (SELECT oid::bigint FROM pg_database WHERE datname = current_database())
FROM pg_class c WHERE c.oid = %s
"""
#: Columns leading a valid, non-partial btree index (usable for `col >= x`).
INDEXED_SQL = """
SELECT DISTINCT a.attname, format_type(a.atttypid, NULL)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = %s AND am.amname = 'btree' AND i.indpred IS NULL AND i.indisvalid AND i.indkey[0] <> 0
"""


class TableInfo:
    """What the catalog says about a track's table: whether and how it can be counted by chunks."""

    def __init__(self, conn: Any, oid: int, track: Track) -> None:
        rows = fetch(conn, INFO_SQL, (oid,))
        relkind, self.relfilenode, self.pk, version, counts, self.db_oid = rows[0] if rows else ("", 0, None, 0, "", 0)
        self.oid = oid
        self.relkind = str(relkind)
        #: The tally of modified rows can be trusted (shared-memory statistics, counting on).
        self.tally = int(version) >= 150000 and str(counts) == "on" and self.relkind == "r"
        wanted = {c for c in (track.started, track.finished) if c}
        self.locators: list[tuple[str, str]] = []
        for name, kind in fetch(conn, INDEXED_SQL, (oid,)):
            kind = str(kind)
            named = any(w in str(name).lower() for w in CHANGE_WORDS) and kind in TIME_TYPES
            if (name in wanted and kind in TIME_TYPES + NUM_TYPES) or named:
                self.locators.append((str(name), kind))
        self.locators.sort()

    def unsupported(self) -> str | None:
        """Why the table is counted with one GROUP BY instead of by chunks (None: chunks)."""
        if self.relkind != "r":
            return "not a plain table (view, partitioned or foreign): one GROUP BY per read"
        if self.pk is None:
            return "no single-column integer primary key: one GROUP BY per read"
        return None


def parse_snapshot(text: str) -> tuple[int, int, tuple[int, ...]]:
    """`pg_current_snapshot()` text ('xmin:xmax:xip,...') as numbers."""
    xmin, xmax, xip = text.split(":")
    return int(xmin), int(xmax), tuple(int(x) for x in xip.split(",") if x)


def newer_than(snapshot: str, now: str) -> str | None:
    """A condition true for rows whose version is not visible in `snapshot` (committed since it), as
    seen from the later snapshot `now`; None when the 32-bit arithmetic could be ambiguous.

    `xmin` is 32 bits: a visible row's xid lies within 2^31 of `now`'s xmax, so its distance past the
    old snapshot's xmax, modulo 2^32, is below the number of xids assigned in between exactly when it
    was assigned after that snapshot. Frozen rows keep their raw xmin (PostgreSQL >= 9.4); the interval
    test keeps a false match to the width of the interval out of 2^32.
    """
    _, old_xmax, old_xip = parse_snapshot(snapshot)
    _, new_xmax, _ = parse_snapshot(now)
    span = new_xmax - old_xmax
    if span < 0 or span >= XID_SPACE // 2:
        return None
    x = "xmin::text::bigint"
    base = old_xmax % XID_SPACE
    clauses = [f"((({x} - {base}) + {XID_SPACE}) % {XID_SPACE}) < {span}"] if span else []
    if old_xip:
        clauses.append(f"{x} IN ({', '.join(str(v % XID_SPACE) for v in old_xip)})")
    if not clauses:
        return "FALSE"
    return f"({x} >= 3 AND ({' OR '.join(clauses)}))"


def tally_sql(oid: int) -> str:
    """The server's count of rows inserted, updated and deleted in table `oid` (cumulative)."""
    return (
        f"pg_stat_get_tuples_inserted({int(oid)}) + pg_stat_get_tuples_updated({int(oid)}) "
        f"+ pg_stat_get_tuples_deleted({int(oid)})"
    )


class PgChunkedCounts(ChunkedCounts):
    """`ChunkedCounts` over a PostgreSQL table's integer primary key instead of SQLite's rowid."""

    def __init__(self, track: Track, pk: str, chunk: int = CHUNK) -> None:
        super().__init__(track, chunk, rowid_key=(track.key == pk))
        k, t = q(pk), q(track.table)
        finished = q(track.finished) if track.finished else None
        fl = pg.flight(track)
        flight = f"CASE WHEN {fl} THEN 1 ELSE 0 END" if fl else "0"
        sums = f", MAX({finished})" if finished else ", NULL"
        sums += "".join(f", SUM({q(m.column)}), COUNT({q(m.column)})" for m in track.metrics)
        self._sql = (
            f"SELECT {raw_expr(track)}, {flight}, COUNT(*){sums} FROM {t} "
            f"WHERE {k} >= %s AND {k} < %s GROUP BY 1, 2 LIMIT {2 * MAX_VALUES + 1}"
        )
        started = q(track.started) if track.started else None
        self._starts_sql = (
            (
                f"SELECT {started} FROM {t} WHERE {k} >= %s AND {k} < %s AND "
                f"{pg.state_predicate(track, ['running'])} AND {started} IS NOT NULL "
                f"ORDER BY {started} LIMIT {STARTS_LIMIT}"
            )
            if started
            else None
        )
        #: Chunks holding located changes: recounted first, whatever the budget of a pass.
        self.urgent: set[int] = set()
        self.span: tuple[int, int] | None = None

    def set_span(self, span: tuple[int, int] | None) -> None:
        """The table's (min key, max key) now (None: empty): chunks beyond the old end are new."""
        self.span = span
        if span is None:
            self._chunks.clear()
            self._dirty.clear()
            self.urgent.clear()
            self._seen.clear()
            self._high, self._low = -1, 0
            return
        low, high = span[0] // self.chunk, span[1] // self.chunk
        if high > self._high:
            self._dirty.update(range(max(self._high + 1, low), high + 1))
        for gone in [c for c in self._chunks if c < low or c > high]:
            del self._chunks[gone]
        self._seen = {c for c in self._seen if low <= c <= high}
        self._dirty = {c for c in self._dirty if low <= c <= high}
        self.urgent = {c for c in self.urgent if low <= c <= high}
        self._low, self._high = low, high

    def mark_keys(self, keys: Iterable[int]) -> None:
        """These rows changed (located): their chunks are recounted first."""
        size = self.chunk
        found = {int(k) // size for k in keys}
        found = {c for c in found if self._low <= c <= self._high}
        self._dirty |= found
        self.urgent |= found

    def mark_key_range(self, lo: int, hi: int) -> None:
        """Rows with keys in [lo, hi] changed (inserts past the old end)."""
        first, last = max(self._low, lo // self.chunk), min(self._high, hi // self.chunk)
        found = set(range(first, last + 1))
        self._dirty |= found
        self.urgent |= found

    def step(self, conn: Any, budget: float, urgent_budget: float = 1.0) -> bool:
        """Recount the located chunks (up to `urgent_budget` s), then other dirty chunks for about
        `budget` s, each in a short READ ONLY transaction of its own. True when nothing is left dirty."""
        began = time.perf_counter()
        urgent = sorted(self.urgent & self._dirty, reverse=True)
        for index in urgent:
            self._recount(conn, index)
            if self.too_varied or time.perf_counter() - began >= urgent_budget:
                break
        self.urgent &= self._dirty
        if not self.too_varied and not self.urgent:
            deadline = time.perf_counter() + budget
            for index in self._order():
                self._recount(conn, index)
                if self.too_varied or time.perf_counter() >= deadline:
                    break
        if not self._dirty:
            self.complete = True
        return not self._dirty

    def _recount(self, conn: Any, index: int) -> None:
        lo, hi = index * self.chunk, (index + 1) * self.chunk
        if self._starts_sql is None:
            # One statement: its own READ ONLY transaction (the session's characteristics).
            rows = fetch(conn, self._sql, (lo, hi))
            chunk = self._chunk(rows)
        else:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                rows = fetch(conn, self._sql, (lo, hi))
                chunk = self._chunk(rows)
                if chunk is not None and self._running(chunk):
                    track = self.track
                    chunk.starts = tuple(
                        sorted(
                            t
                            for (v,) in fetch(conn, self._starts_sql, (lo, hi))
                            if (t := parse_ts(v, track.tz, track.time_unit)) is not None
                        )
                    )
            finally:
                if not conn.closed:
                    conn.execute("ROLLBACK")
        if chunk is not None:
            self.urgent.discard(index)
        self._store(index, chunk)


def _epoch_scale(track: Track, value: float) -> float:
    """Units per second of an epoch number column (the track's unit; 'auto' by magnitude)."""
    unit = track.time_unit
    if unit == "auto":
        unit = "ns" if value > 1e17 else "us" if value > 1e14 else "ms" if value > 1e11 else "s"
    return {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}.get(unit, 1.0)


class TableTracker:
    """One chunked track: locates what changed since the last poll, keeps the tally, recounts chunks.

    Statistics of the work (for tests and benchmarks): `located` rows found by the locators, `passes`
    whole recounts started (and why, in `last_pass`).
    """

    def __init__(self, track: Track, info: TableInfo, chunk: int = CHUNK) -> None:
        assert info.pk is not None
        self.track = track
        self.info = info
        self.pk = info.pk
        self.counts = PgChunkedCounts(track, info.pk, chunk)
        self._snapshot: str | None = None
        self._high: int | None = None
        self._maxima: dict[str, str | None] = {}
        #: Modifications accounted for (None: not started).
        self.accounted: int | None = None
        self._tally: int | None = None
        self._verified = time.monotonic()
        self.located = 0
        self.passes = 0
        self.last_pass = ""

    @property
    def exact(self) -> bool:
        """No chunk is left to recount and the tally shows nothing unaccounted (as of the last poll)."""
        return not self.counts.dirty and (
            not self.info.tally or (self._tally is not None and self.accounted == self._tally)
        )

    def _pass(self, why: str) -> None:
        self.counts.mark_all()
        self.passes += 1
        self.last_pass = why
        self._verified = time.monotonic()

    def locate(self, conn: Any, snapshot: str, tally: int | None) -> int:
        """In the poll's read transaction (its snapshot is `snapshot`; `tally` was read before it): find
        the changed chunks and settle the accounting. Returns the statements run."""
        track = self.track
        t, k = q(track.table), q(self.pk)
        maxima = "".join(f", max({q(c)})::text" for c, _ in self.info.locators)
        row = fetch(conn, f"SELECT min({k}), max({k}){maxima} FROM {t}")[0]
        queries = 1
        span = (int(row[0]), int(row[1])) if row[0] is not None else None
        if span is not None and (span[1] - span[0]) // self.counts.chunk > MAX_CHUNKS:
            raise TooSparse()
        self.counts.set_span(span)
        maxima_now = {c: (None if v is None else str(v)) for (c, _), v in zip(self.info.locators, row[2:])}
        located: int | None = None
        why = ""
        cond = newer_than(self._snapshot, snapshot) if self._snapshot is not None else None
        if self._snapshot is None:
            why = "first count"
        elif cond is None:
            why = "too many transactions between two polls"
        elif self._high is None or span is None:
            why = "the table was empty or is now"
        else:
            located = 0
            if span[1] > self._high:
                (n,) = fetch(conn, f"SELECT count(*) FROM {t} WHERE {k} > {int(self._high)}")[0]
                queries += 1
                located += int(n)
                self.counts.mark_key_range(self._high + 1, span[1])
            parts = []
            for column, kind in self.info.locators:
                cutoff = self._cutoff(column, kind, self._maxima.get(column))
                if cutoff is not None:
                    parts.append(
                        f"SELECT {k} FROM {t} WHERE {q(column)} >= {cutoff} AND {k} <= {int(self._high)} AND {cond}"
                    )
            if parts:
                keys = fetch(conn, " UNION ".join(parts) + f" LIMIT {LOCATE_CAP + 1}")
                queries += 1
                if len(keys) > LOCATE_CAP:
                    located, why = None, f"over {LOCATE_CAP} rows changed"
                else:
                    located += len(keys)
                    self.counts.mark_keys(int(key) for (key,) in keys)
        self.located += located or 0
        self._settle(tally, located, why)
        self._snapshot, self._maxima = snapshot, maxima_now
        self._high = span[1] if span is not None else None
        return queries

    def _settle(self, tally: int | None, located: int | None, why: str) -> None:
        if not self.info.tally or tally is None:
            self._pass(why or "no trustworthy tally of modified rows: every commit is a pass")
            return
        previous, self._tally = self._tally, tally
        if self.accounted is None or located is None:
            self.accounted = tally
            self._pass(why)
            return
        if previous is not None and tally < previous:
            self.accounted = tally
            self._pass("the statistics were reset")
            return
        self.accounted += located
        if tally > self.accounted:
            self.accounted = tally
            self._pass("a change the indexes cannot locate (status alone, delete, reset, late commit)")
        elif time.monotonic() - self._verified > VERIFY_EVERY:
            self._pass(f"whole recount every {VERIFY_EVERY:.0f} s while the table changes")

    def _cutoff(self, column: str, kind: str, maximum: str | None) -> str | None:
        """A literal `MARGIN` seconds before the column's previous maximum, typed like the column."""
        if maximum is None:
            return None
        if kind in TIME_TYPES:
            cast = "timestamptz" if "with time zone" in kind else "timestamp" if kind.startswith("timestamp") else "date"
            return f"({pg.lit(maximum)}::{cast} - interval '{MARGIN:g} seconds')"
        try:
            value = float(maximum)
        except ValueError:
            return None
        if value != value or abs(value) == float("inf"):
            return None
        return repr(value - MARGIN * _epoch_scale(self.track, value))

    def step(self, conn: Any, budget: float) -> bool:
        return self.counts.step(conn, budget)


def too_sparse(exc: BaseException) -> bool:
    return isinstance(exc, TooSparse)
