"""What a profile says about a database: which tables are work items and how to read them.

A profile is pure data (frozen dataclasses). `batchtop.core.backends.sqlite.sql` turns it into SQL; built-in profiles,
the detector and user TOML files all produce these same objects.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from batchtop.core.sanitize import is_secret_name

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - what 3.11's StrEnum is
    from enum import Enum

    class StrEnum(str, Enum):
        __str__ = str.__str__
        __format__ = str.__format__  # type: ignore[assignment]


class State(StrEnum):
    """The six canonical states every raw value maps to (architecture.md).

    A `StrEnum`: each member equals, hashes, formats and JSON-encodes as its plain string, so comparing
    a state read from a profile (a plain str) with `State.FAILED` works, and output does not change.
    """

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


#: The six canonical states, in display order, as plain strings.
STATES: tuple[str, ...] = tuple(s.value for s in State)
#: States that count as settled for progress: settled / total.
SETTLED: tuple[str, ...] = (State.DONE.value, State.FAILED.value, State.SKIPPED.value, State.CANCELLED.value)
#: States that are still work to do.
REMAINING: tuple[str, ...] = (State.PENDING.value, State.RUNNING.value)
#: What a raw value the profile does not map counts as: apart from the six states, never silently pending.
UNMAPPED = "unmapped"

RawValue = str | int | float | None


@dataclass(frozen=True)
class Metric:
    """A numeric column worth a total (cost so far, cards so far)."""

    column: str
    label: str
    #: "sum" or "avg".
    agg: str = "sum"
    #: Display unit: "$" is a prefix, anything else a suffix.
    unit: str = ""


@dataclass(frozen=True)
class Action:
    """A write a profile allows, following the writer's own conventions (field-notes.md)."""

    #: Short verb: "reset", "retry", "skip", "requeue".
    name: str
    #: One line for the preview: what the writer will do with the rows afterwards.
    description: str
    #: Canonical states a row must still be in for the write to touch it.
    from_states: tuple[str, ...]
    #: Column assignments; `None` writes NULL. Values are literals, never SQL.
    assign: tuple[tuple[str, RawValue], ...]
    #: Canonical state the rows are in afterwards (for messages and cohorts).
    to_state: str = "pending"


@dataclass(frozen=True)
class Track:
    """One table of work items, read as a progress track."""

    #: Display name ("topics", "tables", "jobs").
    name: str
    table: str
    #: Column identifying a row (or "rowid").
    key: str = "rowid"
    #: Column shown as the item's label.
    label: str | None = None
    #: Column holding the raw state value ...
    raw: str | None = None
    #: ... or an SQL expression deriving it (trusted: built-in or user profile, never DB text).
    raw_sql: str | None = None
    #: Raw value -> canonical state.
    states: Mapping[RawValue, str] = field(default_factory=dict)
    #: State of a raw value that is not in `states` (including NULL); None counts such rows apart as
    #: `UNMAPPED` (a value the profile never saw, such as optuna's PRUNED, is not silently pending).
    default_state: str | None = None
    #: SQL condition under which a `pending` row is actually in flight (`running`).
    in_flight: str | None = None
    #: Column holding the error message.
    error: str | None = None
    #: Canonical states for which `error` is meaningful (jobs keep stale errors on good rows).
    error_states: tuple[str, ...] = ("failed",)
    started: str | None = None
    finished: str | None = None
    created: str | None = None
    #: "utc" or "local": how the writer stores naive timestamps.
    tz: str = "utc"
    #: "space" ('2026-01-01 10:00:00') or "iso" ('2026-01-01T10:00:00').
    time_format: str = "space"
    #: Unit of epoch numbers in the time columns: "s", "ms", "us", "ns", or "auto" (by magnitude).
    time_unit: str = "auto"
    #: Percent-progress column of running items.
    progress: str | None = None
    #: Current-step text of running items.
    step: str | None = None
    metrics: tuple[Metric, ...] = ()
    #: Columns never read for display, export or logs (besides those named like credentials).
    secrets: tuple[str, ...] = ()
    #: Columns named like credentials that are not (a `token_kind`, an `auth_method`): shown after all.
    not_secret: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()
    #: Why there is no action, shown instead of a key.
    no_action_reason: str | None = None
    #: False when the writer never records failures (they stay pending).
    failures_recorded: bool = True
    #: Seconds after which an in-flight item counts as stale; None derives it from peers.
    stale_after: float | None = None
    #: One line shown with the track (what is special about this writer).
    note: str | None = None

    @property
    def raw_values(self) -> tuple[RawValue, ...]:
        """Raw values with an explicit mapping."""
        return tuple(self.states)

    def is_secret(self, column: str) -> bool:
        """Whether `column` must never be read: listed in `secrets`, or named like a credential and not
        listed in `not_secret`."""
        return column in self.secrets or (column not in self.not_secret and is_secret_name(column))

    def action(self, name: str) -> Action | None:
        """The action called `name`, if the profile allows it."""
        return next((a for a in self.actions if a.name == name), None)


@dataclass(frozen=True)
class Sessions:
    """A table of runs/sessions shown beside the tracks (DocumentationStore generations)."""

    table: str
    key: str = "rowid"
    started: str | None = None
    finished: str | None = None
    status: str | None = None
    #: Further columns worth showing.
    columns: tuple[str, ...] = ()
    tz: str = "utc"
    note: str | None = None


@dataclass(frozen=True)
class Profile:
    """How to read one kind of database."""

    name: str
    description: str
    tracks: tuple[Track, ...]
    sessions: Sessions | None = None
    #: Tables whose every column is secret (never read at all).
    secret_tables: tuple[str, ...] = ()
    #: "builtin", "detected", or "user:<path>".
    origin: str = "builtin"
    #: What the detector inferred and how sure it is (shown to the user).
    notes: tuple[str, ...] = ()
    #: 0..1; built-in and user profiles are 1.0.
    confidence: float = 1.0

    def track(self, name: str) -> Track | None:
        """The track called `name` (or on table `name`)."""
        return next((t for t in self.tracks if t.name == name or t.table == name), None)


#: Past tense of the built-in verbs, for messages.
VERBS = {"reset": "reset", "retry": "retried", "skip": "skipped", "requeue": "requeued"}


def past(verb: str) -> str:
    """'retry' -> 'retried'."""
    return VERBS.get(verb) or (verb + "d" if verb.endswith("e") else verb + "ed")
