"""Actions: reset / retry / skip / requeue, previewed by `plan()` and written by `apply()`.

`plan()` is a dry run on the source's read-only connection: how many rows, a few samples, the exact
predicate. `apply()` writes in one short `BEGIN IMMEDIATE` transaction on its own `mode=rw` connection
(`backends.sqlite.write_session`), running the statements the preview shows (`backends.sqlite.write_sql`):
it touches only rows that are *still* in the action's from-states, journals the before-images first,
and reports the true affected set and what became of the rows it left alone.

Targets (`batchtop.core.targets`): explicit keys (the cursor row, a marked set), an error group
(signature), a search filter over error and label, every failed row, or stale in-flight rows. Explicit
keys are written as chunked `key IN (...)` lists; the other targets' keys are found by their condition
just before the write lock (capped at the count the person confirmed) and every UPDATE re-checks it.

This module is the single import point for callers: `Target`, `plan`, `Plan` and `apply`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from batchtop.core.backends.sqlite import write_sql
from batchtop.core.backends.sqlite.write_session import (
    BUSY_DEFAULT,
    READ_ONLY,
    REPLACED,
    RowState,
    WriteSession,
    chunks,
    describe_states,
    left_alone,
    norm,
    quiet,
    row_states,
)
from batchtop.core.errors import FileReplaced, ReadOnlyMode
from batchtop.core.journal import Journal, Record, encode_value, new_id
from batchtop.core.preview import CONFIRM_OVER, MAX_ROWS, Plan, SampleRow
from batchtop.core.preview import plan as _sqlite_plan
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.signature import signature
from batchtop.core.source import Source
from batchtop.core.sql import signature_value
from batchtop.core.targets import Target, default_action, past, resolve, target_condition

__all__ = ["CONFIRM_OVER", "MAX_ROWS", "Outcome", "Plan", "SampleRow", "Target", "apply", "default_action",
           "error_signature", "past", "plan", "resolve", "target_condition"]


@dataclass(frozen=True)
class Outcome:
    """What `apply()` really did."""

    #: The journal record (None when no row qualified any more: nothing was written or journaled).
    entry_id: str | None
    action: str
    track: str
    #: Rows the person confirmed.
    planned: int
    #: Keys written (the RETURNING rows).
    affected: tuple[RawValue, ...]
    #: Planned rows left alone because they had changed, and what they are now (first DESCRIBE_LIMIT).
    changed: tuple[RowState, ...] = ()
    changed_count: int = 0
    #: Condition targets: planned rows still matching but not written (newer matches filled the cap).
    left_over: int = 0
    #: Condition targets: written rows that matched only after the preview.
    new_matches: int = 0
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.affected)

    def summary(self) -> str:
        """'reset 148 of 150; 2 had changed (now running)', '0 reset: status changed to running'."""
        verb, n = past(self.action), self.count
        now = describe_states(self.changed, self.changed_count)
        if n == 0 and self.changed_count and not self.left_over:
            one = len({r.label for r in self.changed}) == 1 and self.changed_count == len(self.changed)
            parts = [f"0 {verb}: " + (f"status changed to {now}" if one
                                      else f"{self.changed_count} had changed (now {now})")]
        else:
            parts = [f"{verb} {n} of {self.planned}"]
            if self.changed_count:
                parts.append(f"{self.changed_count} had changed (now {now})")
        if self.new_matches:
            parts.append(f"{self.new_matches} of them matched only after the preview")
        if self.left_over:
            parts.append(f"{self.left_over} previewed rows not written (cap {self.planned}): run again")
        return "; ".join(parts + list(self.warnings))

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-safe form."""
        return {
            "entry_id": self.entry_id, "action": self.action, "track": self.track, "planned": self.planned,
            "affected": len(self.affected), "affected_keys": [encode_value(k) for k in self.affected],
            "changed": [{"key": encode_value(r.key), "state": r.label} for r in self.changed],
            "changed_count": self.changed_count, "left_over": self.left_over,
            "new_matches": self.new_matches, "seconds": round(self.seconds, 4),
            "warnings": list(self.warnings), "summary": self.summary(),
        }


def _backend(source: Any) -> Any:
    """The source's backend object (`backends.base.Backend`), if it has one (SQLite is still inline here)."""
    return getattr(source, "backend", None)


def plan(
    source: Source,
    track: str | Track | None,
    action: str | None,
    target: Target,
    *,
    read_only: bool = False,
    now: float | None = None,
) -> Plan:
    """Preview an action: count, samples and the exact predicate; nothing is written (`preview.plan`,
    or the source's backend: PostgreSQL)."""
    backend = _backend(source)
    if backend is not None:
        return backend.plan(source, track, action, target, read_only=read_only, now=now)
    return _sqlite_plan(source, track, action, target, read_only=read_only, now=now)


def apply(
    plan: Plan,
    *,
    expected_identity: tuple[int, int] | None = None,
    journal: Journal,
    busy_timeout: float = BUSY_DEFAULT,
    read_only: bool = False,
    source: Source | None = None,
) -> Outcome:
    """Write the plan in one conditional, journaled transaction; report what really changed.

    Args:
        plan: From `plan()`; its keys cap the write at what the person confirmed.
        expected_identity: The file identity the person saw (default: the plan's).
        journal: Where the before-images go (fsynced before COMMIT).
        busy_timeout: Seconds to wait for the job's write lock (0.5-2).
        source: Its lock is held and its read connection closed during the write (default: the plan's).

    Raises:
        ReadOnlyMode, Busy ("busy, not applied"), FileReplaced, FileMissing, JournalError (rolled back),
        WriteFailed (rolled back).
    """
    if read_only:
        raise ReadOnlyMode(READ_ONLY)
    backend = _backend(source if source is not None else plan.source)
    if backend is not None:
        return backend.apply(plan, journal=journal, expected_identity=expected_identity,
                             busy_timeout=busy_timeout, source=source)
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


def error_signature(error: Any) -> str:
    """Signature of a whole error value as `sql.signature_sql` computes it in SQL (see `signature_arg`)."""
    return signature(signature_value(error))
