"""The snapshot read of one SQLite source: given a connection, a frozen `SnapshotRead`.

`SnapshotReader.read` probes the schema (choosing the profile when it changed), recounts the changed
chunks of large tables, and reads the snapshot aggregates, each step in short read transactions of its
own. It keeps only what makes the next read cheaper (the schema and profile, the chunked counts and the
WAL tail that says which chunks a commit touched, the slow-read cache); it opens nothing (the connection
is `core.backends.sqlite.reader`'s) and derives nothing over time (history and status are
`core.tracker`'s: the completion times it seeds a history with come back in the `SnapshotRead`).
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType

from batchtop.core.backends.sqlite.counting import ChunkedCounts, rowid_span
from batchtop.core.backends.sqlite.reads import (
    fetch,
    read_finished_times,
    read_in_flight,
    read_metrics,
    read_sessions,
    read_track,
    stale_threshold,
)
from batchtop.core.backends.sqlite.schema import read_schema
from batchtop.core.backends.sqlite.waltail import WalTail
from batchtop.core.changelog import ChangeLog
from batchtop.core.counting import CHUNKED_FROM
from batchtop.core.profiles import choose_profile
from batchtop.core.profiles.model import Profile, RawValue, Track
from batchtop.core.schema import Schema
from batchtop.core.slow_reads import Read, SlowReads
from batchtop.core.snapshot import Snapshot
from batchtop.core.timeutil import Clock
from batchtop.core.tracker import SEED_HORIZON

#: Seconds of chunk recounts per poll (each chunk its own read transaction): the first pass over a
#: large table, then after commits. A poll that leaves chunks to count asks to be polled again after a
#: gap that keeps our database work at `FIRST_DUTY` / `DUTY` of a core (see `PollResult.more`).
FIRST_BUDGET, BUDGET = 0.25, 0.05
#: The first poll of a large table counts only this long, so its first screen (partial counts, marked
#: as such) comes at once; the pass goes on at the next poll.
OPENING_BUDGET = 0.03
FIRST_DUTY, DUTY = 0.8, 0.05
#: Seconds between whole recounts of a chunked table whose WAL says which rows changed: the WAL cannot
#: show a row deleted from a leaf page first seen in that commit when its rowid is not adjacent to a row
#: left on the page (sparse rowids); this bounds how long such a count can be wrong. The recount runs at
#: `DUTY`, and only when the data changed.
VERIFY_EVERY = 300.0


@dataclass(frozen=True)
class SnapshotRead:
    """What one read found."""

    snapshot: Snapshot
    #: Completion times of the last `SEED_HORIZON` per track whose history asked for a seed.
    seeds: Mapping[str, tuple[float, ...]]
    queries: int
    #: Chunks are left to count: the share of a core the next polls keep to (0: nothing left).
    more: float = 0.0


class SnapshotReader:
    """Reads snapshots of one SQLite database (one thread at a time: the source's poll)."""

    def __init__(self, path: str, *, profiles: Sequence[Profile] = (), forced: Profile | None = None,
                 clock: Clock) -> None:
        self.path = path
        self._profiles = tuple(profiles)
        self._forced = forced
        self._clock = clock
        self._schema: Schema | None = None
        self.profile: Profile | None = None
        self.journal_mode: str | None = None
        self._slow = SlowReads()
        #: Chunked counts of the tracks whose tables are large, and the WAL reader that says which
        #: chunks a commit touched (`core.counting`, `core.waltail`).
        self._counters: dict[str, ChunkedCounts] = {}
        self._tail: WalTail | None = None
        #: When each chunked track was last recounted whole (monotonic; see `VERIFY_EVERY`).
        self._verified: dict[str, float] = {}
        #: Per changed poll, the lowest rowid touched (for readers that skip what cannot have changed).
        self.changes = ChangeLog()
        #: The last read's tracks were all empty (a detected profile is then a guess: probe again).
        self._empty = False
        #: The last read left chunks to count (its `more`).
        self.more = 0.0

    def release(self) -> None:
        """The connection was closed: drop what depended on it (chunked counts, the WAL tail).

        Only after the connection closed: closing a descriptor of the -shm drops the locks it held on it.
        """
        if self._tail is not None:
            self._tail.close()
            self._tail = None
        self._counters.clear()
        self.more = 0.0

    def forget(self) -> None:
        """The file was replaced: its schema and slow reads were another file's."""
        self._schema = None
        self._slow.clear()

    def read(self, conn: sqlite3.Connection, *, changed: bool, quiescent: bool, wal: bool,
             identity: tuple[int, int] | None, seeded: Collection[str]) -> SnapshotRead:
        """Probe (when the schema changed), count chunks, and read a snapshot, in short transactions.

        Every statement of the snapshot sees the same commit: without one transaction, a commit landing
        between the state counts and the in-flight counts (or the failures page) gave a snapshot that never
        existed (negative or shifted counts). Each transaction ends before this returns.

        `changed`: the data changed since the last read; `quiescent`: `conn` is a short-lived reader (no
        WAL tail); `seeded`: the tracks whose history needs no seed.
        """
        queries = self._in_transaction(conn, partial(self._probe, quiescent=quiescent))
        queries += self._count_chunks(conn, changed, live=wal and not quiescent)
        conn.execute("BEGIN")
        try:
            snapshot, seeds, n = self._read_snapshot(conn, quiescent, identity, seeded)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        self._empty = not any(t.total for t in snapshot.tracks)
        return SnapshotRead(snapshot, MappingProxyType(seeds), queries + n, self.more)

    @staticmethod
    def _in_transaction(conn: sqlite3.Connection, read: Callable[[sqlite3.Connection], int]) -> int:
        conn.execute("BEGIN")
        try:
            return read(conn)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _count_chunks(self, conn: sqlite3.Connection, changed: bool, *, live: bool) -> int:
        """Recount the changed chunks of large tables, each in a short read transaction of its own
        (between the probe and the snapshot transaction: none of ours is ever long).

        `changed`: the data changed since the last poll (else this poll only goes on with the chunks
        left: without a WAL to say what changed, marking every chunk again on such a poll restarted the
        pass forever on a table larger than one poll's budget). `live`: a WAL database read through its
        long-lived connection (its WAL can be tailed).
        """
        assert self.profile is not None
        if live and self._tail is None:
            self._tail = WalTail(self.path)
            roots = tuple(int(r) for (r,) in fetch(
                conn, "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND rootpage > 0"))
            self._tail.start(roots)  # before any chunk is counted: every later commit is a change
            self.changes.record(0)  # what changed before it started is unknown
        touched = self._tail.poll() if self._tail is not None else None
        if changed:
            self.changes.record(0 if touched is None else min(
                min(touched[0], default=math.inf),
                min((0 if lo is None else lo for lo, _ in touched[1]), default=math.inf)))
        queries, more, now = 0, 0.0, time.monotonic()
        for track in self.profile.tracks:
            counter = self._counters.get(track.name)
            opening = counter is None
            if counter is None:
                span = rowid_span(conn, track.table)
                queries += 1
                if span is None or span[1] - span[0] < CHUNKED_FROM:
                    continue
                counter = self._counters[track.name] = ChunkedCounts(track, rowid_key=self.rowid_key(track))
                self._verified[track.name] = now
            elif touched is not None and not (changed and now - self._verified.get(track.name, now) > VERIFY_EVERY):
                counter.mark_rowids(touched[0])
                counter.mark_ranges(touched[1])
            elif changed:
                counter.mark_all()
                self._verified[track.name] = now
            first = not counter.complete
            before = counter.reads
            done = counter.step(conn, OPENING_BUDGET if opening else FIRST_BUDGET if first else BUDGET)
            queries += 1 + counter.reads - before
            if counter.too_varied:  # a free-text status: one GROUP BY, as for a small table
                del self._counters[track.name]
                continue
            if not done:
                more = max(more, FIRST_DUTY if first else DUTY)
        self.more = more
        return queries

    @property
    def counters(self) -> Mapping[str, ChunkedCounts]:
        """The chunked counts by track name (tracks of small tables are not in it)."""
        return self._counters

    def lowest_change_since(self, track: Track, seq: int) -> float:
        """The lowest rowid of `track`'s table that may have changed after poll `seq` of `changes`
        (0: unknown, also for a table not keyed by its rowid)."""
        if self._tail is None or not self.rowid_key(track):
            return 0
        return self.changes.lowest_since(seq)

    def rowid_key(self, track: Track) -> bool:
        """Whether the track's key is the rowid or its alias (an INTEGER PRIMARY KEY column)."""
        if track.key == "rowid":
            return True
        table = self._schema.table(track.table) if self._schema is not None else None
        if table is None or table.without_rowid:
            return False
        pks = [c for c in table.columns if c.pk]
        return (len(pks) == 1 and pks[0].name.lower() == track.key.lower()
                and pks[0].type.strip().upper() == "INTEGER")

    def _probe(self, conn: sqlite3.Connection, *, quiescent: bool) -> int:
        """Probe the schema and choose the profile when the schema changed (or nothing fitted yet)."""
        (schema_version,) = fetch(conn, "PRAGMA schema_version")[0]
        queries = 1
        # A detected profile of tables that were all empty was a guess from column names: look again
        # once rows arrive (this runs only when the data changed).
        guessed = self.profile is not None and self.profile.origin == "detected" and self._empty
        if self._schema is None or self._schema.version != schema_version or self.profile is None or guessed:
            schema = read_schema(conn)
            # Remember the schema only once a profile fits it: after a failed probe ("no progress table
            # recognised") the next poll must probe again, not read the old profile's vanished tables.
            self.profile = choose_profile(conn, schema, self._path_profiles(), self._forced)
            self._schema = schema
            self._slow.clear()
            self._counters.clear()
            queries += 1 + 2 * len(self._schema.tables)
        if self.journal_mode is None:
            # An immutable (quiescent) read reports 'delete' for a WAL file: trust the header then.
            self.journal_mode = "wal" if quiescent else fetch(conn, "PRAGMA journal_mode")[0][0]
        return queries

    def _read_snapshot(self, conn: sqlite3.Connection, quiescent: bool, identity: tuple[int, int] | None,
                       seeded: Collection[str]) -> tuple[Snapshot, dict[str, tuple[float, ...]], int]:
        now = self._clock()
        queries = 0
        profile = self.profile
        assert profile is not None
        sessions, session_count = read_sessions(conn, profile)
        tracks = []
        seeds: dict[str, tuple[float, ...]] = {}
        for track in profile.tracks:
            counter = self._counters.get(track.name)
            # A chunked track's metric sums come with its chunks; a small table's are one short scan.
            metrics = None if counter is not None else self._slow.get(
                Read.METRICS, track.name, partial(read_metrics, conn, track))
            counted = counter.counted() if counter is not None else None
            peers = counted.settled_range if counted is not None else None
            snap, n = read_track(
                conn, track, now, session_count, metrics=metrics, counted=counted,
                in_flight=partial(self._in_flight, conn, track),
                derive_stale=partial(self._slow.get, Read.STALE, track.name,
                                     partial(stale_threshold, conn, track, peers)),
            )
            queries += n
            if track.name not in seeded and (counted is None or counted.progress >= 1.0):
                # A chunked track is seeded once its first pass is over: from where its newest settled
                # rows are, not by a scan of an unindexed column (5 s in one read at 10M rows).
                seeds[track.name] = tuple(read_finished_times(
                    conn, track, now, SEED_HORIZON, counted.recent_range if counted is not None else None))
                queries += 1
            tracks.append(snap)
        snapshot = Snapshot(self.path, now, identity or (0, 0), "wal" if quiescent else self.journal_mode,
                            profile, tuple(tracks), tuple(sessions), session_count)
        return snapshot, seeds, queries + (2 if profile.sessions else 0)

    def _in_flight(self, conn: sqlite3.Connection, track: Track, values: list[RawValue]) -> dict[RawValue, int]:
        return self._slow.get(Read.FLIGHT, track.name, partial(read_in_flight, conn, track, values),
                              extra=repr(values), floor=0.0)

    def _path_profiles(self) -> tuple[Profile, ...]:
        from batchtop.core.profiles import directory_profiles

        return self._profiles + directory_profiles(self.path)
