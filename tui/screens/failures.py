"""Failed items of one track, grouped by error signature, with search and a paged list of items.

The groups come from `core.groups` (chunked reads, cached per source and track, refreshed incrementally
after polls, at most every few seconds). The item list holds one window of a keyset-paged list: all
failures, one group, or a search. Every read runs in a thread worker through `Source.run`.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, ProgressBar, Static
from textual.worker import get_current_worker

from batchtop.core.errors import BatchtopError
from batchtop.core.groups import (
    CHUNK,
    ErrorGroup,
    GroupReport,
    cache_for,
    failure_page,
    search_failures,
    unrecorded_message,
)
from batchtop.core.profiles.model import Track
from batchtop.core.snapshot import FailureRow, TrackSnapshot
from batchtop.core.source import Source
from batchtop.tui.screens.item import ItemScreen, fmt_time
from batchtop.tui.screens.live import LiveScreen
from batchtop.tui.text import safe
from batchtop.tui.widgets.keyed_table import ColumnSpec, KeyedTable
from batchtop.tui.widgets.paged_table import Fetch, PagedTable, PageRow

#: Seconds between two regroupings at least (and 5x the last one's cost: a slow file is read gently).
REGROUP_GAP = 2.0
#: Seconds of typing pause before a search runs.
SEARCH_DELAY = 0.3

# Fixed widths only: DataTable caches rendered rows by its update count, and an auto width computed
# later (on idle) can leave a row drawn at the old width until the next update.
GROUP_COLUMNS = (
    ColumnSpec("count", "Count", 8, "right"),
    ColumnSpec("share", "Share", 15),
    ColumnSpec("first", "First seen", 14),
    ColumnSpec("last", "Last seen", 14),
    ColumnSpec("signature", "Error group", 52),
    ColumnSpec("sample", "Newest item", 22),
)
ITEM_COLUMNS = (
    ColumnSpec("mark", " ", 1),
    ColumnSpec("key", "Key", 10, "right"),
    ColumnSpec("when", "When", 14),
    ColumnSpec("label", "Label", 36),
    ColumnSpec("error", "Error", 64),
)
MARK = Text("●", style="bold yellow")
NO_MARK = Text(" ")


def share_bar(share: float, width: int = 8) -> Text:
    """'██▍      12.3%': a bar in eighths of a cell, then the percentage."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    if share > 0 and eighths == 0:
        eighths = 1  # one failure among a million still shows
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return Text.assemble((bar.ljust(width), "red"), f" {share * 100:5.1f}%")


def group_cells(group: ErrorGroup) -> tuple[Text, ...]:
    """The cells of one group (all DB text through `safe`)."""
    sample = f"{group.sample_key} {group.sample_label}".strip()
    return (Text(f"{group.count:,}", justify="right"), share_bar(group.share), Text(fmt_time(group.first_seen)),
            Text(fmt_time(group.last_seen)), safe(group.signature, 120), safe(sample, 80, style="dim"))


def item_cells(row: FailureRow, marked: bool) -> tuple[Text, ...]:
    """The cells of one failed item (all DB text through `safe`)."""
    key = safe(row.key, 20, style="dim")
    key.justify = "right"
    return MARK if marked else NO_MARK, key, Text(fmt_time(row.when)), safe(row.label, 120), safe(row.error, 160)


class FailuresScreen(LiveScreen):
    """Failures of one track: error groups above, the items of the chosen group (or search) below."""

    AUTO_FOCUS = ""  # no auto focus: focus is set once it is known whether there is anything to list

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Open"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("space", "mark", "Mark"),
        Binding("g", "groups", "Groups"),
        Binding("r", "regroup", "Regroup"),
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
    | tab / shift+tab | Move between the groups and the items. |
    """

    DEFAULT_CSS = """
    FailuresScreen #fx-title { height: 1; padding: 0 1; text-style: bold; }
    FailuresScreen #fx-status { height: 1; padding: 0 1; color: $text-muted; }
    FailuresScreen #fx-progress { height: 1; padding: 0 1; }
    FailuresScreen #fx-empty { height: auto; padding: 1 2; margin: 1 2; border: round $primary 40%; }
    FailuresScreen #fx-groups { height: auto; max-height: 40%; }
    FailuresScreen #fx-group-detail { height: 1; padding: 0 1; color: $text-muted; }
    FailuresScreen #fx-items-title { height: 1; padding: 0 1; background: $boost; text-style: bold; }
    FailuresScreen #fx-items { height: 2fr; }
    FailuresScreen #fx-search { dock: bottom; margin-bottom: 1; }
    FailuresScreen .hidden { display: none; }
    """

    def __init__(self, source: Source, track: str) -> None:
        super().__init__()
        self.source = source
        self.track_name = track
        self._group: str | None = None
        self._search: str | None = None
        self._marked: set[Any] = set()
        self._groups: dict[str, ErrorGroup] = {}
        self._report: GroupReport | None = None
        self._grouping = False
        self._group_again = False
        self._group_timer: Timer | None = None
        self._search_timer: Timer | None = None
        self._next_group_at = 0.0
        self._seen_snapshot: object = None
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
        if self._marked:
            return list(self._marked)
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
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#fx-title", Static).update(Text.assemble(
            "Failures · ", safe(self.track_name, 40, style="bold"), " · ", safe(self.source.name, 80)))
        self._seen_snapshot = self.source.snapshot
        if not self._explain_empty():
            self._load_items()
            self._start_grouping()
            self.query_one("#fx-groups", KeyedTable).focus()

    # -- live updates -------------------------------------------------------------------------------

    def refresh_views(self, dirty: set[str]) -> None:
        """After polls: regroup (rate-limited) and re-read the newest items when the source changed."""
        if self.source.snapshot is self._seen_snapshot:
            return  # a poll that read nothing new keeps the same snapshot object
        self._seen_snapshot = self.source.snapshot
        if self._explain_empty():
            return
        self._schedule_grouping()
        self.query_one("#fx-items", PagedTable).reload()

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
        """Hide the keys that have nothing to act on while an empty state is shown."""
        return not (self._empty and action in ("open", "search", "mark", "groups"))

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

    # -- grouping -----------------------------------------------------------------------------------

    def _schedule_grouping(self) -> None:
        if self._grouping:
            self._group_again = True
            return
        wait = self._next_group_at - time.monotonic()
        if wait <= 0:
            self._start_grouping()
        elif self._group_timer is None:
            self._group_timer = self.set_timer(wait, self._start_grouping)

    def _start_grouping(self) -> None:
        self._group_timer = None
        track = self.track
        if track is None or self._grouping:
            return
        self._grouping = True
        self._group_again = False
        snap = self._track_snapshot()
        self._progress_total = snap.counts.get("failed") if snap else None
        self._group_work(track)

    @work(thread=True, exclusive=True, group="failure-groups", exit_on_error=False)
    def _group_work(self, track: Track) -> None:
        worker = get_current_worker()
        cache = cache_for(self.source, track)

        def progress(rows: int) -> None:
            if worker.is_cancelled:
                raise _Abandoned
            self.app.call_from_thread(self._show_progress, rows)

        try:
            report = cache.refresh(self.source, progress=progress)
        except _Abandoned:
            return
        except BatchtopError as exc:
            self.app.call_from_thread(self._grouped, None, exc.message)
            return
        except Exception as exc:  # never kill the screen: show it and keep running
            self.app.call_from_thread(self._grouped, None, f"grouping failed: {type(exc).__name__}: {exc}")
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._grouped, report, None)

    def _show_progress(self, rows: int) -> None:
        total = self._progress_total
        if not total or total <= CHUNK:
            return  # small: done before a bar would be worth showing
        bar = self.query_one("#fx-progress", ProgressBar)
        bar.remove_class("hidden")
        bar.update(total=max(total, rows), progress=rows)
        self.query_one("#fx-status", Static).update(Text(f"grouping… {rows:,} of ~{total:,} failed rows read"))

    def _grouped(self, report: GroupReport | None, error: str | None) -> None:
        self._grouping = False
        self.query_one("#fx-progress", ProgressBar).add_class("hidden")
        cost = report.elapsed if report is not None else 0.0
        self._next_group_at = time.monotonic() + max(REGROUP_GAP, 5 * cost)
        self._error = error
        if report is not None:
            self._report = report
            self._show_groups(report)
        self._show_status()
        if self._group_again:
            self._schedule_grouping()

    def _show_groups(self, report: GroupReport) -> None:
        self._groups = {g.signature: g for g in report.groups}
        table = self.query_one("#fx-groups", KeyedTable)
        table.sync({g.signature: group_cells(g) for g in report.groups}, [g.signature for g in report.groups])
        if report.failed == 0:
            self._show_empty(Text.assemble(("✓ No failed items", "bold green"), " in ",
                                           safe(self.track_name, 40), ": nothing to triage."))
        else:
            self._show_empty(None)
        self._show_group_detail()
        self._show_items_title()

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
            parts.append(f" · {len(self._marked):,} marked")
        if self._error:  # exception texts can quote raw column bytes: sanitised like DB text
            parts.append(safe(f"  {self._error}", 300, style="bold red"))
        status = Text.assemble(*parts)
        status.no_wrap, status.overflow = True, "ellipsis"
        self.query_one("#fx-status", Static).update(status)

    def _show_group_detail(self) -> None:
        key = self.query_one("#fx-groups", KeyedTable).cursor_key
        group = self._groups.get(key) if key is not None else None
        detail = self.query_one("#fx-group-detail", Static)
        if group is None:
            detail.update("")
            return
        detail.update(Text.assemble("newest: ", safe(group.sample_key, 20, style="bold"), "  ",
                                    safe(group.sample_error, 300)))

    @on(DataTable.RowHighlighted, "#fx-groups")
    def _group_highlighted(self) -> None:
        self._show_group_detail()

    # -- items --------------------------------------------------------------------------------------

    def _fetcher(self) -> Fetch:
        """The page reader of the current list (called in a thread worker)."""
        source, track, marked = self.source, self.track, self._marked
        group, search = self._group, self._search
        assert track is not None
        cache = cache_for(source, track)

        def fetch(before: Any, after: Any, limit: int) -> list[PageRow]:
            if group is not None:
                rows = cache.items(source, group, before=before, after=after, limit=limit)
            elif search:
                rows = search_failures(source, track, search, before=before, after=after, limit=limit)
            else:
                rows = failure_page(source, track, before=before, after=after, limit=limit)
            return [PageRow(r.key, item_cells(r, r.key in marked)) for r in rows]

        return fetch

    def _load_items(self) -> None:
        if self.track is None:
            return
        self._show_items_title()
        self.query_one("#fx-items", PagedTable).load(self._fetcher())

    def _show_items_title(self, note: str | None = None) -> None:
        if self._search:
            title = Text.assemble("Search: ", safe(self._search, 80, style="bold yellow"),
                                  " (error texts and labels, newest first)")
        elif self._group is not None:
            group = self._groups.get(self._group)
            count = f" · {group.count:,} items" if group else ""
            title = Text.assemble("Group: ", safe(self._group, 120), count)
        else:
            title = Text("All failures, newest first")
        if note:
            title.append(f"  — {note}", style="dim")
        title.no_wrap, title.overflow = True, "ellipsis"
        self.query_one("#fx-items-title", Static).update(title)

    @on(PagedTable.Loaded, "#fx-items")
    def _items_loaded(self, event: PagedTable.Loaded) -> None:
        if event.rows == 0 and event.reset and (self._search or self._group):
            self._show_items_title("no failed item matches this search" if self._search
                                   else "this group has no items left")

    @on(PagedTable.Failed, "#fx-items")
    def _items_failed(self, event: PagedTable.Failed) -> None:
        self._error = event.message
        self._show_status()

    def _open_group(self, signature: str) -> None:
        self._group, self._search = signature, None
        self._hide_search()
        self._load_items()
        self.query_one("#fx-items", PagedTable).focus()

    def _open_item(self, key: Any) -> None:
        self.app.push_screen(ItemScreen(self.source, self.track_name, key))

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

    def _hide_search(self) -> None:
        box = self.query_one("#fx-search", Input)
        box.add_class("hidden")
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None

    @on(Input.Changed, "#fx-search")
    def _search_changed(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self._apply_search)

    @on(Input.Submitted, "#fx-search")
    def _search_submitted(self) -> None:
        self._apply_search()
        self.query_one("#fx-items", PagedTable).focus()

    def _apply_search(self) -> None:
        self._search_timer = None
        text = self.query_one("#fx-search", Input).value.strip()
        if (text or None) == self._search:
            return
        self._search = text or None
        self._group = None
        self._load_items()

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

    def action_search(self) -> None:
        """Show and focus the search box."""
        if self.track is None or not self.track.failures_recorded:
            return
        box = self.query_one("#fx-search", Input)
        box.remove_class("hidden")
        box.focus()

    def action_mark(self) -> None:
        """Mark or unmark the item under the cursor."""
        items = self.query_one("#fx-items", PagedTable)
        key = items.cursor_item
        if key is None:
            return
        if key in self._marked:
            self._marked.discard(key)
        else:
            self._marked.add(key)
        items.set_cell(key, 0, MARK if key in self._marked else NO_MARK)
        self._show_status()

    def action_groups(self) -> None:
        """Focus the groups table."""
        self.query_one("#fx-groups", KeyedTable).focus()

    def action_regroup(self) -> None:
        """Group the failures again now."""
        self._next_group_at = 0.0
        self._schedule_grouping()


class _Abandoned(Exception):
    """Raised from the progress callback when the grouping worker was cancelled."""
