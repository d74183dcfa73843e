"""The batchtop Textual app: owns the IO workers and routes their messages to the screens.

All IO runs in thread workers (one exclusive group per source), and results come back as messages.
Like Dolphie, the next poll of a source is scheduled only when its previous poll has finished, so a
locked, damaged or slow database never piles up polls; a directory-watch event polls at once. Screen
refreshes are coalesced (one per batch of messages) and skipped while a modal screen is open.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from batchtop.core.monitor import Monitor
from batchtop.core.sanitize import clean_line
from batchtop.core.source import Source
from batchtop.core.timeutil import Clock, system_clock
from batchtop.tui.alerting import AlertSettings, AppAlerts
from batchtop.tui.messages import FilesChanged, Polled, SourcesFound, SourceView, WatchStopped
from batchtop.tui.polling import Slot, make_watcher, poll_once, scan_once, step_interval, unread_view
from batchtop.tui.screens.help import HelpScreen, bound_commands
from batchtop.tui.screens.live import LiveScreen
from batchtop.tui.screens.overview import OverviewScreen
from batchtop.tui.screens.source import SourceScreen
from batchtop.tui.trends import Trends

#: Seconds between rescans for new files when nothing reported one (network filesystems, watch off).
RESCAN_EVERY = 2.0
#: Seconds screen refreshes are delayed by, so that polls finishing together make one refresh.
FLUSH_DELAY = 0.05
#: Threads for IO: polls mostly wait on SQLite locks or disk, so more than the CPU count.
IO_THREADS = 16


class BatchtopApp(App[int]):
    """Live monitor of the SQLite progress databases of batch jobs."""

    TITLE = "batchtop"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("p", "pause", "Pause"),
        Binding("plus", "slower", "Slower", key_display="+"),
        Binding("minus", "faster", "Faster", key_display="-"),
        Binding("r", "refresh", "Refresh now", show=False),
        Binding("E", "events", "Events", show=False),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | q | Quit (from any screen; Escape goes back one screen). |
    | ? | Show every key of the current screen. |
    | p | Pause or resume polling (the screen keeps the last data). |
    | + | Poll less often (longer fallback interval). |
    | - | Poll more often (shorter fallback interval). |
    | r | Poll every source now and look for new files. |
    | E | The event log: alerts of this session (finished, stalled, new failures, new error causes). |
    | ctrl+p | Command palette. |
    """

    def __init__(
        self,
        monitor: Monitor,
        *,
        clock: Clock = system_clock,
        watch: bool = True,
        poll_interval: float = 1.0,
        read_only: bool = False,
        journal_path: Path | None = None,
        alerts: AlertSettings | None = None,
    ) -> None:
        """Args: the monitor of the sources; a clock (tests inject a fixed one); whether to watch
        directories (tests turn it off); the fallback poll interval in seconds; read-only mode (every
        action key refuses, and nothing is ever opened read-write); and the action journal path (None:
        `$BATCHTOP_JOURNAL`, else the XDG state directory); the alert settings (None: no alerts)."""
        super().__init__()
        self.monitor = monitor
        self.clock = clock
        self.watch = watch
        self.poll_interval = poll_interval
        self.read_only = read_only
        self.journal_path = journal_path
        #: Latest view of every source, by path.
        self.views: dict[str, SourceView] = {}
        #: Rate and ETA samples per track (the source screen's ETA history).
        self.trends = Trends()
        self.paused = False
        #: True: the directory watch runs; False: off or failed (timed polls only); None: starting.
        self.watching: bool | None = None if watch else False
        #: Show measured poll costs (snapshot tests turn this off: wall time is not deterministic).
        self.show_timings = True
        #: Blink text cursors (snapshot tests turn it off).
        self.cursor_blink = True
        #: Discovery notices ("narrow your pattern", hard links), sanitised.
        self.notices: list[str] = []
        #: True once the first scan has finished (until then an empty list means "looking").
        self.scanned = False
        self._slots: dict[str, Slot] = {}
        self._dirty: set[str] = set()
        self._flush_pending = False
        self._scan_in_flight = False
        self._scan_again = False
        self._watch_stop = threading.Event()
        self._watch_dirs: list[tuple[Path, bool]] | None = None
        #: Alerts on finished, stalled, failing runs (tui/alerting.py); None when off.
        self.alerts = AppAlerts(self, alerts) if alerts is not None else None

    # -- screens ------------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        return OverviewScreen()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette offers every action bound to a key on the current screen, plus Textual's own."""
        yield from super().get_system_commands(screen)
        for title, help_text, node, action in bound_commands(screen):
            yield SystemCommand(title, help_text, partial(self.run_action, action, node))

    def open_source(self, path: str, track: str | None = None) -> None:
        """Push the source screen of `path` (with `track` selected)."""
        if path in self._slots:
            self.push_screen(SourceScreen(path, track))

    def open_failures(self, path: str, track: str) -> None:
        """Push the failures screen of one track (provided by the failures module when present)."""
        try:
            from batchtop.tui.screens.failures import FailuresScreen
        except ImportError:
            self.notify("The failures view is not available in this build.", severity="warning")
            return
        self.push_screen(FailuresScreen(self._slots[path].source, track))

    def open_journal(self, db: str | None = None) -> None:
        """Push the action journal (of one database, or of all)."""
        from batchtop.tui.screens.journal import JournalScreen

        self.push_screen(JournalScreen(db))

    def open_tables(self, path: str) -> None:
        """Push the read-only table view of one database."""
        from batchtop.tui.screens.tables import TablesScreen

        source = self.source_of(path)
        if source is not None:
            self.push_screen(TablesScreen(source))

    def source_of(self, path: str) -> Source | None:
        """The watched source of `path`, if any."""
        slot = self._slots.get(path)
        return slot.source if slot is not None else None

    def open_item(self, path: str, track: str, key: object) -> None:
        """Push the detail screen of one item."""
        try:
            from batchtop.tui.screens.item import ItemScreen
        except ImportError:
            self.notify("The item view is not available in this build.", severity="warning")
            return
        self.push_screen(ItemScreen(self._slots[path].source, track, key))

    # -- lifecycle ----------------------------------------------------------------------------------

    def on_mount(self) -> None:
        # Locked or slow databases each hold an IO thread for up to their busy timeout.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="batchtop-io"))
        self._add_sources(list(self.monitor.sources.values()))
        self._rescan()
        self.set_interval(RESCAN_EVERY, self._rescan)
        self.set_interval(1.0, self._tick)

    def on_unmount(self) -> None:
        self._watch_stop.set()

    async def action_quit(self) -> None:
        """Quit from anywhere: stop the watch and abort reads in flight, so no thread is waited for."""
        self._watch_stop.set()
        for source in self.monitor.snapshot_sources():
            source.interrupt()
        self.exit(0)

    # -- scanning -----------------------------------------------------------------------------------

    def _rescan(self) -> None:
        if self.paused:
            return
        if self._scan_in_flight:
            self._scan_again = True
            return
        self._scan_in_flight = True
        self.run_worker(self._scan_work, name="rescan", group="scan", thread=True, exit_on_error=False)

    def _scan_work(self) -> None:
        self.post_message(scan_once(self.monitor))

    def on_sources_found(self, message: SourcesFound) -> None:
        self._scan_in_flight = False
        self.scanned = True
        self.notices = [clean_line(n, 300) for n in message.notices]
        self._add_sources(message.sources)
        if self.watch and message.watch_dirs and message.watch_dirs != self._watch_dirs:
            self._start_watch(message.watch_dirs)
        self._mark_dirty(None)
        if self._scan_again:
            self._scan_again = False
            self._rescan()

    def _add_sources(self, sources: list[Source]) -> None:
        for source in sources:
            if source.path not in self._slots:
                self._slots[source.path] = Slot(source)
                self.views[source.path] = unread_view(source)
                self._mark_dirty(source.path)
                self._poll(source.path)

    # -- watching -----------------------------------------------------------------------------------

    def _start_watch(self, dirs: list[tuple[Path, bool]]) -> None:
        self._watch_stop.set()  # the previous watcher (if any) returns within its step
        self._watch_stop = threading.Event()
        self._watch_dirs = dirs
        watcher = make_watcher(dirs, self.post_message, self._watch_stop)
        self.watching = True
        self.run_worker(watcher.run, name="directory watch", group="watch", thread=True, exit_on_error=False)

    def on_files_changed(self, message: FilesChanged) -> None:
        unknown = False
        for path in message.paths:
            if str(path) in self._slots:
                self._poll(str(path))
            else:
                unknown = True  # a new file (or directory): look for new databases
        if unknown:
            self._rescan()

    def on_watch_stopped(self, message: WatchStopped) -> None:
        self.watching = False
        self.notify(f"Directory watch stopped; polling every {self.poll_interval:g}s instead.",
                    severity="warning", markup=False)
        self._mark_dirty(None)

    # -- polling ------------------------------------------------------------------------------------

    def _poll(self, path: str) -> None:
        """Poll one source now, unless paused or already polling (then it polls again right after)."""
        slot = self._slots.get(path)
        if slot is None:
            return
        if self.paused or slot.in_flight:
            slot.again = True
            return
        if slot.timer is not None:
            slot.timer.stop()
            slot.timer = None
        slot.in_flight = True
        slot.again = False
        self.run_worker(partial(self._poll_work, slot.source), name=f"poll {slot.source.name}",
                        group=f"poll:{path}", thread=True, exclusive=True, exit_on_error=False)

    def poll_now(self, path: str) -> None:
        """Poll `path` now (after an action wrote to it), or right after the poll in flight."""
        self._poll(path)

    def _poll_work(self, source: Source) -> None:
        """Thread: one poll; always posts a `Polled`."""
        self.post_message(poll_once(self.monitor, source, self.clock))

    def on_polled(self, message: Polled) -> None:
        view = message.view
        slot = self._slots.get(view.path)
        if slot is None:
            return
        slot.in_flight = False
        self.views[view.path] = view
        self.trends.record(view.status, self.clock())
        for event in message.events:
            self.notify(event, markup=False)  # fixed strings from core, never DB text
        if self.alerts is not None:
            self.alerts.observe(view)
        self._mark_dirty(view.path)
        self._schedule(slot)

    def _schedule(self, slot: Slot) -> None:
        if self.paused:
            return
        if slot.again:
            self._poll(slot.source.path)
        elif slot.timer is None:
            slot.timer = self.set_timer(self.poll_interval, partial(self._timed_poll, slot))

    def _timed_poll(self, slot: Slot) -> None:
        slot.timer = None
        self._poll(slot.source.path)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Backstop: a poll worker that died without posting must not leave its source unpolled forever.
        worker = event.worker
        if event.state in (WorkerState.ERROR, WorkerState.CANCELLED) and worker.group.startswith("poll:"):
            slot = self._slots.get(worker.group[5:])
            if slot is not None and slot.in_flight:
                slot.in_flight = False
                self._schedule(slot)

    @property
    def in_flight(self) -> int:
        """Polls running now."""
        return sum(1 for s in self._slots.values() if s.in_flight)

    @property
    def polled_all(self) -> bool:
        """Whether every known source has finished at least one poll (tests wait for this)."""
        return self.scanned and all(v.stats is not None for v in self.views.values())

    # -- refreshing screens -------------------------------------------------------------------------

    def _mark_dirty(self, path: str | None) -> None:
        if path is not None:
            self._dirty.add(path)
        if not self._flush_pending:
            # One screen refresh per batch of polls, at most every FLUSH_DELAY: with 100 sources polling
            # every second, the UI thread redraws ~20 times a second whatever the message rate.
            self._flush_pending = True
            self.set_timer(FLUSH_DELAY, self._flush_views)

    def _live_screen(self) -> LiveScreen | None:
        """The screen to update, or None while a modal (or a screen without live data) is on top."""
        try:
            screen = self.screen
        except ScreenStackError:  # shutting down
            return None
        if isinstance(screen, ModalScreen) or not isinstance(screen, LiveScreen) or not screen.ready:
            return None
        return screen

    # Not `_flush`: Textual's App has its own `_flush` (it prints captured output), which this would shadow.
    def _flush_views(self) -> None:
        self._flush_pending = False
        screen = self._live_screen()
        if screen is None:
            return  # nothing visible to update; the screen catches up when it is shown again
        dirty, self._dirty = self._dirty, set()
        try:
            screen.refresh_views(dirty)
        except NoMatches:
            self._dirty |= dirty  # the screen is being built or torn down: try again with the next batch

    def _tick(self) -> None:
        screen = self._live_screen()
        if screen is not None:
            try:
                screen.tick()
            except NoMatches:
                pass  # a screen being built or torn down has nothing to tick yet

    # -- actions ------------------------------------------------------------------------------------

    def action_events(self) -> None:
        """Show the event log."""
        from batchtop.tui.screens.events import EventsScreen

        self.push_screen(EventsScreen())

    def action_help(self) -> None:
        """Show the keys of the current screen."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_pause(self) -> None:
        """Pause or resume polling."""
        self.paused = not self.paused
        if self.paused:
            for slot in self._slots.values():
                if slot.timer is not None:
                    slot.timer.stop()
                    slot.timer = None
        else:
            self.action_refresh()
        self._mark_dirty(None)

    def action_refresh(self) -> None:
        """Poll every source now, and look for new files."""
        for path in list(self._slots):
            self._poll(path)
        self._rescan()

    def action_slower(self) -> None:
        """Longer fallback poll interval."""
        self._set_interval(step_interval(self.poll_interval, longer=True))

    def action_faster(self) -> None:
        """Shorter fallback poll interval."""
        self._set_interval(step_interval(self.poll_interval, longer=False))

    def _set_interval(self, seconds: float) -> None:
        self.poll_interval = seconds
        for slot in self._slots.values():
            if slot.timer is not None:  # re-arm waiting polls with the new interval
                slot.timer.stop()
                slot.timer = None
                self._schedule(slot)
        self.notify(f"Polling every {seconds:g}s", timeout=2, markup=False)
        self._mark_dirty(None)


def run_app(
    monitor: Monitor,
    *,
    clock: Clock = system_clock,
    watch: bool = True,
    poll_interval: float = 1.0,
    read_only: bool = False,
    journal_path: Path | None = None,
    alerts: AlertSettings | None = None,
) -> int:
    """Run the app until the user quits; returns the exit code."""
    app = BatchtopApp(monitor, clock=clock, watch=watch, poll_interval=poll_interval, read_only=read_only,
                      journal_path=journal_path, alerts=alerts)
    try:
        result = app.run()
    finally:
        close_quietly(monitor)
    return app.return_code or int(result or 0)


def close_quietly(monitor: Monitor) -> None:
    """Close every connection not in use; a poll still running (a long count) is not waited for."""
    for source in monitor.snapshot_sources():
        if source.lock.acquire(blocking=False):
            try:
                source.close()
            finally:
                source.lock.release()


def run_demo() -> int:
    """`batchtop demo`: the simulator on a temporary directory, opened in the app."""
    from batchtop.tui.demo import run_demo as demo

    return demo()
