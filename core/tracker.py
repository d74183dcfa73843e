"""What a source's snapshots add up to over time: per-track history, write times, and the run state.

A `RunTracker` is fed the frozen snapshots a source reads (`update`) and the facts of its gate (the file's
write time, a commit seen by a poll); it never touches a connection. After every change it publishes an
immutable `TrackerState`, from which `status` derives rate, ETA, activity and resume state: building a
status takes no lock and never waits for a poll.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Protocol

from batchtop.core import fmt
from batchtop.core.errors import BatchtopError
from batchtop.core.history import History, HistoryState, RunState
from batchtop.core.profiles.model import Profile, Track
from batchtop.core.snapshot import IN_FLIGHT_LIMIT, Snapshot, TrackSnapshot
from batchtop.core.status import SOURCE_ORDER, Resume, SourceStatus, TrackStatus, unmapped_warning
from batchtop.core.timeutil import FUTURE_SLACK

#: Seconds of completion timestamps a backend reads to seed a history at open.
SEED_HORIZON = 3600.0

_EMPTY: Mapping[str, HistoryState] = MappingProxyType({})


@dataclass(frozen=True)
class TrackerState:
    """One published moment of a tracker: read by any thread, never changed."""

    histories: Mapping[str, HistoryState] = field(default_factory=lambda: _EMPTY)
    #: When the job last wrote: the newest file time (SQLite), or the last change we read (a server).
    last_write: float | None = None
    #: When a poll of ours last saw the data change (a commit), by our clock: file times can be skewed
    #: (network filesystems) or coarse.
    last_seen_write: float | None = None
    #: When the counts last changed (by our clock; at the first read, the last write).
    last_change: float | None = None

    def history(self, name: str) -> HistoryState:
        return self.histories.get(name) or HistoryState()


class RunTracker:
    """History and write times of one source, derived from its snapshots (one writer: its poll).

    `file_times`: the source has files whose times say when the job wrote (SQLite). Without them (a
    server) the job "last wrote" when the data we read last changed, and a change is also a new newest
    completion time.
    """

    def __init__(self, path: str, *, file_times: bool = True) -> None:
        self.path = path
        self.file_times = file_times
        self._histories: dict[str, History] = {}
        self._seeded: set[str] = set()
        self._tracks: tuple[TrackSnapshot, ...] | None = None
        self.state = TrackerState()

    # -- written by the poll ------------------------------------------------------------------------

    @property
    def histories(self) -> Mapping[str, History]:
        return self._histories

    @property
    def seeded(self) -> frozenset[str]:
        """The tracks whose history was seeded from the database (the reader reads seeds for the others)."""
        return frozenset(self._seeded)

    def file_time(self, when: float | None) -> None:
        """The newest file time the gate saw (stat only)."""
        if when != self.state.last_write:
            self.state = replace(self.state, last_write=when)

    def saw_write(self, now: float) -> None:
        """A poll of ours saw the data change (a commit of the job's) at `now`."""
        self.state = replace(self.state, last_seen_write=now)

    def reset(self) -> None:
        """Forget the histories (the file was replaced, or the tables were): they were another run's."""
        self._histories.clear()
        self._seeded.clear()
        self._publish()

    def update(self, snapshot: Snapshot, seeds: Mapping[str, Sequence[float]] = MappingProxyType({})) -> None:
        """Add a new snapshot: seed the histories named in `seeds` (completion times read with it), record
        the settled counts of the fully counted tracks, and note whether the counts changed."""
        now = snapshot.taken_at
        for snap in snapshot.tracks:
            history = self._histories.get(snap.name)
            if history is None:
                history = self._histories[snap.name] = History()
            if snap.name in seeds:
                history.seed(seeds[snap.name], now)
                self._seeded.add(snap.name)
            if snap.counted >= 1.0:  # partial counts of a first pass are no throughput
                history.record(now, snap.settled)
        tracks, last_change = snapshot.tracks, self.state.last_change
        if self._tracks is None:
            # First read: the data last changed when the job last wrote, not now.
            if self.file_times:
                last_change = self.state.last_write or now
            else:
                last_change = max((t.last_finished for t in tracks if t.last_finished), default=now)
        elif any(t.counted < 1.0 for t in (*tracks, *self._tracks)):
            pass  # counts growing as the first pass goes (and its end) are not changes of the data
        elif [self._key(t) for t in self._tracks] != [self._key(t) for t in tracks]:
            last_change = now
        self._tracks = tracks
        self.state = replace(self.state, last_change=last_change)
        if not self.file_times:
            self.state = replace(self.state, last_write=last_change)
        self._publish()

    def _key(self, snap: TrackSnapshot) -> object:
        return snap.counts if self.file_times else (snap.counts, snap.last_finished)

    def _publish(self) -> None:
        self.state = replace(self.state, histories=MappingProxyType(
            {name: h.state for name, h in self._histories.items()}))

    # -- read by anyone (from the published state only) ---------------------------------------------

    @property
    def last_change(self) -> float | None:
        return self.state.last_change

    def write_time(self, now: float, state: TrackerState | None = None) -> float | None:
        """When the job last wrote, as far as we can tell at `now`: the newest file time (unless it lies
        ahead of the clock: skew) or the last change a poll of ours saw, whichever is later; for a server,
        the last change we read."""
        state = state or self.state
        if not self.file_times:
            return state.last_write
        last = state.last_write
        mtime = last if last is not None and last <= now + FUTURE_SLACK else None
        return max((t for t in (mtime, state.last_seen_write) if t is not None), default=None)

    def status(self, snap: TrackSnapshot, now: float, track: Track | None,
               state: TrackerState | None = None) -> TrackStatus:
        """Derive rate, ETA, activity and resume state of one track at `now` (`track`: its profile entry,
        for the actions a reset would use)."""
        state = state or self.state
        history = state.history(snap.name)
        stale = snap.stale(now)
        running = snap.counts["running"]
        # In-flight rows with no start time (no start column, or NULL) cannot be told fresh or stale.
        starts = len(snap.in_flight_starts) if snap.stale_after is not None else 0
        unknown = 0 if starts >= IN_FLIGHT_LIMIT else max(0, running - starts)
        fresh = max(0, running - stale - unknown)
        activity = history.activity(now, total=snap.total, remaining=snap.remaining, fresh_running=fresh,
                                    stale=stale, last_write=self.write_time(now, state),
                                    last_finished=snap.last_finished, unknown_running=unknown)
        resettable = snap.counts["failed"] if track and any("failed" in a.from_states and a.to_state == "pending"
                                                            for a in track.actions) else 0
        last = max((t for t in (history.last_progress, snap.last_finished, state.last_change) if t), default=None)
        warning = unmapped_warning(snap)
        partial = (f"counting: {fmt.percent(snap.counted, 0)} of the table read so far, the counts are partial"
                   if snap.counted < 1.0 else None)
        moving = activity.state in (RunState.ACTIVE, RunState.FINISHED)
        return TrackStatus(
            source=self.path, name=snap.name, table=snap.table, counts=dict(snap.counts),
            raw_counts=snap.raw_counts, metrics=snap.metrics, total=snap.total, settled=snap.settled,
            remaining=snap.remaining, rate_per_min=history.rate_per_min(now),
            # Only a job that is moving has an ETA: a stalled or crashed one would finish "never".
            eta=history.eta(now, snap.remaining) if moving and not partial else None,
            activity=activity, sparkline=tuple(history.sparkline(now)), stale=stale, last_change=last,
            resume=Resume(snap.counts["pending"], stale, resettable, snap.attempted_earlier),
            # The warning leads the note, so every screen that shows the note shows it.
            note=" · ".join(n for n in (partial, warning, snap.note) if n) or None, unmapped=snap.unmapped,
            warning=warning, counted=snap.counted,
        )


class Watched(Protocol):
    """What a status is built from: a source's latest reads and its tracker (SQLite's or a server's)."""

    @property
    def path(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def journal_mode(self) -> str | None: ...
    @property
    def snapshot(self) -> Snapshot | None: ...
    @property
    def error(self) -> BatchtopError | None: ...
    @property
    def profile(self) -> Profile | None: ...
    @property
    def tracker(self) -> RunTracker: ...


def source_status(source: Watched, now: float) -> SourceStatus:
    """Status of a source: tracks from its latest good snapshot, plus its current error if any."""
    # Each read once: a poll running meanwhile publishes new ones, it never changes these.
    snap, error, profile, tracker = source.snapshot, source.error, source.profile, source.tracker
    published = tracker.state
    tracks = tuple(tracker.status(t, now, profile.track(t.name) if profile else None, published)
                   for t in snap.tracks) if snap else ()
    state: RunState | None
    if error is not None:
        state = RunState.ERROR
    elif tracks:
        state = min((t.activity.state for t in tracks), key=SOURCE_ORDER.index)
    else:
        state = None
    return SourceStatus(
        path=source.path, name=source.name, profile=profile.name if profile else None,
        journal_mode=source.journal_mode, state=state, error=error.message if error else None,
        error_kind=error.kind if error else None, tracks=tracks,
        last_change=max((t.last_change for t in tracks if t.last_change), default=published.last_change),
        poll_cost=snap.cost if snap else 0.0, stale_snapshot=error is not None and snap is not None,
    )
