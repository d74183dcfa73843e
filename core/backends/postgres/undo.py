"""Undo on PostgreSQL: restore the before-images of a journaled action's rows that nobody moved since.

As `batchtop.core.undo` for SQLite: a row is restored only while every column the action assigned still
holds the value it wrote (`IS NOT DISTINCT FROM`, so NULLs count), in one short transaction that first
checks the tables are the ones the action wrote, and the undo is journaled itself. The journal names the
database without its password: the watching source's URL is used when it is the same database, else
libpq finds the password (`~/.pgpass`, `PGPASSFILE`, `PGPASSWORD`).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from batchtop.core import errors
from batchtop.core.backends.postgres import sql as pg
from batchtop.core.backends.postgres.conn import connect, fetch, scrub
from batchtop.core.backends.postgres.plan import row_states
from batchtop.core.backends.postgres.write import REPLACED, identity, write_error
from batchtop.core.backends.sqlite.sql import q
from batchtop.core.backends.sqlite.write_session import DESCRIBE_LIMIT, RowState, chunks, clamp_timeout, norm
from batchtop.core.journal import Entry, Journal, Omitted, RawText, Record, encode_value, new_id
from batchtop.core.profiles.model import Profile, RawValue, Track
from batchtop.core.undo_outcome import UndoOutcome, UndoPreview


def _value(v: Any) -> Any:
    return bytes(v).decode("utf-8", "replace") if isinstance(v, RawText) else v


def preview_undo(conn: Any, entry: Entry, identity_now: tuple[int, int] | None = None) -> UndoPreview:
    """Count, in a read-only session, the rows an undo of `entry` would restore now."""
    track = Track(name=entry.track, table=entry.table, key=entry.key)
    assigned = [c for c, _ in entry.after]
    idx = [entry.columns.index(c) for c in assigned]
    rows = [(key, [img[i] for i in idx]) for key, img in zip(entry.affected, entry.before)]
    keys = [key for key, vals in rows if not any(isinstance(v, Omitted) for v in vals)]
    still = 0
    for chunk in chunks(keys):
        (n,) = fetch(
            conn, f"SELECT COUNT(*) FROM {q(entry.table)} WHERE {pg.keys_in(track, chunk)} AND {_same(entry)}"
        )[0]
        still += int(n)
    replaced = identity_now is not None and tuple(identity_now) != tuple(entry.identity)
    return UndoPreview(entry.id, len(entry.affected), still, len(rows) - len(keys), replaced)


def _same(entry: Entry) -> str:
    """The row still holds every value the action wrote (NULLs count)."""
    return " AND ".join(f"{q(c)} IS NOT DISTINCT FROM {pg.lit(_value(v))}" for c, v in entry.after) or "TRUE"


class Reader(Protocol):
    """The source an undo reads the profile from (a `PgSource`; the caller opens and closes it)."""

    url: str
    profile: Profile | None

    def poll(self) -> Any: ...

    def wrote(self) -> None: ...


def undo_entry(
    entry: Entry,
    journal: Journal,
    *,
    reader: Reader,
    own: bool = False,
    track: Track | None = None,
    busy_timeout: float = 1.5,
) -> UndoOutcome:
    """Restore what `entry` changed (the caller has checked it is an applied action). `reader` gives the
    profile and the URL to write to; `own`: it is the app's source, told of the write."""
    url = reader.url
    if reader.profile is None:
        result = reader.poll()
        if result.error is not None:
            raise result.error
    profile = reader.profile
    assert profile is not None
    track = track or profile.track(entry.track) or Track(name=entry.track, table=entry.table, key=entry.key)
    started = time.monotonic()
    assigned = [c for c, _ in entry.after]
    idx = [entry.columns.index(c) for c in assigned]
    rows = [(key, [img[i] for i in idx]) for key, img in zip(entry.affected, entry.before)]
    restorable = [(key, vals) for key, vals in rows if not any(isinstance(v, Omitted) for v in vals)]
    same = _same(entry)
    k, t = pg.key_expr(track), q(entry.table)
    try:
        conn = connect(url, read_only=False, application_name="batchtop-write")
    except Exception as exc:
        raise write_error(exc, url) from exc
    try:
        try:
            conn.execute(f"SET lock_timeout = {int(clamp_timeout(busy_timeout) * 1000)}")
            conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            if identity(conn, sorted({tr.table for tr in profile.tracks})) != tuple(entry.identity):
                raise errors.FileReplaced(
                    REPLACED.replace("preview", "action").replace("written", "restored")
                )
            restored: list[RawValue] = []
            for key, vals in restorable:
                sets = ", ".join(f"{q(c)} = {pg.lit(_value(v))}" for c, v in zip(assigned, vals))
                if fetch(conn, f"UPDATE {t} SET {sets} WHERE {k} = {pg.lit(key)} AND {same} RETURNING {k}"):
                    restored.append(key)
        except errors.BatchtopError:
            raise
        except Exception as exc:
            raise write_error(exc, url) from exc
        record = Record(
            kind="undo",
            id=new_id(),
            time=time.time(),
            db=entry.db,
            identity=entry.identity,
            profile=entry.profile,
            track=entry.track,
            table=entry.table,
            key=entry.key,
            action="undo",
            description=f"undo of {entry.action} {entry.id}",
            target=f"journal entry {entry.id}",
            predicate=f"{k} = <key> AND {same}",
            planned=len(rows),
            affected=tuple(encode_value(x) for x in restored),
            columns=tuple(assigned),
            undoes=entry.id,
        )
        pending = journal.begin(record)
        try:
            conn.execute("COMMIT")
        except Exception as exc:
            pending.abort(f"COMMIT failed: {scrub(str(exc), url)}")
            raise write_error(exc, url) from exc
        pending.settle()
        if own:
            reader.wrote()
        done = {norm(x) for x in restored}
        moved = [key for key, _ in restorable if norm(key) not in done]
        found = row_states(conn, track, moved[:DESCRIBE_LIMIT])
        states = tuple(
            found[norm(x)][0] if norm(x) in found else RowState(x, "missing", "")
            for x in moved[:DESCRIBE_LIMIT]
        )
        return UndoOutcome(
            entry_id=entry.id,
            undo_id=record.id,
            status="restored",
            restored=tuple(restored),
            moved=states,
            moved_count=len(moved),
            not_restorable=len(rows) - len(restorable),
            seconds=time.monotonic() - started,
        )
    finally:
        conn.close()
