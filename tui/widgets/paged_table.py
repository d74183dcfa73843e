"""A table showing a window of a keyset-paged list far longer than it could hold.

A million failed rows cannot be loaded into a DataTable (about 0.3 ms per row to load and paint). This
table keeps at most `window` rows: when the cursor (or the scroll position) nears the end of the window
it fetches the next older page after the last key, and near the top the next newer page before the
first key, trimming the other end. Every fetch runs in a thread worker (one exclusive group per table),
and the table is updated in place by row key (through `KeyedTable.sync`), keeping the cursor on its item.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import DataTable
from textual.worker import get_current_worker

from batchtop.core.errors import BatchtopError
from batchtop.tui.widgets.keyed_table import ColumnSpec, KeyedTable


@dataclass(frozen=True)
class PageRow:
    """One row of a paged list: the item's key (the keyset anchor) and its cells (sanitised Text)."""

    key: Any
    cells: tuple[Text, ...]


#: `fetch(before, after, limit)`: up to `limit` rows next to an anchor, newest (highest key) first:
#: older than `before`, or the nearest newer than `after`, or the newest when both are None.
#: Called in a thread worker.
Fetch = Callable[[Any, Any, int], Sequence[PageRow]]


def row_key(key: Any) -> str:
    """The DataTable row key of an item key (repr keeps 1 and '1' apart)."""
    return repr(key)


class PagedTable(KeyedTable):
    """A row-cursor table over a keyset-paged list, holding one window of it."""

    class Loaded(Message):
        """A page arrived: `rows` in the window, whether it starts at the newest and ends at the oldest."""

        def __init__(self, table: PagedTable, rows: int, at_start: bool, at_end: bool, reset: bool) -> None:
            super().__init__()
            self.table = table
            self.rows = rows
            self.at_start = at_start
            self.at_end = at_end
            #: True for the first page of a new list.
            self.reset = reset

        @property
        def control(self) -> PagedTable:
            return self.table

    class Failed(Message):
        """A fetch failed; `message` is sanitised (BatchtopError messages are)."""

        def __init__(self, table: PagedTable, message: str) -> None:
            super().__init__()
            self.table = table
            self.message = message

        @property
        def control(self) -> PagedTable:
            return self.table

    class _Page(Message, bubble=False):
        """From the fetch worker to its table: the rows of one fetch (or why it failed)."""

        def __init__(self, generation: int, direction: str, rows: list[PageRow], size: int,
                     error: str | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.direction = direction
            self.rows = rows
            self.size = size
            self.error = error

    def __init__(self, columns: Sequence[ColumnSpec], *, page: int = 100, window: int = 300, margin: int = 10,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(columns, id=id, classes=classes)
        self.page_size = page
        self.window_size = max(window, 2 * page)
        self.edge_margin = margin
        self._fetch: Fetch | None = None
        self._rows: list[PageRow] = []
        self._generation = 0
        self._loading: str | None = None
        self._reload_again = False  # a reload was asked for while a page was read: re-read once it lands
        #: The window starts at the newest item / ends at the oldest.
        self.at_start = True
        self.at_end = True
        #: Pages fetched since the last reset (tests read it).
        self.fetches = 0

    # -- public -------------------------------------------------------------------------------------

    @property
    def items(self) -> list[Any]:
        """Item keys in the window, in display order."""
        return [r.key for r in self._rows]

    @property
    def cursor_item(self) -> Any:
        """Item key under the cursor (None when the table is empty)."""
        if not self._rows or not 0 <= self.cursor_row < len(self._rows):
            return None
        return self._rows[self.cursor_row].key

    @property
    def fetching(self) -> bool:
        """Whether a page is being read."""
        return self._loading is not None

    def load(self, fetch: Fetch) -> None:
        """Show a new list from its newest item (the table is reset: another list, another cursor)."""
        self._fetch = fetch
        self._generation += 1
        self.fetches = 0
        self._reload_again = False  # this first page is read after any earlier request
        self._start("first", None)

    def reload(self) -> None:
        """Re-read the window in place when it shows the newest items (live updates); else nothing.

        Asked while a page is being read, the re-read follows once that page is applied: the page in
        flight may have been read before what the caller knows changed, and applied last it would
        leave the window stale."""
        if self._fetch is None:
            return
        if self._loading is not None:
            self._reload_again = True
        elif self.at_start:
            self._start("reload", None)

    def set_cell(self, key: Any, column: int, cell: Text) -> None:
        """Replace one cell of one item (a mark, say) in place."""
        for i, row in enumerate(self._rows):
            if row_key(row.key) == row_key(key):
                cells = list(row.cells)
                cells[column] = cell
                self._rows[i] = PageRow(row.key, tuple(cells))
                self._sync(self.cursor_item)
                return

    # -- fetching -----------------------------------------------------------------------------------

    def _start(self, direction: str, anchor: Any) -> None:
        assert self._fetch is not None
        self._loading = direction
        fetch, generation = self._fetch, self._generation
        size = max(self.page_size, len(self._rows)) if direction == "reload" else self.page_size
        self.run_worker(lambda: self._fetch_work(fetch, generation, direction, anchor, size), thread=True,
                        exclusive=True, group=f"paged-{id(self)}", exit_on_error=False,
                        description=f"page {direction}")

    def _fetch_work(self, fetch: Fetch, generation: int, direction: str, anchor: Any, size: int) -> None:
        worker = get_current_worker()
        try:
            if direction == "newer":
                rows = list(fetch(None, anchor, size))
            elif direction == "older":
                rows = list(fetch(anchor, None, size))
            else:
                rows = list(fetch(None, None, size))
        # post_message is thread-safe: the result is applied on the UI thread by `_page_arrived`.
        except BatchtopError as exc:
            if not worker.is_cancelled:
                self.post_message(self._Page(generation, direction, [], size, exc.message))
            return
        except Exception as exc:  # a bug must not kill the screen: say so, keep running
            if not worker.is_cancelled:
                self.post_message(self._Page(generation, direction, [], size, f"{type(exc).__name__}: {exc}"))
            return
        if not worker.is_cancelled:
            self.post_message(self._Page(generation, direction, rows, size))

    @on(_Page)
    def _page_arrived(self, event: _Page) -> None:
        if event.generation != self._generation:
            return  # a page of a list that was replaced since
        if event.error is not None:
            self._loading = None
            self.post_message(self.Failed(self, event.error))
        else:
            self._apply(event.direction, event.rows, event.size)
        if self._reload_again and self._loading is None:
            self._reload_again = False
            self.reload()

    def _apply(self, direction: str, rows: list[PageRow], size: int) -> None:
        self._loading = None
        self.fetches += 1
        full = len(rows) >= size
        keep = self.cursor_item if self._rows else None
        have = {row_key(r.key) for r in self._rows}
        fresh = [r for r in rows if row_key(r.key) not in have]
        if direction in ("first", "reload"):
            self._rows = list(rows)
            self.at_start, self.at_end = True, not full
        elif direction == "older":
            self._rows += fresh
            self.at_end = not full
            if len(self._rows) > self.window_size:
                del self._rows[: len(self._rows) - self.window_size]
                self.at_start = False
        else:
            self._rows = fresh + self._rows
            self.at_start = not full
            if len(self._rows) > self.window_size:
                del self._rows[self.window_size:]
                self.at_end = False
        self._sync(keep, reset=direction == "first")
        self.post_message(self.Loaded(self, len(self._rows), self.at_start, self.at_end, direction == "first"))
        self.call_after_refresh(self._check_edges)

    def _sync(self, keep: Any = None, reset: bool = False) -> None:
        """Show `_rows` (in place by row key), keeping the cursor on the item it was on."""
        before = self.cursor_row
        offset = self.scroll_y - before
        keys = [row_key(r.key) for r in self._rows]
        self.sync(dict(zip(keys, (r.cells for r in self._rows))), keys)
        if reset or keep is None:
            if self._rows:
                self.move_cursor(row=0, scroll=False)
            self.scroll_to(y=0, animate=False)
            return
        target = row_key(keep)
        if target in keys:
            index = keys.index(target)
            if index != before:
                self.move_cursor(row=index, scroll=False)
                # Keep the item where it was on screen once the new rows are laid out.
                self.call_after_refresh(self.scroll_to, y=max(0, index + offset), animate=False)

    # -- edges --------------------------------------------------------------------------------------

    def _idle(self) -> bool:
        return self._fetch is not None and self._loading is None and bool(self._rows)

    def _check_edges(self) -> None:
        """Fetch the next page when the cursor is within `margin` rows of an edge of the window."""
        if not self._idle():
            return
        row = self.cursor_row
        if row >= len(self._rows) - self.edge_margin and not self.at_end:
            self._start("older", self._rows[-1].key)
        elif row < self.edge_margin and not self.at_start:
            self._start("newer", self._rows[0].key)

    @on(DataTable.RowHighlighted)
    def _on_highlight(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self:
            self._check_edges()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Scrolled (mouse wheel, scrollbar) to the very end of the window without moving the cursor.
        if round(old_value) == round(new_value) or not self._idle():
            return
        if new_value > old_value and new_value >= self.max_scroll_y - 1 and not self.at_end:
            self._start("older", self._rows[-1].key)
        elif new_value < old_value and new_value <= 0 and not self.at_start:
            self._start("newer", self._rows[0].key)
