"""`PostgresBackend`: the backend protocol (`batchtop.core.backends.base.Backend`) on PostgreSQL.

A thin object over the modules that do the work: `conn` (sessions, change token, errors), `reads`
(schema and snapshot reads), `items` (the item and tables views), `cohort`, `sample` (detection of
tables no profile describes), `plan` / `write` / `undo` (actions). `PgSource` drives it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from batchtop.core import errors
from batchtop.core.backends.base import ChangeToken, Identity, ReadSession
from batchtop.core.backends.postgres import conn, items, reads
from batchtop.core.backends.statement import Statement
from batchtop.core.backends.urls import display_url
from batchtop.core.cohort import Cohort
from batchtop.core.counting import Counted
from batchtop.core.items import ItemDetail, TableInfo, TablePage, ValueChunk
from batchtop.core.journal import Entry, Journal
from batchtop.core.profiles.model import Profile, RawValue, Track
from batchtop.core.schema import Schema, Table
from batchtop.core.snapshot import FailureRow, MetricValue, TrackSnapshot


class PostgresBackend:
    """One PostgreSQL database, named by a `postgresql://` URL (which may hold a password: never shown)."""

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.display = display_url(url)

    def open_read(self) -> ReadSession:
        return conn.connect(self.url)

    def change_token(self, session: ReadSession) -> ChangeToken:
        return conn.change_token(session)

    @contextmanager
    def read_transaction(self, session: ReadSession) -> Iterator[None]:
        """One short REPEATABLE READ READ ONLY transaction, always ended before returning."""
        session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        finally:
            if not session.closed:
                session.execute("ROLLBACK")

    def read_schema(self, session: ReadSession) -> tuple[Schema, dict[str, int]]:
        return reads.read_schema(session)

    def table_oids(self, session: ReadSession, tables: list[str]) -> dict[str, int | None]:
        """Each table's oid now (None: gone): one statement, to notice a dropped and recreated table."""
        return reads.table_oids(session, tables)

    def identity(self, session: ReadSession, tables: list[str]) -> Identity:
        from batchtop.core.backends.postgres.write import identity

        return identity(session, tables)

    def read_track(
        self,
        session: ReadSession,
        track: Track,
        table: Table | None,
        metrics: tuple[MetricValue, ...] | None,
        *,
        counted: Counted | None = None,
        stale: Callable[[tuple[int, int] | None], float] | None = None,
    ) -> tuple[TrackSnapshot, int]:
        return reads.read_track(session, track, table, metrics, counted=counted, stale=stale)

    def read_metrics(self, session: ReadSession, track: Track) -> tuple[MetricValue, ...]:
        return reads.read_metrics(session, track)

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
        return reads.read_failures(
            session,
            track,
            table,
            limit=limit,
            before=before,
            after=after,
            search=search,
            keys=list(keys) if keys is not None else None,
        )

    def read_finished_times(
        self,
        session: ReadSession,
        track: Track,
        table: Table | None,
        now: float,
        horizon: float,
        key_range: tuple[int, int] | None = None,
    ) -> list[float]:
        return reads.read_finished_times(session, track, table, now, horizon, key_range)

    def plan(
        self,
        source: Any,
        track: str | Track | None,
        action: str | None,
        target: Any,
        *,
        read_only: bool = False,
        now: float | None = None,
    ) -> Any:
        from batchtop.core.backends.postgres.plan import plan

        return plan(source, track, action, target, read_only=read_only, now=now)

    def apply(
        self,
        plan: Any,
        *,
        journal: Journal,
        expected_identity: Identity | None = None,
        busy_timeout: float = 1.5,
        read_only: bool = False,
        source: Any = None,
    ) -> Any:
        from batchtop.core.backends.postgres.write import apply

        return apply(
            plan,
            journal=journal,
            expected_identity=expected_identity,
            busy_timeout=busy_timeout,
            read_only=read_only,
            source=source,
        )

    def undo(
        self,
        entry: Entry,
        journal: Journal,
        *,
        reader: Any,
        own: bool = False,
        track: Track | None = None,
        busy_timeout: float = 1.5,
    ) -> Any:
        from batchtop.core.backends.postgres.undo import undo_entry

        return undo_entry(entry, journal, reader=reader, own=own, track=track, busy_timeout=busy_timeout)

    def preview_undo(self, session: ReadSession, entry: Entry, identity_now: Identity | None = None) -> Any:
        """What an undo of `entry` would restore now (`batchtop.core.undo_outcome.UndoPreview`), read-only."""
        from batchtop.core.backends.postgres.undo import preview_undo

        return preview_undo(session, entry, identity_now)

    def item_detail(
        self, session: ReadSession, track: Track, key: RawValue, *, secret_tables: Sequence[str] = ()
    ) -> ItemDetail:
        return items.item_detail(session, track, key, secret_tables=secret_tables)

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
        return items.read_value(session, track, key, column, offset, size, secret_tables=secret_tables)

    def list_tables(self, session: ReadSession, secret_tables: Sequence[str] = ()) -> tuple[TableInfo, ...]:
        return items.list_tables(session, secret_tables)

    def table_page(
        self,
        session: ReadSession,
        table: str,
        *,
        after_rowid: RawValue = None,
        limit: int = 100,
        secret_tables: Sequence[str] = (),
    ) -> TablePage:
        return items.table_page(
            session, table, after_rowid=after_rowid, limit=limit, secret_tables=secret_tables
        )

    def cohort(self, session: ReadSession, track: Track, entry: Entry) -> Cohort:
        from batchtop.core.backends.postgres.cohort import cohort

        return cohort(session, track, entry)

    def detect(self, session: ReadSession, schema: Schema) -> Profile | None:
        from batchtop.core.backends.postgres.sample import SAMPLER
        from batchtop.core.profiles.detect import detect

        return detect(session, schema, sampler=SAMPLER)

    def map_error(self, exc: BaseException) -> errors.BatchtopError:
        return conn.map_error(exc, self.url)

    # -- failure pages, filters, scans, error groups and exports (on a source: `db`) ---------------

    def failure_page(self, db: Any, track: Track, *, before: RawValue = None, after: RawValue = None,
                     limit: int = 50, search: str | None = None) -> list[FailureRow]:
        from batchtop.core.backends.postgres.failures import failure_page

        return failure_page(db, track, before=before, after=after, limit=limit, search=search)

    def group_items(self, db: Any, track: Track, signature_: str, *, before: RawValue = None,
                    after: RawValue = None, limit: int = 50, members: Sequence[RawValue] | None = None,
                    bounds: tuple[RawValue, RawValue] | None = None) -> list[FailureRow]:
        from batchtop.core.backends.postgres.failures import group_items

        return group_items(db, track, signature_, before=before, after=after, limit=limit, members=members)

    def read_keys(self, db: Any, track: Track, keys: Sequence[RawValue]) -> list[FailureRow]:
        from batchtop.core.backends.postgres.failures import read_keys

        return read_keys(db, track, keys)

    def compile_filter(self, db: Any, track: Track, node: Any, *, now: float, path: str | None = None,
                       text: str = "", inline: bool = False) -> tuple[str, dict[str, Any]]:
        """PostgreSQL's condition (always literals: `inline` changes nothing); `sig:` reads the errors."""
        from batchtop.core.backends.postgres.filter_sql import compile_for

        return compile_for(db, track, node, now=now, path=path, text=text)

    def group_cache_kind(self) -> type:
        from batchtop.core.backends.postgres.failures import PgGroupCache

        return PgGroupCache

    def key_expr(self, track: Track) -> str:
        from batchtop.core.backends.postgres import sql

        return sql.key_expr(track)

    def state_predicate(self, track: Track, states: Sequence[str]) -> str:
        from batchtop.core.backends.postgres import sql

        return sql.state_predicate(track, states)

    def anchor(self, name: str, value: Any) -> str:
        """A keyset anchor: a literal (PostgreSQL conditions carry no parameters)."""
        from batchtop.core.backends.postgres import sql

        return sql.lit(value)

    def read_rows(self, run: Any, sql: str, params: dict[str, Any]) -> list[tuple]:
        return run(lambda session: conn.fetch(session, sql))

    def export_select(self, db: Any, track: Track, secret: Callable[[Track, str | None], bool], label_chars: int,
                      error_chars: int) -> str:
        from batchtop.core.backends.postgres.export import select

        return select(track, db.table(track.table), secret, label_chars, error_chars)

    def plan_statements(self, plan: Any) -> list[Statement]:
        """Every statement `apply` runs for `plan`, in order (one builder: `write_sql`)."""
        from batchtop.core.backends.postgres.write_sql import plan_statements

        return plan_statements(plan)
