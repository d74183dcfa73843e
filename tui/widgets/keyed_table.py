"""A DataTable that is only ever updated in place, by row key.

`DataTable.clear()` resets the cursor and the scroll position, and every `update_cell` costs a refresh,
so `sync()` diffs the wanted rows against the rows on screen: it removes rows that went away, updates
only the cells that changed, appends new rows, and re-sorts only when the order changed, keeping the
cursor on the same row key (not the same index) and never scrolling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.console import JustifyMethod
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

#: One cell: a Text or any frozen, comparable Rich renderable (ProgressBar, Sparkline).
Cell = Any


@dataclass(frozen=True)
class ColumnSpec:
    """A column: key, header label, fixed width (None: sized to content) and header alignment."""

    key: str
    label: str
    width: int | None = None
    justify: JustifyMethod = "left"

    def header(self) -> Text:
        return Text(self.label, justify=self.justify)


def same(a: Cell, b: Cell) -> bool:
    """Whether two cells render identically (`Text.__eq__` ignores the base style and justification)."""
    if isinstance(a, Text) and isinstance(b, Text):
        return (a.plain == b.plain and a.style == b.style and a.justify == b.justify
                and a.spans == b.spans)
    return type(a) is type(b) and a == b


def row_height(cells: Sequence[Cell]) -> int:
    """Lines a row needs: one, or as many as its tallest multi-line Text cell (fixed when it is added)."""
    return max([1] + [c.plain.count("\n") + 1 for c in cells if isinstance(c, Text)])


class KeyedTable(DataTable):
    """A row-cursor DataTable synchronised from `{row_key: cells}` and an order.

    A single click on a row selects it (posts `RowSelected`), so the mouse opens rows like Enter does.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select_cursor", "Open")]
    """
    | Key(s) | Description |
    | :- | :- |
    | enter | Open the row under the cursor (posts `RowSelected`). |
    """

    DEFAULT_CSS = """
    KeyedTable {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, columns: Sequence[ColumnSpec], *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.specs = tuple(columns)
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        #: How many cell updates the last `sync()` made (tests and benchmarks read it).
        self.last_updates = 0

    def on_mount(self) -> None:
        self._ensure_columns()

    def _ensure_columns(self) -> None:
        if not self.columns:
            for spec in self.specs:
                self.add_column(spec.header(), key=spec.key, width=spec.width)

    @property
    def row_keys(self) -> list[str]:
        """Row keys in display order."""
        return list(self._order)

    @property
    def cursor_key(self) -> str | None:
        """Key of the row under the cursor, if any."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def sync(self, rows: Mapping[str, Sequence[Cell]], order: Sequence[str]) -> None:
        """Make the table show `rows` in `order` (keys in `order` that are not in `rows` are ignored)."""
        self._ensure_columns()
        updates = 0
        # The row under the cursor, read from the table itself before anything moves: removals shift
        # indices and new rows are appended, so the cursor index alone would land on another item.
        keep = self._key_at(self.cursor_row)
        for key in [k for k in self._cells if k not in rows]:
            try:
                self.remove_row(key)
            except RowDoesNotExist:
                pass
            del self._cells[key]
        for key, cells in rows.items():
            cells = tuple(cells)
            old = self._cells.get(key)
            if old is None:
                self.add_row(*cells, key=key, height=row_height(cells))
                updates += len(cells)
            else:
                merged = []
                for spec, before, after in zip(self.specs, old, cells):
                    if same(before, after):
                        after = before
                    else:
                        self.update_cell(key, spec.key, after, update_width=spec.width is None)
                        updates += 1
                    merged.append(after)
                cells = tuple(merged)
            self._cells[key] = cells
        wanted = [k for k in order if k in rows] + [k for k in rows if k not in set(order)]
        current = [k for k, _ in sorted(self._row_index().items(), key=lambda kv: kv[1])]
        if wanted != current:
            self._rebuild(wanted)
        self._order = wanted
        if keep is not None and keep in self._cells and self.get_row_index(keep) != self.cursor_row:
            self.move_cursor(row=self.get_row_index(keep), scroll=False)
        self.last_updates = updates

    def _key_at(self, index: int) -> str | None:
        """Key of the row shown at `index` (None when there is none)."""
        if not 0 <= index < self.row_count:
            return None
        value = self.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
        return value if isinstance(value, str) else None

    def _row_index(self) -> dict[str, int]:
        return {k: self.get_row_index(k) for k in self._cells}

    def _rebuild(self, wanted: list[str]) -> None:
        """Lay the rows out again in `wanted` order, keeping the scroll position.

        `DataTable.sort` ranks rows by cell values only, and cells are not unique (every unmarked row
        shares one "not marked" cell), so no sort key can say which row is which: re-adding the rows
        by key is the only order that is certain. It runs only when the order changed.
        """
        scroll_x, scroll_y = self.scroll_x, self.scroll_y
        self.clear()
        for key in wanted:
            cells = self._cells[key]
            self.add_row(*cells, key=key, height=row_height(cells))
        self.scroll_to(scroll_x, scroll_y, animate=False, immediate=True)

    def move_to_key(self, key: str) -> bool:
        """Put the cursor on the row `key` (scrolling it into view); False when there is no such row."""
        if key not in self._cells:
            return False
        self.move_cursor(row=self.get_row_index(key))
        return True

    def on_click(self, event: events.Click) -> None:
        # Runs before DataTable's own handler, which only *highlights* a row on the first click;
        # schedule the selection so one click opens the row, like Enter.
        meta = event.style.meta
        row = meta.get("row")
        if isinstance(row, int) and row >= 0 and row != self.cursor_row and not meta.get("out_of_bounds"):
            self.call_later(self.action_select_cursor)
