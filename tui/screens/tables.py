"""A generic read-only view of any table: for databases whose schema no profile recognises.

Rows are read a keyset page at a time (previews only, secret columns and tables never read), so a
10M-row table opens as fast as a small one.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from batchtop.core import fmt
from batchtop.core.errors import BatchtopError
from batchtop.core.items import TableInfo, TablePage, Value, read_table_page, read_tables
from batchtop.core.profiles.model import RawValue
from batchtop.core.source import Source
from batchtop.tui.screens.live import LiveScreen
from batchtop.tui.text import plain, safe
from batchtop.tui.widgets.cells import display_path
from batchtop.tui.widgets.status_line import StatusLine

PAGE = 200


def cell(value: Value) -> Text:
    """One value as a table cell: NULL dimmed, long text cut, BLOBs as size and hex."""
    if value.is_null:
        return Text("NULL", style="dim italic")
    shown = safe(value.text, 80)
    if value.more:
        shown.append(f" +{fmt.size(value.more)}", style="dim")
    return shown


class _SchemaRead(Message, bubble=False):
    """From the schema worker to its screen: the tables, or why they could not be read (sanitised)."""

    def __init__(self, tables: tuple[TableInfo, ...], error: str | None = None) -> None:
        super().__init__()
        self.tables = tables
        self.error = error


class _RowsRead(Message, bubble=False):
    """From the rows worker to its screen: one page of a table (read after key `after`), or an error."""

    def __init__(self, page: TablePage | None, after: RawValue, error: str | None = None) -> None:
        super().__init__()
        self.page = page
        self.after = after
        self.error = error


class TablesScreen(LiveScreen):
    """Every table of one database, and the rows of the selected one, read-only."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("n", "next_page", "Next rows"),
        Binding("b", "first_page", "First rows"),
        Binding("tab", "app.focus_next", "Next pane", show=False),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape | Back. |
    | enter | Show the rows of the table under the cursor. |
    | n | The next page of rows. |
    | b | Back to the first rows. |
    | tab | Move between the tables and the rows. |
    """

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source
        #: The tables listed, by name.
        self.tables: dict[str, TableInfo] = {}
        self.table: str | None = None
        self.page: TablePage | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="tb-title")
        yield DataTable(id="tb-tables", cursor_type="row", zebra_stripes=True)
        yield Static(id="tb-rows-title")
        yield DataTable(id="tb-rows", cursor_type="row", zebra_stripes=True)
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"tables · {plain(self.source.name, 60)}"  # the header does not strip control characters
        self.tick()
        self.query_one("#tb-title", Static).update(Text.assemble(
            safe(display_path(self.source.path), style="bold"), ("  read-only table view", "dim"),
            ("\nno profile describes this database; rows are shown as stored (secret columns hidden)", "dim")))
        tables = self.query_one("#tb-tables", DataTable)
        tables.add_columns("Table", "Columns", "Secret columns", "Rows")
        self.load_schema()

    # -- live status --------------------------------------------------------------------------------

    def refresh_views(self, dirty: set[str]) -> None:
        """After polls: only the status line (this screen reads on demand)."""
        self.tick()

    def tick(self) -> None:
        self.show_status_of(self.source.path)

    def _secret_tables(self) -> tuple[str, ...]:
        profile = getattr(self.source, "profile", None)
        return tuple(profile.secret_tables) if profile is not None else ()

    @work(thread=True, exclusive=True, group="tables-schema", exit_on_error=False)
    def load_schema(self) -> None:
        try:
            tables = read_tables(self.source, self._secret_tables())
        except BatchtopError as exc:
            self.post_message(_SchemaRead((), exc.message))  # thread-safe: handled on the UI thread
            return
        self.post_message(_SchemaRead(tables))

    @on(_SchemaRead)
    def _schema_read(self, event: _SchemaRead) -> None:
        if event.error is not None:
            self._show_error(event.error)
        else:
            self._show_schema(event.tables)

    def _show_error(self, message: str) -> None:
        self.query_one("#tb-rows-title", Static).update(Text.assemble(("cannot read: ", "bold red"),
                                                                       safe(message)))

    def _show_schema(self, tables: tuple[TableInfo, ...]) -> None:
        self.tables = {t.name: t for t in tables}
        table = self.query_one("#tb-tables", DataTable)
        for info in tables:
            secret = "whole table" if info.secret else str(info.secret_columns)
            name = safe(info.name)
            if info.kind == "view":
                name.append(" (view)", style="dim")
            table.add_row(name, str(info.columns), secret, Text(info.rows_text(), justify="right"), key=info.name)
        if tables:
            self.show_table(tables[0].name)
        else:
            self._show_error("the database has no tables")

    @on(DataTable.RowSelected, "#tb-tables")
    def _table_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.show_table(str(event.row_key.value))

    def show_table(self, name: str, after: RawValue = None) -> None:
        """Load a page of `name`'s rows (from the start, or after key `after`)."""
        self.table = name
        self.query_one("#tb-rows-title", Static).update(Text.assemble(safe(name), (" loading…", "dim")))
        self.load_rows(name, after)

    @work(thread=True, exclusive=True, group="tables-rows", exit_on_error=False)
    def load_rows(self, name: str, after: RawValue) -> None:
        secret_tables = (*self._secret_tables(), *(t.name for t in self.tables.values() if t.secret))
        try:
            page = read_table_page(self.source, name, after=after, limit=PAGE, secret_tables=secret_tables)
        except BatchtopError as exc:
            self.post_message(_RowsRead(None, after, exc.message))  # thread-safe: handled on the UI thread
            return
        self.post_message(_RowsRead(page, after))

    @on(_RowsRead)
    def _rows_read(self, event: _RowsRead) -> None:
        if event.page is None:
            self._show_error(event.error or "")
        else:
            self._show_rows(event.page, event.after)

    def _show_rows(self, page: TablePage, after: object) -> None:
        if page.table != self.table:
            return
        self.page = page
        rows = self.query_one("#tb-rows", DataTable)
        rows.clear(columns=True)  # another table or page: a fresh grid is the point here
        # Column names are database text: a str label would be parsed as markup (a `[@click=...]` name ran
        # an app action) and its control characters would reach the terminal.
        for name in (page.key_column, *page.columns):
            rows.add_column(safe(name, 60))
        for key, values in page.rows:
            rows.add_row(safe(key), *(cell(v) for v in values))
        start = Text("first rows", style="dim") if after is None else safe(f"rows after key {after}", 60, style="dim")
        title = Text.assemble(safe(page.table, style="bold"), "  ", start, (f", {len(page.rows)} shown", "dim"))
        if page.hidden:
            title.append(f"  · {len(page.hidden)} secret column(s) hidden (never read)", style="yellow")
        if len(page.rows) == PAGE:
            title.append("  · n for more", style="dim")
        self.query_one("#tb-rows-title", Static).update(title)

    def action_next_page(self) -> None:
        """Next keyset page of the current table."""
        if self.table and self.page and self.page.last is not None and len(self.page.rows) == PAGE:
            self.show_table(self.table, self.page.last)

    def action_first_page(self) -> None:
        """Back to the first rows."""
        if self.table:
            self.show_table(self.table)

    def action_back(self) -> None:
        self.app.pop_screen()
