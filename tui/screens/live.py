"""Base class of the screens the app feeds with live source views."""

from __future__ import annotations

from typing import cast

from textual.css.query import NoMatches
from textual.screen import Screen

from batchtop.tui.actions_flow import UndoFound
from batchtop.tui.host import BatchtopHost
from batchtop.tui.messages import Notice
from batchtop.tui.widgets.status_line import LiveInfo, StatusLine


class LiveScreen(Screen):
    """A screen showing live data: the app calls `refresh_views` after polls and `tick` every second."""

    #: Set once mounted: the app does not feed a screen whose widgets are not composed yet.
    ready: bool = False

    def on_mount(self) -> None:
        # Textual calls this after the subclass's own on_mount (handlers run along the MRO).
        self.ready = True

    def on_notice(self, event: Notice) -> None:
        """A worker's toast (an export finished, say)."""
        event.stop()
        event.show(self.app)

    def on_undo_found(self, event: UndoFound) -> None:
        """The undo lookup (`actions_flow.start_undo`) found the entry: confirm it in the undo dialog."""
        event.stop()
        event.ask(self)

    @property
    def batchtop(self) -> BatchtopHost:
        """The app, typed by what screens may ask of it (not `BatchtopApp`: the app imports the screens)."""
        return cast("BatchtopHost", self.app)

    def refresh_views(self, dirty: set[str]) -> None:
        """Show the latest views; `dirty` holds the paths polled since the last call (may be empty)."""

    def tick(self) -> None:
        """Called every second: refresh what depends on the clock alone (ages on the status line)."""

    def on_screen_resume(self) -> None:
        # Updates were skipped while another screen was on top: catch up on everything. A test or snapshot
        # app that is not a BatchtopApp may have no views at all.
        if self.ready:
            self.refresh_views(set(getattr(self.app, "views", None) or ()))

    def live_info(self, last_change: float | None, cost: float | None, queries: int | None,
                  scope: str = "last poll") -> LiveInfo:
        """The status line's content, from the app's state and this screen's numbers."""
        app = self.batchtop
        return LiveInfo(paused=app.paused, interval=app.poll_interval, watching=app.watching, now=app.clock(),
                        last_change=last_change, cost=cost, queries=queries, scope=scope,
                        show_cost=app.show_timings, in_flight=0)

    def show_status_of(self, path: str | None) -> None:
        """Fill this screen's status line from one source's latest poll (or, with None, from every source's).

        The line is a frozen `LiveInfo`: assigning an equal one re-renders nothing.
        """
        app = self.batchtop
        try:
            line = self.query_one(StatusLine)
        except NoMatches:
            return
        if not hasattr(app, "paused"):  # hosted by an app that polls nothing (a test harness): no live line
            if line.display:
                line.display = False
            return
        views = list(app.views.values()) if path is None else [v for v in [app.views.get(path)] if v is not None]
        polled = [v.stats for v in views if v.stats is not None]
        changes = [v.status.last_change for v in views if v.status.last_change is not None]
        scope = "last poll" if path is not None else f"last round ({len(polled)} source{'s' if len(polled) != 1 else ''})"
        line.info = self.live_info(max(changes, default=None), sum(s.cost for s in polled) if polled else None,
                                   sum(s.queries for s in polled) if polled else None, scope)
