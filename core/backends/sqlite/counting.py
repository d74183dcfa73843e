"""SQLite's exact state counts of a large table in short reads: rows per raw value, kept per rowid chunk.

A single `GROUP BY` over a 10M-row table takes seconds inside one read transaction, during which the job's
checkpoints cannot finish and its `-wal` grows. `ChunkedCounts` keeps the count per raw value of every
chunk of `CHUNK` rowids and recounts only the chunks that may have changed, each in a read transaction of
its own (a rowid range: a few milliseconds), so no read of ours is long and a poll after K changed rows
costs O(chunks holding them), not O(table).

Which chunks may have changed:
- rows past the highest rowid seen (inserts): `SELECT max(rowid)`, one index probe;
- rows a WAL commit touched: `backends.sqlite.waltail.WalTail` (live WAL databases);
- otherwise (a rollback-journal database, an unknown WAL backlog): every chunk. The chunks holding
  unfinished rows (the job's frontier, where a batch job's changes are) are recounted first, the rest in
  a rolling order resumed where the last poll stopped, so every chunk is recounted within one pass.

Bound: counts are exact once a pass over the dirty chunks finishes with no commit in between; while the job
commits, a chunk's count is at most one pass old (its duration is shown as the track's "counting" state
until the first pass ends). Within one chunk the count is exact as of its own read.

The chunk read also gives what used to need whole-table scans inside the snapshot's transaction: the
in-flight split of pending rows, the metric totals (sum and count of each metric column) and the start
times of in-flight rows (their own query, in the chunk's transaction, only for chunks that hold any).
The snapshot then reads only index probes and short pages.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from batchtop.core.backends.sqlite.sql import col, q, raw_expr, state_predicate
from batchtop.core.counting import CHUNK, GAP_MIN, GAP_RATIO, MAX_VALUES, STARTS_LIMIT, Counted
from batchtop.core.profiles.model import REMAINING, SETTLED, RawValue, State, Track
from batchtop.core.timeutil import parse_ts


def rowid_span(conn: sqlite3.Connection, table: str) -> tuple[int, int] | None:
    """(min rowid, max rowid) of a rowid table (two index probes); None for WITHOUT ROWID or empty."""
    t = q(table)
    try:
        # Two subqueries: SQLite answers a lone min() or max() from the b-tree's edge, but
        # `SELECT min(rowid), max(rowid)` in one select scans the whole table (73 ms at 1M rows).
        row = conn.execute(f"SELECT (SELECT min(rowid) FROM {t}), (SELECT max(rowid) FROM {t})").fetchone()
    except sqlite3.OperationalError:  # WITHOUT ROWID: "no such column: rowid"
        return None
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


@dataclass
class _Chunk:
    """What one read of one rowid chunk found."""

    counts: Counter[RawValue]
    #: Rows per raw value whose in-flight condition holds (only pending values use it).
    flying: Counter[RawValue]
    #: Per metric column: (sum, non-NULL values).
    sums: tuple[tuple[float, int], ...]
    #: Newest finish time (epoch) of its rows.
    last: float | None = None
    #: Start times (epoch) of its running rows, oldest first, at most STARTS_LIMIT.
    starts: tuple[float, ...] = ()


def _data_version(conn: sqlite3.Connection) -> int:
    """SQLite's change counter of other connections' commits (no read transaction is left open)."""
    cur = conn.execute("PRAGMA data_version")
    try:
        return int(cur.fetchone()[0])
    finally:
        cur.close()


class ChunkedCounts:
    """Rows per raw value of one track's table, by rowid chunk. One thread at a time (the source's)."""

    def __init__(self, track: Track, chunk: int = CHUNK, *, rowid_key: bool = False) -> None:
        """`rowid_key`: the track's key is the rowid (or its alias), so "newest failures" is a rowid range."""
        self.track = track
        self.chunk = chunk
        self.rowid_key = rowid_key
        finished = col(track, track.finished)
        self._finished = finished is not None
        flight = f"CASE WHEN COALESCE(({track.in_flight}), 0) THEN 1 ELSE 0 END" if track.in_flight else "0"
        sums = f", MAX({finished})" if finished else ", NULL"
        sums += "".join(f", SUM({q(m.column)}), COUNT({q(m.column)})" for m in track.metrics)
        self._sql = (f"SELECT {raw_expr(track)}, {flight}, COUNT(*){sums} FROM {q(track.table)} "
                     f"WHERE rowid >= ? AND rowid < ? GROUP BY 1, 2 LIMIT {2 * MAX_VALUES + 1}")
        started = col(track, track.started)
        self._starts_sql = (
            f"SELECT {started} FROM {q(track.table)} WHERE rowid >= ? AND rowid < ? AND "
            f"{state_predicate(track, ['running'])} AND {started} IS NOT NULL "
            f"ORDER BY {started} LIMIT {STARTS_LIMIT}"
        ) if started else None
        self._chunks: dict[int, _Chunk] = {}
        self._dirty: set[int] = set()
        self._high = -1  # highest chunk index known
        self._low = 0
        self._cursor = 0  # the rolling order resumes here
        self._seen: set[int] = set()  # chunks counted at least once
        #: Chunks counted so far, and whether every chunk has been counted at least once.
        self.reads = 0
        self.complete = False
        self.too_varied = False

    # -- what may have changed ----------------------------------------------------------------------

    def mark_all(self) -> None:
        """Every chunk may have changed (no better hint)."""
        self._dirty.update(range(self._low, self._high + 1))

    def mark_rowids(self, rowids: Iterable[int]) -> None:
        """These rows may have changed (from the WAL)."""
        size = self.chunk
        self._dirty.update(r // size for r in rowids if self._low <= r // size <= self._high)

    def mark_ranges(self, ranges: Iterable[tuple[int | None, int | None]]) -> None:
        """Rows in these rowid ranges (inclusive; None: open) may have moved or gone (from the WAL)."""
        size = self.chunk
        for lo, hi in ranges:
            first = self._low if lo is None else max(self._low, lo // size)
            last = self._high if hi is None else min(self._high, hi // size)
            self._dirty.update(range(first, last + 1))

    @property
    def dirty(self) -> int:
        return len(self._dirty)

    @property
    def chunks(self) -> int:
        return self._high - self._low + 1 if self._high >= self._low else 0

    # -- counting -----------------------------------------------------------------------------------

    def step(self, conn: sqlite3.Connection, budget: float) -> bool:
        """Recount dirty chunks, each in its own read transaction, for about `budget` seconds.

        Returns True when nothing is left dirty (the counts are exact as of their reads).
        """
        span = rowid_span(conn, self.track.table)
        if span is None:
            self._chunks.clear()
            self._dirty.clear()
            self._high, self.complete = -1, True
            return True
        low, high = span[0] // self.chunk, span[1] // self.chunk
        if high > self._high:
            self._dirty.update(range(max(self._high + 1, low), high + 1))
        for gone in [c for c in self._chunks if c < low or c > high]:
            del self._chunks[gone]  # deleted ranges at either end
        self._seen = {c for c in self._seen if low <= c <= high}
        self._dirty = {c for c in self._dirty if low <= c <= high}
        self._low, self._high = low, high
        deadline = time.perf_counter() + budget
        version = _data_version(conn)
        for index in self._order():
            began = time.perf_counter()
            self._recount(conn, index)
            if self.too_varied or time.perf_counter() >= deadline:
                break
            # While the job commits, a gap as long as the read: back-to-back reads, each short, still
            # left a busy WAL job no moment without a reader, so it could not restart its WAL (x8 in 8 s
            # at 28k commits/s). A quiet database needs none (a first pass runs at full speed).
            seen, version = version, _data_version(conn)
            if version != seen:
                time.sleep(max(GAP_MIN, GAP_RATIO * (time.perf_counter() - began)))
        if not self._dirty:
            self.complete = True
        return not self._dirty

    def _order(self) -> list[int]:
        """Dirty chunks: the frontier (chunks with unfinished rows, and the newest) first, then the
        rest in rolling order from the cursor."""
        front = sorted((c for c in self._dirty if c == self._high or self._has_unfinished(c)), reverse=True)
        chosen = set(front)
        rest = sorted(c for c in self._dirty if c not in chosen)
        cut = next((i for i, c in enumerate(rest) if c >= self._cursor), 0)
        return front + rest[cut:] + rest[:cut]

    def _has_unfinished(self, index: int) -> bool:
        chunk = self._chunks.get(index)
        if chunk is None:
            return index not in self._seen
        states, default = self.track.states, self.track.default_state
        return any(states.get(v, default) in REMAINING for v in chunk.counts)

    def _recount(self, conn: sqlite3.Connection, index: int) -> None:
        lo, hi = index * self.chunk, (index + 1) * self.chunk
        # Most chunks hold no running row: their count is one statement, its own read transaction, with
        # no BEGIN and ROLLBACK around it (each a trip through Python that, with the UI thread and the job
        # on a 2-core machine, could keep the transaction open for milliseconds while it waited for the
        # GIL or a CPU). A chunk with running rows is read again with its start times, in one transaction.
        chunk = self._chunk(conn.execute(self._sql, (lo, hi)).fetchall())
        if chunk is not None and self._starts_sql and self._running(chunk):
            conn.execute("BEGIN")
            try:
                chunk = self._chunk(conn.execute(self._sql, (lo, hi)).fetchall())
                if chunk is not None and self._running(chunk):
                    track = self.track
                    chunk.starts = tuple(sorted(
                        t for (v,) in conn.execute(self._starts_sql, (lo, hi)).fetchall()
                        if (t := parse_ts(v, track.tz, track.time_unit)) is not None))
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        self._store(index, chunk)

    def _store(self, index: int, chunk: _Chunk | None) -> None:
        """Keep what one chunk read found (None: too many raw values to count per chunk)."""
        if chunk is None:
            self.too_varied = True
            return
        self.reads += 1
        self._seen.add(index)
        self._dirty.discard(index)
        self._cursor = index + 1
        if chunk.counts:
            self._chunks[index] = chunk
        else:
            self._chunks.pop(index, None)

    def _chunk(self, rows: list[tuple]) -> _Chunk | None:
        """One chunk's read as counts, in-flight counts and metric sums (None: too many values)."""
        track = self.track
        counts: Counter[RawValue] = Counter()
        flying: Counter[RawValue] = Counter()
        width = len(track.metrics)
        sums = [[0.0, 0] for _ in range(width)]
        last: float | None = None
        for row in rows:
            value, flag, n = row[0], row[1], int(row[2])
            counts[value] += n
            if flag:
                flying[value] += n
            if row[3] is not None and (t := parse_ts(row[3], track.tz, track.time_unit)) is not None:
                last = t if last is None else max(last, t)
            for i in range(width):
                total, present = row[4 + 2 * i], int(row[5 + 2 * i] or 0)
                if isinstance(total, int | float):
                    sums[i][0] += total
                sums[i][1] += present
        if len(counts) > MAX_VALUES:
            return None
        return _Chunk(counts, flying, tuple((float(s), int(c)) for s, c in sums), last)

    def _running(self, chunk: _Chunk) -> bool:
        states, default = self.track.states, self.track.default_state
        return any(
            (state := states.get(v, default)) == State.RUNNING or (state == State.PENDING and chunk.flying.get(v))
            for v in chunk.counts
        )

    def rows(self) -> list[tuple[RawValue, int]]:
        """Rows per raw value over every chunk counted (the shape of `counts_sql`'s result)."""
        total: Counter[RawValue] = Counter()
        for chunk in self._chunks.values():
            total.update(chunk.counts)
        return [(v, n) for v, n in total.items() if n]

    def counted(self, failures: int = 20) -> Counted:
        """Every total of the chunks counted so far (`failures`: how many newest failures are read)."""
        flying: Counter[RawValue] = Counter()
        width = len(self.track.metrics)
        sums = [0.0] * width
        present = [0] * width
        starts: list[float] = []
        for chunk in self._chunks.values():
            flying.update(chunk.flying)
            for i, (s, c) in enumerate(chunk.sums):
                sums[i] += s
                present[i] += c
            starts.extend(chunk.starts)
        lasts = [c.last for c in self._chunks.values() if c.last is not None]
        return Counted(
            self.rows(), self.progress, dict(flying),
            tuple((sums[i] if present[i] else None, present[i]) for i in range(width)),
            tuple(sorted(starts)[:STARTS_LIMIT]) if self._starts_sql else None,
            # During the first pass: the newest of the chunks counted so far (the frontier comes first).
            max(lasts) if lasts and self._finished else None,
            self._newest(("failed",), failures) if self.rowid_key else None,
            self._newest(SETTLED, 200) if self.rowid_key else None,
            self._newest(SETTLED, 5000) if self.rowid_key else None,
        )

    def _newest(self, wanted_states: tuple[str, ...], wanted: int) -> tuple[int, int] | None:
        """Rowids [from, to) of the fewest newest chunks holding `wanted` rows in `wanted_states` (or all
        of them): a newest-first read bounded to it skips the rest (e.g. millions of pending rows)."""
        states, default = self.track.states, self.track.default_state
        seen, low, high = 0, None, None
        for index in range(self._high, self._low - 1, -1):
            if index not in self._seen:
                return None  # not counted yet (a first pass): where they are is unknown
            chunk = self._chunks.get(index)
            if chunk is None:
                continue
            n = sum(c for v, c in chunk.counts.items() if states.get(v, default) in wanted_states)
            if n:
                seen += n
                low = index * self.chunk
                high = (index + 1) * self.chunk if high is None else high
                if seen >= wanted:
                    break
        return (low, high) if low is not None and high is not None else None

    @property
    def progress(self) -> float:
        """Share of the chunks counted at least once (1.0 after the first pass)."""
        if self.complete or not self.chunks:
            return 1.0
        return min(1.0, len(self._seen) / self.chunks)
