"""Status of sources and tracks at a moment: snapshot + history + clock, as the CLI and TUI show it.

The values here are built by `core.tracker` (`source_status`, `RunTracker.status`) from a tracker's
published state alone: building one takes no lock and touches no connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchtop.core.history import Activity, RunState
from batchtop.core.profiles.model import STATES, UNMAPPED
from batchtop.core.snapshot import MetricValue, RawCount, TrackSnapshot

#: A source's state is the most urgent of its tracks'.
SOURCE_ORDER = (RunState.ACTIVE, RunState.STALLED, RunState.INTERRUPTED, RunState.WAITING, RunState.FINISHED)


@dataclass(frozen=True)
class Resume:
    """If the job restarted now: what it would pick up, and what a reset of the failures would add."""

    pending: int
    stale_running: int
    #: Failed items a reset/retry would make eligible again (0 when the profile has no such action).
    resettable: int
    attempted_earlier: int = 0

    @property
    def picks_up(self) -> int:
        return self.pending + self.stale_running


@dataclass(frozen=True)
class TrackStatus:
    """One track of one source, with everything derived from its history."""

    source: str
    name: str
    table: str
    counts: dict[str, int]
    raw_counts: tuple[RawCount, ...]
    metrics: tuple[MetricValue, ...]
    total: int
    settled: int
    remaining: int
    rate_per_min: float | None
    eta: tuple[float, float] | None
    activity: Activity
    sparkline: tuple[int, ...]
    stale: int
    last_change: float | None
    resume: Resume
    note: str | None
    #: Rows whose raw value the profile does not map (in no state, not in `total`).
    unmapped: int = 0
    #: Something the person must know about these counts (unmapped values), or None.
    warning: str | None = None
    #: Share of a large table counted so far (below 1.0: the counts are partial, still being read).
    counted: float = 1.0

    @property
    def progress(self) -> float:
        """Settled share of the total, 0..1."""
        return self.settled / self.total if self.total else 0.0


@dataclass(frozen=True)
class SourceStatus:
    """One source: its tracks or its error."""

    path: str
    name: str
    profile: str | None
    journal_mode: str | None
    state: RunState | None
    error: str | None
    error_kind: str | None
    tracks: tuple[TrackStatus, ...]
    last_change: float | None
    poll_cost: float
    stale_snapshot: bool = False


def unmapped_warning(snap: TrackSnapshot, limit: int = 4) -> str | None:
    """'12 rows hold values the profile does not map (PRUNED 12): counted apart, not as pending'."""
    if not snap.unmapped:
        return None
    values = snap.unmapped_values
    shown = ", ".join(f"{r.raw} {r.count:,}" for r in values[:limit]) + (" …" if len(values) > limit else "")
    rows = "row holds a value" if snap.unmapped == 1 else "rows hold values"
    return (f"{snap.unmapped:,} {rows} the profile does not map ({shown}): counted apart as unmapped, "
            "not as pending; map them in the profile's [track.states]")


def to_json(status: SourceStatus) -> dict[str, Any]:
    """The `batchtop status --json` shape of one source (extra keys allowed by the contract)."""
    return {
        "path": status.path,
        "profile": status.profile,
        "journal_mode": status.journal_mode,
        "state": status.state,
        "error": status.error,
        "error_kind": status.error_kind,
        "tracks": [
            {
                "table": t.table,
                "track": t.name,
                "total": t.total,
                "counts": {s: t.counts.get(s, 0) for s in STATES},
                "unmapped": t.unmapped,
                "raw_counts": {r.raw: r.count for r in t.raw_counts},
                "unmapped_values": {r.raw: r.count for r in t.raw_counts if r.state == UNMAPPED},
                "metrics": {m.label: m.value for m in t.metrics},
                "rate_per_min": None if t.rate_per_min is None else round(t.rate_per_min, 3),
                "eta_seconds": None if t.eta is None else [round(t.eta[0], 1), round(t.eta[1], 1)],
                "activity": t.activity.state,
                "activity_reason": t.activity.reason,
                "warnings": [t.warning] if t.warning else [],
                "stale_running": t.stale,
                "resume": {"pending": t.resume.pending, "stale_running": t.resume.stale_running,
                           "resettable_failed": t.resume.resettable,
                           "attempted_earlier": t.resume.attempted_earlier},
            }
            for t in status.tracks
        ],
    }
