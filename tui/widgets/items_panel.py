"""The failures screen's item list: one window of a keyset-paged list of failed items, and the marks.

`ItemsPanel` is a `PagedTable` (keyset pages read in thread workers) that owns what it lists: all
failures newest first, one error group, or a search (the filter language of `core/filters.py`), and
the marked items (the target of a later reset). Re-reads after polls are rate-limited here; a group's
list is re-read after the regroup instead (`regrouped`), as its pages are read by the members the
grouping pass finds. It posts `MarksChanged` when the marks change and `Opened` when an item is opened.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import DataTable

from batchtop.core import fmt
from batchtop.core.filtered import filter_failures
from batchtop.core.groups import cache_for, failure_page
from batchtop.core.profiles.model import Track
from batchtop.core.snapshot import FailureRow
from batchtop.tui.text import safe
from batchtop.tui.widgets.keyed_table import ColumnSpec
from batchtop.tui.widgets.paged_table import Fetch, PagedTable, PageRow

if TYPE_CHECKING:
    from batchtop.core.source import Source

#: Seconds between re-reads of the failures list after polls (a busy job sends many snapshots a second).
RELOAD_GAP = 1.0

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


def key_order(key: Any) -> tuple[int, Any, str]:
    """Sort key of item keys of mixed types: numbers in order, then texts (the preview lists them so)."""
    return (0, key, "") if isinstance(key, int | float) else (1, 0, str(key))


class ItemsPanel(PagedTable):
    """The failed items of one track: all of them, one group's, or a search's; with marks."""

    class MarksChanged(Message):
        """The marked items changed; `count` of them are marked now."""

        def __init__(self, panel: ItemsPanel, count: int) -> None:
            super().__init__()
            self.panel = panel
            self.count = count

        @property
        def control(self) -> ItemsPanel:
            return self.panel

    class Opened(Message):
        """The item `key` was opened (enter or a click): the screen shows its detail."""

        def __init__(self, panel: ItemsPanel, key: Any) -> None:
            super().__init__()
            self.panel = panel
            self.key = key

        @property
        def control(self) -> ItemsPanel:
            return self.panel

    def __init__(self, source: Source, track_name: str, group: str | None = None, *,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(ITEM_COLUMNS, id=id, classes=classes)
        self.source = source
        self.track_name = track_name
        #: Signature of the group whose items are listed, if any.
        self.group: str | None = group
        #: Text the list is filtered by, if any (a search and a group are never both set).
        self.search: str | None = None
        #: Keys of the marked items. Changed in place only: the page reader holds this very set.
        self.marked: set[Any] = set()
        self._last_reload = 0.0  # monotonic time the list was last re-read after a poll
        self._reload_pending = False
        self._after_regroup = False  # a poll asked to re-read a group's list: done as the regroup ends

    @property
    def track(self) -> Track | None:
        """The track definition, as of the latest probe."""
        profile = self.source.profile
        return profile.track(self.track_name) if profile is not None else None

    # -- what is listed -----------------------------------------------------------------------------

    def show(self, group: str | None = None, search: str | None = None) -> None:
        """List one group's items, or a search's matches, or (neither) all failures, from the newest."""
        self.group, self.search = group, search or None
        self._after_regroup = False  # the new list's first page is read now
        self.load_list()

    def load_list(self) -> None:
        """Read the current list again from its newest item (after a write, say)."""
        if self.track is not None:
            self.load(self._fetcher())

    def reload_soon(self) -> None:
        """Re-read the newest items after a poll: at once, or at most one re-read per RELOAD_GAP (beside
        a busy job a new snapshot comes many times a second, and a page read for each kept a reader on
        the job's WAL most of the time).

        A group's list waits for the regroup the same poll scheduled (`regrouped`): its pages are read
        by the group's members as the last grouping pass found them, so a read before the pass ends
        misses the group's newest failures, and a second read after it would cost a read per regroup."""
        if self.group is not None:
            self._after_regroup = True
            return
        wait = self._last_reload + RELOAD_GAP - time.monotonic()
        if wait <= 0:
            self._reload_now()
        elif not self._reload_pending:
            self._reload_pending = True
            self.set_timer(wait, self._reload_now)

    def regrouped(self, changed: bool) -> None:
        """A grouping pass ended (`changed`: it read new or changed failed rows). An open group's list
        is re-read if a poll asked for it since, or if the pass changed the groups (a regroup on a key,
        after a write): its pages are read by the members this pass found."""
        wanted, self._after_regroup = self._after_regroup, False
        if self.group is not None and (wanted or changed):
            self._reload_now()

    def _reload_now(self) -> None:
        self._reload_pending = False
        self._last_reload = time.monotonic()
        self.reload()

    def _fetcher(self) -> Fetch:
        """The page reader of the current list (called in a thread worker)."""
        source, track, marked = self.source, self.track, self.marked
        group, search = self.group, self.search
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

    # -- marks and selection ------------------------------------------------------------------------

    def toggle_mark(self) -> None:
        """Mark or unmark the item under the cursor."""
        key = self.cursor_item
        if key is None:
            return
        if key in self.marked:
            self.marked.discard(key)
        else:
            self.marked.add(key)
        self.set_cell(key, 0, MARK if key in self.marked else NO_MARK)
        self.post_message(self.MarksChanged(self, len(self.marked)))

    def clear_marks(self) -> None:
        """Forget every mark (they are spent by a write); the list is read again by the caller."""
        self.marked.clear()
        self.post_message(self.MarksChanged(self, 0))

    def selection(self) -> list[Any]:
        """The marked items in key order, else the item under the cursor, but only while this list has
        the focus (an action key acts on the highlighted row, never on another)."""
        if self.marked:
            return sorted(self.marked, key=key_order)
        return [self.cursor_item] if self.has_focus and self.cursor_item is not None else []

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        key = self.cursor_item
        if event.data_table is self and key is not None:
            self.post_message(self.Opened(self, key))
