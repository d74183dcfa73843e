"""What every write preview shares: the layout, the states, the typed count, the buttons and the keys.

A subclass plans in a thread worker and, on the UI thread, calls `_ready(count, typed)` (rows the write
would change, and whether that many need the count typed), then writes in `_apply()` once confirmed and
calls `_failed()` or sets `state = "done"`. Workers never touch widgets: they post messages (`Status`,
`Failed` here, the subclass's own for its results; `post_message` is thread-safe), handled in order.
Widget ids carry the subclass's `PREFIX` (`#pv-box`, `#sp-box`, ...), styled in `tui/app.tcss`. No
transaction is open while the person reads or types.
"""

from __future__ import annotations

import threading
from typing import ClassVar, Generic, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Static

from batchtop.tui.text import safe

T = TypeVar("T")


class ConfirmDialog(ModalScreen[T], Generic[T]):
    """A preview with a confirmation: planning → ready → applying → done (or failed)."""

    class Status(Message, bubble=False):
        """From a worker: a status line while it plans or writes (a retry's attempt, the file at hand)."""

        def __init__(self, text: Text) -> None:
            super().__init__()
            self.text = text

    class Failed(Message, bubble=False):
        """From a worker: nothing was written, and why (sanitised when shown)."""

        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    AUTO_FOCUS = ""  # Enter must confirm, not press whichever button would get the focus
    #: The widget id prefix of the subclass.
    PREFIX: ClassVar[str] = "cf"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter,y", "confirm", "Confirm"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | enter, y | Confirm (after the count is typed, for large actions); close once done. |
    | escape | Cancel: nothing is written (close, once done). |
    """

    def __init__(self) -> None:
        super().__init__()
        #: "planning", "ready", "applying", "done" or "failed".
        self.state = "planning"
        #: The last status line (tests read it; the same text as on screen).
        self.status_text = ""
        self._count = 0
        self._typed_needed = False
        self._cancel = threading.Event()

    def _wid(self, name: str) -> str:
        return f"#{self.PREFIX}-{name}"

    def body(self) -> ComposeResult:
        """The widgets inside the scrolling body (the plan)."""
        yield Static(id=f"{self.PREFIX}-plan")

    def compose(self) -> ComposeResult:
        p = self.PREFIX
        with Vertical(id=f"{p}-box") as box:
            box.border_subtitle = "enter/y confirm · esc cancel"
            yield Static(id=f"{p}-summary")
            with VerticalScroll(id=f"{p}-body"):
                yield from self.body()
            yield Input(id=f"{p}-typed", type="integer", classes="hidden")
            yield Static(id=f"{p}-status")
            with Horizontal(id=f"{p}-buttons"):
                yield Button(Content("Confirm"), id=f"{p}-confirm", variant="warning", disabled=True)
                yield Button(Content("Cancel"), id=f"{p}-cancel")
        yield Footer()  # this modal's own keys, over the footer of the screen underneath

    def on_mount(self) -> None:
        self.query_one(self._wid("typed"), Input).cursor_blink = bool(getattr(self.app, "cursor_blink", True))

    def on_unmount(self) -> None:
        self._cancel.set()

    # -- state --------------------------------------------------------------------------------------

    def _title(self, text: str) -> None:
        # Targets quote group signatures and search texts: a Text title is never parsed as markup.
        self.query_one(self._wid("box"), Vertical).border_title = safe(text, 100)

    @property
    def typed_ok(self) -> bool:
        """Whether the typed count matches (always true for small actions)."""
        if not self._typed_needed:
            return True
        return self.query_one(self._wid("typed"), Input).value.strip() == str(self._count)

    @property
    def can_confirm(self) -> bool:
        """Whether Enter / the button would write now."""
        return self.state == "ready" and self._count > 0 and self.typed_ok

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            return True if self.can_confirm or self._over else None
        if action == "cancel":
            return None if self.state == "applying" else True  # a write in flight ends within ~2 s
        return True

    @property
    def _over(self) -> bool:
        """Nothing more to do here but close (done, failed, or nothing matched)."""
        return self.state in ("done", "failed") or (self.state == "ready" and self._count == 0)

    def _status(self, text: Text) -> None:
        self.status_text = text.plain
        self.query_one(self._wid("status"), Static).update(text)

    def _sync_buttons(self) -> None:
        confirm = self.query_one(self._wid("confirm"), Button)
        confirm.disabled = not self.can_confirm
        over = self._over
        confirm.display = not over
        self.query_one(self._wid("box"), Vertical).border_subtitle = (
            "enter/esc close" if over else "enter/y confirm · esc cancel")
        self.query_one(self._wid("cancel"), Button).label = Content("Close" if over else "Cancel")
        self.refresh_bindings()

    def _ready(self, count: int, typed: bool, label: str) -> None:
        """Planned: `count` rows would change; `typed`: the count must be typed first."""
        self.state = "ready"
        self._count, self._typed_needed = count, typed and count > 0
        self.query_one(self._wid("confirm"), Button).label = Content(label)
        if self._typed_needed:
            box = self.query_one(self._wid("typed"), Input)
            box.placeholder = f"type {count} to confirm"
            box.remove_class("hidden")
            box.focus()

    def _failed(self, message: str) -> None:
        self.state = "failed"
        self._status(Text.assemble(("✖ ", "bold red"), safe(message, 400, style="bold red"),
                                   "  Nothing was written."))
        self._sync_buttons()

    @on(Status)
    def _status_posted(self, event: Status) -> None:
        self._status(event.text)

    @on(Failed)
    def _failed_posted(self, event: Failed) -> None:
        self._failed(event.message)

    def _typed_enabled(self, enabled: bool) -> None:
        self.query_one(self._wid("typed"), Input).disabled = not enabled

    # -- keys and buttons ---------------------------------------------------------------------------

    @on(Input.Changed)
    def _typed(self) -> None:
        self._sync_buttons()

    @on(Input.Submitted)
    def _typed_enter(self) -> None:
        self.action_confirm()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == f"{self.PREFIX}-confirm":
            self.action_confirm()
        elif event.button.id == f"{self.PREFIX}-cancel":
            self.action_cancel()

    def action_confirm(self) -> None:
        """Write (once it may be), or close once done."""
        if self._over:
            self.dismiss(self._result())
            return
        if not self.can_confirm:
            return
        self.state = "applying"
        self._typed_enabled(False)
        self._status(Text("writing…", style="bold"))
        self._sync_buttons()
        self._apply()

    def action_cancel(self) -> None:
        """Close; nothing is written unless the write already ran."""
        if self.state != "applying":
            self._cancel.set()
            self.dismiss(self._result())

    # -- for subclasses -----------------------------------------------------------------------------

    def _apply(self) -> None:
        """Start the write (a thread worker)."""
        raise NotImplementedError

    def _result(self) -> T | None:
        """What the dialog is dismissed with."""
        raise NotImplementedError
