"""What a screen may ask of the app that hosts it, as a protocol: screens type `self.batchtop` with it
instead of importing `BatchtopApp`, so the app imports its screens and no screen imports the app."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from batchtop.core.monitor import Monitor
from batchtop.core.source import Source
from batchtop.core.timeutil import Clock
from batchtop.tui.messages import SourceView
from batchtop.tui.trends import Trends


class BatchtopHost(Protocol):
    """The state and navigation `BatchtopApp` offers its screens (tui/app.py documents each)."""

    monitor: Monitor
    clock: Clock
    views: dict[str, SourceView]
    trends: Trends
    paused: bool
    poll_interval: float
    watching: bool | None
    show_timings: bool
    cursor_blink: bool
    scanned: bool
    notices: list[str]

    def source_of(self, path: str) -> Source | None:
        """The watched source of `path`, if any."""
        ...

    def open_source(self, path: str, track: str | None = None) -> None:
        """Push the source screen of `path`."""
        ...

    def open_failures(self, path: str, track: str, group: str | None = None) -> None:
        """Push the failures screen of one track."""
        ...

    def open_set_failures(self, paths: Sequence[str], name: str) -> None:
        """Push the error groups merged over several files."""
        ...

    def open_journal(self, db: str | None = None) -> None:
        """Push the action journal."""
        ...

    def open_tables(self, path: str) -> None:
        """Push the table view of one database."""
        ...

    def open_item(self, path: str, track: str, key: object) -> None:
        """Push the detail screen of one item."""
        ...
