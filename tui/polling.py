"""The IO the app runs in thread workers (a poll, a rescan, the directory watch), as message-returning
functions, and the small state the app keeps per source. No widgets here.

The app starts `poll_once` in a thread worker per source and schedules the next poll only when the
`Polled` message of the previous one has arrived (Dolphie's pattern: slow reads never pile up).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual.message import Message
from textual.timer import Timer

from batchtop.core.monitor import Monitor
from batchtop.core.sanitize import clean_line
from batchtop.core.source import Source
from batchtop.core.status import SourceStatus, source_status
from batchtop.core.timeutil import Clock
from batchtop.core.watch import DirectoryWatcher
from batchtop.tui.messages import FilesChanged, Polled, PollStats, SourcesFound, SourceView, WatchStopped

log = logging.getLogger(__name__)

#: Poll intervals `+` and `-` step through (seconds).
INTERVALS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def step_interval(current: float, longer: bool) -> float:
    """The next interval of `INTERVALS` above (`longer`) or below `current`, clamped at the ends."""
    if longer:
        return next((i for i in INTERVALS if i > current), INTERVALS[-1])
    return next((i for i in reversed(INTERVALS) if i < current), INTERVALS[0])


@dataclass
class Slot:
    """Poll scheduling state of one source."""

    source: Source
    in_flight: bool = False
    #: A change was reported while a poll ran (or while paused): poll again as soon as possible.
    again: bool = False
    timer: Timer | None = None


def unread_view(source: Source, error: str | None = None, stats: PollStats | None = None) -> SourceView:
    """The view of a source not read yet (or whose poll failed unexpectedly)."""
    status = SourceStatus(
        path=source.path, name=source.name, profile=None, journal_mode=None,
        state="error" if error else None, error=clean_line(error) if error else None,
        error_kind="error" if error else None, tracks=(), last_change=None, poll_cost=0.0,
    )
    return SourceView(source.path, source.name, status, None, None, stats)


def poll_once(monitor: Monitor, source: Source, clock: Clock) -> Polled:
    """Thread: one poll and the status derived from it, as the message to post. Never raises."""
    try:
        result = monitor.poll(source)
        stats = PollStats(result.cost, result.queries, result.changed, clock())
        with source.lock:  # the status reads the source's histories: no poll may run meanwhile
            status = source_status(source, clock())
            view = SourceView(source.path, source.name, status, source.snapshot, source.profile, stats)
        return Polled(view, result.events)
    except Exception as exc:  # noqa: BLE001 - a bug must not stop this source being retried
        log.exception("poll of %s failed", source.path)
        return Polled(unread_view(source, f"internal error while reading: {type(exc).__name__}: {exc}",
                                  PollStats(0.0, 0, True, clock())))


def scan_once(monitor: Monitor) -> SourcesFound:
    """Thread: look for new databases. Never raises (a failure becomes a notice; the next scan retries)."""
    try:
        added = monitor.rescan()
        return SourcesFound(added, monitor.notices, monitor.discovery.watch_dirs())
    except Exception as exc:  # noqa: BLE001
        return SourcesFound([], [f"scan failed: {type(exc).__name__}: {exc}"], [])


def make_watcher(dirs: list[tuple[Path, bool]], post: Callable[[Message], object],
                 stop: threading.Event) -> DirectoryWatcher:
    """A directory watcher whose callbacks (on its own thread) post `FilesChanged` / `WatchStopped`."""
    return DirectoryWatcher(
        dirs,
        on_change=lambda paths: post(FilesChanged(paths)),
        stop_event=stop,
        on_error=lambda exc: post(WatchStopped(clean_line(str(exc), 200))),
    )
