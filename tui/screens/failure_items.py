"""The failures screen's item list: its columns, the page reader of the current list, its title, marks.

`ItemsPart` is mixed into `FailuresScreen`; the list is a `PagedTable` (keyset pages read in thread
workers): all failures newest first, one error group, or a search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Input, Static

from batchtop.core import fmt
from batchtop.core.filtered import filter_failures
from batchtop.core.groups import ErrorGroup, cache_for, failure_page
from batchtop.core.profiles.model import Track
from batchtop.core.snapshot import FailureRow
from batchtop.core.source import Source
from batchtop.tui.screens.item import ItemScreen
from batchtop.tui.screens.live import ScreenMixin
from batchtop.tui.text import safe
from batchtop.tui.widgets.keyed_table import ColumnSpec
from batchtop.tui.widgets.paged_table import Fetch, PagedTable, PageRow

# Fixed widths only: DataTable caches rendered rows by its update count, and an auto width computed
# later (on idle) can leave a row drawn at the old width until the next update.
ITEM_COLUMNS = (
    ColumnSpec("mark", " ", 1),
    ColumnSpec("key", "Key", 10, "right"),
    ColumnSpec("when", "When", 14),
    ColumnSpec("label", "Label", 36),
    ColumnSpec("error", "Error", 64),
)
MARK = Text("●", style="bold yellow")
NO_MARK = Text(" ")


def item_cells(row: FailureRow, marked: bool) -> tuple[Text, ...]:
    """The cells of one failed item (all DB text through `safe`)."""
    key = safe(row.key, 20, style="dim")
    key.justify = "right"
    return MARK if marked else NO_MARK, key, Text(fmt.clock(row.when)), safe(row.label, 120), safe(row.error, 160)


class ItemsPart(ScreenMixin):
    """The item-list half of `FailuresScreen` (a mixin: the screen provides the widgets and the state)."""

    source: Source
    track_name: str
    _group: str | None
    _search: str | None
    _marked: set[Any]
    _groups: dict[str, ErrorGroup]
    _search_timer: Timer | None

    if TYPE_CHECKING:  # provided by the screen
        @property
        def track(self) -> Track | None: ...
        def _show_status(self) -> None: ...

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
                # The filter language (core/filters.py); a plain word is the old substring search.
                rows = filter_failures(source, track, search, before=before, after=after, limit=limit,
                                       path=source.path)
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

    def _open_group(self, signature: str) -> None:
        self._group, self._search = signature, None
        self._hide_search()
        self._load_items()
        self.query_one("#fx-items", PagedTable).focus()

    def _open_item(self, key: Any) -> None:
        self.app.push_screen(ItemScreen(self.source, self.track_name, key))

    # -- search ---------------------------------------------------------------------------------------

    def _hide_search(self) -> None:
        box = self.query_one("#fx-search", Input)
        box.add_class("hidden")
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None

    def _apply_search(self) -> None:
        self._search_timer = None
        text = self.query_one("#fx-search", Input).value.strip()
        if (text or None) == self._search:
            return
        self._search = text or None
        self._group = None
        self._load_items()

    def action_search(self) -> None:
        """Show and focus the search box."""
        if self.track is None or not self.track.failures_recorded:
            return
        box = self.query_one("#fx-search", Input)
        box.remove_class("hidden")
        box.focus()
