"""A prompt for the file an export goes to (Enter to write, Escape to cancel)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from batchtop.tui.text import safe


class ExportPathDialog(ModalScreen[str | None]):
    """Asks where to export `what`; dismisses with the path typed, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    def __init__(self, what: str, default: str) -> None:
        super().__init__()
        self.what, self.default = what, default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text.assemble(
                    "Export ", safe(self.what, 70, style="bold"), " to (.csv, or .jsonl for JSON Lines):"
                )
            )
            yield Input(value=self.default, id="export-path")
            yield Static(
                Text(
                    "enter: write · esc: cancel · an existing file is never overwritten", style="bright_black"
                )
            )

    @on(Input.Submitted, "#export-path")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        """Close without exporting."""
        self.dismiss(None)
