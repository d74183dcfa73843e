"""Messages from the IO threads (polls, scans, the directory watch) to the app, and what they carry.

Workers never touch widgets: they post one of these, and the app routes it to the screens. `Notice` is a
toast any worker may post to its screen (the screens and the app show it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.app import App
from textual.dom import DOMNode
from textual.message import Message
from textual.notifications import SeverityLevel

from batchtop.core.profiles.model import Profile
from batchtop.core.sanitize import clean_line
from batchtop.core.snapshot import Snapshot
from batchtop.core.source import Source
from batchtop.core.status import SourceStatus


@dataclass(frozen=True)
class PollStats:
    """What one poll of one source cost."""

    #: Wall seconds of the poll.
    cost: float
    #: SQL statements it ran (1 when `data_version` said nothing changed).
    queries: int
    #: Whether anything was read.
    changed: bool
    #: Clock time (the app's clock) when the poll finished.
    at: float
    #: Chunks left to count: the share of a core the next polls may take (`PollResult.more`).
    more: float = 0.0


@dataclass(frozen=True)
class SourceView:
    """Everything the screens show about one source, as of its latest poll (immutable)."""

    path: str
    name: str
    status: SourceStatus
    snapshot: Snapshot | None
    profile: Profile | None
    stats: PollStats | None = None

    @property
    def track_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.status.tracks)


class Polled(Message):
    """A poll of one source finished (a latest-value message: a newer one for the same source wins)."""

    def __init__(self, view: SourceView, events: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.view = view
        #: One-off events ("file replaced: reopened"), fixed strings from core.
        self.events = events

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Polled) and message.view.path == self.view.path and not self.events


class SourcesFound(Message):
    """A rescan found new sources (and the discovery notices to show)."""

    def __init__(self, sources: list[Source], notices: list[str], watch_dirs: list[tuple[Path, bool]]) -> None:
        super().__init__()
        self.sources = sources
        self.notices = notices
        self.watch_dirs = watch_dirs


class FilesChanged(Message):
    """The directory watch saw changes to these paths (databases, or new names to rescan for)."""

    def __init__(self, paths: set[Path]) -> None:
        super().__init__()
        self.paths = paths


class WatchStopped(Message):
    """The directory watch failed; the app falls back to timed polling."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class Notice(Message):
    """A line a worker wants shown as a toast. Its text may quote anything (a path, an error): it is shown
    as one sanitised line and never parsed as markup (hazards.md rule 1)."""

    def __init__(self, text: str, severity: SeverityLevel = "information", timeout: float | None = None,
                 limit: int | None = 400) -> None:
        super().__init__()
        self.text = text
        self.severity: SeverityLevel = severity
        self.timeout = timeout
        #: Characters at most (None: the whole line).
        self.limit = limit

    def show(self, app: App[Any]) -> None:
        """Show the toast (on the UI thread)."""
        app.notify(clean_line(self.text, self.limit), severity=self.severity, timeout=self.timeout, markup=False)


def post_notice(node: DOMNode, notice: Notice) -> None:
    """Post `notice` from a worker thread to `node` (a screen); when that was closed meanwhile (the person
    left it), to the app, so the toast is not lost. Both are thread-safe."""
    if not node.post_message(notice):
        node.app.post_message(notice)
