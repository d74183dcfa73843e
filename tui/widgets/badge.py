"""Activity badges: one glyph and one word per state, coloured, never relying on colour alone."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text

from batchtop.core.history import RunState
from batchtop.core.status import TrackStatus

#: state -> (glyph, style): the run states of `core.history.RunState` (`error` is a source's, the others a
#: track's activity), and the app's own `paused` and `loading`.
BADGES: Mapping[str, tuple[str, str]] = {
    RunState.ACTIVE: ("●", "bold green"),
    RunState.STALLED: ("◐", "bold yellow"),
    RunState.INTERRUPTED: ("■", "bold dark_orange"),
    RunState.FINISHED: ("✔", "blue"),
    RunState.WAITING: ("○", "bright_black"),
    RunState.ERROR: ("✖", "bold red"),
    "paused": ("‖", "bright_black"),
    "loading": ("…", "bright_black"),
    "counting": ("◌", "cyan"),
}

#: Sort rank of each state: problems first, so "sort by state" puts what needs attention on top.
RANK: Mapping[str, int] = {
    RunState.ERROR: 0, RunState.INTERRUPTED: 1, RunState.STALLED: 2, RunState.ACTIVE: 3, RunState.WAITING: 4,
    "loading": 5, "counting": 5, RunState.FINISHED: 6,
}

WIDTH = 13


def track_state(track: TrackStatus) -> str:
    """The state a track's badge shows: "counting" while the first pass over its large table goes on
    (its counts are partial, so its run state is not known yet), else its activity."""
    return "counting" if track.counted < 1.0 else track.activity.state


def badge(state: str | None) -> Text:
    """'● active' in green, '✖ error' in red, ... (unknown states are shown dim, as they are)."""
    name = state or "loading"
    glyph, style = BADGES.get(name, ("?", "bright_black"))
    return Text(f"{glyph} {name}", style=style, no_wrap=True, overflow="ellipsis")
