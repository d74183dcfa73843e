"""Exact state counts of a large table in short reads: rows per raw value, kept per rowid chunk.

A single `GROUP BY` over a 10M-row table takes seconds inside one read transaction, during which the job's
checkpoints cannot finish and its `-wal` grows. `ChunkedCounts` keeps the count per raw value of every
chunk of `CHUNK` rowids and recounts only the chunks that may have changed, each in a read transaction of
its own (a rowid range: a few milliseconds), so no read of ours is long and a poll after K changed rows
costs O(chunks holding them), not O(table).

Which chunks may have changed:
- rows past the highest rowid seen (inserts): `SELECT max(rowid)`, one index probe;
- rows a WAL commit touched: `core.waltail.WalTail` (live WAL databases);
- otherwise (a rollback-journal database, an unknown WAL backlog): every chunk. The chunks holding
  unfinished rows (the job's frontier, where a batch job's changes are) are recounted first, the rest in
  a rolling order resumed where the last poll stopped, so every chunk is recounted within one pass.

Bound: counts are exact once a pass over the dirty chunks finishes with no commit in between; while the job
commits, a chunk's count is at most one pass old (its duration is shown as the track's "counting" state
until the first pass ends). Within one chunk the count is exact as of its own read.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterable

from batchtop.core.profiles.model import REMAINING, RawValue, Track
from batchtop.core.sql import q, raw_expr

#: Rowids per chunk: a rowid-range count of this many rows takes a few milliseconds.
CHUNK = 8192
#: Tables with fewer rowids than this are counted in one statement (as fast as one chunk).
CHUNKED_FROM = 64 * 1024
#: Distinct raw values kept per chunk at most (a free-text "status" column): beyond it, no chunking.
MAX_VALUES = 200


def rowid_span(conn: sqlite3.Connection, table: str) -> tuple[int, int] | None:
    """(min rowid, max rowid) of a rowid table (two index probes); None for WITHOUT ROWID or empty."""
    try:
        row = conn.execute(f"SELECT min(rowid), max(rowid) FROM {q(table)}").fetchone()
    except sqlite3.OperationalError:  # WITHOUT ROWID: "no such column: rowid"
        return None
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


class ChunkedCounts:
    """Rows per raw value of one track's table, by rowid chunk. One thread at a time (the source's)."""

    def __init__(self, track: Track, chunk: int = CHUNK) -> None:
        self.track = track
        self.chunk = chunk
        self._sql = (f"SELECT {raw_expr(track)}, COUNT(*) FROM {q(track.table)} "
                     f"WHERE rowid >= ? AND rowid < ? GROUP BY 1 LIMIT {MAX_VALUES + 1}")
        self._counts: dict[int, Counter[RawValue]] = {}
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
            self._counts.clear()
            self._dirty.clear()
            self._high, self.complete = -1, True
            return True
        low, high = span[0] // self.chunk, span[1] // self.chunk
        if high > self._high:
            self._dirty.update(range(max(self._high + 1, low), high + 1))
        for gone in [c for c in self._counts if c < low or c > high]:
            del self._counts[gone]  # deleted ranges at either end
        self._seen = {c for c in self._seen if low <= c <= high}
        self._dirty = {c for c in self._dirty if low <= c <= high}
        self._low, self._high = low, high
        deadline = time.perf_counter() + budget
        for index in self._order():
            self._recount(conn, index)
            if self.too_varied or time.perf_counter() >= deadline:
                break
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
        counts = self._counts.get(index)
        if counts is None:
            return index not in self._seen
        states, default = self.track.states, self.track.default_state
        return any(states.get(v, default) in REMAINING for v in counts)

    def _recount(self, conn: sqlite3.Connection, index: int) -> None:
        lo = index * self.chunk
        conn.execute("BEGIN")
        try:
            rows = conn.execute(self._sql, (lo, lo + self.chunk)).fetchall()
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        if len(rows) > MAX_VALUES:
            self.too_varied = True
            return
        self.reads += 1
        self._seen.add(index)
        self._dirty.discard(index)
        self._cursor = index + 1
        if rows:
            self._counts[index] = Counter({v: int(n) for v, n in rows})
        else:
            self._counts.pop(index, None)

    def rows(self) -> list[tuple[RawValue, int]]:
        """Rows per raw value over every chunk counted (the shape of `counts_sql`'s result)."""
        total: Counter[RawValue] = Counter()
        for counts in self._counts.values():
            total.update(counts)
        return [(v, n) for v, n in total.items() if n]

    @property
    def progress(self) -> float:
        """Share of the chunks counted at least once (1.0 after the first pass)."""
        if self.complete or not self.chunks:
            return 1.0
        return min(1.0, len(self._seen) / self.chunks)
