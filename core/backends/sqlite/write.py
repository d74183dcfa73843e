"""SQLite's write of a planned action (`core.actions.apply`): one short `BEGIN IMMEDIATE` transaction on
its own `mode=rw` connection (`write_session`), running the statements the preview shows (`write_sql`),
conditional on the state seen, journaled before it commits."""

from __future__ import annotations

import time
from typing import Any

from batchtop.core.actions import Outcome
from batchtop.core.backends.sqlite import write_sql
from batchtop.core.backends.sqlite.write_session import (
    BUSY_DEFAULT,
    READ_ONLY,
    REPLACED,
    WriteSession,
    chunks,
    left_alone,
    quiet,
    row_states,
)
from batchtop.core.errors import FileReplaced, ReadOnlyMode
from batchtop.core.journal import Journal, Record, encode_value, new_id, norm
from batchtop.core.preview import Plan
from batchtop.core.profiles.model import RawValue


def apply(
    plan: Plan,
    *,
    expected_identity: tuple[int, int] | None = None,
    journal: Journal,
    busy_timeout: float = BUSY_DEFAULT,
    read_only: bool = False,
    source: Any = None,
) -> Outcome:
    """Write the plan (see `core.actions.apply`)."""
    if read_only:
        raise ReadOnlyMode(READ_ONLY)
    expected = tuple(expected_identity) if expected_identity is not None else plan.identity
    if expected != tuple(plan.identity):
        raise FileReplaced(REPLACED)
    journal.check_outside(plan.path)
    track, action = plan.track, plan.action
    started = time.monotonic()
    # A condition target is resolved to keys just before the write lock, in short key-range reads on the
    # write connection: found inside the transaction, a group's signature test over every failed row held
    # the job's write lock for a second per 25,000 failures. The write re-checks the condition on these.
    keys: list[RawValue] = [] if plan.by_condition else list(plan.keys)

    def find(conn: Any) -> None:
        keys[:] = write_sql.matching_keys(conn, track, plan.condition, plan.cap)

    with quiet(source if source is not None else plan.source), \
            WriteSession(plan.path, plan.identity, timeout=busy_timeout,  # == expected, checked above
                         before=find if plan.by_condition else None) as w:
        columns = write_sql.before_columns(track, action)
        keep_signature = write_sql.keeps_signature(track, action)
        before: dict[Any, tuple[Any, ...]] = {}
        affected: list[RawValue] = []
        for chunk in chunks(keys):
            image, update = write_sql.chunk_statements(track, action, chunk, plan.condition)
            for row in w.fetch(image.text):
                before[norm(row[0])] = row[1:]
            affected += [r[0] for r in w.fetch(update.text)]
        if not affected:
            # Nothing to write, so nothing to journal: the block rolls the empty transaction back.
            return _outcome(w, plan, None, affected, [], started)
        images = [before[norm(x)] for x in affected]  # the same transaction: every written row was read
        record = Record(
            kind="action", id=new_id(), time=time.time(), db=plan.path, identity=expected,
            profile=plan.profile, track=track.name, table=track.table, key=track.key, action=action.name,
            description=action.description, target=plan.target.describe(), predicate=plan.predicate,
            planned=plan.count, affected=tuple(encode_value(x) for x in affected), columns=tuple(columns),
            before=tuple(tuple(encode_value(v) for v in img[:-1]) for img in images),
            signatures=tuple(img[-1] for img in images) if keep_signature else (),
            after=tuple((c, encode_value(v)) for c, v in action.assign),
        )
        warnings = w.commit(journal, record, verify=lambda conn: write_sql.shows_change(conn, track, action, affected))
        return _outcome(w, plan, record.id, affected, warnings, started)


def _outcome(w: WriteSession, plan: Plan, entry_id: str | None, affected: list[RawValue], warnings: list[str],
             started: float) -> Outcome:
    """Say what became of the planned rows not written: for explicit keys they had all left the
    from-states; a condition target may also have left some out because newer matches filled the cap."""
    assert w.conn is not None
    done = {norm(x) for x in affected}
    skipped = [x for x in plan.keys if norm(x) not in done]
    states = row_states(w.conn, plan.track, skipped, plan.condition) if plan.by_condition and skipped else {}
    still = [x for x in skipped if states.get(norm(x), (None, False))[1]]
    moved = [x for x in skipped if not states.get(norm(x), (None, False))[1]]
    planned = {norm(x) for x in plan.keys}
    return Outcome(entry_id=entry_id, action=plan.action.name, track=plan.track.name, planned=plan.cap,
                   affected=tuple(affected), changed=left_alone(w.conn, plan.track, moved),
                   changed_count=len(moved), left_over=len(still),
                   new_matches=sum(1 for x in affected if norm(x) not in planned),
                   seconds=time.monotonic() - started, warnings=tuple(warnings))
