"""The batchtop Textual app: owns the IO workers and routes their messages to the screens.

All IO runs off the UI thread, and results come back as messages. Polls are scheduled by one
`Poller` (tui/polling.py): a single gate thread stats every source once per interval and polls only those
whose files changed (or that the directory watch reported, or that are still hot after a change), each in
a pool thread, so a locked, damaged or slow database never piles up polls nor delays another source. A
poll that found nothing posts nothing. Screen refreshes are coalesced (one per batch of messages) and
skipped while a modal screen is open.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen

from batchtop.core.chunks import GroupBy
from batchtop.core.monitor import Monitor
from batchtop.core.sanitize import clean_line
from batchtop.core.source import Source
from batchtop.core.timeutil import Clock, system_clock
from batchtop.tui.alerting import AlertSettings, AppAlerts
from batchtop.tui.dialogs.help import HelpScreen, bound_commands
from batchtop.tui.messages import FilesChanged, Notice, Polled, SourcesFound, SourceView, WatchStopped
from batchtop.tui.polling import Poller, make_watcher, scan_once, step_interval, unread_view
from batchtop.tui.screens.live import LiveScreen
from batchtop.tui.screens.overview import OverviewScreen
from batchtop.tui.screens.source import SourceScreen
from batchtop.tui.trends import Trends

if TYPE_CHECKING:
    from batchtop.tui.host import BatchtopHost

#: Seconds between rescans for new files while the directory watch is off or failed (network
#: filesystems): a quick one, which lists nothing unless a listed directory changed.
RESCAN_EVERY = 2.0
#: Seconds between full rescans (every directory listed, every file stat-ed), and between the safety-net
#: rescans while the watch runs (it reports new files itself).
FULL_RESCAN_EVERY = 30.0
#: Seconds screen refreshes are delayed by, so that polls finishing together make one refresh.
FLUSH_DELAY = 0.05
#: Threads for other IO (rescans, screens' reads); polls have the poller's own pool.
IO_THREADS = 8
#: The app's stylesheet: every screen's and dialog's styling (an app hosting one screen, as tests do, loads it).
STYLESHEET = Path(__file__).with_name("app.tcss")
#: Worker groups that run for the app's lifetime: never "finished", so not a read in flight.
RESIDENT_GROUPS = frozenset({"poller", "watch"})


class BatchtopApp(App[int]):
    """Live monitor of the SQLite progress databases of batch jobs."""

    TITLE = "batchtop"
    CSS_PATH = STYLESHEET
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        # One key, two bindings: `check_action` shows the one that is true now ("Resume" while paused).
        Binding("p", "pause", "Pause"),
        Binding("p", "resume", "Resume"),
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
        group_by: GroupBy | None = None,
    ) -> None:
        """Args: the monitor of the sources; a clock (tests inject a fixed one); whether to watch
        directories (tests turn it off); the fallback poll interval in seconds; read-only mode (every
        action key refuses, and nothing is ever opened read-write); and the action journal path (None:
        `$BATCHTOP_JOURNAL`, else the XDG state directory); the alert settings (None: no alerts); how the
        overview first groups chunk files (`--group-by`; None: not grouped)."""
        super().__init__()
        self.monitor = monitor
        self.clock = clock
        self.watch_files = watch  # not `watch`: that is Textual's DOMNode.watch
        self.poll_interval = poll_interval
        self.read_only = read_only
        self.journal_path = journal_path
        self.group_by = group_by or GroupBy()
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
        self._sources: dict[str, Source] = {}
        self.poller = Poller(monitor, clock, self.post_message, interval=poll_interval)
        self._last_full_scan = 0.0
        self._dirty: set[str] = set()
        self._flush_pending = False
        self._last_flush = 0.0  # monotonic time of the last screen refresh (see `_mark_dirty`)
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
        if path in self._sources:
            self.push_screen(SourceScreen(path, track))

    def open_failures(self, path: str, track: str, group: str | None = None) -> None:
        """Push the failures screen of one track (with the items of the error group `group` listed)."""
        from batchtop.tui.screens.failures import FailuresScreen

        if path in self._sources:
            self.push_screen(FailuresScreen(self._sources[path], track, group=group))

    def open_set_failures(self, paths: Sequence[str], name: str) -> None:
        """Push the error groups merged over the files `paths` (a chunk set, or every source)."""
        from batchtop.tui.screens.set_failures import SetFailuresScreen

        self.push_screen(SetFailuresScreen(paths, name))

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
        return self._sources.get(path)

    def open_item(self, path: str, track: str, key: object) -> None:
        """Push the detail screen of one item."""
        from batchtop.tui.screens.item import ItemScreen

        self.push_screen(ItemScreen(self._sources[path], track, key))

    # -- lifecycle ----------------------------------------------------------------------------------

    def on_mount(self) -> None:
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="batchtop-io"))
        self.run_worker(self.poller.run, name="poll gate", group="poller", thread=True, exit_on_error=False)
        self._add_sources(list(self.monitor.sources.values()))
        self._rescan(full=True)
        self.set_interval(RESCAN_EVERY, self._timed_rescan)
        self.set_interval(1.0, self._tick)

    def on_unmount(self) -> None:
        self._watch_stop.set()
        self.poller.stop()

    async def action_quit(self) -> None:
        """Quit from anywhere: stop the watch and abort reads in flight, so no thread is waited for."""
        self._watch_stop.set()
        self.poller.stop()
        for source in self.monitor.snapshot_sources():
            source.interrupt()
        self.exit(0)

    # -- scanning -----------------------------------------------------------------------------------

    def _timed_rescan(self) -> None:
        """Every RESCAN_EVERY: a quick rescan while the watch is off; a full one every FULL_RESCAN_EVERY.

        While the watch runs it reports new files itself (`on_files_changed`), so only the rare full
        rescan runs, as a safety net for a missed event.
        """
        due = time.monotonic() - self._last_full_scan >= FULL_RESCAN_EVERY
        if due or self.watching is not True:
            self._rescan(full=due)

    def _rescan(self, full: bool = True) -> None:
        if self.paused:
            return
        if self._scan_in_flight:
            self._scan_again = True
            return
        self._scan_in_flight = True
        if full:
            self._last_full_scan = time.monotonic()
        self.run_worker(partial(self._scan_work, full), name="rescan", group="scan", thread=True,
                        exit_on_error=False)

    def _scan_work(self, full: bool) -> None:
        self.post_message(scan_once(self.monitor, quick=not full))

    def on_sources_found(self, message: SourcesFound) -> None:
        self._scan_in_flight = False
        notices = [clean_line(n, 300) for n in message.notices]
        # An unchanged scan (the usual case) marks nothing dirty: nothing re-renders for it.
        news = not self.scanned or bool(message.sources) or notices != self.notices
        self.scanned = True
        self.notices = notices
        self._add_sources(message.sources)
        if self.watch_files and message.watch_dirs and message.watch_dirs != self._watch_dirs:
            self._start_watch(message.watch_dirs)
            news = True
        if news:
            self._mark_dirty(None)
        if self._scan_again:
            self._scan_again = False
            self._rescan()

    def _add_sources(self, sources: list[Source]) -> None:
        added = []
        for source in sources:
            if source.path not in self._sources:
                self._sources[source.path] = source
                self.views[source.path] = unread_view(source)
                self._mark_dirty(source.path)
                added.append(source.path)
        if added:
            self.poller.add(added)

    # -- watching -----------------------------------------------------------------------------------

    def _start_watch(self, dirs: list[tuple[Path, bool]]) -> None:
        self._watch_stop.set()  # the previous watcher (if any) returns within its step
        self._watch_stop = threading.Event()
        self._watch_dirs = dirs
        watcher = make_watcher(dirs, self.post_message, self._watch_stop)
        self.watching = True
        self.run_worker(watcher.run, name="directory watch", group="watch", thread=True, exit_on_error=False)

    def on_files_changed(self, message: FilesChanged) -> None:
        known = [str(p) for p in message.paths if str(p) in self._sources]
        if known:
            self.poller.want(known, urgent=False)
        if len(known) < len(message.paths):
            self._rescan()  # a new file (or directory): look for new databases

    def on_watch_stopped(self, message: WatchStopped) -> None:
        self.watching = False
        self.notify(f"Directory watch stopped; polling every {self.poll_interval:g}s instead.",
                    severity="warning", markup=False)
        self._mark_dirty(None)

    def on_app_alerts_checked(self, message: AppAlerts.Checked) -> None:
        """A signature check of the alerts' worker is over: compare on the UI thread."""
        if self.alerts is not None:
            self.alerts.checked(message)

    def on_notice(self, message: Notice) -> None:
        """A worker's toast whose screen was closed before it finished (screens show their own)."""
        message.show(self)

    # -- polling ------------------------------------------------------------------------------------

    def poll_now(self, path: str) -> None:
        """Poll `path` now (after an action wrote to it), or right after the poll in flight."""
        self.poller.want([path])

    def on_polled(self, message: Polled) -> None:
        """A poll read something new (the poller posts nothing for a poll that found no change)."""
        view = message.view
        if view.path not in self._sources:
            return
        self.views[view.path] = view
        self.trends.record(view.status, self.clock())
        for event in message.events:
            self.notify(event, markup=False)  # fixed strings from core, never DB text
        if self.alerts is not None:
            self.alerts.observe(view)
        self._mark_dirty(view.path)

    @property
    def in_flight(self) -> int:
        """Polls running now."""
        return self.poller.in_flight

    @property
    def reading(self) -> bool:
        """Whether a read is in flight: a poll, a scan or a screen's worker (not the resident poll gate
        and directory watch, which run for the app's lifetime). Tests wait for this to be False."""
        if self.poller.in_flight:
            return True
        return any(w.is_running and w.group not in RESIDENT_GROUPS for w in self.workers)

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
            # every second, the UI thread redraws ~20 times a second whatever the message rate. The first
            # change after a quiet spell is shown at once (a lone commit waited FLUSH_DELAY for nothing).
            self._flush_pending = True
            wait = self._last_flush + FLUSH_DELAY - time.monotonic()
            if wait <= 0:
                self.call_later(self._flush_views)
            else:
                self.set_timer(wait, self._flush_views)

    def _live_screen(self) -> LiveScreen | None:
        """The screen to update, or None while a modal (or a screen without live data) is on top."""
        try:
            screen = self.screen
        except ScreenStackError:  # shutting down
            return None
        if isinstance(screen, ModalScreen) or not isinstance(screen, LiveScreen) or not screen.ready:
            return None
        return screen

    def _screen_not_ready(self) -> bool:
        try:
            screen = self.screen
        except ScreenStackError:
            return False
        return isinstance(screen, LiveScreen) and not screen.ready

    # Not `_flush`: Textual's App has its own `_flush` (it prints captured output), which this would shadow.
    def _flush_views(self) -> None:
        self._flush_pending = False
        self._last_flush = time.monotonic()
        screen = self._live_screen()
        if screen is None:
            if self._screen_not_ready():
                # The first polls can finish before the first screen has mounted (a loaded machine): try
                # again shortly, or what they read waits for the next change to be shown.
                self._flush_pending = True
                self.set_timer(FLUSH_DELAY, self._flush_views)
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer `pause` while live and `resume` while paused (the footer and help show the one that applies)."""
        if action == "pause":
            return not self.paused
        if action == "resume":
            return self.paused
        return True

    def action_resume(self) -> None:
        """Resume polling (and poll every source now)."""
        if self.paused:
            self.action_pause()

    def action_pause(self) -> None:
        """Pause or resume polling."""
        self.paused = not self.paused
        self.refresh_bindings()  # the footer's p key now says Resume (or Pause)
        self.poller.pause(self.paused)
        if not self.paused:
            self._rescan()
        self._mark_dirty(None)

    def action_refresh(self) -> None:
        """Poll every source now, and look for new files."""
        self.poller.want_all()
        self._rescan()

    def action_slower(self) -> None:
        """Longer fallback poll interval."""
        self._set_interval(step_interval(self.poll_interval, longer=True))

    def action_faster(self) -> None:
        """Shorter fallback poll interval."""
        self._set_interval(step_interval(self.poll_interval, longer=False))

    def _set_interval(self, seconds: float) -> None:
        self.poll_interval = seconds
        self.poller.set_interval(seconds)
        self.notify(f"Polling every {seconds:g}s", timeout=2, markup=False)
        self._mark_dirty(None)


if TYPE_CHECKING:

    def _hosts_screens(app: BatchtopApp) -> BatchtopHost:
        """Never called: mypy checks here that the app offers every member screens type it with."""
        return app
