"""The typed protocol a storage backend implements: what the monitor and the actions need, nothing more.

A backend knows one kind of database. It opens read-only sessions, answers a cheap change token (equal
tokens guarantee that nothing committed in between, so an unchanged poll runs nothing else), reads the
schema and the snapshot aggregates in one short read-only transaction, runs the conditional, journaled
writes of `batchtop.core.actions`, and maps its driver's errors to `batchtop.core.errors`. Profiles,
snapshots, history, status and screens stay backend-agnostic.

SQLite (`batchtop.core.source`, `batchtop.core.write`) already has each part: read-only `mode=ro`
connection, `PRAGMA data_version` + file identity as the change token, `read_schema`, `snapshot.read_track`,
`write.WriteSession`, `errors.map_sqlite_error`. PostgreSQL implements them in `backends/postgres/`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar, runtime_checkable

from batchtop.core.errors import BatchtopError
from batchtop.core.journal import Journal
from batchtop.core.profiles.model import Profile, RawValue, Track
from batchtop.core.schema import Schema
from batchtop.core.snapshot import FailureRow, MetricValue, TrackSnapshot

T = TypeVar("T")
#: A value compared between polls: equal means "nothing was committed since".
ChangeToken = Hashable


class ReadSession(Protocol):
    """A read-only connection of one source (used by one thread at a time)."""

    def fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple]:
        """Run one statement and fetch every row (no cursor outlives the call)."""
        ...

    def close(self) -> None: ...


class Dialect(Protocol):
    """SQL text for the reads and writes of a track, in the backend's dialect."""

    def counts_sql(self, track: Track) -> str:
        """Rows per raw state value."""
        ...

    def state_predicate(self, track: Track, states: Sequence[str]) -> str:
        """A condition true for rows in any of the canonical `states`."""
        ...

    def failures_sql(
        self, track: Track, *, limit: int, before: RawValue = None, search: str | None = None
    ) -> str:
        """A keyset page of failed rows, newest key first."""
        ...

    def update_sql(self, track: Track, assign: Sequence[tuple[str, RawValue]], where: str) -> str:
        """`UPDATE ... SET ... WHERE where RETURNING key`: the rows really written."""
        ...


class WriteSession(Protocol):
    """One short write transaction on a fresh read-write connection, checked against an identity."""

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a statement inside the transaction and fetch every row (RETURNING included)."""
        ...

    def commit(
        self, journal: Journal, record: dict[str, Any], verify: Callable[[Any], bool | None]
    ) -> list[str]:
        """Journal `record` (fsynced) and COMMIT; a failed COMMIT marks the record aborted."""
        ...


@runtime_checkable
class Backend(Protocol):
    """One kind of database, as the monitor and the actions use it."""

    #: "sqlite" or "postgresql".
    kind: str
    dialect: Dialect

    def open_read(self) -> ReadSession:
        """A read-only session: refuses writes, short statement timeout, no transaction left open."""
        ...

    def change_token(self, session: ReadSession) -> ChangeToken:
        """A cheap value that changes whenever anything the snapshot reads may have changed."""
        ...

    def read_schema(self, session: ReadSession) -> Schema:
        """Tables, columns and indexes (for profile matching)."""
        ...

    def read_transaction(self, session: ReadSession) -> AbstractContextManager[None]:
        """One short read-only transaction: every statement of a poll sees the same commit."""
        ...

    def identity(self, session: ReadSession, profile: Profile) -> tuple[int, int]:
        """What a write must still find (SQLite: the file's (st_dev, st_ino); PostgreSQL: database and
        table oids): a replaced file or a dropped-and-recreated table is never written."""
        ...

    def read_track(self, session: ReadSession, track: Track, now: float) -> tuple[TrackSnapshot, int]:
        """Counts, metrics, in-flight starts and newest failures of one track; and the statements run."""
        ...

    def read_failures(
        self,
        session: ReadSession,
        track: Track,
        *,
        limit: int,
        before: RawValue = None,
        search: str | None = None,
    ) -> list[FailureRow]:
        """A page of failed items, newest first."""
        ...

    def read_metrics(self, session: ReadSession, track: Track) -> tuple[MetricValue, ...]:
        """Metric totals of a track (a full scan: read on a slower cadence)."""
        ...

    def write(self, identity: tuple[int, int], *, timeout: float) -> AbstractContextManager[WriteSession]:
        """A write transaction, refused unless the identity still holds."""
        ...

    def map_error(self, exc: BaseException) -> BatchtopError:
        """A specific, sanitised error for anything the driver raised (credentials never included)."""
        ...
