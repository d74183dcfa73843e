"""Chunked counts: the totals a chunked count of a large table gives a snapshot read (`Counted`), and the
tuning both backends' chunked counters share.

A single `GROUP BY` over a 10M-row table takes seconds inside one read transaction; the backends count a
large table chunk by chunk instead, each chunk in a short read transaction of its own, and recount only
the chunks that may have changed (SQLite: `backends.sqlite.counting.ChunkedCounts`, by rowid;
PostgreSQL: `backends.postgres.counting`, by integer primary key).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from batchtop.core.profiles.model import RawValue

#: Rowids per chunk: a rowid-range count of this many rows takes ~1 ms (0.55 µs a row at 1M rows; 8,192
#: took 5 ms, long enough for a job committing 30k times a second to grow its WAL past a restart).
CHUNK = 2048
#: Tables with fewer rowids than this are counted in one statement (as fast as one chunk).
CHUNKED_FROM = 64 * 1024
#: Distinct raw values kept per chunk at most (a free-text "status" column): beyond it, no chunking.
MAX_VALUES = 200
#: Shortest pause between two chunk reads (seconds): time for the job to checkpoint and restart its WAL.
GAP_MIN = 0.001
#: ... and at least this many times the read itself.
GAP_RATIO = 1.0
#: In-flight start times kept per chunk (and in all: the snapshot's `IN_FLIGHT_LIMIT`).
STARTS_LIMIT = 500


@dataclass(frozen=True)
class Counted:
    """A chunked track's totals, in the shapes a backend's `read_track` reads them in otherwise."""

    rows: list[tuple[RawValue, int]]
    #: Share of the chunks counted at least once.
    progress: float
    flying: dict[RawValue, int]
    #: Per metric column: (sum or None when every value is NULL, non-NULL values).
    metrics: tuple[tuple[float | None, int], ...]
    #: Start times of running rows, oldest first (None: the track has no start column).
    starts: tuple[float, ...] | None = field(default=None)
    #: Newest finish time (None: no finish column, or the first pass is not over).
    last_finished: float | None = None
    #: Rowids [from, to) of the fewest newest chunks holding the newest `failures` failed rows, when
    #: the key orders rows as their rowid does (None: no bound known).
    failed_range: tuple[int, int] | None = None
    #: The same for the newest 200 settled rows (the peers a stale threshold is derived from) and the
    #: newest 5,000 (the history's seed).
    settled_range: tuple[int, int] | None = None
    recent_range: tuple[int, int] | None = None


