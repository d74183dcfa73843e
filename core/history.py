"""Per-track history: a bounded series of progress over time, giving rate, ETA range and activity.

Progress is counted as increases of the settled count (done + failed + skipped + cancelled) between
polls, so a reset (settled going down) never produces a negative rate, and schemas without per-row
timestamps (`llm_results`) still get a rate. Tracks with completion timestamps are seeded from them at
open, so the rate and sparkline are meaningful before the second poll.

A `History` is written by one poll at a time and publishes an immutable `HistoryState` after each write
(`state`): a status is derived from that state, so building one takes no lock, and a poll appending an
event never changes a state already handed out.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, replace

from batchtop.core.fmt import coarse_duration
from batchtop.core.profiles.model import StrEnum

#: Windows (seconds) whose rates bound the ETA range.
RATE_WINDOWS = (120.0, 300.0, 900.0)
#: The window of the headline rate.
RATE_WINDOW = 300.0
#: Shortest span a rate is computed over, so the first seconds do not show absurd rates.
MIN_SPAN = 10.0


class RunState(StrEnum):
    """What a track (or a source, or a set of chunks) is doing; the JSON and the badges use the value."""

    ACTIVE = "active"
    STALLED = "stalled"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"
    WAITING = "waiting"
    #: A source whose last poll failed (never a track's activity).
    ERROR = "error"


ACTIVITIES = (RunState.ACTIVE, RunState.STALLED, RunState.FINISHED, RunState.INTERRUPTED, RunState.WAITING)
#: "active" lasts this long after a write at least ...
ACTIVE_FLOOR = 10.0
#: ... and this many usual gaps once we have seen the job write while watching it ...
ACTIVE_GAPS = 3.0
#: ... but at most this long before we have: a database built or copied a moment ago, whose timestamps
#: look like a live job's, is not "active" for minutes on end.
FIRST_SIGHT = 30.0
#: An ETA is given from windows at least this many usual gaps long only if they saw progress.
ETA_GAPS = 3.0


@dataclass(frozen=True)
class Activity:
    """What a track is doing now, and why we think so."""

    state: RunState
    reason: str


@dataclass(frozen=True)
class HistoryState:
    """The progress events of one track as of one write: immutable, so read without a lock."""

    #: (time, items settled) per progress event, oldest first (bounded by the history's `maxlen`).
    events: tuple[tuple[float, int], ...] = ()
    started_at: float | None = None
    #: When the first poll recorded into this history (seeded events are older).
    watching_since: float | None = None
    last_progress: float | None = None
    resets: int = 0
    #: The settled count of the last poll (progress is counted from it).
    last_settled: int | None = None

    def rate_per_min(self, now: float, window: float = RATE_WINDOW) -> float | None:
        """Items settled per minute over the last `window` seconds; None before any progress."""
        if self.started_at is None or self.last_progress is None:
            return None
        start = now - window
        done = sum(d for t, d in self.events if t > start)
        span = min(window, max(MIN_SPAN, now - self.started_at))
        return done * 60.0 / span

    def eta(self, now: float, remaining: int) -> tuple[float, float] | None:
        """(soonest, latest) seconds to finish `remaining` items, from rates over several windows.

        A window several usual gaps long that saw no progress means the latest bound is unknown: no ETA
        (an old burst must not promise "24–34 s" for a dead worker). Shorter empty windows are expected
        between progress events and are left out.
        """
        if remaining <= 0:
            return (0.0, 0.0)
        gap = self.typical_gap() or MIN_SPAN
        rates = []
        for window in RATE_WINDOWS:
            rate = self.rate_per_min(now, window)
            if rate is None:
                continue
            if rate == 0:
                if window >= ETA_GAPS * gap:
                    return None
                continue
            rates.append(rate)
        if not rates:
            return None
        fast, slow = max(rates), min(rates)
        lo, hi = remaining * 60.0 / fast, remaining * 60.0 / slow
        if len(rates) == 1 or hi - lo < lo * 0.1:
            lo, hi = lo * 0.85, hi * 1.2  # one estimate: still say it is a range
        return (lo, hi)

    def typical_gap(self) -> float | None:
        """Median seconds between progress events (None with fewer than three)."""
        times = [t for t, _ in self.events]
        if len(times) < 3:
            return None
        gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
        return statistics.median(gaps) if gaps else None

    def sparkline(self, now: float, buckets: int = 24, width: float = 60.0) -> list[int]:
        """Items settled per bucket of `width` seconds, oldest first, ending now."""
        out = [0] * buckets
        start = now - buckets * width
        for t, d in self.events:
            if t > start:
                i = min(buckets - 1, int((t - start) // width))
                out[i] += d
        return out

    def activity(
        self,
        now: float,
        *,
        total: int,
        remaining: int,
        fresh_running: int,
        stale: int,
        last_write: float | None,
        last_finished: float | None = None,
        unknown_running: int = 0,
    ) -> Activity:
        """Classify the track: active, stalled, finished, interrupted (or waiting when empty).

        Args:
            fresh_running: In-flight items started recently (by their start time).
            stale: In-flight items started longer ago than the stale threshold.
            last_write: When the job last wrote the database (file times, and changes our polls saw).
            last_finished: Newest completion time in the rows (used when there is no write time).
            unknown_running: In-flight items whose start time is unknown (no start column, or NULL).

        "active" means the job is writing now and this track is not left behind: it ends a few usual
        gaps after the last write (at most `FIRST_SIGHT` seconds before we have seen a write ourselves),
        not minutes later; a track whose own progress stopped long ago while the job writes elsewhere
        (another table of the same file) is stalled.
        """
        if total == 0:
            return Activity(RunState.WAITING, "waiting for items (no rows yet)")
        if remaining == 0:
            return Activity(RunState.FINISHED, "nothing pending or running")
        gap = self.typical_gap()
        seen_writing = (last_write is not None and self.watching_since is not None
                        and last_write > self.watching_since)
        window = ACTIVE_FLOOR
        if gap is not None:
            window = max(ACTIVE_FLOOR, ACTIVE_GAPS * gap if seen_writing else min(FIRST_SIGHT, ACTIVE_GAPS * gap))
        stall_after = max(60.0, 5 * (gap or 30.0))
        interrupt_after = max(600.0, 20 * (gap or 30.0))
        progress = max((t for t in (self.last_progress, last_finished) if t is not None), default=None)
        progress_age = now - progress if progress is not None else None
        quiet_since = last_write if last_write is not None else progress
        quiet = now - quiet_since if quiet_since is not None else None
        moving = progress_age is None or progress_age <= stall_after
        if quiet is not None and quiet <= window and moving:
            if progress_age is not None and progress_age <= stall_after:
                return Activity(RunState.ACTIVE, "progress in the last few minutes")
            return Activity(RunState.ACTIVE, "the job is writing")
        if stale and not fresh_running:
            return Activity(RunState.INTERRUPTED, f"{stale} in-flight item(s) stale: the worker likely crashed")
        if unknown_running and not fresh_running and (quiet is None or quiet > interrupt_after):
            return Activity(RunState.INTERRUPTED, f"{unknown_running} in-flight item(s) and no write for "
                                           f"{coarse_duration(quiet)}: the worker likely crashed")
        if fresh_running or (quiet is not None and quiet <= interrupt_after):
            said = coarse_duration(progress_age if progress_age is not None and progress_age > 0 else quiet)
            return Activity(RunState.STALLED, f"no progress for {said} while work remains")
        return Activity(RunState.INTERRUPTED, "work remains and nothing has moved")



class History:
    """Progress events of one track, bounded in count and age; `state` is the latest published one.

    One writer at a time (the source's poll); any thread may read `state` (and the read methods, which
    use it) at any time.
    """

    def __init__(self, maxlen: int = 4096, horizon: float = 6 * 3600.0) -> None:
        self._maxlen = maxlen
        self._horizon = horizon
        self.state = HistoryState()

    def seed(self, finished_times: Iterable[float], now: float) -> None:
        """Pre-fill progress events from completion timestamps read from the database."""
        times = sorted(t for t in finished_times if now - self._horizon <= t <= now + 1)
        if times:
            state = self.state
            self.state = replace(state, events=(*state.events, *((t, 1) for t in times))[-self._maxlen:],
                                 started_at=times[0], last_progress=times[-1])

    def record(self, now: float, settled: int) -> None:
        """Record the settled count seen by a poll at `now` (publishes a new `state`)."""
        state = self.state
        events, last_progress, resets = state.events, state.last_progress, state.resets
        if state.last_settled is not None:
            delta = settled - state.last_settled
            if delta > 0:
                events = (*events, (now, delta))[-self._maxlen:]
                last_progress = now
            elif delta < 0:
                resets += 1  # a reset put items back: not negative progress
        oldest = now - self._horizon
        if events and events[0][0] < oldest:
            events = tuple(e for e in events if e[0] >= oldest)
        self.state = HistoryState(
            events=events, started_at=state.started_at if state.started_at is not None else now,
            watching_since=state.watching_since if state.watching_since is not None else now,
            last_progress=last_progress, resets=resets, last_settled=settled)

    # Reads, of the latest published state.

    @property
    def started_at(self) -> float | None:
        return self.state.started_at

    @property
    def watching_since(self) -> float | None:
        return self.state.watching_since

    @property
    def last_progress(self) -> float | None:
        return self.state.last_progress

    @property
    def resets(self) -> int:
        return self.state.resets

    def rate_per_min(self, now: float, window: float = RATE_WINDOW) -> float | None:
        return self.state.rate_per_min(now, window)

    def eta(self, now: float, remaining: int) -> tuple[float, float] | None:
        return self.state.eta(now, remaining)

    def typical_gap(self) -> float | None:
        return self.state.typical_gap()

    def sparkline(self, now: float, buckets: int = 24, width: float = 60.0) -> list[int]:
        return self.state.sparkline(now, buckets, width)

    def activity(self, now: float, *, total: int, remaining: int, fresh_running: int, stale: int,
                 last_write: float | None, last_finished: float | None = None,
                 unknown_running: int = 0) -> Activity:
        """`HistoryState.activity` of the latest state."""
        return self.state.activity(now, total=total, remaining=remaining, fresh_running=fresh_running,
                                   stale=stale, last_write=last_write, last_finished=last_finished,
                                   unknown_running=unknown_running)
