"""Undo a journaled action: restore before-images of the rows nobody has touched since (the backend's
write: `backends.sqlite.undo`, `backends.postgres.undo`).

A row is restored only while every column the action assigned still holds the value the action wrote
(compared with `IS`, so NULLs count); rows the job has moved on are reported and left alone. The undo is
one `BEGIN IMMEDIATE` transaction with the same identity check as any write, and is journaled itself
(a record of kind "undo" naming the action it undid), so a second undo of the same action does nothing.
"""

from __future__ import annotations

from batchtop.core.backends import open_source
from batchtop.core.backends.base import SourceLike
from batchtop.core.backends.sqlite.write_session import BUSY_DEFAULT, READ_ONLY
from batchtop.core.errors import NoAction, NothingToDo, ReadOnlyMode
from batchtop.core.journal import Entry, Journal
from batchtop.core.profiles.model import Track
from batchtop.core.undo_outcome import UndoOutcome

REPLACED = "file was replaced since the action; nothing restored"


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
    source: SourceLike | None = None,
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
    own = source if source is not None and getattr(source, "path", None) == entry.db else None
    reader = own or open_source(entry.db)  # reads the profile (PostgreSQL: its password from PG* or ~/.pgpass)
    try:
        return reader.backend.undo(entry, journal, reader=reader, own=own is not None, track=track,
                                   busy_timeout=busy_timeout)
    finally:
        if own is None:
            reader.close()


