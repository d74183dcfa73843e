"""The one way batchtop writes to a watched SQLite file: a short, conditional, journaled transaction.

hazards.md rules 6-8, as code:

- a separate connection opened by `file:` URI with `mode=rw` (a missing file is never created),
  `isolation_level=None`, a busy timeout of 0.5-2 s, and `BEGIN IMMEDIATE` (so a busy job gives `Busy`
  at once rather than a failure half-way);
- the file identity `(st_dev, st_ino)` is checked before connecting and again after the write lock is
  held, and must equal the identity the person saw; otherwise nothing is written;
- the journal record is fsynced before COMMIT; when the journal cannot be written the transaction is
  rolled back, and when COMMIT fails the record is marked aborted;
- the caller's source lock is held for the whole write, so a poll never `open()`s the file meanwhile,
  and the source's read connection is closed for it (see `quiet`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from batchtop.core.backends.sqlite.errors import map_sqlite_error
from batchtop.core.backends.sqlite.reader import uri_for
from batchtop.core.backends.sqlite.reads import fetch
from batchtop.core.backends.sqlite.sql import key_expr, lit, q, raw_expr
from batchtop.core.errors import (
    ActionError,
    FileMissing,
    FileReplaced,
    JournalError,
    WriteFailed,
)
from batchtop.core.journal import Journal, RawText, Record, norm, text_factory
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.signature import cached_signature
from batchtop.core.snapshot import classify

#: Busy timeout bounds (s): long enough to ride out one job commit, short enough to answer within ~2 s.
BUSY_MIN, BUSY_DEFAULT, BUSY_MAX = 0.5, 1.5, 2.0
#: Keys per IN list, and literal characters per statement (SQLite statement length limits).
CHUNK_KEYS, CHUNK_CHARS = 500, 200_000
#: Left-alone rows whose current state is looked up for the report.
DESCRIBE_LIMIT = 1000

REPLACED = "file was replaced since the preview; nothing written"
READ_ONLY = "read-only mode: actions are disabled"


@dataclass(frozen=True)
class RowState:
    """Where one row is now (for rows an action or undo left alone)."""

    key: RawValue
    #: Canonical state, or "missing" when the row is gone.
    state: str
    #: Raw value as shown ("running", "pending (started)").
    raw: str

    @property
    def label(self) -> str:
        """'running', or 'done (completed)' when the raw value says more than the state."""
        return self.state if self.raw in ("", self.state) else f"{self.state} ({self.raw})"


def describe_states(rows: Sequence[RowState], total: int | None = None) -> str:
    """'running' when all agree, else 'running: 2, done (completed): 1' (counts of a sample say so)."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.label] = counts.get(r.label, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    text = ", ".join(f"{label}: {n}" for label, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return text + (f" in the first {len(rows)}" if total is not None and total > len(rows) else "")


# -- SQL pieces --------------------------------------------------------------------------------------


def sql_lit(value: Any) -> str:
    """An SQL literal that reproduces `value` exactly (TEXT that is not UTF-8 included)."""
    if isinstance(value, RawText):
        return f"CAST(X'{value.hex()}' AS TEXT)"
    return lit(value)


def chunks(keys: Sequence[RawValue]) -> Iterator[list[RawValue]]:
    """Key lists small enough for one statement each."""
    chunk: list[RawValue] = []
    size = 0
    for key in keys:
        n = 12 if type(key) is int else len(sql_lit(key)) + 2
        if chunk and (len(chunk) >= CHUNK_KEYS or size + n > CHUNK_CHARS):
            yield chunk
            chunk, size = [], 0
        chunk.append(key)
        size += n
    if chunk:
        yield chunk


def in_list(track: Track, keys: Iterable[RawValue]) -> str:
    """`"key" IN (...)` with literal keys."""
    return f"{key_expr(track)} IN ({', '.join(sql_lit(k) for k in keys)})"


def flight_expr(track: Track) -> str:
    """1 when a row is in flight (a pending row the writer has started), else 0."""
    return f"(COALESCE(({track.in_flight}), 0) != 0)" if track.in_flight else "0"


def row_states(
    conn: sqlite3.Connection, track: Track, keys: Sequence[RawValue], condition: str | None = None
) -> dict[Any, tuple[RowState, bool]]:
    """Current state of `keys` (missing ones omitted), and whether each still meets `condition`."""
    k, t = key_expr(track), q(track.table)
    ok = f"CASE WHEN {condition} THEN 1 ELSE 0 END" if condition else "0"
    out: dict[Any, tuple[RowState, bool]] = {}
    for chunk in chunks(keys):
        for key, raw, flight, eligible in fetch(
            conn, f"SELECT {k}, {raw_expr(track)}, {flight_expr(track)}, {ok} FROM {t} WHERE {in_list(track, chunk)}"
        ):
            state, label = classify(track, raw, flight)
            if state != classify(track, raw)[0]:  # a pending row the writer has started
                label += ", started"
            out[norm(key)] = (RowState(key, state, label), bool(eligible))
    return out


def left_alone(conn: sqlite3.Connection, track: Track, keys: Sequence[RawValue]) -> tuple[RowState, ...]:
    """Where rows we did not write are now (the first DESCRIBE_LIMIT of them; 'missing' when deleted)."""
    sample = list(keys[:DESCRIBE_LIMIT])
    found = row_states(conn, track, sample)
    return tuple(found[norm(k)][0] if norm(k) in found else RowState(k, "missing", "") for k in sample)


# -- the transaction ---------------------------------------------------------------------------------


def identity_of(path: str) -> tuple[int, int]:
    """`(st_dev, st_ino)` of `path` (stat only: the file is never opened)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileMissing("file is missing; nothing written") from None
    except OSError as exc:
        raise WriteFailed(f"cannot stat the file: {exc.strerror or exc}; nothing written") from exc
    return st.st_dev, st.st_ino


def clamp_timeout(seconds: float) -> float:
    """The busy timeout, kept within BUSY_MIN..BUSY_MAX."""
    return min(max(float(seconds), BUSY_MIN), BUSY_MAX)


@contextmanager
def quiet(source: Any) -> Iterator[None]:
    """Hold `source`'s lock and close its read connection for the length of a write (None: no-op).

    The lock keeps every poll from `open()`ing the file meanwhile (hazards.md rule 8). The read
    connection must be closed because SQLite shares one `-shm` mapping per file per process, and the
    reader opens it with `readonly_shm=1`: a write connection opened beside it fails with
    SQLITE_READONLY. The source reopens at its next poll.
    """
    if source is None:
        yield
        return
    with source.lock:
        source.close()
        yield


class WriteSession:
    """One `BEGIN IMMEDIATE` transaction on a fresh `mode=rw` connection, checked against an identity.

    Use as a context manager; call `commit()` with the journal record once the statements have run.
    Leaving the block without a commit rolls back.
    """

    def __init__(self, path: str, identity: tuple[int, int], *, timeout: float = BUSY_DEFAULT,
                 replaced: str = REPLACED, before: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """`before(conn)` runs reads on the connection before `BEGIN IMMEDIATE` (each statement its own
        short read transaction): finding the rows a condition selects must not hold the job's write lock."""
        self.path, self.identity, self.replaced = path, tuple(identity), replaced
        self.before = before
        self.timeout = clamp_timeout(timeout)
        self.conn: sqlite3.Connection | None = None
        self.deadline = 0.0

    def check_identity(self) -> None:
        """Refuse unless the path still names the file the person saw."""
        if identity_of(self.path) != self.identity:
            raise FileReplaced(self.replaced)

    def __enter__(self) -> WriteSession:
        self.deadline = time.monotonic() + self.timeout
        # Before connecting: never even open a replaced file for writing.
        self.check_identity()
        try:
            conn = sqlite3.connect(uri_for(self.path, mode="rw"), uri=True, isolation_level=None,
                                   timeout=self.timeout, check_same_thread=False)
        except sqlite3.Error as exc:
            raise map_sqlite_error(exc, self.path, what="opening the file") from exc
        conn.text_factory = text_factory
        conn.create_function("bt_signature", 1, cached_signature, deterministic=True)
        self.conn = conn
        try:
            # Opening reads nothing; the first statement opens a WAL's sidecars by name. Check again
            # now, so a file swapped while we connected never gets sidecars from us.
            self.check_identity()
            if self.before is not None:
                try:
                    self.before(conn)
                except sqlite3.Error as exc:
                    raise map_sqlite_error(exc, self.path, what="finding the rows") from exc
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise map_sqlite_error(exc, self.path, what="starting the write") from exc
            # And with the lock held: the file we locked is the file the person saw.
            self.check_identity()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        if self.conn is not None:
            if self.conn.in_transaction:
                try:
                    self.conn.rollback()
                except sqlite3.Error:
                    pass  # closing the connection rolls back anyway
            self.conn.close()
            self.conn = None

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run one statement inside the transaction and fetch every row (RETURNING included)."""
        assert self.conn is not None
        try:
            return fetch(self.conn, sql, params)
        except sqlite3.Error as exc:
            raise map_sqlite_error(exc, self.path, what="the write") from exc

    def commit(self, journal: Journal, record: Record,
               verify: Callable[[sqlite3.Connection], bool | None]) -> list[str]:
        """Journal `record` (fsynced), then COMMIT; on a failed COMMIT, mark the record aborted.

        Args:
            verify: after a COMMIT error that ended the transaction, True when the rows show the change.

        Returns:
            Warnings worth showing with the outcome.
        """
        assert self.conn is not None
        try:
            pending = journal.begin(record)
        except JournalError as exc:  # the caller's block rolls the transaction back
            raise JournalError(f"{exc.message}; rolled back, nothing written") from exc
        warnings: list[str] = []
        try:
            remaining = max(0.2, self.deadline - time.monotonic())
            self.conn.execute(f"PRAGMA busy_timeout = {int(remaining * 1000)}")
            self.conn.execute("COMMIT")
        except BaseException as exc:
            # A COMMIT that failed inside the transaction is rolled back here; one that ended it was
            # rolled back by SQLite, which we confirm by reading the rows (an unreadable file is one
            # whose hot journal or WAL SQLite will roll back at the next open).
            applied: bool | None = False
            if self.conn.in_transaction:
                self._close()
            else:
                try:
                    applied = verify(self.conn)
                except sqlite3.Error:
                    applied = False
            if applied:
                pending.settle()
                return [f"COMMIT reported an error ({exc}) but the file shows the change"]
            truthful = pending.abort(f"COMMIT failed: {exc}")
            if not isinstance(exc, sqlite3.Error):
                raise
            err = map_sqlite_error(exc, self.path, what="COMMIT")
            if applied is None:
                err = WriteFailed(f"COMMIT failed ({exc}) and only some rows show the change: check the file")
            if not truthful:
                err = type(err)(f"{err.message} (the journal could not be updated: entry {record.id} "
                                "still reads applied)")
            raise err from exc
        pending.settle()
        try:
            if identity_of(self.path) != self.identity:
                warnings.append("the file was replaced during the write: the change went to the old file")
        except ActionError:
            warnings.append("the file was removed right after the write")
        return warnings
