"""Cohorts: what became of the rows a past action reset ("did the fix work?").

Read-only: `read_cohort(source, track, entry)` runs on a source's read connection: its backend reads the
rows in chunked key lookups with its own SQL (`backends.sqlite.cohort`, `backends.postgres.cohort`) and
counts them with `tally`, which compares each failed row's error signature now with the one journaled before the
reset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batchtop.core.journal import Entry, Omitted, norm
from batchtop.core.profiles.model import State, Track, past
from batchtop.core.sanitize import display
from batchtop.core.signature import error_signature
from batchtop.core.snapshot import classify


@dataclass(frozen=True)
class Cohort:
    """Where the rows of one journaled action are now."""

    entry_id: str
    action: str
    total: int
    pending: int = 0
    running: int = 0
    done: int = 0
    #: Failed again with the same error signature as before the action.
    failed_same: int = 0
    #: Failed with a different signature: the fix changed something.
    failed_new: int = 0
    #: Skipped or cancelled since.
    other: int = 0
    #: Rows no longer in the table.
    missing: int = 0
    #: The commonest new signatures (sanitised) and how many rows have each.
    new_signatures: tuple[tuple[str, int], ...] = ()
    #: The action was undone: rows back in their old failure were restored, not failed again.
    undone: bool = False

    def summary(self) -> str:
        """'of 150 reset: 110 done, 20 pending, 3 running, 12 failed again (same error), 5 with a new error'."""
        parts = [f"{n} {label}" for n, label in (
            (self.done, "done"), (self.pending, "pending"), (self.running, "running"),
            (self.failed_same, "restored by the undo" if self.undone else "failed again (same error)"),
            (self.failed_new, "failed with a new error"),
            (self.other, "skipped or cancelled"), (self.missing, "gone")) if n]
        head = f"of {self.total} {past(self.action)}" + (" (undone)" if self.undone else "")
        return head + ": " + (", ".join(parts) if parts else "nothing to show")


def tally(track: Track, entry: Entry, rows: Sequence[tuple[Any, Any, Any, str]]) -> Cohort:
    """The cohort of `entry` from its rows found now: (key, raw state, in flight, error signature) each.

    Shared by the backends: each reads the rows its own way, the counting is the same.
    """
    before = _before_signatures(track, entry)
    counts: Counter[str] = Counter()
    new: Counter[str] = Counter()
    for key, raw, flight, sig in rows:
        state, _ = classify(track, raw, flight)
        if state == State.FAILED:
            if sig == before.get(norm(key)):
                state = "failed_same"
            else:
                state = "failed_new"
                new[display(sig, 120)] += 1
        counts[state if state in ("pending", "running", "done", "failed_same", "failed_new") else "other"] += 1
    return Cohort(entry.id, entry.action, len(entry.affected), counts["pending"], counts["running"],
                  counts["done"], counts["failed_same"], counts["failed_new"], counts["other"],
                  len(entry.affected) - len(rows), tuple(new.most_common(5)), undone=entry.status == "undone")


def read_cohort(source: Any, track: Track, entry: Entry) -> Cohort:
    """The cohort of `entry` on a watched source, read by its backend in a short read-only transaction.

    Raises:
        BatchtopError: the source could not be read.
    """
    backend = source.backend
    return source.run(lambda conn: backend.cohort(conn, track, entry))


def _before_signatures(track: Track, entry: Entry) -> dict[object, str | None]:
    """Key -> error signature before the action: from the before-image when the action cleared the
    error column, else as journaled."""
    if track.error and track.error in entry.columns:
        i = entry.columns.index(track.error)
        return {norm(k): None if isinstance(img[i], Omitted) else error_signature(img[i])
                for k, img in zip(entry.affected, entry.before)}
    return {norm(k): s for k, s in zip(entry.affected, entry.signatures)}
