"""SQLite's undo of a journaled action: restore the before-images of the rows nobody has touched since,
in one `BEGIN IMMEDIATE` transaction (`write_session`), journaled itself; and its read-only preview."""

from __future__ import annotations

import time
from typing import Any

from batchtop.core.backends.sqlite.reads import fetch
from batchtop.core.backends.sqlite.sql import key_expr, q
from batchtop.core.backends.sqlite.write_session import (
    BUSY_DEFAULT,
    DESCRIBE_LIMIT,
    RowState,
    WriteSession,
    chunks,
    in_list,
    left_alone,
    quiet,
    sql_lit,
)
from batchtop.core.journal import Entry, Journal, Omitted, RawText, Record, encode_value, new_id, norm
from batchtop.core.profiles.model import RawValue, Track
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


def undo_entry(entry: Entry, journal: Journal, *, source: Any = None, track: Track | None = None,
               busy_timeout: float = BUSY_DEFAULT) -> UndoOutcome:
    """Restore `entry`'s rows that still hold what the action wrote (`core.undo.undo` checks the entry;
    `source`: the app's source of that file, if any: its lock is held and its reader closed)."""
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
