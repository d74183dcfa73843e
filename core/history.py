"""Per-track history: a bounded series of progress over time, giving rate, ETA range and activity.

Progress is counted as increases of the settled count (done + failed + skipped + cancelled) between
polls, so a reset (settled going down) never produces a negative rate, and schemas without per-row
timestamps (`llm_results`) still get a rate. Tracks with completion timestamps are seeded from them at
open, so the rate and sparkline are meaningful before the second poll.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from batchtop.core.fmt import coarse_duration

#: Windows (seconds) whose rates bound the ETA range.
RATE_WINDOWS = (120.0, 300.0, 900.0)
#: The window of the headline rate.
RATE_WINDOW = 300.0
#: Shortest span a rate is computed over, so the first seconds do not show absurd rates.
MIN_SPAN = 10.0
ACTIVITIES = ("active", "stalled", "finished", "interrupted", "waiting")
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

    state: str
    reason: str


class History:
    """Progress events of one track, bounded in count and age."""

    def __init__(self, maxlen: int = 4096, horizon: float = 6 * 3600.0) -> None:
        self._events: deque[tuple[float, int]] = deque(maxlen=maxlen)
        self._horizon = horizon
        self._last_settled: int | None = None
        self.started_at: float | None = None
        #: When the first poll recorded into this history (seeded events are older).
        self.watching_since: float | None = None
        self.last_progress: float | None = None
        self.resets = 0

    def seed(self, finished_times: Iterable[float], now: float) -> None:
        """Pre-fill progress events from completion timestamps read from the database."""
        times = sorted(t for t in finished_times if now - self._horizon <= t <= now + 1)
        for t in times:
            self._events.append((t, 1))
        if times:
            self.started_at = times[0]
            self.last_progress = times[-1]

    def record(self, now: float, settled: int) -> None:
        """Record the settled count seen by a poll at `now`."""
        if self.started_at is None:
            self.started_at = now
        if self.watching_since is None:
            self.watching_since = now
        if self._last_settled is not None:
            delta = settled - self._last_settled
            if delta > 0:
                self._events.append((now, delta))
                self.last_progress = now
            elif delta < 0:
                self.resets += 1  # a reset put items back: not negative progress
        self._last_settled = settled
        while self._events and self._events[0][0] < now - self._horizon:
            self._events.popleft()

    def rate_per_min(self, now: float, window: float = RATE_WINDOW) -> float | None:
        """Items settled per minute over the last `window` seconds; None before any progress."""
        if self.started_at is None or self.last_progress is None:
            return None
        start = now - window
        done = sum(d for t, d in self._events if t > start)
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
        times = [t for t, _ in self._events]
        if len(times) < 3:
            return None
        gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
        return statistics.median(gaps) if gaps else None

    def sparkline(self, now: float, buckets: int = 24, width: float = 60.0) -> list[int]:
        """Items settled per bucket of `width` seconds, oldest first, ending now."""
        out = [0] * buckets
        start = now - buckets * width
        for t, d in self._events:
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
            return Activity("waiting", "waiting for items (no rows yet)")
        if remaining == 0:
            return Activity("finished", "nothing pending or running")
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
                return Activity("active", "progress in the last few minutes")
            return Activity("active", "the job is writing")
        if stale and not fresh_running:
            return Activity("interrupted", f"{stale} in-flight item(s) stale: the worker likely crashed")
        if unknown_running and not fresh_running and (quiet is None or quiet > interrupt_after):
            return Activity("interrupted", f"{unknown_running} in-flight item(s) and no write for "
                                           f"{coarse_duration(quiet)}: the worker likely crashed")
        if fresh_running or (quiet is not None and quiet <= interrupt_after):
            said = coarse_duration(progress_age if progress_age is not None and progress_age > 0 else quiet)
            return Activity("stalled", f"no progress for {said} while work remains")
        return Activity("interrupted", "work remains and nothing has moved")
