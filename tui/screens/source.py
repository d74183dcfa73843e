"""Everything about one database: tracks by state and raw value, metrics, history, resume, sessions."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from batchtop.core.actions import Target
from batchtop.core.profiles.model import Profile
from batchtop.tui.action_support import journal_of
from batchtop.tui.actions_flow import JOURNAL, UNDO, start_action, start_undo
from batchtop.tui.messages import SourceView
from batchtop.tui.screens import source_parts as parts
from batchtop.tui.screens.live import LiveScreen
from batchtop.tui.text import safe
from batchtop.tui.widgets.cohort_panel import CohortPanel
from batchtop.tui.widgets.keyed_table import KeyedTable
from batchtop.tui.widgets.status_line import StatusLine
from batchtop.tui.widgets.track_panel import PanelData, TrackPanel


class SourceScreen(LiveScreen):
    """The detail of one source, updated live."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("f", "failures", "Failures"),
        Binding("R", "requeue", "Requeue stale"),
        Binding("t", "tables", "Tables"),
        UNDO,
        JOURNAL,
        Binding("tab", "app.focus_next", "Next table", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous table", show=False),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape | Back to the overview. |
    | f | All failures of the selected track (enter or a click on a track does the same). |
    | R | Preview, then requeue the selected track's stale running items (crashed workers) to pending. |
    | t | Browse every table of the database read-only (also for schemas no profile describes). |
    | u | Undo the newest action on this database (rows the job moved since are left alone). |
    | J | The action journal of this database; enter on an action shows what became of its rows. |
    | enter | On a track: its failures; on a recent failure: the item's detail. |
    | tab / shift+tab | Move between the tracks, recent failures and sessions tables. |
    """

    def __init__(self, path: str, track: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.initial_track = track
        self._panels: dict[str, TrackPanel] = {}
        self._failure_keys: dict[str, tuple[str, object]] = {}
        self._session_profile: Profile | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="body"):
            yield Static(id="heading")
            yield KeyedTable(parts.TRACK_COLUMNS, id="tracks", classes="inline")
            yield CohortPanel(id="cohorts")
            yield Static(id="panels-anchor", classes="hidden")
            yield Static(Text("Recent failures", style="bold"), id="failures-title", classes="section")
            yield KeyedTable(parts.FAILURE_COLUMNS, id="failures", classes="inline")
            yield Static(Text("Sessions", style="bold"), id="sessions-title", classes="section")
            yield Static(id="sessions-note", classes="note")
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        view = self.batchtop.views.get(self.path)
        self.sub_title = safe(view.name if view else "").plain
        self.query_one("#tracks", KeyedTable).focus()
        self.refresh_views({self.path})
        if self.initial_track:
            self.query_one("#tracks", KeyedTable).move_to_key(self.initial_track)

    # -- live data ----------------------------------------------------------------------------------

    def refresh_views(self, dirty: set[str]) -> None:
        view = self.batchtop.views.get(self.path)
        if view is None:
            return
        if dirty and self.path not in dirty:
            self.tick()
            return
        now = self.batchtop.clock()
        self.query_one("#heading", Static).update(parts.heading(view, now))
        tracks = {t.name: parts.track_cells(view, t) for t in view.status.tracks}
        self.query_one("#tracks", KeyedTable).sync(tracks, list(tracks))
        self.query_one("#tracks", KeyedTable).display = bool(tracks)
        self._show_panels(view, now)
        self._show_failures(view, now)
        self._show_sessions(view, now)
        self.refresh_cohorts()
        self.tick()

    def refresh_cohorts(self, force: bool = False) -> None:
        """Re-read the recent actions' cohorts (in a worker, rate-limited unless `force`)."""
        app = self.batchtop
        self.query_one(CohortPanel).reload(app.source_of(self.path), journal_of(self), app.clock, force)

    def tick(self) -> None:
        view = self.batchtop.views.get(self.path)
        stats = view.stats if view else None
        self.query_one(StatusLine).info = self.live_info(
            view.status.last_change if view else None, stats.cost if stats else None,
            stats.queries if stats else None,
            "last poll" if stats is None or stats.changed else "last poll (data_version unchanged)")

    def _show_panels(self, view: SourceView, now: float) -> None:
        wanted = [t.name for t in view.status.tracks]
        for name in [n for n in self._panels if n not in wanted]:
            self._panels.pop(name).remove()
        anchor = self.query_one("#panels-anchor")
        trends = self.batchtop.trends
        for status in view.status.tracks:
            panel = self._panels.get(status.name)
            if panel is None:
                panel = self._panels[status.name] = TrackPanel(status.name)
                self.query_one("#body").mount(panel, before=anchor)
            series = trends.get(view.path, status.name)
            snap = view.snapshot.track(status.name) if view.snapshot else None
            track = view.profile.track(status.name) if view.profile else None
            panel.show(PanelData(status, snap, track, now, tuple(series.etas()) if series else (),
                                 stale_source=view.status.error is not None))

    def _show_failures(self, view: SourceView, now: float) -> None:
        rows = parts.failure_rows(view.snapshot, now)
        self._failure_keys = {k: (k.split("\x00", 1)[0], f.key) for k, f in self._failure_index(view).items()}
        table = self.query_one("#failures", KeyedTable)
        table.sync(rows, list(rows))
        table.display = bool(rows)
        self.query_one("#failures-title").display = bool(rows)

    @staticmethod
    def _failure_index(view: SourceView) -> dict:
        snap = view.snapshot
        if snap is None:
            return {}
        return {f"{t.name}\x00{f.key!r}": f for t in snap.tracks for f in t.recent_failures}

    def _show_sessions(self, view: SourceView, now: float) -> None:
        profile = view.profile
        has = bool(profile and profile.sessions)
        self.query_one("#sessions-title").display = has
        self.query_one("#sessions-note").display = has
        if not has or view.snapshot is None:
            return
        assert profile is not None and profile.sessions is not None
        if profile.sessions != (self._session_profile.sessions if self._session_profile else None):
            # New profile (first read, or the schema changed): rebuild the table with its columns.
            for old in self.query("#sessions"):
                old.remove()
            self.query_one("#body").mount(KeyedTable(parts.session_columns(profile), id="sessions",
                                                     classes="inline"), after="#sessions-note")
            self._session_profile = profile
            self.call_after_refresh(self.refresh_views, {self.path})
            return
        snap = view.snapshot
        note = Text(f"{snap.session_count:,} session{'s' if snap.session_count != 1 else ''}", style="bold")
        if profile.sessions.note:
            note.append("  ")
            note.append_text(safe(profile.sessions.note, style="italic bright_black"))
        self.query_one("#sessions-note", Static).update(note)
        rows = parts.session_rows(snap.sessions, now)
        self.query_one("#sessions", KeyedTable).sync(rows, list(rows))

    # -- actions ------------------------------------------------------------------------------------

    def action_back(self) -> None:
        """Back to the overview."""
        self.dismiss()

    def action_failures(self) -> None:
        """Open the failures of the selected track."""
        table = self.query_one("#tracks", KeyedTable)
        track = table.cursor_key
        if track is None:
            self.notify("No track has been read yet.", severity="warning")
            return
        self.batchtop.open_failures(self.path, track)

    def action_requeue(self) -> None:
        """Preview, then requeue the stale running items of the selected track."""
        track = self.query_one("#tracks", KeyedTable).cursor_key
        start_action(self, self.batchtop.source_of(self.path), track, Target.stale(),
                     done=lambda _: self.refresh_cohorts(force=True))

    def action_undo(self) -> None:
        """Undo the newest action on this database."""
        start_undo(self, self.path, self.batchtop.source_of(self.path),
                   done=lambda _: self.refresh_cohorts(force=True))

    def action_tables(self) -> None:
        """Browse the database's tables read-only (secret columns and tables are never read)."""
        self.batchtop.open_tables(self.path)

    def action_journal(self) -> None:
        """The action journal of this database."""
        self.batchtop.open_journal(self.path)

    def on_screen_resume(self) -> None:
        # LiveScreen's own handler runs too (handlers run along the MRO): it refreshes the views.
        if self.ready:
            self.refresh_cohorts(force=True)  # back from an action, an undo or the journal

    @on(DataTable.RowSelected, "#tracks")
    def _open_track(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_failures()

    @on(DataTable.RowSelected, "#failures")
    def _open_failure(self, event: DataTable.RowSelected) -> None:
        event.stop()
        target = self._failure_keys.get(str(event.row_key.value))
        if target is not None:
            self.batchtop.open_item(self.path, target[0], target[1])

    @on(DataTable.RowSelected, "#sessions")
    def _ignore_session(self, event: DataTable.RowSelected) -> None:
        event.stop()
