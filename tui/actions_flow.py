"""Shared plumbing of the action keys: who may act, on which rows, and the IO the action modals run.

Screens call `start_action` / `start_undo` from their `action_*` methods. A refusal (read-only mode, a
track without a safe action, nothing selected) is said at once, and nothing is opened. Otherwise a modal
takes over: `PreviewScreen` (plan, confirm, apply) or `UndoScreen` (confirm, undo). The blocking calls
run in those modals' thread workers through the functions below, which never touch widgets and report
back through plain callbacks.

Every message shown here is sanitised and sent with `markup=False`: a reason or an error can quote a
group signature, a search text or a file name (hazards.md rules 1 and 2).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.binding import Binding
from textual.dom import DOMNode
from textual.notifications import SeverityLevel

from batchtop.core.actions import Plan, Target, plan, resolve
from batchtop.core.errors import BatchtopError, SourceError
from batchtop.core.journal import Entry, Journal
from batchtop.core.sanitize import clean_line
from batchtop.core.source import Source
from batchtop.core.timeutil import human_duration
from batchtop.core.undo import find
from batchtop.core.write import READ_ONLY

if TYPE_CHECKING:
    from batchtop.core.actions import Outcome

#: The two journal keys every screen with a database binds (footer, help and palette read them).
UNDO = Binding("u", "undo", "Undo")
JOURNAL = Binding("J", "journal", "Journal")

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


def when_text(then: float, now: float) -> str:
    """'2026-01-01 11:58:00 (2m ago)' in local time."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(then))
    return f"{stamp} ({human_duration(max(0.0, now - then))} ago)"


def entry_title(entry: Entry) -> str:
    """'reset #ab12cd34 (3 topics)' or 'undo #ef56 of #ab12cd34'."""
    if entry.kind == "undo":
        return f"undo #{entry.id} of #{entry.undoes}"
    n = len(entry.affected)
    return f"{entry.action} #{entry.id} ({n:,} {'item' if n == 1 else 'items'} in {entry.track})"


def result_line(outcome: Outcome) -> str:
    """The outcome's summary: 'reset 148 of 150; 2 had changed (now running)'."""
    return outcome.summary()


# -- starting an action -------------------------------------------------------------------------------


def refusal(source: Source | None, track: str | None, target: Target, action: str | None = None) -> str | None:
    """Why this action cannot even be previewed (the profile's reason, say), or None."""
    if source is None:
        return "this database is not watched any more"
    if track is None:
        return "no track has been read yet"
    try:
        resolve(source, track, action, target)
    except BatchtopError as exc:
        return exc.message
    if target.kind == "keys" and not target.keys:
        return "no item selected: move the cursor to a failed item, or mark some with space"
    return None


def start_action(node: DOMNode, source: Source | None, track: str | None, target: Target,
                 action: str | None = None, done: Callable[[Outcome], None] | None = None) -> None:
    """Preview `action` (default: the track's reset/retry, or requeue for stale targets) on `target`,
    and apply it once confirmed. `done(outcome)` runs after a write, once the modal is closed."""
    if read_only(node):
        tell(node, READ_ONLY, "warning")
        return
    why = refusal(source, track, target, action)
    if why is not None:
        tell(node, why, "warning")
        return
    assert source is not None and track is not None
    from batchtop.tui.dialogs.preview import PreviewScreen

    def closed(outcome: Outcome | None) -> None:
        if outcome is not None and done is not None:
            done(outcome)

    # read_only is False here; the modals pass it on to core anyway, as a second guard.
    node.app.push_screen(PreviewScreen(source, track, action, target, journal=journal_of(node),
                                       now=app_now(node), read_only=read_only(node)), closed)


def start_undo(node: DOMNode, db: str | None, source: Source | None = None, entry_id: str | None = None,
               done: Callable[[Any], None] | None = None) -> None:
    """Find the action to undo (`entry_id`, else the newest undoable one on `db`) in a worker, then ask."""
    if read_only(node):
        tell(node, READ_ONLY, "warning")
        return
    if db is None and entry_id is None:
        tell(node, "no database selected", "warning")
        return
    journal, watched = journal_of(node), watched_paths(node)
    name = Path(db).name if db else "this database"

    def look() -> None:
        try:
            check_journal(journal, watched)
            entry = find(journal, entry_id, None if entry_id else db)
        except BatchtopError as exc:
            message = f"nothing to undo on {name}" if exc.kind == "nothing" and not entry_id else exc.message
            node.app.call_from_thread(tell, node, message, "warning")
            return
        node.app.call_from_thread(_ask_undo, node, entry, source, journal, done)

    node.run_worker(look, name="find undo", group="undo-find", thread=True, exclusive=True,
                    exit_on_error=False)


def _ask_undo(node: DOMNode, entry: Entry, source: Source | None, journal: Journal,
              done: Callable[[Any], None] | None) -> None:
    from batchtop.tui.dialogs.undo import UndoScreen

    if entry.status != "applied":
        tell(node, f"{entry.kind} #{entry.id} is {entry.status}: nothing to undo", "warning")
        return

    def closed(outcome: Any) -> None:
        if outcome is not None and done is not None:
            done(outcome)

    node.app.push_screen(UndoScreen(entry, source, journal=journal, now=app_now(node),
                                    read_only=read_only(node)), closed)


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
