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

from batchtop.core.timeutil import human_duration

#: Windows (seconds) whose rates bound the ETA range.
RATE_WINDOWS = (120.0, 300.0, 900.0)
#: The window of the headline rate.
RATE_WINDOW = 300.0
#: Shortest span a rate is computed over, so the first seconds do not show absurd rates.
MIN_SPAN = 10.0
ACTIVITIES = ("active", "stalled", "finished", "interrupted", "waiting")


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
        """(soonest, latest) seconds to finish `remaining` items, from rates over several windows."""
        if remaining <= 0:
            return (0.0, 0.0)
        rates = [r for w in RATE_WINDOWS if (r := self.rate_per_min(now, w))]
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
    ) -> Activity:
        """Classify the track: active, stalled, finished, interrupted (or waiting when empty)."""
        if total == 0:
            return Activity("waiting", "waiting for items (no rows yet)")
        if remaining == 0:
            return Activity("finished", "nothing pending or running")
        gap = self.typical_gap() or 30.0
        stall_after = max(60.0, 5 * gap)
        interrupt_after = max(600.0, 20 * gap)
        progress = max((t for t in (self.last_progress, last_finished) if t is not None), default=None)
        progress_age = now - progress if progress is not None else None
        write_age = now - last_write if last_write is not None else None
        if progress_age is not None and progress_age <= stall_after:
            return Activity("active", "progress in the last few minutes")
        if progress_age is None and write_age is not None and write_age <= stall_after:
            return Activity("active", "the job is writing")
        if stale and not fresh_running:
            return Activity("interrupted", f"{stale} in-flight item(s) stale: the worker likely crashed")
        if fresh_running or (write_age is not None and write_age <= interrupt_after):
            quiet = human_duration(progress_age if progress_age is not None else write_age)
            return Activity("stalled", f"no progress for {quiet} while work remains")
        return Activity("interrupted", "work remains and nothing has moved")
