"""Shared plumbing of the action keys: who may act, on which rows, and the modals that take over.

Screens call `start_action` / `start_undo` from their `action_*` methods. A refusal (read-only mode, a
track without a safe action, nothing selected) is said at once, and nothing is opened. Otherwise a modal
takes over: `PreviewScreen` (plan, confirm, apply) or `UndoScreen` (confirm, undo). The blocking calls
run in those modals' thread workers through `action_support`, which never touches widgets and reports
back through plain callbacks. The undo's lookup runs in a worker of the screen that asked, and posts it
`UndoFound` (or a `Notice`); `LiveScreen` hands the entry back to `UndoFound.ask`. This module is the
only one that opens those dialogs; they never import it.

Every message shown here is sanitised and sent with `markup=False`: a reason or an error can quote a
group signature, a search text or a file name (hazards.md rules 1 and 2).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.binding import Binding
from textual.dom import DOMNode
from textual.message import Message

from batchtop.core.actions import Target, resolve
from batchtop.core.backends.sqlite.write_session import READ_ONLY
from batchtop.core.errors import BatchtopError
from batchtop.core.journal import Entry, Journal
from batchtop.core.source import Source
from batchtop.core.undo import find
from batchtop.tui.action_support import app_now, check_journal, journal_of, read_only, tell, watched_paths
from batchtop.tui.dialogs.preview import PreviewScreen
from batchtop.tui.dialogs.undo import UndoScreen
from batchtop.tui.messages import Notice, post_notice

if TYPE_CHECKING:
    from batchtop.core.actions import Outcome

#: The two journal keys every screen with a database binds (footer, help and palette read them).
UNDO = Binding("u", "undo", "Undo")
JOURNAL = Binding("J", "journal", "Journal")


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

    def closed(outcome: Outcome | None) -> None:
        if outcome is not None and done is not None:
            done(outcome)

    # read_only is False here; the modals pass it on to core anyway, as a second guard.
    node.app.push_screen(PreviewScreen(source, track, action, target, journal=journal_of(node),
                                       now=app_now(node), read_only=read_only(node)), closed)


class UndoFound(Message):
    """From the undo lookup worker to the screen that asked: the entry to confirm, and what `ask` needs."""

    def __init__(self, entry: Entry, source: Source | None, journal: Journal,
                 done: Callable[[Any], None] | None) -> None:
        super().__init__()
        self.entry = entry
        self.source = source
        self.journal = journal
        self.done = done

    def ask(self, node: DOMNode) -> None:
        """Open the undo dialog over `node` (on the UI thread)."""
        _ask_undo(node, self.entry, self.source, self.journal, self.done)


def start_undo(node: DOMNode, db: str | None, source: Source | None = None, entry_id: str | None = None,
               done: Callable[[Any], None] | None = None) -> None:
    """Find the action to undo (`entry_id`, else the newest undoable one on `db`) in a worker, then ask.

    `node` is a `LiveScreen`: it handles the `UndoFound` the worker posts to it."""
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
            post_notice(node, Notice(message, "warning"))  # thread-safe; the app shows it if node closed
            return
        node.post_message(UndoFound(entry, source, journal, done))  # thread-safe; dropped if node closed

    node.run_worker(look, name="find undo", group="undo-find", thread=True, exclusive=True,
                    exit_on_error=False)


def _ask_undo(node: DOMNode, entry: Entry, source: Source | None, journal: Journal,
              done: Callable[[Any], None] | None) -> None:
    if entry.status != "applied":
        tell(node, f"{entry.kind} #{entry.id} is {entry.status}: nothing to undo", "warning")
        return

    def closed(outcome: Any) -> None:
        if outcome is not None and done is not None:
            done(outcome)

    node.app.push_screen(UndoScreen(entry, source, journal=journal, now=app_now(node),
                                    read_only=read_only(node)), closed)
