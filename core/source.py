"""One watched SQLite database: a reader, a snapshot reader and a tracker, composed.

The read path runs straight through three parts, each knowing one thing:
- `SqliteReader` (`core.backends.sqlite.reader`): the read-only connection, the file identity and the
  change gate (`PRAGMA data_version`, or the stat signature of a quiescent WAL database);
- `SnapshotReader` (`core.backends.sqlite.snapshot_read`): given the connection, a frozen `SnapshotRead` (probe, chunked
  counts, the snapshot aggregates);
- `RunTracker` (`core.tracker`): history, write times and run state derived from the snapshots alone,
  published immutably, so a status is built without a lock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from batchtop.core import errors
from batchtop.core.backends.sqlite.backend import SqliteBackend
from batchtop.core.backends.sqlite.counting import ChunkedCounts
from batchtop.core.backends.sqlite.errors import map_sqlite_error
from batchtop.core.backends.sqlite.reader import REOPEN_AFTER, Connection, Gated, SqliteReader, connect_ro
from batchtop.core.backends.sqlite.snapshot_read import SnapshotReader
from batchtop.core.changelog import ChangeLog
from batchtop.core.history import History
from batchtop.core.profiles.model import Profile, Track
from batchtop.core.slow_reads import METRICS_EVERY
from batchtop.core.snapshot import Snapshot
from batchtop.core.timeutil import Clock, system_clock
from batchtop.core.tracker import SEED_HORIZON, RunTracker

__all__ = ["METRICS_EVERY", "SEED_HORIZON", "PollResult", "Source"]

T = TypeVar("T")


@dataclass(frozen=True)
class PollResult:
    """What one poll found."""

    #: Whether anything was read (False: the data_version gate said nothing changed).
    changed: bool
    #: Latest good snapshot (kept while the source is in error).
    snapshot: Snapshot | None
    error: errors.BatchtopError | None
    cost: float
    queries: int
    #: One-off events worth telling the user ("file replaced: reopened").
    events: tuple[str, ...] = ()
    #: Chunks are left to count: poll again soon, keeping this poll's work to this share of a core
    #: (0: nothing left; the next poll waits for a change as usual).
    more: float = 0.0


class Source:
    """One database file being watched. Methods are thread-safe; one thread at a time uses the connection
    (`lock`); `snapshot`, `error` and `tracker.state` are replaced whole, so any thread may read them."""

    def __init__(
        self,
        path: str | Path,
        *,
        profiles: Sequence[Profile] = (),
        forced: Profile | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.name = os.path.basename(self.path)
        self._clock = clock
        self.reader = SqliteReader(self.path, on_replaced=self._replaced, on_closed=self._closed)
        self.lock = self.reader.lock
        self.snapshots = SnapshotReader(self.path, profiles=profiles, forced=forced, clock=clock)
        self.tracker = RunTracker(self.path)
        self.snapshot: Snapshot | None = None
        self.error: errors.BatchtopError | None = None
        self.polls = 0
        self.backend = SqliteBackend(self.path, connect_ro)

    # -- what the parts know ------------------------------------------------------------------------

    @property
    def identity(self) -> tuple[int, int] | None:
        return self.reader.identity

    @identity.setter
    def identity(self, value: tuple[int, int] | None) -> None:
        self.reader.identity = value

    @property
    def wal(self) -> bool | None:
        return self.reader.wal

    @property
    def journal_mode(self) -> str | None:
        return self.snapshots.journal_mode

    @property
    def profile(self) -> Profile | None:
        return self.snapshots.profile

    @property
    def is_open(self) -> bool:
        return self.reader.is_open

    @property
    def histories(self) -> Mapping[str, History]:
        return self.tracker.histories

    @property
    def last_write(self) -> float | None:
        return self.tracker.state.last_write

    @property
    def last_seen_write(self) -> float | None:
        return self.tracker.state.last_seen_write

    @property
    def last_change(self) -> float | None:
        return self.tracker.state.last_change

    @property
    def changes(self) -> ChangeLog:
        """Per changed poll, the lowest rowid touched (for readers that skip what cannot have changed)."""
        return self.snapshots.changes

    @property
    def counters(self) -> Mapping[str, ChunkedCounts]:
        return self.snapshots.counters

    def write_time(self, now: float) -> float | None:
        """When the job last wrote, as far as we can tell at `now` (`RunTracker.write_time`)."""
        return self.tracker.write_time(now)

    def lowest_change_since(self, track: Track, seq: int) -> float:
        """The lowest rowid of `track`'s table that may have changed after poll `seq` of `changes`."""
        return self.snapshots.lowest_change_since(track, seq)

    def _replaced(self) -> None:
        self.snapshots.forget()
        self.tracker.reset()

    def _closed(self) -> None:
        self.snapshots.release()

    # -- connection ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (the next poll reopens)."""
        self.reader.close()

    def interrupt(self) -> None:
        """Abort a read in progress from another thread (quitting must not wait for a 10M-row count)."""
        self.reader.interrupt()

    def park(self) -> None:
        """Close the connection but keep the snapshot: polls then gate on file stats until it changes.

        Used to cap open descriptors when thousands of files are watched.
        """
        with self.lock:
            if self.reader.is_open and self.snapshot is not None and self.error is None:
                self.reader.park()

    def run(self, reader: Callable[[Connection], T]) -> T:
        """Run `reader(conn)` on this source's connection; errors come back as BatchtopError."""
        with self.lock:
            if not self.reader.readable:
                raise self.error or errors.NotFound("not open yet")
            return self.reader.run(reader)

    # -- polling ------------------------------------------------------------------------------------

    def poll(self, force: bool = False) -> PollResult:
        """Check for changes and, only if there are any, read a new snapshot."""
        with self.lock:
            started = time.perf_counter()
            self.polls += 1
            try:
                try:
                    events: Sequence[str]
                    changed, queries, events = self._poll(force)
                except Exception as exc:
                    if not self.reader.closed_under_us(exc):
                        raise
                    # The job closed the database (and deleted its -shm) or was opening it between our
                    # check and our read: read it again now (quiescent if it is closed) instead of
                    # reporting "cannot open" for a moment.
                    self.close()
                    changed, queries, events = self._poll(True)
                self.error = None
            except Exception as exc:  # every failure becomes a message; the source is retried
                changed, queries, events = True, 0, ()
                self.error = map_sqlite_error(exc, self.path)
                self.reader.failed()
                if self.error.kind in REOPEN_AFTER:
                    # The file was rewritten in place (same inode) under our connection, which keeps
                    # failing after the file is valid again: reopen (and sniff) at the next poll.
                    self.close()
            finally:
                self.tracker.file_time(self.reader.last_write)
            cost = time.perf_counter() - started
            if changed and self.snapshot is not None and self.error is None:
                self.snapshot = replace(self.snapshot, cost=cost, queries=queries)
            more = self.snapshots.more if self.error is None else 0.0
            return PollResult(changed, self.snapshot, self.error, cost, queries, tuple(events), more)

    def _poll(self, force: bool) -> tuple[bool, int, list[str]]:
        gated: Gated = self.reader.gate(force, again=self.error is not None or bool(self.snapshots.more))
        events = list(gated.events)
        if not gated.read:
            return False, gated.queries, events
        if gated.wrote:
            self.tracker.saw_write(self._clock())  # a commit of the job's, seen by us
        # The first read's last change is the file's last write: the tracker must know it first.
        self.tracker.file_time(self.reader.last_write)
        with self.reader.reading() as conn:
            read = self.snapshots.read(conn, changed=gated.changed, quiescent=gated.quiescent,
                                       wal=bool(self.reader.wal), identity=self.reader.identity,
                                       seeded=self.tracker.seeded)
            self.snapshot = read.snapshot
            self.tracker.update(read.snapshot, read.seeds)
        return True, gated.queries + read.queries, events
