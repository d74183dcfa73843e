"""The IO the app runs off the UI thread (the poller, a rescan, the directory watch), as threads and
message-returning functions. No widgets here.

`Poller` is the one place polls are scheduled from: a single gate thread sweeps the file identities of
every source once per interval (`core.identity.Gate`: three `stat` calls per source, no query) and hands
only the sources that changed, were reported by the watch, or are still hot to a thread pool, so one slow
or locked source never holds up another, and a source is never polled twice at once (slow reads never
pile up). A poll that found nothing new posts nothing: nothing is marked dirty, nothing re-renders.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from textual.message import Message

from batchtop.core.backends.postgres.source import KIND as PG_KIND
from batchtop.core.history import RunState
from batchtop.core.identity import Gate
from batchtop.core.monitor import Monitor
from batchtop.core.sanitize import clean_line
from batchtop.core.source import Source
from batchtop.core.status import SourceStatus
from batchtop.core.timeutil import Clock
from batchtop.core.tracker import source_status
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


#: Threads for polls: they mostly wait on SQLite locks or disk, so more than the CPU count.
IO_THREADS = 16


def unread_view(source: Source, error: str | None = None, stats: PollStats | None = None) -> SourceView:
    """The view of a source not read yet (or whose poll failed unexpectedly)."""
    status = SourceStatus(
        path=source.path, name=source.name, profile=None, journal_mode=None,
        state=RunState.ERROR if error else None, error=clean_line(error) if error else None,
        error_kind="error" if error else None, tracks=(), last_change=None, poll_cost=0.0,
    )
    return SourceView(source.path, source.name, status, None, None, stats)


def poll_once(monitor: Monitor, source: Source, clock: Clock, force: bool = False) -> Polled:
    """Thread: one poll and the status derived from it, as the message to post. Never raises."""
    try:
        result = monitor.poll(source, force)
        stats = PollStats(result.cost, result.queries, result.changed, clock(), result.more)
        # No lock: the status is derived from what the poll published (`core.tracker`), never changed.
        status = source_status(source, clock())
        view = SourceView(source.path, source.name, status, result.snapshot, source.profile, stats)
        return Polled(view, result.events)
    except Exception as exc:  # noqa: BLE001 - a bug must not stop this source being retried
        log.exception("poll of %s failed", source.path)
        return Polled(unread_view(source, f"internal error while reading: {type(exc).__name__}: {exc}",
                                  PollStats(0.0, 0, True, clock())))


def scan_once(monitor: Monitor, quick: bool = False) -> SourcesFound:
    """Thread: look for new databases (`quick`: only if a directory changed). Never raises (a failure
    becomes a notice; the next scan retries)."""
    try:
        added = monitor.rescan(quick)
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


class Poller:
    """Schedules every poll: one gate thread (`run`) and a pool of poll threads. Thread-safe methods.

    `post` receives a `Polled` only when a poll read something new, failed with a new error, or has an
    event to tell; an unchanged source costs three `stat` calls per interval and nothing else (after its
    hot period, see `core.identity`).
    """

    def __init__(self, monitor: Monitor, clock: Clock, post: Callable[[Message], object], *,
                 interval: float = 1.0, threads: int = IO_THREADS) -> None:
        self.monitor = monitor
        self.clock = clock
        self.post = post
        self.gate = Gate(interval)
        self.paused = False
        self._lock = threading.Lock()  # the gate: swept here, asked by the UI thread, told by the pool
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="batchtop-poll")
        #: The error text each source last posted (a repeated error is not news).
        self._shown_error: dict[str, str | None] = {}
        self._next_full = 0.0

    # -- asked by the app (UI thread) ---------------------------------------------------------------

    def add(self, paths: Iterable[str]) -> None:
        """Gate these sources too; each is polled at once."""
        with self._lock:
            for path in paths:
                source = self.monitor.sources.get(path)
                self.gate.add(path, files=getattr(source, "kind", "sqlite") != PG_KIND)
        self._wake.set()

    def want(self, paths: Iterable[str], *, force: bool = False, urgent: bool = True) -> None:
        """Poll these sources now (or right after the poll in flight): an action, `r`; a watch event
        (`urgent=False`) once the wait after the last poll ended (`core.identity.Gate.want`)."""
        with self._lock:
            self.gate.want(paths, time.monotonic(), force=force, urgent=urgent)
        self._wake.set()

    def want_all(self) -> None:
        """Poll every source now."""
        with self._lock:
            paths = list(self.gate.states)
        self.want(paths)

    def set_interval(self, seconds: float) -> None:
        with self._lock:
            self.gate.interval = seconds
            self._next_full = 0.0
        self._wake.set()

    def pause(self, paused: bool) -> None:
        """Start no poll while paused (those running finish)."""
        self.paused = paused
        if not paused:
            self.want_all()

    def stop(self) -> None:
        """End `run()` and start no more polls; polls in flight are not waited for."""
        self._stop.set()
        self._wake.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self.gate.in_flight

    @property
    def sweeps(self) -> int:
        """Full sweeps of the gate so far."""
        return self.gate.sweeps

    # -- the gate thread ----------------------------------------------------------------------------

    def run(self) -> None:
        """The gate thread: sweep, dispatch, sleep until the next interval or a wake-up; until `stop()`."""
        while not self._stop.is_set():
            self._wake.clear()  # before the sweep: a request made during it wakes the next round
            now = time.monotonic()
            with self._lock:
                due: list[tuple[str, bool]] = []
                if not self.paused:
                    full = now >= self._next_full
                    if full:
                        self._next_full = now + self.gate.interval
                    due = self.gate.sweep(now, full=full)
                timeout = min(max(0.0, self._next_full - now), self.gate.next_due(now))
            for path, force in due:
                self._dispatch(path, force)
            self._wake.wait(timeout if not self.paused else None)

    def _dispatch(self, path: str, force: bool) -> None:
        source = self.monitor.sources.get(path)
        if source is None:
            with self._lock:
                self.gate.discard(path)
            return
        try:
            self._pool.submit(self._poll, source, force)
        except RuntimeError:  # the pool was shut down: quitting
            pass

    def _poll(self, source: Source, force: bool) -> None:
        """Pool thread: one poll; posts its `Polled` only when it has news."""
        started = time.monotonic()
        message: Polled | None = None
        failed, changed, more = True, True, 0.0
        try:
            message = poll_once(self.monitor, source, self.clock, force)
            stats = message.view.stats
            changed = stats is not None and stats.changed
            more = stats.more if stats is not None else 0.0
            error = message.view.status.error
            failed = error is not None
            news = changed and (not failed or error != self._shown_error.get(source.path, ""))
            if not (news or message.events):
                message = None
            else:
                self._shown_error[source.path] = error
        finally:
            now = time.monotonic()
            with self._lock:
                again = self.gate.finished(source.path, now, cost=now - started, changed=changed, failed=failed,
                                           more=more)
            if message is not None:
                self.post(message)
            if again:
                self._wake.set()
