"""Writes on PostgreSQL: the same `Outcome` as SQLite, by one short conditional transaction.

`apply()` (the one place batchtop writes to PostgreSQL) opens its own read-write session and, in one
`READ COMMITTED` transaction with a short `lock_timeout`:

1. checks the identity (database oid and the tables' oids) is the one the person saw;
2. selects and locks (`FOR UPDATE`) the rows still matching the action's condition, with their
   before-images;
3. `UPDATE ... WHERE key IN (...) AND <condition> RETURNING key`: PostgreSQL re-checks the condition on
   rows a concurrent transaction changed, so a row the job has moved on is never written;
4. journals the before-images (fsynced), then COMMITs; a failed COMMIT marks the record aborted.

A role that may not write, a read-only server (a standby) or a read-only default transaction gives a
clear refusal and nothing changes. The preview (`plan.plan`) gives the keys and the condition; the
statements of steps 2-3 come from `write_sql`, which also gives the preview its statements.
"""

from __future__ import annotations

import datetime
import decimal
import time
import uuid
import zlib
from typing import Any

from batchtop.core import errors
from batchtop.core.actions import Outcome
from batchtop.core.backends.postgres import sql as pg
from batchtop.core.backends.postgres import write_sql
from batchtop.core.backends.postgres.conn import connect, fetch, scrub
from batchtop.core.backends.postgres.plan import row_states
from batchtop.core.backends.postgres.sql import error_signature
from batchtop.core.backends.sqlite.sql import q
from batchtop.core.backends.sqlite.write_session import (
    BUSY_DEFAULT,
    DESCRIBE_LIMIT,
    READ_ONLY,
    RowState,
    chunks,
    clamp_timeout,
    norm,
)
from batchtop.core.errors import BUSY, WriteFailed
from batchtop.core.journal import Journal, Record, encode_value, new_id
from batchtop.core.preview import Plan
from batchtop.core.profiles.model import RawValue

REPLACED = "a table was dropped or replaced since the preview; nothing written"
NOT_ALLOWED = "refused: this role may not write to the table ({detail}); nothing changed"


# -- apply --------------------------------------------------------------------------------------------


def write_error(exc: BaseException, url: str) -> errors.ActionError:
    """A specific ActionError for a failed write (the password never appears)."""
    from psycopg import errors as pge

    detail = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, url)
    if isinstance(exc, errors.ActionError):
        return exc
    if isinstance(exc, pge.InsufficientPrivilege | pge.ReadOnlySqlTransaction):
        return errors.ActionError(NOT_ALLOWED.format(detail=detail))
    if isinstance(
        exc, pge.LockNotAvailable | pge.QueryCanceled | pge.DeadlockDetected | pge.SerializationFailure
    ):
        return errors.Busy(BUSY)
    if isinstance(exc, pge.UndefinedTable | pge.UndefinedColumn):
        return errors.FileReplaced(REPLACED)
    return WriteFailed(f"the write failed: {detail}; rolled back, nothing written")


def journal_value(value: Any) -> Any:
    """A before-image value as the journal can hold it and PostgreSQL can take back on undo: timestamps,
    dates and times as ISO text (the column's type parses them), UUIDs and NUMERICs as text."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    return value


def identity(conn: Any, tables: list[str]) -> tuple[int, int]:
    parts = ", ".join(f"to_regclass({pg.lit(q(t))})::oid" for t in tables)
    row = fetch(conn, f"SELECT (SELECT oid FROM pg_database WHERE datname = current_database()), {parts}")[0]
    oids = {t: (int(v) if v is not None else None) for t, v in zip(tables, row[1:])}
    return int(row[0]), zlib.crc32(repr(sorted(oids.items())).encode())


def apply(
    plan: Plan,
    *,
    journal: Journal,
    expected_identity: tuple[int, int] | None = None,
    busy_timeout: float = BUSY_DEFAULT,
    read_only: bool = False,
    source: Any = None,
) -> Outcome:
    """Write the plan in one conditional, journaled transaction; report what really changed."""
    if read_only:
        raise errors.ReadOnlyMode(READ_ONLY)
    src = source if source is not None else plan.source
    expected = tuple(expected_identity) if expected_identity is not None else tuple(plan.identity)
    if expected != tuple(plan.identity):
        raise errors.FileReplaced(REPLACED)
    track, action = plan.track, plan.action
    url = src.url
    started = time.monotonic()
    timeout = clamp_timeout(busy_timeout)
    try:
        conn = connect(url, read_only=False, application_name="batchtop-write")
    except Exception as exc:
        raise write_error(exc, url) from exc
    try:
        try:
            conn.execute(f"SET lock_timeout = {int(timeout * 1000)}")
            conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            if identity(conn, sorted({t.table for t in src.profile.tracks})) != expected:
                raise errors.FileReplaced(REPLACED)
            if write_sql.by_condition(plan):
                find = write_sql.find_keys(track, plan.condition, plan.cap)
                keys = [r[0] for r in fetch(conn, find.text)]
            else:
                keys = list(plan.keys)
            columns = write_sql.before_columns(track, action)
            keep_sig = write_sql.keeps_signature(track, action)
            before: dict[Any, tuple[Any, ...]] = {}
            affected: list[RawValue] = []
            for chunk in chunks(keys):
                image, update = write_sql.chunk_statements(track, action, chunk, plan.condition)
                for row in fetch(conn, image.text):
                    before[norm(row[0])] = row[1:]
                affected += [r[0] for r in fetch(conn, update.text)]
            if not affected:
                conn.execute("ROLLBACK")
                return _outcome(conn, plan, None, affected, started)
            images = [before[norm(x)] for x in affected]
            record = Record(
                kind="action",
                id=new_id(),
                time=time.time(),
                db=plan.path,
                identity=expected,
                profile=plan.profile,
                track=track.name,
                table=track.table,
                key=track.key,
                action=action.name,
                description=action.description,
                target=plan.target.describe(),
                predicate=plan.predicate,
                planned=plan.count,
                affected=tuple(encode_value(x) for x in affected),
                columns=tuple(columns),
                before=tuple(tuple(encode_value(journal_value(v)) for v in img[: len(columns)]) for img in images),
                signatures=tuple(error_signature(*img[len(columns) :]) for img in images) if keep_sig else (),
                after=tuple((c, encode_value(v)) for c, v in action.assign),
            )
        except errors.BatchtopError:
            raise
        except Exception as exc:
            raise write_error(exc, url) from exc
        pending = journal.begin(record)  # fsynced before COMMIT; a JournalError leaves the rows untouched
        try:
            conn.execute("COMMIT")
        except Exception as exc:
            pending.abort(f"COMMIT failed: {scrub(str(exc), url)}")
            raise write_error(exc, url) from exc
        pending.settle()
        if hasattr(src, "wrote"):
            src.wrote()
        return _outcome(conn, plan, record.id, affected, started)
    finally:
        conn.close()  # an open transaction is rolled back by the server


def _outcome(
    conn: Any, plan: Plan, entry_id: str | None, affected: list[RawValue], started: float
) -> Outcome:
    """What became of the planned rows not written (read after the transaction ended)."""
    done = {norm(x) for x in affected}
    skipped = [x for x in plan.keys if norm(x) not in done]
    by_cond = write_sql.by_condition(plan)
    states = row_states(conn, plan.track, skipped[:DESCRIBE_LIMIT], plan.condition) if skipped else {}
    still = [x for x in skipped if by_cond and states.get(norm(x), (None, False))[1]]
    moved = [x for x in skipped if not (by_cond and states.get(norm(x), (None, False))[1])]
    changed = tuple(
        states[norm(x)][0] if norm(x) in states else RowState(x, "missing", "")
        for x in moved[:DESCRIBE_LIMIT]
    )
    planned = {norm(x) for x in plan.keys}
    return Outcome(
        entry_id=entry_id,
        action=plan.action.name,
        track=plan.track.name,
        planned=plan.cap,
        affected=tuple(affected),
        changed=changed,
        changed_count=len(moved),
        left_over=len(still),
        new_matches=sum(1 for x in affected if norm(x) not in planned),
        seconds=time.monotonic() - started,
    )
