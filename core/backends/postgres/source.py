"""One PostgreSQL database being watched: the same surface as `batchtop.core.source.Source`.

A read-only session (see `conn`), a poll gated on the change token (`pg_current_snapshot()`: one tiny
statement when nothing changed), and the snapshot read in one `REPEATABLE READ READ ONLY` transaction,
so every statement of a poll sees the same commit, ended before the poll returns. The URL's password is
kept only in `url`; `path` and `name` (what screens, logs and the journal show) never carry it.
History, write times and run state are a `core.tracker.RunTracker`'s (without file times: the job "last
wrote" when the data we read last changed), fed the snapshots alone, as for SQLite.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from batchtop.core import errors
from batchtop.core.backends.postgres.backend import PostgresBackend
from batchtop.core.backends.postgres.conn import fetch
from batchtop.core.backends.postgres.counting import (
    CHUNKED_FROM,
    TableInfo,
    TableTracker,
    tally_sql,
    too_sparse,
)
from batchtop.core.backends.sqlite.sql import q
from batchtop.core.backends.urls import display_url
from batchtop.core.history import History
from batchtop.core.profiles.model import Profile, Track
from batchtop.core.schema import Schema, Table
from batchtop.core.slow_reads import Read, SlowReads
from batchtop.core.snapshot import FailureRow, Snapshot
from batchtop.core.source import PollResult
from batchtop.core.timeutil import Clock, system_clock
from batchtop.core.tracker import SEED_HORIZON, RunTracker

T = TypeVar("T")
KIND = "postgresql"
#: A full read (a table counted with one GROUP BY: no integer key, or small) waits until this many times
#: its own cost has passed since the last one: reads take at most ~2.5 % of one core however often the
#: job commits. Chunked tables (`postgres.counting`) are not held back: a poll after K changes costs
#: O(chunks holding them), and whole recounts run at `DUTY`.
READ_DUTY = 40.0
#: Seconds of chunk recounts per poll beyond the located ones (the first pass, then passes), and the
#: share of a core the following polls keep to while chunks are left (`PollResult.more`): the first
#: pass, a pass while the job commits, a pass while it is quiet (nothing of its to slow down).
FIRST_BUDGET, BUDGET = 0.25, 0.05
FIRST_DUTY, DUTY, QUIET_DUTY = 0.8, 0.05, 0.25
#: Seconds a writer's statistics may trail its commits (PostgreSQL 15+: an idle backend flushes them
#: within PGSTAT_IDLE_INTERVAL, 10 s; an exiting one at once): counts are confirmed exact only once the
#: change token (which holds the tallies) has not moved for this long.
STATS_LAG = 11.0
UNSUPPORTED = (
    "not on PostgreSQL yet (this view reads SQLite only); the source screen and "
    "`batchtop failures URL` list the newest failures"
)


def choose_profile(
    schema: Schema,
    user: Sequence[Profile],
    forced: Profile | None,
    detect: Callable[[Schema], Profile | None] | None = None,
) -> Profile:
    """Forced, else a user profile that applies, else a built-in one, else one `detect` finds in the
    tables (as `profiles.choose_profile`: the SQLite detector, sampling through the backend)."""
    from batchtop.core.profiles.builtin import match_builtin
    from batchtop.core.profiles.detect import describe_unknown
    from batchtop.core.profiles.userfile import applies

    if forced is not None:
        if not applies(forced, schema):
            raise errors.UnknownSchema(f"profile {forced.name!r} does not match this database's tables")
        return forced
    for profile in user:
        if applies(profile, schema):
            return profile
    builtin = match_builtin(schema)
    if builtin is not None:
        return builtin
    detected = detect(schema) if detect is not None and schema.tables else None
    if detected is not None:
        return detected
    raise errors.UnknownSchema(
        "no progress table recognised (a table needs a status-like column and a one-column primary key; "
        "else describe it in a TOML profile: --profile); " + describe_unknown(schema)
    )


def short_name(url: str) -> str:
    """'jobs@db.example:5432' for the overview's Source column."""
    parts = urlsplit(display_url(url))
    db = parts.path.lstrip("/") or "postgres"
    host = parts.hostname or "localhost"
    return f"{db}@{host}" + (f":{parts.port}" if parts.port else "")


class PgSource:
    """One PostgreSQL database being watched; methods are thread-safe (one thread uses the session)."""

    kind = KIND

    def __init__(
        self,
        url: str,
        *,
        profiles: Sequence[Profile] = (),
        forced: Profile | None = None,
        clock: Clock = system_clock,
    ) -> None:
        #: The URL as given (may hold a password): used to connect, never shown.
        self.url = url
        self.backend = PostgresBackend(url)
        self.path = self.backend.display
        self.name = short_name(url)
        self._profiles = tuple(profiles)
        self._forced = forced
        self._clock = clock
        self.lock = threading.RLock()
        self._conn: Any = None
        self._token: tuple[Any, ...] | None = None
        self._stats_reset: Any = None
        self._moved_at = 0.0
        self._schema: Schema | None = None
        self._oids: dict[str, int | None] = {}
        self._slow = SlowReads()
        #: When the last full read ended (monotonic) and what it cost (s).
        self._read_at, self._read_cost = 0.0, 0.0
        #: Chunked tracks (`postgres.counting`), and tracks read with one GROUP BY (with their table's
        #: catalog facts when a growing table may become chunked later, else None).
        self.table_trackers: dict[str, TableTracker] = {}
        self._whole: dict[str, TableInfo | None] = {}
        self._more = 0.0
        #: (database oid, crc of the tracks' table oids): what a write must still find.
        self.identity: tuple[int, int] | None = None
        self.wal: bool | None = None
        self.journal_mode: str | None = KIND
        self.profile: Profile | None = None
        self.snapshot: Snapshot | None = None
        self.error: errors.BatchtopError | None = None
        #: History, write times and run state, from the snapshots alone (`core.tracker`).
        self.tracker = RunTracker(self.path, file_times=False)
        self.polls = 0
        #: Server transactions our polls ran (each statement outside a transaction is one), for benchmarks.
        self.transactions = 0

    # -- connection ---------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def close(self) -> None:
        """Close the session (the next poll reconnects)."""
        with self.lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except Exception:  # noqa: BLE001 - a broken connection is closed either way
                    pass
                self._conn = None
            self._token = None

    def park(self) -> None:
        """Close the session between changes (caps open connections when many sources are watched)."""
        self.close()

    def interrupt(self) -> None:
        """Cancel a statement in progress from another thread (quitting must not wait for it)."""
        conn = self._conn
        if conn is not None:
            try:
                conn.cancel_safe(timeout=1.0)
            except Exception:  # noqa: BLE001 - best effort: the statement timeout ends it anyway
                pass

    def write_time(self, now: float) -> float | None:
        """When the job last wrote, as far as we can tell: a server gives no file time, so the last time a
        poll saw the data change (as `Source.write_time`)."""
        return self.tracker.write_time(now)

    @property
    def histories(self) -> Mapping[str, History]:
        return self.tracker.histories

    @property
    def last_write(self) -> float | None:
        return self.tracker.state.last_write

    @property
    def last_change(self) -> float | None:
        return self.tracker.state.last_change

    def wrote(self) -> None:
        """batchtop itself just wrote here: the next poll reads at once (the person waits to see it)."""
        self._read_cost = 0.0

    def table(self, name: str) -> Table | None:
        """A table of the schema last read (column types shape the SQL)."""
        return self._schema.table(name) if self._schema else None

    def failures(
        self,
        track: Track,
        *,
        limit: int,
        before: Any = None,
        search: str | None = None,
    ) -> list[FailureRow]:
        """A page of failed items of `track`, newest first (what `snapshot.read_failures` is for SQLite)."""
        return self.run(
            lambda conn: self.backend.read_failures(
                conn, track, self.table(track.table), limit=limit, before=before, search=search
            )
        )

    def _session(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self.backend.open_read()
            self._token = None
        return self._conn

    def run(self, reader: Callable[[Any], T]) -> T:
        """Run `reader(conn)` in a read-only transaction of this source's session; errors as BatchtopError."""
        with self.lock:
            # A database no profile describes is still read by the tables view.
            if self.profile is None and not isinstance(self.error, errors.UnknownSchema):
                raise self.error or errors.NotFound("not read yet")
            try:
                conn = self._session()
                with self.backend.read_transaction(conn):
                    return reader(conn)
            except Exception as exc:
                self._recover()
                if type(exc).__name__ == "UndefinedFunction":
                    # A reader written in SQLite's dialect (typeof, julianday, bt_signature...).
                    raise errors.SourceError(UNSUPPORTED) from exc
                raise self.backend.map_error(exc) from exc

    def _recover(self) -> None:
        conn = self._conn
        if conn is None:
            return
        if conn.closed or conn.broken:
            self.close()
            return
        try:
            if conn.info.transaction_status != 0:  # not idle: roll back whatever is left
                conn.execute("ROLLBACK")
        except Exception:  # noqa: BLE001
            self.close()

    # -- polling ------------------------------------------------------------------------------------

    def poll(self, force: bool = False) -> PollResult:
        """Check the change token and, only if it moved, read a new snapshot."""
        with self.lock:
            started = time.perf_counter()
            self.polls += 1
            events: list[str] = []
            try:
                changed, queries = self._poll(force, events)
                self.error = None
            except Exception as exc:  # every failure becomes a message; the source is retried
                changed, queries = True, 0
                self.error = self.backend.map_error(exc)
                self._token = None
                if isinstance(self.error, errors.SchemaChanged):
                    self._schema = None
                self._recover()
            cost = time.perf_counter() - started
            if changed and self.snapshot is not None and self.error is None:
                self.snapshot = replace(self.snapshot, cost=cost, queries=queries)
            more = self._more if self.error is None else 0.0
            return PollResult(changed, self.snapshot, self.error, cost, queries, tuple(events), more)

    def _read_token(self, conn: Any) -> tuple[Any, ...]:
        """The change token: `pg_current_snapshot()`, and for chunked tables their tallies of modified rows
        and the database's statistics reset time (one tiny statement; `postgres.counting`)."""
        parts = ["pg_current_snapshot()::text"]
        tallied = [t for t in self.table_trackers.values() if t.info.tally]
        parts += [tally_sql(t.info.oid) for t in tallied]
        if tallied:
            parts.append(f"pg_stat_get_db_stat_reset_time({int(tallied[0].info.db_oid)})::text")
        return tuple(fetch(conn, "SELECT " + ", ".join(parts))[0])

    def _tallies(self, token: tuple[Any, ...]) -> dict[str, int]:
        tallied = [name for name, t in self.table_trackers.items() if t.info.tally]
        return {name: int(v) for name, v in zip(tallied, token[1:])}

    def _poll(self, force: bool, events: list[str]) -> tuple[bool, int]:
        conn = self._session()
        token = self._read_token(conn)
        self.transactions += 1
        work = any(t.counts.dirty for t in self.table_trackers.values())
        moved = force or self.error is not None or self.snapshot is None or token != self._token
        if token != self._token:
            self._moved_at = time.monotonic()
        if not moved and not work:
            return False, 1
        if moved and not force and self.snapshot is not None and self._whole and not work:
            if time.monotonic() - self._read_at < READ_DUTY * self._read_cost:
                return False, 1  # changed, but read at the next poll once the last read has paid off
        began = time.monotonic()
        queries = 1
        reset = token[-1] if len(token) > 1 else None
        if reset is not None and self._stats_reset is not None and reset != self._stats_reset:
            events.append("statistics reset on the server: counts checked again")
            for tracker in self.table_trackers.values():
                tracker.accounted = None
        self._stats_reset = reset if reset is not None else self._stats_reset
        with self.backend.read_transaction(conn):
            snapshot = str(fetch(conn, "SELECT pg_current_snapshot()::text")[0][0])
            n, built = self._check(conn, events)
            queries += 1 + n
            if moved and not built:
                queries += self._locate(conn, snapshot, self._tallies(token))
        self.transactions += 1
        if built:
            # New chunked tables: their tallies must be read before the snapshot the first locate uses.
            token = self._read_token(conn)
            with self.backend.read_transaction(conn):
                snapshot = str(fetch(conn, "SELECT pg_current_snapshot()::text")[0][0])
                queries += 2 + self._locate(conn, snapshot, self._tallies(token))
            self.transactions += 2
        chunks = self._count(conn, quiet=not moved)
        queries += chunks
        self.transactions += chunks
        with self.backend.read_transaction(conn):
            queries += 1 + self._read_snapshot(conn, events)
        self.transactions += 1
        self._token = token
        self._read_at = time.monotonic()
        self._read_cost = self._read_at - began
        return True, queries

    def _locate(self, conn: Any, snapshot: str, tallies: dict[str, int]) -> int:
        queries = 0
        for name, tracker in list(self.table_trackers.items()):
            try:
                queries += tracker.locate(conn, snapshot, tallies.get(name))
            except Exception as exc:
                if not too_sparse(exc):
                    raise
                del self.table_trackers[name]
                self._whole[name] = None
        return queries

    def _count(self, conn: Any, *, quiet: bool) -> int:
        """Recount the changed chunks, each in a short READ ONLY transaction of its own."""
        queries, more = 0, 0.0
        for name, tracker in list(self.table_trackers.items()):
            first = not tracker.counts.complete
            before = tracker.counts.reads
            done = tracker.step(conn, FIRST_BUDGET if first else BUDGET)
            queries += tracker.counts.reads - before
            if tracker.counts.too_varied:  # a free-text status: one GROUP BY, as for a small table
                del self.table_trackers[name]
                self._whole[name] = None
                continue
            if not done:
                more = max(more, FIRST_DUTY if first else QUIET_DUTY if quiet else DUTY)
        self._more = more
        return queries

    @property
    def exact(self) -> bool:
        """The counts are confirmed exact: every chunked track has nothing left to recount and nothing
        unaccounted, and the change token has been still for `STATS_LAG` (a late statistics flush would
        have moved it). Tracks read with one GROUP BY are exact as of their read."""
        return all(t.exact for t in self.table_trackers.values()) and (
            not self.table_trackers or time.monotonic() - self._moved_at >= STATS_LAG
        )

    def _check(self, conn: Any, events: list[str]) -> tuple[int, bool]:
        """Inside the poll's first transaction: the tables are still the ones read (else the schema is
        read again), and each track is chunked or not. Returns (statements, whether trackers were made)."""
        queries = 0
        profile = self.profile
        if profile is not None and self._schema is not None:
            oids = self.backend.table_oids(conn, sorted({t.table for t in profile.tracks}))
            queries += 1
            if oids != {t: self._oids.get(t) for t in oids}:
                events.append("table replaced or dropped: schema read again")
                self._schema = None
        # A detected profile of tables that were all empty was a guess from column names: look again
        # once rows arrive (as `SnapshotReader._probe`; this runs only when the data changed).
        if (
            profile is not None
            and profile.origin == "detected"
            and self.snapshot is not None
            and not any(t.total for t in self.snapshot.tracks)
        ):
            self._schema = None
        if self.table_trackers:
            files = fetch(
                conn,
                "SELECT oid::bigint, relfilenode::bigint FROM pg_class WHERE oid IN ("
                + ", ".join(str(int(t.info.oid)) for t in self.table_trackers.values())
                + ")",
            )
            queries += 1
            now = {int(o): int(f) for o, f in files}
            for name, tracker in list(self.table_trackers.items()):
                if now.get(tracker.info.oid) != tracker.info.relfilenode:
                    events.append(f"{tracker.track.table}: rewritten (TRUNCATE, VACUUM FULL): counted again")
                    del self.table_trackers[name]
        if self._schema is None or self.profile is None:
            schema, oids_all = self.backend.read_schema(conn)
            queries += 1
            profile = choose_profile(schema, self._profiles, self._forced, partial(self.backend.detect, conn))
            if (
                self.profile is not None
                and self._oids
                and any(oids_all.get(t.table) != self._oids.get(t.table) for t in profile.tracks)
            ):
                self.tracker.reset()
            self._schema, self.profile = schema, profile
            self._oids = {t.table: oids_all.get(t.table) for t in profile.tracks}
            self.identity = self.backend.identity(conn, sorted(self._oids))
            queries += 1
            self._slow.clear()
            self.table_trackers.clear()
            self._whole.clear()
        assert profile is not None
        built = False
        for track in profile.tracks:
            if track.name in self.table_trackers or (track.name in self._whole and self._whole[track.name] is None):
                continue
            oid = self._oids.get(track.table)
            info = self._whole.get(track.name)
            if info is None and oid is not None:
                info = TableInfo(conn, oid, track)
                queries += 2
            if info is None or info.unsupported() is not None:
                self._whole[track.name] = None
                continue
            assert info.pk is not None
            k = info.pk
            (lo, hi) = fetch(conn, f"SELECT min({q(k)}), max({q(k)}) FROM {q(track.table)}")[0]
            queries += 1
            if lo is None or int(hi) - int(lo) < CHUNKED_FROM:
                self._whole[track.name] = info  # small for now: looked at again as it grows
                continue
            self._whole.pop(track.name, None)
            self.table_trackers[track.name] = TableTracker(track, info)
            built = True
        return queries, built

    def _read_snapshot(self, conn: Any, events: list[str]) -> int:
        now = self._clock()
        queries = 0
        profile = self.profile
        assert profile is not None
        tracks = []
        seeds: dict[str, tuple[float, ...]] = {}
        seeded = self.tracker.seeded
        for track in profile.tracks:
            table = self.table(track.table)
            tracker = self.table_trackers.get(track.name)
            counted = tracker.counts.counted() if tracker is not None else None
            metrics = (
                None
                if counted is not None
                else self._slow.get(Read.METRICS, track.name, partial(self.backend.read_metrics, conn, track))
            )
            stale = partial(self._stale, conn, track)
            snap, n = self.backend.read_track(conn, track, table, metrics, counted=counted, stale=stale)
            queries += n
            if track.name not in seeded and (counted is None or counted.progress >= 1.0):
                # A chunked track is seeded once its first pass is over, within the newest settled rows.
                seeds[track.name] = tuple(
                    self.backend.read_finished_times(
                        conn, track, table, now, SEED_HORIZON, counted.recent_range if counted else None
                    )
                )
                queries += 1
            tracks.append(snap)
        self.snapshot = Snapshot(self.path, now, self.identity or (0, 0), KIND, profile, tuple(tracks))
        # A server gives no file mtime: the job "last wrote" when the data we read last changed.
        self.tracker.update(self.snapshot, seeds)
        return queries

    def _stale(self, conn: Any, track: Track, peers: tuple[int, int] | None) -> float:
        """The derived stale threshold, re-read on the metrics' slower cadence."""
        from batchtop.core.backends.postgres.reads import derive_stale

        return self._slow.get(Read.STALE, track.name, partial(derive_stale, conn, track, peers))
