"""The failures screen's action keys: reset/retry and skip the selection or everything listed, undo, journal.

`FailureActions` is mixed into `FailuresScreen`. Targets:

- the selection (`x`, `k`): the marked items, else the item under the cursor; on the groups table with
  nothing marked, the whole group under the cursor;
- everything listed (`X`): the current search, else the open group, else every failed item.

Every key previews first (`PreviewScreen`); nothing is written before the person confirms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.binding import Binding

from batchtop.core.actions import Outcome, Target
from batchtop.core.profiles.model import Track
from batchtop.core.source import Source
from batchtop.core.targets import search_target
from batchtop.tui.actions_flow import JOURNAL, UNDO, start_action, start_undo
from batchtop.tui.screens.live import ScreenMixin
from batchtop.tui.widgets.keyed_table import KeyedTable

#: The bindings this mixin serves, in footer order.
ACTION_BINDINGS = [
    Binding("x", "reset", "Reset/retry"),
    Binding("X", "reset_all", "Reset listed"),
    Binding("k", "skip", "Skip"),
    UNDO,
    JOURNAL,
]
#: Actions hidden while an empty state is shown, when the track has actions (with none, `x` says why).
TARGETED = ("reset", "reset_all", "skip")


class FailureActions(ScreenMixin):
    """The action half of `FailuresScreen` (a mixin: the screen provides the widgets and the state)."""

    source: Source
    track_name: str
    _group: str | None
    _search: str | None
    _marked: set[Any]
    _empty: bool
    _next_group_at: float
    _group_now: bool

    if TYPE_CHECKING:  # provided by the screen and its other parts
        @property
        def track(self) -> Track | None: ...
        def selected_keys(self) -> list[Any]: ...
        def _load_items(self) -> None: ...
        def _schedule_grouping(self) -> None: ...
        def _show_status(self) -> None: ...

    def action_allowed(self, action: str) -> bool:
        """check_action's answer for the action keys: skip only where the profile has one; no targeted
        key over an empty state (unless the track has no actions at all: then `x` says why)."""
        track = self.track
        if action == "skip":
            return not self._empty and track is not None and track.action("skip") is not None
        if action in TARGETED and self._empty:
            return track is None or not track.actions
        return True

    def selection_target(self) -> Target:
        """The marked items; else, on the groups table, the group under the cursor; else the cursor item."""
        groups = self.query_one("#fx-groups", KeyedTable)
        if not self._marked and self.focused is groups and groups.cursor_key is not None:
            return Target.group(groups.cursor_key)
        return Target.items(self.selected_keys())

    def listed_target(self) -> Target:
        """Everything the item list shows: the search, the open group, or every failed item."""
        if self._search:
            return search_target(self.source, self._search)
        if self._group is not None:
            return Target.group(self._group)
        return Target.all_failed()

    def action_reset(self) -> None:
        """Preview, then reset/retry the selection."""
        start_action(self, self.source, self.track_name, self.selection_target(), done=self._acted)

    def action_reset_all(self) -> None:
        """Preview, then reset/retry everything listed."""
        start_action(self, self.source, self.track_name, self.listed_target(), done=self._acted)

    def action_skip(self) -> None:
        """Preview, then skip the selection."""
        start_action(self, self.source, self.track_name, self.selection_target(), "skip",
                     done=self._acted)

    def action_undo(self) -> None:
        """Undo the newest action on this database."""
        start_undo(self, self.source.path, self.source, done=self._acted)

    def action_journal(self) -> None:
        """The action journal of this database."""
        open_journal = getattr(self.app, "open_journal", None)
        if callable(open_journal):
            open_journal(self.source.path)

    def _acted(self, outcome: Outcome | Any) -> None:
        """After a write: marks are spent; list and groups are read again at once."""
        self._marked.clear()
        self._group_now, self._next_group_at = True, 0.0
        self._show_status()
        self._load_items()
        self._schedule_grouping()
