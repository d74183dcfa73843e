"""Previews: a `Plan` is the dry run of an action. Nothing is written to make one.

It counts the rows, shows a few (sanitised previews, never whole values), and gives the exact predicate
and statements `apply()` will run (`Plan.write_statements()`, from the backend's `write_sql` builder,
which `apply()` executes). The backend makes it (`backends.sqlite.plan`, `backends.postgres.plan`) on
the source's own read-only connection, in bounded statements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchtop.core.backends.sqlite import write_sql
from batchtop.core.backends.sqlite.write_session import (
    RowState,
)
from batchtop.core.backends.statement import Statement, shown
from batchtop.core.journal import encode_value
from batchtop.core.profiles.model import Action, RawValue, Track
from batchtop.core.targets import Target

#: Plans over this many rows need the count typed to confirm.
CONFIRM_OVER = 100
#: Most rows one action writes (a larger match is done in several runs).
MAX_ROWS = 100_000
#: Sample rows shown in a preview.
SAMPLES = 5


@dataclass(frozen=True)
class SampleRow:
    """One row of a preview (sanitised previews, never whole values)."""

    key: RawValue
    label: str
    error: str
    raw: str


@dataclass(frozen=True)
class Plan:
    """A dry run: what `apply()` would write. Nothing was written to make it."""

    path: str
    #: File identity the rows were read from.
    identity: tuple[int, int]
    profile: str
    track: Track
    action: Action
    target: Target
    #: Still-in-from-states AND the target's own condition; every UPDATE carries it.
    condition: str
    #: The exact condition selecting the rows: `condition`, plus the key list for explicit keys.
    predicate: str
    #: Rows matching now.
    count: int
    #: Keys of the rows matching now, in key order (at most MAX_ROWS).
    keys: tuple[RawValue, ...]
    samples: tuple[SampleRow, ...]
    #: Explicit keys that are not in a from-state (or missing) at preview time: left out.
    not_eligible: tuple[RowState, ...] = ()
    #: Stale targets: the start-time cutoff used (epoch seconds).
    stale_cutoff: float | None = None
    planned_at: float = 0.0
    #: The source the rows were read from: `apply()` holds its lock and closes its reader for the write.
    source: Any = field(default=None, compare=False, repr=False)

    @property
    def cap(self) -> int:
        """Most rows `apply()` will write: what the person confirmed."""
        return len(self.keys)

    @property
    def description(self) -> str:
        """What the writer will do with the rows afterwards."""
        return self.action.description

    @property
    def needs_typed_confirmation(self) -> bool:
        """Over CONFIRM_OVER rows: the person types the count."""
        return self.count > CONFIRM_OVER

    @property
    def by_condition(self) -> bool:
        """Rows are selected by the condition at write time (groups, filters, all failed, stale)."""
        return self.target.kind != "keys"

    def write_statements(self) -> list[Statement]:
        """Every statement `apply()` runs, in order (key lists as selected at preview time): the source's
        backend builds them with the builder its `apply` runs (SQLite's `write_sql` without a source)."""
        backend = getattr(self.source, "backend", None)
        if backend is None:
            return write_sql.write_statements(self.track, self.action, list(self.keys), self.condition, self.cap,
                                              self.by_condition)
        return backend.plan_statements(self)

    def statements(self) -> list[str]:
        """The texts of the statements `apply()` runs that the preview lists: the keys found, the UPDATEs."""
        return shown(self.write_statements())

    def summary(self) -> str:
        """'reset 150 topics (error group ...)' plus the cap when the match is larger."""
        # An explicit list of items needs no description beyond its count.
        target = "" if self.target.kind == "keys" else self.target.describe()
        if self.not_eligible:
            target += (", " if target else "") + f"{len(self.not_eligible)} left out"
        noun = "item" if self.cap == 1 else "items"
        text = f"{self.action.name} {self.cap} {noun} in {self.track.name}" + (f" ({target})" if target else "")
        if self.count > self.cap:
            text += f": {self.count} match, only the first {self.cap} by key; run again for the rest"
        return text

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-safe form (keys encoded as in the journal)."""
        return {
            "path": self.path, "identity": list(self.identity), "profile": self.profile,
            "track": self.track.name, "table": self.track.table, "action": self.action.name,
            "description": self.description, "target": self.target.describe(), "count": self.count,
            "cap": self.cap, "predicate": self.predicate, "statements": len(self.statements()),
            "needs_typed_confirmation": self.needs_typed_confirmation,
            "samples": [{"key": encode_value(s.key), "label": s.label, "error": s.error, "state": s.raw}
                        for s in self.samples],
            "not_eligible": [{"key": encode_value(r.key), "state": r.label} for r in self.not_eligible],
            "stale_cutoff": self.stale_cutoff,
        }
