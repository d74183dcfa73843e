"""The action journal: past actions newest first, and for one of them its cohort ("did the fix work?").

The journal is read in a thread worker (it is a file, possibly long); a cohort is read on the watched
source's own read-only connection, in a thread worker too. Entries of databases this batchtop does not
watch are listed, but their cohorts are not read (that would open a file nobody asked to watch).
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from batchtop.core import fmt
from batchtop.core.cohort import Cohort, read_cohort
from batchtop.core.errors import BatchtopError
from batchtop.core.journal import Entry
from batchtop.core.source import Source
from batchtop.tui.action_support import check_journal, journal_of, watched_paths
from batchtop.tui.actions_flow import start_undo
from batchtop.tui.screens.live import LiveScreen
from batchtop.tui.text import plain, safe, safe_block
from batchtop.tui.widgets.cells import display_path
from batchtop.tui.widgets.keyed_table import ColumnSpec, KeyedTable
from batchtop.tui.widgets.status_line import StatusLine

#: Entries listed at most (newest first).
LIMIT = 500

COLUMNS = (
    ColumnSpec("id", "Id", 9),
    ColumnSpec("when", "When", 19),
    ColumnSpec("status", "Status", 8),
    ColumnSpec("action", "Action", 18),
    ColumnSpec("track", "Track", 10),
    ColumnSpec("rows", "Rows", 13, "right"),
    ColumnSpec("target", "Target", 30),
    ColumnSpec("db", "Database", 22),
)
STATUS_STYLE = {"applied": "green", "undone": "yellow", "aborted": "red"}


def entry_cells(entry: Entry) -> tuple[Text, ...]:
    """One row of the journal table (every stored string through `safe`)."""
    what = f"undo of #{entry.undoes}" if entry.kind == "undo" else entry.action
    rows = Text(f"{len(entry.affected):,} of {entry.planned:,}", justify="right")
    return (safe(entry.id, 9, style="bold"), Text(fmt.clock(entry.time, year=True)),
            safe(entry.status, 8, style=STATUS_STYLE.get(entry.status, "")), safe(what, 18), safe(entry.track, 10),
            rows, safe(entry.target, 120), safe(display_path(entry.db), 80, style="bright_black"))


def cohort_view(entry: Entry, result: Cohort | str | None) -> RenderableType:
    """The detail of one entry: its description and predicate, then its cohort (or why there is none)."""
    head = Text.assemble(safe(f"#{entry.id}", style="bold"), " ", safe(entry.description, 200))
    predicate = Text.assemble(("predicate: ", "bright_black"), safe_block(entry.predicate[:600], style="cyan"))
    if result is None:
        tail = Text("enter: what became of these rows (the cohort)", style="bright_black")
    elif isinstance(result, str):
        tail = safe(result, 300, style="yellow")
    else:
        tail = Text.assemble(("did the fix work? ", "bold"), safe(result.summary(), 400, style="bold"))
        for sig, n in result.new_signatures:
            tail.append("\n  new error ×")
            tail.append(f"{n:,}  ", style="bold")
            tail.append_text(safe(sig, 160, style="red"))
    return Group(head, predicate, tail)


class _JournalRead(Message, bubble=False):
    """From the journal worker to its screen: the entries (or the error, sanitised) and the journal's
    damaged line count and path."""

    def __init__(self, entries: list[Entry], error: str | None, damaged: int, path: str) -> None:
        super().__init__()
        self.entries = entries
        self.error = error
        self.damaged = damaged
        self.path = path


class _CohortRead(Message, bubble=False):
    """From the cohort worker to its screen: what became of one entry's rows, or why not (a text)."""

    def __init__(self, entry_id: str, result: Cohort | str) -> None:
        super().__init__()
        self.entry_id = entry_id
        self.result = result


class JournalScreen(LiveScreen):
    """Past actions (all databases, or one), newest first; Enter reads the cohort of the one selected."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("enter", "cohort", "Cohort"),
        Binding("u", "undo", "Undo this"),
        Binding("r", "reload", "Reload"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape | Back. |
    | enter | What became of the selected action's rows: done, pending, failed again, new errors. |
    | u | Undo the selected action (rows the job moved since are left alone). |
    | r | Read the journal again. |
    """

    def __init__(self, db: str | None = None) -> None:
        super().__init__()
        #: The database whose actions are listed (None: all).
        self.db = db
        self._entries: dict[str, Entry] = {}
        self._cohorts: dict[str, Cohort | str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="jr-title")
        yield KeyedTable(COLUMNS, id="jr-table")
        yield Static(id="jr-detail")
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"journal · {plain(display_path(self.db), 60) if self.db else 'all databases'}"
        self.tick()
        self.query_one("#jr-table", KeyedTable).focus()  # the journal is read when the screen resumes

    # -- live status --------------------------------------------------------------------------------

    def refresh_views(self, dirty: set[str]) -> None:
        """After polls: only the status line (the journal is read on demand: r reloads)."""
        self.tick()

    def tick(self) -> None:
        self.show_status_of(self.db)

    # -- reading ------------------------------------------------------------------------------------

    def action_reload(self) -> None:
        """Read the journal again (in a worker)."""
        journal, db, watched = journal_of(self), self.db, watched_paths(self)

        def read() -> None:
            try:
                check_journal(journal, watched)
                entries = journal.entries(db=db, limit=LIMIT)
                error = None
            except BatchtopError as exc:
                entries, error = [], exc.message
            # post_message is thread-safe: the entries are shown on the UI thread by `_journal_read`.
            self.post_message(_JournalRead(entries, error, journal.damaged_lines, str(journal.path)))

        self.run_worker(read, name="journal", group="journal", thread=True, exclusive=True, exit_on_error=False)

    @on(_JournalRead)
    def _journal_read(self, event: _JournalRead) -> None:
        self._show(event.entries, event.error, event.damaged, event.path)

    def _show(self, entries: list[Entry], error: str | None, damaged: int, path: str) -> None:
        self._entries = {e.id: e for e in entries}
        title = Text("Journal · ", style="bold")
        title.append_text(safe(display_path(self.db), 60, style="bold") if self.db else Text("all databases"))
        title.append(f" · {len(entries):,} entr{'y' if len(entries) == 1 else 'ies'}, newest first · ",
                     style="bright_black")
        title.append_text(safe(display_path(path), 80, style="bright_black"))
        if damaged:
            title.append(f" · {damaged} damaged line(s) skipped", style="yellow")
        if error:
            title.append("  ")
            title.append_text(safe(error, 200, style="bold red"))
        self.query_one("#jr-title", Static).update(title)
        table = self.query_one("#jr-table", KeyedTable)
        table.sync({e.id: entry_cells(e) for e in entries}, [e.id for e in entries])
        self._show_detail()

    def _selected(self) -> Entry | None:
        key = self.query_one("#jr-table", KeyedTable).cursor_key
        return self._entries.get(key) if key is not None else None

    @on(DataTable.RowHighlighted, "#jr-table")
    def _show_detail(self) -> None:
        entry = self._selected()
        detail = self.query_one("#jr-detail", Static)
        if entry is None:
            detail.update(Text("No action journaled yet: actions appear here once applied.", style="bright_black")
                          if not self._entries else "")
            return
        detail.update(cohort_view(entry, self._cohorts.get(entry.id)))

    @on(DataTable.RowSelected, "#jr-table")
    def _selected_row(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_cohort()

    def action_cohort(self) -> None:
        """Read the selected action's cohort (in a worker)."""
        entry = self._selected()
        if entry is None:
            return
        if entry.kind != "action":
            self._cohort_read(entry.id, f"an undo: see the cohort of #{entry.undoes}")
            return
        source = self._source(entry.db)
        track = source.profile.track(entry.track) if source is not None and source.profile else None
        if source is None or track is None:
            self._cohort_read(entry.id, "this database is not watched by this batchtop (or its track is gone):"
                                        " open it to see what became of these rows")
            return
        self._cohort_read(entry.id, "reading…")

        def read() -> None:
            try:
                result: Cohort | str = read_cohort(source, track, entry)
            except BatchtopError as exc:
                result = exc.message
            self.post_message(_CohortRead(entry.id, result))  # thread-safe: shown on the UI thread

        self.run_worker(read, name="cohort", group="journal-cohort", thread=True, exclusive=True,
                        exit_on_error=False)

    @on(_CohortRead)
    def _cohort_arrived(self, event: _CohortRead) -> None:
        self._cohort_read(event.entry_id, event.result)

    def _cohort_read(self, entry_id: str, result: Cohort | str) -> None:
        self._cohorts[entry_id] = result
        self._show_detail()

    def _source(self, db: str) -> Source | None:
        find = getattr(self.app, "source_of", None)
        return find(db) if callable(find) else None

    # -- keys ---------------------------------------------------------------------------------------

    def action_back(self) -> None:
        """Back to the previous screen."""
        self.dismiss()

    def action_undo(self) -> None:
        """Undo the selected action."""
        entry = self._selected()
        if entry is None:
            return
        start_undo(self, entry.db, self._source(entry.db), entry.id, done=lambda _: self.action_reload())

    def on_screen_resume(self) -> None:
        # First shown, or back from an undo modal: read the journal (again).
        self.action_reload()


__all__ = ["JournalScreen", "cohort_view", "entry_cells"]
