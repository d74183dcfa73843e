"""Confirm and run the undo of one journaled action, in a thread worker; show what it really restored.

The worker posts its result (`Undone` or `NotUndone`); the modal shows it on the UI thread.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static

from batchtop.core import fmt
from batchtop.core.backends.sqlite.write_session import sql_lit
from batchtop.core.errors import BatchtopError
from batchtop.core.journal import Entry, Journal
from batchtop.core.source import Source
from batchtop.core.undo import undo
from batchtop.core.undo_outcome import UndoOutcome
from batchtop.tui.action_support import entry_title, poll_now, tell
from batchtop.tui.text import safe, safe_block
from batchtop.tui.widgets.cells import display_path

#: Keys of the affected rows listed in the confirmation.
SHOWN_KEYS = 8


def undo_view(entry: Entry, now: float) -> Group:
    """What the undo will restore, and the rule that protects rows the job has moved on."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bright_black", no_wrap=True)
    grid.add_column()
    grid.add_row("database", safe(display_path(entry.db), 200))
    grid.add_row("track", safe(f"{entry.track} (table {entry.table})", 120))
    grid.add_row("when", Text(fmt.when(now, entry.time)))
    grid.add_row("target", safe(entry.target, 200))
    grid.add_row("rows", Text(f"{len(entry.affected):,} written (of {entry.planned:,} previewed)", style="bold"))
    keys = ", ".join(str(k) for k in entry.affected[:SHOWN_KEYS])
    if len(entry.affected) > SHOWN_KEYS:
        keys += f", … {len(entry.affected) - SHOWN_KEYS:,} more"
    grid.add_row("keys", safe(keys, 300))
    grid.add_row("restores", safe(", ".join(entry.columns), 300))
    wrote = " AND ".join(f"{c} IS {sql_lit(v)}" for c, v in entry.after)
    rule = Text("Only rows that still hold what the action wrote are restored:\n", style="bright_black")
    rule.append_text(safe_block(wrote, style="cyan"))
    rule.append("\nRows the job has moved on since are left alone and reported.", style="bright_black")
    return Group(grid, Text(""), rule)


class UndoScreen(ModalScreen["UndoOutcome | None"]):
    """Confirm, then undo one action; dismissed with the UndoOutcome (None when nothing ran)."""

    AUTO_FOCUS = ""

    class Undone(Message, bubble=False):
        """From the undo worker: what the undo really restored."""

        def __init__(self, outcome: UndoOutcome) -> None:
            super().__init__()
            self.outcome = outcome

    class NotUndone(Message, bubble=False):
        """From the undo worker: nothing was restored, and why (busy: Enter may try again)."""

        def __init__(self, error: BatchtopError) -> None:
            super().__init__()
            self.error = error

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter,y", "confirm", "Confirm"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | enter, y | Undo (close, once done). |
    | escape | Cancel: nothing is written. |
    """

    def __init__(self, entry: Entry, source: Source | None, *, journal: Journal, now: float,
                 read_only: bool = False) -> None:
        super().__init__()
        self.entry, self.source, self.journal, self.now = entry, source, journal, now
        #: Passed on to undo(): core refuses too (callers refuse before pushing this screen).
        self.read_only = read_only
        #: "ready", "running", "done" or "failed".
        self.state = "ready"
        self.outcome: UndoOutcome | None = None
        #: The last status line (tests read it).
        self.status_text = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="ud-box") as box:
            box.border_subtitle = "enter/y undo · esc cancel"
            yield Static(id="ud-title")
            yield Static(id="ud-body")
            yield Static(id="ud-status")
            with Horizontal(id="ud-buttons"):
                yield Button(Content(f"Undo {len(self.entry.affected):,}"), id="ud-confirm", variant="warning")
                yield Button(Content("Cancel"), id="ud-cancel")
        yield Footer()  # this modal's own keys, over the footer of the screen underneath

    def on_mount(self) -> None:
        self.query_one("#ud-box", Vertical).border_title = Text("Undo")
        self.query_one("#ud-title", Static).update(safe(f"Undo {entry_title(self.entry)}", 200, style="bold"))
        self.query_one("#ud-body", Static).update(undo_view(self.entry, self.now))
        self._status(Text("Enter or y: undo.  Escape: cancel (nothing is written).", style="bold"))

    def _status(self, text: Text) -> None:
        self.status_text = text.plain
        self.query_one("#ud-status", Static).update(text)

    def _finish(self, state: str) -> None:
        self.state = state
        self.query_one("#ud-confirm", Button).display = state == "ready"
        self.query_one("#ud-cancel", Button).label = Content(
            "Cancel" if state == "ready" else "Close")
        self.query_one("#ud-box", Vertical).border_subtitle = (
            "enter/y undo · esc cancel" if state == "ready" else "enter/esc close")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("confirm", "cancel"):
            return None if self.state == "running" else True
        return True

    @on(Button.Pressed, "#ud-confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#ud-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_confirm(self) -> None:
        """Run the undo, or close once done."""
        if self.state in ("done", "failed"):
            self.dismiss(self.outcome)
            return
        if self.state != "ready":
            return
        self.state = "running"
        self.query_one("#ud-confirm", Button).disabled = True
        self._status(Text("restoring…", style="bold"))
        self.refresh_bindings()
        self.run_worker(self._undo_work, name="undo", group="undo", thread=True, exclusive=True,
                        exit_on_error=False)

    def _undo_work(self) -> None:
        """Thread: undo the entry and post what it restored, or why nothing was."""
        source = self.source
        track = source.profile.track(self.entry.track) if source is not None and source.profile else None
        try:
            outcome = undo(self.journal, self.entry.id, track=track, source=source, read_only=self.read_only)
        except BatchtopError as exc:
            self.post_message(self.NotUndone(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not leave the modal hanging
            self.post_message(self.NotUndone(BatchtopError(f"internal error: {type(exc).__name__}: {exc}")))
            return
        self.post_message(self.Undone(outcome))

    @on(NotUndone)
    def _failed(self, event: NotUndone) -> None:
        exc = event.error
        self._status(Text.assemble(("✖ ", "bold red"), safe(exc.message, 400, style="bold red"),
                                   "  Nothing was restored."))
        if exc.kind == "busy":
            self.query_one("#ud-confirm", Button).disabled = False
            self._finish("ready")
        else:
            self._finish("failed")
        if self.source is not None:
            poll_now(self, self.source.path)

    @on(Undone)
    def _done(self, event: Undone) -> None:
        outcome = self.outcome = event.outcome
        summary = outcome.summary()
        good = outcome.status == "restored" and bool(outcome.restored)
        self._status(Text.assemble(("✓ " if good else "• ", "bold green" if good else "bold"),
                                   safe(summary, 400, style="bold")))
        self._finish("done")
        tell(self, summary, "information" if good else "warning")
        if self.source is not None:
            poll_now(self, self.source.path)

    def action_cancel(self) -> None:
        """Close (nothing is written unless the undo already ran)."""
        if self.state != "running":
            self.dismiss(self.outcome)
