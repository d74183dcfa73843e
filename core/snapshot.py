"""Frozen snapshots of a source (what one poll read), and the pure helpers every backend's reads share.

The reads that build them are the backend's (SQLite: `batchtop.core.backends.sqlite.reads`; PostgreSQL:
`batchtop.core.backends.postgres.reads`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from batchtop.core.blobs import blob_text
from batchtop.core.profiles.model import REMAINING, SETTLED, UNMAPPED, Profile, RawValue, State, Track
from batchtop.core.sanitize import display

#: Newest failures carried in every snapshot (the failures screen pages further on demand).
SNAPSHOT_FAILURES = 20
#: In-flight start times read to detect stale items.
IN_FLIGHT_LIMIT = 500
#: Stale threshold bounds when derived from peers.
MIN_STALE, DEFAULT_STALE = 600.0, 1800.0


@dataclass(frozen=True)
class RawCount:
    """How many rows hold one raw value, and the canonical state it maps to."""

    raw: str
    state: str
    count: int


@dataclass(frozen=True)
class MetricValue:
    label: str
    unit: str
    value: float | None
    agg: str = "sum"

    def text(self) -> str:
        """'$1.23', '180,753 cards', '12.5s'."""
        if self.value is None:
            return "—"
        v = self.value
        num = f"{v:,.2f}" if (self.unit == "$" or self.agg == "avg" or v != int(v)) else f"{int(v):,}"
        return f"${num}" if self.unit == "$" else f"{num}{self.unit}"


@dataclass(frozen=True)
class FailureRow:
    """One failed item as a list shows it: previews only, never whole values."""

    key: RawValue
    label: str
    error: str
    error_len: int
    when: float | None
    raw: str


@dataclass(frozen=True)
class SessionRow:
    key: RawValue
    started: float | None
    finished: float | None
    status: str
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TrackSnapshot:
    """Counts and facts of one track at one poll."""

    name: str
    table: str
    counts: dict[str, int]
    raw_counts: tuple[RawCount, ...]
    metrics: tuple[MetricValue, ...]
    #: Start times (epoch) of in-flight items, oldest first, at most IN_FLIGHT_LIMIT.
    in_flight_starts: tuple[float, ...] = ()
    stale_after: float | None = None
    last_finished: float | None = None
    recent_failures: tuple[FailureRow, ...] = ()
    #: Pending items attempted by an earlier session (writers that never record failures).
    attempted_earlier: int = 0
    note: str | None = None
    #: Rows whose raw value the profile does not map (in `raw_counts` with state `unmapped`): counted
    #: apart, in no state and not in the total, and never as pending.
    unmapped: int = 0
    #: Share of a large table counted so far (its first pass of chunked counts, `core.counting`):
    #: below 1.0 the counts are partial, and shown as such.
    counted: float = 1.0

    @property
    def total(self) -> int:
        """Rows in one of the six states (unmapped rows are counted apart)."""
        return sum(self.counts.values())

    @property
    def unmapped_values(self) -> tuple[RawCount, ...]:
        """The raw values counted as unmapped, most frequent first."""
        return tuple(r for r in self.raw_counts if r.state == UNMAPPED)

    @property
    def settled(self) -> int:
        return sum(self.counts[s] for s in SETTLED)

    @property
    def remaining(self) -> int:
        return sum(self.counts[s] for s in REMAINING)

    def stale(self, now: float) -> int:
        """In-flight items older than the stale threshold at `now`."""
        if self.stale_after is None:
            return 0
        cutoff = now - self.stale_after
        return sum(1 for t in self.in_flight_starts if t < cutoff)


@dataclass(frozen=True)
class Snapshot:
    """Everything one poll read from one source."""

    path: str
    taken_at: float
    identity: tuple[int, int]
    journal_mode: str | None
    profile: Profile
    tracks: tuple[TrackSnapshot, ...]
    sessions: tuple[SessionRow, ...] = ()
    session_count: int = 0
    #: Wall seconds and statements the poll cost.
    cost: float = 0.0
    queries: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def track(self, name: str) -> TrackSnapshot | None:
        return next((t for t in self.tracks if t.name == name), None)


def preview(value: object, length: int | None, kind: str | None, limit: int) -> tuple[str, int]:
    """Display text and full length of a `text_preview` triple."""
    if value is None:
        return "", 0
    if kind == "blob":
        n = int(length or 0)
        return display(blob_text(bytes.fromhex(str(value)), n), limit), n
    return display(str(value), limit), int(length or len(str(value)))


def classify(track: Track, raw: RawValue, in_flight: object = False) -> tuple[str, str]:
    """Canonical state and display label of a raw value; a pending row in flight is running, and a value
    the profile does not map is `unmapped`.

    The label is the raw value itself: callers say "started" their own way.
    """
    state = track.states.get(raw, track.default_state) or UNMAPPED
    label = "NULL" if raw is None else display(str(raw), 40)
    return ("running" if in_flight and state == State.PENDING else state), label


