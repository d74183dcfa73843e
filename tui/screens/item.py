"""Every column of one item (secrets are never read), long values paged, the full error text."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from batchtop.core import fmt
from batchtop.core.errors import BatchtopError
from batchtop.core.items import CHUNK_CHARS, ItemDetail, Value, ValueChunk, read_item, read_item_value
from batchtop.core.profiles.model import Track
from batchtop.core.sanitize import redact
from batchtop.core.source import Source
from batchtop.tui.screens.live import LiveScreen
from batchtop.tui.text import plain, safe, safe_block
from batchtop.tui.widgets.keyed_table import ColumnSpec, KeyedTable
from batchtop.tui.widgets.status_line import StatusLine

COLUMNS = (
    ColumnSpec("name", "Column", 24),
    ColumnSpec("kind", "Type", 8),
    ColumnSpec("size", "Size", 10, "right"),
    ColumnSpec("value", "Value", 86),
)


def value_cells(value: Value, stale: bool) -> tuple[Text, ...]:
    """Cells of one column of the item (the value on one line, sanitised)."""
    size = fmt.size(value.size) if value.kind in ("text", "blob") else ""
    if value.is_null:
        shown = Text("NULL", style="dim italic")
    else:
        shown = safe(value.text, 300, style="dim" if stale else "")
        if stale:
            shown = Text.assemble(("(stale) ", "dim italic"), shown)
    return safe(value.column, 60, style="bold"), Text(value.kind, style="dim"), Text(size, justify="right"), shown


class _DetailRead(Message, bubble=False):
    """From the detail worker to its screen: the item, or why it could not be read (sanitised)."""

    def __init__(self, detail: ItemDetail | None, error: str | None = None) -> None:
        super().__init__()
        self.detail = detail
        self.error = error


class _ValueRead(Message, bubble=False):
    """From the value worker to its screen: the next chunk of one long value, or an error."""

    def __init__(self, column: str, chunk: ValueChunk | None, error: str | None = None) -> None:
        super().__init__()
        self.column = column
        self.chunk = chunk
        self.error = error


class ItemScreen(LiveScreen):
    """One item: every non-secret column, and the selected value (the error, at first) page by page."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("right_square_bracket", "next_chunk", "Next chunk", key_display="]"),
        Binding("left_square_bracket", "previous_chunk", "Previous chunk", key_display="["),
        Binding("r", "reload", "Reload"),
        Binding("tab", "app.focus_next", "Next pane", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape | Back to the failures. |
    | up / down | Choose a column: its value is shown below. |
    | enter | Move into the value (to scroll it). |
    | ] | Next chunk of a long value. |
    | [ | Previous chunk of a long value. |
    | r | Read the item again. |
    | tab / shift+tab | Move between the columns and the value. |
    """

    def __init__(self, source: Source, track: str, key: Any) -> None:
        super().__init__()
        self.source = source
        self.track_name = track
        self.key = key
        self.detail: ItemDetail | None = None
        #: Column shown in the value pane, and the page of it on screen.
        self.column: str | None = None
        self.chunk: ValueChunk | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="it-title")
        yield Static(id="it-label")
        yield Static(id="it-notes")
        yield KeyedTable(COLUMNS, id="it-columns")
        yield Static(id="it-value-title")
        with VerticalScroll(id="it-value-box"):
            yield Static(id="it-value")
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"item {plain(self.key, 40)} · {plain(self.track_name, 40)} · {plain(self.source.name, 60)}"
        self._title(None)
        self.tick()
        self._load()

    # -- live status --------------------------------------------------------------------------------

    def refresh_views(self, dirty: set[str]) -> None:
        """After polls: only the status line (this screen reads on demand: r reloads)."""
        self.tick()

    def tick(self) -> None:
        self.show_status_of(self.source.path)

    # -- reading ------------------------------------------------------------------------------------

    def _track(self) -> tuple[Track | None, tuple[str, ...]]:
        """The track definition and the profile's secret tables, as of the latest probe."""
        profile = self.source.profile
        if profile is None:
            return None, ()
        return profile.track(self.track_name), profile.secret_tables

    def _load(self) -> None:
        track, secret_tables = self._track()
        if track is None:
            self._show_error(f"no track named {self.track_name}")
            return
        self._detail_work(track, secret_tables)

    @work(thread=True, exclusive=True, group="item-detail", exit_on_error=False)
    def _detail_work(self, track: Track, secret_tables: tuple[str, ...]) -> None:
        try:
            detail = read_item(self.source, track, self.key, secret_tables=secret_tables)
        except BatchtopError as exc:
            self.post_message(_DetailRead(None, exc.message))  # thread-safe: handled on the UI thread
            return
        self.post_message(_DetailRead(detail))

    @work(thread=True, exclusive=True, group="item-value", exit_on_error=False)
    def _value_work(self, column: str, offset: int) -> None:
        track, secret_tables = self._track()
        if track is None:
            return
        try:
            chunk = read_item_value(self.source, track, self.key, column, offset, CHUNK_CHARS,
                                    secret_tables=secret_tables)
        except BatchtopError as exc:
            self.post_message(_ValueRead(column, None, exc.message))  # thread-safe: handled on the UI thread
            return
        self.post_message(_ValueRead(column, chunk))

    @on(_DetailRead)
    def _detail_read(self, event: _DetailRead) -> None:
        if event.error is not None or event.detail is None:
            self._show_error(event.error or "")
        else:
            self._show_detail(event.detail)

    @on(_ValueRead)
    def _value_read(self, event: _ValueRead) -> None:
        if event.error is not None:
            self._show_error(event.error)
        else:
            self._show_chunk(event.column, event.chunk)

    # -- showing ------------------------------------------------------------------------------------

    def _title(self, detail: ItemDetail | None) -> None:
        parts: list[Text | str] = [safe(self.track_name, 40), " · item ", safe(self.key, 60, style="bold")]
        if detail is not None and detail.found:
            parts += [" · ", safe(detail.state or "?", 20, style="bold red" if detail.state == "failed" else "bold")]
            if detail.raw_state is not None and detail.raw_state != detail.state:
                parts += [" (", safe(detail.raw_state, 40), ")"]
        self.query_one("#it-title", Static).update(Text.assemble(*parts))

    def _show_error(self, message: str) -> None:
        self.query_one("#it-notes", Static).update(safe(message, 300, style="bold red"))

    def _show_detail(self, detail: ItemDetail) -> None:
        self.detail = detail
        self._title(detail)
        label = self.query_one("#it-label", Static)
        notes: list[Text | str] = []
        if not detail.found:
            label.update("")
            self.query_one("#it-notes", Static).update(Text("This item is gone (deleted or its key changed).",
                                                            style="bold"))
            return
        line = Text.assemble(("label ", "dim"), safe(detail.label.text, 500)) if detail.label else Text("")
        line.no_wrap, line.overflow = True, "ellipsis"
        label.update(line)
        if detail.hidden:
            n = len(detail.hidden)
            notes.append(Text(f"{n} secret column{'s' if n != 1 else ''} hidden (never read): ", style="yellow"))
            notes.append(safe(", ".join(detail.hidden), 200, style="yellow"))
        if detail.stale_error:
            if notes:
                notes.append("\n")
            notes.append(Text(f"The error column holds a stale message from an earlier attempt (the item is "
                              f"{detail.state}).", style="dim"))
        self.query_one("#it-notes", Static).update(Text.assemble(*notes))
        stale_column = self._error_column() if detail.stale_error else None
        table = self.query_one("#it-columns", KeyedTable)
        table.sync({v.column: value_cells(v, v.column == stale_column) for v in detail.columns},
                   [v.column for v in detail.columns])
        first = detail.error.column if detail.error is not None else (
            detail.label.column if detail.label is not None else (detail.columns[0].column if detail.columns else None))
        if self.column is None and first is not None:
            table.move_to_key(first)
            self._select(first)
        elif self.column is not None:
            self._select(self.column, self.chunk.offset if self.chunk else 0)
        table.focus()

    def _error_column(self) -> str | None:
        track, _ = self._track()
        return track.error if track is not None else None

    def _select(self, column: str, offset: int = 0) -> None:
        self.column = column
        self._value_work(column, offset)

    def _show_chunk(self, column: str, chunk: ValueChunk | None) -> None:
        if column != self.column:
            return
        self.chunk = chunk
        title = self.query_one("#it-value-title", Static)
        body = self.query_one("#it-value", Static)
        if chunk is None:
            title.update(Text("This item is gone."))
            body.update("")
            return
        unit = "bytes" if chunk.kind == "blob" else "characters"
        head = Text.assemble(safe(column, 60), f" · {chunk.kind}")
        if chunk.kind in ("text", "blob"):
            end = chunk.offset + chunk.count
            head.append(f" · {unit} {chunk.offset + 1 if chunk.count else 0:,}–{end:,} of {chunk.length:,}")
            if chunk.more:
                head.append(f" · … {chunk.more:,} more bytes", style="yellow")
        head.no_wrap, head.overflow = True, "ellipsis"
        title.update(head)
        if chunk.kind == "null":
            body.update(Text("NULL", style="dim italic"))
            return
        text = safe_block(chunk.text if chunk.kind == "blob" else redact(chunk.text))
        if chunk.more:
            text.append(f"\n… {chunk.more:,} more bytes (] for the next chunk)", style="dim yellow")
        body.update(text)
        self.query_one("#it-value-box", VerticalScroll).scroll_home(animate=False)

    @on(DataTable.RowSelected, "#it-columns")
    def _column_selected(self) -> None:
        self.query_one("#it-value-box", VerticalScroll).focus()

    @on(DataTable.RowHighlighted, "#it-columns")
    def _column_highlighted(self) -> None:
        # The cursor's row now, not the event's: events queued while the table filled are stale.
        column = self.query_one("#it-columns", KeyedTable).cursor_key
        if column is not None and column != self.column:
            self._select(column)

    # -- actions ------------------------------------------------------------------------------------

    def action_back(self) -> None:
        """Back to the failures."""
        self.app.pop_screen()

    def action_next_chunk(self) -> None:
        """Show the next chunk of the selected value."""
        chunk = self.chunk
        if self.column is not None and chunk is not None and chunk.more > 0:
            self._value_work(self.column, chunk.offset + chunk.count)

    def action_previous_chunk(self) -> None:
        """Show the previous chunk of the selected value."""
        chunk = self.chunk
        if self.column is not None and chunk is not None and chunk.offset > 0:
            self._value_work(self.column, max(0, chunk.offset - CHUNK_CHARS))

    def action_reload(self) -> None:
        """Read the item again."""
        self._load()
