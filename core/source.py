"""One watched database file: a read-only connection, its identity, and the cheap change-gated poll.

The rules of hazards.md are applied here: readers open `file:` URIs built by `Path.as_uri()` with
`mode=ro` (never a bare path, which would create a missing file); a WAL database whose `-shm` is missing
(nobody has it open) is read through a short-lived connection that creates no sidecar: `immutable=1` when
there is no `-wal` to read, else a heap-memory WAL index (see `connect_quiescent`); the file identity is
checked on every poll; `PRAGMA data_version` gates every query; and the file itself is only ever opened for
a header sniff while we hold no connection to it.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from batchtop.core import errors
from batchtop.core.backends.sqlite.backend import SqliteBackend
from batchtop.core.backends.sqlite.counting import ChunkedCounts, rowid_span
from batchtop.core.backends.sqlite.errors import map_sqlite_error
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
from batchtop.core.history import History
from batchtop.core.profiles import choose_profile
from batchtop.core.profiles.model import Profile, RawValue, Track
from batchtop.core.schema import Schema
from batchtop.core.signature import cached_signature
from batchtop.core.snapshot import Snapshot
from batchtop.core.timeutil import FUTURE_SLACK, Clock, system_clock

SQLITE_HEADER = b"SQLite format 3\x00"
SIDECARS = ("-wal", "-shm", "-journal")
#: Busy timeouts (s): rollback-journal readers and the job block each other, so wait briefly and
#: treat a timeout as "try at the next tick" rather than ever holding the job up.
BUSY_ROLLBACK, BUSY_WAL = 0.2, 1.0
#: Metric totals (a full scan) are re-read at most this often, and at most every 20x their cost.
METRICS_EVERY = 2.0
#: Seconds of completion timestamps used to seed the history at open.
SEED_HORIZON = 3600.0
#: A VFS without shared-memory methods. With `locking_mode=EXCLUSIVE` set before the first read, SQLite
#: then keeps the WAL index in private heap memory instead of the -shm ("Use of WAL Without
#: Shared-Memory", sqlite.org/wal.html), so the -wal of a copied run directory is read, and no file is
#: created. The "-none" VFSes take no file locks either: the job is never blocked by us.
NO_SHM_VFS = "win32-none" if os.name == "nt" else "unix-none"
#: Seconds of chunk recounts per poll (each chunk its own read transaction): the first pass over a
#: large table, then after commits. A poll that leaves chunks to count asks to be polled again after a
#: gap that keeps our database work at `FIRST_DUTY` / `DUTY` of a core (see `PollResult.more`).
FIRST_BUDGET, BUDGET = 0.25, 0.05
FIRST_DUTY, DUTY = 0.8, 0.05
#: Seconds between whole recounts of a chunked table whose WAL says which rows changed: the WAL cannot
#: show a row deleted from a leaf page first seen in that commit when its rowid is not adjacent to a row
#: left on the page (sparse rowids); this bounds how long such a count can be wrong. The recount runs at
#: `DUTY`, and only when the data changed.
VERIFY_EVERY = 300.0

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


def uri_for(path: str | Path, *, immutable: bool = False, mode: str = "ro") -> str:
    """A `file:` URI that opens exactly `path` (`?`, `#`, `%` in names are percent-encoded)."""
    uri = Path(path).resolve().as_uri() + f"?mode={mode}"
    return uri + "&immutable=1" if immutable else uri


def connect_ro(path: str | Path, *, immutable: bool = False, timeout: float = BUSY_WAL,
               vfs: str | None = None) -> sqlite3.Connection:
    """A read-only connection set up as hazards.md rule 3 says.

    `readonly_shm=1`: SQLite never writes the job's -shm through this connection (a plain `mode=ro`
    reader rewrote it, running WAL recovery on the -shm a crashed job left behind, and stamping read
    marks). With no live writer SQLite then reads the WAL into private memory instead.
    """
    uri = uri_for(path, immutable=immutable) + ("" if immutable or vfs else "&readonly_shm=1")
    uri += f"&vfs={vfs}" if vfs else ""
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout, check_same_thread=False)
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    conn.create_function("bt_signature", 1, cached_signature, deterministic=True)
    return conn


def connect_quiescent(path: str | Path) -> sqlite3.Connection:
    """A short-lived reader of a WAL database that nobody has open (no -shm), creating no file.

    With no -wal, or an empty one, the database file is all there is: `immutable=1`. A -wal with frames
    (a copied run directory: the job's last commits were never checkpointed) must be read too, or the
    counts are those of the last checkpoint (0 done where sqlite3 reads 60); but a plain `mode=ro` reader
    would create the -shm next to the user's database, and `readonly_shm=1` cannot open without one. A
    VFS without shared memory in exclusive locking mode reads the WAL into heap memory instead.

    Raises:
        WalWithoutShm: this SQLite has no such VFS, so the -wal cannot be read without creating a file.
    """
    try:
        wal_bytes = os.stat(os.fspath(path) + "-wal").st_size
    except OSError:
        wal_bytes = 0
    if not wal_bytes:
        return connect_ro(path, immutable=True)
    try:
        conn = connect_ro(path, vfs=NO_SHM_VFS, timeout=0)
    except sqlite3.OperationalError as exc:
        if "no such vfs" not in str(exc):
            raise
        raise errors.WalWithoutShm(
            f"the -wal holds {wal_bytes:,} bytes of commits but the -shm is missing, and this SQLite cannot "
            "read them without creating it: counts not shown (they would be stale); open the job once, "
            "or copy the -shm too") from None
    try:
        # Before the first read, so SQLite never asks the VFS for shared memory (it has none).
        fetch(conn, "PRAGMA locking_mode=EXCLUSIVE")
    except BaseException:
        conn.close()
        raise
    return conn


def last_write(path: str) -> float | None:
    """Newest mtime of the database and its sidecars (stat only: never opens them)."""
    times = []
    for suffix in ("", "-wal", "-journal"):
        try:
            times.append(os.stat(path + suffix).st_mtime)
        except OSError:
            pass
    return max(times) if times else None


def sniff(path: str, size: int) -> bool:
    """Check the SQLite header; returns True for WAL mode. Only called while no connection is held."""
    if size == 0:
        raise errors.EmptyDatabase("empty database, no progress tables")
    with open(path, "rb") as f:  # noqa: PTH123 - a plain read of 100 bytes, before any connection
        header = f.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        raise errors.NotADatabase("not an SQLite database (or encrypted)")
    return header[18] == 2 and header[19] == 2


class Source:
    """One database file being watched. Methods are thread-safe; one thread at a time uses the connection."""

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
        self._profiles = tuple(profiles)
        self._forced = forced
        self._clock = clock
        self.lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._quiescent = False
        self._signature: tuple | None = None
        self._data_version: int | None = None
        self._schema: Schema | None = None
        self.identity: tuple[int, int] | None = None
        self.wal: bool | None = None
        self.journal_mode: str | None = None
        self.profile: Profile | None = None
        self.snapshot: Snapshot | None = None
        self.error: errors.BatchtopError | None = None
        self.histories: dict[str, History] = {}
        self._seeded: set[str] = set()  # tracks whose history was seeded from the database
        self._parked: tuple | None = None
        self._slow: dict[str, tuple[float, float, Any]] = {}
        self.last_write: float | None = None
        #: When a poll of ours last saw the data change (a commit), by our clock: file times can be
        #: skewed (network filesystems) or coarse.
        self.last_seen_write: float | None = None
        self.last_change: float | None = None
        self.polls = 0
        #: Chunked counts of the tracks whose tables are large, and the WAL reader that says which
        #: chunks a commit touched (`core.counting`, `core.waltail`).
        self._counters: dict[str, ChunkedCounts] = {}
        self._tail: WalTail | None = None
        #: Per changed poll, the lowest rowid touched (for readers that skip what cannot have changed).
        self.changes = ChangeLog()
        self._more = 0.0
        #: When each chunked track was last recounted whole (monotonic; see `VERIFY_EVERY`).
        self._verified: dict[str, float] = {}
        self.backend = SqliteBackend(self.path, connect_ro)

    # -- connection ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (the next poll reopens)."""
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            # Only now: closing a descriptor of the -shm drops the locks our connection held on it.
            if self._tail is not None:
                self._tail.close()
                self._tail = None
            self._counters.clear()
            self._more = 0.0
            self._data_version = None

    def interrupt(self) -> None:
        """Abort a read in progress from another thread (quitting must not wait for a 10M-row count)."""
        conn = self._conn
        if conn is not None:
            conn.interrupt()

    def park(self) -> None:
        """Close the connection but keep the snapshot: polls then gate on file stats until it changes.

        Used to cap open descriptors when thousands of files are watched.
        """
        with self.lock:
            if self._conn is not None and self.snapshot is not None and self.error is None:
                self._parked = self._stat_signature()
                self.close()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def _stat_signature(self) -> tuple:
        sig: list[tuple[int, int, int] | None] = []
        for suffix in ("", "-wal", "-journal"):
            try:
                st = os.stat(self.path + suffix)
                sig.append((st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError:
                sig.append(None)
        return tuple(sig)

    def _open(self, st: os.stat_result) -> list[str]:
        events = []
        old = self.identity
        self.identity = (st.st_dev, st.st_ino)
        if old is not None and old != self.identity:
            events.append("file replaced: reopened")
            self._schema = None
            self.histories.clear()
            self._seeded.clear()
            self._slow.clear()
        self.wal = sniff(self.path, st.st_size)
        # A WAL database without its -shm is quiescent (the job is not running): connecting normally
        # would create -wal/-shm owned by us, which can stop the job from opening it later.
        self._quiescent = self.wal and not os.path.exists(self.path + "-shm")
        if not self._quiescent:
            self._conn = connect_ro(self.path, timeout=BUSY_WAL if self.wal else BUSY_ROLLBACK)
        return events

    def write_time(self, now: float) -> float | None:
        """When the job last wrote, as far as we can tell at `now`: the newest file time (unless it lies
        ahead of the clock: skew) or the last change a poll of ours saw, whichever is later."""
        mtime = self.last_write if self.last_write is not None and self.last_write <= now + FUTURE_SLACK else None
        return max((t for t in (mtime, self.last_seen_write) if t is not None), default=None)

    def _read_conn(self) -> sqlite3.Connection:
        """The connection to read with (a fresh short-lived one when quiescent)."""
        if self._conn is not None:
            return self._conn
        return connect_quiescent(self.path)

    def _quiet_signature(self, st: os.stat_result) -> tuple:
        """What a quiescent database's content depends on: the file and its -wal (stat only)."""
        try:
            wal = os.stat(self.path + "-wal")
            wal_sig: tuple | None = (wal.st_ino, wal.st_size, wal.st_mtime_ns)
        except OSError:
            wal_sig = None
        return st.st_size, st.st_mtime_ns, wal_sig

    def run(self, reader: Callable[[sqlite3.Connection], T]) -> T:
        """Run `reader(conn)` on this source's connection; errors come back as BatchtopError."""
        with self.lock:
            if self.identity is None or (self._conn is None and not self._quiescent):
                raise self.error or errors.NotFound("not open yet")
            try:
                conn = self._read_conn()
            except Exception as exc:
                raise map_sqlite_error(exc, self.path) from exc
            try:
                return reader(conn)
            except Exception as exc:
                raise map_sqlite_error(exc, self.path) from exc
            finally:
                if conn is not self._conn:
                    conn.close()

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
                except sqlite3.OperationalError:
                    if not (self.wal and self._conn is not None and not os.path.exists(self.path + "-shm")):
                        raise
                    # The job closed the database (and deleted its -shm) between our check and our
                    # first read: read it quiescent now instead of reporting "cannot open".
                    self.close()
                    changed, queries, events = self._poll(True)
                self.error = None
            except Exception as exc:  # every failure becomes a message; the source is retried
                changed, queries, events = True, 0, ()
                self.error = map_sqlite_error(exc, self.path)
                self._data_version = None
                if self._conn is not None and self._conn.in_transaction:
                    self._conn.rollback()
                if self.error.kind in ("empty", "not-a-database", "damaged"):
                    # The file was rewritten in place (same inode) under our connection, which keeps
                    # failing after the file is valid again: reopen (and sniff) at the next poll.
                    self.close()
            cost = time.perf_counter() - started
            if changed and self.snapshot is not None and self.error is None:
                self.snapshot = replace(self.snapshot, cost=cost, queries=queries)
            more = self._more if self.error is None else 0.0
            return PollResult(changed, self.snapshot, self.error, cost, queries, tuple(events), more)

    def _poll(self, force: bool) -> tuple[bool, int, list[str]]:
        events: list[str] = []
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self.identity is not None:
                self.close()
                self._quiescent = False
                raise errors.Deleted("file deleted") from None
            raise errors.NotFound("file not found (waiting for it to appear)") from None
        if not _is_regular(st):
            raise errors.NotRegularFile("not a regular file")
        self.last_write = last_write(self.path)
        identity = (st.st_dev, st.st_ino)
        if self._parked is not None:
            if not force and self._stat_signature() == self._parked:
                return False, 0, events
            self._parked = None
        if self.identity != identity or (self._conn is None and not self._quiescent):
            self.close()
            events += self._open(st)
            force = True
        elif self._quiescent and os.path.exists(self.path + "-shm"):
            events += self._open(st)  # the job came back: read it live from now on
            force = True
        if self._quiescent:
            sig = self._quiet_signature(st)
            if not force and sig == self._signature and self.error is None and not self._more:
                return False, 0, events
            if self._signature is not None and sig != self._signature:
                self.last_seen_write = self._clock()
            quiet = connect_quiescent(self.path)
            try:
                queries = self._read(quiet, changed=force or sig != self._signature)
            finally:
                quiet.close()
            # These readers take no lock: if the job came back during the read (a -shm, a changed file),
            # read again at the next poll rather than trust this one.
            after = os.stat(self.path)
            settled = not os.path.exists(self.path + "-shm") and self._quiet_signature(after) == sig
            self._signature = sig if settled else None
            return True, queries, events
        conn = self._conn
        assert conn is not None
        (version,) = fetch(conn, "PRAGMA data_version")[0]
        if not force and version == self._data_version and self.error is None and not self._more:
            return False, 1, events
        if self._data_version is not None and version != self._data_version:
            self.last_seen_write = self._clock()  # a commit of the job's, seen by us
        queries = self._read(conn, changed=force or version != self._data_version) + 1
        self._data_version = version
        return True, queries, events

    def _read(self, conn: sqlite3.Connection, changed: bool = True) -> int:
        """Probe (when the schema changed) and read a snapshot, all in one short read transaction.

        Every statement of a poll then sees the same commit: without it, a commit landing between the
        state counts and the in-flight counts (or the failures page) gave a snapshot that never existed
        (negative or shifted counts). The transaction ends before the poll returns.
        """
        queries = self._in_transaction(conn, self._probe)
        queries += self._count_chunks(conn, changed)
        return queries + self._in_transaction(conn, self._read_snapshot)

    @staticmethod
    def _in_transaction(conn: sqlite3.Connection, read: Callable[[sqlite3.Connection], int]) -> int:
        conn.execute("BEGIN")
        try:
            return read(conn)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _count_chunks(self, conn: sqlite3.Connection, changed: bool) -> int:
        """Recount the changed chunks of large tables, each in a short read transaction of its own
        (between the probe and the snapshot transaction: none of ours is ever long).

        `changed`: the data changed since the last poll (else this poll only goes on with the chunks
        left: without a WAL to say what changed, marking every chunk again on such a poll restarted the
        pass forever on a table larger than one poll's budget).
        """
        assert self.profile is not None
        if self._conn is not None and self.wal and self._tail is None:
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
            if counter is None:
                span = rowid_span(conn, track.table)
                queries += 1
                if span is None or span[1] - span[0] < CHUNKED_FROM:
                    continue
                counter = self._counters[track.name] = ChunkedCounts(track, rowid_key=self._rowid_key(track))
                self._verified[track.name] = now
            elif touched is not None and not (changed and now - self._verified.get(track.name, now) > VERIFY_EVERY):
                counter.mark_rowids(touched[0])
                counter.mark_ranges(touched[1])
            elif changed:
                counter.mark_all()
                self._verified[track.name] = now
            first = not counter.complete
            before = counter.reads
            done = counter.step(conn, FIRST_BUDGET if first else BUDGET)
            queries += 1 + counter.reads - before
            if counter.too_varied:  # a free-text status: one GROUP BY, as for a small table
                del self._counters[track.name]
                continue
            if not done:
                more = max(more, FIRST_DUTY if first else DUTY)
        self._more = more
        return queries

    def lowest_change_since(self, track: Track, seq: int) -> float:
        """The lowest rowid of `track`'s table that may have changed after poll `seq` of `changes`
        (0: unknown, also for a table not keyed by its rowid)."""
        if self._tail is None or not self._rowid_key(track):
            return 0
        return self.changes.lowest_since(seq)

    def _rowid_key(self, track: Track) -> bool:
        """Whether the track's key is the rowid or its alias (an INTEGER PRIMARY KEY column)."""
        if track.key == "rowid":
            return True
        table = self._schema.table(track.table) if self._schema is not None else None
        if table is None or table.without_rowid:
            return False
        pks = [c for c in table.columns if c.pk]
        return (len(pks) == 1 and pks[0].name.lower() == track.key.lower()
                and pks[0].type.strip().upper() == "INTEGER")

    def _probe(self, conn: sqlite3.Connection) -> int:
        """Probe the schema and choose the profile when the schema changed (or nothing fitted yet)."""
        (schema_version,) = fetch(conn, "PRAGMA schema_version")[0]
        queries = 1
        # A detected profile of tables that were all empty was a guess from column names: look again
        # once rows arrive (this runs only when the data changed).
        guessed = (self.profile is not None and self.profile.origin == "detected" and self.snapshot is not None
                   and not any(t.total for t in self.snapshot.tracks))
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
            self.journal_mode = "wal" if self._quiescent else fetch(conn, "PRAGMA journal_mode")[0][0]
        return queries

    def _read_snapshot(self, conn: sqlite3.Connection) -> int:
        now = self._clock()
        queries = 0
        profile = self.profile
        assert profile is not None
        sessions, session_count = read_sessions(conn, profile)
        tracks = []
        for track in profile.tracks:
            counter = self._counters.get(track.name)
            # A chunked track's metric sums come with its chunks; a small table's are one short scan.
            metrics = None if counter is not None else self._cached(
                f"metrics:{track.name}", partial(read_metrics, conn, track))
            counted = counter.counted() if counter is not None else None
            peers = counted.settled_range if counted is not None else None
            snap, n = read_track(
                conn, track, now, session_count, metrics=metrics, counted=counted,
                in_flight=partial(self._in_flight, conn, track),
                derive_stale=partial(self._cached, f"stale:{track.name}", partial(stale_threshold, conn, track, peers)),
            )
            queries += n
            history = self.histories.get(track.name)
            if history is None:
                history = self.histories[track.name] = History()
            if track.name not in self._seeded and (counted is None or counted.progress >= 1.0):
                # A chunked track is seeded once its first pass is over: from where its newest settled
                # rows are, not by a scan of an unindexed column (5 s in one read at 10M rows).
                history.seed(read_finished_times(conn, track, now, SEED_HORIZON,
                                                 counted.recent_range if counted is not None else None), now)
                self._seeded.add(track.name)
                queries += 1
            if snap.counted >= 1.0:  # partial counts of a first pass are no throughput
                history.record(now, snap.settled)
            tracks.append(snap)
        if self.snapshot is None:
            # First read: the data last changed when the job last wrote the file, not now.
            self.last_change = self.last_write or now
        elif any(t.counted < 1.0 for t in tracks):
            pass  # counts growing as the first pass goes are not changes of the data
        elif [t.counts for t in self.snapshot.tracks] != [t.counts for t in tracks]:
            self.last_change = now
        self.snapshot = Snapshot(self.path, now, self.identity or (0, 0),
                                 "wal" if self._quiescent else self.journal_mode, profile,
                                 tuple(tracks), tuple(sessions), session_count)
        return queries + (2 if profile.sessions else 0)

    def _in_flight(self, conn: sqlite3.Connection, track: Track, values: list[RawValue]) -> dict[RawValue, int]:
        return self._cached(f"flight:{track.name}:{values!r}", partial(read_in_flight, conn, track, values),
                            floor=0.0)

    def _cached(self, key: str, read: Callable[[], T], floor: float = METRICS_EVERY) -> T:
        """Re-run an expensive secondary read (a full scan) only when due.

        Metric totals and in-flight counts visit every row; they are re-read at most every `floor`
        seconds and at most every 20x their own cost, so a 10M-row table is not rescanned for them on
        every commit while its state counts stay exact. In-flight counts use no floor: they split
        pending from running, so a cheap read is always redone (a stale split showed a pending
        (started) count the database never had, for seconds on a table of 30 rows).
        """
        cached = self._slow.get(key)
        tick = time.monotonic()
        if cached is not None and tick - cached[0] < max(floor, 20 * cached[1]):
            return cached[2]
        value = read()
        self._slow[key] = (tick, time.monotonic() - tick, value)
        return value

    def _path_profiles(self) -> tuple[Profile, ...]:
        from batchtop.core.profiles import directory_profiles

        return self._profiles + directory_profiles(self.path)


def _is_regular(st: os.stat_result) -> bool:
    import stat as stat_mod

    return stat_mod.S_ISREG(st.st_mode)
