"""The preview of an action: what would be written, and the confirmation. Nothing is written before it.

The modal plans in a thread worker (retrying while the job's lock stops even reads), shows the count,
up to five sample rows, the exact predicate and what happens to rows that change meanwhile, and waits.
Large actions (over 100 rows) need the count typed. Once confirmed, `apply()` runs in a thread worker
(its write waits at most ~2 s for the job's lock), and the modal shows the true outcome in its place.
The workers post their results (`Planned`, `Applied`, `NotApplied`, and the dialog's `Status` and
`Failed`); the handlers update the modal on the UI thread. No transaction is ever open while the person
reads or types.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import Static

from batchtop.core.actions import Outcome, Plan, Target, apply
from batchtop.core.errors import BatchtopError
from batchtop.core.journal import Journal
from batchtop.core.source import Source
from batchtop.tui.action_support import PLAN_ATTEMPTS, plan_retrying, poll_now, result_line, tell
from batchtop.tui.dialogs.confirm import ConfirmDialog
from batchtop.tui.dialogs.preview_parts import plan_view
from batchtop.tui.text import plain, safe


class PreviewScreen(ConfirmDialog["Outcome"]):
    """Preview, confirm and apply one action; dismissed with the Outcome (None when nothing was written)."""

    PREFIX = "pv"

    class Planned(Message, bubble=False):
        """From the plan worker: the plan to show (a failure comes as `Failed`)."""

        def __init__(self, plan: Plan) -> None:
            super().__init__()
            self.plan = plan

    class Applied(Message, bubble=False):
        """From the apply worker: what the write really did."""

        def __init__(self, outcome: Outcome) -> None:
            super().__init__()
            self.outcome = outcome

    class NotApplied(Message, bubble=False):
        """From the apply worker: core refused or failed the write (busy: the plan still stands)."""

        def __init__(self, error: BatchtopError) -> None:
            super().__init__()
            self.error = error

    def __init__(self, source: Source, track: str, action: str | None, target: Target, *, journal: Journal,
                 now: float, read_only: bool = False) -> None:
        super().__init__()
        self.source, self.track_name, self.action_name, self.target = source, track, action, target
        self.journal, self.now = journal, now
        #: Passed on to plan() and apply(): core refuses too (callers refuse before pushing this screen).
        self.read_only = read_only
        self.plan: Plan | None = None
        self.outcome: Outcome | None = None

    def on_mount(self) -> None:
        self._title(f"Preview · {self.target.describe()}")
        self._status(Text("previewing…", style="bright_black"))
        self.run_worker(self._plan_work, name="plan", group="preview", thread=True, exclusive=True,
                        exit_on_error=False)

    def _result(self) -> Outcome | None:
        return self.outcome

    # -- planning -----------------------------------------------------------------------------------

    def _plan_work(self) -> None:
        """Thread: plan (retrying while the job's lock stops reads) and post the plan or why not."""

        def retrying(attempt: int, exc: BatchtopError) -> None:
            self.post_message(self.Status(Text.assemble(
                safe(exc.message, 200, style="yellow"), f" (attempt {attempt + 1} of {PLAN_ATTEMPTS})")))

        try:
            plan = plan_retrying(self.source, self.track_name, self.action_name, self.target, now=self.now,
                                 on_retry=retrying, cancel=self._cancel, read_only=self.read_only)
        except BatchtopError as exc:
            if not self._cancel.is_set():
                self.post_message(self.Failed(exc.message))
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not leave the modal hanging
            if not self._cancel.is_set():
                self.post_message(self.Failed(f"internal error: {type(exc).__name__}: {exc}"))
            return
        if not self._cancel.is_set():
            self.post_message(self.Planned(plan))

    @on(Planned)
    def _planned(self, event: Planned) -> None:
        if self._cancel.is_set():  # Escape came after the worker posted: the modal is closing
            return
        plan = self.plan = event.plan
        self.query_one("#pv-summary", Static).update(safe(plan.summary(), 300, style="bold"))
        self.query_one("#pv-plan", Static).update(plan_view(plan))
        label = f"{plain(plan.action.name.capitalize(), 30)} {plan.cap:,}"  # action names come from profiles
        self._ready(plan.cap, plan.needs_typed_confirmation, label)
        if plan.cap == 0:
            self._status(Text("Nothing matches now: nothing to do.", style="bold"))
        elif plan.needs_typed_confirmation:
            self._status(Text(f"This changes {plan.cap:,} rows: type {plan.cap} to confirm.", style="bold yellow"))
        else:
            self._status(Text(f"Enter or y: {label}.  Escape: cancel (nothing is written).", style="bold"))
        self._sync_buttons()

    # -- applying -----------------------------------------------------------------------------------

    def _apply(self) -> None:
        plan = self.plan
        assert plan is not None
        self.run_worker(lambda: self._apply_work(plan), name="apply", group="preview-apply", thread=True,
                        exclusive=True, exit_on_error=False)

    def _apply_work(self, plan: Plan) -> None:
        """Thread: write the plan and post the outcome (a write in flight cannot be cancelled)."""
        try:
            outcome = apply(plan, journal=self.journal, source=self.source, read_only=self.read_only)
        except BatchtopError as exc:
            self.post_message(self.NotApplied(exc))
            return
        except Exception as exc:  # noqa: BLE001
            self.post_message(self.Failed(f"internal error: {type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Applied(outcome))

    @on(NotApplied)
    def _not_applied(self, event: NotApplied) -> None:
        exc = event.error
        if exc.kind == "busy":  # the plan still stands: the person may try again
            self.state = "ready"
            self._typed_enabled(True)
            self._status(Text.assemble(("✖ ", "bold red"), safe(exc.message, 300, style="bold red"),
                                       "  Enter tries again; Escape cancels."))
            self._sync_buttons()
        else:
            self._failed(exc.message)
        poll_now(self, self.source.path)

    @on(Applied)
    def _applied(self, event: Applied) -> None:
        outcome = self.outcome = event.outcome
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
