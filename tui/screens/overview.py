"""The overview: totals across all sources, then one row per source and track, live, sortable, filterable."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, Input, Static

from batchtop.core.chunks import GroupBy
from batchtop.tui.actions_flow import JOURNAL, UNDO, start_undo
from batchtop.tui.messages import SourceView
from batchtop.tui.screens import overview_groups as groups
from batchtop.tui.screens import overview_rows as rows
from batchtop.tui.screens.live import LiveScreen
from batchtop.tui.text import safe
from batchtop.tui.widgets.cells import is_young, joined, path_text
from batchtop.tui.widgets.keyed_table import KeyedTable
from batchtop.tui.widgets.status_line import StatusLine
from batchtop.tui.widgets.totals import Summary, Totals


class OverviewScreen(LiveScreen):
    """Every watched database at a glance."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open"),
        Binding("f", "failures", "Failures"),
        Binding("F", "failures_everywhere", "Failures across files", show=False),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse sort", show=False),
        Binding("e", "problems", "Problems only"),
        Binding("g", "group", "Group"),
        Binding("space", "expand", "Expand"),
        UNDO,
        JOURNAL,
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | enter | Open the source under the cursor (a click does the same). |
    | f | Failures of the track under the cursor (on a set of files: its error groups across the files). |
    | F | Error groups across every source shown (one cause in many files is one row). |
    | / | Filter by name, path, profile, track or state (Enter or Escape returns to the list). |
    | s | Next sort order: name, state, progress, rate, ETA, failed, changed (or click a header). |
    | S | Reverse the sort order. |
    | e | Show only sources with problems (errors, stalls, interruptions, failures). |
    | g | Group chunk files: by name pattern (digits as wildcards), by directory, or not at all. |
    | space | Expand or collapse the set of files under the cursor (Enter and a click do the same). |
    | u | Undo the newest action on the database under the cursor. |
    | J | The action journal of every database, newest first. |
    | escape | Clear the filter. |
    """

    sort: reactive[str] = reactive("name", init=False)
    """Current sort order (one of `overview_rows.SORTS`)."""
    reverse: reactive[bool] = reactive(False, init=False)
    """Whether the sort order is reversed."""
    needle: reactive[str] = reactive("", init=False)
    """Filter text."""
    problems_only: reactive[bool] = reactive(False, init=False)
    """Whether only sources with problems are listed."""
    grouping: reactive[GroupBy] = reactive(GroupBy(), init=False)
    """How sources are grouped into sets of chunk files (`g` cycles; `--group-by` sets the first)."""

    def __init__(self) -> None:
        super().__init__()
        #: Rows of each source as last built, by path (see `refresh_views`).
        self._rows: dict[str, dict] = {}
        self._notices: list[str] = []
        #: The columns on screen (from the terminal width and the longest names; see `overview_rows.layout`).
        self._layout: rows.Layout | None = None
        self._relayout_pending = False
        #: The minute of the clock the table's ages were last counted at (see `tick`).
        self._minute: int | None = None
        #: The detail line last shown (an unchanged one is not sent again).
        self._detail_shown: Text | None = None
        #: Rows of each set of files as last built: key -> (member paths, expanded, rows).
        self._group_rows: dict[str, tuple[frozenset[str], bool, dict]] = {}
        #: Sets shown open (their files listed under them), by key.
        self._expanded: set[str] = set()
        #: The sets on screen now, by key.
        self._units: dict[str, groups.Unit] = {}
        #: The grouping given on the command line (the first of the modes `g` cycles through).
        self._start_grouping = GroupBy()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Totals()
        yield Static(id="notices")
        yield Input(placeholder="filter: name, path, profile, track or state", id="filter")
        self._layout = rows.layout(self.app.size.width, self._longest(list(self.batchtop.views.values())))
        yield KeyedTable(self._layout.columns, id="sources")
        yield Static(id="empty")
        yield Static(id="detail")
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "overview"
        start = getattr(self.batchtop, "group_by", None) or GroupBy()
        self._start_grouping = start
        self.set_reactive(OverviewScreen.grouping, start)
        self._resort_subtitle()
        box = self.query_one("#filter", Input)
        box.display = False
        box.cursor_blink = self.batchtop.cursor_blink
        self.query_one(KeyedTable).focus()
        self.refresh_views(set(self.batchtop.views))

    # -- live data ----------------------------------------------------------------------------------

    def refresh_views(self, dirty: set[str]) -> None:
        app = self.batchtop
        views = list(app.views.values())
        now = app.clock()
        if self._relayout_pending or self._needs_relayout(views):
            return  # the table is being rebuilt with new columns: it refreshes everything once mounted
        lay = self._layout or rows.DEFAULT_LAYOUT
        # Rows are rebuilt only for sources polled since the last refresh (and for all once a second,
        # in `tick`, for the ages): with 100 sources, most refreshes rebuild a handful of rows.
        for path in dirty:
            self._rows.pop(path, None)
        shown = [v for v in views if rows.matches(v, self.needle, self.problems_only)]
        wanted: dict = {}
        if self.grouping.active:
            wanted = self._grouped_rows(shown, dirty, now, lay)
        else:
            for view in rows.ordered(shown, self.sort, self.reverse):
                cached = self._rows.get(view.path)
                if cached is None:
                    cached = self._rows[view.path] = rows.source_rows(view, now, lay)
                wanted.update(cached)
        self.query_one(KeyedTable).sync(wanted, list(wanted))
        self.query_one(Totals).summary = Summary.of(v.status for v in views) if app.scanned or views else None
        self._show_notices(app.notices)
        self._show_empty(views, bool(wanted))
        self._show_detail()
        self._show_status()

    def _grouped_rows(self, shown: list[SourceView], dirty: set[str], now: float, lay: rows.Layout) -> dict:
        """Rows of the sets and lone files, in order; a set's rows are rebuilt only when one of its files
        was polled, its membership changed or it was opened or closed."""
        entries = groups.ordered(groups.units(shown, self.grouping), self.sort, self.reverse)
        self._units = dict(groups.members(entries))
        for key in [k for k in self._group_rows if k not in self._units]:
            del self._group_rows[key]
        wanted: dict = {}
        for unit in entries:
            if unit.key is None:
                view = unit.views[0]
                cached = self._rows.get(view.path)
                if cached is None:
                    cached = self._rows[view.path] = rows.source_rows(view, now, lay)
                wanted.update(cached)
                continue
            paths = frozenset(v.path for v in unit.views)
            expanded = unit.key in self._expanded
            hit = self._group_rows.get(unit.key)
            if hit is None or hit[0] != paths or hit[1] != expanded or paths & dirty:
                hit = self._group_rows[unit.key] = (
                    paths, expanded, groups.unit_rows(unit, expanded, now, lay, self.sort, self.reverse))
            wanted.update(hit[2])
        return wanted

    def tick(self) -> None:
        # The table's ages change at most once a minute, all together (`coarse_age`), so a tick rebuilds
        # only the rows whose '<1m' turns '1m' now, and every row once a minute: rebuilding 100 rows
        # every second costs a few percent of a core even when no cell changes.
        now = self.batchtop.clock()
        minute = int(now // 60)
        if minute != self._minute:
            self._minute = minute
            self._rows.clear()
            self._group_rows.clear()
            self.refresh_views(set())
            return
        young = {path for path, view in self.batchtop.views.items()
                 if is_young(now, view.status.last_change)
                 or any(is_young(now, t.last_change) for t in view.status.tracks)}
        if young:
            self.refresh_views(young)
        else:
            self._show_detail()
            self._show_status()

    # -- columns for the terminal width -------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        if self.ready:
            self.refresh_views(set())

    def _longest(self, views: list[SourceView]) -> dict[str, int]:
        """The longest names (`overview_rows.longest_names`), a set's row ('▸ name') included."""
        out = rows.longest_names(views)
        if self.grouping.active:
            names = [len(safe(u.chunk.name).plain) + 2
                     for u in groups.units(views, self.grouping) if u.key is not None]
            out["source"] = max([out["source"], *names])
        return out

    def _needs_relayout(self, views: list[SourceView]) -> bool:
        """Whether the columns must change (a resize, a longer name); if so, rebuild the table soon."""
        wanted = rows.layout(self.app.size.width, self._longest(views))
        if wanted == self._layout:
            return False
        self._relayout_pending = True
        self.call_later(self._relayout, wanted)
        return True

    async def _relayout(self, lay: rows.Layout) -> None:
        """Replace the table by one with `lay`'s columns, keeping the row under the cursor and the focus."""
        old = self.query_one(KeyedTable)
        keep, focused = old.cursor_key, self.focused is old
        new = KeyedTable(lay.columns, id="sources")
        new.display, new.border_subtitle = old.display, old.border_subtitle
        await old.remove()
        await self.mount(new, before=self.query_one("#empty"))
        self._layout, self._relayout_pending = lay, False
        self._rows.clear()  # cells are cut to the column widths
        self._group_rows.clear()
        self.refresh_views(set())
        if keep is not None:
            new.move_to_key(keep)
        if focused:
            new.focus()

    def _show_status(self) -> None:
        self.show_status_of(None)

    def _show_notices(self, notices: list[str]) -> None:
        widget = self.query_one("#notices", Static)
        _set_display(widget, bool(notices))
        if notices and notices != self._notices:
            self._notices = list(notices)
            text = Text()
            for notice in notices[:3]:
                text.append("⚠ ", style="bold yellow")
                text.append_text(safe(notice))
                text.append("\n")
            text.rstrip()
            widget.update(text)

    def _show_empty(self, views: list[SourceView], any_rows: bool) -> None:
        table, empty = self.query_one(KeyedTable), self.query_one("#empty", Static)
        _set_display(table, any_rows)
        _set_display(empty, not any_rows)
        if any_rows:
            return
        text = Text()
        if not views:
            heading = "No database found yet." if self.batchtop.scanned else "Looking for databases…"
            text.append(heading + "\n\n", style="bold")
            text.append("Watching: ", style="bright_black")
            targets = [t.text for t in self.batchtop.monitor.discovery.targets] or ["(nothing)"]
            text.append_text(safe(", ".join(targets), limit=200))
            text.append("\nNew files appear here as soon as they are created; nothing is ever created or "
                        "written by batchtop.\n\n", style="bright_black")
            text.append("Try  batchtop demo  for a live simulated run, or  batchtop DIR|GLOB|FILE ...",
                        style="italic")
        else:
            text.append("No source matches the filter.\n\n", style="bold")
            text.append("Escape clears the filter; e toggles problems-only.", style="bright_black")
        empty.update(text)

    # -- selection ----------------------------------------------------------------------------------

    def _cursor_key(self) -> str | None:
        tables = self.query(KeyedTable)
        return tables.first().cursor_key if tables else None  # none while the table is being replaced

    def _selected(self) -> tuple[str, str | None] | None:
        """(path, track) of the source row under the cursor (None on a set's row)."""
        key = self._cursor_key()
        return rows.split_key(key) if key and not groups.is_group_key(key) else None

    def _selected_unit(self) -> groups.Unit | None:
        """The set under the cursor: its own row, or (when open) one of its files' rows."""
        key = self._cursor_key()
        if key is None:
            return None
        if groups.is_group_key(key):
            return self._units.get(key)
        path = rows.split_key(key)[0]
        return next((u for u in self._units.values() if any(v.path == path for v in u.views)), None)

    @on(DataTable.RowHighlighted)
    def _on_highlight(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        """One line about the row under the cursor: path, profile, journal, and why it is in its state."""
        detail = self.query_one("#detail", Static)
        key = self._cursor_key()
        if groups.is_group_key(key) and key in self._units:
            unit = self._units[key]
            self._set_detail(detail, groups.detail(unit, groups.combined(unit)))
            return
        selected = self._selected()
        view = self.batchtop.views.get(selected[0]) if selected else None
        if view is None:
            self._set_detail(detail, Text(""))
            return
        status = view.status
        track = next((t for t in status.tracks if t.name == selected[1]), None) if selected else None
        first = joined(path_text(view.path, style=""),
                       safe(f"profile {status.profile}", style="bright_black") if status.profile else "",
                       Text(f"journal {status.journal_mode}", style="bright_black") if status.journal_mode else "")
        if status.error:
            why = safe(status.error, style="bold red")
            if status.stale_snapshot:
                why.append("  (showing the last good read)", style="red")
        elif track is not None:
            why = joined(safe(track.activity.reason), safe(track.note or "", style="italic bright_black"))
        else:
            why = Text("waiting for the first read…", style="bright_black")
        self._set_detail(detail, Text.assemble(first, "\n", why))

    def _set_detail(self, detail: Static, text: Text) -> None:
        """Update the detail line only when its text changed: the tick calls this every second, and an
        unchanged line sent again cost a repaint a second on an idle screen."""
        if text == self._detail_shown:
            return
        self._detail_shown = text
        detail.update(text, layout=False)  # fixed height: no layout needed

    @on(DataTable.RowSelected)
    def _on_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    @on(DataTable.HeaderSelected)
    def _on_header(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        wanted = rows.SORT_OF_COLUMN.get(str(event.column_key.value), "name")
        if wanted == self.sort:
            self.reverse = not self.reverse
        else:
            self.sort = wanted

    # -- actions ------------------------------------------------------------------------------------

    def action_open(self) -> None:
        """Open the source under the cursor (on a set of files: expand or collapse it)."""
        if groups.is_group_key(self._cursor_key()):
            self.action_expand()
            return
        selected = self._selected()
        if selected:
            self.batchtop.open_source(*selected)

    def action_group(self) -> None:
        """Next grouping of chunk files: by name pattern, by directory, none (and the command line's)."""
        self.grouping = groups.next_mode(self.grouping, self._start_grouping)
        said = f"grouped by {self.grouping.label()}" if self.grouping.active else "not grouped"
        self.notify(safe(said).plain, markup=False, timeout=2)

    def action_expand(self) -> None:
        """Expand or collapse the set of files under the cursor."""
        unit = self._selected_unit()
        if unit is None or unit.key is None:
            return  # a file of no set (and while not grouped, `check_action` keeps the key off)
        if unit.key in self._expanded:
            self._expanded.discard(unit.key)
        else:
            self._expanded.add(unit.key)
        self.refresh_views(set())
        self.query_one(KeyedTable).move_to_key(unit.key)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "expand":
            return self.grouping.active  # shown in the footer only while files are grouped
        return True

    def action_failures(self) -> None:
        """Open the failures of the track under the cursor."""
        if groups.is_group_key(self._cursor_key()):
            unit = self._selected_unit()
            if unit is not None:
                self.batchtop.open_set_failures(unit.chunk.paths, unit.chunk.name)
            return
        selected = self._selected()
        if selected and selected[1]:
            self.batchtop.open_failures(selected[0], selected[1])
        elif selected:
            self.notify("This source has no readable track yet.", severity="warning")

    def action_failures_everywhere(self) -> None:
        """The error groups merged over every source shown (one cause in many files is one row)."""
        app = self.batchtop
        paths = [v.path for v in app.views.values() if rows.matches(v, self.needle, self.problems_only)]
        if not paths:
            self.notify("No source to look at yet.", severity="warning")
            return
        self.batchtop.open_set_failures(paths, "every source shown" if not self.needle else f"sources matching {self.needle}")

    def action_undo(self) -> None:
        """Undo the newest action on the database under the cursor."""
        selected = self._selected()
        path = selected[0] if selected else None
        start_undo(self, path, self.batchtop.source_of(path) if path else None)

    def action_journal(self) -> None:
        """The action journal of every database."""
        self.batchtop.open_journal(None)

    def action_filter(self) -> None:
        """Show and focus the filter box."""
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        """Clear and hide the filter box."""
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.query_one(KeyedTable).focus()

    def action_sort(self) -> None:
        """Cycle the sort order."""
        self.sort = rows.SORTS[(rows.SORTS.index(self.sort) + 1) % len(rows.SORTS)]

    def action_reverse(self) -> None:
        """Reverse the sort order."""
        self.reverse = not self.reverse

    def action_problems(self) -> None:
        """Toggle problems-only."""
        self.problems_only = not self.problems_only

    @on(Input.Changed, "#filter")
    def _on_filter(self, event: Input.Changed) -> None:
        self.needle = event.value.strip()

    @on(Input.Submitted, "#filter")
    def _on_filter_done(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = bool(box.value)
        self.query_one(KeyedTable).focus()

    def watch_sort(self) -> None:
        self._resort()

    def watch_reverse(self) -> None:
        self._resort()

    def watch_needle(self) -> None:
        self._resort()

    def watch_problems_only(self) -> None:
        self._resort()

    def watch_grouping(self) -> None:
        self._resort()
        self.refresh_bindings()  # `space Expand` shows only while grouped

    def _resort(self) -> None:
        self._rows.clear()
        self._group_rows.clear()
        self.refresh_views(set())
        self._resort_subtitle()

    def _resort_subtitle(self) -> None:
        what = f"sort: {self.sort}{' (reversed)' if self.reverse else ''}"
        if self.problems_only:
            what += " · problems only"
        if self.grouping.active:
            what += f" · grouped by {self.grouping.label()}"
        subtitle = safe(what)  # a glob from the command line may hold brackets: never parsed as markup
        for table in self.query(KeyedTable):  # none for a moment while the table is being replaced
            table.border_subtitle = subtitle


def _set_display(widget: Widget, shown: bool) -> None:
    """Show or hide `widget`; assigning the same value would still cost a layout pass."""
    if widget.display != shown:
        widget.display = shown
