"""Undo a journaled action: restore before-images of the rows nobody has touched since.

A row is restored only while every column the action assigned still holds the value the action wrote
(compared with `IS`, so NULLs count); rows the job has moved on are reported and left alone. The undo is
one `BEGIN IMMEDIATE` transaction with the same identity check as any write, and is journaled itself
(a record of kind "undo" naming the action it undid), so a second undo of the same action does nothing.
"""

from __future__ import annotations

import time
from typing import Any

from batchtop.core.backends.sqlite.write_session import (
    BUSY_DEFAULT,
    DESCRIBE_LIMIT,
    READ_ONLY,
    RowState,
    WriteSession,
    chunks,
    in_list,
    left_alone,
    norm,
    quiet,
    sql_lit,
)
from batchtop.core.backends.urls import is_url
from batchtop.core.errors import NoAction, NothingToDo, ReadOnlyMode
from batchtop.core.journal import Entry, Journal, Omitted, RawText, Record, encode_value, new_id
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.snapshot import fetch
from batchtop.core.sql import key_expr, q
from batchtop.core.undo_outcome import UndoOutcome, UndoPreview

REPLACED = "file was replaced since the action; nothing restored"


def _restorable(entry: Entry) -> tuple[list[tuple[RawValue, list[Any]]], int]:
    """(key, before-values of the assigned columns) of rows an undo may restore, and how many it may not."""
    idx = [entry.columns.index(c) for c, _ in entry.after]
    rows = [(key, [img[i] for i in idx]) for key, img in zip(entry.affected, entry.before)]
    ok = [(key, vals) for key, vals in rows if not any(isinstance(v, Omitted) for v in vals)]
    return ok, len(rows) - len(ok)


def _same(entry: Entry) -> str:
    """SQL: the row still holds every value the action wrote (`IS`, so NULLs count)."""
    return " AND ".join(f"{q(c)} IS {sql_lit(v)}" for c, v in entry.after) or "1"


def preview_undo(conn: Any, entry: Entry, identity: tuple[int, int] | None = None) -> UndoPreview:
    """Count, on a read-only connection to the entry's database, the rows `undo()` would restore now.

    Args:
        identity: The file's current (st_dev, st_ino), to say whether it was replaced since the action.
    """
    shape = Track(name=entry.track, table=entry.table, key=entry.key)
    ok, omitted = _restorable(entry)
    keys = [key for key, _ in ok]
    still = sum(int(fetch(conn, f"SELECT COUNT(*) FROM {q(entry.table)} WHERE {in_list(shape, c)} "
                                f"AND {_same(entry)}")[0][0]) for c in chunks(keys)) if keys else 0
    replaced = identity is not None and tuple(identity) != tuple(entry.identity)
    return UndoPreview(entry.id, len(entry.affected), still, omitted, replaced)


def find(journal: Journal, action_id: str | None = None, db: str | None = None) -> Entry:
    """The entry `undo()` would act on: `action_id`, else the newest applied action not yet undone.

    Raises:
        NothingToDo: no such entry / nothing to undo.
        NoAction: the entry is itself an undo.
    """
    entry = journal.get(action_id) if action_id else journal.latest_undoable(db)
    if entry is None:
        raise NothingToDo(f"no journal entry {action_id!r} in {journal.path}" if action_id
                          else f"nothing to undo in {journal.path}")
    if entry.kind != "action":
        raise NoAction(f"{entry.id} is an undo: it cannot be undone (run the action again)")
    return entry


def undo(
    journal: Journal,
    action_id: str | None = None,
    *,
    db: str | None = None,
    track: Track | None = None,
    busy_timeout: float = BUSY_DEFAULT,
    read_only: bool = False,
    source: Any = None,
) -> UndoOutcome:
    """Restore the before-images of an action's rows that have not changed since.

    Args:
        action_id: Journal id (a unique prefix will do); default the newest applied action not undone.
        db: With no id, only consider actions on this database.
        track: The track as profiled now, to say where moved rows are (default: from `source`).
        source: The `Source` watching that database, if any: its lock is held and its reader closed.

    Raises:
        ReadOnlyMode, NothingToDo, Busy, FileReplaced, FileMissing, JournalError, WriteFailed.
    """
    if read_only:
        raise ReadOnlyMode(READ_ONLY)
    entry = find(journal, action_id, db)
    if entry.status == "undone":
        return UndoOutcome(entry_id=entry.id, undo_id=None, status="already-undone", note=entry.status_note)
    if entry.status == "aborted":
        return UndoOutcome(entry_id=entry.id, undo_id=None, status="never-applied", note=entry.status_note)
    if is_url(entry.db):  # a server database: its backend restores the rows
        from batchtop.core.backends.postgres.source import PgSource

        own = source if isinstance(source, PgSource) and source.path == entry.db else None
        reader = own or PgSource(entry.db)  # reads the profile; its password comes from PG* or ~/.pgpass
        try:
            return reader.backend.undo(entry, journal, reader=reader, own=own is not None, track=track,
                                       busy_timeout=busy_timeout)
        finally:
            if own is None:
                reader.close()
    journal.check_outside(entry.db)
    started = time.monotonic()
    if track is None and source is not None and source.profile is not None:
        track = source.profile.track(entry.track)
    shape = track or Track(name=entry.track, table=entry.table, key=entry.key)
    k, t = key_expr(shape), q(entry.table)
    assigned = [c for c, _ in entry.after]
    restorable, omitted = _restorable(entry)
    same = _same(entry)
    with quiet(source), WriteSession(entry.db, entry.identity, timeout=busy_timeout, replaced=REPLACED) as w:
        assert w.conn is not None
        restored: list[RawValue] = []
        for key, vals in restorable:
            sets = ", ".join(f"{q(c)} = {_slot(v)}" for c, v in zip(assigned, vals))
            sql = f"UPDATE {t} SET {sets} WHERE {k} = {_slot(key)} AND {same} RETURNING {k}"
            if w.fetch(sql, [_param(v) for v in (*vals, key)]):
                restored.append(key)
        record = Record(
            kind="undo", id=new_id(), time=time.time(), db=entry.db, identity=entry.identity,
            profile=entry.profile, track=entry.track, table=entry.table, key=entry.key, action="undo",
            description=f"undo of {entry.action} {entry.id}", target=f"journal entry {entry.id}",
            predicate=f"{k} = <key> AND {same}", planned=len(entry.affected),
            affected=tuple(encode_value(x) for x in restored), columns=tuple(assigned), undoes=entry.id,
        )
        warnings = w.commit(journal, record, verify=lambda conn: _restored(conn, shape, same, restored))
        done = {norm(x) for x in restored}
        moved = [key for key, _ in restorable if norm(key) not in done]
        states = left_alone(w.conn, track, moved) if track is not None else tuple(
            RowState(x, "", "") for x in moved[:DESCRIBE_LIMIT])
        return UndoOutcome(entry_id=entry.id, undo_id=record.id, status="restored", restored=tuple(restored),
                           moved=states, moved_count=len(moved), not_restorable=omitted,
                           seconds=time.monotonic() - started, warnings=tuple(warnings))


def _slot(value: Any) -> str:
    # Invalid-UTF-8 TEXT is bound as its bytes and cast back, so it is restored byte-exact as TEXT.
    return "CAST(? AS TEXT)" if isinstance(value, RawText) else "?"


def _param(value: Any) -> Any:
    return bytes(value) if isinstance(value, RawText) else value


def _restored(conn: Any, track: Track, same: str, keys: list[RawValue]) -> bool | None:
    """After a COMMIT error ended the transaction: True if no restored row still holds our values."""
    left = sum(int(fetch(conn, f"SELECT COUNT(*) FROM {q(track.table)} WHERE {in_list(track, c)} AND {same}")[0][0])
               for c in chunks(keys))
    if left == 0:
        return True
    return False if left == len(keys) else None
