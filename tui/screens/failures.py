"""Failed items of one track, grouped by error signature, with search and a paged list of items.

The groups come from `core.groups` (chunked reads, cached per source and track, refreshed incrementally
after polls, at most every few seconds: `failure_groups.GroupsPart`). The item list holds one window of
a keyset-paged list: all failures, one group, or a search. Every read runs in a thread worker through
`Source.run`. The action keys (reset, skip, undo, journal) are `failure_actions.FailureActions`.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, ProgressBar, Static

from batchtop.core.groups import ErrorGroup, GroupReport, unrecorded_message
from batchtop.core.profiles.model import Track
from batchtop.core.snapshot import TrackSnapshot
from batchtop.core.source import Source
from batchtop.tui.screens.failure_actions import ACTION_BINDINGS, FailureActions
from batchtop.tui.screens.failure_export import EXPORT_BINDINGS, ExportPart
from batchtop.tui.screens.failure_groups import GROUP_COLUMNS, REGROUP_GAP, GroupsPart, group_cells, share_bar
from batchtop.tui.screens.failure_items import ITEM_COLUMNS, ItemsPart, item_cells
from batchtop.tui.screens.live import LiveScreen
from batchtop.tui.text import plain, safe
from batchtop.tui.widgets.keyed_table import KeyedTable
from batchtop.tui.widgets.paged_table import PagedTable
from batchtop.tui.widgets.status_line import StatusLine

__all__ = ["GROUP_COLUMNS", "ITEM_COLUMNS", "REGROUP_GAP", "FailuresScreen", "group_cells", "item_cells",
           "share_bar"]

#: Seconds of typing pause before a search runs.
SEARCH_DELAY = 0.3
#: Seconds between re-reads of the failures list after polls (a busy job sends many snapshots a second).
RELOAD_GAP = 1.0
#: Seconds between refreshes of the list and groups while the failures themselves look unchanged (a
#: re-failed row deep in the list shows within this bound).
STILL_EVERY = 30.0

class FailuresScreen(FailureActions, ExportPart, ItemsPart, GroupsPart, LiveScreen):
    """Failures of one track: error groups above, the items of the chosen group (or search) below."""

    AUTO_FOCUS = ""  # no auto focus: focus is set once it is known whether there is anything to list

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Open"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("space", "mark", "Mark"),
        Binding("g", "groups", "Groups"),
        Binding("r", "regroup", "Regroup", show=False),
        *ACTION_BINDINGS,
        *EXPORT_BINDINGS,
        Binding("tab", "app.focus_next", "Next table", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous table", show=False),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape | Clear the search; else leave the group (back to all failures); else back to the source. |
    | enter | On a group: show its items. On an item: its full detail. |
    | / | Search error texts and labels (the item list shows the matches). |
    | space | Mark or unmark the item under the cursor (the target of a later reset). |
    | g | Back to the groups table. |
    | r | Group the failures again now. |
    | x | Preview, then reset/retry the marked items, else the item (on the groups table: the group) under the cursor. |
    | X | Preview, then reset/retry everything listed: the search matches, the open group, or every failed item. |
    | k | Preview, then skip the selection (where the profile has a skip action). |
    | e | Export everything listed (the search, the open group, or every failure) to CSV or JSON Lines. |
    | u | Undo the newest action on this database (rows the job moved since are left alone). |
    | J | The action journal of this database; enter on an action shows what became of its rows. |
    | tab / shift+tab | Move between the groups and the items. |
    """

    def __init__(self, source: Source, track: str, group: str | None = None) -> None:
        """`group`: open with the items of this error group listed (from the failures across files)."""
        super().__init__()
        self.source = source
        self.track_name = track
        self._group: str | None = group
        self._search: str | None = None
        self._marked: set[Any] = set()
        self._groups: dict[str, ErrorGroup] = {}
        self._report: GroupReport | None = None
        #: The time axis of the groups' 'Over time' sparklines (None: no timestamps).
        self._rate_axis: tuple[float, float] | None = None
        self._grouping = False
        self._group_again = False
        self._group_now = False
        self._group_timer: Timer | None = None
        self._search_timer: Timer | None = None
        self._next_group_at = 0.0
        self._seen_snapshot: object = None
        self._last_reload = 0.0  # monotonic time the list was last re-read after a poll
        #: The failures the list and groups were last refreshed for, and when (see `refresh_views`).
        self._failed_seen: object = None
        self._failed_at = 0.0
        self._reload_pending = False
        self._progress_total: int | None = None
        self._error: str | None = None
        #: An empty state is shown instead of the tables.
        self._empty = False

    # -- hooks for actions (targets of a later reset-by-keypress) -----------------------------------

    @property
    def current_group(self) -> str | None:
        """Signature of the group whose items are listed, if any."""
        return self._group

    @property
    def current_search(self) -> str | None:
        """Text the item list is filtered by, if any."""
        return self._search

    @property
    def track(self) -> Track | None:
        """The track definition, as of the latest probe."""
        profile = self.source.profile
        return profile.track(self.track_name) if profile is not None else None

    def selected_keys(self) -> list[Any]:
        """The marked items, else the item under the cursor (empty when the item list has no focus)."""
        if self._marked:  # in key order: the preview's predicate lists them so
            return sorted(self._marked, key=lambda k: (0, k, "") if isinstance(k, int | float) else (1, 0, str(k)))
        items = self.query_one("#fx-items", PagedTable)
        return [items.cursor_item] if self.focused is items and items.cursor_item is not None else []

    # -- layout -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="fx-title")
        yield Static(id="fx-status")
        yield ProgressBar(id="fx-progress", show_eta=False, classes="hidden")
        yield Static(id="fx-empty", classes="hidden")
        yield KeyedTable(GROUP_COLUMNS, id="fx-groups")
        yield Static(id="fx-group-detail")
        yield Static(id="fx-items-title")
        yield PagedTable(ITEM_COLUMNS, id="fx-items")
        yield Input(placeholder="search error texts and labels…", id="fx-search", classes="hidden")
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#fx-title", Static).update(Text.assemble(
            "Failures · ", safe(self.track_name, 40, style="bold"), " · ", safe(self.source.name, 80)))
        self._show_subtitle()
        self.tick()
        self._seen_snapshot = self.source.snapshot
        if not self._explain_empty():
            self._load_items()
            self._start_grouping()
            self.query_one("#fx-items" if self._group else "#fx-groups").focus()

    # -- live updates -------------------------------------------------------------------------------

    def refresh_views(self, dirty: set[str]) -> None:
        """After polls: regroup (rate-limited) and re-read the newest items when the source changed."""
        self.tick()
        if self.source.snapshot is self._seen_snapshot:
            return  # a poll that read nothing new keeps the same snapshot object
        self._seen_snapshot = self.source.snapshot
        if self._explain_empty():
            return
        # Regroup and re-read only when the failures changed (their count, the newest keys and errors),
        # else at most every STILL_EVERY: a job committing successes all the time changes the snapshot
        # many times a second, and each grouping pass and page read is a read of the job's file.
        snap = self._track_snapshot()
        failed = (snap.counts.get("failed", 0), tuple((f.key, f.error) for f in snap.recent_failures)) if snap else None
        now = time.monotonic()
        if failed == self._failed_seen and now - self._failed_at < STILL_EVERY:
            return
        self._failed_seen, self._failed_at = failed, now
        self._schedule_grouping()
        # At most one re-read of the list per RELOAD_GAP: beside a busy job a new snapshot comes many
        # times a second, and a page read for each kept a reader on the job's WAL most of the time.
        wait = self._last_reload + RELOAD_GAP - time.monotonic()
        if wait <= 0:
            self._reload_items()
        elif not self._reload_pending:
            self._reload_pending = True
            self.set_timer(wait, self._reload_items)

    def _reload_items(self) -> None:
        self._reload_pending = False
        self._last_reload = time.monotonic()
        self.query_one("#fx-items", PagedTable).reload()

    def tick(self) -> None:
        self.show_status_of(self.source.path)

    def _show_subtitle(self) -> None:
        marked = f" · {len(self._marked):,} marked" if self._marked else ""
        self.sub_title = f"failures · {plain(self.track_name, 40)} · {plain(self.source.name, 60)}{marked}"

    def _track_snapshot(self) -> TrackSnapshot | None:
        snap = self.source.snapshot
        return snap.track(self.track_name) if snap is not None else None

    def _explain_empty(self) -> bool:
        """Show why there is nothing to list (no track, a writer that never records failures)."""
        track = self.track
        if track is None:
            reason = ("waiting for the first read of this database" if self.source.profile is None
                      else f"no track named {self.track_name} in this database")
            message = self.source.error.message if self.source.error else reason
            self._show_empty(safe(message, 300))
            return True
        why = unrecorded_message(track, self._track_snapshot())
        if why is not None:
            text = Text.assemble(("No failures to show. ", "bold"), why.capitalize(), ".")
            if track.note:
                text.append("\n")
                text.append_text(safe(track.note, 200, style="dim"))
            self._show_empty(text)
            return True
        return False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the keys that have nothing to act on while an empty state is shown (and skip where the
        profile has none)."""
        if self._empty and action in ("open", "search", "mark", "groups"):
            return False
        return self.action_allowed(action)

    def _show_empty(self, text: Text | None) -> None:
        self._empty = text is not None
        empty = self.query_one("#fx-empty", Static)
        empty.set_class(text is None, "hidden")
        if text is not None:
            empty.update(text)
        for name in ("#fx-groups", "#fx-group-detail", "#fx-items-title", "#fx-items"):
            self.query_one(name).set_class(text is not None, "hidden")
        if text is not None and isinstance(self.focused, KeyedTable):
            self.set_focus(None)  # a hidden table keeps its keys in the footer otherwise
        elif text is None and self.focused is None:
            self.query_one("#fx-groups", KeyedTable).focus()
        self.refresh_bindings()

    def _show_status(self) -> None:
        report = self._report
        parts: list[Text | str] = []
        if report is not None and report.failed:
            more = report.distinct - len(report.groups)
            parts.append(f"{report.failed:,} failed · {report.distinct:,} error group"
                         f"{'s' if report.distinct != 1 else ''}")
            if more > 0:
                parts.append(f" ({more:,} smallest not listed)")
        if self._marked:
            parts.append(Text(f" · {len(self._marked):,} marked (x resets them)", style="bold yellow"))
        self._show_subtitle()
        if self._error:  # exception texts can quote raw column bytes: sanitised like DB text
            parts.append(safe(f"  {self._error}", 300, style="bold red"))
        status = Text.assemble(*parts)
        status.no_wrap, status.overflow = True, "ellipsis"
        self.query_one("#fx-status", Static).update(status)

    @on(DataTable.RowHighlighted, "#fx-groups")
    def _group_highlighted(self) -> None:
        self._show_group_detail()

    # -- items --------------------------------------------------------------------------------------

    @on(PagedTable.Loaded, "#fx-items")
    def _items_loaded(self, event: PagedTable.Loaded) -> None:
        if event.rows == 0 and event.reset and (self._search or self._group):
            self._show_items_title("no failed item matches this search" if self._search
                                   else "this group has no items left")

    @on(PagedTable.Failed, "#fx-items")
    def _items_failed(self, event: PagedTable.Failed) -> None:
        self._error = event.message
        self._show_status()

    @on(DataTable.RowSelected, "#fx-groups")
    def _group_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self._open_group(event.row_key.value)

    @on(DataTable.RowSelected, "#fx-items")
    def _item_selected(self) -> None:
        key = self.query_one("#fx-items", PagedTable).cursor_item
        if key is not None:
            self._open_item(key)

    # -- search -------------------------------------------------------------------------------------

    @on(Input.Changed, "#fx-search")
    def _search_changed(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self._apply_search)

    @on(Input.Submitted, "#fx-search")
    def _search_submitted(self) -> None:
        self._apply_search()
        self.query_one("#fx-items", PagedTable).focus()

    # -- actions ------------------------------------------------------------------------------------

    def action_back(self) -> None:
        """Clear the search, else leave the group, else go back."""
        box = self.query_one("#fx-search", Input)
        if self._search or not box.has_class("hidden"):
            box.value = ""
            self._hide_search()
            if self._search:
                self._search = None
                self._load_items()
            self.query_one("#fx-items", PagedTable).focus()
        elif self._group is not None:
            self._group = None
            self._load_items()
            self.query_one("#fx-groups", KeyedTable).focus()
        else:
            self.app.pop_screen()

    def action_open(self) -> None:
        """Open the group or item under the cursor."""
        focused = self.focused
        if isinstance(focused, PagedTable):
            if focused.cursor_item is not None:
                self._open_item(focused.cursor_item)
        else:
            key = self.query_one("#fx-groups", KeyedTable).cursor_key
            if key is not None:
                self._open_group(key)

    def action_groups(self) -> None:
        """Focus the groups table."""
        self.query_one("#fx-groups", KeyedTable).focus()

    def action_regroup(self) -> None:
        """Group the failures again now."""
        self._group_now = True  # also when a pass is running: the next one starts as it ends, no gap
        self._next_group_at = 0.0
        self._schedule_grouping()
