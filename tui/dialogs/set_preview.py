"""One preview for an action over many files (an error group spanning chunk files), then one write each.

Every (file, track) is planned in a thread worker, one after the other, each with its own conditional
predicate; the modal shows the total, one line per file and the first file's full plan (samples and the
exact predicate: the other files' differ only by their keys). One confirmation covers all (the count
typed when it is over `CONFIRM_OVER`); then each file is written in its own short transaction and
journaled on its own, so `u` on any of them undoes that file alone. No transaction is open while the
person reads or types; a file that cannot be planned or written is said and the others go on. The
workers post their progress (`Status`) and results (`Planned`, `Applied`); nothing else crosses threads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Static

from batchtop.core.actions import CONFIRM_OVER, Outcome, Plan, Target, apply
from batchtop.core.errors import BatchtopError
from batchtop.core.journal import Journal
from batchtop.core.source import Source
from batchtop.tui.action_support import plan_retrying, poll_now, tell
from batchtop.tui.dialogs.confirm import ConfirmDialog
from batchtop.tui.dialogs.preview_parts import plan_view
from batchtop.tui.text import plain, safe


class SetPreviewScreen(ConfirmDialog["list[Outcome]"]):
    """Preview, confirm and apply one action on many (source, track); dismissed with the outcomes."""

    PREFIX = "sp"

    class Planned(Message, bubble=False):
        """From the plan worker: the (source, plan) of each part planned, and (file, why) of the others."""

        def __init__(self, plans: list[tuple[Source, Plan]], problems: list[tuple[str, str]]) -> None:
            super().__init__()
            self.plans = plans
            self.problems = problems

    class Applied(Message, bubble=False):
        """From the apply worker: the outcome of each file written, and (file, why) of the others."""

        def __init__(self, outcomes: list[Outcome], problems: list[tuple[str, str]]) -> None:
            super().__init__()
            self.outcomes = outcomes
            self.problems = problems

    def __init__(self, parts: Sequence[tuple[Source, str]], target: Target, *, journal: Journal, now: float,
                 read_only: bool = False) -> None:
        super().__init__()
        self.parts, self.target, self.journal, self.now = list(parts), target, journal, now
        self.read_only = read_only
        self.plans: list[tuple[Source, Plan]] = []
        #: (file, message) of the parts that could not be planned or written.
        self.problems: list[tuple[str, str]] = []
        self.outcomes: list[Outcome] = []

    @property
    def total(self) -> int:
        """Rows the confirmed write would change, over every file."""
        return sum(p.cap for _, p in self.plans)

    def body(self) -> ComposeResult:
        yield Static(id="sp-files")
        yield Static(id="sp-plan")

    def on_mount(self) -> None:
        files = len({s.path for s, _ in self.parts})
        self._title(f"Preview · {self.target.describe()} · {files} file{'s' if files != 1 else ''}")
        self._status(Text(f"previewing {len(self.parts)} file(s)…", style="bright_black"))
        self.run_worker(self._plan_work, name="plan", group="set-preview", thread=True, exclusive=True,
                        exit_on_error=False)

    def _result(self) -> list[Outcome] | None:
        return self.outcomes or None

    # -- planning -----------------------------------------------------------------------------------

    def _plan_work(self) -> None:
        """Thread: plan each part in turn, then post the plans and the problems (nothing once cancelled)."""
        plans: list[tuple[Source, Plan]] = []
        problems: list[tuple[str, str]] = []
        for i, (source, track) in enumerate(self.parts, 1):
            if self._cancel.is_set():
                return
            self.post_message(self.Status(Text(
                f"previewing {i} of {len(self.parts)}: {plain(os.path.basename(source.path), 60)}…",
                style="bright_black")))
            try:
                plan = plan_retrying(source, track, None, self.target, now=self.now, on_retry=lambda *_: None,
                                     cancel=self._cancel, read_only=self.read_only)
            except BatchtopError as exc:
                problems.append((source.path, exc.message))
                continue
            except Exception as exc:  # noqa: BLE001 - a bug must not leave the modal hanging
                problems.append((source.path, f"internal error: {type(exc).__name__}: {exc}"))
                continue
            plans.append((source, plan))
        if not self._cancel.is_set():
            self.post_message(self.Planned(plans, problems))

    def _file_lines(self) -> Text:
        text = Text()
        for source, plan in sorted(self.plans, key=lambda sp: -sp[1].cap):
            text.append(f"{plan.cap:>9,}  ", style="bold")
            text.append_text(safe(f"{os.path.basename(source.path)} · {plan.track.name}", 90))
            if plan.count > plan.cap:
                text.append(f"  ({plan.count:,} match: the first {plan.cap:,} by key)", style="yellow")
            text.append("\n")
        for path, message in self.problems:
            text.append("        ✖  ", style="bold red")
            text.append_text(safe(f"{os.path.basename(path)}: {message}", 200, style="red"))
            text.append("\n")
        text.rstrip()
        return text

    @on(Planned)
    def _planned(self, event: Planned) -> None:
        if self._cancel.is_set():  # Escape came after the worker posted: the modal is closing
            return
        self.plans, self.problems = event.plans, event.problems
        total, files = self.total, sum(1 for _, p in self.plans if p.cap)
        verbs = "/".join(dict.fromkeys(plain(p.action.name, 20) for _, p in self.plans if p.cap)) or "reset"
        self.query_one("#sp-summary", Static).update(safe(
            f"{verbs} {total:,} item{'s' if total != 1 else ''} in {files} file{'s' if files != 1 else ''} "
            f"({self.target.describe()})", 300, style="bold"))
        self.query_one("#sp-files", Static).update(self._file_lines())
        largest = max(self.plans, key=lambda sp: sp[1].cap, default=None)
        if largest is not None and largest[1].cap:
            head = Text.assemble(("\nIn ", "bright_black"), safe(os.path.basename(largest[0].path), 80, style="bold"),
                                 (" (each file gets its own predicate, write and journal entry):", "bright_black"))
            self.query_one("#sp-plan", Static).update(Group(head, plan_view(largest[1])))
        label = f"{verbs.capitalize()} {total:,}"
        self._ready(total, total > CONFIRM_OVER, label)
        if total == 0:
            self._status(Text("Nothing matches now: nothing to do.", style="bold"))
        elif total > CONFIRM_OVER:
            self._status(Text(f"This changes {total:,} rows in {files} files: type {total} to confirm.",
                              style="bold yellow"))
        else:
            self._status(Text(f"Enter or y: {label} in {files} files.  Escape: cancel (nothing is written).",
                              style="bold"))
        self._sync_buttons()

    # -- applying -----------------------------------------------------------------------------------

    def _apply(self) -> None:
        plans = self.plans
        self.run_worker(lambda: self._apply_work(plans), name="apply", group="set-apply", thread=True,
                        exclusive=True, exit_on_error=False)

    def _apply_work(self, plans: list[tuple[Source, Plan]]) -> None:
        """Thread: write each file in turn, then post the outcomes and the problems of this write."""
        outcomes: list[Outcome] = []
        problems: list[tuple[str, str]] = []
        for i, (source, plan) in enumerate(p for p in plans if p[1].cap):
            self.post_message(self.Status(Text(
                f"writing {i + 1}: {plain(os.path.basename(source.path), 60)}…", style="bold")))
            try:
                outcomes.append(apply(plan, journal=self.journal, source=source, read_only=self.read_only))
            except BatchtopError as exc:
                problems.append((source.path, exc.message))
            except Exception as exc:  # noqa: BLE001
                problems.append((source.path, f"internal error: {type(exc).__name__}: {exc}"))
        self.post_message(self.Applied(outcomes, problems))

    @on(Applied)
    def _applied(self, event: Applied) -> None:
        self.outcomes, self.problems = event.outcomes, event.problems  # the planning problems are past
        self.state = "done" if self.outcomes or not self.problems else "failed"
        written = sum(o.count for o in self.outcomes)
        entries = sum(1 for o in self.outcomes if o.entry_id)
        verb = "/".join(dict.fromkeys(plain(o.action, 20) for o in self.outcomes)) or "reset"
        line = f"{verb}: {written:,} of {self.total:,} rows written in {entries} file(s)"
        changed = sum(o.changed_count for o in self.outcomes)
        if changed:
            line += f"; {changed:,} had changed meanwhile and were left alone"
        text = Text.assemble(("✓ " if written else "• ", "bold green" if written else "bold"), safe(line, 300, style="bold"))
        if entries:
            text.append(f"\njournaled as {entries} entr{'ies' if entries != 1 else 'y'}, one per file · u on a "
                        "file undoes it there (rows the job moved since are left alone)", style="bright_black")
        for path, message in self.problems:
            text.append("\n✖ ", style="bold red")
            text.append_text(safe(f"{os.path.basename(path)}: {message} (nothing written there)", 300, style="red"))
        self._status(text)
        self._sync_buttons()
        tell(self, line, "information" if written and not self.problems else "warning")
        for source, _ in self.plans:
            poll_now(self, source.path)
