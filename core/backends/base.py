"""The typed protocol a storage backend implements: what the monitor and the actions need, nothing more.

A backend knows one kind of database. It opens read-only sessions, answers a cheap change token (equal
tokens guarantee that nothing committed in between, so an unchanged poll runs nothing else), reads the
schema and the snapshot aggregates in one short read-only transaction, previews and applies the
conditional, journaled writes of `batchtop.core.actions` (and their undo), reads what the item, tables
and journal views show (one item, a page of any table, the table list, a cohort), detects tables no
profile describes, and maps its driver's errors to `batchtop.core.errors`. A source (`Source`,
`PgSource`) drives a backend: gate, read, keep history.
Profiles, snapshots, history, status and screens stay backend-agnostic.

On a source it also pages failures, compiles filters, runs keyset scans, builds the export's columns,
the statements a plan's write runs (one builder, shown by the preview and run by apply) and names its
error-group cache. `SourceLike` is what core needs of a source, whatever its backend.

SQLite implements the protocol as `backends.sqlite.backend.SqliteBackend` (its read-only connection and
the `data_version` gate are still in `core.source` until the reader split moves them to the backend),
PostgreSQL as `backends.postgres.backend.PostgresBackend`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar, runtime_checkable

from batchtop.core.backends.statement import Statement
from batchtop.core.cohort import Cohort
from batchtop.core.errors import BatchtopError
from batchtop.core.items import ItemDetail, TableInfo, TablePage, ValueChunk
from batchtop.core.journal import Entry, Journal
from batchtop.core.profiles.model import Profile, RawValue, Track
from batchtop.core.schema import Schema, Table
from batchtop.core.snapshot import FailureRow, MetricValue, TrackSnapshot

T = TypeVar("T")

#: A value compared between polls: equal means "nothing was committed since".
ChangeToken = Hashable
#: The backend's own read-only connection (a driver object): only that backend's methods use it.
ReadSession = Any
#: What a write must still find: SQLite the file's (st_dev, st_ino); PostgreSQL (database oid, a checksum
#: of the tables' oids). A replaced file or a dropped-and-recreated table is never written.
Identity = tuple[int, int]


@runtime_checkable
class Backend(Protocol):
    """One kind of database (one database), as a source and the actions use it."""

    #: "sqlite" or "postgresql".
    kind: str
    #: Where the data is, safe to show, log and journal (a URL without its password).
    display: str

    def open_read(self) -> ReadSession:
        """A read-only session: refuses writes, short statement timeout, no transaction left open."""
        ...

    def change_token(self, session: ReadSession) -> ChangeToken:
        """A cheap value that changes whenever anything the snapshot reads may have changed."""
        ...

    def read_transaction(self, session: ReadSession) -> AbstractContextManager[None]:
        """One short read-only transaction: every statement of a poll sees the same commit."""
        ...

    def read_schema(self, session: ReadSession) -> tuple[Schema, dict[str, int]]:
        """Tables, columns and indexes (for profile matching), and an identity number per table."""
        ...

    def identity(self, session: ReadSession, tables: list[str]) -> Identity:
        """The identity of the database and of these tables, now."""
        ...

    def read_track(
        self, session: ReadSession, track: Track, table: Table | None, metrics: tuple[MetricValue, ...] | None
    ) -> tuple[TrackSnapshot, int]:
        """Counts, in-flight starts and newest failures of one track (metrics given: reused); and the
        number of statements run."""
        ...

    def read_metrics(self, session: ReadSession, track: Track) -> tuple[MetricValue, ...]:
        """Metric totals of a track (a full scan: the source reads them on a slower cadence)."""
        ...

    def read_failures(
        self,
        session: ReadSession,
        track: Track,
        table: Table | None,
        *,
        limit: int,
        before: RawValue = None,
        after: RawValue = None,
        search: str | None = None,
        keys: Sequence[RawValue] | None = None,
    ) -> list[FailureRow]:
        """A keyset page of failed items, newest first: older than `before`, or the nearest newer than
        `after`; only those matching `search`, or only `keys`."""
        ...

    def read_finished_times(
        self, session: ReadSession, track: Track, table: Table | None, now: float, horizon: float
    ) -> list[float]:
        """Completion times of the last `horizon` seconds (seeds a track's history)."""
        ...

    def plan(
        self,
        source: SourceLike,
        track: str | Track | None,
        action: str | None,
        target: Any,
        *,
        read_only: bool = False,
        now: float | None = None,
    ) -> Any:
        """Preview an action (`batchtop.core.preview.Plan`): count, samples, the exact condition."""
        ...

    def apply(
        self,
        plan: Any,
        *,
        journal: Journal,
        expected_identity: Identity | None = None,
        busy_timeout: float = 1.5,
        read_only: bool = False,
        source: SourceLike | None = None,
    ) -> Any:
        """Write a plan in one short transaction, conditional on the state seen, journaled before it
        commits; returns a `batchtop.core.actions.Outcome` with the true affected set."""
        ...

    def undo(
        self,
        entry: Entry,
        journal: Journal,
        *,
        reader: SourceLike,
        own: bool = False,
        track: Track | None = None,
        busy_timeout: float = 1.5,
    ) -> Any:
        """Restore the before-images of rows nobody moved since (`batchtop.core.undo_outcome.UndoOutcome`);
        `reader` is the source the profile is read from (`own`: the app's, told of the write)."""
        ...

    def preview_undo(self, session: ReadSession, entry: Entry, identity_now: Identity | None = None) -> Any:
        """What an undo of `entry` would restore now (`batchtop.core.undo_outcome.UndoPreview`), read-only."""
        ...

    def item_detail(
        self, session: ReadSession, track: Track, key: RawValue, *, secret_tables: Sequence[str] = ()
    ) -> ItemDetail:
        """Every non-secret column of one item as previews (`batchtop.core.items.item_detail`)."""
        ...

    def read_value(
        self,
        session: ReadSession,
        track: Track,
        key: RawValue,
        column: str,
        offset: int,
        size: int,
        *,
        secret_tables: Sequence[str] = (),
    ) -> ValueChunk | None:
        """One page of a long value, redacted (`batchtop.core.items.read_value`); None: the row is gone."""
        ...

    def list_tables(self, session: ReadSession, secret_tables: Sequence[str] = ()) -> tuple[TableInfo, ...]:
        """Every table with its columns and a row count that never scans a big table."""
        ...

    def table_page(
        self,
        session: ReadSession,
        table: str,
        *,
        after_rowid: RawValue = None,
        limit: int = 100,
        secret_tables: Sequence[str] = (),
    ) -> TablePage:
        """A keyset page of any table, previews only, secret columns never read."""
        ...

    def cohort(self, session: ReadSession, track: Track, entry: Entry) -> Cohort:
        """Where the rows of a journaled action are now ("did the fix work?", `batchtop.core.cohort`)."""
        ...

    def detect(self, session: ReadSession, schema: Schema) -> Profile | None:
        """A profile detected from the schema and bounded samples, for tables no profile describes."""
        ...

    def map_error(self, exc: BaseException) -> BatchtopError:
        """A specific, sanitised error for anything the driver raised (credentials never included)."""
        ...

    # -- on a source (`db`: the source, whose `run` each statement goes through) ------------------

    def failure_page(self, db: Any, track: Track, *, before: RawValue = None, after: RawValue = None,
                     limit: int = 50, search: str | None = None) -> list[FailureRow]:
        """Failed items next to an anchor, newest first (`search`: whose error or label contains it)."""
        ...

    def group_items(self, db: Any, track: Track, signature_: str, *, before: RawValue = None,
                    after: RawValue = None, limit: int = 50, members: Sequence[RawValue] | None = None,
                    bounds: tuple[RawValue, RawValue] | None = None) -> list[FailureRow]:
        """A keyset page of one error group's failed items, newest first."""
        ...

    def read_keys(self, db: Any, track: Track, keys: Sequence[RawValue]) -> list[FailureRow]:
        """The failed items with these keys, newest first."""
        ...

    def compile_filter(self, db: Any, track: Track, node: Any, *, now: float, path: str | None = None,
                       text: str = "", inline: bool = False) -> tuple[str, dict[str, Any]]:
        """A parsed filter's condition and parameters in this backend's SQL (`core.filter_sql`)."""
        ...

    def group_cache_kind(self) -> type:
        """The error-group cache class for this backend's sources (`core.groups.GroupCache` or a subclass)."""
        ...

    def key_expr(self, track: Track) -> str:
        """The track's key in this backend's SQL (keyset scans)."""
        ...

    def state_predicate(self, track: Track, states: Sequence[str]) -> str:
        """Rows in any of the canonical `states`, in this backend's SQL."""
        ...

    def anchor(self, name: str, value: Any) -> str:
        """A keyset anchor in a statement: a named parameter, or a literal."""
        ...

    def read_rows(self, run: Any, sql: str, params: dict[str, Any]) -> list[tuple]:
        """Every row of one statement of a keyset scan, through `run`."""
        ...

    def export_select(self, db: Any, track: Track, secret: Callable[[Track, str | None], bool], label_chars: int,
                      error_chars: int) -> str:
        """The export's SELECT list for `track` (key first)."""
        ...

    def plan_statements(self, plan: Any) -> list[Statement]:
        """Every statement `apply` runs for `plan`, in order: the one builder the write runs."""
        ...


class SourceLike(Protocol):
    """What core needs of a watched source, whatever its backend (`core.source.Source`,
    `backends.postgres.source.PgSource`): where it is, what it read, its backend, and `run`."""

    lock: Any

    @property
    def path(self) -> str: ...

    @property
    def backend(self) -> Backend: ...

    @property
    def identity(self) -> tuple[int, int] | None: ...

    @property
    def profile(self) -> Profile | None: ...

    @property
    def error(self) -> BatchtopError | None: ...

    @property
    def is_open(self) -> bool: ...

    def run(self, reader: Callable[[Any], T]) -> T:
        """Run `reader(session)` in the source's short read-only transaction; errors as BatchtopError."""
        ...

    def poll(self, force: bool = False) -> Any:
        """Check for changes and, only if there are any, read a new snapshot (a `PollResult`)."""
        ...

    def close(self) -> None: ...
