"""Failed items of one track, grouped by error signature, with search and a paged list of items.

The screen is composed of two widgets that own their state and workers and post typed messages:
`GroupsPanel` (the error groups from `core.groups`: chunked reads, cached per source and track,
refreshed incrementally after polls, at most every few seconds) and `ItemsPanel` (one window of a
keyset-paged list: all failures, one group, or a search; and the marks). The screen lays them out,
shows the title, status and empty states, and serves the keys (`failure_actions`, `failure_export`).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, ProgressBar, Static

from batchtop.core.actions import Outcome, Target
from batchtop.core.groups import CHUNK, unrecorded_message
from batchtop.core.profiles.model import Track
from batchtop.core.snapshot import TrackSnapshot
from batchtop.core.source import Source
from batchtop.tui.actions_flow import start_action, start_undo
from batchtop.tui.screens.failure_actions import (
    ACTION_BINDINGS,
    action_allowed,
    listed_target,
    selection_target,
)
from batchtop.tui.screens.failure_export import EXPORT_BINDINGS, start_export
from batchtop.tui.screens.item import ItemScreen
from batchtop.tui.screens.live import LiveScreen
from batchtop.tui.text import plain, safe
from batchtop.tui.widgets.groups_panel import GROUP_COLUMNS, REGROUP_GAP, GroupsPanel, group_cells, share_bar
from batchtop.tui.widgets.items_panel import ITEM_COLUMNS, ItemsPanel, item_cells
from batchtop.tui.widgets.keyed_table import KeyedTable
from batchtop.tui.widgets.paged_table import PagedTable
from batchtop.tui.widgets.status_line import StatusLine

__all__ = ["GROUP_COLUMNS", "ITEM_COLUMNS", "REGROUP_GAP", "FailuresScreen", "group_cells", "item_cells",
           "share_bar"]

#: Seconds of typing pause before a search runs.
SEARCH_DELAY = 0.3
#: Seconds between refreshes of the list and groups while the failures themselves look unchanged (a
#: re-failed row deep in the list shows within this bound).
STILL_EVERY = 30.0


class FailuresScreen(LiveScreen):
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
        self._first_group = group
        self._search_timer: Timer | None = None
        self._seen_snapshot: object = None
        #: The failures the list and groups were last refreshed for, and when (see `refresh_views`).
        self._failed_seen: object = None
        self._failed_at = 0.0
        #: The last error of a grouping pass or a page read (sanitised), shown on the status line.
        self._error: str | None = None
        #: An empty state is shown instead of the tables.
        self._empty = False

    # -- the panels, and hooks for actions ----------------------------------------------------------

    @property
    def groups_panel(self) -> GroupsPanel:
        """The error groups table."""
        return self.query_one("#fx-groups", GroupsPanel)

    @property
    def items_panel(self) -> ItemsPanel:
        """The item list."""
        return self.query_one("#fx-items", ItemsPanel)

    @property
    def current_group(self) -> str | None:
        """Signature of the group whose items are listed, if any."""
        return self.items_panel.group

    @property
    def current_search(self) -> str | None:
        """Text the item list is filtered by, if any."""
        return self.items_panel.search

    @property
    def track(self) -> Track | None:
        """The track definition, as of the latest probe."""
        profile = self.source.profile
        return profile.track(self.track_name) if profile is not None else None

    def selected_keys(self) -> list[Any]:
        """The marked items, else the item under the cursor (empty when the item list has no focus)."""
        return self.items_panel.selection()

    def selection_target(self) -> Target:
        """The marked items; else, on the groups table, the group under the cursor; else the cursor item."""
        groups, items = self.groups_panel, self.items_panel
        return selection_target(groups.cursor_key if self.focused is groups else None, bool(items.marked),
                                items.selection())

    def listed_target(self) -> Target:
        """Everything the item list shows: the search, the open group, or every failed item."""
        items = self.items_panel
        return listed_target(self.source, items.group, items.search)

    # -- layout -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="fx-title")
        yield Static(id="fx-status")
        yield ProgressBar(id="fx-progress", show_eta=False, classes="hidden")
        yield Static(id="fx-empty", classes="hidden")
        yield GroupsPanel(self.source, self.track_name, id="fx-groups")
        yield Static(id="fx-group-detail")
        yield Static(id="fx-items-title")
        yield ItemsPanel(self.source, self.track_name, self._first_group, id="fx-items")
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
            self.groups_panel.start()
            self.query_one("#fx-items" if self._first_group else "#fx-groups").focus()

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
        self.groups_panel.schedule()
        self.items_panel.reload_soon()

    def tick(self) -> None:
        self.show_status_of(self.source.path)

    def _show_subtitle(self) -> None:
        count = len(self.items_panel.marked)
        marked = f" · {count:,} marked" if count else ""
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
        return action_allowed(self.track, action, self._empty)

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
            self.groups_panel.focus()
        self.refresh_bindings()

    def _show_status(self) -> None:
        report = self.groups_panel.report
        marked = len(self.items_panel.marked)
        parts: list[Text | str] = []
        if report is not None and report.failed:
            more = report.distinct - len(report.groups)
            parts.append(f"{report.failed:,} failed · {report.distinct:,} error group"
                         f"{'s' if report.distinct != 1 else ''}")
            if more > 0:
                parts.append(f" ({more:,} smallest not listed)")
        if marked:
            parts.append(Text(f" · {marked:,} marked (x resets them)", style="bold yellow"))
        self._show_subtitle()
        if self._error:  # exception texts can quote raw column bytes: sanitised like DB text
            parts.append(safe(f"  {self._error}", 300, style="bold red"))
        status = Text.assemble(*parts)
        status.no_wrap, status.overflow = True, "ellipsis"
        self.query_one("#fx-status", Static).update(status)

    # -- groups -------------------------------------------------------------------------------------

    @on(GroupsPanel.Progress, "#fx-groups")
    def _grouping_progress(self, event: GroupsPanel.Progress) -> None:
        total, rows = event.total, event.rows
        if not total or total <= CHUNK:
            return  # small: done before a bar would be worth showing
        bar = self.query_one("#fx-progress", ProgressBar)
        bar.remove_class("hidden")
        bar.update(total=max(total, rows), progress=rows)
        self.query_one("#fx-status", Static).update(Text(f"grouping… {rows:,} of ~{total:,} failed rows read"))

    @on(GroupsPanel.Grouped, "#fx-groups")
    def _grouped(self, event: GroupsPanel.Grouped) -> None:
        # The panel has shown the groups already (its own handler runs before the message bubbles here).
        report = event.report
        if event.final:
            self.query_one("#fx-progress", ProgressBar).add_class("hidden")
            self._error = event.error
            # After the panel took the pass's members (a partial report leaves the cache as it was).
            self.items_panel.regrouped(report is not None and report.how != "unchanged")
        if report is not None:
            if report.failed == 0:
                self._show_empty(Text.assemble(("✓ No failed items", "bold green"), " in ",
                                               safe(self.track_name, 40), ": nothing to triage."))
            else:
                self._show_empty(None)
            self._show_group_detail()
            self._show_items_title()
        if event.final:
            self._show_status()

    @on(GroupsPanel.Highlighted, "#fx-groups")
    def _show_group_detail(self) -> None:
        self.query_one("#fx-group-detail", Static).update(self.groups_panel.detail())

    @on(GroupsPanel.Chosen, "#fx-groups")
    def _group_chosen(self, event: GroupsPanel.Chosen) -> None:
        self._open_group(event.signature)

    def _open_group(self, signature: str) -> None:
        self._hide_search()
        self._load_items(signature, None)
        self.items_panel.focus()

    # -- items --------------------------------------------------------------------------------------

    def _load_items(self, group: str | None = None, search: str | None = None, *, same: bool = True) -> None:
        """List `group` or `search` (with `same`, and neither given: the list shown now, read again)."""
        items = self.items_panel
        if same and group is None and search is None:
            group, search = items.group, items.search
        items.show(group, search)
        if self.track is not None:
            self._show_items_title()

    def _show_items_title(self, note: str | None = None) -> None:
        items = self.items_panel
        if items.search:
            title = Text.assemble("Search: ", safe(items.search, 80, style="bold yellow"),
                                  " (error texts and labels, newest first)")
        elif items.group is not None:
            group = self.groups_panel.groups.get(items.group)
            count = f" · {group.count:,} items" if group else ""
            title = Text.assemble("Group: ", safe(items.group, 120), count)
        else:
            title = Text("All failures, newest first")
        if note:
            title.append(f"  — {note}", style="dim")
        title.no_wrap, title.overflow = True, "ellipsis"
        self.query_one("#fx-items-title", Static).update(title)

    @on(PagedTable.Loaded, "#fx-items")
    def _items_loaded(self, event: PagedTable.Loaded) -> None:
        items = self.items_panel
        if event.rows == 0 and event.reset and (items.search or items.group):
            self._show_items_title("no failed item matches this search" if items.search
                                   else "this group has no items left")

    @on(PagedTable.Failed, "#fx-items")
    def _items_failed(self, event: PagedTable.Failed) -> None:
        self._error = event.message
        self._show_status()

    @on(ItemsPanel.MarksChanged, "#fx-items")
    def _marks_changed(self) -> None:
        self._show_status()

    @on(ItemsPanel.Opened, "#fx-items")
    def _item_opened(self, event: ItemsPanel.Opened) -> None:
        self._open_item(event.key)

    def _open_item(self, key: Any) -> None:
        self.app.push_screen(ItemScreen(self.source, self.track_name, key))

    # -- search -------------------------------------------------------------------------------------

    @on(Input.Changed, "#fx-search")
    def _search_changed(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self._apply_search)

    @on(Input.Submitted, "#fx-search")
    def _search_submitted(self) -> None:
        self._apply_search()
        self.items_panel.focus()

    def _hide_search(self) -> None:
        self.query_one("#fx-search", Input).add_class("hidden")
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None

    def _apply_search(self) -> None:
        self._search_timer = None
        text = self.query_one("#fx-search", Input).value.strip()
        if (text or None) == self.items_panel.search:
            return
        self._load_items(None, text or None, same=False)

    # -- keys ---------------------------------------------------------------------------------------

    def action_back(self) -> None:
        """Clear the search, else leave the group, else go back."""
        box = self.query_one("#fx-search", Input)
        items = self.items_panel
        if items.search or not box.has_class("hidden"):
            box.value = ""
            self._hide_search()
            if items.search:
                self._load_items(items.group, None, same=False)
            items.focus()
        elif items.group is not None:
            self._load_items(None, None, same=False)
            self.groups_panel.focus()
        else:
            self.app.pop_screen()

    def action_open(self) -> None:
        """Open the group or item under the cursor."""
        focused = self.focused
        if isinstance(focused, PagedTable):
            if focused.cursor_item is not None:
                self._open_item(focused.cursor_item)
        else:
            key = self.groups_panel.cursor_key
            if key is not None:
                self._open_group(key)

    def action_search(self) -> None:
        """Show and focus the search box."""
        if self.track is None or not self.track.failures_recorded:
            return
        box = self.query_one("#fx-search", Input)
        box.remove_class("hidden")
        box.focus()

    def action_mark(self) -> None:
        """Mark or unmark the item under the cursor."""
        self.items_panel.toggle_mark()

    def action_groups(self) -> None:
        """Focus the groups table."""
        self.groups_panel.focus()

    def action_regroup(self) -> None:
        """Group the failures again now."""
        self.groups_panel.regroup_now()

    def action_reset(self) -> None:
        """Preview, then reset/retry the selection."""
        start_action(self, self.source, self.track_name, self.selection_target(), done=self._acted)

    def action_reset_all(self) -> None:
        """Preview, then reset/retry everything listed."""
        start_action(self, self.source, self.track_name, self.listed_target(), done=self._acted)

    def action_skip(self) -> None:
        """Preview, then skip the selection."""
        start_action(self, self.source, self.track_name, self.selection_target(), "skip", done=self._acted)

    def action_undo(self) -> None:
        """Undo the newest action on this database."""
        start_undo(self, self.source.path, self.source, done=self._acted)

    def action_journal(self) -> None:
        """The action journal of this database."""
        open_journal = getattr(self.app, "open_journal", None)
        if callable(open_journal):
            open_journal(self.source.path)

    def action_export(self) -> None:
        """Ask for a file name, then export everything listed."""
        track = self.track
        if track is None or not track.failures_recorded:
            return
        start_export(self, self.source, track, self.listed_target())

    def _acted(self, outcome: Outcome | Any) -> None:
        """After a write: marks are spent; list and groups are read again at once."""
        self.items_panel.clear_marks()
        self._show_status()
        self._load_items()
        self.groups_panel.regroup_now()
