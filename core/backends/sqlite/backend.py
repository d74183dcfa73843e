"""`SqliteBackend`: the backend protocol (`batchtop.core.backends.base.Backend`) on one SQLite file.

A thin object over the modules that do the work: `sql` (SQL built from profiles), `reads` (the snapshot
reads), `schema`, `counting` (chunked counts) and `waltail` (which rows a WAL commit touched), `items`
(the item and tables views), `cohort`, `failures` (failure pages and error groups), `filter_sql` (the
filter language in SQLite's SQL), `sample` (detection), `plan` / `write_session` / `write_sql` / `write`
/ `undo` (actions), `errors` (the one mapper of `sqlite3` errors). `core.source.Source` drives it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from batchtop.core import errors
from batchtop.core.backends.base import ChangeToken, Identity, ReadSession
from batchtop.core.backends.sqlite import failures, filter_sql, items, reads
from batchtop.core.backends.sqlite.errors import map_sqlite_error
from batchtop.core.backends.sqlite.sample import SAMPLER
from batchtop.core.backends.sqlite.schema import read_schema
from batchtop.core.backends.statement import Statement
from batchtop.core.cohort import Cohort
from batchtop.core.items import ItemDetail, TableInfo, TablePage, ValueChunk
from batchtop.core.journal import Entry, Journal
from batchtop.core.profiles.detect import detect
from batchtop.core.profiles.model import Profile, RawValue, Track
from batchtop.core.schema import Schema, Table
from batchtop.core.snapshot import FailureRow, MetricValue, TrackSnapshot


class SqliteBackend:
    """One SQLite database file, read through read-only connections (`connect`: `core.source.connect_ro`)."""

    kind = "sqlite"

    def __init__(self, path: str, connect: Callable[[str], sqlite3.Connection] | None = None) -> None:
        self.path = path
        self.display = path
        self._connect = connect

    # -- reads --------------------------------------------------------------------------------------

    def open_read(self) -> ReadSession:
        if self._connect is None:
            raise errors.SourceError("no read-only connector given")
        return self._connect(self.path)

    def change_token(self, session: ReadSession) -> ChangeToken:
        """`PRAGMA data_version` and the file's identity: equal means nobody committed in between."""
        (version,) = reads.fetch(session, "PRAGMA data_version")[0]
        st = os.stat(self.path)
        return (int(version), st.st_dev, st.st_ino)

    @contextmanager
    def read_transaction(self, session: ReadSession) -> Iterator[None]:
        """One short read transaction, always ended before returning."""
        session.execute("BEGIN")
        try:
            yield
        finally:
            if session.in_transaction:
                session.execute("ROLLBACK")

    def read_schema(self, session: ReadSession) -> tuple[Schema, dict[str, int]]:
        return read_schema(session), {}

    def identity(self, session: ReadSession, tables: list[str]) -> Identity:
        st = os.stat(self.path)
        return (st.st_dev, st.st_ino)

    def read_track(
        self, session: ReadSession, track: Track, table: Table | None, metrics: tuple[MetricValue, ...] | None
    ) -> tuple[TrackSnapshot, int]:
        return reads.read_track(session, track, time.time(), 0, metrics)

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
        return reads.read_failures(session, track, limit=limit, before=before, after=after, search=search,
                                   keys=keys)

    def read_finished_times(
        self, session: ReadSession, track: Track, table: Table | None, now: float, horizon: float
    ) -> list[float]:
        return reads.read_finished_times(session, track, now, horizon)

    # -- the item, tables and journal views ---------------------------------------------------------

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
        return items.table_page(session, table, after_rowid=after_rowid, limit=limit, secret_tables=secret_tables)

    def cohort(self, session: ReadSession, track: Track, entry: Entry) -> Cohort:
        from batchtop.core.backends.sqlite.cohort import cohort

        return cohort(session, track, entry)

    def detect(self, session: ReadSession, schema: Schema) -> Profile | None:
        return detect(session, schema, SAMPLER)

    def map_error(self, exc: BaseException) -> errors.BatchtopError:
        return map_sqlite_error(exc, self.path)

    # -- failure pages, filters, scans, error groups and exports (on a source: `db`) ---------------

    def failure_page(self, db: Any, track: Track, *, before: RawValue = None, after: RawValue = None,
                     limit: int = 50, search: str | None = None) -> list[FailureRow]:
        if search:
            return failures.search_failures(db, track, search, before=before, after=after, limit=limit)
        return failures.failure_page(db, track, before=before, after=after, limit=limit)

    def group_items(self, db: Any, track: Track, signature_: str, *, before: RawValue = None,
                    after: RawValue = None, limit: int = 50, members: Sequence[RawValue] | None = None,
                    bounds: tuple[RawValue, RawValue] | None = None) -> list[FailureRow]:
        return failures.group_items(db, track, signature_, before=before, after=after, limit=limit,
                                    members=members, bounds=bounds)

    def read_keys(self, db: Any, track: Track, keys: Sequence[RawValue]) -> list[FailureRow]:
        return failures.read_keys(db, track, keys)

    def compile_filter(self, db: Any, track: Track, node: Any, *, now: float, path: str | None = None,
                       text: str = "", inline: bool = False) -> tuple[str, dict[str, Any]]:
        return filter_sql.compile_for(db, track, node, now=now, path=path, text=text, inline=inline)

    def group_cache_kind(self) -> type:
        from batchtop.core.groups import GroupCache

        return GroupCache

    def key_expr(self, track: Track) -> str:
        return filter_sql.key_expr(track)

    def state_predicate(self, track: Track, states: Sequence[str]) -> str:
        return filter_sql.state_predicate(track, states)

    def anchor(self, name: str, value: Any) -> str:
        return filter_sql.anchor(name, value)

    def read_rows(self, run: Any, sql: str, params: dict[str, Any]) -> list[tuple]:
        return filter_sql.read_rows(run, sql, params)

    def export_select(self, db: Any, track: Track, secret: Callable[[Track, str | None], bool], label_chars: int,
                      error_chars: int) -> str:
        from batchtop.core.backends.sqlite.export import select

        return select(track, secret, label_chars, error_chars)

    # -- actions ------------------------------------------------------------------------------------

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
        from batchtop.core.backends.sqlite.plan import plan

        return plan(source, track, action, target, read_only=read_only, now=now)

    def plan_statements(self, plan: Any) -> list[Statement]:
        """Every statement `apply` runs for `plan`, in order (one builder: `write_sql`)."""
        from batchtop.core.backends.sqlite import write_sql

        return write_sql.write_statements(plan.track, plan.action, list(plan.keys), plan.condition, plan.cap,
                                          plan.by_condition)

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
        from batchtop.core.backends.sqlite.write import apply

        return apply(plan, journal=journal, expected_identity=expected_identity, busy_timeout=busy_timeout,
                     read_only=read_only, source=source)

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
        from batchtop.core.backends.sqlite.undo import undo_entry

        return undo_entry(entry, journal, source=reader if own else None, track=track, busy_timeout=busy_timeout)

    def preview_undo(self, session: ReadSession, entry: Entry, identity_now: Identity | None = None) -> Any:
        from batchtop.core.backends.sqlite.undo import preview_undo

        return preview_undo(session, entry, identity_now)
