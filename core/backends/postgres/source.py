"""One PostgreSQL database being watched: the same surface as `batchtop.core.source.Source`.

A read-only session (see `conn`), a poll gated on the change token (`pg_current_snapshot()`: one tiny
statement when nothing changed), and the snapshot read in one `REPEATABLE READ READ ONLY` transaction,
so every statement of a poll sees the same commit, ended before the poll returns. The URL's password is
kept only in `url`; `path` and `name` (what screens, logs and the journal show) never carry it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from batchtop.core import errors
from batchtop.core.backends.base import ChangeToken
from batchtop.core.backends.postgres.backend import PostgresBackend
from batchtop.core.backends.postgres.conn import display_url
from batchtop.core.history import History
from batchtop.core.profiles.model import Profile, Track
from batchtop.core.schema import Schema, Table
from batchtop.core.snapshot import FailureRow, Snapshot
from batchtop.core.source import METRICS_EVERY, SEED_HORIZON, PollResult
from batchtop.core.timeutil import Clock, system_clock

T = TypeVar("T")
KIND = "postgresql"
#: A full read waits until this many times its own cost has passed since the last one: reads take at
#: most ~2.5 % of one core however often the job commits (a 10M-row count is not rerun on every commit).
READ_DUTY = 40.0
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
        self._token: ChangeToken | None = None
        self._schema: Schema | None = None
        self._oids: dict[str, int | None] = {}
        self._slow: dict[str, tuple[float, float, Any]] = {}
        #: When the last full read ended (monotonic) and what it cost (s).
        self._read_at, self._read_cost = 0.0, 0.0
        #: (database oid, crc of the tracks' table oids): what a write must still find.
        self.identity: tuple[int, int] | None = None
        self.wal: bool | None = None
        self.journal_mode: str | None = KIND
        self.profile: Profile | None = None
        self.snapshot: Snapshot | None = None
        self.error: errors.BatchtopError | None = None
        self.histories: dict[str, History] = {}
        self.last_write: float | None = None
        self.last_change: float | None = None
        self.polls = 0

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
        return self.last_write

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
            return PollResult(changed, self.snapshot, self.error, cost, queries, tuple(events))

    def _poll(self, force: bool, events: list[str]) -> tuple[bool, int]:
        conn = self._session()
        token = self.backend.change_token(conn)
        if not force and self.error is None and self.snapshot is not None:
            if token == self._token:
                return False, 1
            if time.monotonic() - self._read_at < READ_DUTY * self._read_cost:
                return False, 1  # changed, but read at the next poll once the last read has paid off
        began = time.monotonic()
        with self.backend.read_transaction(conn):
            queries = 1 + self._read_snapshot(conn, events)
        self._token = token
        self._read_at = time.monotonic()
        self._read_cost = self._read_at - began
        return True, queries

    def _read_snapshot(self, conn: Any, events: list[str]) -> int:
        now = self._clock()
        queries = 0
        profile = self.profile
        if profile is not None and self._schema is not None:
            oids = self.backend.table_oids(conn, sorted({t.table for t in profile.tracks}))
            queries += 1
            if oids != {t: self._oids.get(t) for t in oids}:
                events.append("table replaced or dropped: schema read again")
                self._schema = None
        # A detected profile of tables that were all empty was a guess from column names: look again
        # once rows arrive (as `Source._probe`; this runs only when the data changed).
        if (
            profile is not None
            and profile.origin == "detected"
            and self.snapshot is not None
            and not any(t.total for t in self.snapshot.tracks)
        ):
            self._schema = None
        if self._schema is None or self.profile is None:
            schema, oids_all = self.backend.read_schema(conn)
            queries += 1
            profile = choose_profile(schema, self._profiles, self._forced, partial(self.backend.detect, conn))
            if (
                self.profile is not None
                and self._oids
                and any(oids_all.get(t.table) != self._oids.get(t.table) for t in profile.tracks)
            ):
                self.histories.clear()
            self._schema, self.profile = schema, profile
            self._oids = {t.table: oids_all.get(t.table) for t in profile.tracks}
            self.identity = self.backend.identity(conn, sorted(self._oids))
            queries += 1
            self._slow.clear()
        assert profile is not None
        tracks = []
        for track in profile.tracks:
            table = self.table(track.table)
            metrics = self._cached(f"metrics:{track.name}", partial(self.backend.read_metrics, conn, track))
            snap, n = self.backend.read_track(conn, track, table, metrics)
            queries += n
            history = self.histories.get(track.name)
            if history is None:
                history = self.histories[track.name] = History()
                history.seed(self.backend.read_finished_times(conn, track, table, now, SEED_HORIZON), now)
                queries += 1
            history.record(now, snap.settled)
            tracks.append(snap)
        if self.snapshot is None:
            self.last_change = max((t.last_finished for t in tracks if t.last_finished), default=now)
        elif [(t.counts, t.last_finished) for t in self.snapshot.tracks] != [
            (t.counts, t.last_finished) for t in tracks
        ]:
            self.last_change = now
        # A server gives no file mtime: the job "last wrote" when the data we read last changed.
        self.last_write = self.last_change
        self.snapshot = Snapshot(self.path, now, self.identity or (0, 0), KIND, profile, tuple(tracks))
        return queries

    def _cached(self, key: str, read: Callable[[], T], floor: float = METRICS_EVERY) -> T:
        """Metric totals (a full scan) are re-read at most every `floor` s and every 20x their cost."""
        cached = self._slow.get(key)
        tick = time.monotonic()
        if cached is not None and tick - cached[0] < max(floor, 20 * cached[1]):
            return cached[2]
        value = read()
        self._slow[key] = (tick, time.monotonic() - tick, value)
        return value
