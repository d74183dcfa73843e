"""Activity badges: one glyph and one word per state, coloured, never relying on colour alone."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text

#: state -> (glyph, style). `error` is a source state; the others are track activities (core/history.py).
BADGES: Mapping[str, tuple[str, str]] = {
    "active": ("●", "bold green"),
    "stalled": ("◐", "bold yellow"),
    "interrupted": ("■", "bold dark_orange"),
    "finished": ("✔", "blue"),
    "waiting": ("○", "bright_black"),
    "error": ("✖", "bold red"),
    "paused": ("‖", "bright_black"),
    "loading": ("…", "bright_black"),
}

#: Sort rank of each state: problems first, so "sort by state" puts what needs attention on top.
RANK: Mapping[str, int] = {
    "error": 0, "interrupted": 1, "stalled": 2, "active": 3, "waiting": 4, "loading": 5, "finished": 6,
}

WIDTH = 13


def badge(state: str | None) -> Text:
    """'● active' in green, '✖ error' in red, ... (unknown states are shown dim, as they are)."""
    name = state or "loading"
    glyph, style = BADGES.get(name, ("?", "bright_black"))
    return Text(f"{glyph} {name}", style=style, no_wrap=True, overflow="ellipsis")
