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

from dataclasses import dataclass
from typing import Any

from batchtop.core.backends.base import SourceLike
from batchtop.core.backends.sqlite.write_session import (
    BUSY_DEFAULT,
    READ_ONLY,
    RowState,
    describe_states,
)
from batchtop.core.errors import ReadOnlyMode
from batchtop.core.journal import Journal, encode_value
from batchtop.core.preview import CONFIRM_OVER, MAX_ROWS, Plan, SampleRow
from batchtop.core.profiles.model import RawValue, Track, past
from batchtop.core.targets import Target, default_action, resolve, target_condition

__all__ = ["CONFIRM_OVER", "MAX_ROWS", "Outcome", "Plan", "SampleRow", "Target", "apply", "default_action",
           "plan", "resolve", "target_condition"]


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


def plan(
    source: SourceLike,
    track: str | Track | None,
    action: str | None,
    target: Target,
    *,
    read_only: bool = False,
    now: float | None = None,
) -> Plan:
    """Preview an action: count, samples and the exact predicate; nothing is written (the source's
    backend reads it: `backends.sqlite.plan`, `backends.postgres.plan`)."""
    return source.backend.plan(source, track, action, target, read_only=read_only, now=now)


def apply(
    plan: Plan,
    *,
    expected_identity: tuple[int, int] | None = None,
    journal: Journal,
    busy_timeout: float = BUSY_DEFAULT,
    read_only: bool = False,
    source: SourceLike | None = None,
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
    owner = source if source is not None else plan.source
    return owner.backend.apply(plan, journal=journal, expected_identity=expected_identity,
                               busy_timeout=busy_timeout, source=source)



