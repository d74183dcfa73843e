"""The failures screen's action keys and what they act on.

Targets:

- the selection (`x`, `k`): the marked items, else the item under the cursor; on the groups table with
  nothing marked, the whole group under the cursor;
- everything listed (`X`, `e`): the current search, else the open group, else every failed item.

Every key previews first (`PreviewScreen`); nothing is written before the person confirms. The screen's
`action_*` methods call these plain functions with what its panels hold.
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding

from batchtop.core.actions import Target
from batchtop.core.profiles.model import Track
from batchtop.core.source import Source
from batchtop.core.targets import search_target
from batchtop.tui.actions_flow import JOURNAL, UNDO

#: The bindings of the action keys, in footer order.
ACTION_BINDINGS = [
    Binding("x", "reset", "Reset/retry"),
    Binding("X", "reset_all", "Reset listed"),
    Binding("k", "skip", "Skip"),
    UNDO,
    JOURNAL,
]
#: Actions hidden while an empty state is shown, when the track has actions (with none, `x` says why).
TARGETED = ("reset", "reset_all", "skip")


def action_allowed(track: Track | None, action: str, empty: bool) -> bool:
    """check_action's answer for the action keys: skip only where the profile has one; no targeted key
    over an empty state (unless the track has no actions at all: then `x` says why)."""
    if action == "skip":
        return not empty and track is not None and track.action("skip") is not None
    if action in TARGETED and empty:
        return track is None or not track.actions
    return True


def selection_target(group_under_cursor: str | None, marked: bool, items: list[Any]) -> Target:
    """The marked items; else, with the groups table focused, the group under its cursor; else `items`
    (the item under the cursor of the focused item list, or nothing)."""
    if not marked and group_under_cursor is not None:
        return Target.group(group_under_cursor)
    return Target.items(items)


def listed_target(source: Source, group: str | None, search: str | None) -> Target:
    """Everything the item list shows: the search, the open group, or every failed item."""
    if search:
        return search_target(source, search)
    if group is not None:
        return Target.group(group)
    return Target.all_failed()
