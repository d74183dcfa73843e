"""The preview of an action: what would be written, and the confirmation. Nothing is written before it.

The modal plans in a thread worker (retrying while the job's lock stops even reads), shows the count,
up to five sample rows, the exact predicate and what happens to rows that change meanwhile, and waits.
Large actions (over 100 rows) need the count typed. Once confirmed, `apply()` runs in a thread worker
(its write waits at most ~2 s for the job's lock), and the modal shows the true outcome in its place.
No transaction is ever open while the person reads or types.
"""

from __future__ import annotations

import threading
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Static

from batchtop.core.actions import Outcome, Plan, Target, apply
from batchtop.core.errors import BatchtopError
from batchtop.core.journal import Journal
from batchtop.core.source import Source
from batchtop.tui.action_support import PLAN_ATTEMPTS, plan_retrying, poll_now, result_line, tell
from batchtop.tui.dialogs.preview_parts import plan_view
from batchtop.tui.text import plain, safe


class PreviewScreen(ModalScreen["Outcome | None"]):
    """Preview, confirm and apply one action; dismissed with the Outcome (None when nothing was written)."""

    AUTO_FOCUS = ""  # Enter must confirm, not press whichever button would get the focus

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

    def __init__(self, source: Source, track: str, action: str | None, target: Target, *, journal: Journal,
                 now: float, read_only: bool = False) -> None:
        super().__init__()
        self.source, self.track_name, self.action_name, self.target = source, track, action, target
        self.journal, self.now = journal, now
        #: Passed on to plan() and apply(): core refuses too (callers refuse before pushing this screen).
        self.read_only = read_only
        #: "planning", "ready", "applying", "done" or "failed".
        self.state = "planning"
        self.plan: Plan | None = None
        self.outcome: Outcome | None = None
        #: The last status line (tests read it; the same text as on screen).
        self.status_text = ""
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="pv-box") as box:
            box.border_subtitle = "enter/y confirm · esc cancel"
            yield Static(id="pv-summary")
            with VerticalScroll(id="pv-body"):
                yield Static(id="pv-plan")
            yield Input(id="pv-typed", type="integer", classes="hidden")
            yield Static(id="pv-status")
            with Horizontal(id="pv-buttons"):
                yield Button(Content("Confirm"), id="pv-confirm", variant="warning", disabled=True)
                yield Button(Content("Cancel"), id="pv-cancel")
        yield Footer()  # this modal's own keys, over the footer of the screen underneath

    def on_mount(self) -> None:
        box = self.query_one("#pv-box", Vertical)
        # The target can quote a group signature or a search text: a Text title is never parsed as markup.
        box.border_title = safe(f"Preview · {self.target.describe()}", 100)
        self.query_one("#pv-typed", Input).cursor_blink = bool(getattr(self.app, "cursor_blink", True))
        self._status(Text("previewing…", style="bright_black"))
        self.run_worker(self._plan_work, name="plan", group="preview", thread=True, exclusive=True,
                        exit_on_error=False)

    def on_unmount(self) -> None:
        self._cancel.set()

    # -- state --------------------------------------------------------------------------------------

    @property
    def typed_ok(self) -> bool:
        """Whether the typed count matches (always true for small actions)."""
        plan = self.plan
        if plan is None or not plan.needs_typed_confirmation:
            return True
        return self.query_one("#pv-typed", Input).value.strip() == str(plan.cap)

    @property
    def can_confirm(self) -> bool:
        """Whether Enter / the button would write now."""
        return self.state == "ready" and self.plan is not None and self.plan.cap > 0 and self.typed_ok

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            return True if self.can_confirm or self._over else None
        if action == "cancel":
            return None if self.state == "applying" else True  # a write in flight ends within ~2 s
        return True

    @property
    def _over(self) -> bool:
        """Nothing more to do here but close (done, failed, or nothing matched)."""
        nothing = self.state == "ready" and self.plan is not None and self.plan.cap == 0
        return self.state in ("done", "failed") or nothing

    def _status(self, text: Text) -> None:
        self.status_text = text.plain
        self.query_one("#pv-status", Static).update(text)

    def _sync_buttons(self) -> None:
        confirm = self.query_one("#pv-confirm", Button)
        confirm.disabled = not self.can_confirm
        over = self._over
        confirm.display = not over
        self.query_one("#pv-box", Vertical).border_subtitle = (
            "enter/esc close" if over else "enter/y confirm · esc cancel")
        self.query_one("#pv-cancel", Button).label = Content(
            "Close" if self._over else "Cancel")
        self.refresh_bindings()

    # -- planning -----------------------------------------------------------------------------------

    def _plan_work(self) -> None:
        def retrying(attempt: int, exc: BatchtopError) -> None:
            self.app.call_from_thread(self._status, Text.assemble(
                safe(exc.message, 200, style="yellow"), f" (attempt {attempt + 1} of {PLAN_ATTEMPTS})"))

        try:
            plan = plan_retrying(self.source, self.track_name, self.action_name, self.target, now=self.now,
                                 on_retry=retrying, cancel=self._cancel, read_only=self.read_only)
        except BatchtopError as exc:
            if not self._cancel.is_set():
                self.app.call_from_thread(self._failed, exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not leave the modal hanging
            if not self._cancel.is_set():
                self.app.call_from_thread(self._failed, f"internal error: {type(exc).__name__}: {exc}")
            return
        if not self._cancel.is_set():
            self.app.call_from_thread(self._planned, plan)

    def _planned(self, plan: Plan) -> None:
        self.plan = plan
        self.state = "ready"
        self.query_one("#pv-summary", Static).update(safe(plan.summary(), 300, style="bold"))
        self.query_one("#pv-plan", Static).update(plan_view(plan))
        label = f"{plain(plan.action.name.capitalize(), 30)} {plan.cap:,}"  # action names come from profiles
        self.query_one("#pv-confirm", Button).label = Content(label)
        if plan.cap == 0:
            self._status(Text("Nothing matches now: nothing to do.", style="bold"))
        elif plan.needs_typed_confirmation:
            box = self.query_one("#pv-typed", Input)
            box.placeholder = f"type {plan.cap} to confirm"
            box.remove_class("hidden")
            box.focus()
            self._status(Text(f"This changes {plan.cap:,} rows: type {plan.cap} to confirm.", style="bold yellow"))
        else:
            self._status(Text(f"Enter or y: {label}.  Escape: cancel (nothing is written).", style="bold"))
        self._sync_buttons()

    def _failed(self, message: str) -> None:
        self.state = "failed"
        self._status(Text.assemble(("✖ ", "bold red"), safe(message, 400, style="bold red"),
                                   "  Nothing was written."))
        self._sync_buttons()

    @on(Input.Changed, "#pv-typed")
    def _typed(self) -> None:
        self._sync_buttons()

    @on(Input.Submitted, "#pv-typed")
    def _typed_enter(self) -> None:
        self.action_confirm()

    # -- applying -----------------------------------------------------------------------------------

    @on(Button.Pressed, "#pv-confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#pv-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_confirm(self) -> None:
        """Apply the plan (once it may be), or close once done."""
        if self._over:
            self.dismiss(self.outcome)
            return
        if not self.can_confirm:
            return
        plan = self.plan
        assert plan is not None
        self.state = "applying"
        self.query_one("#pv-typed", Input).disabled = True
        self._status(Text("writing…", style="bold"))
        self._sync_buttons()
        self.run_worker(lambda: self._apply_work(plan), name="apply", group="preview-apply", thread=True,
                        exclusive=True, exit_on_error=False)

    def _apply_work(self, plan: Plan) -> None:
        try:
            outcome = apply(plan, journal=self.journal, source=self.source, read_only=self.read_only)
        except BatchtopError as exc:
            self.app.call_from_thread(self._not_applied, exc)
            return
        except Exception as exc:  # noqa: BLE001
            self.app.call_from_thread(self._failed, f"internal error: {type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._applied, outcome)

    def _not_applied(self, exc: BatchtopError) -> None:
        if exc.kind == "busy":  # the plan still stands: the person may try again
            self.state = "ready"
            self.query_one("#pv-typed", Input).disabled = False
            self._status(Text.assemble(("✖ ", "bold red"), safe(exc.message, 300, style="bold red"),
                                       "  Enter tries again; Escape cancels."))
            self._sync_buttons()
        else:
            self._failed(exc.message)
        poll_now(self, self.source.path)

    def _applied(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.state = "done"
        line = result_line(outcome)
        text = Text.assemble(("✓ " if outcome.count else "• ", "bold green" if outcome.count else "bold"),
                             safe(line, 400, style="bold"))
        if outcome.entry_id:
            text.append(f"\njournaled as #{outcome.entry_id} · u undoes it (rows the job moved since are "
                        "left alone)", style="bright_black")
        else:
            text.append("\nnothing was written or journaled", style="bright_black")
        self._status(text)
        self._sync_buttons()
        tell(self, line, "information" if outcome.count else "warning")
        poll_now(self, self.source.path)  # the screens underneath catch up when this modal closes

    def action_cancel(self) -> None:
        """Close; nothing is written unless the write already ran."""
        if self.state != "applying":
            self._cancel.set()
            self.dismiss(self.outcome)
