"""What the action screens and dialogs share: the app's action settings, sanitised toasts, the texts of
journal entries and outcomes, and the thread work of a preview. It imports no screen or dialog, so the
dialogs (`tui/dialogs/`) can use it while `actions_flow`, which opens them, imports them in turn.

Every message shown here is sanitised and sent with `markup=False`: a reason or an error can quote a
group signature, a search text or a file name (hazards.md rules 1 and 2).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.dom import DOMNode
from textual.notifications import SeverityLevel

from batchtop.core.actions import Plan, Target, plan
from batchtop.core.errors import BatchtopError, SourceError
from batchtop.core.journal import Entry, Journal
from batchtop.core.sanitize import clean_line
from batchtop.core.source import Source

if TYPE_CHECKING:
    from batchtop.core.actions import Outcome

#: Plan attempts while the job holds a lock that stops even reads (rollback mode, EXCLUSIVE), and the
#: pause between them (seconds).
PLAN_ATTEMPTS, PLAN_PAUSE = 5, 0.5
#: Source errors worth retrying a preview for.
RETRY_KINDS = frozenset({"locked", "recovering"})


# -- settings and messages ----------------------------------------------------------------------------


def read_only(node: DOMNode) -> bool:
    """Whether actions are disabled. An app that is not batchtop's (a bare test app) gets no actions."""
    return bool(getattr(node.app, "read_only", True))


def journal_of(node: DOMNode) -> Journal:
    """The app's action journal (its default location when none was given)."""
    path: Path | None = getattr(node.app, "journal_path", None)
    return Journal(path)


def watched_paths(node: DOMNode) -> list[str]:
    """Paths of the watched databases (call on the UI thread: the app adds sources there)."""
    return list(getattr(node.app, "views", {}))


def check_journal(journal: Journal, watched: list[str]) -> None:
    """Refuse a journal that is a watched database or one of its sidecars: reading it would `open()` a
    file this process holds an SQLite connection to (hazards.md rule 8). Pure path checks, no IO.

    Raises:
        JournalError: the message says where the journal must be.
    """
    for path in watched:
        journal.check_outside(path)


def app_now(node: DOMNode) -> float:
    """The app's clock (tests fix it), else the wall clock."""
    clock = getattr(node.app, "clock", None)
    return clock() if callable(clock) else time.time()


def tell(node: DOMNode, text: str, severity: SeverityLevel = "information", timeout: float | None = None) -> None:
    """A toast with sanitised text, never parsed as markup."""
    node.app.notify(clean_line(text, 400), severity=severity, timeout=timeout, markup=False)


def entry_title(entry: Entry) -> str:
    """'reset #ab12cd34 (3 topics)' or 'undo #ef56 of #ab12cd34'."""
    if entry.kind == "undo":
        return f"undo #{entry.id} of #{entry.undoes}"
    n = len(entry.affected)
    return f"{entry.action} #{entry.id} ({n:,} {'item' if n == 1 else 'items'} in {entry.track})"


def result_line(outcome: Outcome) -> str:
    """The outcome's summary: 'reset 148 of 150; 2 had changed (now running)'."""
    return outcome.summary()


def poll_now(node: DOMNode, path: str) -> None:
    """Ask the app to poll `path` at once (after a write), when it is batchtop's app."""
    poll = getattr(node.app, "poll_now", None)
    if callable(poll):
        poll(path)


# -- thread work (no widgets) -------------------------------------------------------------------------


def plan_retrying(source: Source, track: str, action: str | None, target: Target, *, now: float,
                  on_retry: Callable[[int, BatchtopError], None], cancel: threading.Event | None = None,
                  attempts: int = PLAN_ATTEMPTS, pause: float = PLAN_PAUSE, read_only: bool = False) -> Plan:
    """Thread: `plan()`, retried while the job's lock stops even reads. Nothing is written.

    Raises:
        BatchtopError: the last error (NoAction, FileReplaced, Locked after every attempt, ...).
    """
    for attempt in range(1, attempts + 1):
        try:
            return plan(source, track, action, target, now=now, read_only=read_only)
        except SourceError as exc:
            if exc.kind not in RETRY_KINDS or attempt == attempts:
                raise
            on_retry(attempt, exc)
            if cancel is not None and cancel.wait(pause):
                raise
            if cancel is None:
                time.sleep(pause)
    raise AssertionError("unreachable")
