"""`E`: the event log of this session's alerts, newest first (a run finished, stalled, new failures, a
failure spike, a new error signature), including those the rate limit kept quiet."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from batchtop.core import fmt
from batchtop.core.alerts import Event
from batchtop.tui.text import safe

KIND_STYLE = {
    "new-signature": "bold red",
    "spike": "red",
    "failed": "yellow",
    "stalled": "magenta",
    "finished": "green",
}


def event_cells(event: Event) -> tuple[Text, ...]:
    """One row: time, kind, whether it was notified, the message (sanitised in core, wrapped here)."""
    return (
        Text(fmt.clock(event.at, year=True)),
        safe(event.kind, 14, style=KIND_STYLE.get(event.kind, "")),
        Text("yes" if event.notified else "quiet", style="" if event.notified else "bright_black"),
        safe(event.message, 300),
    )


class EventsScreen(Screen[None]):
    """The alerts of this session."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape | Back. |
    | r | Show events that arrived since the screen opened. |
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="ev-title")
        yield DataTable(id="ev-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#ev-table", DataTable)
        table.add_columns("When", "Kind", "Notified", "Event")
        self.action_reload()

    def action_reload(self) -> None:
        """Fill the table from the app's event log (it is small: bounded in core)."""
        alerts = getattr(self.app, "alerts", None)
        events = list(reversed(alerts.events)) if alerts is not None else []
        table = self.query_one("#ev-table", DataTable)
        table.clear()
        for i, event in enumerate(events):
            table.add_row(*event_cells(event), key=str(i))
        note = (
            "alerts are off (--alerts none)"
            if alerts is None
            else f"{len(events)} event(s), newest first"
            if events
            else "no event yet"
        )
        self.query_one("#ev-title", Static).update(Text(f"Events · {note}", style="bold"))
